"""Dependencies that keep route signatures short: the session and the calling key.

`LookupReader`, `ContactsWriter`, `Admin` admit by scope (what a key may do); `Supervisor`
by role (what it may see: supervisor or admin, keys and agent tokens alike).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.keys import KeyVerifier, Principal, Scope
from app.db import session_scope
from app.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sg_…`")


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session: committed when the route succeeds, rolled back when it raises."""
    async for session in session_scope(request.app.state.sessionmaker):
        yield session


# scope="function": commit before the response is sent, so a client that reads right after
# a write sees it, and a failed commit is the response (not a 201 for a lost write).
DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]


MISSING_KEY = (
    "Missing API key: send it as `Authorization: Bearer sg_…` "
    "(create one with `stamgast create-api-key`)."
)


async def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, None without one."""
    credentials = await _bearer(request)
    return None if credentials is None else credentials.credentials


async def authenticate(request: Request, session: AsyncSession, token: str | None) -> Principal:
    """The principal of a bearer token (API key or agent token); Unauthorized if none."""
    if not token:
        raise Unauthorized(MISSING_KEY)
    verifier: KeyVerifier = request.app.state.key_verifier
    principal = await verifier.verify(session, token)
    if principal is None:
        raise Unauthorized("Unknown or revoked API key.")
    return principal


def require(scope: Scope) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that admits keys carrying `scope` (or admin)."""

    async def dependency(
        request: Request,
        session: DbSession,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        token = None if credentials is None else credentials.credentials
        principal = await authenticate(request, session, token)
        if not principal.allows(scope):
            raise Forbidden(f"This key lacks the `{scope.value}` scope needed here.")
        return principal

    return dependency


async def require_supervisor(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Admits a key or agent token whose role is supervisor or admin, whatever its scopes
    (the role says what it may see: team figures are for supervisors)."""
    token = None if credentials is None else credentials.credentials
    principal = await authenticate(request, session, token)
    if not principal.sees_sensitive:
        raise Forbidden(
            f"This needs role `supervisor` or `admin`; this credential has role "
            f"`{principal.role}` (an admin changes an agent's role with PATCH /v1/agents/{{id}}, "
            "a key's by issuing a new key with the role)."
        )
    return principal


LookupReader = Annotated[Principal, Depends(require(Scope.LOOKUP_READ))]
ContactsWriter = Annotated[Principal, Depends(require(Scope.CONTACTS_WRITE))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
Supervisor = Annotated[Principal, Depends(require_supervisor)]


class Page:
    """Limit/offset paging with a sane cap."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=500, description="At most this many items")] = 50,
        offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Skip this many items")] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


Paging = Annotated[Page, Depends()]
