"""Routing from memory: the cached directory routes as the database does, and a change to
lines, teams, agents or memberships is seen by the next call, in this process at once and
in another one as soon as Redis carries the announcement."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.calls.routing import route_call
from app.calls.routing_cache import load
from app.db import session_scope
from app.main import create_app
from app.models import Agent, Line, Team
from app.settings import Settings
from telephony_adapters.base import CallEvent, EventKind
from tests.conftest import TenantCtx, make_tenant
from tests.support.servers import redis_server

ADA = "+31612345678"
LINE = "+31331234567"
BARE_LINE = "+31201234567"
SECRET = "generic-secret-123"


async def test_the_cached_directory_routes_as_the_database_does(
    app: FastAPI, tenant: TenantCtx
) -> None:
    async for session in session_scope(app.state.sessionmaker):
        front, back, empty = (Team(tenant_id=tenant.id, name=n) for n in ("a", "b", "c"))
        session.add_all([front, back, empty])
        await session.flush()
        session.add_all(
            [
                Line(tenant_id=tenant.id, number_e164=LINE, label="Front", team_id=front.id),
                Line(tenant_id=tenant.id, number_e164=BARE_LINE, label="Bare"),
                Line(tenant_id=tenant.id, number_e164="+31101234567", label="E", team_id=empty.id),
                Agent(tenant_id=tenant.id, name="Zoë", extension="201", teams=[front, back]),
                Agent(tenant_id=tenant.id, name="Ab", extension="202", teams=[front]),
                Agent(
                    tenant_id=tenant.id, name="Gone", extension="203", active=False, teams=[front]
                ),
                Agent(tenant_id=tenant.id, name="Twin", extension="204", teams=[back]),
                Agent(tenant_id=tenant.id, name="Nobody's"),
            ]
        )
    async for session in session_scope(app.state.sessionmaker):
        snapshot = await load(session, tenant.id)
        for called in (LINE, BARE_LINE, "+31101234567", "+31999999999", None):
            for extension in (None, "", "201", "202", "203", "204", "299"):
                from_db = await route_call(
                    session, tenant_id=tenant.id, called_key=called, extension=extension
                )
                assert snapshot.route(called, extension) == from_db, (called, extension)


def _ringing(to: str = LINE) -> CallEvent:
    return CallEvent(
        provider="generic", call_id=uuid.uuid4().hex, kind=EventKind.RINGING, from_raw=ADA,
        to_raw=to,
    )  # fmt: skip


async def _popped(app: FastAPI, tenant_id: int, agent_ids: list[int]) -> list[int]:
    """Ring once (through `app`); the agents among `agent_ids` it popped for."""
    before = {a: await app.state.hub.broker.last_seq(tenant_id, a) for a in agent_ids}
    slug = await _slug(app, tenant_id)
    await app.state.webhooks.ingest(slug, "generic", [_ringing()])
    return [a for a in agent_ids if await app.state.hub.broker.last_seq(tenant_id, a) > before[a]]


async def _slug(app: FastAPI, tenant_id: int) -> str:
    from app.models import Tenant

    async for session in session_scope(app.state.sessionmaker):
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant.slug
    raise AssertionError("no session")


async def _directory(admin: httpx.AsyncClient) -> tuple[int, int, int]:
    """A line answered by a team with one agent; (line, team, agent) ids."""
    assert (await admin.put("/v1/providers/generic", json={"secret": SECRET})).is_success
    team = (await admin.post("/v1/teams", json={"name": "Balie"})).json()["id"]
    line = await admin.post("/v1/lines", json={"number": LINE, "label": "Main", "team_id": team})
    sanne = await admin.post("/v1/agents", json={"name": "Sanne", "team_ids": [team]})
    return line.json()["id"], team, sanne.json()["id"]


async def test_a_directory_change_is_seen_by_the_next_call(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    line, team, sanne = await _directory(api)
    piet = (await api.post("/v1/agents", json={"name": "Piet"})).json()["id"]
    both = [sanne, piet]
    assert await _popped(app, tenant.id, both) == [sanne]
    assert app.state.routes.cached(tenant.id) is not None  # the next call reads no routing

    # A membership: Piet joins the team.
    assert (await api.patch(f"/v1/agents/{piet}", json={"team_ids": [team]})).is_success
    assert await _popped(app, tenant.id, both) == [sanne, piet]
    # An agent made inactive.
    assert (await api.patch(f"/v1/agents/{sanne}", json={"active": False})).is_success
    assert await _popped(app, tenant.id, both) == [piet]
    # A new agent in the team.
    new = await api.post("/v1/agents", json={"name": "Noor", "team_ids": [team]})
    noor = new.json()["id"]
    assert await _popped(app, tenant.id, [*both, noor]) == [piet, noor]
    # The line loses its team: every active agent.
    assert (await api.patch(f"/v1/lines/{line}", json={"team_id": None})).is_success
    assert (await api.patch(f"/v1/agents/{piet}", json={"team_ids": []})).is_success
    assert await _popped(app, tenant.id, [*both, noor]) == [piet, noor]
    # A team deleted with its line's calls going to its members before.
    assert (await api.patch(f"/v1/lines/{line}", json={"team_id": team})).is_success
    assert await _popped(app, tenant.id, [*both, noor]) == [noor]
    assert (await api.delete(f"/v1/teams/{team}")).status_code == 204
    assert await _popped(app, tenant.id, [*both, noor]) == [piet, noor]
    # An agent deleted; a line deleted (the call then reaches everyone as well).
    assert (await api.delete(f"/v1/agents/{noor}")).status_code == 204
    assert await _popped(app, tenant.id, [*both, noor]) == [piet]
    new_team = (await api.post("/v1/teams", json={"name": "Avond"})).json()["id"]
    assert (await api.patch(f"/v1/lines/{line}", json={"team_id": new_team})).is_success
    assert await _popped(app, tenant.id, [*both, noor]) == []  # a team with nobody in it
    assert (await api.delete(f"/v1/lines/{line}")).status_code == 204
    assert await _popped(app, tenant.id, [*both, noor]) == [piet]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
async def pair(database_url: str, redis_url: str) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two instances of the app on one database and one Redis, as two processes."""
    settings = Settings(database_url=database_url, redis_url=redis_url)
    first, second = create_app(settings), create_app(settings)
    async with (
        first.router.lifespan_context(first),
        second.router.lifespan_context(second),
    ):
        yield first, second


@pytest.mark.redis
async def test_a_change_in_one_process_reaches_the_other_through_redis(
    pair: tuple[FastAPI, FastAPI],
) -> None:
    first, second = pair
    tenant = await make_tenant(first)
    transport = httpx.ASGITransport(app=first)
    headers: dict[str, Any] = tenant.headers
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as admin:
        _line, team, sanne = await _directory(admin)
        piet = (await admin.post("/v1/agents", json={"name": "Piet"})).json()["id"]
        assert await _popped(second, tenant.id, [sanne, piet]) == [sanne]
        assert second.state.routes.cached(tenant.id) is not None
        assert (await admin.patch(f"/v1/agents/{piet}", json={"team_ids": [team]})).is_success
        deadline = time.monotonic() + 3.0
        while second.state.routes.cached(tenant.id) is not None:
            assert time.monotonic() < deadline, "the other process still routes from memory"
            await asyncio.sleep(0.01)
        assert await _popped(second, tenant.id, [sanne, piet]) == [sanne, piet]
