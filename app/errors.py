"""Errors the API answers with, and the JSON shape every 4xx shares.

StamgastError          (status 400, base)
├── NotFound           404: the thing named in the path or query does not exist here
├── Conflict           409: it would duplicate something unique (a reference, a number)
├── InvalidInput       422: the body or a parameter makes no sense (an unparseable number)
├── Unauthorized       401: no key, an unknown key or a revoked key
├── Forbidden          403: a valid key without the scope this route needs
├── MethodNotAllowed   405: the path exists, not with this method (`Allow` names the right ones)
├── BodyTooLarge       413: the body is over the API's size limit
└── NotJson            415: a body sent as something other than application/json

Starlette's own HTTP errors (no such route, wrong method) become NotFound and MethodNotAllowed.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.telemetry import context


class FieldProblem(BaseModel):
    """One field that failed validation."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """What every error response carries: a code to branch on and a message for people."""

    code: str
    message: str
    fields: list[FieldProblem] = []


class StamgastError(Exception):
    """An error with a status and a message meant for the API's user."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: list[FieldProblem] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []
        if code is not None:
            self.code = code


class NotFound(StamgastError):
    status_code = 404
    code = "not_found"


class Conflict(StamgastError):
    status_code = 409
    code = "conflict"


class InvalidInput(StamgastError):
    status_code = 422
    code = "invalid_input"


class Unauthorized(StamgastError):
    status_code = 401
    code = "unauthorized"


class Forbidden(StamgastError):
    status_code = 403
    code = "forbidden"


class MethodNotAllowed(StamgastError):
    status_code = 405
    code = "method_not_allowed"


class BodyTooLarge(StamgastError):
    status_code = 413
    code = "body_too_large"


class NotJson(StamgastError):
    status_code = 415
    code = "unsupported_media_type"


def invalid_field(field: str, problem: str) -> InvalidInput:
    """A 422 naming one field and what is wrong with it, shaped as validation errors are."""
    return InvalidInput(
        f"Invalid request: {field}: {problem}",
        code="validation_failed",
        fields=[FieldProblem(field=field, message=problem)],
    )


def error_response(exc: StamgastError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The response for `exc`: ErrorBody, and the challenge header a 401 needs."""
    body = ErrorBody(code=exc.code, message=exc.message, fields=exc.fields)
    context.bind(outcome=exc.code)  # for the request's log lines, e.g. uvicorn's access line
    if exc.status_code == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=headers)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: each listed status documented with ErrorBody."""
    text = {
        400: "Malformed request",
        401: "Missing, unknown or revoked API key",
        403: "The key lacks the scope this route needs",
        404: "Not found",
        409: "Conflicts with something stored",
        413: "Body too large",
        422: "Validation failed; `fields` says which and why",
        502: "The phone system refused or did not answer; `message` gives its words",
    }
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in statuses}


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on this path (Starlette names only the first route's)."""
    routes = request.app.router.routes

    def takes(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] is Match.FULL for route in routes)

    return [method for method in _METHODS if takes(method)]


def _http_error(request: Request, exc: HTTPException) -> tuple[StamgastError, dict[str, str]]:
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        return NotFound(f"No route {where}: see /docs for the API's routes."), {}
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        message = f"{where} is not allowed: this path takes {', '.join(allowed)}."
        return MethodNotAllowed(message), {"Allow": ", ".join(allowed)}
    other = StamgastError(str(exc.detail), code=f"http_{exc.status_code}")
    other.status_code = exc.status_code
    return other, dict(exc.headers or {})


def install_error_handlers(app: FastAPI) -> None:
    """Answer our errors, Starlette's and FastAPI's validation errors with ErrorBody."""

    async def on_stamgast_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StamgastError)
        return error_response(exc)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        error, headers = _http_error(request, exc)
        return error_response(error, headers)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = [
            FieldProblem(field=_location(tuple(e.get("loc", ()))), message=str(e.get("msg", "")))
            for e in exc.errors()
        ]
        summary = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
        body = ErrorBody(
            code="validation_failed", message=f"Invalid request: {summary}", fields=fields
        )
        context.bind(outcome=body.code)
        return JSONResponse(body.model_dump(), status_code=422)

    async def on_integrity_error(_request: Request, _exc: Exception) -> JSONResponse:
        # Two requests raced past a uniqueness check; the database kept the first.
        body = ErrorBody(
            code="conflict",
            message="This conflicts with a record that was just stored (a unique value is "
            "already taken): read it back and retry with another value.",
        )
        return JSONResponse(body.model_dump(), status_code=409)

    app.add_exception_handler(StamgastError, on_stamgast_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(IntegrityError, on_integrity_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
