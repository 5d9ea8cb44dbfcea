"""POST /v1/callbacks/{id}/call end to end: the app against real local vendor servers.

Twilio through a recording HTTP server (its request shape is proven against the SDK in
test_originate_vendors.py), Asterisk ARI and FreeSWITCH ESL through fakes speaking their
documented protocols (tests/support/fake_ari_rest.py, tests/support/fake_pbx.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from app.connectors.config import ConnectorSettings
from app.db import session_scope
from app.models import AuditEvent, CallbackRequest
from app.models.activity import Call
from tests.conftest import TenantCtx
from tests.support.fake_ari_rest import fake_ari_rest
from tests.support.fake_pbx import FakeEsl
from tests.support.recording_http import RecordingServer, recording_server

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-0123"
LINE = "+31331234567"
CALLER = "+31687654321"
# The webhook side needs to know where callers go; enqueue is the smallest valid choice.
TWILIO = {"secret": TOKEN, "options": {"voice_response": "enqueue"}}


@dataclass
class Setup:
    agent_id: int
    agent_token: str
    callback_id: int


@pytest.fixture
def twilio() -> Iterator[RecordingServer]:
    with recording_server() as server:
        server.reply = json.dumps({"sid": "CA" + "a" * 32, "status": "queued"}).encode()
        yield server


@pytest.fixture
async def world(
    app: FastAPI,
    api: httpx.AsyncClient,
    tenant: TenantCtx,
    twilio: RecordingServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Setup]:
    """An agent with a widget token and a missed call's callback; Twilio at `twilio.url`."""
    monkeypatch.setattr(app.state.settings, "originate_api_urls", {"twilio": twilio.url})
    # Tests below swap in connector settings of their own; put back what the app had.
    connectors_before = getattr(app.state, "connector_settings", None)
    app.state.connector_settings = ConnectorSettings()
    agent = await api.post(
        "/v1/agents", json={"name": "Sanne", "extension": "201", "sip_uri": "sip:201@pbx.example"}
    )
    agent_id = agent.json()["id"]
    token = (await api.post(f"/v1/agents/{agent_id}/tokens", json={})).json()["token"]
    line = await api.post("/v1/lines", json={"number": LINE, "label": "Reception"})
    assert line.status_code == 201, line.text
    async for session in session_scope(app.state.sessionmaker):
        call = Call(
            tenant_id=tenant.id, provider="twilio", provider_call_id=f"CA-{tenant.slug}",
            from_e164=CALLER, to_e164=LINE, state="missed",
        )  # fmt: skip
        session.add(call)
        await session.flush()
        callback = CallbackRequest(
            tenant_id=tenant.id, number_e164=CALLER, reason="Missed call", call_id=call.id,
            assignee_agent_id=agent_id,
        )  # fmt: skip
        session.add(callback)
        await session.flush()
        callback_id = callback.id
    yield Setup(agent_id, token, callback_id)
    app.state.connector_settings = connectors_before


async def connect_twilio(api: httpx.AsyncClient) -> None:
    assert (await api.put("/v1/providers/twilio", json=TWILIO)).status_code == 200
    stored = await api.put(
        "/v1/providers/twilio/originate", json={"credentials": {"account_sid": SID}}
    )
    assert stored.status_code == 200, stored.text
    assert stored.json() == {"provider": "twilio", "stored": ["account_sid"]}


async def attempts_and_audit(app: FastAPI, callback_id: int) -> tuple[int, list[AuditEvent]]:
    async for session in session_scope(app.state.sessionmaker):
        row = await session.get_one(CallbackRequest, callback_id)
        audits = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "call_back", AuditEvent.subject_id == str(callback_id)
                )
            )
        ).all()
        return row.attempts, list(audits)
    raise AssertionError("unreachable")


def as_agent(api: httpx.AsyncClient, setup: Setup) -> dict[str, str]:
    return {"Authorization": f"Bearer {setup.agent_token}"}


