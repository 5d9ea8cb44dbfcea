"""Overdue callbacks escalate once, on a controlled clock and both databases: a notice to the
team of the line the call came in on, a `callback.overdue` event delivered to a real receiver,
the overdue metric unchanged; and two sweeps racing on PostgreSQL escalate each request once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.callbacks.escalation import claim_overdue, escalate_forever, escalate_once
from app.db import session_scope
from app.models import CallbackRequest, utcnow
from app.screen_pop.schemas import CallbackOverdueDelivery
from app.subscriptions.openapi import CALL_EVENTS, _envelope
from app.subscriptions.worker import DeliveryWorker
from telephony_adapters.base import CallEvent, EventKind
from tests.conftest import TenantCtx
from tests.support.event_receiver import EventReceiver
from tests.support.hot_callers import ADA, LINE, seed

STRANGER = "+31611122233"

# Later than any due time the default policy gives a call missed now (at most four days on),
# so the app's own sweep, on the real clock, never claims what these tests escalate.
LATER = timedelta(days=10)


@pytest.fixture
async def receiver() -> AsyncIterator[EventReceiver]:
    found = EventReceiver()
    await found.start()
    yield found
    await found.stop()


async def agent_frames(app: FastAPI, tenant: TenantCtx, agent_id: int) -> list[dict[str, Any]]:
    entries, _complete = await app.state.hub.broker.replay(tenant.id, agent_id, 0)
    frames = [json.loads(message) for _seq, message in entries]
    for frame in frames:  # what the stream's documented schema promises
        if frame["pop"]["type"] == "callback.overdue":
            CallbackOverdueDelivery.model_validate(frame)
    return [frame["pop"] for frame in frames]


async def missed_call(app: FastAPI, tenant: TenantCtx, to: str = LINE) -> None:
    call_id = uuid.uuid4().hex
    for kind in (EventKind.RINGING, EventKind.ENDED):
        event = CallEvent(
            provider="generic", call_id=call_id, kind=kind, from_raw=STRANGER, to_raw=to
        )
        await app.state.webhooks.ingest(tenant.slug, "generic", [event])


async def test_an_overdue_callback_is_escalated_once_to_the_lines_team(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, receiver: EventReceiver
) -> None:
    callers = await seed(app, tenant.id, utcnow())
    assert (await api.put("/v1/providers/generic", json={"secret": "s" * 20})).is_success
    made = await api.post(
        "/v1/subscriptions", json={"url": receiver.url, "event_types": ["callback.overdue"]}
    )
    receiver.secrets.append(made.json()["secret"])
    await missed_call(app, tenant)
    [callback] = (await api.get("/v1/callbacks", params={"number": STRANGER})).json()
    due = datetime.fromisoformat(callback["due_by"])
    assert (callback["overdue"], callback["escalated_at"]) == (False, None)

    # Not yet due: not escalated (the seeded caller's overdue request is, to everyone: it
    # came in on no line).
    early = await escalate_once(
        app.state.sessionmaker, app.state.hub, app.state.routes, now=due - timedelta(seconds=1)
    )
    assert [e.callback_id for e in early if e.tenant_id == tenant.id] != []
    assert [e for e in early if e.callback_id == callback["id"]] == []
    now = utcnow() + LATER
    done = await escalate_once(app.state.sessionmaker, app.state.hub, app.state.routes, now=now)
    [mine] = [e for e in done if e.callback_id == callback["id"]]
    # The line's team (Balie: Sanne and Youssef, the inactive member not), not Piet.
    team = sorted([callers.sanne, callers.youssef])
    assert sorted(mine.agent_ids) == team

    def about(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [f for f in frames if (f.get("callback") or {}).get("id") == callback["id"]]

    for agent_id in team:
        [frame] = about(await agent_frames(app, tenant, agent_id))
        assert (frame["type"], frame["call"]) == ("callback.overdue", None)
        assert frame["callback"]["id"] == callback["id"]
        assert frame["callback"]["line_label"] == "Amersfoort"
        assert frame["callback"]["number_e164"] == STRANGER
    assert about(await agent_frames(app, tenant, callers.piet)) == []

    # Once: a later sweep (this process or another) finds nothing left to escalate.
    again = await escalate_once(
        app.state.sessionmaker, app.state.hub, app.state.routes, now=now + timedelta(hours=1)
    )
    assert [e for e in again if e.tenant_id == tenant.id] == []
    shown = (await api.get(f"/v1/callbacks/{callback['id']}")).json()
    assert datetime.fromisoformat(shown["escalated_at"]) == now

    # The event reaches a real receiver, signed, in the documented shape.
    worker = DeliveryWorker(app.state.sessionmaker, timeout_seconds=2.0, jitter=lambda: 0.0)

    def delivered_ids() -> list[int]:
        return [r.body["data"]["callback"]["id"] for r in receiver.delivered()]

    for _ in range(100):  # the seeded requests' events and ours
        if callback["id"] in delivered_ids():
            break
        await worker.run_once()
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # nothing more may come
    ids = delivered_ids()
    assert len(ids) == len(set(ids)) == 3  # each once: Uitslag, Afspraak (seeded) and ours
    [got] = [r for r in receiver.delivered() if r.body["data"]["callback"]["id"] == callback["id"]]
    assert got.verified_by == receiver.secrets
    assert got.body["type"] == "callback.overdue"
    assert got.body["data"]["callback"]["id"] == callback["id"]
    _envelope("callback.overdue", CALL_EVENTS["callback.overdue"][0]).model_validate(got.body)


async def test_the_overdue_metric_counts_escalated_callbacks_until_kept(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, client: httpx.AsyncClient
) -> None:
    past = (utcnow() - timedelta(hours=2)).isoformat()
    made = await api.post("/v1/callbacks", json={"reason": "x", "number": ADA, "due_by": past})
    await escalate_once(
        app.state.sessionmaker, app.state.hub, app.state.routes, now=utcnow() + LATER
    )
    assert (await api.get(f"/v1/callbacks/{made.json()['id']}")).json()["escalated_at"]

    async def overdue_gauge() -> float:
        text = (await client.get("/metrics")).text
        line = f'stamgast_callbacks_overdue{{tenant="{tenant.slug}"}}'
        [value] = [row.split()[-1] for row in text.splitlines() if row.startswith(line)]
        return float(value)

    assert await overdue_gauge() == 1.0
    path = f"/v1/callbacks/{made.json()['id']}/attempts"
    assert (await api.post(path, json={"outcome": "reached"})).is_success
    assert await overdue_gauge() == 0.0


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_sweeps_racing_on_postgres_escalate_each_request_once(
    app: FastAPI, tenant: TenantCtx
) -> None:
    soon = utcnow() + timedelta(days=1)
    async for session in session_scope(app.state.sessionmaker):
        session.add_all(
            CallbackRequest(tenant_id=tenant.id, number_e164=ADA, reason=f"{n}", due_by=soon)
            for n in range(60)
        )
    now = utcnow() + timedelta(days=2)
    first_claimed = asyncio.Event()

    async def sweep(wait: bool) -> set[int]:
        async with app.state.sessionmaker() as session:
            if not wait:
                await first_claimed.wait()  # the first holds its row locks, uncommitted
            rows = await claim_overdue(session, now=now)
            if wait:
                first_claimed.set()
                await asyncio.sleep(0.3)  # the second's UPDATE is now waiting on our locks
            await session.commit()
            return {row.id for row in rows if row.tenant_id == tenant.id}

    one, two = await asyncio.gather(sweep(True), sweep(False))
    async for session in session_scope(app.state.sessionmaker):
        ids = set(
            await session.scalars(
                select(CallbackRequest.id).where(CallbackRequest.tenant_id == tenant.id)
            )
        )
    assert one == ids and two == set()


async def test_the_periodic_sweep_escalates_without_being_asked(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    due = (utcnow() + timedelta(days=1)).isoformat()
    made = await api.post("/v1/callbacks", json={"reason": "x", "number": ADA, "due_by": due})
    sweeping = asyncio.create_task(
        escalate_forever(
            app.state.sessionmaker,
            app.state.hub,
            app.state.routes,
            interval=0.05,
            clock=lambda: utcnow() + LATER,
        )
    )
    try:
        for _ in range(100):
            shown = (await api.get(f"/v1/callbacks/{made.json()['id']}")).json()
            if shown["escalated_at"]:
                break
            await asyncio.sleep(0.05)
        assert shown["escalated_at"] is not None
    finally:
        sweeping.cancel()
