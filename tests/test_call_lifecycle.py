"""A call's life through the state machine, on the real databases: direction, who answered,
final events that reconcile, late answers, repeat callers, vendors' number styles, and calls
whose final event never came."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.calls.sweeper import close_stale_calls
from app.db import session_scope
from app.models import (
    Agent,
    Call,
    CallbackRequest,
    Contact,
    ContactNumber,
    Interaction,
    Tenant,
    utcnow,
)
from telephony_adapters.base import CallEvent, Direction, EventKind, NumberStyle
from tests.conftest import TenantCtx, make_tenant

ADA = "+31612345678"
LINE = "+31331234567"


async def setup(app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, number: str = ADA) -> int:
    response = await api.put("/v1/providers/generic", json={"secret": "generic-secret-123"})
    assert response.status_code == 200, response.text
    async for session in session_scope(app.state.sessionmaker):
        ada = Contact(tenant_id=tenant.id, display_name="Ada de Vries")
        session.add(ada)
        await session.flush()
        session.add(ContactNumber(tenant_id=tenant.id, contact_id=ada.id, e164=number, raw=number))
        session.add(Agent(tenant_id=tenant.id, name="Sanne Visser", extension="201"))
        ada_id = ada.id
    return ada_id


def event(call_id: str, kind: EventKind, **fields: Any) -> CallEvent:
    values: dict[str, Any] = {"from_raw": ADA, "to_raw": LINE}
    values.update(fields)
    return CallEvent(provider="generic", call_id=call_id, kind=kind, **values)


async def deliver(app: FastAPI, tenant: TenantCtx, *events: CallEvent) -> None:
    for one in events:
        await app.state.webhooks.ingest(tenant.slug, "generic", [one])


async def last_pop(app: FastAPI, tenant: TenantCtx, agent_id: int) -> dict[str, Any]:
    entries, _complete = await app.state.hub.broker.replay(tenant.id, agent_id, 0)
    pop: dict[str, Any] = json.loads(entries[-1][1])["pop"]
    return pop


async def rows(app: FastAPI, model: Any, tenant: TenantCtx) -> list[Any]:
    async for session in session_scope(app.state.sessionmaker):
        query = select(model).where(model.tenant_id == tenant.id).order_by(model.id)
        return list(await session.scalars(query))
    raise AssertionError("no session")


async def test_an_ivr_answering_is_not_an_agent_answering(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ada = await setup(app, api, tenant)
    call_id = uuid.uuid4().hex
    await deliver(
        app, tenant,
        event(call_id, EventKind.RINGING),
        event(call_id, EventKind.ANSWERED, by_application=True),
        event(call_id, EventKind.ENDED),
    )  # fmt: skip
    [call] = await rows(app, Call, tenant)
    assert (call.state, call.answered_at) == ("missed", None)
    [callback] = await rows(app, CallbackRequest, tenant)
    assert callback.contact_id == ada


async def test_a_hangup_showing_a_person_talked_counts_as_answered(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    call_id = uuid.uuid4().hex
    # The answered event was lost; the final event's own data (billsec > 0) says enough.
    await deliver(
        app, tenant,
        event(call_id, EventKind.RINGING),
        event(call_id, EventKind.ENDED),
        event(call_id, EventKind.ENDED, person_answered=True, answered_by="201"),
    )  # fmt: skip
    [call] = await rows(app, Call, tenant)
    assert call.state == "ended" and call.answered_at is not None
    assert call.answered_by == "Sanne Visser"
    [interaction] = await rows(app, Interaction, tenant)
    assert interaction.outcome == "answered"
    [callback] = await rows(app, CallbackRequest, tenant)
    assert callback.status == "cancelled"  # opened by the first hangup, withdrawn


async def test_an_answer_after_the_hangup_withdraws_the_callback(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    call_id = uuid.uuid4().hex
    await deliver(
        app, tenant,
        event(call_id, EventKind.RINGING),
        event(call_id, EventKind.MISSED),
        event(call_id, EventKind.ANSWERED, answered_by="201"),
    )  # fmt: skip
    [call] = await rows(app, Call, tenant)
    assert call.state == "ended"
    [interaction] = await rows(app, Interaction, tenant)
    assert interaction.outcome == "answered" and "Sanne Visser" in interaction.summary
    assert [c.status for c in await rows(app, CallbackRequest, tenant)] == ["cancelled"]


async def test_a_repeat_caller_gets_one_request_that_counts_the_calls(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    for _ in range(3):
        call_id = uuid.uuid4().hex
        await deliver(
            app, tenant, event(call_id, EventKind.RINGING), event(call_id, EventKind.ENDED)
        )
    [callback] = await rows(app, CallbackRequest, tenant)
    assert (callback.status, callback.missed_calls) == ("open", 3)
    listed = (await api.get(f"/v1/callbacks/{callback.id}")).json()
    assert listed["missed_calls"] == 3


async def test_an_outbound_call_shows_the_person_called_and_opens_no_callback(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ada = await setup(app, api, tenant)
    agent_id = (await rows(app, Agent, tenant))[0].id
    call_id = uuid.uuid4().hex
    outbound = {"from_raw": LINE, "to_raw": ADA, "direction": Direction.OUTBOUND}
    await deliver(
        app, tenant, event(call_id, EventKind.RINGING, ringing_extension="201", **outbound)
    )
    pop = await last_pop(app, tenant, agent_id)
    assert pop["card"]["contact_id"] == ada
    assert (pop["call"]["party_e164"], pop["call"]["party_display"]) == (ADA, "06 12345678")
    assert pop["call"]["from_e164"] == LINE
    await deliver(app, tenant, event(call_id, EventKind.MISSED, **outbound))  # cancelled
    [call] = await rows(app, Call, tenant)
    assert (call.state, call.direction, call.contact_id) == ("ended", "outbound", ada)
    [interaction] = await rows(app, Interaction, tenant)
    assert (interaction.outcome, interaction.direction) == ("not_reached", "outbound")
    assert await rows(app, CallbackRequest, tenant) == []


async def test_numbers_without_plus_are_read_as_the_vendor_writes_them(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(app, region="DE")
    login = httpx.AsyncClient(
        transport=api._transport, base_url=str(api.base_url), headers=tenant.headers
    )
    async with login as admin:
        ada = await setup(app, admin, tenant, number="+4915112345678")
    call_id = uuid.uuid4().hex
    # sipgate writes "4915112345678": read nationally first it is another German number.
    await deliver(
        app, tenant,
        event(call_id, EventKind.RINGING, from_raw="4915112345678", to_raw="4921112345678",
              number_style=NumberStyle.E164),
    )  # fmt: skip
    [call] = await rows(app, Call, tenant)
    assert (call.from_e164, call.to_e164) == ("+4915112345678", "+4921112345678")
    assert (call.contact_id, call.match) == (ada, "known")


async def test_calls_whose_final_event_never_came_are_closed(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ada = await setup(app, api, tenant)
    ringing, answered, fresh = (uuid.uuid4().hex for _ in range(3))
    await deliver(
        app, tenant,
        event(ringing, EventKind.RINGING),
        event(answered, EventKind.RINGING, from_raw="+31201234567"),
        event(answered, EventKind.ANSWERED, answered_by="201", from_raw="+31201234567"),
        event(fresh, EventKind.RINGING, from_raw="+31301234567"),
    )  # fmt: skip
    async for session in session_scope(app.state.sessionmaker):
        calls = {c.provider_call_id: c for c in await session.scalars(
            select(Call).where(Call.tenant_id == tenant.id)
        )}  # fmt: skip
        calls[ringing].started_at = utcnow() - timedelta(hours=2)
        calls[answered].started_at = utcnow() - timedelta(hours=5)
        calls[fresh].started_at = utcnow() - timedelta(minutes=5)
    async for session in session_scope(app.state.sessionmaker):
        await close_stale_calls(
            session, now=utcnow(), ringing_after=timedelta(hours=1),
            answered_after=timedelta(hours=4),
        )  # fmt: skip
    states = {c.provider_call_id: c.state for c in await rows(app, Call, tenant)}
    assert states == {ringing: "missed", answered: "ended", fresh: "ringing"}
    [callback] = await rows(app, CallbackRequest, tenant)
    assert callback.contact_id == ada
    # The sweep is done: a second one finds nothing, and a late real hangup changes nothing.
    async for session in session_scope(app.state.sessionmaker):
        assert await close_stale_calls(
            session, now=utcnow(), ringing_after=timedelta(hours=1),
            answered_after=timedelta(hours=4),
        ) == []  # fmt: skip
    await deliver(app, tenant, event(ringing, EventKind.ENDED))
    assert len(await rows(app, Interaction, tenant)) == 2
    assert len(await rows(app, CallbackRequest, tenant)) == 1


async def test_the_tenants_extension_plan_wins_over_short_numbers(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    async for session in session_scope(app.state.sessionmaker):
        row = await session.get(Tenant, tenant.id)
        assert row is not None
        row.extension_plan = "1xx, 3000-3099"
    await setup(app, api, tenant)
    agent_id = (await rows(app, Agent, tenant))[0].id
    # Without the plan "112" is the emergency number; on this PBX it is a colleague.
    await deliver(app, tenant, event(uuid.uuid4().hex, EventKind.RINGING, from_raw="112"))
    number = (await last_pop(app, tenant, agent_id))["card"]["number"]
    assert (number["kind"], number["display"]) == ("extension", "112")


async def test_the_admin_sets_the_extension_plan(api: httpx.AsyncClient) -> None:
    shown = await api.get("/v1/tenant")
    assert shown.status_code == 200 and shown.json()["extension_plan"] is None
    changed = await api.patch("/v1/tenant", json={"extension_plan": " 2XX,3000-3099 "})
    assert changed.status_code == 200, changed.text
    assert changed.json()["extension_plan"] == "2xx, 3000-3099"
    for bad in ("2", "2xy", "3099-3000", "12-345", "abc"):
        refused = await api.patch("/v1/tenant", json={"extension_plan": bad})
        assert refused.status_code == 422
        assert "extension_plan" in refused.json()["message"]
    assert (await api.get("/v1/tenant")).json()["extension_plan"] == "2xx, 3000-3099"
    cleared = await api.patch("/v1/tenant", json={"extension_plan": ""})
    assert cleared.json()["extension_plan"] is None


async def test_a_missed_pop_names_its_callback_request_only_when_one_exists(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    agent_id = (await rows(app, Agent, tenant))[0].id
    known = uuid.uuid4().hex
    await deliver(app, tenant, event(known, EventKind.RINGING), event(known, EventKind.MISSED))
    [callback] = await rows(app, CallbackRequest, tenant)
    pop = await last_pop(app, tenant, agent_id)
    assert (pop["type"], pop["call"]["callback_request_id"]) == ("call.missed", callback.id)
    # A number nobody can dial back: no request, and the pop must not promise one.
    unreadable = uuid.uuid4().hex
    await deliver(
        app, tenant,
        event(unreadable, EventKind.RINGING, from_raw="+999123456"),
        event(unreadable, EventKind.MISSED, from_raw="+999123456"),
    )  # fmt: skip
    assert len(await rows(app, CallbackRequest, tenant)) == 1
    pop = await last_pop(app, tenant, agent_id)
    assert (pop["type"], pop["call"]["callback_request_id"]) == ("call.missed", None)


async def test_the_phone_systems_caller_name_reaches_the_pop(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    agent_id = (await rows(app, Agent, tenant))[0].id
    stranger = {"from_raw": "+31201234567", "caller_name": "  BAKKERIJ JANSEN "}
    await deliver(app, tenant, event(uuid.uuid4().hex, EventKind.RINGING, **stranger))
    pop = await last_pop(app, tenant, agent_id)
    assert pop["card"]["match"] == "unknown"
    assert pop["call"]["caller_name"] == "BAKKERIJ JANSEN"
    # On an outbound call the phone system's caller name is our own line's: not shown.
    outbound = {"from_raw": LINE, "to_raw": ADA, "direction": Direction.OUTBOUND}
    await deliver(
        app, tenant,
        event(uuid.uuid4().hex, EventKind.RINGING, ringing_extension="201",
              caller_name="Zorggroep", **outbound),
    )  # fmt: skip
    assert (await last_pop(app, tenant, agent_id))["call"]["caller_name"] is None
