"""Issuing and verifying API keys; only a key's SHA-256 is ever stored."""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.credentials import hash_credential, mint, prefix_of
from app.auth.roles import Role, sees_sensitive
from app.models import ApiKey, Tenant, utcnow
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
    """Who is calling the API: a key of one tenant, with its scopes (what it may do) and
    its role (what it may see, app/auth/roles.py)."""

    tenant_id: int
    tenant_region: str
    key_id: int
    name: str
    scopes: frozenset[str]
    agent_id: int | None = None
    role: str = Role.AGENT

    @property
    def sees_sensitive(self) -> bool:
        """True when notes and sensitive notices are shown to this caller."""
        return sees_sensitive(self.role)

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


class RoleConflict(ValueError):
    """An admin-scoped key with a role below admin: it could issue itself any role."""


def key_role(scopes: list[Scope], role: Role | None) -> Role:
    """The role a new key gets: `admin` for admin-scoped keys, else the one asked for,
    else `agent` (least by default: an integration that needs notes asks for
    `supervisor`, and every masked response says what it left out)."""
    if Scope.ADMIN in scopes:
        if role not in (None, Role.ADMIN):
            raise RoleConflict(
                f"A key with the `admin` scope has role `admin` (asked: `{role}`): it can "
                "issue itself any key. Leave out the role, or drop the `admin` scope."
            )
        return Role.ADMIN
    return role or Role.AGENT


async def issue_key(
    session: AsyncSession,
    *,
    tenant_id: int,
    name: str,
    scopes: list[Scope],
    role: Role | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned once and never stored. Raises RoleConflict
    for an admin-scoped key asked to be less than admin."""
    resolved = key_role(scopes, role)
    key, prefix = mint(KEY_PREFIX)
    row = ApiKey(
        tenant_id=tenant_id,
        name=name,
        prefix=prefix,
        key_hash=hash_key(key),
        scopes=sorted({s.value for s in scopes}),
        role=resolved.value,
    )
    session.add(row)
    await session.flush()
    return row, key


async def list_keys(
    session: AsyncSession, *, tenant_id: int, limit: int = 500, offset: int = 0
) -> Sequence[ApiKey]:
    """The tenant's keys, revoked ones included, by id."""
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def revoke_key(session: AsyncSession, *, tenant_id: int, key_id: int) -> ApiKey | None:
    """Revoke one of the tenant's keys (again is fine); None when it has no such key.

    Announce it afterwards (app/auth/revocation.py), once committed.
    """
    row = await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == tenant_id)
    )
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
    return row


class KeyVerifier:
    """Verifies keys against the database, trusting a verified key for a short while.

    The cache keeps a lookup at its query budget. A revocation announced through
    app/auth/revocation.py empties the matching entries at once in every process that
    hears it; one that is not heard (made by hand in the database, or while Redis was
    away) takes effect within `ttl_seconds`.
    """

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}
        # Bumped by every forget: a verification that read the database before a
        # revocation was announced must not put the revoked key back in the cache.
        self._generation = 0

    def forget(
        self, *, tenant_id: int, key_id: int | None = None, agent_id: int | None = None
    ) -> None:
        """Drop the tenant's cached principals with this key id (agent tokens: minus the
        token id) or acting for this agent."""
        self._generation += 1
        for digest, (_at, principal) in list(self._cache.items()):
            if principal.tenant_id == tenant_id and (
                (key_id is not None and principal.key_id == key_id)
                or (agent_id is not None and principal.agent_id == agent_id)
            ):
                del self._cache[digest]

    def clear(self) -> None:
        """Drop everything cached (revocations may have been missed)."""
        self._generation += 1
        self._cache.clear()

    def cached(self, key: str) -> Principal | None:
        """The principal of a key verified within the last `ttl_seconds`; None: ask `verify`."""
        cached = self._cache.get(hash_key(key))
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        return None

    async def verify(self, session: AsyncSession, key: str) -> Principal | None:
        """The principal for a valid, unrevoked key; None otherwise."""
        digest = hash_key(key)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        generation = self._generation
        if key.startswith(AGENT_TOKEN_PREFIX):
            principal = await _agent_principal(session, key)
            return self._remember(digest, now, generation, principal)
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
            # An admin-scoped key can issue itself any role, so it is admin whatever a row
            # written by hand (or before roles) says.
            role=Role.ADMIN if Scope.ADMIN in api_key.scopes else api_key.role,
        )
        return self._remember(digest, now, generation, principal)

    def _remember(
        self, digest: str, now: float, generation: int, principal: Principal | None
    ) -> Principal | None:
        if principal is None:
            self._cache.pop(digest, None)
            return None
        if generation != self._generation:
            return principal  # read before a revocation was heard: answer, do not keep
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, principal)
        return principal


async def _agent_principal(session: AsyncSession, token: str) -> Principal | None:
    """An agent's widget token acts for that agent: reading and noting, never admin; it
    sees what the agent's role sees."""
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
        role=identity.role,
    )
