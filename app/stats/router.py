"""The supervisors' dashboard over HTTP: a router only translates."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from app.api.deps import DbSession, Supervisor
from app.errors import NotFound, error_responses
from app.models import Line, Team, utcnow
from app.stats import dashboard
from app.stats.period import period, tenant_zone
from app.stats.schemas import DashboardOut
from app.stats.shape import dashboard_out

router = APIRouter()

DEFAULT_DAYS = 28


@router.get(
    "/stats/dashboard",
    response_model=DashboardOut,
    tags=["stats"],
    summary="Every figure of the supervisors' dashboard, per hour of day and per week",
    responses=error_responses(401, 403, 404, 422),
)
async def get_dashboard(
    session: DbSession,
    principal: Supervisor,
    since: Annotated[
        date | None,
        Query(description="First day on the tenant's clock (inclusive); default 28 days back"),
    ] = None,
    until: Annotated[
        date | None,
        Query(description="Day after the last, on the tenant's clock; default tomorrow"),
    ] = None,
    line_id: Annotated[int | None, Query(ge=1, description="Only calls to this line")] = None,
    team_id: Annotated[
        int | None, Query(ge=1, description="Only calls to the lines this team answers")
    ] = None,
    repeat_days: Annotated[
        int,
        Query(
            ge=1,
            le=90,
            description="First-contact resolution: a call again within this "
            "many days means not helped",
        ),
    ] = 7,
) -> DashboardOut:
    """Inbound calls per hour of day by recognition; ring-to-pop p50/p99; per week: missed
    calls and how fast they were called back (missed call to callback request done), the
    wrap-up's "geholpen?", agent and survey satisfaction, first-contact resolution (rule:
    `GET /v1/stats/fcr`); open callbacks overdue now. Hours and weeks (Monday 00:00) are on
    the tenant's clock (`PATCH /v1/tenant` timezone). `line_id` and `team_id` narrow every
    figure to calls to that line, or to the lines of that team (as lines are assigned now).
    """
    zone = await tenant_zone(session, principal.tenant_id)
    start, end = period(since, until, default=timedelta(days=DEFAULT_DAYS), zone=zone)
    tenant_id = principal.tenant_id
    lines = (
        await session.scalars(
            select(Line).where(Line.tenant_id == tenant_id).order_by(Line.label, Line.id)
        )
    ).all()
    teams = (
        await session.scalars(
            select(Team).where(Team.tenant_id == tenant_id).order_by(Team.name, Team.id)
        )
    ).all()
    if line_id is not None and all(line.id != line_id for line in lines):
        raise NotFound(f"No line {line_id} here; GET /v1/lines lists them.")
    if team_id is not None and all(team.id != team_id for team in teams):
        raise NotFound(f"No team {team_id} here; GET /v1/teams lists them.")
    figures = await dashboard.build(
        session,
        scope=dashboard.Scope(tenant_id, line_id=line_id, team_id=team_id),
        zone=zone,
        since=start,
        until=end,
        now=utcnow(),
        repeat_days=repeat_days,
    )
    return dashboard_out(figures, line_id=line_id, team_id=team_id, lines=lines, teams=teams)
