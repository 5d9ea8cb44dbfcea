"""What every /v1 request must pass before FastAPI reads it: one gate, not a check per route.

In order: no NUL character in the path or query; a body is read only for a caller who
authenticates (a key that is missing or unknown is a 401 before one byte of it is read), only
up to STAMGAST_API_MAX_BODY_BYTES (413), and only as JSON (415), well formed, not too deep
and without NUL characters (422). FastAPI reads a body before it solves the key dependency;
without this gate anyone could make us buffer a body of any size.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.bodies import NUL_PROBLEM, check_json, is_json_media_type, read_body
from app.api.deps import authenticate, bearer_token
from app.errors import BodyTooLarge, NotJson, StamgastError, error_response, invalid_field

PREFIX = "/v1/"


class ApiGate:
    """ASGI middleware guarding the /v1 API (other paths, WebSockets: passed through)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            _check_path_and_query(scope)
            body = await self._read(request)
        except StamgastError as exc:
            await error_response(exc)(scope, receive, send)
            return
        except ClientDisconnect:
            return  # nobody is left to answer
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, request: Request) -> bytes:
        if _has_body(request):
            # The verifier caches a valid key: the route's own check after this costs no query.
            async with request.app.state.sessionmaker() as session:
                await authenticate(request, session, await bearer_token(request))
        body = await read_body(request, self.max_body_bytes)
        if body is None:
            raise BodyTooLarge(
                f"The request body is over {self.max_body_bytes} bytes, the most this API "
                "accepts (STAMGAST_API_MAX_BODY_BYTES): send less, e.g. a shorter note."
            )
        if body:
            if not is_json_media_type(request.headers.get("content-type")):
                raise NotJson(
                    "Content-Type must be application/json: every /v1 body is a JSON document "
                    f"(got {request.headers.get('content-type') or 'no Content-Type'})."
                )
            check_json(body)
        return body


def _has_body(request: Request) -> bool:
    declared = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (declared is not None and declared != "0")


def _check_path_and_query(scope: Scope) -> None:
    """InvalidInput naming the parameter that holds a NUL character (PostgreSQL cannot bind it)."""
    if "\x00" in scope["path"]:
        raise invalid_field(_path_parameter(scope), NUL_PROBLEM)
    # Parsed as Starlette parses it for the route.
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    for name, value in query:
        if "\x00" in name or "\x00" in value:
            raise invalid_field(name.replace("\x00", "\\u0000"), NUL_PROBLEM)


def _path_parameter(scope: Scope) -> str:
    """The name of the path parameter holding a NUL character, or `path` if no route matches."""
    path: str = scope["path"]
    for template in scope["app"].openapi()["paths"]:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]*)", re.escape(template))
        found = re.fullmatch(pattern, path)
        if found is None:
            continue
        for name, value in found.groupdict().items():
            if "\x00" in value:
                return name
    return "path"


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body read here, then whatever the client sends next."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