async def test_without_a_phone_system_that_can_originate_409(
    app: FastAPI, api: httpx.AsyncClient, world: Setup, twilio: RecordingServer
) -> None:
    assert (await api.get("/v1/originate")).json() == {"can_originate": False, "providers": []}
    # Connected for webhooks only: still no call back.
    await api.put("/v1/providers/twilio", json=TWILIO)
    response = await api.post(
        f"/v1/callbacks/{world.callback_id}/call", headers=as_agent(api, world)
    )
    assert response.status_code == 409
    assert response.json()["code"] == "cannot_originate"
    assert "tel:/sip: link" in response.json()["message"]
    assert twilio.requests == []


async def test_the_agents_phone_rings_first_then_the_caller_sees_the_line(
    app: FastAPI, api: httpx.AsyncClient, world: Setup, twilio: RecordingServer
) -> None:
    await connect_twilio(api)
    assert (await api.get("/v1/originate", headers=as_agent(api, world))).json() == {
        "can_originate": True,
        "providers": ["twilio"],
    }
    response = await api.post(
        f"/v1/callbacks/{world.callback_id}/call", headers=as_agent(api, world)
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "callback_id": world.callback_id, "agent_id": world.agent_id, "provider": "twilio",
        "provider_call_id": "CA" + "a" * 32, "attempts": 0,
    }  # fmt: skip
    sent = twilio.last()
    assert sent.path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    form = {k: v[0] for k, v in parse_qs(sent.body.decode()).items()}
    assert form["To"] == "sip:201@pbx.example"  # the agent first
    assert form["From"] == LINE
    assert f'<Dial callerId="{LINE}"><Number>{CALLER}</Number></Dial>' in form["Twiml"]
    attempts, audits = await attempts_and_audit(app, world.callback_id)
    assert attempts == 0  # placed, not yet tried: the agent says how it went
    outcome = await api.post(
        f"/v1/callbacks/{world.callback_id}/attempts",
        json={"outcome": "no_answer"},
        headers=as_agent(api, world),
    )
    assert outcome.status_code in (200, 201), outcome.text
    attempts, audits = await attempts_and_audit(app, world.callback_id)
    assert attempts == 1  # counted once, whichever way it was dialled
    [audit] = audits
    assert (audit.agent_id, audit.actor, audit.via) == (world.agent_id, "agent:Sanne", "twilio")
    assert audit.number_masked is not None and CALLER not in audit.number_masked


async def test_a_vendor_failure_is_a_502_with_its_words_and_nothing_recorded(
    app: FastAPI, api: httpx.AsyncClient, world: Setup, twilio: RecordingServer
) -> None:
    await connect_twilio(api)
    twilio.status = 400
    twilio.reply = json.dumps(
        {"code": 21210, "message": "The source phone number provided is not yet verified"}
    ).encode()
    response = await api.post(
        f"/v1/callbacks/{world.callback_id}/call", headers=as_agent(api, world)
    )
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "phone_system_failed"
    assert "HTTP 400" in body["message"] and "not yet verified" in body["message"]
    assert await attempts_and_audit(app, world.callback_id) == (0, [])


async def test_an_api_key_names_the_agent_and_may_ring_another_phone(
    app: FastAPI, api: httpx.AsyncClient, world: Setup, twilio: RecordingServer
) -> None:
    await connect_twilio(api)
    url = f"/v1/callbacks/{world.callback_id}/call"
    missing = await api.post(url)
    assert missing.status_code == 422 and missing.json()["fields"][0]["field"] == "agent_id"
    placed = await api.post(url, json={"agent_id": world.agent_id, "agent_phone": "06 1234 0000"})
    assert placed.status_code == 200, placed.text
    assert parse_qs(twilio.last().body.decode())["To"] == ["+31612340000"]
    assert placed.json()["attempts"] == 0
    # A widget acts for its own agent only.
    other = await api.post(
        url, json={"agent_id": world.agent_id + 1000}, headers=as_agent(api, world)
    )
    assert other.status_code == 422


