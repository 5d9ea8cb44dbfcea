"""`X-Request-ID`: taken from the request when it is a sound id, else made; always returned.

A load balancer or the phone system may already name the request; keeping its id lets an
operator follow one request through both logs. An id is taken only when it is 1 to 64
characters of letters, digits and `._:-` (nothing a log reader could be misled by, no
header injection), else a new one is made. The log masks runs of seven digits or more as
it masks a phone number; an id made here never has such a run, so it reads in the log
exactly as in the header.
"""

from __future__ import annotations

import re
import uuid
from contextvars import Token
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.telemetry import context

HEADER = "X-Request-ID"
_HEADER_KEY = b"x-request-id"
_SOUND = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_LONG_DIGITS = re.compile(r"\d{7,}")


def new_request_id() -> str:
    """A random id (UUID4 hex) without a run of digits the log would mask."""
    while True:
        request_id = uuid.uuid4().hex
        if _LONG_DIGITS.search(request_id) is None:
            return request_id


def request_id_of(scope: Scope) -> str:
    """The request's own id when it is sound, else a new one."""
    for key, value in scope["headers"]:
        if key == _HEADER_KEY:
            if _SOUND.fullmatch(value):
                sound: str = value.decode("ascii")
                return sound
            break
    return new_request_id()


def begin(scope: Scope) -> tuple[str, Token[dict[str, Any] | None]]:
    """Start the log fields of a request or connection: its id, and the token to end them."""
    request_id = request_id_of(scope)
    return request_id, context.begin(request_id=request_id)


class RequestIds:
    """ASGI middleware: every HTTP request gets its id and fields; the response names it.

    Pure ASGI (no BaseHTTPMiddleware): it adds one frame and one header per request, and
    the fields live in the request's own task, which also writes uvicorn's access line.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, token = begin(scope)
        header = (_HEADER_KEY, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
                status: int = message["status"]
                # A route or error that named its outcome more precisely keeps it.
                context.bind_default("outcome", _outcome(status))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            context.end(token)  # in-process clients run the app in their own task


def _outcome(status: int) -> str:
    if status < 400:
        return "ok"
    return "refused" if status < 500 else "failed"
