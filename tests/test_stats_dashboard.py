"""GET /v1/stats/dashboard: every figure checked against rows with known times, both databases.

The rows are in tests/support/dashboard_seed.py; each expected number below is worked out by
hand from them (the comments say how), not computed by the code under test.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.auth.keys import Scope, issue_key
from app.auth.roles import Role
from app.db import session_scope
from app.models import RingToPopHour
from app.stats.ring_to_pop import RingToPopTally, flush
from tests.conftest import TenantCtx
from tests.support.dashboard_seed import SINCE, UNTIL, Seeded, frame, seed

PERIOD = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}


async def figures(api: httpx.AsyncClient, **filters: int) -> dict[str, Any]:
    response = await api.get("/v1/stats/dashboard", params={**PERIOD, **filters})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def pick(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: row[name] for name in names}


async def test_whole_tenant_on_its_own_clock(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await seed(app.state.sessionmaker, tenant.id)
    body = await figures(api)
    assert body["timezone"] == "Europe/Amsterdam"
    totals = body["totals"]
    # c1..c7 inbound in the period; c8 is after it (18 Jan in UTC, 19 Jan here), c9 outbound.
    assert pick(totals, "calls", "recognised", "recognition_rate", "answered", "missed") == {
        "calls": 7, "recognised": 4, "recognition_rate": 0.5714, "answered": 4, "missed": 3,
    }  # fmt: skip
    # c2 done after 30 min, c4 after 90: median 60; c6 still open.
    assert pick(totals, "called_back", "callback_median_minutes", "overdue_now") == {
        "called_back": 2, "callback_median_minutes": 60.0, "overdue_now": 2,
    }  # fmt: skip
    assert pick(
        totals, "helped_resolved", "helped_partly", "helped_not", "helped_rate",
        "satisfaction_mean", "survey_mean", "survey_count",
    ) == {
        "helped_resolved": 2, "helped_partly": 1, "helped_not": 1, "helped_rate": 0.5,
        "satisfaction_mean": 3.5, "survey_mean": 3.5, "survey_count": 2,
    }  # fmt: skip
    # Answered c1, c3, c5, c7; only c5 was resolved with no call again within 7 days.
    assert pick(totals, "fcr_answered", "fcr_resolved_first_time", "fcr_rate") == {
        "fcr_answered": 4, "fcr_resolved_first_time": 1, "fcr_rate": 0.25,
    }  # fmt: skip
    # Frames 3 x 4 ms and 1 x 300 ms (c1), 2 x 20 ms (c3): p50 is the 3rd of 6 frames, the
    # top of the 2.5-5 ms bucket; p99 (rank 5.94) is 0.94 into the 250-500 ms bucket.
    assert pick(totals, "ring_to_pop_p50_ms", "ring_to_pop_p99_ms", "ring_to_pop_frames") == {
        "ring_to_pop_p50_ms": 5.0, "ring_to_pop_p99_ms": 485.0, "ring_to_pop_frames": 6,
    }  # fmt: skip
    hours = {row["hour"]: row for row in body["hours"] if row["calls"]}
    assert [len(body["hours"]), sorted(hours)] == [24, [0, 9, 10, 14]]
    recognition = ("calls", "known", "ambiguous", "unknown", "withheld")
    assert pick(hours[9], *recognition) == dict(zip(recognition, [3, 2, 0, 1, 0], strict=True))
    assert pick(hours[0], *recognition) == dict(zip(recognition, [2, 1, 1, 0, 0], strict=True))
    assert pick(hours[14], *recognition) == dict(zip(recognition, [1, 0, 0, 0, 1], strict=True))
    # c1 rang at 09:15 here (08:15 UTC): its frames are hour 9's.
    assert pick(hours[9], "ring_to_pop_frames", "ring_to_pop_p99_ms") == {
        "ring_to_pop_frames": 4, "ring_to_pop_p99_ms": 490.0,
    }  # fmt: skip
    weeks = body["weeks"]
    assert [week["week_start"] for week in weeks] == ["2026-01-05", "2026-01-12"]
    assert [pick(week, "calls", "missed", "called_back", "callback_median_minutes")
            for week in weeks] == [
        {"calls": 4, "missed": 2, "called_back": 2, "callback_median_minutes": 60.0},
        {"calls": 3, "missed": 1, "called_back": 0, "callback_median_minutes": None},
    ]  # fmt: skip
    assert [pick(week, "helped_rate", "satisfaction_mean", "survey_mean", "fcr_rate")
            for week in weeks] == [
        {"helped_rate": 0.5, "satisfaction_mean": 3.5, "survey_mean": 5.0, "fcr_rate": 0.0},
        {"helped_rate": 0.5, "satisfaction_mean": None, "survey_mean": 2.0, "fcr_rate": 0.5},
    ]  # fmt: skip
    assert [team["name"] for team in body["teams"]] == ["Balie", "Zorglijn"]


async def test_per_team_and_per_line(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    seeded: Seeded = await seed(app.state.sessionmaker, tenant.id)
    team_a = (await figures(api, team_id=seeded.team_a))["totals"]
    # Line 1: c1, c2, c5, c7; c8's open callback is overdue now (outside the period or not).
    assert pick(
        team_a, "calls", "answered", "missed", "called_back", "callback_median_minutes",
        "overdue_now", "helped_rate", "satisfaction_mean", "survey_mean", "fcr_rate",
    ) == {
        "calls": 4, "answered": 3, "missed": 1, "called_back": 1,
        "callback_median_minutes": 30.0, "overdue_now": 1, "helped_rate": 0.6667,
        "satisfaction_mean": 4.0, "survey_mean": 3.5, "fcr_rate": 0.3333,
    }  # fmt: skip
    # Three frames at 4 ms and one at 300 ms: p50 (rank 2) is 2/3 into 2.5-5 ms.
    assert pick(team_a, "ring_to_pop_p50_ms", "ring_to_pop_p99_ms") == {
        "ring_to_pop_p50_ms": 4.167, "ring_to_pop_p99_ms": 490.0,
    }  # fmt: skip
    team_b = await figures(api, team_id=seeded.team_b)
    line_2 = await figures(api, line_id=seeded.line_2)
    assert team_b["totals"] == line_2["totals"]
    assert pick(
        team_b["totals"], "calls", "recognised", "missed", "called_back",
        "callback_median_minutes", "overdue_now", "helped_rate", "survey_count", "fcr_rate",
        "ring_to_pop_p50_ms", "ring_to_pop_p99_ms",
    ) == {
        "calls": 3, "recognised": 1, "missed": 2, "called_back": 1,
        "callback_median_minutes": 90.0, "overdue_now": 1, "helped_rate": 0.0,
        "survey_count": 0, "fcr_rate": 0.0,
        "ring_to_pop_p50_ms": 17.5, "ring_to_pop_p99_ms": 24.85,
    }  # fmt: skip
    # One team's line and the other team: nothing in common.
    both = await figures(api, team_id=seeded.team_a, line_id=seeded.line_2)
    assert both["totals"]["calls"] == 0


async def test_a_second_flush_adds_to_the_same_rows(app: FastAPI, tenant: TenantCtx) -> None:
    await seed(app.state.sessionmaker, tenant.id)
    async for session in session_scope(app.state.sessionmaker):
        before = {
            (row.line_id, row.hour, row.bucket): row.frames
            for row in await session.scalars(
                select(RingToPopHour).where(RingToPopHour.tenant_id == tenant.id)
            )
        }
    assert sorted(before.values()) == [1, 2, 3]
    call_id = await _call_id(app, tenant.id, "c1")
    called = await _called(app, call_id)
    tally = RingToPopTally()
    tally.observe(frame(tenant.id, call_id, called), 0.0, 0.004)  # 1970: an hour of its own
    tally.observe(frame(tenant.id, call_id + 1000, called), 0.0, 0.004)  # another call, same line
    tally.observe('{"seq":1,"pop":{"pop_id":"x","type":"call.ringing"}}', 0.0, 0.004)
    assert await flush(app.state.sessionmaker, tally) == 1
    assert await flush(app.state.sessionmaker, tally) == 0  # nothing new tallied
    async for session in session_scope(app.state.sessionmaker):
        rows = list(
            await session.scalars(
                select(RingToPopHour).where(
                    RingToPopHour.tenant_id == tenant.id, RingToPopHour.hour == 0
                )
            )
        )
    assert [(row.bucket, row.frames) for row in rows] == [(2, 2)]


async def _called(app: FastAPI, call_id: int) -> str | None:
    from app.models import Call

    async for session in session_scope(app.state.sessionmaker):
        return await session.scalar(select(Call.to_e164).where(Call.id == call_id))
    return None


async def _call_id(app: FastAPI, tenant_id: int, name: str) -> int:
    from app.models import Call

    found = 0
    async for session in session_scope(app.state.sessionmaker):
        found = (
            await session.scalar(
                select(Call.id).where(
                    Call.tenant_id == tenant_id, Call.provider_call_id == f"{name}-{tenant_id}"
                )
            )
        ) or 0
    return found


async def test_bad_filters_and_periods_say_what_to_fix(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    missing = await api.get("/v1/stats/dashboard", params={"team_id": 999999})
    assert missing.status_code == 404
    assert "GET /v1/teams" in missing.json()["message"]
    backwards = await api.get("/v1/stats/dashboard", params={"since": "2026-02-01",
                                                             "until": "2026-01-01"})  # fmt: skip
    assert backwards.status_code == 422
    assert backwards.json()["fields"][0]["field"] == "since"
    too_long = await api.get("/v1/stats/dashboard", params={"since": "2024-01-01",
                                                            "until": "2026-01-01"})  # fmt: skip
    assert too_long.status_code == 422
    assert (await client.get("/v1/stats/dashboard")).status_code == 401
    async for session in session_scope(app.state.sessionmaker):  # the front desk's own key
        _row, desk = await issue_key(
            session, tenant_id=tenant.id, name="balie", scopes=[Scope.LOOKUP_READ], role=Role.AGENT
        )
    headers = {"Authorization": f"Bearer {desk}"}
    refused = await client.get("/v1/stats/dashboard", headers=headers)
    assert refused.status_code == 403 and "supervisor" in refused.json()["message"]


def test_the_tally_reads_the_frames_both_pop_builders_write() -> None:
    """The ORM's Pop and the hot path's PreparedPop put the tenant and the number called
    where the tally looks (the tenant right after pop_id and type, the call's `to_e164`
    within reach even after the longest vendor call id), so a frame from either is counted."""
    from datetime import UTC, datetime

    from app.calls.hot_path import PreparedPop
    from app.calls.states import CallState
    from app.screen_pop.broker import delivery_message
    from app.screen_pop.schemas import Pop, PopCall

    at = datetime(2026, 1, 5, 8, 15, tzinfo=UTC)
    call = PopCall.model_construct(
        id=41, provider="generic", provider_call_id="x" * 128, state=CallState.RINGING,
        direction="inbound", from_e164="+31612345678", from_display="06 12345678",
        to_e164="+31331234567",
    )  # fmt: skip
    orm = Pop.model_construct(pop_id="a", type="call.ringing", tenant_id=7, call=call, at=at)
    hot = PreparedPop.of(
        {"pop_id": "b", "type": "call.ringing", "tenant_id": 7,
         "call": {"id": 42, "provider_call_id": "y" * 128, "to_e164": "+31331234567"},
         "card": None, "at": at}
    )  # fmt: skip
    tally = RingToPopTally()
    for pop in (orm, hot):
        frame_text = delivery_message(3, pop.model_dump_json().encode()).decode()
        tally.observe(frame_text, at.timestamp(), 0.004)
    hour = int(at.timestamp() // 3600)
    assert tally.take() == {(7, "+31331234567", hour, 2): 2}  # one line, two frames


def test_a_frame_written_to_an_agent_is_tallied_for_the_dashboard() -> None:
    """app/metrics/timing.written, where every transport reports a live frame, feeds the tally
    the flusher stores (app/stats/ring_to_pop.TALLY)."""
    import time

    from app.metrics import timing
    from app.stats.ring_to_pop import TALLY

    received = time.time() - 0.02
    timing.mark("dash-pop", received)
    frame_text = (
        '{"seq":1,"pop":{"pop_id":"dash-pop","type":"call.ringing","tenant_id":9,'
        '"call":{"id":99,"provider":"generic","to_e164":"+31201234567"}}}'
    )
    TALLY.take()
    timing.written(frame_text, "websocket")
    # 20 ms and a little more: the 25 ms bucket (index 4).
    assert TALLY.take() == {(9, "+31201234567", int(received // 3600), 4): 1}
