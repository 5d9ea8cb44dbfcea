"""Webhooks end to end: signatures, errors, idempotency, the call's life and fail-open."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from app.db import session_scope
from app.main import create_app
from app.models import (
    Agent,
    Call,
    CallbackRequest,
    Contact,
    ContactNumber,
    Interaction,
    Line,
    Team,
    agent_teams,
)
from app.settings import Settings
from telephony_adapters.generic import sign_generic
from tests.conftest import TenantCtx

SECRET = "generic-secret-123"
TWILIO_TOKEN = "twilio-auth-token-0123456789"


async def connect(api: httpx.AsyncClient, provider: str, secret: str, **extra: Any) -> None:
    response = await api.put(f"/v1/providers/{provider}", json={"secret": secret, **extra})
    assert response.status_code == 200, response.text


def generic_event(call_id: str, event: str, **fields: Any) -> dict[str, Any]:
    body = {"call_id": call_id, "event": event, "from": "+31612345678", "to": "+31331234567"}
    body.update(fields)
    return body


async def post_generic(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    payload: Any,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = sign_generic(secret, body, timestamp or int(time.time()))
    headers["Content-Type"] = "application/json"
    return await client.post(f"/webhooks/generic/{tenant.slug}", content=body, headers=headers)


async def add_ada(app: FastAPI, tenant: TenantCtx) -> int:
    async for session in session_scope(app.state.sessionmaker):
        ada = Contact(tenant_id=tenant.id, display_name="Ada de Vries")
        session.add(ada)
        await session.flush()
        session.add(
            ContactNumber(tenant_id=tenant.id, contact_id=ada.id, e164="+31612345678", raw="06")
        )
        session.add(Agent(tenant_id=tenant.id, name="Sanne Visser", extension="201"))
        ada_id = ada.id
    return ada_id


async def rows(app: FastAPI, model: Any, tenant: TenantCtx) -> list[Any]:
    found: list[Any] = []
    async for session in session_scope(app.state.sessionmaker):
        query = select(model).where(model.tenant_id == tenant.id).order_by(model.id)
        found = list(await session.scalars(query))
    return found


async def test_answered_call_becomes_an_interaction(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ada = await add_ada(app, tenant)
    await connect(api, "generic", SECRET)
    call_id = uuid.uuid4().hex
    ringing = await post_generic(client, tenant, generic_event(call_id, "ringing"))
    assert ringing.status_code == 200, ringing.text
    assert ringing.json() == {"ok": True, "events": 1}
    answered = await post_generic(
        client, tenant, generic_event(call_id, "answered", answered_by="201")
    )
    assert answered.status_code == 200
    ended = await post_generic(client, tenant, generic_event(call_id, "ended"))
    assert ended.status_code == 200

    [call] = await rows(app, Call, tenant)
    assert (call.state, call.contact_id, call.match) == ("ended", ada, "known")
    assert call.answered_by == "Sanne Visser"
    [interaction] = await rows(app, Interaction, tenant)
    assert interaction.contact_id == ada and interaction.outcome == "answered"
    assert "Sanne Visser" in interaction.summary
    assert await rows(app, CallbackRequest, tenant) == []

    wrapped = await api.post(
        f"/v1/calls/{call.id}/wrap-up", json={"outcome": "resolved", "note": "Adres gewijzigd"}
    )
    assert wrapped.status_code == 200, wrapped.text
    assert wrapped.json()["summary"].endswith("— Adres gewijzigd")
    missing = await api.post("/v1/calls/999999/wrap-up", json={"outcome": "resolved"})
    assert missing.status_code == 404


async def test_missed_call_creates_one_callback_and_retries_change_nothing(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ada = await add_ada(app, tenant)
    await connect(api, "generic", SECRET)
    for _ in range(2):  # two missed calls: still one open callback request
        call_id = uuid.uuid4().hex
        for event in ("ringing", "ringing", "ended", "ended"):  # each delivered twice
            response = await post_generic(client, tenant, generic_event(call_id, event))
            assert response.status_code == 200, response.text
    calls = await rows(app, Call, tenant)
    assert [c.state for c in calls] == ["missed", "missed"]
    assert len(await rows(app, Interaction, tenant)) == 2
    [callback] = await rows(app, CallbackRequest, tenant)
    assert callback.contact_id == ada and callback.status == "open"
    assert callback.reason.startswith("Gemiste oproep om ")

    card = (await api.get("/v1/lookup", params={"number": "+31612345678"})).json()
    assert [c["id"] for c in card["callbacks"]] == [callback.id]


async def test_out_of_order_answer_before_ringing(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ada = await add_ada(app, tenant)
    await connect(api, "generic", SECRET)
    call_id = uuid.uuid4().hex
    for event in ("answered", "ringing", "ended"):
        response = await post_generic(client, tenant, generic_event(call_id, event))
        assert response.status_code == 200, response.text
    [call] = await rows(app, Call, tenant)
    assert (call.state, call.contact_id) == ("ended", ada)
    assert call.answered_at is not None


async def test_webhook_errors(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    unknown = await client.post(f"/webhooks/nope/{tenant.slug}", content=b"{}")
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "No adapter for provider 'nope'."

    not_connected = await post_generic(client, tenant, generic_event("c1", "ringing"))
    assert not_connected.status_code == 404
    assert "PUT /v1/providers/generic" in not_connected.json()["message"]

    await connect(api, "generic", SECRET)
    forged = await post_generic(client, tenant, generic_event("c1", "ringing"), secret="wrong!!!")
    assert forged.status_code == 401
    stale = await post_generic(
        client, tenant, generic_event("c1", "ringing"), timestamp=int(time.time()) - 301
    )
    assert stale.status_code == 401
    unsigned = await client.post(f"/webhooks/generic/{tenant.slug}", content=b"{}")
    assert unsigned.status_code == 401
    malformed = await post_generic(client, tenant, {"call_id": "c1", "event": "ring"})
    assert malformed.status_code == 400
    assert '"event" must be one of' in malformed.json()["message"]
    oversize = await post_generic(
        client, tenant, generic_event("c1", "ringing", caller_name="x" * 70_000)
    )
    assert oversize.status_code == 413
    assert await rows(app, Call, tenant) == []

    disabled = await api.put("/v1/providers/generic", json={"secret": SECRET, "enabled": False})
    assert disabled.status_code == 200
    refused = await post_generic(client, tenant, generic_event("c2", "ringing"))
    assert refused.status_code == 404
    bad_provider = await api.put("/v1/providers/nope", json={"secret": SECRET})
    assert bad_provider.status_code == 422
    assert "choose one of" in bad_provider.json()["message"]


def twilio_post(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> dict[str, str]:
    signature = RequestValidator(token).compute_signature(url, params)
    return {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}


async def test_twilio_voice_webhook_answers_twiml_and_records(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ada = await add_ada(app, tenant)
    # Connected without saying where calls go, Twilio would have nowhere to send the caller.
    refused = await api.put("/v1/providers/twilio", json={"secret": TWILIO_TOKEN})
    assert refused.status_code == 422
    assert "dial_target" in refused.json()["message"]
    empty = {"voice_response": "empty", "dial_target": "sip:queue@pbx.example"}
    refused = await api.put("/v1/providers/twilio", json={"secret": TWILIO_TOKEN, "options": empty})
    assert refused.status_code == 422 and "ends every call" in refused.json()["message"]
    await connect(api, "twilio", TWILIO_TOKEN, options={"dial_target": "sip:queue@pbx.example"})
    url = f"http://testserver/webhooks/twilio/{tenant.slug}"
    params = {
        "CallSid": "CA" + uuid.uuid4().hex,
        "AccountSid": "AC1",
        "From": "+31612345678",
        "To": "+31331234567",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    response = await client.post(url, content=urlencode(params), headers=twilio_post(url, params))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Response" in response.text and "<Dial" in response.text
    [call] = await rows(app, Call, tenant)
    assert call.contact_id == ada and call.provider == "twilio"

    forged = await client.post(
        url, content=urlencode(params), headers=twilio_post(url, params, token="other-token")
    )
    assert forged.status_code == 401


async def test_fail_open_when_database_is_down(database_url: str, tmp_path: Path) -> None:
    """With the database unreachable, Twilio still gets valid TwiML within the budget."""
    if database_url.startswith("sqlite"):
        dead = f"sqlite+aiosqlite:///{tmp_path}/missing-dir/stamgast.db"
    else:
        dead = "postgresql+asyncpg://stamgast@127.0.0.1:9/postgres"  # nothing listens on 9
    settings = Settings(
        database_url=dead, webhook_budget_seconds=1.0, spool_path=tmp_path / "inbox.sqlite"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            started = time.monotonic()
            response = await c.post(
                "/webhooks/twilio/anyone",
                content=urlencode({"CallSid": "CA1", "From": "+31612345678", "To": "+3133"}),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": "whatever",
                },
            )
            elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.text.startswith("<?xml") and "<Response" in response.text
    assert elapsed < 1.5
    assert app.state.webhooks.held == 1


@pytest.mark.parametrize("provider", ["generic", "twilio"])
async def test_provider_config_lists_webhook_url(
    api: httpx.AsyncClient, tenant: TenantCtx, provider: str
) -> None:
    options = {"dial_target": "sip:queue@pbx.example"} if provider == "twilio" else {}
    await connect(api, provider, "s3cret-value", events=["ringing"], options=options)
    listed = (await api.get("/v1/providers")).json()
    assert listed[0]["webhook_url"] == f"http://testserver/webhooks/{provider}/{tenant.slug}"
    assert "secret" not in listed[0]
    assert (await api.delete(f"/v1/providers/{provider}")).status_code == 204
    assert (await api.delete(f"/v1/providers/{provider}")).status_code == 404


async def pops_for(app: FastAPI, tenant: TenantCtx, agent_id: int) -> list[dict[str, Any]]:
    entries, _complete = await app.state.hub.broker.replay(tenant.id, agent_id, 0)
    return [json.loads(message) for _seq, message in entries]


async def test_pops_follow_the_call_once_per_event(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await add_ada(app, tenant)
    [sanne] = await rows(app, Agent, tenant)
    async for session in session_scope(app.state.sessionmaker):
        session.add(Agent(tenant_id=tenant.id, name="Youssef El Amrani", extension="202"))
    await connect(api, "generic", SECRET)
    call_id = uuid.uuid4().hex
    for event, extra in [
        ("ringing", {}),
        ("ringing", {}),
        ("answered", {"answered_by": "201"}),
        ("ended", {}),
    ]:
        response = await post_generic(client, tenant, generic_event(call_id, event, **extra))
        assert response.status_code == 200
    youssef = next(a for a in await rows(app, Agent, tenant) if a.extension == "202")
    for agent in (sanne, youssef):
        pops = await pops_for(app, tenant, agent.id)
        assert [p["seq"] for p in pops] == [1, 2, 3]
        kinds = [p["pop"]["type"] for p in pops]
        assert kinds == ["call.ringing", "call.answered", "call.ended"]
        ringing, answered, ended = (p["pop"] for p in pops)
        assert ringing["card"]["display_name"] == "Ada de Vries"
        assert ringing["call"]["state"] == "ringing"
        assert answered["card"] is None
        assert answered["call"]["answered_by_agent_id"] == sanne.id
        assert ended["call"]["interaction_id"] is not None
        assert len({p["pop"]["pop_id"] for p in pops}) == 3


async def test_ringing_extension_pops_only_that_agent(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await add_ada(app, tenant)
    async for session in session_scope(app.state.sessionmaker):
        session.add(Agent(tenant_id=tenant.id, name="Youssef El Amrani", extension="202"))
    await connect(api, "generic", SECRET)
    response = await post_generic(
        client, tenant, generic_event(uuid.uuid4().hex, "ringing", extension="202")
    )
    assert response.status_code == 200
    by_extension = {a.extension: a.id for a in await rows(app, Agent, tenant)}
    assert len(await pops_for(app, tenant, by_extension["202"])) == 1
    assert await pops_for(app, tenant, by_extension["201"]) == []


async def test_erasure_forgets_the_number_on_calls_and_callbacks(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ada = await add_ada(app, tenant)
    await connect(api, "generic", SECRET)
    call_id = uuid.uuid4().hex
    for event in ("ringing", "ended"):
        assert (await post_generic(client, tenant, generic_event(call_id, event))).is_success
    async for session in session_scope(app.state.sessionmaker):
        session.add(CallbackRequest(tenant_id=tenant.id, number_e164="+31612345678", reason="x"))
    assert len(await rows(app, CallbackRequest, tenant)) == 2
    assert (await api.delete(f"/v1/contacts/{ada}")).status_code == 204
    [call] = await rows(app, Call, tenant)
    assert call.from_e164 is None and call.contact_id is None
    assert call.from_masked == "+31 6 **** 5678"
    assert await rows(app, CallbackRequest, tenant) == []
    assert await rows(app, Interaction, tenant) == []


async def test_pops_wait_for_a_broker_outage(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event is recorded and answered; its pop is published when the broker is back."""
    await add_ada(app, tenant)
    [sanne] = await rows(app, Agent, tenant)
    await connect(api, "generic", SECRET)
    hub = app.state.hub
    real_publish = hub.publish
    outage = {"left": 2}

    async def flaky_publish(*args: Any) -> None:
        if outage["left"] > 0:
            outage["left"] -= 1
            raise ConnectionError("broker down")
        await real_publish(*args)

    monkeypatch.setattr(hub, "publish", flaky_publish)
    response = await post_generic(client, tenant, generic_event(uuid.uuid4().hex, "ringing"))
    assert response.status_code == 200
    assert len(await rows(app, Call, tenant)) == 1
    for _ in range(50):
        if await pops_for(app, tenant, sanne.id):
            break
        await asyncio.sleep(0.1)
    [pop] = await pops_for(app, tenant, sanne.id)
    assert pop["pop"]["card"]["display_name"] == "Ada de Vries"
    assert app.state.webhooks.held_pops == 0


async def test_called_line_routes_to_its_team(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await add_ada(app, tenant)
    line_number = f"+3130{tenant.id:07d}"
    async for session in session_scope(app.state.sessionmaker):
        [sanne] = list(await session.scalars(select(Agent).where(Agent.tenant_id == tenant.id)))
        youssef = Agent(tenant_id=tenant.id, name="Youssef El Amrani", extension="202")
        team = Team(tenant_id=tenant.id, name="Utrecht")
        session.add_all([youssef, team])
        await session.flush()
        await session.execute(agent_teams.insert().values(agent_id=sanne.id, team_id=team.id))
        session.add(
            Line(tenant_id=tenant.id, number_e164=line_number, label="Utrecht", team_id=team.id)
        )
        sanne_id, youssef_id = sanne.id, youssef.id
    await connect(api, "generic", SECRET)
    event = generic_event(uuid.uuid4().hex, "ringing", to=line_number)
    assert (await post_generic(client, tenant, event)).status_code == 200
    [pop] = await pops_for(app, tenant, sanne_id)
    assert pop["pop"]["call"]["line_label"] == "Utrecht"
    assert await pops_for(app, tenant, youssef_id) == []
