"""Agent tokens: what an agent's widget connects its stream with; only the SHA-256 is stored."""

from __future__ import annotations

import hmac
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.credentials import hash_credential, mint, prefix_of
from app.models import Agent, AgentToken, utcnow

TOKEN_PREFIX = "sga_"
VALIDITY_BATCH = 500  # ids per statement: far below every driver's parameter limit


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """Who an agent token speaks for."""

    tenant_id: int
    agent_id: int
    agent_name: str
    agent_extension: str | None
    token_id: int
    role: str = "agent"


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hash_credential(token)


async def issue_agent_token(
    session: AsyncSession, *, tenant_id: int, agent_id: int, label: str | None
) -> tuple[AgentToken, str]:
    """Create a token for the agent; the plaintext is returned once and never stored."""
    token, prefix = mint(TOKEN_PREFIX)
    row = AgentToken(
        tenant_id=tenant_id,
        agent_id=agent_id,
        prefix=prefix,
        token_hash=hash_token(token),
        label=label,
    )
    session.add(row)
    await session.flush()
    return row, token


async def verify_agent_token(session: AsyncSession, token: str) -> AgentIdentity | None:
    """The identity for a valid token of an active agent; None otherwise."""
    prefix = prefix_of(token, TOKEN_PREFIX)
    if prefix is None:
        return None
    row = (
        await session.execute(
            select(AgentToken, Agent)
            .join(
                Agent, (Agent.id == AgentToken.agent_id) & (Agent.tenant_id == AgentToken.tenant_id)
            )
            .where(AgentToken.prefix == prefix, AgentToken.revoked_at.is_(None), Agent.active)
        )
    ).first()
    if row is None:
        return None
    agent_token, agent = row
    if not hmac.compare_digest(agent_token.token_hash, hash_token(token)):
        return None
    return AgentIdentity(
        tenant_id=agent_token.tenant_id,
        agent_id=agent.id,
        agent_name=agent.name,
        agent_extension=agent.extension,
        token_id=agent_token.id,
        role=agent.role,
    )


async def valid_token_ids(session: AsyncSession, token_ids: Collection[int]) -> set[int]:
    """Those of `token_ids` that still admit a stream: not revoked, of an active agent.

    By id, in one statement per batch: the tokens were verified (hash included) when their
    streams opened, and a token's id never names another token.
    """
    ids = sorted(token_ids)
    valid: set[int] = set()
    for start in range(0, len(ids), VALIDITY_BATCH):
        batch = ids[start : start + VALIDITY_BATCH]
        rows = await session.scalars(
            select(AgentToken.id)
            .join(
                Agent, (Agent.id == AgentToken.agent_id) & (Agent.tenant_id == AgentToken.tenant_id)
            )
            .where(AgentToken.id.in_(batch), AgentToken.revoked_at.is_(None), Agent.active)
        )
        valid.update(rows)
    return valid


async def revoke_agent_token(
    session: AsyncSession, *, tenant_id: int, agent_id: int, token_id: int
) -> bool:
    """Revoke one of the agent's tokens (again is fine); False when it does not exist.

    Streams already open with it stay open until they reconnect.
    """
    row = await session.scalar(
        select(AgentToken).where(
            AgentToken.id == token_id,
            AgentToken.tenant_id == tenant_id,
            AgentToken.agent_id == agent_id,
        )
    )
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
    return True
