"""What GET /v1/stats/dashboard answers: figures per hour of day, per week, and in total."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

RATE = "0 to 1; null when there is nothing to divide by"


class Recognition(BaseModel):
    """Inbound calls by how the caller was recognised when it rang."""

    calls: int
    known: int
    ambiguous: int = Field(description="The number belongs to several contacts")
    unknown: int
    withheld: int


class HourOut(Recognition):
    """One hour of the day on the tenant's clock, summed over the period."""

    hour: int = Field(ge=0, le=23, description="0 is 00:00-00:59 on the tenant's clock")
    ring_to_pop_p50_ms: float | None
    ring_to_pop_p99_ms: float | None
    ring_to_pop_frames: int = Field(description="Pop frames written to agents (one per agent)")


class WeekFigures(BaseModel):
    """Figures of inbound calls that started in one week (or the whole period)."""

    calls: int
    recognised: int = Field(description="known or ambiguous")
    recognition_rate: float | None = Field(description=f"recognised / calls, {RATE}")
    answered: int
    missed: int = Field(description="Not answered by a person (missed or voicemail)")
    called_back: int = Field(description="Missed calls whose callback request is done")
    callback_median_minutes: float | None = Field(
        description="Median time from the missed call to its callback request marked done"
    )
    helped_resolved: int = Field(description='Wrap-ups that said "geholpen?": resolved')
    helped_partly: int
    helped_not: int
    helped_rate: float | None = Field(description=f"resolved / wrap-ups with an answer, {RATE}")
    satisfaction_mean: float | None = Field(description="The agents' view, 1-5")
    survey_mean: float | None = Field(description="The callers' own survey scores, 1-5")
    survey_count: int
    fcr_answered: int = Field(description="Answered calls, as first-contact resolution counts")
    fcr_resolved_first_time: int
    fcr_rate: float | None = Field(description=f"resolved first time / answered, {RATE}")


class WeekOut(WeekFigures):
    """One week, Monday 00:00 on the tenant's clock."""

    week_start: date


class TotalsOut(WeekFigures):
    """The whole period, and what stands now."""

    overdue_now: int = Field(description="Open callback requests past their due time, now")
    ring_to_pop_p50_ms: float | None
    ring_to_pop_p99_ms: float | None
    ring_to_pop_frames: int


class LineOption(BaseModel):
    """A line to filter on."""

    id: int
    label: str
    team_id: int | None


class TeamOption(BaseModel):
    """A team to filter on."""

    id: int
    name: str


class DashboardOut(BaseModel):
    """Every figure of the supervisors' dashboard for one period, line or team."""

    timezone: str = Field(description="The tenant's time zone: hours and weeks are on its clock")
    since: date
    until: date = Field(description="Exclusive")
    line_id: int | None
    team_id: int | None
    totals: TotalsOut
    hours: list[HourOut] = Field(description="24 entries, hour 0 to 23")
    weeks: list[WeekOut]
    lines: list[LineOption] = Field(description="The tenant's lines, for the filter")
    teams: list[TeamOption] = Field(description="The tenant's teams, for the filter")
