"""3CX: the CRM template, and the lookup that answers 3CX and pops the card to agents."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.integrations.threecx import service
from app.integrations.threecx.template import render_template
from app.models import AuditEvent, Call
from tests.conftest import TenantCtx
from tests.support.threecx import (
    ADA,
    FIXTURES,
    HOUSEHOLD,
    RANG_AT,
    SECRET,
    add_people,
    app,
    connect,
    headers,
    lookup,
    pops_for,
    rang_at,
    report,
    rows,
)

__all__ = ["app", "rang_at"]  # fixtures: this module's app includes the 3CX routes

# --- the template -------------------------------------------------------------------------


def test_template_matches_the_snapshot_and_is_well_formed() -> None:
    xml = render_template(
        base_url="https://stamgast.example.org/", tenant_slug="zorg-eemland", country="NL"
    )
    assert xml == (FIXTURES / "template.xml").read_text(encoding="utf-8")
    crm = ET.fromstring(xml.encode())
    assert crm.tag == "Crm"
    assert crm.find("Number").attrib["Prefix"] == "AsIs"  # type: ignore[union-attr]
    scenarios = {s.attrib["Id"]: s for s in crm.iter("Scenario")}
    assert set(scenarios) == {"", "ReportCall"}
    outputs = {o.attrib["Type"] for o in scenarios[""].iter("Output")}
    assert outputs == {
        "ContactID",
        "FirstName",
        "LastName",
        "CompanyName",
        "PhoneBusiness",
        "PhoneMobile",
        "Email",
        "ContactUrl",
    }
    posted = {v.attrib["Key"] for v in scenarios["ReportCall"].iter("Value")}
    assert {"Number", "CallType", "Agent", "Duration", "CallStartTimeUTC"} <= posted


async def test_template_route_names_this_tenants_urls_and_header(
    api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    missing = await api.get("/integrations/3cx/template.xml")
    assert missing.status_code == 404
    assert "PUT /v1/providers/threecx" in missing.json()["message"]
    await connect(api)

    response = await api.get("/integrations/3cx/template.xml", params={"tenant": tenant.slug})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    assert "attachment" in response.headers["content-disposition"]
    crm = ET.fromstring(response.content)
    urls = [r.attrib["Url"] for r in crm.iter("Request")]
    base = f"http://testserver/integrations/3cx/{tenant.slug}"
    assert urls == [f"{base}/lookup?number=[Number]", f"{base}/journal"]
    for request in crm.iter("Request"):
        header = request.find("Headers/Value")
        assert header is not None and header.attrib["Key"] == "X-Stamgast-Secret"
        assert header.text == "[StamgastSecret]"
    [secret] = [p for p in crm.iter("Parameter") if p.attrib["Name"] == "StamgastSecret"]
    assert secret.attrib["Default"] == ""
    assert SECRET not in response.text

    filled = await api.get("/integrations/3cx/template.xml", params={"include_secret": "true"})
    assert filled.status_code == 200
    [secret] = [
        p
        for p in ET.fromstring(filled.content).iter("Parameter")
        if p.attrib["Name"] == "StamgastSecret"
    ]
    assert secret.attrib["Default"] == SECRET
    assert filled.headers["cache-control"] == "no-store"

    other = await api.get("/integrations/3cx/template.xml", params={"tenant": "someone-else"})
    assert other.status_code == 404
    anonymous = await client.get("/integrations/3cx/template.xml")
    assert anonymous.status_code == 401


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
