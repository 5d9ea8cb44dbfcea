"""Errors the API answers with, and the JSON shape every 4xx shares.

StamgastError          (status 400, base)
├── NotFound           404: the thing named in the path or query does not exist here
├── Conflict           409: it would duplicate something unique (a reference, a number)
├── InvalidInput       422: the body or a parameter makes no sense (an unparseable number)
├── Unauthorized       401: no key, an unknown key or a revoked key
└── Forbidden          403: a valid key without the scope this route needs
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError


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

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
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
    }
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in statuses}


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    """Answer our errors and FastAPI's validation errors with ErrorBody."""

    async def on_stamgast_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StamgastError)
        body = ErrorBody(code=exc.code, message=exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=headers)

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
    app.add_exception_handler(IntegrityError, on_integrity_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
