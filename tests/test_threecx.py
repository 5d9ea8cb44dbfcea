"""3CX: the lookup that answers 3CX and pops the card to agents.

The CRM template is tested in test_threecx_template.py, call journaling in test_threecx_journal.py.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.calls import receiver as receiver_module
from app.integrations.threecx import service
from app.models import AuditEvent, Call
from telephony_adapters.base import CallEvent, NumberStyle
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

# --- lookup ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", [ADA, "0612345678", "06-12345678", "+31 6 1234 5678", "0031612345678", "31612345678"]
)
async def test_lookup_finds_a_known_caller_in_any_format(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx, number: str
) -> None:
    ids = await add_people(app, tenant)
    await connect(api)
    response = await lookup(client, tenant, number)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "contacts": [
            {
                "id": ids["ada"],
                "firstName": "Ada",
                "lastName": "de Vries",
                "company": "Zorggroep Eemland",
                "phoneBusiness": "+31201234567",
                "phoneMobile": ADA,
                "email": "ada@example.org",
                "contactUrl": f"http://testserver/widget?contact={ids['ada']}",
            }
        ]
    }


async def test_lookup_reads_an_unencoded_plus(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    """3CX may put "+316…" in the URL as is; the "+" then arrives as a space."""
    ids = await add_people(app, tenant)
    await connect(api)
    url = f"/integrations/3cx/{tenant.slug}/lookup?number=+31612345678"
    response = await client.get(url, headers=headers())
    assert [c["id"] for c in response.json()["contacts"]] == [ids["ada"]]


async def test_lookup_unknown_and_household_numbers(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ids = await add_people(app, tenant)
    await connect(api)
    unknown = await lookup(client, tenant, "0687654321")
    assert unknown.status_code == 200
    assert unknown.json() == {"contacts": []}

    household = (await lookup(client, tenant, "033-1234567")).json()["contacts"]
    assert {c["id"] for c in household} == {ids["piet"], ids["els"]}
    names = {(c["firstName"], c["lastName"]) for c in household}
    assert names == {("Piet", "Jansen"), ("Els", "Jansen")}
    assert all(c["phoneBusiness"] == HOUSEHOLD and c["phoneMobile"] == "" for c in household)

    for _ in range(50):  # the audit event is written beside the answer
        audits = [e for e in await rows(app, AuditEvent, tenant) if e.via == "threecx"]
        if len(audits) == 2:
            break
        await asyncio.sleep(0.05)
    assert [(a.action, a.actor) for a in audits] == [("lookup", "3cx")] * 2
    assert {a.contact_id for a in audits} == {None, household[0]["id"]}


async def test_lookup_pops_the_ringing_card_once_per_call(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    rang_at: datetime,
) -> None:
    ids = await add_people(app, tenant)
    await connect(api)
    for _ in range(2):  # 3CX asks again for the same call: one card
        assert (await lookup(client, tenant, "0612345678")).status_code == 200
    [pop] = await pops_for(app, tenant, ids["sanne"])
    assert pop["type"] == "call.ringing"
    assert pop["call"]["provider"] == "threecx"
    assert pop["call"]["from_e164"] == ADA
    assert pop["card"]["display_name"] == "Ada de Vries"
    [call] = await rows(app, Call, tenant)
    assert call.provider_call_id.startswith("3cx-") and call.provider_call_id.endswith(
        "202603020930"
    )
    assert "612345678" not in call.provider_call_id  # keyed hash, not the number

    assert (await lookup(client, tenant, "201")).json() == {"contacts": []}  # a colleague
    assert len(await pops_for(app, tenant, ids["sanne"])) == 1


async def test_lookup_answers_within_budget_when_the_database_is_slow(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = await add_people(app, tenant)
    await connect(api)

    async def slow(*_args: Any, **_kwargs: Any) -> list[Any]:
        await asyncio.sleep(5)
        return []

    monkeypatch.setattr(service, "lookup_contacts", slow)
    started = time.monotonic()
    response = await lookup(client, tenant, ADA)
    assert time.monotonic() - started < 1.5
    assert response.status_code == 200 and response.json() == {"contacts": []}
    for _ in range(50):  # the card still reaches the agent
        if await pops_for(app, tenant, ids["sanne"]):
            break
        await asyncio.sleep(0.05)
    assert len(await pops_for(app, tenant, ids["sanne"])) == 1


async def test_secret_and_connection_are_checked(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    not_connected = await lookup(client, tenant, ADA)
    assert not_connected.status_code == 404
    assert not_connected.json()["code"] == "provider_not_connected"
    await connect(api)
    wrong = await lookup(client, tenant, ADA, secret="not-the-secret")
    assert wrong.status_code == 401 and wrong.json()["code"] == "bad_secret"
    bare = await client.get(f"/integrations/3cx/{tenant.slug}/lookup", params={"number": ADA})
    assert bare.status_code == 401 and bare.json()["code"] == "missing_secret"
    forged = await client.post(
        f"/integrations/3cx/{tenant.slug}/journal",
        json=report(ADA, "Missed", RANG_AT),
        headers=headers("not-the-secret"),
    )
    assert forged.status_code == 401
    assert await rows(app, Call, tenant) == []

    await connect(api, enabled=False)
    assert (await lookup(client, tenant, ADA)).status_code == 404
    unknown_tenant = await client.get(
        "/integrations/3cx/no-such-tenant/lookup", params={"number": ADA}, headers=headers()
    )
    assert unknown_tenant.status_code == 404


def test_display_names_split_into_first_and_last() -> None:
    assert service.split_name("Ada de Vries") == ("Ada", "de Vries")
    assert service.split_name("Vries, Ada de") == ("Ada de", "Vries")
    assert service.split_name("  Mohammed  ") == ("Mohammed", "")


async def test_lookup_with_the_database_down_answers_and_keeps_the_call(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """3CX gets a valid empty answer in time; the call and its card follow on recovery."""
    ids = await add_people(app, tenant)
    await connect(api)
    directory = app.state.provider_directory
    real_find = directory.find

    monkeypatch.setattr(directory, "find", database_down)
    started = time.monotonic()
    response = await lookup(client, tenant, ADA)
    assert time.monotonic() - started < 1.5
    assert response.status_code == 200 and response.json() == {"contacts": []}
    assert app.state.webhooks.held == 1
    assert await rows(app, Call, tenant) == []

    monkeypatch.setattr(directory, "find", real_find)  # the database is back
    for _ in range(100):
        if await pops_for(app, tenant, ids["sanne"]):
            break
        await asyncio.sleep(0.05)
    [pop] = await pops_for(app, tenant, ids["sanne"])
    assert pop["type"] == "call.ringing" and pop["card"]["display_name"] == "Ada de Vries"
    [call] = await rows(app, Call, tenant)
    assert call.provider == "threecx" and call.contact_id == ids["ada"]


async def test_lookup_pop_survives_a_broker_hiccup(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker refuses the first publish: 3CX still gets its contacts, the card follows."""
    ids = await add_people(app, tenant)
    await connect(api)
    hub = app.state.hub
    real_publish = hub.publish
    refused: list[Any] = []

    async def flaky_publish(*args: Any) -> None:
        if not refused:
            refused.append(args)
            raise ConnectionError("broker down")
        await real_publish(*args)

    monkeypatch.setattr(hub, "publish", flaky_publish)
    response = await lookup(client, tenant, ADA)
    assert [c["id"] for c in response.json()["contacts"]] == [ids["ada"]]
    assert len(refused) == 1
    for _ in range(50):
        if await pops_for(app, tenant, ids["sanne"]):
            break
        await asyncio.sleep(0.05)
    [pop] = await pops_for(app, tenant, ids["sanne"])
    assert pop["type"] == "call.ringing" and pop["call"]["provider"] == "threecx"
    assert app.state.webhooks.held_pops == 0


async def test_events_carry_the_number_style_of_the_template(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every event 3CX's requests become says how the template's Number Prefix writes numbers."""
    await add_people(app, tenant)
    await connect(api)
    seen: list[CallEvent] = []
    real_record = receiver_module.record_events

    async def spy(recorder: Any, tenant: Any, events: list[CallEvent]) -> Any:
        seen.extend(events)
        return await real_record(recorder, tenant, events)

    monkeypatch.setattr(receiver_module, "record_events", spy)
    await lookup(client, tenant, "31612345678")
    await post_report(client, tenant, report("31612345678", "Inbound", RANG_AT))
    await post_report(client, tenant, report("0687654321", "Missed", RANG_AT))
    assert [e.kind for e in seen] == ["ringing", "answered", "ended", "missed"]
    assert {e.number_style for e in seen} == {NumberStyle.E164}
    assert [e.person_answered for e in seen] == [None, None, True, False]
    assert seen[0].from_raw == ADA
