"""The WebSocket fan-out: frames written directly while a client keeps up, a backlog only
for a client that is behind, one task per connection (app/screen_pop/wire.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect

from app.screen_pop import wire
from app.screen_pop.schemas import Pop
from tests.conftest import TenantCtx
from tests.support.broker_helpers import make_pop
from tests.support.live_server import ThreadServer, thread_server
from tests.test_streams import TIMEOUT, agent_token, recv, stream_settings, until_no_connections

SLOW_QUEUE = 16


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[ThreadServer]:
    """A server whose connections queue at most SLOW_QUEUE frames for a client behind."""
    settings = stream_settings(database_url).model_copy(update={"stream_queue_size": SLOW_QUEUE})
    with thread_server(settings) as running:
        yield running


def stats() -> tuple[int, int, int]:
    return wire.STATS.direct, wire.STATS.backlog, wire.STATS.flushers


async def task_count(server: ThreadServer) -> int:
    """How many tasks the server's loop has, not counting the one asking."""

    async def count() -> int:
        return len(asyncio.all_tasks()) - 1

    return await server.call(count())


def big_pop(tenant_id: int, size: int) -> Pop:
    pop = make_pop(tenant_id)
    assert pop.call is not None
    return pop.model_copy(update={"call": pop.call.model_copy(update={"line_label": "x" * size})})


async def test_frames_go_out_directly_while_the_client_keeps_up(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    agent_id, token = await agent_token(app, server, tenant)
    async with connect(f"{server.ws_url}/v1/stream?token={token}") as ws:
        assert (await recv(ws))["type"] == "hello"
        direct, backlog, flushers = stats()
        for expected in range(1, 21):
            await server.call(server.hub.publish(tenant.id, [agent_id], make_pop(tenant.id)))
            assert (await recv(ws))["seq"] == expected
        # Every pop written while publishing: no backlog, no flusher task woken.
        assert stats() == (direct + 20, backlog, flushers)
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}
    await until_no_connections(server)


async def test_pops_published_during_the_opening_wait_then_go_direct(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    agent_id, token = await agent_token(app, server, tenant)
    for _ in range(3):
        await server.call(server.hub.publish(tenant.id, [agent_id], make_pop(tenant.id)))
    async with connect(f"{server.ws_url}/v1/stream?token={token}&last_seq=0") as ws:
        assert (await recv(ws))["type"] == "hello"
        assert [(await recv(ws))["seq"] for _ in range(3)] == [1, 2, 3]  # the replay
        direct, _, flushers = stats()
        await server.call(server.hub.publish(tenant.id, [agent_id], make_pop(tenant.id)))
        assert (await recv(ws))["seq"] == 4
        assert stats()[0] == direct + 1 and stats()[2] == flushers


async def test_one_task_per_websocket_connection(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    tokens = [(await agent_token(app, server, tenant))[1] for _ in range(10)]
    await until_no_connections(server)
    before = await task_count(server)
    sockets = [await connect(f"{server.ws_url}/v1/stream?token={t}") for t in tokens]
    try:
        for ws in sockets:
            assert (await recv(ws))["type"] == "hello"
        await asyncio.sleep(0.2)  # nothing per connection may still be starting
        assert await task_count(server) - before == len(tokens)
    finally:
        for ws in sockets:
            await ws.close()
    await until_no_connections(server)
    deadline = time.monotonic() + TIMEOUT
    while await task_count(server) != before:
        assert time.monotonic() < deadline, "connection tasks outlived their connections"
        await asyncio.sleep(0.05)


def stalled_websocket(server: ThreadServer, token: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads again, with a
    tiny receive buffer so the server's socket backs up after a few frames."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    host, port = server.ws_url.removeprefix("ws://").split(":")
    raw.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        (
            f"GET /v1/stream?token={token} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    raw.settimeout(TIMEOUT)
    head = b""
    while b"\r\n\r\n" not in head:
        head += raw.recv(1)  # byte by byte: not one byte of the frames after it
    assert head.startswith(b"HTTP/1.1 101"), head
    return raw


async def test_a_stalled_client_is_queued_then_overflow_closed_without_delaying_others(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "SEND_TIMEOUT", 1.0)  # how long a stuck send is given
    slow_id, slow_token = await agent_token(app, server, tenant)
    fast_id, fast_token = await agent_token(app, server, tenant)
    await until_no_connections(server)
    stalled = await asyncio.to_thread(stalled_websocket, server, slow_token)
    try:
        async with connect(f"{server.ws_url}/v1/stream?token={fast_token}") as fast:
            assert (await recv(fast))["type"] == "hello"
            deadline = time.monotonic() + TIMEOUT
            while server.hub.connections < 2:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            _, _, flushers = stats()
            slow_stream = next(s for s in server.hub._streams if s.agent_id == slow_id)
            published = 0
            # 32 KiB pops to both agents in one publish each: the stalled socket backs up,
            # its backlog fills and overflows, while the other agent gets every pop at once.
            while slow_stream.end_reason is None:
                assert published < 2000, "the stalled client never backed up"
                pop = big_pop(tenant.id, 32 * 1024)
                await server.call(server.hub.publish(tenant.id, [slow_id, fast_id], pop))
                published += 1
                delivery = await recv(fast, 1.0)
                assert (delivery["seq"], delivery["pop"]["pop_id"]) == (published, pop.pop_id)
            assert slow_stream.end_reason == "overflow"
            assert stats()[2] == flushers + 1  # one flusher, started when it backed up
            assert published > SLOW_QUEUE
            # The stuck send is given up after SEND_TIMEOUT: the connection's task ends.
            deadline = time.monotonic() + TIMEOUT
            while server.hub.connections > 1:
                assert time.monotonic() < deadline, "the stalled connection was never ended"
                await asyncio.sleep(0.05)
            pop = make_pop(tenant.id)
            await server.call(server.hub.publish(tenant.id, [fast_id], pop))
            assert (await recv(fast))["pop"]["pop_id"] == pop.pop_id
    finally:
        stalled.close()
    await until_no_connections(server)
