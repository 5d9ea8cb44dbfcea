"""Calls, callbacks, wrap-ups and ring-to-pop frames with known times, for the dashboard.

Two teams, one line each, two weeks of January 2026 in Europe/Amsterdam (UTC+1 all along: no
daylight saving change inside). Times are written on the tenant's clock; two calls sit where
UTC and Amsterdam disagree on the hour, the day and the week, so the figures prove whose
clock they use. tests/test_stats_dashboard.py lists what each figure must be.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import session_scope
from app.models import Call, CallbackRequest, Contact, Interaction, Line, Team, Tenant
from app.stats.ring_to_pop import RingToPopTally, flush

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SINCE, UNTIL = date(2026, 1, 5), date(2026, 1, 19)


@dataclass(frozen=True, slots=True)
class Seeded:
    """The ids the figures are asked for."""

    team_a: int
    team_b: int
    line_1: int
    line_2: int


def local(day: int, hour: int, minute: int) -> datetime:
    """A moment of January 2026 on Amsterdam's clock, in UTC."""
    return datetime(2026, 1, day, hour, minute, tzinfo=AMSTERDAM).astimezone(UTC)


def frame(tenant_id: int, call_id: int, called: str | None) -> str:
    """A Delivery's JSON as the wire writes it (the pop's first fields in their order)."""
    to = "null" if called is None else f'"{called}"'
    return (
        f'{{"seq":1,"pop":{{"pop_id":"p{call_id}","type":"call.ringing","tenant_id":{tenant_id},'
        f'"call":{{"id":{call_id},"provider":"generic","provider_call_id":"x{call_id}",'
        f'"state":"ringing","direction":"inbound","from_e164":null,"from_display":null,'
        f'"to_e164":{to}}}}}}}'
    )


async def seed(sessionmaker: async_sessionmaker[AsyncSession], tenant_id: int) -> Seeded:
    """Write the two weeks; ring-to-pop through the real tally and flush."""
    calls: dict[str, Call] = {}
    async for session in session_scope(sessionmaker):
        await session.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(timezone="Europe/Amsterdam")
        )
        team_a = Team(tenant_id=tenant_id, name="Balie")
        team_b = Team(tenant_id=tenant_id, name="Zorglijn")
        session.add_all([team_a, team_b])
        await session.flush()
        line_1 = Line(tenant_id=tenant_id, number_e164="+31331000001", label="Algemeen")
        line_2 = Line(tenant_id=tenant_id, number_e164="+31331000002", label="Wijkzorg")
        line_1.team_id, line_2.team_id = team_a.id, team_b.id
        ada = Contact(tenant_id=tenant_id, display_name="Ada de Vries")
        bob = Contact(tenant_id=tenant_id, display_name="Bob Jansen")
        session.add_all([line_1, line_2, ada, bob])
        await session.flush()

        def call(name: str, line: Line, at: datetime, match: str, **fields: object) -> None:
            calls[name] = Call(
                tenant_id=tenant_id,
                provider="generic",
                provider_call_id=f"{name}-{tenant_id}",
                line_id=line.id,
                started_at=at,
                match=match,
                **{"to_e164": line.number_e164, **fields},
            )

        ada_number, bob_number = "+31612345678", "+31687654321"
        answered = {"state": "ended"}
        call("c1", line_1, local(5, 9, 15), "known", contact_id=ada.id, from_e164=ada_number,
             answered_at=local(5, 9, 15) + timedelta(seconds=8), **answered)  # fmt: skip
        call("c2", line_1, local(5, 9, 40), "unknown", from_e164="+31611111111", state="missed")
        call("c3", line_2, local(6, 14, 5), "withheld", state="ended",
             answered_at=local(6, 14, 6))  # fmt: skip
        # 00:30 on Wednesday in Amsterdam is 23:30 on Tuesday in UTC: hour 0, not 23.
        call("c4", line_2, local(7, 0, 30), "ambiguous", from_e164="+31612223344", state="missed")
        # Within 7 days of c1: Ada called again, so c1 was not resolved the first time.
        call("c5", line_1, local(12, 9, 5), "known", contact_id=ada.id, from_e164=ada_number,
             answered_at=local(12, 9, 6), **answered)  # fmt: skip
        call("c6", line_2, local(13, 10, 0), "unknown", from_e164="+31613334455", state="missed")
        # Monday 00:20 in Amsterdam is still Sunday in UTC: the second week, not the first.
        call("c7", line_1, local(12, 0, 20), "known", contact_id=bob.id, from_e164=bob_number,
             answered_at=local(12, 0, 21), **answered)  # fmt: skip
        # Monday 19 January 00:10 in Amsterdam (18 January in UTC): after the period.
        call("c8", line_1, local(19, 0, 10), "unknown", from_e164="+31622222222", state="missed")
        call("c9", line_1, local(6, 10, 0), "unknown", direction="outbound", state="ended",
             from_e164="+31331000001", to_e164="+31699999999")  # fmt: skip
        session.add_all(calls.values())
        await session.flush()
        wrap_ups = {"c1": ("resolved", 4, 5), "c3": ("partly", 3, None),
                    "c5": ("resolved", None, 2), "c7": ("not", None, None)}  # fmt: skip
        for name, (helped, satisfaction, survey) in wrap_ups.items():
            row = calls[name]
            session.add(
                Interaction(
                    tenant_id=tenant_id,
                    contact_id=row.contact_id,
                    call_id=row.id,
                    occurred_at=row.started_at,
                    helped=helped,
                    satisfaction=satisfaction,
                    survey_score=survey,
                )
            )
        callbacks = {"c2": ("done", timedelta(minutes=30)), "c4": ("done", timedelta(minutes=90)),
                     "c6": ("open", None), "c8": ("open", None)}  # fmt: skip
        for name, (status, after) in callbacks.items():
            row = calls[name]
            session.add(
                CallbackRequest(
                    tenant_id=tenant_id,
                    number_e164=row.from_e164,
                    reason="missed call",
                    requested_at=row.started_at,
                    due_by=row.started_at + timedelta(hours=2),
                    status=status,
                    call_id=row.id,
                    closed_at=None if after is None else row.started_at + after,
                )
            )
        seeded = Seeded(team_a.id, team_b.id, line_1.id, line_2.id)
    tally = RingToPopTally()
    c1, c3 = calls["c1"], calls["c3"]
    for seconds in (0.004, 0.004, 0.004, 0.3):  # three in the 5 ms bucket, one in 500 ms
        tally.observe(frame(tenant_id, c1.id, c1.to_e164), c1.started_at.timestamp(), seconds)
    for seconds in (0.02, 0.02):  # two in the 25 ms bucket
        tally.observe(frame(tenant_id, c3.id, c3.to_e164), c3.started_at.timestamp(), seconds)
    assert await flush(sessionmaker, tally) == 3  # (line, hour, bucket) entries
    return seeded