async def test_closed_callbacks_and_unknown_ones(
    api: httpx.AsyncClient, world: Setup, twilio: RecordingServer
) -> None:
    await connect_twilio(api)
    assert (await api.post("/v1/callbacks/999999/call", json={"agent_id": 1})).status_code == 404
    await api.patch(f"/v1/callbacks/{world.callback_id}", json={"status": "done"})
    closed = await api.post(f"/v1/callbacks/{world.callback_id}/call", headers=as_agent(api, world))
    assert closed.status_code == 409 and "reopen" in closed.json()["message"]
    assert twilio.requests == []


async def test_credentials_are_checked_and_never_shown(api: httpx.AsyncClient) -> None:
    url = "/v1/providers/twilio/originate"
    not_connected = await api.put(url, json={"credentials": {"account_sid": SID}})
    assert not_connected.status_code == 404
    await api.put("/v1/providers/twilio", json=TWILIO)
    bad = await api.put(url, json={"credentials": {"account_sid": "12345", "colour": "red"}})
    assert bad.status_code == 422
    fields = {f["field"] for f in bad.json()["fields"]}
    assert fields == {"credentials.account_sid", "credentials.colour"}
    assert "AC followed by 32 hex digits" in bad.json()["message"]
    ari = await api.put("/v1/providers/asterisk_ari/originate", json={"credentials": {}})
    assert ari.status_code == 422 and "STAMGAST_ARI_ORIGINATE_CONTEXT" in ari.json()["message"]
    vonage_key = {
        "application_id": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
        "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----",
    }
    await api.put("/v1/providers/vonage", json={"secret": "vonage-signature-secret"})
    unreadable = await api.put(
        "/v1/providers/vonage/originate", json={"credentials": vonage_key}
    )  # fmt: skip
    assert unreadable.status_code == 422 and "not a readable PEM" in unreadable.text
    assert (await api.put(url, json={"credentials": {"account_sid": SID}})).status_code == 200
    # Changing the webhook settings keeps them; no answer ever shows them.
    await api.put(
        "/v1/providers/twilio",
        json={"secret": TOKEN, "options": {"dial_target": "sip:queue@pbx.example"}},
    )
    shown = (await api.get("/v1/providers")).text
    assert SID not in shown and "originate" not in shown
    assert (await api.get("/v1/originate")).json()["providers"] == ["twilio"]
    reserved = await api.put(
        "/v1/providers/twilio",
        json={"secret": TOKEN, "options": {"voice_response": "enqueue", "originate": "x"}},
    )
    assert reserved.status_code == 422 and "reserved" in reserved.text
    assert (await api.delete(url)).status_code == 204
    assert (await api.get("/v1/originate")).json()["can_originate"] is False


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_asterisk_ari_originates_the_agents_extension_into_the_dialplan(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, world: Setup,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    with fake_ari_rest(username="stamgast", password="ari-password-0123") as ari:
        settings = ConnectorSettings(
            ari_url=ari.url.replace("http://", "ws://"), ari_user="stamgast",
            ari_password=SecretStr("ari-password-0123"), ari_tenant=tenant.slug,
            ari_originate_context="from-stamgast",
        )  # fmt: skip
        app.state.connector_settings = settings
        response = await api.post(
            f"/v1/callbacks/{world.callback_id}/call", headers=as_agent(api, world)
        )
        assert response.status_code == 200, response.text
        assert response.json()["provider"] == "asterisk_ari"
        [channel] = ari.channels
        assert channel["name"].startswith("PJSIP/201-")
        assert channel["dialplan"] == {"context": "from-stamgast", "exten": CALLER, "priority": 1}
        assert channel["caller"]["number"] == LINE
        assert ari.variables == [{"STAMGAST_CALLBACK": f"callback-{world.callback_id}"}]
        monkeypatch.setattr(settings, "ari_password", SecretStr("wrong"))
        refused = await api.post(
            f"/v1/callbacks/{world.callback_id}/call", headers=as_agent(api, world)
        )
        assert refused.status_code == 502 and "Authentication required" in refused.text
        assert ari.refused == 1
    attempts, audits = await attempts_and_audit(app, world.callback_id)
    assert (attempts, len(audits)) == (0, 1)  # the refused try wrote nothing


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_freeswitch_bgapi_originate_bridges_the_callee(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, world: Setup,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    esl = await FakeEsl([], password="ClueCon-0123").start()
    try:
        settings = ConnectorSettings(
            esl_host="127.0.0.1", esl_port=esl.port, esl_password=SecretStr("ClueCon-0123"),
            esl_tenant=tenant.slug, esl_originate_callee="sofia/gateway/out/{number}",
        )  # fmt: skip
        app.state.connector_settings = settings
        response = await api.post(
            f"/v1/callbacks/{world.callback_id}/call", headers=as_agent(api, world)
        )
        assert response.status_code == 200, response.text
        assert response.json()["provider"] == "freeswitch"
        assert response.json()["provider_call_id"].startswith("7f4db78a-")
        assert esl.jobs == [
            f"originate {{origination_caller_id_number={LINE},originate_timeout=30,"
            f"stamgast_callback=callback-{world.callback_id}}}user/201 "
            f"&bridge({{origination_caller_id_number={LINE}}}sofia/gateway/out/{CALLER})"
        ]
        monkeypatch.setattr(settings, "esl_password", SecretStr("wrong"))
        refused = await api.post(
            f"/v1/callbacks/{world.callback_id}/call", headers=as_agent(api, world)
        )
        assert refused.status_code == 502 and "password" in refused.json()["message"]
    finally:
        await esl.stop()
    attempts, audits = await attempts_and_audit(app, world.callback_id)
    assert (attempts, len(audits)) == (0, 1)  # the refused try wrote nothing


async def test_plivo_fetches_the_second_half_from_our_signed_answer_url(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx,
    world: Setup, twilio: RecordingServer, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    plivo = twilio  # the same recording server, standing in for api.plivo.com
    plivo.reply = json.dumps({"message": "call fired", "request_uuid": "75c2a8b4"}).encode()
    monkeypatch.setattr(app.state.settings, "originate_api_urls", {"plivo": plivo.url})
    url = "/v1/providers/plivo/originate"
    credentials = {"credentials": {"auth_id": "MAXXXXXXXXXXXXXXXXXX"}}
    assert (await api.put("/v1/providers/plivo", json={"secret": "plivo-token"})).is_success
    no_base = await api.put(url, json=credentials)
    assert no_base.status_code == 422 and "STAMGAST_PUBLIC_BASE_URL" in no_base.text
    await api.put(
        "/v1/providers/plivo",
        json={"secret": "plivo-token", "options": {"public_base_url": "https://sg.example"}},
    )
    assert (await api.put(url, json=credentials)).status_code == 200
    placed = await api.post(f"/v1/callbacks/{world.callback_id}/call", headers=as_agent(api, world))
    assert placed.status_code == 200, placed.text
    assert placed.json()["provider"] == "plivo"
    sent = json.loads(plivo.last().body)
    assert sent["to"] == "sip:201@pbx.example" and sent["from"] == LINE[1:]
    answer_url = httpx.URL(sent["answer_url"])
    assert (answer_url.host, answer_url.path) == (
        "sg.example",
        f"/webhooks/plivo/{tenant.slug}/call-back",
    )
    # Plivo fetches it when the agent answers: unauthenticated but signed.
    answered = await client.post(f"{answer_url.path}?{answer_url.query.decode()}")
    assert answered.status_code == 200
    assert answered.headers["content-type"].startswith("application/xml")
    assert answered.text == (
        f'<Response><Dial callerId="{LINE[1:]}"><Number>{CALLER[1:]}</Number></Dial></Response>'
    )
    forged = answer_url.copy_merge_params({"to": "31900000000"})
    refused = await client.post(f"{forged.path}?{forged.query.decode()}")
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
