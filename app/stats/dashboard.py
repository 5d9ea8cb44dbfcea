"""The supervisors' dashboard: every figure for one tenant, period, line or team.

Read from the rows themselves (calls, callback requests, interactions, ring_to_pop_hours)
and grouped here in Python on the tenant's clock (tenants.timezone), so hours and weeks
mean the same on SQLite and PostgreSQL and across daylight saving. A period is at most
MAX_PERIOD_DAYS, which bounds what one request reads.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.models import Call, CallbackRequest, Interaction, Line, RingToPopHour
from app.satisfaction import fcr
from app.stats.figures import Period, quantile_ms

MATCHES = ("known", "ambiguous", "unknown", "withheld")
HELPED = ("resolved", "partly", "not")
MISSED_STATES = ("missed", "voicemail")


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose calls: the tenant's, one line's, or the lines of one team."""

    tenant_id: int
    line_id: int | None = None
    team_id: int | None = None

    def lines(self, column: InstrumentedAttribute[Any]) -> list[ColumnElement[bool]]:
        """Conditions on a line id column for this scope (none for the whole tenant)."""
        conditions: list[ColumnElement[bool]] = []
        if self.line_id is not None:
            conditions.append(column == self.line_id)
        if self.team_id is not None:
            team_lines = select(Line.id).where(
                Line.tenant_id == self.tenant_id, Line.team_id == self.team_id
            )
            conditions.append(column.in_(team_lines))
        return conditions


@dataclass(slots=True)
class HourFigures:
    """One hour of the day (tenant's clock) over the whole period."""

    hour: int
    calls: Counter[str] = field(default_factory=Counter)
    ring_to_pop: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class WeekFigures:
    """One week (Monday 00:00 on the tenant's clock)."""

    week_start: date
    calls: int = 0
    recognised: int = 0
    answered: int = 0
    missed: int = 0
    called_back: int = 0
    callback_minutes: list[float] = field(default_factory=list)
    helped: Counter[str] = field(default_factory=Counter)
    satisfaction: list[int] = field(default_factory=list)
    survey: list[int] = field(default_factory=list)
    fcr_answered: int = 0
    fcr_resolved_first_time: int = 0


@dataclass(slots=True)
class Dashboard:
    """Everything the page draws."""

    period: Period
    hours: list[HourFigures]
    weeks: list[WeekFigures]
    overdue_now: int
    ring_to_pop: dict[int, int]


async def build(
    session: AsyncSession,
    *,
    scope: Scope,
    zone: ZoneInfo,
    since: date,
    until: date,
    now: datetime,
    repeat_days: int = 7,
) -> Dashboard:
    """All figures of the period `since`..`until` (tenant's days, until exclusive)."""
    period = Period(zone, since, until)
    hours = [HourFigures(hour) for hour in range(24)]
    weeks = {monday: WeekFigures(monday) for monday in period.mondays()}
    in_scope = [Call.tenant_id == scope.tenant_id, *scope.lines(Call.line_id)]
    in_period = [Call.started_at >= period.begin, Call.started_at < period.end]
    calls = await session.execute(
        select(Call.started_at, Call.match, Call.state, Call.answered_at).where(
            *in_scope, *in_period, Call.direction == "inbound"
        )
    )
    for started, match, state, answered_at in calls:
        hours[period.hour_of_day(started)].calls[match] += 1
        week = weeks[period.monday(started)]
        week.calls += 1
        week.recognised += match in ("known", "ambiguous")
        week.answered += answered_at is not None
        week.missed += state in MISSED_STATES
    await _callbacks(session, period, weeks, in_scope, in_period)
    await _wrap_ups(session, period, weeks, in_scope, in_period)
    total_ring = await _ring_to_pop(session, period, hours, scope)
    for row in await fcr.weekly(
        session,
        tenant_id=scope.tenant_id,
        since=since,
        until=until,
        repeat_days=repeat_days,
        zone=zone,
        calls_where=and_(*in_scope),
    ):
        if row.week_start in weeks:
            weeks[row.week_start].fcr_answered = row.answered
            weeks[row.week_start].fcr_resolved_first_time = row.resolved_first_time
    overdue = await session.scalar(
        select(func.count(CallbackRequest.id))
        .select_from(CallbackRequest)
        .outerjoin(Call, Call.id == CallbackRequest.call_id)
        .where(
            CallbackRequest.tenant_id == scope.tenant_id,
            CallbackRequest.status == "open",
            CallbackRequest.due_by < now,
            *scope.lines(Call.line_id),
        )
    )
    return Dashboard(period, hours, list(weeks.values()), overdue or 0, total_ring)


