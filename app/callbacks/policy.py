"""When a missed call must be called back: opening hours, closed days and a rule, as pure code.

A tenant keeps one policy (`tenants.callback_policy`), a line may replace it whole
(`lines.callback_policy`); null means the tenant's, and a tenant's null means `DEFAULT`. The
stored form is the API's form (`stored`), read back with `CallbackPolicy.of`. `due_by` is the
one rule: the hot path, the ORM path and the API all ask it, from memory, without the database.

Opening hours are wall-clock times in the tenant's timezone: 08:30 stays 08:30 across a change
to or from summer time, and "N opening hours" counts real hours while open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

Rule = Literal["same_working_day", "within_working_hours", "next_working_day"]
RULES: tuple[Rule, ...] = ("same_working_day", "within_working_hours", "next_working_day")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead a due time is looked for: a year of closed days still finds the next opening.
HORIZON_DAYS = 400
Interval = tuple[int, int]  # minutes after local midnight, [start, end), end up to 24:00


def minutes(text: str) -> int:
    """'08:30' as 510; '24:00' (a closing time) as 1440. ValueError when not HH:MM."""
    hours, sep, mins = text.partition(":")
    if not sep or len(hours) != 2 or len(mins) != 2 or not (hours + mins).isdigit():
        raise ValueError(f"{text!r} is not a time: write HH:MM, e.g. 08:30")
    value = int(hours) * 60 + int(mins)
    if int(mins) > 59 or value > 24 * 60:
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    return value


def clock(value: int) -> str:
    """510 as '08:30'."""
    return f"{value // 60:02d}:{value % 60:02d}"


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """Opening hours per weekday (Monday first), closed days, and when a callback is due."""

    week: tuple[tuple[Interval, ...], ...]
    closed_days: frozenset[date] = frozenset()
    rule: Rule = "same_working_day"
    cutoff: int | None = None  # same_working_day: missed from this time on counts as tomorrow
    hours: int | None = None  # within_working_hours: this many opening hours later

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> CallbackPolicy:
        """The policy of a stored (already validated) dict; None is `DEFAULT`."""
        if stored is None:
            return DEFAULT
        opening = stored.get("opening_hours", {})
        week = tuple(
            tuple(
                (minutes(span.split("-")[0]), minutes(span.split("-")[1]))
                for span in opening.get(day, [])
            )
            for day in WEEKDAYS
        )
        cutoff = stored.get("cutoff")
        return cls(
            week=week,
            closed_days=frozenset(date.fromisoformat(d) for d in stored.get("closed_days", [])),
            rule=stored.get("rule", "same_working_day"),
            cutoff=None if cutoff is None else minutes(cutoff),
            hours=stored.get("hours"),
        )

    def stored(self) -> dict[str, Any]:
        """The form kept in the database and shown by the API."""
        return {
            "opening_hours": {
                day: [f"{clock(s)}-{clock(e)}" for s, e in spans]
                for day, spans in zip(WEEKDAYS, self.week, strict=True)
            },
            "closed_days": sorted(d.isoformat() for d in self.closed_days),
            "rule": self.rule,
            "cutoff": None if self.cutoff is None else clock(self.cutoff),
            "hours": self.hours,
        }


_OFFICE = ((510, 1020),)  # 08:30-17:00
DEFAULT = CallbackPolicy(
    week=(_OFFICE, _OFFICE, _OFFICE, _OFFICE, _OFFICE, (), ()),
    rule="same_working_day",
    cutoff=16 * 60,
)


def _at(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """A wall-clock minute of a local day, in UTC (24:00 is the next midnight)."""
    local = datetime.combine(day, time(), zone) + timedelta(minutes=minute)
    return local.astimezone(UTC)


def _open(policy: CallbackPolicy, day: date, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The day's opening hours in UTC; none on a closed day."""
    if day in policy.closed_days:
        return []
    return [(_at(day, s, zone), _at(day, e, zone)) for s, e in policy.week[day.weekday()]]


def _next_closing(policy: CallbackPolicy, after: date, zone: ZoneInfo) -> datetime | None:
    """Closing time of the first working day after `after`."""
    for ahead in range(1, HORIZON_DAYS):
        spans = _open(policy, after + timedelta(days=ahead), zone)
        if spans:
            return spans[-1][1]
    return None


def due_by(policy: CallbackPolicy, missed_at: datetime, timezone: str) -> datetime | None:
    """When a call missed at `missed_at` must have been called back (UTC).

    None only when the policy opens on no day within HORIZON_DAYS (the API refuses a policy
    without opening hours, so this is a year of closed days).
    """
    zone = ZoneInfo(timezone)
    missed_at = missed_at.astimezone(UTC)
    today = missed_at.astimezone(zone).date()
    if policy.rule == "within_working_hours":
        left = timedelta(hours=policy.hours or 1)
        for ahead in range(HORIZON_DAYS):
            for start, end in _open(policy, today + timedelta(days=ahead), zone):
                if end <= missed_at:
                    continue
                start = max(start, missed_at)
                if end - start >= left:
                    return start + left
                left -= end - start
        return None
    if policy.rule == "same_working_day":
        spans = _open(policy, today, zone)
        if spans:
            closing = spans[-1][1]
            last = closing if policy.cutoff is None else _at(today, policy.cutoff, zone)
            if missed_at < min(last, closing):
                return closing
    return _next_closing(policy, today, zone)
