"""What every /v1 request must pass before FastAPI reads it: one gate, not a check per route.

In order: no NUL character in the path or query; the caller's rate limit (app/api/rate_limit.py:
per key or agent token, or per client address for a caller without a valid one, checked before
the key is looked up); a body is read only for a caller who
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
from app.api.deps import MISSING_KEY, bearer_token
from app.api.rate_limit import Budget, RateLimited, RateLimiter
from app.auth.keys import Principal
from app.errors import (
    BodyTooLarge,
    NotJson,
    StamgastError,
    Unauthorized,
    error_response,
    invalid_field,
)
from app.telemetry import context

PREFIX = "/v1/"


class ApiGate:
    """ASGI middleware guarding the /v1 API (other paths, WebSockets: passed through)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        limiter: RateLimiter,
        per_key: Budget,
        per_address: Budget,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.limiter = limiter
        self.per_key = per_key
        self.per_address = per_address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            _check_path_and_query(scope)
            principal = await self._limit(request)
            body = await self._read(request, principal)
        except RateLimited as exc:
            await error_response(exc, exc.headers)(scope, receive, send)
            return
        except StamgastError as exc:
            await error_response(exc)(scope, receive, send)
            return
        except ClientDisconnect:
            return  # nobody is left to answer
        await self.app(scope, _replay(body, receive), send)

    async def _limit(self, request: Request) -> Principal | None:
        """Count the request against its caller's budget; the principal if already known.

        A key verified in the last few seconds costs no query here; any other token is
        looked up only while its address has budget left, and counted against the address
        when it turns out unknown. A valid key is never counted against its address (an
        office behind one NAT address shares nothing but the budget for failures).
        """
        token = await bearer_token(request) or request.query_params.get("token")
        verifier = request.app.state.key_verifier
        principal: Principal | None = verifier.cached(token) if token else None
        if principal is None and token:
            await self.limiter.check(self.per_address, _address(request), ANONYMOUS)
            async with request.app.state.sessionmaker() as session:
                principal = await verifier.verify(session, token)
        if principal is None:
            await self.limiter.hit(self.per_address, _address(request), ANONYMOUS)
        else:
            context.bind(tenant_id=principal.tenant_id)
            caller = f"{principal.tenant_id}:{principal.key_id}"
            await self.limiter.hit(self.per_key, caller, "with this key")
        return principal

    async def _read(self, request: Request, principal: Principal | None) -> bytes:
        if _has_body(request) and principal is None:
            # Looked up in `_limit` already (a valid key is now cached for the route's check).
            token = await bearer_token(request)
            raise Unauthorized("Unknown or revoked API key." if token else MISSING_KEY)
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


ANONYMOUS = "from this address without a valid API key"


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


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
