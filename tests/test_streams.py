"""Agent streams over real HTTP: WebSocket and SSE, tokens, replay, isolation, shutdown."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from app.db import session_scope
from app.models import Agent, AgentToken
from app.screen_pop.redis_broker import RedisBroker
from app.screen_pop.router import stream_openapi_components
from app.settings import Settings
from tests.conftest import TenantCtx, make_tenant
from tests.support.broker_helpers import make_pop
from tests.support.live_server import (
    ThreadServer,
    build_app,
    thread_server,
)
from tests.support.servers import redis_server

TIMEOUT = 5.0


def stream_settings(database_url: str, redis_url: str | None = None) -> Settings:
    return Settings(
        database_url=database_url, redis_url=redis_url, replay_window_seconds=60,
        stream_queue_size=64,
    )  # fmt: skip


@pytest.fixture(scope="session")
def server(database_url: str) -> Iterator[ThreadServer]:
    """The app with its hub on a real socket, sharing the test database."""
    with thread_server(stream_settings(database_url)) as running:
        yield running


async def add_agent(app: FastAPI, tenant_id: int, name: str = "Sanne") -> int:
    async for session in session_scope(app.state.sessionmaker):
        agent = Agent(tenant_id=tenant_id, name=name)
        session.add(agent)
        await session.flush()
        agent_id = agent.id
    return agent_id


async def issue(base_url: str, tenant: TenantCtx, agent_id: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, headers=tenant.headers) as http:
        response = await http.post(f"/v1/agents/{agent_id}/tokens", json={"label": "desk 3"})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def agent_token(app: FastAPI, server: ThreadServer, tenant: TenantCtx) -> tuple[int, str]:
    agent_id = await add_agent(app, tenant.id)
    return agent_id, str((await issue(server.base_url, tenant, agent_id))["token"])


async def recv(ws: ClientConnection, seconds: float = TIMEOUT) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), seconds)
    return dict(json.loads(frame))


async def assert_silent(ws: ClientConnection, seconds: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), seconds)


async def until_no_connections(server: ThreadServer, seconds: float = TIMEOUT) -> None:
    deadline = time.monotonic() + seconds
    while server.hub.connections:
        assert time.monotonic() < deadline, f"{server.hub.connections} streams still open"
        await asyncio.sleep(0.02)


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Parse a text/event-stream into dicts of its fields (comments under `comment`)."""
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            event["comment"] = line[1:].strip()
        else:
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")


async def next_event(events: AsyncIterator[dict[str, str]]) -> dict[str, str]:
    return await asyncio.wait_for(anext(events), TIMEOUT)


