"""The directory: which lines a tenant has, and the teams and agents answering them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.api.inputs import number_key, require_in_tenant
from app.audit import record
from app.directory.schemas import AgentCreate, AgentUpdate, LineCreate, LineUpdate, TeamIn
from app.errors import Conflict, InvalidInput, NotFound
from app.models import Agent, Line, Team


def _audit(
    session: AsyncSession, tenant_id: int, actor: str, action: str, kind: str, id_: int
) -> None:
    record(
        session, tenant_id=tenant_id, actor=actor, action=action, subject_type=kind, subject_id=id_
    )


# Lines


async def get_line(session: AsyncSession, *, tenant_id: int, line_id: int) -> Line:
    """One line; NotFound if not this tenant's."""
    row = await session.scalar(select(Line).where(Line.tenant_id == tenant_id, Line.id == line_id))
    if row is None:
        raise NotFound(f"No line {line_id} in this tenant.")
    return row


async def _check_line_number(
    session: AsyncSession, *, tenant_id: int, key: str, line_id: int | None
) -> None:
    # Unique per tenant (see Line): another tenant's lines are neither consulted nor named.
    query = select(Line.id).where(Line.tenant_id == tenant_id, Line.number_e164 == key)
    if line_id is not None:
        query = query.where(Line.id != line_id)
    other = await session.scalar(query)
    if other is not None:
        raise Conflict(f"Line {key} is already configured (line {other}).")


async def create_line(
    session: AsyncSession, *, tenant_id: int, region: str, actor: str, data: LineCreate
) -> Line:
    """Configure a called number; it must be new and its team this tenant's."""
    key, _ = number_key(data.number, region=region, field="number")
    await require_in_tenant(
        session, Team, tenant_id=tenant_id, row_id=data.team_id, field="team_id"
    )
    await _check_line_number(session, tenant_id=tenant_id, key=key, line_id=None)
    row = Line(
        tenant_id=tenant_id,
        number_e164=key,
        label=data.label,
        location=data.location,
        team_id=data.team_id,
        callback_policy=None if data.callback_policy is None else data.callback_policy.stored(),
    )
    session.add(row)
    await session.flush()
    _audit(session, tenant_id, actor, "create", "line", row.id)
    return row


