"""The demo agent's widget token: fixed, so the README's widget link works at once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Agent, AgentToken
from app.screen_pop.tokens import hash_token

DEMO_AGENT_EXTENSION = "201"
DEMO_AGENT_TOKEN_PREFIX = "demo0201"
DEMO_AGENT_TOKEN = f"sga_{DEMO_AGENT_TOKEN_PREFIX}_stamgast-demo-widget-token-do-not-use"


async def ensure_demo_agent_token(session: AsyncSession, tenant_id: int) -> bool:
    """Give the demo's agent at extension 201 the fixed token; True when it was added."""
    existing = await session.scalar(
        select(AgentToken.id).where(AgentToken.prefix == DEMO_AGENT_TOKEN_PREFIX)
    )
    if existing is not None:
        return False
    agent_id = await session.scalar(
        select(Agent.id).where(
            Agent.tenant_id == tenant_id, Agent.extension == DEMO_AGENT_EXTENSION
        )
    )
    if agent_id is None:
        return False
    session.add(
        AgentToken(
            tenant_id=tenant_id,
            agent_id=agent_id,
            prefix=DEMO_AGENT_TOKEN_PREFIX,
            token_hash=hash_token(DEMO_AGENT_TOKEN),
            label="demo widget",
        )
    )
    await session.flush()
    return True
