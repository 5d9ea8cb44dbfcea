"""The stream served by real `python -m uvicorn app.main:app` processes: two of them sharing
one Redis (WebSocket on one, SSE on the other), and SIGTERM saying `bye` before the exit."""

from __future__ import annotations

import asyncio
import json
import signal

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.screen_pop.redis_broker import RedisBroker
from tests.conftest import TenantCtx
from tests.support.broker_helpers import make_pop
from tests.support.live_server import live_server, live_server_process
from tests.support.servers import redis_server
from tests.test_streams import (
    TIMEOUT,
    add_agent,
    assert_silent,
    issue,
    next_event,
    recv,
    sse_events,
    stream_settings,
)


def ws_url(base_url: str) -> str:
    return "ws" + base_url.removeprefix("http")


@pytest.mark.redis
async def test_two_server_processes_share_one_redis(
    app: FastAPI, database_url: str, tenant: TenantCtx
) -> None:
    """WebSocket on process 1, SSE on process 2, the pop from a third: all see seq 1."""
    with (
        redis_server() as redis_url,
        live_server(database_url, redis_url) as first,
        live_server(database_url, redis_url) as second,
    ):
        agent_id = await add_agent(app, tenant.id)
        token = (await issue(first, tenant, agent_id))["token"]
        publisher = RedisBroker(stream_settings(database_url, redis_url))
        await publisher.start()
        try:
            async with (
                connect(f"{ws_url(first)}/v1/stream?token={token}") as ws,
                httpx.AsyncClient(timeout=TIMEOUT) as http,
                http.stream("GET", f"{second}/v1/stream/sse?token={token}") as response,
            ):
                events = sse_events(response)
                await next_event(events)
                sse_hello = await next_event(events)
                assert sse_hello["event"] == "hello"
                epoch = (await recv(ws))["epoch"]
                # One Redis, one life of the sequences: both processes name the same epoch.
                assert json.loads(sse_hello["data"])["epoch"] == epoch
                pop = make_pop(tenant.id)
                await publisher.publish(tenant.id, [agent_id], pop)
                assert (await recv(ws))["pop"]["pop_id"] == pop.pop_id
                sse_pop = await next_event(events)
                assert (sse_pop["id"], json.loads(sse_pop["data"])["pop"]["pop_id"]) == (
                    f"1@{epoch}", pop.pop_id,
                )  # fmt: skip
            await publisher.publish(tenant.id, [agent_id], make_pop(tenant.id))
            # Resuming on the other process replays from the shared log.
            resume = f"token={token}&last_seq=1&epoch={epoch}"
            async with connect(f"{ws_url(second)}/v1/stream?{resume}") as ws:
                assert (await recv(ws))["seq"] == 2  # hello: the agent's last seq
                assert (await recv(ws))["seq"] == 2
                await assert_silent(ws)
        finally:
            await publisher.stop()


async def test_sigterm_says_bye_and_the_process_exits(
    app: FastAPI, database_url: str, tenant: TenantCtx
) -> None:
    with live_server_process(database_url) as (base_url, process):
        agent_id = await add_agent(app, tenant.id)
        token = (await issue(base_url, tenant, agent_id))["token"]
        async with (
            connect(f"{ws_url(base_url)}/v1/stream?token={token}") as ws,
            httpx.AsyncClient(timeout=TIMEOUT) as http,
            http.stream("GET", f"{base_url}/v1/stream/sse?token={token}") as response,
        ):
            events = sse_events(response)
            await next_event(events)
            await next_event(events)
            await recv(ws)
            process.terminate()
            assert (await recv(ws))["type"] == "bye"
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
            assert (await next_event(events))["event"] == "bye"
        # Without the bye, the open SSE response would keep uvicorn waiting forever.
        # (-SIGTERM: uvicorn re-raises the signal once it has shut down gracefully.)
        assert await asyncio.to_thread(process.wait, 10) in (0, -signal.SIGTERM)
