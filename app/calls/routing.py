"""Who sees a call: the rung extension's agent, else the agents of the called line's team."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Agent, Line, agent_teams


@dataclass(frozen=True, slots=True)
class Recipient:
    """An agent who gets the pop."""

    agent_id: int
    name: str
    extension: str | None


@dataclass(frozen=True, slots=True)
class Route:
    """The line a call came in on and the agents it pops for."""

    line_id: int | None
    line_label: str | None
    recipients: tuple[Recipient, ...]


async def route_call(
    session: AsyncSession, *, tenant_id: int, called_key: str | None, extension: str | None
) -> Route:
    """Agents for a call; with no line configured for the number, every active agent."""
    line = None
    if called_key is not None:
        line = (
            await session.execute(
                select(Line.id, Line.label, Line.team_id).where(
                    Line.tenant_id == tenant_id, Line.number_e164 == called_key
                )
            )
        ).first()
    query = select(Agent.id, Agent.name, Agent.extension).where(
        Agent.tenant_id == tenant_id, Agent.active.is_(True)
    )
    if extension:
        rung = (await session.execute(query.where(Agent.extension == extension))).all()
        if rung:
            return _route(line, rung)
    if line is not None and line.team_id is not None:
        query = query.join(agent_teams, agent_teams.c.agent_id == Agent.id).where(
            agent_teams.c.team_id == line.team_id
        )
    return _route(line, (await session.execute(query.order_by(Agent.id))).all())


def _route(line: Any, rows: Sequence[Any]) -> Route:
    recipients = tuple(Recipient(agent_id=r.id, name=r.name, extension=r.extension) for r in rows)
    if line is None:
        return Route(line_id=None, line_label=None, recipients=recipients)
    return Route(line_id=line.id, line_label=line.label, recipients=recipients)


async def find_answering_agent(
    session: AsyncSession, *, tenant_id: int, answered_by: str
) -> Recipient | None:
    """The agent a phone system named as answering: by extension, SIP user or name."""
    value = answered_by.strip()
    if not value:
        return None
    row = (
        await session.execute(
            select(Agent.id, Agent.name, Agent.extension)
            .where(
                Agent.tenant_id == tenant_id,
                or_(
                    Agent.extension == value,
                    Agent.sip_uri == value,
                    Agent.sip_uri.like(f"sip:{value}@%"),
                    func.lower(Agent.name) == value.lower(),
                ),
            )
            .order_by(Agent.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return Recipient(agent_id=row.id, name=row.name, extension=row.extension)
