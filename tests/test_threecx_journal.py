"""3CX call journaling: reports become interactions, missed calls callback requests, once."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from app.integrations.threecx import journal
from app.models import Call, CallbackRequest, Interaction
from tests.conftest import TenantCtx
from tests.support.outage import database_down
from tests.support.threecx import (
    ADA,
    HOUSEHOLD,
    RANG_AT,
    add_people,
    app,
    connect,
    headers,
    lookup,
    pops_for,
    post_report,
    rang_at,
    report,
    rows,
)

__all__ = ["app", "rang_at"]  # fixtures: this module's app includes the 3CX routes

# --- journal --------------------------------------------------------------------------------


async def test_inbound_report_ends_the_popped_call_as_an_interaction(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    rang_at: datetime,
) -> None:
    ids = await add_people(app, tenant)
    await connect(api)
    await lookup(client, tenant, ADA)
    body = report(ADA, "Inbound", rang_at - timedelta(seconds=2))
    first = await post_report(client, tenant, body)
    assert first.status_code == 200, first.text
    out = first.json()
    assert out["duplicate"] is False and out["contact_id"] == ids["ada"]
    assert out["callback_request_id"] is None

    [call] = await rows(app, Call, tenant)
    assert (call.id, call.state, call.answered_by_agent_id) == (
        out["call_id"],
        "ended",
        ids["sanne"],
    )
    [interaction] = await rows(app, Interaction, tenant)
    assert interaction.id == out["interaction_id"] and interaction.contact_id == ids["ada"]
    assert interaction.summary == "Inkomend gesprek, 3 min, aangenomen door Sanne Visser"
    kinds = [p["type"] for p in await pops_for(app, tenant, ids["sanne"])]
    assert kinds == ["call.ringing", "call.answered", "call.ended"]

    again = await post_report(client, tenant, body)
    assert again.json() == {**out, "duplicate": True}
    assert len(await rows(app, Interaction, tenant)) == 1
    assert len(await pops_for(app, tenant, ids["sanne"])) == 3


async def test_missed_reports_leave_one_callback_and_resending_changes_nothing(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await add_people(app, tenant)
    await connect(api)
    stranger = "0687654321"
    first = await post_report(client, tenant, report(stranger, "Missed", RANG_AT), form=True)
    assert first.status_code == 200, first.text
    assert first.json()["contact_id"] is None and first.json()["callback_request_id"] is not None
    later = report(stranger, "Missed", RANG_AT + timedelta(hours=1), Agent="[Agent]")
    assert (await post_report(client, tenant, later)).json()["callback_request_id"] is None
    resent = await post_report(client, tenant, report(stranger, "Missed", RANG_AT), form=True)
    assert resent.json() == {**first.json(), "duplicate": True}

    interactions = await rows(app, Interaction, tenant)
    assert [(i.contact_id, i.outcome) for i in interactions] == [(None, "missed")] * 2
    [callback] = await rows(app, CallbackRequest, tenant)
    assert callback.number_e164 == "+31687654321" and callback.status == "open"
    assert callback.contact_id is None


async def test_missed_report_of_a_known_caller_files_the_callback_under_them(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ids = await add_people(app, tenant)
    await connect(api)
    out = (await post_report(client, tenant, report("06 12345678", "missed", RANG_AT))).json()
    [callback] = await rows(app, CallbackRequest, tenant)
    assert out["callback_request_id"] == callback.id and callback.contact_id == ids["ada"]


async def test_outbound_reports_are_interactions_without_callbacks(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ids = await add_people(app, tenant)
    await connect(api)
    answered = await post_report(client, tenant, report(ADA, "Outbound", RANG_AT))
    assert answered.status_code == 200, answered.text
    unanswered = report(HOUSEHOLD, "Notanswered", RANG_AT + timedelta(hours=2), Duration="00:00:00")
    assert (await post_report(client, tenant, unanswered)).status_code == 200
    assert (await post_report(client, tenant, unanswered)).json()["duplicate"] is True

    talk, no_answer = await rows(app, Interaction, tenant)
    assert (talk.direction, talk.outcome, talk.contact_id) == ("outbound", "answered", ids["ada"])
    assert talk.summary == "Uitgaand gesprek, 3 min, gebeld door Sanne Visser"
    assert talk.agent_id == ids["sanne"]
    assert (no_answer.outcome, no_answer.contact_id) == ("not_reached", ids["piet"])
    assert no_answer.summary.startswith("Gebeld om ") and no_answer.summary.endswith(
        "niet opgenomen"
    )
    assert await rows(app, CallbackRequest, tenant) == []
    assert [c.direction for c in await rows(app, Call, tenant)] == ["outbound", "outbound"]


async def test_outbound_report_closes_the_card_its_lookup_opened(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    rang_at: datetime,
) -> None:
    """3CX looks up whom an agent calls, too: the ringing card then closes with the call."""
    ids = await add_people(app, tenant)
    await connect(api)
    await lookup(client, tenant, ADA)
    out = (await post_report(client, tenant, report(ADA, "Outbound", rang_at))).json()
    [call] = await rows(app, Call, tenant)
    assert (out["call_id"], call.state, call.direction) == (call.id, "ended", "outbound")
    pops = await pops_for(app, tenant, ids["sanne"])
    assert [p["type"] for p in pops] == ["call.ringing", "call.answered", "call.ended"]
    assert pops[2]["call"]["interaction_id"] == out["interaction_id"]
    # The lookup took it for an incoming call; the closing card is about the person called.
    assert (pops[2]["call"]["direction"], pops[2]["call"]["party_e164"]) == ("outbound", ADA)


async def test_a_database_outage_answers_3cx_and_keeps_the_report(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """3CX gets a valid answer within the budget; the report is recorded once we recover."""
    await add_people(app, tenant)
    await connect(api)
    directory = app.state.provider_directory
    real_find = directory.find

    monkeypatch.setattr(directory, "find", database_down)
    started = time.monotonic()
    journalled = await post_report(client, tenant, report(ADA, "Missed", RANG_AT))
    assert time.monotonic() - started < 1.5
    assert journalled.status_code == 202, journalled.text
    assert journalled.json()["ok"] is True and journalled.json()["call_id"] is None
    assert app.state.webhooks.held == 1
    assert await rows(app, Call, tenant) == []

    monkeypatch.setattr(directory, "find", real_find)  # the database is back
    for _ in range(100):
        if await rows(app, CallbackRequest, tenant):
            break
        await asyncio.sleep(0.05)
    [callback] = await rows(app, CallbackRequest, tenant)
    assert callback.number_e164 == ADA
    assert [c.state for c in await rows(app, Call, tenant)] == ["missed"]
    assert app.state.webhooks.held == 0


async def test_bad_reports_are_refused_with_the_reason(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await connect(api)
    url = f"/integrations/3cx/{tenant.slug}/journal"
    no_time = {"Number": ADA, "CallType": "Inbound", "CallStartTimeUTC": "[CallStartTimeUTC]"}
    response = await client.post(url, json=no_time, headers=headers())
    assert response.status_code == 422 and "CallStartTimeUTC" in response.json()["message"]
    bad_type = await client.post(url, json=report(ADA, "Transferred", RANG_AT), headers=headers())
    assert bad_type.status_code == 422
    assert bad_type.json()["fields"][0]["field"] == "CallType"
    not_json = await client.post(url, content=b"<xml/>", headers=headers())
    assert not_json.status_code == 422
    huge = await client.post(url, json={"Number": "1" * 20_000}, headers=headers())
    assert huge.status_code == 413
    assert await rows(app, Call, tenant) == []


# --- reading 3CX's values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:03:10", 190),
        ("03:10", 190),
        ("1.02:00:00", 93_600),
        ("42", 42),
        ("", None),
        ("x", None),
    ],
)
def test_durations(text: str, seconds: int | None) -> None:
    assert journal.parse_duration(text) == seconds


def test_moments_in_utc_and_local_culture() -> None:
    utc = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert journal.parse_moment("2026-03-02T09:30:00Z", UTC) == utc
    amsterdam = ZoneInfo("Europe/Amsterdam")
    assert journal.parse_moment("02-03-2026 10:30:00", amsterdam) == utc
    assert journal.parse_moment("3/2/2026 10:30:00 AM", amsterdam) == utc
    assert journal.parse_moment("gisteren", UTC) is None
    assert journal.parse_moment("0001-01-01T00:00:00Z", UTC) is None


async def test_a_report_held_in_an_outage_survives_a_restart(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The held report is on disk: a process that dies before recording it loses nothing."""
    await add_people(app, tenant)
    await connect(api)
    receiver, directory = app.state.webhooks, app.state.provider_directory
    real_find = directory.find

    monkeypatch.setattr(directory, "find", database_down)
    journalled = await post_report(client, tenant, report(ADA, "Missed", RANG_AT))
    assert journalled.status_code == 202, journalled.text
    [spooled] = [e for e in receiver._spool.pending() if e.tenant_slug == tenant.slug]
    assert spooled.provider == "threecx"
    # The process dies: what it held in memory is gone, the spool is not.
    receiver._retry_task.cancel()
    receiver._held.clear()
    receiver._unverified.clear()
    monkeypatch.setattr(directory, "find", real_find)
    await receiver.start()  # the next process starts
    for _ in range(100):
        if await rows(app, CallbackRequest, tenant):
            break
        await asyncio.sleep(0.05)
    [callback] = await rows(app, CallbackRequest, tenant)
    assert callback.number_e164 == ADA
    for _ in range(50):  # the spool forgets it once recorded
        if not [e for e in receiver._spool.pending() if e.tenant_slug == tenant.slug]:
            break
        await asyncio.sleep(0.05)
    assert [e for e in receiver._spool.pending() if e.tenant_slug == tenant.slug] == []
