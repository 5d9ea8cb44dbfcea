"""Who sees a call: the rung extension's agent, else the agents of the called line's team."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
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


@cache
def _line_with_team() -> Select[int, str, int | None, int, str, str | None]:
    # The called line and its team's active agents in one statement (the common path).
    return (
        select(
            Line.id.label("line_id"),
            Line.label.label("line_label"),
            Line.team_id,
            Agent.id,
            Agent.name,
            Agent.extension,
        )
        .select_from(Line)
        .outerjoin(agent_teams, agent_teams.c.team_id == Line.team_id)
        .outerjoin(Agent, and_(Agent.id == agent_teams.c.agent_id, Agent.active.is_(True)))
        .where(Line.tenant_id == bindparam("tenant_id"), Line.number_e164 == bindparam("called"))
        .order_by(Agent.id)
    )


@cache
def _active_agents(by_extension: bool) -> Select[int, str, str | None]:
    query = select(Agent.id, Agent.name, Agent.extension).where(
        Agent.tenant_id == bindparam("tenant_id"), Agent.active.is_(True)
    )
    if by_extension:
        query = query.where(Agent.extension == bindparam("extension"))
    return query.order_by(Agent.id)


async def route_call(
    session: AsyncSession, *, tenant_id: int, called_key: str | None, extension: str | None
) -> Route:
    """Agents for a call; with no line configured for the number, every active agent."""
    rows: Sequence[Any] = []
    if called_key is not None:
        rows = (
            await session.execute(_line_with_team(), {"tenant_id": tenant_id, "called": called_key})
        ).all()
    line = rows[0] if rows else None
    if extension:
        rung = (
            await session.execute(
                _active_agents(True), {"tenant_id": tenant_id, "extension": extension}
            )
        ).all()
        if rung:
            return _route(line, rung)
    if line is not None and line.team_id is not None:
        return _route(line, [r for r in rows if r.id is not None])
    everyone = (await session.execute(_active_agents(False), {"tenant_id": tenant_id})).all()
    return _route(line, everyone)


def _route(line: Any, rows: Sequence[Any]) -> Route:
    recipients = tuple(Recipient(agent_id=r.id, name=r.name, extension=r.extension) for r in rows)
    if line is None:
        return Route(line_id=None, line_label=None, recipients=recipients)
    return Route(line_id=line.line_id, line_label=line.line_label, recipients=recipients)


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
                    # autoescape: a `%` or `_` the phone system sends is a character to match,
                    # not a wildcard (`%` would otherwise name every agent with a SIP URI).
                    Agent.sip_uri.startswith(f"sip:{value}@", autoescape=True),
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
