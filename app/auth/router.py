"""Who am I: the widget asks which agent its token speaks for."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import DbSession, LookupReader
from app.errors import error_responses
from app.models import Agent

router = APIRouter(tags=["agents"])


class Me(BaseModel):
    """The caller of the API: an agent (widget token) or an API key."""

    tenant_id: int
    name: str
    scopes: list[str]
    agent_id: int | None
    extension: str | None
    language: str | None


@router.get(
    "/me", response_model=Me, summary="Who this credential is", responses=error_responses(401)
)
async def me(session: DbSession, principal: LookupReader) -> Me:
    """The agent behind a widget token (or the name of an API key)."""
    agent = await session.get(Agent, principal.agent_id) if principal.agent_id else None
    return Me(
        tenant_id=principal.tenant_id,
        name=principal.name,
        scopes=sorted(principal.scopes),
        agent_id=principal.agent_id,
        extension=agent.extension if agent else None,
        language=agent.language if agent else None,
    )
