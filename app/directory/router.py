"""The directory over HTTP: /v1/lines, /v1/teams and /v1/agents (admin keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi import status as http_status
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import Admin, DbSession, Paging
from app.api.inputs import MAX_ID, id_path
from app.auth.revocation import Revoked, announce
from app.calls import routing_cache
from app.directory import service
from app.directory.schemas import (
    AgentCreate,
    AgentOut,
    AgentUpdate,
    LineCreate,
    LineOut,
    LineUpdate,
    TeamIn,
    TeamOut,
)
from app.errors import error_responses

router = APIRouter(tags=["directory"])

LineId = Annotated[int, id_path("line")]
TeamId = Annotated[int, id_path("team")]
AgentId = Annotated[int, id_path("agent")]
CREATED = http_status.HTTP_201_CREATED
NO_CONTENT = http_status.HTTP_204_NO_CONTENT


@router.post(
    "/lines",
    response_model=LineOut,
    status_code=CREATED,
    summary="Configure a line (a called number)",
    responses=error_responses(401, 403, 409, 422),
)
async def create_line(
    data: LineCreate, request: Request, session: DbSession, principal: Admin
) -> LineOut:
    """Configure a called number; it is normalised and must not be configured yet."""
    row = await service.create_line(
        session,
        tenant_id=principal.tenant_id,
        region=principal.tenant_region,
        actor=principal.actor,
        data=data,
    )
    await _routing_changed(request, session, principal.tenant_id)
    return LineOut.of(row, principal.tenant_region)


@router.get(
    "/lines",
    response_model=list[LineOut],
    summary="The tenant's lines",
    responses=error_responses(401, 403, 422),
)
async def list_lines(session: DbSession, principal: Admin, page: Paging) -> list[LineOut]:
    """The tenant's lines, by id."""
    rows = await service.list_lines(
        session, tenant_id=principal.tenant_id, limit=page.limit, offset=page.offset
    )
    return [LineOut.of(row, principal.tenant_region) for row in rows]


@router.get(
    "/lines/{line_id}",
    response_model=LineOut,
    summary="Read one line",
    responses=error_responses(401, 403, 404, 422),
)
async def get_line(line_id: LineId, session: DbSession, principal: Admin) -> LineOut:
    """One line."""
    row = await service.get_line(session, tenant_id=principal.tenant_id, line_id=line_id)
    return LineOut.of(row, principal.tenant_region)