async def list_lines(
    session: AsyncSession, *, tenant_id: int, limit: int = 50, offset: int = 0
) -> Sequence[Line]:
    """The tenant's lines, by id."""
    query = select(Line).where(Line.tenant_id == tenant_id).order_by(Line.id)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def update_line(
    session: AsyncSession,
    *,
    tenant_id: int,
    region: str,
    actor: str,
    line_id: int,
    data: LineUpdate,
) -> Line:
    """Change the fields given; a new number must be free."""
    row = await get_line(session, tenant_id=tenant_id, line_id=line_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if "callback_policy" in changes:
        changes.pop("callback_policy")
        given = data.callback_policy
        row.callback_policy = None if given is None else given.stored()
    if "number" in changes:
        key, _ = number_key(changes.pop("number"), region=region, field="number")
        await _check_line_number(session, tenant_id=tenant_id, key=key, line_id=row.id)
        row.number_e164 = key
    if "team_id" in changes:
        await require_in_tenant(
            session, Team, tenant_id=tenant_id, row_id=changes["team_id"], field="team_id"
        )
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    _audit(session, tenant_id, actor, "update", "line", row.id)
    return row


async def delete_line(session: AsyncSession, *, tenant_id: int, actor: str, line_id: int) -> None:
    """Delete a line (and the notices meant for it only)."""
    await get_line(session, tenant_id=tenant_id, line_id=line_id)
    await session.execute(delete(Line).where(Line.tenant_id == tenant_id, Line.id == line_id))
    _audit(session, tenant_id, actor, "delete", "line", line_id)


# Teams


async def get_team(session: AsyncSession, *, tenant_id: int, team_id: int) -> Team:
    """One team with its agents; NotFound if not this tenant's."""
    row = await session.scalar(
        select(Team)
        .options(selectinload(Team.agents))
        .where(Team.tenant_id == tenant_id, Team.id == team_id)
    )
    if row is None:
        raise NotFound(f"No team {team_id} in this tenant.")
    return row


async def _check_team_name(
    session: AsyncSession, *, tenant_id: int, name: str, team_id: int | None
) -> None:
    query = select(Team.id).where(Team.tenant_id == tenant_id, Team.name == name)
    if team_id is not None:
        query = query.where(Team.id != team_id)
    other = await session.scalar(query)
    if other is not None:
        raise Conflict(f"Team '{name}' already exists (team {other}).")


async def create_team(session: AsyncSession, *, tenant_id: int, actor: str, data: TeamIn) -> Team:
    """Create a team with a name new in the tenant."""
    await _check_team_name(session, tenant_id=tenant_id, name=data.name, team_id=None)
    row = Team(tenant_id=tenant_id, name=data.name, agents=[])
    session.add(row)
    await session.flush()
    _audit(session, tenant_id, actor, "create", "team", row.id)
    return row


async def list_teams(
    session: AsyncSession, *, tenant_id: int, limit: int = 50, offset: int = 0
) -> Sequence[Team]:
    """The tenant's teams with their agents, by name then id."""
    query = (
        select(Team)
        .options(selectinload(Team.agents))
        .where(Team.tenant_id == tenant_id)
        .order_by(Team.name, Team.id)
    )
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def rename_team(
    session: AsyncSession, *, tenant_id: int, actor: str, team_id: int, data: TeamIn
) -> Team:
    """Rename a team."""
    row = await get_team(session, tenant_id=tenant_id, team_id=team_id)
    await _check_team_name(session, tenant_id=tenant_id, name=data.name, team_id=row.id)
    row.name = data.name
    await session.flush()
    _audit(session, tenant_id, actor, "update", "team", row.id)
    return row


async def delete_team(session: AsyncSession, *, tenant_id: int, actor: str, team_id: int) -> None:
    """Delete a team; its lines keep working without a team, its agents lose the membership."""
    await get_team(session, tenant_id=tenant_id, team_id=team_id)
    await session.execute(delete(Team).where(Team.tenant_id == tenant_id, Team.id == team_id))
    _audit(session, tenant_id, actor, "delete", "team", team_id)


# Agents


async def get_agent(session: AsyncSession, *, tenant_id: int, agent_id: int) -> Agent:
    """One agent with their teams; NotFound if not this tenant's."""
    row = await session.scalar(
        select(Agent)
        .options(selectinload(Agent.teams))
        .where(Agent.tenant_id == tenant_id, Agent.id == agent_id)
    )
    if row is None:
        raise NotFound(f"No agent {agent_id} in this tenant.")
    return row


async def _teams(session: AsyncSession, *, tenant_id: int, team_ids: list[int]) -> list[Team]:
    wanted = sorted(set(team_ids))
    if not wanted:
        return []
    found = (
        await session.scalars(
            select(Team).where(Team.tenant_id == tenant_id, Team.id.in_(wanted)).order_by(Team.id)
        )
    ).all()
    missing = sorted(set(wanted) - {t.id for t in found})
    if missing:
        listed = ", ".join(str(m) for m in missing)
        raise InvalidInput(f"team_ids: team {listed} does not exist in this tenant.")
    return list(found)


async def _check_extension(
    session: AsyncSession, *, tenant_id: int, extension: str | None, agent_id: int | None
) -> None:
    if extension is None:
        return
    query = select(Agent.id).where(Agent.tenant_id == tenant_id, Agent.extension == extension)
    if agent_id is not None:
        query = query.where(Agent.id != agent_id)
    other = await session.scalar(query)
    if other is not None:
        raise Conflict(f"Extension {extension} is already used by agent {other}.")


async def create_agent(
    session: AsyncSession, *, tenant_id: int, actor: str, data: AgentCreate
) -> Agent:
    """Create an agent in the teams given; the extension must be free."""
    teams = await _teams(session, tenant_id=tenant_id, team_ids=data.team_ids)
    await _check_extension(session, tenant_id=tenant_id, extension=data.extension, agent_id=None)
    row = Agent(tenant_id=tenant_id, **data.model_dump(exclude={"team_ids"}), teams=teams)
    session.add(row)
    await session.flush()
    _audit(session, tenant_id, actor, "create", "agent", row.id)
    return row


async def list_agents(
    session: AsyncSession,
    *,
    tenant_id: int,
    team_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Agent]:
    """The tenant's agents with their teams, by name then id."""
    query = (
        select(Agent)
        .options(selectinload(Agent.teams))
        .where(Agent.tenant_id == tenant_id)
        .order_by(Agent.name, Agent.id)
    )
    if team_id is not None:
        query = query.where(Agent.teams.any(Team.id == team_id))
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def update_agent(
    session: AsyncSession, *, tenant_id: int, actor: str, agent_id: int, data: AgentUpdate
) -> Agent:
    """Change the fields given; `team_ids` replaces the agent's teams."""
    row = await get_agent(session, tenant_id=tenant_id, agent_id=agent_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if "team_ids" in changes:
        row.teams = await _teams(session, tenant_id=tenant_id, team_ids=changes.pop("team_ids"))
    if "extension" in changes:
        await _check_extension(
            session, tenant_id=tenant_id, extension=changes["extension"], agent_id=row.id
        )
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    _audit(session, tenant_id, actor, "update", "agent", row.id)
    return row


async def delete_agent(session: AsyncSession, *, tenant_id: int, actor: str, agent_id: int) -> None:
    """Delete an agent; their interactions and callbacks stay, without an agent."""
    await get_agent(session, tenant_id=tenant_id, agent_id=agent_id)
    await session.execute(delete(Agent).where(Agent.tenant_id == tenant_id, Agent.id == agent_id))
    _audit(session, tenant_id, actor, "delete", "agent", agent_id)