async def test_websocket_refuses_bad_or_missing_tokens(server: ThreadServer) -> None:
    for query in ("?token=sga_12345678_nope", "", "?token=sg_notanagenttoken"):
        async with connect(f"{server.ws_url}/v1/stream{query}", open_timeout=TIMEOUT) as ws:
            with pytest.raises(ConnectionClosedError) as closed:
                await recv(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
        assert "agent token" in closed.value.rcvd.reason


async def test_sse_refuses_bad_tokens_with_json(server: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as http:
        for kwargs in (
            {"params": {"token": "sga_12345678_nope"}},
            {"headers": {"Authorization": "Bearer sga_12345678_nope"}},
            {},
        ):
            response = await http.get("/v1/stream/sse", **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 401
            body = response.json()
            assert body["code"] == "unauthorized" and "agent token" in body["message"]


async def test_websocket_hello_then_live_pops(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    agent_id, token = await agent_token(app, server, tenant)
    async with connect(f"{server.ws_url}/v1/stream?token={token}") as ws:
        hello = await recv(ws)
        epoch = hello.pop("epoch")
        assert hello == {"type": "hello", "seq": 0, "message": None, "retry_ms": None}
        assert re.fullmatch(r"[0-9a-f]{12}", epoch)
        assert server.hub.connections >= 1
        latencies = []
        for expected in (1, 2, 3):
            pop = make_pop(tenant.id)
            started = time.perf_counter()
            await server.call(server.hub.publish(tenant.id, [agent_id], pop))
            delivery = await recv(ws)
            latencies.append(time.perf_counter() - started)
            assert delivery["seq"] == expected and delivery["pop"]["pop_id"] == pop.pop_id
        print(f"\nwebsocket publish->receive: best {min(latencies) * 1000:.2f} ms")
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}
        await assert_silent(ws)
    await until_no_connections(server)


async def test_websocket_replays_what_it_missed_exactly_once(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    agent_id, token = await agent_token(app, server, tenant)
    publish = server.hub.publish
    async with connect(f"{server.ws_url}/v1/stream?token={token}") as ws:
        await recv(ws)
        await server.call(publish(tenant.id, [agent_id], make_pop(tenant.id)))
        assert (await recv(ws))["seq"] == 1
    missed = [make_pop(tenant.id), make_pop(tenant.id)]
    for pop in missed:
        await server.call(publish(tenant.id, [agent_id], pop))
    async with connect(f"{server.ws_url}/v1/stream?token={token}&last_seq=1") as ws:
        assert (await recv(ws))["type"] == "hello"
        replayed = [await recv(ws), await recv(ws)]
        assert [(d["seq"], d["pop"]["pop_id"]) for d in replayed] == [
            (2, missed[0].pop_id),
            (3, missed[1].pop_id),
        ]
        await assert_silent(ws)
        await server.call(publish(tenant.id, [agent_id], make_pop(tenant.id)))
        assert (await recv(ws))["seq"] == 4
        await assert_silent(ws)


async def test_a_cursor_from_a_previous_server_life_gets_resync(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    agent_id, token = await agent_token(app, server, tenant)
    async with connect(f"{server.ws_url}/v1/stream?token={token}&last_seq=40") as ws:
        assert (await recv(ws))["type"] == "hello"
        resync = await recv(ws)
        assert (resync["type"], resync["seq"]) == ("resync", 0) and resync["message"]
        await server.call(server.hub.publish(tenant.id, [agent_id], make_pop(tenant.id)))
        assert (await recv(ws))["seq"] == 1
    for bad in ("last_seq=x", "last_seq=1&epoch=not-hex"):
        async with connect(f"{server.ws_url}/v1/stream?token={token}&{bad}") as ws:
            with pytest.raises(ConnectionClosedError) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_pops_of_a_new_server_life_are_replayed_to_a_client_of_the_old_one(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    """The server restarted while the widget was away, and rang the agent twice before the
    widget was back: its cursor (40, or 1 of another epoch) belongs to the old life. Both
    pops of the new life are replayed, after hello 0 (the widget's cursor follows) and a
    resync (the widget reloads what the old life took with it)."""
    agent_id, token = await agent_token(app, server, tenant)
    pops = [make_pop(tenant.id) for _ in range(2)]
    for pop in pops:
        await server.call(server.hub.publish(tenant.id, [agent_id], pop))
    for cursor in ("last_seq=40", "last_seq=1&epoch=0123456789ab"):
        async with connect(f"{server.ws_url}/v1/stream?token={token}&{cursor}") as ws:
            hello, resync, first, second = [await recv(ws) for _ in range(4)]
            assert (hello["type"], hello["seq"]) == ("hello", 0)
            assert hello["epoch"] != "0123456789ab"
            assert resync["type"] == "resync" and "GET /v1/me/calls" in resync["message"]
            assert [first["pop"]["pop_id"], second["pop"]["pop_id"]] == [p.pop_id for p in pops]
            assert [first["seq"], second["seq"]] == [1, 2]
            await assert_silent(ws)
    # The same epoch: an ordinary resume, nothing replayed twice, no resync.
    epoch = hello["epoch"]
    async with connect(f"{server.ws_url}/v1/stream?token={token}&last_seq=1&epoch={epoch}") as ws:
        hello, pop = await recv(ws), await recv(ws)
        assert (hello["type"], hello["seq"], pop["seq"]) == ("hello", 2, 2)
        await assert_silent(ws)


async def test_sse_resumes_from_last_event_id(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    agent_id, token = await agent_token(app, server, tenant)
    url = f"{server.base_url}/v1/stream/sse"
    publish = server.hub.publish
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        async with http.stream("GET", url, params={"token": token}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_events(response)
            assert await next_event(events) == {"retry": "3000"}
            hello = await next_event(events)
            epoch = json.loads(hello["data"])["epoch"]
            assert (hello["event"], hello["id"], json.loads(hello["data"])["seq"]) == (
                "hello", f"0@{epoch}", 0,
            )  # fmt: skip
            for _ in range(2):
                await server.call(publish(tenant.id, [agent_id], make_pop(tenant.id)))
            first, second = await next_event(events), await next_event(events)
            assert [(e["event"], e["id"]) for e in (first, second)] == [
                ("pop", f"1@{epoch}"), ("pop", f"2@{epoch}"),
            ]  # fmt: skip
            assert json.loads(second["data"])["seq"] == 2
        await server.call(publish(tenant.id, [agent_id], make_pop(tenant.id)))
        headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": "2"}
        # The header wins over a stale ?last_seq= (EventSource keeps its first URL).
        async with http.stream("GET", url, headers=headers, params={"last_seq": 0}) as response:
            events = sse_events(response)
            await next_event(events)
            assert (await next_event(events))["event"] == "hello"
            third = await next_event(events)
            assert (third["id"], json.loads(third["data"])["seq"]) == (f"3@{epoch}", 3)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(events), 0.3)
        # EventSource's own reconnect sends the id back as it was: same epoch, resume.
        headers["Last-Event-ID"] = f"2@{epoch}"
        async with http.stream("GET", url, headers=headers) as response:
            events = sse_events(response)
            await next_event(events)
            assert (await next_event(events))["event"] == "hello"
            assert (await next_event(events))["id"] == f"3@{epoch}"
        # An id of another epoch: the log started again, so hello 0, resync, all of it.
        headers["Last-Event-ID"] = "2@0123456789ab"
        async with http.stream("GET", url, headers=headers) as response:
            events = sse_events(response)
            await next_event(events)
            names = [(await next_event(events))["event"] for _ in range(5)]
            assert names == ["hello", "resync", "pop", "pop", "pop"]
        bad = await http.get(url, params={"token": token, "epoch": "zz"})
        assert bad.status_code == 422 and "epoch" in bad.json()["message"]
    await until_no_connections(server)  # a client hanging up ends its stream on the server


async def test_agents_only_see_their_own_tenants_pops(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    other = await make_tenant(app)
    ours, our_token = await agent_token(app, server, tenant)
    theirs, their_token = await agent_token(app, server, other)
    async with (
        connect(f"{server.ws_url}/v1/stream?token={our_token}") as our_ws,
        connect(f"{server.ws_url}/v1/stream?token={their_token}") as their_ws,
    ):
        await recv(our_ws)
        await recv(their_ws)
        # Even a pop of our tenant naming their agent's id does not reach them.
        await server.call(server.hub.publish(tenant.id, [ours, theirs], make_pop(tenant.id)))
        assert (await recv(our_ws))["pop"]["tenant_id"] == tenant.id
        await assert_silent(their_ws, 0.5)


async def test_token_issue_and_revoke(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    other = await make_tenant(app)
    agent_id = await add_agent(app, tenant.id)
    foreign_agent = await add_agent(app, other.id)
    issued = await issue(server.base_url, tenant, agent_id)
    assert issued["token"].startswith("sga_") and issued["agent_id"] == agent_id
    assert (
        issued["stream_url"].startswith("ws://") and "/v1/stream?token=sga_" in issued["stream_url"]
    )
    assert "/v1/stream/sse?token=" in issued["sse_url"]
    async for session in session_scope(app.state.sessionmaker):
        row = await session.get(AgentToken, issued["token_id"])
        assert row is not None and row.label == "desk 3"
        assert row.token_hash == hashlib.sha256(issued["token"].encode()).hexdigest()
    async with httpx.AsyncClient(base_url=server.base_url, headers=tenant.headers) as http:
        assert (await http.post(f"/v1/agents/{foreign_agent}/tokens")).status_code == 404
        assert (await http.post("/v1/agents/999999/tokens")).status_code == 404
        path = f"/v1/agents/{agent_id}/tokens/{issued['token_id']}"
        assert (await http.delete(path)).status_code == 204
        assert (await http.delete(path)).status_code == 204  # revoking again is harmless
        assert (await http.delete(f"/v1/agents/{agent_id}/tokens/999999")).status_code == 404
        assert (await http.post(f"/v1/agents/{agent_id}/tokens")).status_code == 201
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.post(f"/v1/agents/{agent_id}/tokens")).status_code == 401
    async with connect(f"{server.ws_url}/v1/stream?token={issued['token']}") as ws:
        with pytest.raises(ConnectionClosedError) as closed:
            await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_inactive_agents_cannot_connect(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    agent_id, token = await agent_token(app, server, tenant)
    async for session in session_scope(app.state.sessionmaker):
        agent = await session.scalar(select(Agent).where(Agent.id == agent_id))
        assert agent is not None
        agent.active = False
    async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as http:
        assert (await http.get("/v1/stream/sse", params={"token": token})).status_code == 401


async def test_shutdown_says_bye_to_websocket_and_sse(
    app: FastAPI, database_url: str, tenant: TenantCtx
) -> None:
    with thread_server(stream_settings(database_url)) as own:
        _agent_id, token = await agent_token(app, own, tenant)
        async with (
            connect(f"{own.ws_url}/v1/stream?token={token}") as ws,
            httpx.AsyncClient(timeout=TIMEOUT) as http,
            http.stream("GET", f"{own.base_url}/v1/stream/sse?token={token}") as response,
        ):
            events = sse_events(response)
            await next_event(events)
            await next_event(events)
            await recv(ws)
            assert own.hub.connections == 2
            own.begin_shutdown()
            bye = await recv(ws)
            assert bye["type"] == "bye" and 1000 <= bye["retry_ms"] <= 5000
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
            sse_bye = await next_event(events)
            assert sse_bye["event"] == "bye" and json.loads(sse_bye["data"])["retry_ms"] >= 1000
            with pytest.raises(StopAsyncIteration):
                await next_event(events)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    assert own.hub.connections == 0 and not own.thread.is_alive()


def test_openapi_documents_the_stream_frames(sqlite_url: str) -> None:
    spec = build_app(stream_settings(sqlite_url)).openapi()
    components = spec["components"]["schemas"]
    for name in ("Delivery", "Pop", "PopCall", "StreamNotice", "Card", "IssuedAgentToken",
                 "CallbackOverdueDelivery"):  # fmt: skip
        assert name in components
    assert set(stream_openapi_components()) <= set(components)
    sse = spec["paths"]["/v1/stream/sse"]["get"]["responses"]
    refs = json.dumps(sse["200"]["content"]["text/event-stream"])
    assert "#/components/schemas/Delivery" in refs and "StreamNotice" in refs
    assert "application/json" in sse["401"]["content"]


@pytest.mark.redis
async def test_pops_published_by_another_process_arrive_through_redis(
    app: FastAPI, database_url: str, tenant: TenantCtx
) -> None:
    """The server's broker and the test's broker are two processes as far as Redis knows."""
    settings = stream_settings(database_url, None)
    with (
        redis_server() as redis_url,
        thread_server(settings.model_copy(update={"redis_url": redis_url})) as own,
    ):
        agent_id, token = await agent_token(app, own, tenant)
        elsewhere = RedisBroker(own.app.state.settings)
        await elsewhere.start()
        try:
            async with connect(f"{own.ws_url}/v1/stream?token={token}") as ws:
                await recv(ws)
                pop = make_pop(tenant.id)
                started = time.perf_counter()
                await elsewhere.publish(tenant.id, [agent_id], pop)
                delivery = await recv(ws)
                elapsed_ms = (time.perf_counter() - started) * 1000
                print(f"\nredis websocket publish->receive: {elapsed_ms:.2f} ms")
                assert (delivery["seq"], delivery["pop"]["pop_id"]) == (1, pop.pop_id)
            await elsewhere.publish(tenant.id, [agent_id], make_pop(tenant.id))
            async with connect(f"{own.ws_url}/v1/stream?token={token}&last_seq=1") as ws:
                await recv(ws)
                assert (await recv(ws))["seq"] == 2
                await assert_silent(ws)
        finally:
            await elsewhere.stop()
