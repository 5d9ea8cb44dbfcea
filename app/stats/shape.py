"""The dashboard's figures as the API answers them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

from app.models import Line, Team
from app.stats.dashboard import Dashboard, WeekFigures, ring_to_pop_ms
from app.stats.figures import mean, median, share
from app.stats.schemas import (
    DashboardOut,
    HourOut,
    LineOption,
    TeamOption,
    TotalsOut,
    WeekOut,
)


def _week_fields(week: WeekFigures) -> dict[str, Any]:
    median_minutes = median(week.callback_minutes)
    return {
        "calls": week.calls,
        "recognised": week.recognised,
        "recognition_rate": share(week.recognised, week.calls),
        "answered": week.answered,
        "missed": week.missed,
        "called_back": week.called_back,
        "callback_median_minutes": None if median_minutes is None else round(median_minutes, 1),
        "helped_resolved": week.helped["resolved"],
        "helped_partly": week.helped["partly"],
        "helped_not": week.helped["not"],
        "helped_rate": share(week.helped["resolved"], sum(week.helped.values())),
        "satisfaction_mean": mean(week.satisfaction),
        "survey_mean": mean(week.survey),
        "survey_count": len(week.survey),
        "fcr_answered": week.fcr_answered,
        "fcr_resolved_first_time": week.fcr_resolved_first_time,
        "fcr_rate": share(week.fcr_resolved_first_time, week.fcr_answered),
    }


def _whole(weeks: Sequence[WeekFigures], since: date) -> WeekFigures:
    """The weeks added up (middles and means over every value, not over weekly ones)."""
    whole = WeekFigures(since)
    for week in weeks:
        for name in ("calls", "recognised", "answered", "missed", "called_back"):
            setattr(whole, name, getattr(whole, name) + getattr(week, name))
        whole.fcr_answered += week.fcr_answered
        whole.fcr_resolved_first_time += week.fcr_resolved_first_time
        whole.callback_minutes.extend(week.callback_minutes)
        whole.helped.update(week.helped)
        whole.satisfaction.extend(week.satisfaction)
        whole.survey.extend(week.survey)
    return whole


def dashboard_out(
    dashboard: Dashboard,
    *,
    line_id: int | None,
    team_id: int | None,
    lines: Sequence[Line],
    teams: Sequence[Team],
) -> DashboardOut:
    """The response for `dashboard`, with the tenant's lines and teams for the filters."""
    p50, p99 = ring_to_pop_ms(dashboard.ring_to_pop)
    hours = []
    for hour in dashboard.hours:
        hour_p50, hour_p99 = ring_to_pop_ms(hour.ring_to_pop)
        recognition: Counter[str] = hour.calls
        hours.append(
            HourOut(
                hour=hour.hour,
                calls=sum(recognition.values()),
                known=recognition["known"],
                ambiguous=recognition["ambiguous"],
                unknown=recognition["unknown"],
                withheld=recognition["withheld"],
                ring_to_pop_p50_ms=hour_p50,
                ring_to_pop_p99_ms=hour_p99,
                ring_to_pop_frames=sum(hour.ring_to_pop.values()),
            )
        )
    return DashboardOut(
        timezone=dashboard.period.zone.key,
        since=dashboard.period.since,
        until=dashboard.period.until,
        line_id=line_id,
        team_id=team_id,
        totals=TotalsOut(
            **_week_fields(_whole(dashboard.weeks, dashboard.period.since)),
            overdue_now=dashboard.overdue_now,
            ring_to_pop_p50_ms=p50,
            ring_to_pop_p99_ms=p99,
            ring_to_pop_frames=sum(dashboard.ring_to_pop.values()),
        ),
        hours=hours,
        weeks=[WeekOut(week_start=w.week_start, **_week_fields(w)) for w in dashboard.weeks],
        lines=[LineOption(id=line.id, label=line.label, team_id=line.team_id) for line in lines],
        teams=[TeamOption(id=team.id, name=team.name) for team in teams],
    )
