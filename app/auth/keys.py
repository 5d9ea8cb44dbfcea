"""Issuing and verifying API keys; only a key's SHA-256 is ever stored."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.credentials import hash_credential, mint, prefix_of
from app.models import ApiKey, Tenant
from app.screen_pop.tokens import TOKEN_PREFIX as AGENT_TOKEN_PREFIX
from app.screen_pop.tokens import verify_agent_token

KEY_PREFIX = "sg_"


class Scope(StrEnum):
    """What a key may do; `admin` implies every other scope."""

    LOOKUP_READ = "lookup:read"
    CONTACTS_WRITE = "contacts:write"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the API: a key of one tenant, with its scopes."""

    tenant_id: int
    tenant_region: str
    key_id: int
    name: str
    scopes: frozenset[str]
    agent_id: int | None = None

    @property
    def actor(self) -> str:
        """How the audit trail names this caller: an API key or an agent's widget."""
        return f"agent:{self.name}" if self.agent_id is not None else f"api-key:{self.name}"

    def allows(self, scope: Scope) -> bool:
        """True when the key carries the scope or is an admin key."""
        return Scope.ADMIN in self.scopes or scope in self.scopes


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hash_credential(key)


async def issue_key(
    session: AsyncSession, *, tenant_id: int, name: str, scopes: list[Scope]
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned once and never stored."""
    key, prefix = mint(KEY_PREFIX)
    row = ApiKey(
        tenant_id=tenant_id,
        name=name,
        prefix=prefix,
        key_hash=hash_key(key),
        scopes=sorted({s.value for s in scopes}),
    )
    session.add(row)
    await session.flush()
    return row, key


class KeyVerifier:
    """Verifies keys against the database, trusting a verified key for a short while.

    The cache keeps a lookup at its query budget; a revoked key stops working within
    `ttl_seconds` (and at once in the process that revoked it).
    """

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}

    def forget(self, key_id: int) -> None:
        """Drop a key from the cache (after revocation)."""
        for digest, (_at, principal) in list(self._cache.items()):
            if principal.key_id == key_id:
                del self._cache[digest]

    async def verify(self, session: AsyncSession, key: str) -> Principal | None:
        """The principal for a valid, unrevoked key; None otherwise."""
        digest = hash_key(key)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        if key.startswith(AGENT_TOKEN_PREFIX):
            return self._remember(digest, now, await _agent_principal(session, key))
        prefix = prefix_of(key, KEY_PREFIX)
        if prefix is None:
            return None
        row = (
            await session.execute(
                select(ApiKey, Tenant.default_region)
                .join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
            )
        ).first()
        if row is None or not hmac.compare_digest(row[0].key_hash, digest):
            self._cache.pop(digest, None)
            return None
        api_key, region = row
        principal = Principal(
            tenant_id=api_key.tenant_id,
            tenant_region=region,
            key_id=api_key.id,
            name=api_key.name,
            scopes=frozenset(api_key.scopes),
        )
        return self._remember(digest, now, principal)

    def _remember(self, digest: str, now: float, principal: Principal | None) -> Principal | None:
        if principal is None:
            return None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, principal)
        return principal


async def _agent_principal(session: AsyncSession, token: str) -> Principal | None:
    """An agent's widget token acts for that agent: reading and noting, never admin."""
    identity = await verify_agent_token(session, token)
    if identity is None:
        return None
    region = await session.scalar(
        select(Tenant.default_region).where(Tenant.id == identity.tenant_id)
    )
    return Principal(
        tenant_id=identity.tenant_id,
        tenant_region=region or "NL",
        key_id=-identity.token_id,
        name=identity.agent_name,
        scopes=frozenset({Scope.LOOKUP_READ.value, Scope.CONTACTS_WRITE.value}),
        agent_id=identity.agent_id,
    )