async def _callbacks(
    session: AsyncSession,
    period: Period,
    weeks: dict[date, WeekFigures],
    in_scope: list[ColumnElement[bool]],
    in_period: list[ColumnElement[bool]],
) -> None:
    """Missed calls called back: from the missed call's start to its request marked done.

    The request a missed call opened names that call; a caller who tried again was counted
    on the same request, which stays with the first call (the promise dates from then)."""
    rows = await session.execute(
        select(Call.started_at, CallbackRequest.closed_at)
        .join(CallbackRequest, CallbackRequest.call_id == Call.id)
        .where(*in_scope, *in_period, CallbackRequest.status == "done")
    )
    for started, closed in rows:
        week = weeks[period.monday(started)]
        week.called_back += 1
        if closed is not None:
            week.callback_minutes.append((closed - started).total_seconds() / 60)


async def _wrap_ups(
    session: AsyncSession,
    period: Period,
    weeks: dict[date, WeekFigures],
    in_scope: list[ColumnElement[bool]],
    in_period: list[ColumnElement[bool]],
) -> None:
    """Wrap-up verdicts, the agent's satisfaction and survey scores, by the call's week."""
    rows = await session.execute(
        select(
            Call.started_at,
            Interaction.helped,
            Interaction.satisfaction,
            Interaction.survey_score,
        )
        # The call's own interaction (dated as the call), as first-contact resolution reads it.
        .join(
            Interaction,
            and_(
                Interaction.tenant_id == Call.tenant_id,
                Interaction.call_id == Call.id,
                Interaction.occurred_at == Call.started_at,
            ),
        )
        .where(*in_scope, *in_period, Call.direction == "inbound")
    )
    for started, helped, satisfaction, survey in rows:
        week = weeks[period.monday(started)]
        if helped in HELPED:
            week.helped[helped] += 1
        if satisfaction is not None:
            week.satisfaction.append(satisfaction)
        if survey is not None:
            week.survey.append(survey)


async def _ring_to_pop(
    session: AsyncSession, period: Period, hours: list[HourFigures], scope: Scope
) -> dict[int, int]:
    """Ring-to-pop buckets per hour of day, and over the whole period."""
    first, last = int(period.begin.timestamp() // 3600), int(period.end.timestamp() // 3600)
    rows = await session.execute(
        select(RingToPopHour.hour, RingToPopHour.bucket, func.sum(RingToPopHour.frames))
        .where(
            RingToPopHour.tenant_id == scope.tenant_id,
            RingToPopHour.hour >= first,
            RingToPopHour.hour < last,
            *scope.lines(RingToPopHour.line_id),
        )
        .group_by(RingToPopHour.hour, RingToPopHour.bucket)
    )
    total: dict[int, int] = defaultdict(int)
    for hour, bucket, frames in rows:
        of_day = hours[period.hour_of_day(datetime.fromtimestamp(hour * 3600, period.zone))]
        of_day.ring_to_pop[bucket] = of_day.ring_to_pop.get(bucket, 0) + int(frames)
        total[bucket] += int(frames)
    return dict(total)


def ring_to_pop_ms(buckets: dict[int, int]) -> tuple[float | None, float | None]:
    """p50 and p99 in milliseconds."""
    return quantile_ms(buckets, 0.5), quantile_ms(buckets, 0.99)
