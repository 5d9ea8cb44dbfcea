"""The due-time rule (app/callbacks/policy.py): named cases and properties over any moment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.callbacks.policy import DEFAULT, CallbackPolicy, due_by

AMS = "Europe/Amsterdam"
ZONE = ZoneInfo(AMS)


def local(*parts: int) -> datetime:
    """A wall-clock moment in Amsterdam, as UTC."""
    return datetime(*parts, tzinfo=ZONE).astimezone(UTC)  # type: ignore[misc]


def policy(**changes: object) -> CallbackPolicy:
    stored = DEFAULT.stored() | changes
    return CallbackPolicy.of(stored)


# 2026-03-27 is a Friday; summer time starts Sunday 2026-03-29 (CET+1 -> CEST+2).
FRIDAY = (2026, 3, 27)
MONDAY = (2026, 3, 30)


def test_the_default_is_office_hours_same_working_day_with_a_16_00_cutoff() -> None:
    stored = CallbackPolicy.of(None).stored()
    assert stored["opening_hours"]["mon"] == ["08:30-17:00"]
    assert stored["opening_hours"]["sat"] == [] and stored["opening_hours"]["sun"] == []
    assert (stored["rule"], stored["cutoff"], stored["hours"]) == (
        "same_working_day",
        "16:00",
        None,
    )
    assert CallbackPolicy.of(stored) == DEFAULT


def test_missed_on_a_working_morning_is_due_at_closing_time_today() -> None:
    assert due_by(DEFAULT, local(*FRIDAY, 10, 15), AMS) == local(*FRIDAY, 17, 0)
    # Before opening counts as that day too.
    assert due_by(DEFAULT, local(*FRIDAY, 6, 0), AMS) == local(*FRIDAY, 17, 0)


def test_friday_16_59_is_due_monday_at_closing_across_the_dst_change() -> None:
    due = due_by(DEFAULT, local(*FRIDAY, 16, 59), AMS)
    assert due == local(*MONDAY, 17, 0)
    # Summer time began on Sunday: 17:00 is 15:00 UTC on Monday, 16:00 UTC on Friday.
    assert due == datetime(2026, 3, 30, 15, 0, tzinfo=UTC)
    assert local(*FRIDAY, 17, 0) == datetime(2026, 3, 27, 16, 0, tzinfo=UTC)


def test_without_a_cutoff_the_working_day_lasts_until_closing() -> None:
    assert due_by(policy(cutoff=None), local(*FRIDAY, 16, 59), AMS) == local(*FRIDAY, 17, 0)
    assert due_by(policy(cutoff=None), local(*FRIDAY, 17, 0), AMS) == local(*MONDAY, 17, 0)


def test_saturday_is_due_monday() -> None:
    assert due_by(DEFAULT, local(2026, 3, 28, 11, 0), AMS) == local(*MONDAY, 17, 0)


def test_a_holiday_is_skipped() -> None:
    # Kerstmis 2026: Friday the 25th and (closed too) Monday the 28th.
    xmas = policy(closed_days=["2026-12-25", "2026-12-28"])
    assert due_by(xmas, local(2026, 12, 24, 16, 30), AMS) == local(2026, 12, 29, 17, 0)
    assert due_by(xmas, local(2026, 12, 25, 9, 0), AMS) == local(2026, 12, 29, 17, 0)


def test_next_working_day_is_tomorrows_closing_even_in_the_morning() -> None:
    rule = policy(rule="next_working_day", cutoff=None)
    assert due_by(rule, local(2026, 3, 26, 9, 0), AMS) == local(*FRIDAY, 17, 0)
    assert due_by(rule, local(*FRIDAY, 9, 0), AMS) == local(*MONDAY, 17, 0)


def test_within_working_hours_counts_opening_hours_only() -> None:
    rule = policy(rule="within_working_hours", cutoff=None, hours=4)
    assert due_by(rule, local(*FRIDAY, 9, 0), AMS) == local(*FRIDAY, 13, 0)
    # One hour left on Friday, three on Monday; the night of the clock change costs nothing.
    assert due_by(rule, local(*FRIDAY, 16, 0), AMS) == local(*MONDAY, 11, 30)
    assert due_by(rule, local(2026, 3, 28, 23, 0), AMS) == local(*MONDAY, 12, 30)


def test_lunch_breaks_are_not_opening_hours() -> None:
    split = ["08:30-12:00", "13:00-17:00"]
    hours = {day: split for day in ("mon", "tue", "wed", "thu", "fri")}
    rule = policy(opening_hours=hours, rule="within_working_hours", cutoff=None, hours=2)
    assert due_by(rule, local(*FRIDAY, 11, 0), AMS) == local(*FRIDAY, 14, 0)


def test_twenty_four_seven_across_the_autumn_change_counts_real_hours() -> None:
    always = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    rule = policy(opening_hours=always, rule="within_working_hours", cutoff=None, hours=4)
    # 2026-10-25 03:00 CEST becomes 02:00 CET: four real hours after 00:00 is 03:00 local.
    missed = local(2026, 10, 25, 0, 0)
    assert due_by(rule, missed, AMS) == missed + timedelta(hours=4)


def test_a_year_of_closed_days_gives_no_due_time() -> None:
    start = date(2026, 1, 1)
    closed = [(start + timedelta(days=n)).isoformat() for n in range(420)]
    assert due_by(policy(closed_days=closed), local(2026, 1, 1, 9, 0), AMS) is None


moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
rules = st.sampled_from(
    [
        DEFAULT,
        policy(cutoff=None),
        policy(rule="next_working_day", cutoff=None),
        policy(rule="within_working_hours", cutoff=None, hours=1),
        policy(rule="within_working_hours", cutoff=None, hours=9),
        policy(closed_days=["2026-12-25", "2026-12-28", "2027-01-01"]),
    ]
)


def _is_open_or_closing(rule: CallbackPolicy, moment: datetime) -> bool:
    day = moment.astimezone(ZONE).date()
    if day in rule.closed_days:
        return False
    minute = moment.astimezone(ZONE).hour * 60 + moment.astimezone(ZONE).minute
    return any(s < minute <= e for s, e in rule.week[day.weekday()])


@settings(max_examples=300, deadline=None)
@given(rule=rules, missed=moments)
def test_a_due_time_is_later_within_opening_hours_and_within_four_days(
    rule: CallbackPolicy, missed: datetime
) -> None:
    due = due_by(rule, missed, AMS)
    assert due is not None
    assert due > missed
    assert _is_open_or_closing(rule, due)
    # A long weekend with a holiday is the worst of these policies.
    assert due - missed <= timedelta(days=6)


@settings(max_examples=300, deadline=None)
@given(
    rule=rules,
    missed=moments,
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
)
def test_a_later_miss_is_never_due_earlier(
    rule: CallbackPolicy, missed: datetime, later: timedelta
) -> None:
    first, second = due_by(rule, missed, AMS), due_by(rule, missed + later, AMS)
    assert first is not None and second is not None
    assert second >= first


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "America/New_York", "Asia/Kolkata"])
def test_opening_hours_are_the_tenants_wall_clock(zone: str) -> None:
    missed = datetime(2026, 6, 3, 9, 0, tzinfo=ZoneInfo(zone))  # a Wednesday morning there
    assert due_by(DEFAULT, missed, zone) == datetime(2026, 6, 3, 17, 0, tzinfo=ZoneInfo(zone))
