"""GET /v1/audit (per contact, agent, number and period, newest first, paged) and a
person's data export per contact or number: admin only, every bad input a clear 4xx, and
the export audited itself."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.auth.keys import Scope, issue_key
from app.db import session_scope
from app.models import Call, Interaction, utcnow
from tests.conftest import TenantCtx, make_tenant
from tests.support.hot_callers import ADA, SHARED, STRANGER, Callers, seed
from tests.test_hot_path import SECRET, _post


async def _ring(app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, slug: str) -> str:
    call_id = uuid.uuid4().hex
    await _post(client, slug, call_id=call_id, event="ringing")
    return call_id


async def _seeded(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> tuple[Callers, int]:
    callers = await seed(app, tenant.id, utcnow())
    assert (await api.put("/v1/providers/generic", json={"secret": SECRET})).status_code == 200
    provider_call_id = await _ring(app, api, client, tenant.slug)
    async for session in session_scope(app.state.sessionmaker):
        call = await session.scalar(
            select(Call.id).where(Call.provider_call_id == provider_call_id)
        )
        assert call is not None
        return callers, call
    raise AssertionError("no session")


async def _trail(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/v1/audit", params=params)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


async def test_the_trail_per_contact_agent_number_and_period(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    callers, call_id = await _seeded(app, api, client, tenant)
    assert (await api.get("/v1/lookup", params={"number": "0612345678"})).status_code == 200
    about_ada = await _trail(api, contact_id=callers.ada)
    # Newest first: the lookup, then the two pops of the ringing call.
    assert [e["action"] for e in about_ada] == ["lookup", "pop", "pop"]
    assert about_ada[0]["actor"] == "api-key:test-admin"
    pops = about_ada[1:]
    assert {(e["subject_id"], e["via"]) for e in pops} == {(str(call_id), "screen-pop")}
    assert {e["agent_id"] for e in pops} == {callers.sanne, callers.youssef}
    times = [e["at"] for e in about_ada]
    assert times == sorted(times, reverse=True)
    # Per agent: only what Sanne was shown.
    sannes = await _trail(api, agent_id=callers.sanne)
    assert [(e["action"], e["agent_id"]) for e in sannes] == [("pop", callers.sanne)]
    # Per number, in any spelling: the same three; a number nobody used: nothing.
    assert [e["id"] for e in await _trail(api, number="+31 6 1234 5678")] == [
        e["id"] for e in about_ada
    ]
    assert await _trail(api, number=STRANGER) == []
    # Filters combine; the period is [since, until).
    assert len(await _trail(api, contact_id=callers.ada, agent_id=callers.youssef)) == 1
    first = min(about_ada, key=lambda e: (e["at"], e["id"]))["at"]
    later = utcnow() + timedelta(minutes=1)
    assert len(await _trail(api, contact_id=callers.ada, since=first)) == 3
    assert await _trail(api, contact_id=callers.ada, until=first) == []
    assert await _trail(api, contact_id=callers.ada, since=later.isoformat()) == []
    # Paged.
    page = await _trail(api, contact_id=callers.ada, limit=1, offset=1)
    assert [e["id"] for e in page] == [about_ada[1]["id"]]


async def test_bad_trail_queries_say_what_to_fix(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    for params, says in [
        ({"number": "not a number"}, "number"),
        ({"number": "anonymous"}, "withheld"),
        ({"since": "2026-01-01T10:00:00"}, "timezone"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"contact_id": 0}, "contact_id"),
        ({"limit": 501}, "limit"),
    ]:
        response = await api.get("/v1/audit", params=params)
        assert response.status_code == 422, (params, response.text)
        assert says in response.text, (params, response.text)


async def test_only_admins_read_the_trail_and_export(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    async for session in session_scope(app.state.sessionmaker):
        _row, key = await issue_key(
            session,
            tenant_id=tenant.id,
            name="front",
            scopes=[Scope.LOOKUP_READ, Scope.CONTACTS_WRITE],
        )
    headers = {"Authorization": f"Bearer {key}"}
    for path in ("/v1/audit", "/v1/contacts/1/export", f"/v1/export?number={ADA}"):
        assert (await client.get(path, headers=headers)).status_code == 403, path
        assert (await client.get(path)).status_code == 401, path


async def test_a_contacts_export_holds_everything_about_them_and_is_audited(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    callers, call_id = await _seeded(app, api, client, tenant)
    response = await api.get(f"/v1/contacts/{callers.ada}/export")
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["subject"] == {"type": "contact", "contact_id": callers.ada}
    [ada] = data["contacts"]
    assert ada["display_name"] == "Ada de Vries" and ada["notes"].startswith("Slechthorend")
    assert [n["e164"] for n in ada["numbers"]] == [ADA]
    assert ada["service_profile"]["likes"] == ["koffie"]
    async for session in session_scope(app.state.sessionmaker):
        held = await session.scalar(
            select(func.count())
            .select_from(Interaction)
            .where(Interaction.contact_id == callers.ada)
        )
    assert len(data["interactions"]) == held == 7
    # Her callbacks, and the bare number's: all five of hers, not the stranger's.
    assert sorted(c["reason"] for c in data["callbacks"]) == [
        "Afspraak", "Klaar", "Ooit", "Uitslag",
    ]  # fmt: skip
    assert sorted(c["reference"] for c in data["cases"]) == ["ZD-0", "ZD-1", "ZD-2"]
    assert [n["title"] for n in data["notices"]] == ["Zorg"]  # addressed to her tag
    assert [c["id"] for c in data["calls"]] == [call_id]
    assert {e["action"] for e in data["audit_events"]} == {"pop"}
    assert data["number_choices"] == []
    # The export is in the trail itself.
    [latest, *_] = await _trail(api, contact_id=callers.ada)
    assert (latest["action"], latest["subject_type"]) == ("export", "contact")
    assert (await api.get("/v1/contacts/2147483647/export")).status_code == 404
    other = await make_tenant(app)
    stranger = await client.get(f"/v1/contacts/{callers.ada}/export", headers=other.headers)
    assert stranger.status_code == 404  # another tenant's contact does not exist there


async def test_a_numbers_export_names_every_holder_and_the_bare_numbers_rows(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await _seeded(app, api, client, tenant)
    shared = (await api.get("/v1/export", params={"number": SHARED})).json()
    assert shared["subject"] == {"type": "number", "number": SHARED}
    assert sorted(c["display_name"] for c in shared["contacts"]) == ["Bob Bakker", "Carla Bakker"]
    assert [i["summary"] for i in shared["interactions"]] == ["Bob belde"]
    assert [c["e164"] for c in shared["number_choices"]] == [SHARED]
    unknown = (await api.get("/v1/export", params={"number": "06 87654321"})).json()
    assert unknown["contacts"] == [] and unknown["interactions"] == []
    assert [c["reason"] for c in unknown["callbacks"]] == ["Onbekende beller"]
    [latest, *_] = await _trail(api, number=STRANGER)
    assert (latest["action"], latest["subject_type"]) == ("export", "number")
    assert latest["number_masked"] and "87654321" not in latest["number_masked"]
    response = await api.get("/v1/export", params={"number": "anonymous"})
    assert response.status_code == 422 and "withheld" in response.text
    assert (await api.get("/v1/export")).status_code == 422
