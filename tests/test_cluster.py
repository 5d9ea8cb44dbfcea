"""Two real app processes on PostgreSQL and Redis, as in production behind a load balancer.

The webhook reaches one process, the agent is connected to the other: the pop crosses
through Redis. Killing a process leaves the other serving: its agents reconnect there and
miss nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from app.db import session_scope
from app.models import Agent, Contact, ContactNumber
from telephony_adapters.generic import sign_generic
from tests.conftest import TenantCtx
from tests.support.live_server import live_server, live_server_process
from tests.support.servers import redis_server

SECRET = "cluster-generic-secret"
TIMEOUT = 5.0


async def _recv_pop(ws: ClientConnection) -> dict[str, Any]:
    """The next pop on a stream, skipping notices."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if "pop" in frame:
            return dict(frame)


async def _ring(base_url: str, tenant: TenantCtx, call_id: str) -> None:
    body = json.dumps(
        {"call_id": call_id, "event": "ringing", "from": "0612345678", "to": "+31331234567"}
    ).encode()
    headers = sign_generic(SECRET, body, int(time.time()))
    headers["Content-Type"] = "application/json"
    async with httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT) as http:
        response = await http.post(
            f"/webhooks/generic/{tenant.slug}", content=body, headers=headers
        )
    assert response.status_code == 200, response.text


@pytest.mark.redis
@pytest.mark.postgres
# The production topology runs on PostgreSQL only; SQLite is one process (its own tests).
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_pop_crosses_processes_and_survives_one_dying(
    app: FastAPI, database_url: str, tenant: TenantCtx, api: httpx.AsyncClient
) -> None:
    assert database_url.startswith("postgresql")
    async for session in session_scope(app.state.sessionmaker):
        ada = Contact(tenant_id=tenant.id, display_name="Ada de Vries")
        agent = Agent(tenant_id=tenant.id, name="Sanne Visser", extension="201")
        session.add_all([ada, agent])
        await session.flush()
        session.add(
            ContactNumber(tenant_id=tenant.id, contact_id=ada.id, e164="+31612345678", raw="06")
        )
        agent_id = agent.id
    assert (await api.put("/v1/providers/generic", json={"secret": SECRET})).status_code == 200

    with (
        redis_server() as redis_url,
        live_server_process(database_url, redis_url) as (first, first_process),
        live_server(database_url, redis_url) as second,
    ):
        async with httpx.AsyncClient(base_url=first, headers=tenant.headers) as http:
            issued = await http.post(f"/v1/agents/{agent_id}/tokens", json={})
        assert issued.status_code == 201, issued.text
        token = issued.json()["token"]
        ws_first = first.replace("http://", "ws://")
        ws_second = second.replace("http://", "ws://")

        async with connect(f"{ws_first}/v1/stream?token={token}") as ws:
            await _ring(second, tenant, f"cluster-{uuid.uuid4().hex[:8]}")
            crossed = await _recv_pop(ws)
        assert crossed["pop"]["card"]["display_name"] == "Ada de Vries"
        last_seq = crossed["seq"]

        first_process.kill()  # no goodbye: a crash, not a deploy
        first_process.wait(timeout=10)

        # While the agent is away, a call rings through the surviving process.
        await _ring(second, tenant, f"cluster-{uuid.uuid4().hex[:8]}")
        async with connect(f"{ws_second}/v1/stream?token={token}&last_seq={last_seq}") as ws:
            replayed = await _recv_pop(ws)
            assert replayed["seq"] == last_seq + 1
            await _ring(second, tenant, f"cluster-{uuid.uuid4().hex[:8]}")
            live = await _recv_pop(ws)
            assert live["seq"] == last_seq + 2
            assert live["pop"]["card"]["display_name"] == "Ada de Vries"
