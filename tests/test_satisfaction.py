"""Helped to satisfaction: the wrap-up's "geholpen?", the caller's survey score, and
first-contact resolution per week, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.auth.keys import Scope, issue_key
from app.db import session_scope
from app.models import Call, Contact, Interaction
from telephony_adapters.base import EventKind
from tests.conftest import TenantCtx
from tests.test_call_lifecycle import deliver, event, setup
from tests.test_wrap_up import _call, _finished_call


async def _stored(app: FastAPI, tenant: TenantCtx, call_id: int) -> tuple[str | None, int | None]:
    """(helped, survey_score) of the call's interaction."""
    found: tuple[str | None, int | None] = (None, None)
    async for session in session_scope(app.state.sessionmaker):
        row = await session.scalar(
            select(Interaction).where(
                Interaction.tenant_id == tenant.id, Interaction.call_id == call_id
            )
        )
        assert row is not None
        found = (row.helped, row.survey_score)
    return found


async def test_the_wrap_up_records_whether_the_caller_was_helped(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    call = await _finished_call(app, tenant, "+31612345678")
    url = f"/v1/calls/{call.id}/wrap-up"
    first = await api.post(url, json={"outcome": "resolved", "helped": "partly"})
    assert first.status_code == 200, first.text
    assert first.json()["helped"] == "partly"
    assert await _stored(app, tenant, call.id) == ("partly", None)
    # Leaving it out keeps the earlier answer; a later answer replaces it.
    kept = await api.post(url, json={"outcome": "resolved", "note": "Later"})
    assert kept.json()["helped"] == "partly"
    replaced = await api.post(url, json={"outcome": "resolved", "helped": "resolved"})
    assert replaced.json()["helped"] == "resolved"
    history = (await api.get(f"/v1/contacts/{call.contact_id}/interactions")).json()
    assert [(i["helped"], i["survey_score"]) for i in history] == [("resolved", None)]


async def test_helped_is_one_of_resolved_partly_not(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    call = await _finished_call(app, tenant, "+31612345678")
    for bad in ("yes", "", "Resolved", 1):
        refused = await api.post(
            f"/v1/calls/{call.id}/wrap-up", json={"outcome": "resolved", "helped": bad}
        )
        assert refused.status_code == 422, bad
        body = refused.json()
        assert body["code"] == "validation_failed"
        assert "helped" in body["message"]
        for allowed in ("resolved", "partly", "not"):
            assert allowed in body["message"], body["message"]
    assert await _stored(app, tenant, call.id) == (None, None)


async def test_a_survey_score_attaches_to_the_ended_calls_interaction(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    call = await _finished_call(app, tenant, "+31612345678")
    url = f"/v1/calls/{call.id}/survey"
    saved = await api.post(url, json={"score": 4})
    assert saved.status_code == 200, saved.text
    assert saved.json()["score"] == 4 and saved.json()["call_id"] == call.id
    again = await api.post(url, json={"score": 4})  # the IVR's retry
    assert again.status_code == 200, again.text
    assert again.json() == saved.json()
    other = await api.post(url, json={"score": 2})
    assert other.status_code == 409, other.text
    assert "already has survey score 4" in other.json()["message"]
    assert await _stored(app, tenant, call.id) == (None, 4)
    # The agent's wrap-up and the caller's score live side by side.
    await api.post(f"/v1/calls/{call.id}/wrap-up", json={"outcome": "resolved", "helped": "not"})
    assert await _stored(app, tenant, call.id) == ("not", 4)


async def test_a_survey_score_is_refused_clearly(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    ringing = uuid.uuid4().hex
    await deliver(app, tenant, event(ringing, EventKind.RINGING))
    live = await _call(app, tenant, ringing)
    early = await api.post(f"/v1/calls/{live.id}/survey", json={"score": 5})
    assert early.status_code == 409, early.text
    assert "has not ended" in early.json()["message"]
    assert (await api.post("/v1/calls/999999/survey", json={"score": 5})).status_code == 404
    call = await _finished_call(app, tenant, "+31612345678")
    for bad in (0, 6, "vijf", None, 3.5):
        refused = await api.post(f"/v1/calls/{call.id}/survey", json={"score": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["code"] == "validation_failed"
        assert "score" in refused.json()["message"]
    assert await _stored(app, tenant, call.id) == (None, None)
    async for session in session_scope(app.state.sessionmaker):
        _row, reader = await issue_key(
            session, tenant_id=tenant.id, name="reader", scopes=[Scope.LOOKUP_READ]
        )
    forbidden = await client.post(
        f"/v1/calls/{call.id}/survey",
        json={"score": 5},
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert forbidden.status_code == 403, forbidden.text
    fcr = await client.get("/v1/stats/fcr", headers={"Authorization": f"Bearer {reader}"})
    assert fcr.status_code == 403, fcr.text


async def test_an_ivr_sends_the_score_by_the_phone_systems_call_id(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    """The IVR knows the call as the webhooks named it, and has the pressed digit as text."""
    await setup(app, api, tenant)
    call = await _finished_call(app, tenant, "+31612345678")
    body = {"provider": "generic", "provider_call_id": call.provider_call_id, "score": "5"}
    saved = await api.post("/v1/surveys", json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["call_id"] == call.id
    assert await _stored(app, tenant, call.id) == (None, 5)
    assert (await api.post("/v1/surveys", json=body)).status_code == 200
    assert (await api.post("/v1/surveys", json={**body, "score": "1"})).status_code == 409
    unknown = await api.post("/v1/surveys", json={**body, "provider_call_id": "nope"})
    assert unknown.status_code == 404
    assert "'nope'" in unknown.json()["message"]
    elsewhere = await api.post("/v1/surveys", json={**body, "provider": "twilio"})
    assert elsewhere.status_code == 404
    for bad in ({**body, "score": "#"}, {"score": 3}, {**body, "provider_call_id": ""}):
        assert (await api.post("/v1/surveys", json=bad)).status_code == 422, bad


MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def _calls(app: FastAPI, tenant: TenantCtx) -> None:
    """Two weeks of calls with known answers (see the test for who is who)."""

    def at(days: float) -> datetime:
        return MONDAY + timedelta(days=days)

    async for session in session_scope(app.state.sessionmaker):
        ada = Contact(tenant_id=tenant.id, display_name="Ada")
        session.add(ada)
        await session.flush()
        rows: list[tuple[str, int | None, str | None, datetime, bool, str | None]] = [
            # direction, contact, number, started, answered, helped (None: no interaction)
            ("inbound", ada.id, "+31611111111", at(0), True, "resolved"),  # A: calls again
            ("inbound", ada.id, "+31699999999", at(3), False, None),  # A again, missed
            ("inbound", None, "+31201111111", at(1), True, "resolved"),  # B: first time
            ("inbound", None, "+31202222222", at(2), True, "resolved"),  # C: again after 9 days
            ("inbound", None, "+31202222222", at(11), True, None),  # C again, not wrapped up
            ("inbound", None, "+31203333333", at(8), True, "partly"),  # D
            ("inbound", None, None, at(8.5), True, "resolved"),  # E: withheld
            ("outbound", None, "+31204444444", at(9), True, "resolved"),  # F: ours, not counted
            ("inbound", None, "+31205555555", at(20), True, "resolved"),  # after the period
            # Sunday 23:30 UTC is Monday 00:30 in Amsterdam (the tenant's clock): after the period.
            ("inbound", None, "+31206666666", at(13 + 14.5 / 24), True, "resolved"),
        ]
        for direction, contact_id, number, started, answered, helped in rows:
            call = Call(
                tenant_id=tenant.id,
                provider="generic",
                provider_call_id=uuid.uuid4().hex,
                from_e164=number,
                direction=direction,
                state="ended" if answered else "missed",
                contact_id=contact_id,
                started_at=started,
                answered_at=started + timedelta(seconds=5) if answered else None,
                ended_at=started + timedelta(minutes=3),
            )
            session.add(call)
            await session.flush()
            if helped is not None:
                session.add(
                    Interaction(
                        tenant_id=tenant.id,
                        contact_id=contact_id,
                        call_id=call.id,
                        occurred_at=started,
                        helped=helped,
                    )
                )


async def test_first_contact_resolution_per_week(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await _calls(app, tenant)
    period = {"since": "2026-11-02", "until": "2026-11-16"}
    week = await api.get("/v1/stats/fcr", params=period)
    assert week.status_code == 200, week.text
    body = week.json()
    assert body["repeat_days"] == 7
    figures = [
        (w["week_start"], w["answered"], w["resolved"], w["resolved_first_time"], w["called_again"])
        for w in body["weeks"]
    ]
    # Week 1: A, B, C answered and resolved; Ada (A) called again within 7 days (missed, from
    # another number: the same contact). Week 2: D partly, E withheld, C's return unwrapped.
    assert figures == [("2026-11-02", 3, 3, 2, 1), ("2026-11-09", 3, 1, 1, 0)]
    assert [w["rate"] for w in body["weeks"]] == [0.6667, 0.3333]
    # C called again 9 days later: within 10 days that is not helped the first time either.
    longer = (await api.get("/v1/stats/fcr", params={**period, "repeat_days": 10})).json()
    assert [(w["resolved_first_time"], w["called_again"]) for w in longer["weeks"]] == [
        (1, 2),
        (1, 0),
    ]
    # A week with no calls is listed, without a rate.
    later = await api.get("/v1/stats/fcr", params={"since": "2026-11-30", "until": "2026-12-07"})
    assert later.json()["weeks"] == [
        {
            "week_start": "2026-11-30",
            "answered": 0,
            "resolved": 0,
            "resolved_first_time": 0,
            "called_again": 0,
            "rate": None,
        }
    ]


async def test_first_contact_resolution_refuses_a_bad_period(api: httpx.AsyncClient) -> None:
    for params, field in (
        ({"since": "2026-11-16", "until": "2026-11-02"}, "since"),
        ({"since": "2024-01-01", "until": "2026-11-02"}, "since"),
        ({"since": "gisteren"}, "since"),
        ({"repeat_days": 0}, "repeat_days"),
        ({"repeat_days": 91}, "repeat_days"),
    ):
        refused = await api.get("/v1/stats/fcr", params=params)
        assert refused.status_code == 422, params
        assert field in refused.text, refused.text
