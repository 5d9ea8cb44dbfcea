"""Revoking an agent token (or deactivating the agent) ends the streams open with it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from app.db import session_scope
from app.models import Agent, AgentToken, utcnow
from tests.conftest import TenantCtx
from tests.support.live_server import ThreadServer, thread_server
from tests.test_streams import (
    TIMEOUT,
    agent_token,
    assert_silent,
    next_event,
    recv,
    sse_events,
    stream_settings,
    until_no_connections,
)


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[ThreadServer]:
    """The app with its hub on a real socket, sharing the test database."""
    with thread_server(stream_settings(database_url)) as running:
        yield running


async def test_revoking_a_token_ends_its_open_streams_at_once(
    app: FastAPI, server: ThreadServer, tenant: TenantCtx
) -> None:
    agent_id, token = await agent_token(app, server, tenant)
    _, other_token = await agent_token(app, server, tenant)
    token_id = await _token_id(app, token)
    async with (
        connect(f"{server.ws_url}/v1/stream?token={token}") as ws,
        connect(f"{server.ws_url}/v1/stream?token={other_token}") as bystander,
        httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as http,
        http.stream("GET", "/v1/stream/sse", params={"token": token}) as sse,
    ):
        assert (await recv(ws))["type"] == "hello"
        assert (await recv(bystander))["type"] == "hello"
        events = sse_events(sse)
        assert (await next_event(events)) == {"retry": "3000"}
        assert (await next_event(events))["event"] == "hello"
        revoked = await http.delete(
            f"/v1/agents/{agent_id}/tokens/{token_id}", headers=tenant.headers
        )
        assert revoked.status_code == 204
        with pytest.raises(ConnectionClosedError) as closed:
            await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert "revoked" in closed.value.rcvd.reason
        with pytest.raises(StopAsyncIteration):
            await next_event(events)
        await assert_silent(bystander)  # another agent's stream goes on
        assert (await http.get("/v1/stream/sse", params={"token": token})).status_code == 401


async def test_a_token_revoked_by_another_process_ends_streams_within_the_recheck(
    app: FastAPI, database_url: str, tenant: TenantCtx
) -> None:
    settings = stream_settings(database_url).model_copy(
        update={"stream_token_recheck_seconds": 0.2}
    )
    with thread_server(settings) as other:
        _, token = await agent_token(app, other, tenant)
        async with connect(f"{other.ws_url}/v1/stream?token={token}") as ws:
            assert (await recv(ws))["type"] == "hello"
            await assert_silent(ws, 0.5)  # rechecks of a valid token change nothing
            # As another process would: straight in the database, this hub is not told.
            async for session in session_scope(app.state.sessionmaker):
                row = await session.get(AgentToken, await _token_id(app, token))
                assert row is not None
                row.revoked_at = utcnow()
            with pytest.raises(ConnectionClosedError) as closed:
                await recv(ws, 3.0)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        await until_no_connections(other)


async def test_one_recheck_ends_every_stream_of_an_agent_made_inactive_and_no_other(
    app: FastAPI, database_url: str, tenant: TenantCtx
) -> None:
    settings = stream_settings(database_url).model_copy(
        update={"stream_token_recheck_seconds": 0.2}
    )
    with thread_server(settings) as other:
        agent_id, token = await agent_token(app, other, tenant)
        _, other_token = await agent_token(app, other, tenant)
        async with (
            connect(f"{other.ws_url}/v1/stream?token={token}") as ws,
            connect(f"{other.ws_url}/v1/stream?token={other_token}") as bystander,
            httpx.AsyncClient(base_url=other.base_url, timeout=TIMEOUT) as http,
            http.stream("GET", "/v1/stream/sse", params={"token": token}) as sse,
        ):
            assert (await recv(ws))["type"] == "hello"
            assert (await recv(bystander))["type"] == "hello"
            events = sse_events(sse)
            assert (await next_event(events)) == {"retry": "3000"}
            assert (await next_event(events))["event"] == "hello"
            async for session in session_scope(app.state.sessionmaker):
                agent = await session.get(Agent, agent_id)
                assert agent is not None
                agent.active = False
            with pytest.raises(ConnectionClosedError) as closed:
                await recv(ws, 3.0)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            with pytest.raises(StopAsyncIteration):
                await next_event(events)
            await assert_silent(bystander, 0.6)  # several rechecks: it stays open
        await until_no_connections(other)


async def _token_id(app: FastAPI, token: str) -> int:
    prefix = token.split("_")[1]
    async for session in session_scope(app.state.sessionmaker):
        found = await session.scalar(select(AgentToken.id).where(AgentToken.prefix == prefix))
    assert found is not None
    return int(found)
