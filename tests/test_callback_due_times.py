"""Due times from the callback policy, on both databases: the admin API that sets it, missed
calls on the hot path and the ORM path, a line's own policy, repeat callers and manual promises."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from app.calls.hot_path import EventRecorder
from app.db import session_scope
from app.models import CallbackRequest
from telephony_adapters.base import EventKind
from tests.conftest import TenantCtx
from tests.test_call_lifecycle import ADA, LINE, deliver, event, rows, setup

AMS = ZoneInfo("Europe/Amsterdam")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=AMS).astimezone(UTC)  # type: ignore[misc]


def office(**changes: Any) -> dict[str, Any]:
    """Mon-Fri 09:00-17:00 with the changes given."""
    hours = {day: ["09:00-17:00"] for day in WEEKDAYS}
    return {"opening_hours": hours, "rule": "same_working_day"} | changes


async def missed(app: FastAPI, tenant: TenantCtx, at: datetime, caller: str = ADA) -> None:
    call_id = uuid.uuid4().hex
    await deliver(
        app,
        tenant,
        event(call_id, EventKind.RINGING, occurred_at=at, from_raw=caller),
        event(call_id, EventKind.ENDED, occurred_at=at, from_raw=caller),
    )


async def test_a_fresh_tenant_has_the_default_policy(api: httpx.AsyncClient) -> None:
    body = (await api.get("/v1/tenant")).json()
    assert body["timezone"] == "Europe/Amsterdam"
    assert body["callback_policy"] == {
        "opening_hours": {
            **{day: ["08:30-17:00"] for day in WEEKDAYS},
            "sat": [],
            "sun": [],
        },
        "closed_days": [],
        "rule": "same_working_day",
        "cutoff": "16:00",
        "hours": None,
    }


async def test_the_admin_sets_and_resets_the_policy(api: httpx.AsyncClient) -> None:
    given = office(
        rule="within_working_hours",
        hours=4,
        closed_days=["2026-12-25"],
        opening_hours={"mon": ["13:00-17:00", "08:00-12:00"]},
    )
    response = await api.patch("/v1/tenant", json={"callback_policy": given})
    assert response.status_code == 200, response.text
    policy = response.json()["callback_policy"]
    assert policy["opening_hours"]["mon"] == ["08:00-12:00", "13:00-17:00"]  # sorted
    assert (policy["rule"], policy["hours"], policy["closed_days"]) == (
        "within_working_hours",
        4,
        ["2026-12-25"],
    )
    assert (await api.get("/v1/tenant")).json()["callback_policy"] == policy
    reset = await api.patch("/v1/tenant", json={"callback_policy": None})
    assert reset.json()["callback_policy"]["cutoff"] == "16:00"


async def test_bad_policies_and_zones_are_refused_with_what_to_fix(
    api: httpx.AsyncClient,
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"callback_policy": office(opening_hours={"mon": ["08:00-12:00", "11:00-17:00"]})},
            "mon: 08:00-12:00 and 11:00-17:00 overlap",
        ),
        ({"callback_policy": office(opening_hours={"tue": ["08:61-17:00"]})}, "not a time"),
        ({"callback_policy": office(opening_hours={"tue": ["17:00-08:00"]})}, "opening before"),
        ({"callback_policy": office(opening_hours={})}, "at least one day"),
        ({"callback_policy": office(rule="within_working_hours")}, "needs `hours`"),
        ({"callback_policy": office(cutoff="25:00")}, "not a time of day"),
        ({"callback_policy": office(rule="next_working_day", cutoff="16:00")}, "`cutoff` is for"),
        ({"timezone": "Europe/Amsterdamm"}, "unknown timezone 'Europe/Amsterdamm'"),
        ({"timezone": None}, "timezone cannot be null"),
    ]
    for body, said in cases:
        response = await api.patch("/v1/tenant", json=body)
        assert response.status_code == 422, body
        assert said in response.text, (body, response.text)
    assert (await api.get("/v1/tenant")).json()["callback_policy"]["rule"] == "same_working_day"


async def test_missed_calls_are_due_by_the_policy_on_both_paths(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    # Friday 16:59 (before the clock change of Sunday 2026-03-29): due Monday at closing.
    await missed(app, tenant, local(2026, 3, 27, 16, 59))
    [callback] = await rows(app, CallbackRequest, tenant)
    assert callback.due_by == local(2026, 3, 30, 17, 0)
    # Trying again on Monday morning does not move the promise later.
    await missed(app, tenant, local(2026, 3, 30, 9, 0))
    [callback] = await rows(app, CallbackRequest, tenant)
    assert (callback.missed_calls, callback.due_by) == (2, local(2026, 3, 30, 17, 0))

    # The ORM path (no hot store) decides the same for another caller.
    other = "+31687654321"
    lifecycle = EventRecorder(
        sessionmaker=app.state.sessionmaker, routes=app.state.routes, store=None
    )
    async for session in session_scope(app.state.sessionmaker):
        provider = await app.state.provider_directory.find(session, tenant.slug, "generic")
    call_id = uuid.uuid4().hex
    at = local(2026, 3, 28, 11, 0)  # a Saturday
    for kind in (EventKind.RINGING, EventKind.ENDED):
        await lifecycle.record(provider, [event(call_id, kind, occurred_at=at, from_raw=other)])
    [_, orm] = await rows(app, CallbackRequest, tenant)
    assert (orm.number_e164, orm.due_by) == (other, local(2026, 3, 30, 17, 0))


async def test_a_lines_own_policy_wins_and_changes_are_seen_at_once(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    line = await api.post("/v1/lines", json={"number": LINE, "label": "Zorglijn"})
    assert line.status_code == 201 and line.json()["callback_policy"] is None
    own = office(rule="within_working_hours", hours=2)
    changed = await api.patch(f"/v1/lines/{line.json()['id']}", json={"callback_policy": own})
    assert changed.status_code == 200, changed.text
    assert changed.json()["callback_policy"]["hours"] == 2
    await missed(app, tenant, local(2026, 6, 3, 16, 30))  # a Wednesday
    # 30 minutes on Wednesday, 90 on Thursday from 09:00.
    [first] = await rows(app, CallbackRequest, tenant)
    assert first.due_by == local(2026, 6, 4, 10, 30)

    # The line goes back to the tenant's policy, which the admin changes: the cached
    # routing snapshot is forgotten, so the next missed call is due by the new one.
    await api.patch(f"/v1/lines/{line.json()['id']}", json={"callback_policy": None})
    tenant_rule = office(rule="next_working_day")
    assert (await api.patch("/v1/tenant", json={"callback_policy": tenant_rule})).is_success
    await missed(app, tenant, local(2026, 6, 3, 10, 0), caller="+31687654321")
    [_, second] = await rows(app, CallbackRequest, tenant)
    assert second.due_by == local(2026, 6, 4, 17, 0)


async def test_a_promise_without_a_time_is_due_by_the_tenants_policy(
    api: httpx.AsyncClient,
) -> None:
    always = {day: ["00:00-24:00"] for day in (*WEEKDAYS, "sat", "sun")}
    policy = {"opening_hours": always, "rule": "within_working_hours", "hours": 3}
    assert (await api.patch("/v1/tenant", json={"callback_policy": policy})).is_success
    response = await api.post("/v1/callbacks", json={"reason": "terugbellen", "number": ADA})
    body = response.json()
    requested = datetime.fromisoformat(body["requested_at"])
    assert datetime.fromisoformat(body["due_by"]) - requested == timedelta(hours=3)
    given = await api.post(
        "/v1/callbacks",
        json={"reason": "x", "number": ADA, "due_by": "2030-01-02T09:00:00+01:00"},
    )
    assert given.json()["due_by"] == "2030-01-02T08:00:00Z"
