"""First-contact resolution per week: answered calls helped the first time.

The rule (also in the route's description): an inbound call answered in the period counts
as resolved first time when its wrap-up said "geholpen? opgelost" (helped = resolved) and the
same caller did not call in again within `repeat_days` after it started. The same caller is
the same contact when the call was recognised, otherwise the same number; we have no topic
per call, so any call again from them counts as "about the same thing". A caller with a
withheld number who was not recognised cannot be followed and is taken at the agent's word.
Weeks are ISO weeks starting Monday 00:00 in `zone`: the routes pass the tenant's time zone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Call, Interaction

Caller = tuple[str, int | str]


@dataclass(frozen=True, slots=True)
class FcrWeek:
    """One week's figures."""

    week_start: date
    answered: int
    resolved: int
    resolved_first_time: int
    called_again: int


def _callers(contact_id: int | None, number: str | None) -> list[Caller]:
    """How a call's caller can be found again: as a contact and by number. A recognised
    caller who phones again from another line (or a withheld one) is still the same caller."""
    keys: list[Caller] = []
    if contact_id is not None:
        keys.append(("contact", contact_id))
    if number:
        keys.append(("number", number))
    return keys


def _monday(moment: datetime, zone: tzinfo) -> date:
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


def _start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


async def weekly(
    session: AsyncSession,
    *,
    tenant_id: int,
    since: date,
    until: date,
    repeat_days: int,
    zone: tzinfo = UTC,
    calls_where: ColumnElement[bool] | None = None,
) -> list[FcrWeek]:
    """Every week from the one holding `since` up to `until` (exclusive), empty weeks too.

    `calls_where` narrows the answered calls counted (a line, a team); a caller's return
    counts on any line, since they call about the same thing wherever they call."""
    begin, end = _start(since, zone), _start(until, zone)
    narrowing = [] if calls_where is None else [calls_where]
    answered = (
        await session.execute(
            select(Call.id, Call.contact_id, Call.from_e164, Call.started_at, Interaction.helped)
            .outerjoin(
                Interaction,
                and_(
                    Interaction.tenant_id == Call.tenant_id,
                    Interaction.call_id == Call.id,
                    Interaction.occurred_at == Call.started_at,
                ),
            )
            .where(
                Call.tenant_id == tenant_id,
                Call.direction == "inbound",
                Call.answered_at.is_not(None),
                Call.started_at >= begin,
                Call.started_at < end,
                *narrowing,
            )
        )
    ).all()
    # Every inbound call, answered or not, that could be a caller's return within the window.
    later = await session.execute(
        select(Call.id, Call.contact_id, Call.from_e164, Call.started_at).where(
            Call.tenant_id == tenant_id,
            Call.direction == "inbound",
            Call.started_at > begin,
            Call.started_at < end + timedelta(days=repeat_days),
        )
    )
    returns: dict[Caller, list[datetime]] = defaultdict(list)
    for _id, contact_id, number, started in later:
        for key in _callers(contact_id, number):
            returns[key].append(started)
    weeks: dict[date, list[int]] = {}
    day = _monday(begin, zone)
    while _start(day, zone) < end:
        weeks[day] = [0, 0, 0, 0]
        day += timedelta(days=7)
    window = timedelta(days=repeat_days)
    seen: set[int] = set()
    for call_id, contact_id, number, started, helped in answered:
        if call_id in seen:  # two interactions dated alike: count the call once
            continue
        seen.add(call_id)
        again = any(
            started < other <= started + window
            for key in _callers(contact_id, number)
            for other in returns[key]
        )
        row = weeks[_monday(started, zone)]
        row[0] += 1
        row[1] += helped == "resolved"
        row[2] += helped == "resolved" and not again
        row[3] += again
    return [FcrWeek(week, *figures) for week, figures in weeks.items()]
