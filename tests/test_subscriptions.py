"""Outbound events end to end: written with the call in the hot path, delivered by the
worker to a real receiver that verifies our signatures with `standardwebhooks`, through
faults (down, slow, 500), retried on the backoff schedule, in order per call, dead after the
schedule, redelivered, pinged, rotated; and a server SIGKILLed mid-delivery loses nothing."""

from __future__ import annotations

import asyncio
import itertools
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.db import create_engine, session_scope
from app.main import create_app
from app.migrate import upgrade
from app.models import Call, utcnow
from app.settings import Settings
from app.subscriptions.openapi import CALL_EVENTS, _envelope
from app.subscriptions.schedule import DELAYS
from app.subscriptions.worker import DeliveryWorker
from telephony_adapters.generic import sign_generic
from tests.conftest import TenantCtx, make_tenant
from tests.support.event_receiver import EventReceiver
from tests.support.hot_callers import ADA, LINE, seed
from tests.support.live_server import live_server_process

SECRET = "generic-secret-123"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this module's own: no other app's worker may deliver its events."""
    if request.param == "sqlite":
        with tempfile.TemporaryDirectory(prefix="stamgast-subs-") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'subs.db'}"
            upgrade(url)
            yield url
        return
    server = str(request.getfixturevalue("postgres_url"))
    name = f"subs_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        engine = create_engine(server)
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        await engine.dispose()

    asyncio.run(create())
    url = server.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url


@pytest.fixture(scope="module")
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    """The app without its own worker: each test drives one, on a clock it turns."""
    with tempfile.TemporaryDirectory(prefix="stamgast-spool-") as spool_dir:
        settings = Settings(
            database_url=database_url, spool_path=Path(spool_dir) / "inbox", event_delivery=False
        )
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            yield application


class Clock:
    """The worker's now, turned by the test."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)  # what is written now is due

    def __call__(self) -> datetime:
        return self.now

    def turn(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
async def receiver() -> AsyncIterator[EventReceiver]:
    found = EventReceiver()
    await found.start()
    yield found
    await found.stop()


def _worker(app: FastAPI, clock: Clock, timeout: float = 0.5) -> DeliveryWorker:
    return DeliveryWorker(
        app.state.sessionmaker, timeout_seconds=timeout, clock=clock, jitter=lambda: 0.0
    )


async def _subscribe(api: httpx.AsyncClient, receiver: EventReceiver, *types: str) -> int:
    made = await api.post("/v1/subscriptions", json={"url": receiver.url, "event_types": types})
    assert made.status_code == 201, made.text
    assert made.json()["secret"].startswith("whsec_")
    receiver.secrets.append(made.json()["secret"])
    listed = (await api.get("/v1/subscriptions")).json()
    assert "secret" not in listed[0] and "previous_secret" not in listed[0]
    return int(made.json()["id"])


async def _call(
    client: httpx.AsyncClient, api: httpx.AsyncClient, app: FastAPI, tenant: TenantCtx, *events: str
) -> str:
    """Ring (and answer, end …) a call from a known caller through the webhook route."""
    if (await api.get("/v1/providers")).json() == []:
        await seed(app, tenant.id, utcnow())
        assert (await api.put("/v1/providers/generic", json={"secret": SECRET})).status_code == 200
    call_id = uuid.uuid4().hex
    for event in events:
        body = httpx.Request(
            "POST",
            "/",
            json={
                "from": ADA,
                "to": LINE,
                "call_id": call_id,
                "event": event,
                "answered_by": "201",
            },
        ).content
        headers = sign_generic(SECRET, body, int(time.time()))
        headers["Content-Type"] = "application/json"
        answer = await client.post(
            f"/webhooks/generic/{tenant.slug}", content=body, headers=headers
        )
        assert answer.status_code == 200 and not answer.json().get("degraded"), answer.text
    return call_id


async def _drain(worker: DeliveryWorker) -> int:
    tried = 0
    while (found := await worker.run_once()) > 0:
        tried += found
    return tried


async def test_call_events_are_delivered_signed_in_order_and_fit_their_schema(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    receiver: EventReceiver,
) -> None:
    types = ("call.ringing", "call.recognised", "call.answered", "call.ended")
    subscription = await _subscribe(api, receiver, *types)
    await _call(client, api, app, tenant, "ringing", "answered", "ended")
    await _call(client, api, app, tenant, "ringing", "missed")  # nobody wants call.missed
    assert await _drain(_worker(app, Clock())) == 6
    got = receiver.delivered()
    assert all(r.verified_by == receiver.secrets and r.signatures == 1 for r in got)
    assert len({r.message_id for r in got}) == 6
    per_call: dict[int, list[dict[str, Any]]] = {}
    for r in got:  # calls go out side by side, each call's events in order
        per_call.setdefault(r.body["data"]["call"]["id"], []).append(r.body)
    answered, missed = per_call.values()
    assert [e["type"] for e in answered] == list(types)
    assert [e["type"] for e in missed] == ["call.ringing", "call.recognised"]
    first = answered[0]["data"]["call"]
    assert (first["from_e164"], first["state"]) == (ADA, "ringing")
    assert answered[1]["data"]["contact"]["display_name"]
    assert answered[3]["data"]["call"]["interaction_id"] is not None
    for r in got:  # what the OpenAPI document promises is what is sent
        _envelope(r.body["type"], CALL_EVENTS[r.body["type"]][0]).model_validate(r.body)
    log = (await api.get(f"/v1/subscriptions/{subscription}/deliveries")).json()
    assert len(log) == 6 and {d["status"] for d in log} == {"delivered"}
    assert all(len(d["log"]) == 1 and d["log"][0]["status_code"] == 204 for d in log)


async def test_down_slow_failing_then_recovering_is_retried_with_backoff_in_order_once_each(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    receiver: EventReceiver,
) -> None:
    subscription = await _subscribe(api, receiver, "call.ringing", "call.answered", "call.ended")
    await _call(client, api, app, tenant, "ringing", "answered", "ended")
    clock = Clock()
    worker = _worker(app, clock)
    await receiver.stop()  # down
    assert await worker.run_once() == 1  # the ringing only: the call's later events wait
    receiver.mode = "slow"
    await receiver.start()
    clock.turn(DELAYS[0] - timedelta(seconds=1))
    assert await worker.run_once() == 0  # not due before its backoff
    clock.turn(timedelta(seconds=2))
    assert await worker.run_once() == 1  # no answer within the timeout
    receiver.mode = "fail"
    clock.turn(DELAYS[1] + timedelta(seconds=1))
    assert await worker.run_once() == 1  # 500
    receiver.mode = "ok"
    assert await worker.run_once() == 0
    clock.turn(DELAYS[2] + timedelta(seconds=1))
    await _drain(worker)
    got = receiver.delivered()
    assert [r.body["type"] for r in got] == ["call.ringing", "call.answered", "call.ended"]
    assert len({r.message_id for r in receiver.received}) == 3  # retries kept their id
    log = (await api.get(f"/v1/subscriptions/{subscription}/deliveries")).json()
    ringing = next(d for d in log if d["type"] == "call.ringing")
    tries = ringing["log"]
    assert [t["succeeded"] for t in tries] == [False, False, False, True]
    assert tries[0]["status_code"] is None and tries[0]["error"]
    assert "within" in tries[1]["error"] and tries[2]["status_code"] == 500
    gaps = [
        datetime.fromisoformat(b["attempted_at"]) - datetime.fromisoformat(a["attempted_at"])
        for a, b in itertools.pairwise(tries)
    ]
    assert gaps[0] >= DELAYS[0] and gaps[1] >= DELAYS[1] and gaps[2] >= DELAYS[2]


async def test_dead_after_the_schedule_then_redelivered_by_hand(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    receiver: EventReceiver,
) -> None:
    subscription = await _subscribe(api, receiver, "call.ringing")
    await _call(client, api, app, tenant, "ringing")
    clock, receiver.mode = Clock(), "fail"
    worker = _worker(app, clock)
    started = clock.now
    for delay in (*DELAYS, None):
        assert await worker.run_once() == 1
        if delay is not None:
            clock.turn(delay + timedelta(milliseconds=1))
    assert clock.now - started >= timedelta(hours=24)
    clock.turn(timedelta(days=2))
    assert await worker.run_once() == 0
    [dead] = (await api.get(f"/v1/subscriptions/{subscription}/deliveries?status=dead")).json()
    assert dead["attempts"] == len(DELAYS) + 1 and dead["next_attempt_at"] is None
    receiver.mode = "ok"
    again = await api.post(f"/v1/subscriptions/{subscription}/deliveries/{dead['id']}/redeliver")
    assert again.status_code == 202
    assert await worker.run_once() == 1
    assert [r.message_id for r in receiver.delivered()] == [dead["message_id"]]
    missing = await api.post(f"/v1/subscriptions/{subscription}/deliveries/999999/redeliver")
    assert missing.status_code == 404


async def test_rotation_signs_with_both_secrets_during_the_overlap_then_the_new_only(
    app: FastAPI, api: httpx.AsyncClient, receiver: EventReceiver
) -> None:
    subscription = await _subscribe(api, receiver, "contact.updated")
    old = receiver.secrets[0]
    rotated = await api.post(f"/v1/subscriptions/{subscription}/rotate-secret?overlap_hours=1")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != old and new.startswith("whsec_")
    receiver.secrets.append(new)
    clock = Clock()
    worker = _worker(app, clock)
    pinged = await api.post(f"/v1/subscriptions/{subscription}/ping")
    assert pinged.status_code == 202
    assert await worker.run_once() == 1
    during = receiver.received[-1]
    assert during.signatures == 2 and during.verified_by == [old, new]
    assert during.body["type"] == "ping" and during.message_id == pinged.json()["message_id"]
    clock.turn(timedelta(hours=2))
    await api.post(f"/v1/subscriptions/{subscription}/ping")
    assert await worker.run_once() == 1
    after = receiver.received[-1]
    assert after.signatures == 1 and after.verified_by == [new]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://crm.example.org/x", "event_types": ["call.ended"]}, "url"),
        ({"url": "https://user:pw@crm.example.org/x", "event_types": ["call.ended"]}, "url"),
        ({"url": "https:///nohost", "event_types": ["call.ended"]}, "url"),
        ({"url": "https://crm.example.org/x", "event_types": ["call.exploded"]}, "event_types.0"),
        ({"url": "https://crm.example.org/x", "event_types": []}, "event_types"),
        (
            {"url": "https://crm.example.org/x", "event_types": ["call.ended", "call.ended"]},
            "event_types",
        ),
    ],
)
async def test_bad_subscriptions_are_refused_saying_why(
    api: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    answer = await api.post("/v1/subscriptions", json=body)
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["code"] == "validation_failed"
    assert [f["field"] for f in problem["fields"]] == [field] and problem["fields"][0]["message"]


async def test_subscriptions_are_changed_paused_and_deleted(
    api: httpx.AsyncClient, receiver: EventReceiver
) -> None:
    subscription = await _subscribe(api, receiver, "call.ended")
    changed = await api.patch(
        f"/v1/subscriptions/{subscription}", json={"enabled": False, "event_types": ["call.missed"]}
    )
    assert changed.status_code == 200
    assert (changed.json()["enabled"], changed.json()["event_types"]) == (False, ["call.missed"])
    assert (await api.delete(f"/v1/subscriptions/{subscription}")).status_code == 204
    assert (await api.get(f"/v1/subscriptions/{subscription}")).status_code == 404
    gone = await api.get(f"/v1/subscriptions/{subscription}/deliveries")
    assert gone.status_code == 404


async def test_a_server_killed_mid_delivery_sends_it_again_with_the_same_id(
    app: FastAPI, database_url: str, receiver: EventReceiver
) -> None:
    tenant = await make_tenant(app)
    env = {
        "STAMGAST_EVENT_DELIVERY_TIMEOUT_SECONDS": "1",
        "STAMGAST_EVENT_LEASE_SECONDS": "1",
        "STAMGAST_EVENT_POLL_SECONDS": "0.2",
    }
    receiver.mode, receiver.slow_seconds = "slow", 30
    with live_server_process(database_url, extra_env=env) as (base_url, process):
        async with httpx.AsyncClient(base_url=base_url, headers=tenant.headers) as api:
            await _subscribe(api, receiver, "call.ringing")
            async with httpx.AsyncClient(base_url=base_url) as client:
                await _call(client, api, app, tenant, "ringing")
            await _until(lambda: len(receiver.received) == 1, 20)
            process.send_signal(signal.SIGKILL)  # mid-delivery: the receiver has not answered
            process.wait(10)
    receiver.mode = "ok"
    with live_server_process(database_url, extra_env=env):
        await _until(lambda: len(receiver.delivered()) == 1, 30)
        await asyncio.sleep(1.0)  # nothing more follows
    first, again = receiver.received
    assert first.message_id == again.message_id and again.verified_by == receiver.secrets
    assert len(receiver.received) == 2


async def _until(done: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_api_changes_are_events_too(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, receiver: EventReceiver
) -> None:
    types = ("contact.updated", "callback.created", "callback.done", "interaction.created")
    await _subscribe(api, receiver, *types)
    contact = await api.post(
        "/v1/contacts", json={"display_name": "Ada", "numbers": [{"number": ADA}]}
    )
    assert contact.status_code == 201, contact.text
    contact_id = contact.json()["id"]
    changed = await api.patch(f"/v1/contacts/{contact_id}", json={"display_name": "Ada L"})
    assert changed.status_code == 200, changed.text
    made = await api.post("/v1/callbacks", json={"contact_id": contact_id, "reason": "bel"})
    assert made.status_code == 201, made.text
    done = await api.patch(f"/v1/callbacks/{made.json()['id']}", json={"status": "done"})
    assert done.status_code == 200, done.text
    noted = await api.post(
        "/v1/interactions",
        json={
            "contact_id": contact_id,
            "channel": "email",
            "direction": "inbound",
            "summary": "vraag",
        },
    )
    assert noted.status_code == 201, noted.text
    assert await _drain(_worker(app, Clock())) == 4
    got = {r.body["type"]: r.body for r in receiver.delivered()}
    assert set(got) == set(types)
    assert got["contact.updated"]["data"]["contact"]["display_name"] == "Ada L"
    assert got["callback.done"]["data"]["callback"]["status"] == "done"
    assert got["interaction.created"]["data"]["interaction"]["summary"] == "vraag"
    for body in got.values():
        _envelope(body["type"], CALL_EVENTS[body["type"]][0]).model_validate(body)


async def test_call_journal_recipe_posts_each_wrapped_up_call_to_a_crm(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    receiver: EventReceiver,
) -> None:
    """README "Events to other systems": a CRM journals calls by subscribing to
    `call.wrapped_up` (the call with the agent's outcome, note and satisfaction) and
    `call.missed` (calls nobody could wrap up)."""
    await _subscribe(api, receiver, "call.wrapped_up", "call.missed", "call.surveyed")
    talked = await _call(client, api, app, tenant, "ringing", "answered", "ended")
    missed = await _call(client, api, app, tenant, "ringing", "missed")
    async for session in session_scope(app.state.sessionmaker):
        call_row = await session.scalar(select(Call.id).where(Call.provider_call_id == talked))
    first = await api.post(
        f"/v1/calls/{call_row}/wrap-up", json={"outcome": "resolved", "note": "Adres gewijzigd"}
    )
    assert first.status_code == 200, first.text
    second = await api.post(
        f"/v1/calls/{call_row}/wrap-up",
        json={"outcome": "resolved", "note": "Brief volgt", "satisfaction": 4, "helped": "partly"},
    )
    assert second.status_code == 200, second.text
    refused = await api.post(f"/v1/calls/{call_row}/wrap-up", json={"outcome": "nonsense"})
    assert refused.status_code == 422  # nothing saved, nothing journaled
    for score, status in ((5, 200), (5, 200), (3, 409)):  # the IVR's retry; another answer
        sent = await api.post(f"/v1/calls/{call_row}/survey", json={"score": score})
        assert sent.status_code == status, sent.text
    assert await _drain(_worker(app, Clock())) == 4
    got = [r.body for r in receiver.delivered()]
    # Calls go out side by side; each call's events in order; the survey journaled once.
    sent_for = [(b["type"], b["data"]["call"]["provider_call_id"]) for b in got]
    assert [kind for kind, call in sent_for if call == talked] == [
        "call.wrapped_up", "call.wrapped_up", "call.surveyed",
    ]  # fmt: skip
    assert [kind for kind, call in sent_for if call == missed] == ["call.missed"]
    verdict = next(b["data"]["interaction"] for b in got if b["type"] == "call.surveyed")
    assert (verdict["survey_score"], verdict["helped"]) == (5, "partly")
    journal = [b for b in got if b["type"] == "call.wrapped_up"]
    # Each wrap-up saved is one entry, in order; the second carries both notes.
    assert journal[0]["data"]["interaction"]["summary"].endswith("Adres gewijzigd")
    latest = journal[1]["data"]["interaction"]
    assert latest["summary"].endswith("Adres gewijzigd — Brief volgt")
    assert (latest["outcome"], latest["satisfaction"], latest["helped"]) == (
        "resolved",
        4,
        "partly",
    )
    assert journal[0]["data"]["interaction"]["helped"] is None
    assert journal[1]["data"]["call"]["state"] == "ended"
    for body in got:
        _envelope(body["type"], CALL_EVENTS[body["type"]][0]).model_validate(body)