@router.patch(
    "/lines/{line_id}",
    response_model=LineOut,
    summary="Change a line",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def update_line(
    line_id: LineId, data: LineUpdate, request: Request, session: DbSession, principal: Admin
) -> LineOut:
    """Change the fields given; a new number must not be configured yet."""
    row = await service.update_line(
        session,
        tenant_id=principal.tenant_id,
        region=principal.tenant_region,
        actor=principal.actor,
        line_id=line_id,
        data=data,
    )
    await _routing_changed(request, session, principal.tenant_id)
    return LineOut.of(row, principal.tenant_region)


@router.delete(
    "/lines/{line_id}",
    status_code=NO_CONTENT,
    response_class=Response,
    summary="Delete a line and its notices",
    responses=error_responses(401, 403, 404, 422),
)
async def delete_line(
    line_id: LineId, request: Request, session: DbSession, principal: Admin
) -> None:
    """Delete a line; notices meant for this line only go with it."""
    await service.delete_line(
        session, tenant_id=principal.tenant_id, actor=principal.actor, line_id=line_id
    )
    await _routing_changed(request, session, principal.tenant_id)


@router.post(
    "/teams",
    response_model=TeamOut,
    status_code=CREATED,
    summary="Create a team",
    responses=error_responses(401, 403, 409, 422),
)
async def create_team(
    data: TeamIn, request: Request, session: DbSession, principal: Admin
) -> TeamOut:
    """Create a team; its name must be new in the tenant."""
    row = await service.create_team(
        session, tenant_id=principal.tenant_id, actor=principal.actor, data=data
    )
    await _routing_changed(request, session, principal.tenant_id)
    return TeamOut.of(row)


@router.get(
    "/teams",
    response_model=list[TeamOut],
    summary="The tenant's teams",
    responses=error_responses(401, 403, 422),
)
async def list_teams(session: DbSession, principal: Admin, page: Paging) -> list[TeamOut]:
    """The tenant's teams with their agents, by name."""
    rows = await service.list_teams(
        session, tenant_id=principal.tenant_id, limit=page.limit, offset=page.offset
    )
    return [TeamOut.of(row) for row in rows]


@router.get(
    "/teams/{team_id}",
    response_model=TeamOut,
    summary="Read one team",
    responses=error_responses(401, 403, 404, 422),
)
async def get_team(team_id: TeamId, session: DbSession, principal: Admin) -> TeamOut:
    """One team with its agents."""
    row = await service.get_team(session, tenant_id=principal.tenant_id, team_id=team_id)
    return TeamOut.of(row)


@router.patch(
    "/teams/{team_id}",
    response_model=TeamOut,
    summary="Rename a team",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def rename_team(
    team_id: TeamId, data: TeamIn, session: DbSession, principal: Admin
) -> TeamOut:
    """Rename a team; the new name must be free."""
    # Routing reads no team names: the processes' routing caches stay as they are.
    row = await service.rename_team(
        session, tenant_id=principal.tenant_id, actor=principal.actor, team_id=team_id, data=data
    )
    return TeamOut.of(row)


@router.delete(
    "/teams/{team_id}",
    status_code=NO_CONTENT,
    response_class=Response,
    summary="Delete a team",
    responses=error_responses(401, 403, 404, 422),
)
async def delete_team(
    team_id: TeamId, request: Request, session: DbSession, principal: Admin
) -> None:
    """Delete a team; its lines stay without a team and its agents lose the membership."""
    await service.delete_team(
        session, tenant_id=principal.tenant_id, actor=principal.actor, team_id=team_id
    )
    await _routing_changed(request, session, principal.tenant_id)


@router.post(
    "/agents",
    response_model=AgentOut,
    status_code=CREATED,
    summary="Create an agent",
    responses=error_responses(401, 403, 409, 422),
)
async def create_agent(
    data: AgentCreate, request: Request, session: DbSession, principal: Admin
) -> AgentOut:
    """Create an agent in the teams given; the extension must be free."""
    row = await service.create_agent(
        session, tenant_id=principal.tenant_id, actor=principal.actor, data=data
    )
    await _routing_changed(request, session, principal.tenant_id)
    return AgentOut.of(row)


@router.get(
    "/agents",
    response_model=list[AgentOut],
    summary="The tenant's agents",
    responses=error_responses(401, 403, 422),
)
async def list_agents(
    session: DbSession,
    principal: Admin,
    page: Paging,
    team_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Members of this team")
    ] = None,
) -> list[AgentOut]:
    """The tenant's agents with their teams, by name."""
    rows = await service.list_agents(
        session,
        tenant_id=principal.tenant_id,
        team_id=team_id,
        limit=page.limit,
        offset=page.offset,
    )
    return [AgentOut.of(row) for row in rows]


@router.get(
    "/agents/{agent_id}",
    response_model=AgentOut,
    summary="Read one agent",
    responses=error_responses(401, 403, 404, 422),
)
async def get_agent(agent_id: AgentId, session: DbSession, principal: Admin) -> AgentOut:
    """One agent with their teams."""
    row = await service.get_agent(session, tenant_id=principal.tenant_id, agent_id=agent_id)
    return AgentOut.of(row)


@router.patch(
    "/agents/{agent_id}",
    response_model=AgentOut,
    summary="Change an agent",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def update_agent(
    agent_id: AgentId, data: AgentUpdate, request: Request, session: DbSession, principal: Admin
) -> AgentOut:
    """Change the fields given; `team_ids` replaces the agent's teams. An agent made
    inactive is signed out at once: its tokens stop working on REST and its streams end."""
    row = await service.update_agent(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        agent_id=agent_id,
        data=data,
    )
    out = AgentOut.of(row)
    if data.active is False:
        await _sign_out(request, session, principal.tenant_id, agent_id)
    elif data.role is not None:
        # Its tokens' cached principals carry the old role: forget them (streams stay open;
        # the routing change below gives their next pop the new role's card).
        await session.commit()
        await announce(request.app.state.hub, Revoked("agent_role", principal.tenant_id, agent_id))
    await _routing_changed(request, session, principal.tenant_id)
    return out


@router.delete(
    "/agents/{agent_id}",
    status_code=NO_CONTENT,
    response_class=Response,
    summary="Delete an agent",
    responses=error_responses(401, 403, 404, 422),
)
async def delete_agent(
    agent_id: AgentId, request: Request, session: DbSession, principal: Admin
) -> None:
    """Delete an agent; their interactions and callbacks stay, without an agent. Their
    tokens stop working at once."""
    await service.delete_agent(
        session, tenant_id=principal.tenant_id, actor=principal.actor, agent_id=agent_id
    )
    await _sign_out(request, session, principal.tenant_id, agent_id)
    await _routing_changed(request, session, principal.tenant_id)


async def _sign_out(request: Request, session: AsyncSession, tenant_id: int, agent_id: int) -> None:
    # Committed first: a process that forgets the agent must not read it back as active.
    await session.commit()
    await announce(request.app.state.hub, Revoked("agent", tenant_id, agent_id))


async def _routing_changed(request: Request, session: AsyncSession, tenant_id: int) -> None:
    # Committed first: a process that reloads the tenant's routing must read the change.
    await session.commit()
    await routing_cache.announce(request.app.state.hub, tenant_id)
