"""What the AMI, ARI and ESL connector tests share: the tenant's people, waiting, expectations.

Every recording holds the same two calls: Ada de Vries (+31612345678, a known contact)
answered by Sanne Visser on extension 201, and an unknown caller (020 123 4567) who gives
up while the phone rings. The outcome in the database and the pops are the same whichever
protocol carried them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.connectors.base import Connector
from app.connectors.config import ConnectorSettings
from app.connectors.lifespan import start_connectors, stop_connectors
from app.db import session_scope
from app.models import Agent, Call, CallbackRequest, Contact, ContactNumber, Interaction
from tests.conftest import TenantCtx

DEADLINE = 10.0
ADA = "+31612345678"


@dataclass(frozen=True)
class People:
    """The test tenant's contact and agents."""

    ada: int
    sanne: int  # extension 201
    youssef: int  # extension 202


async def seed(app: FastAPI, tenant: TenantCtx) -> People:
    """Ada as a contact; Sanne (201) and Youssef (202) as agents."""
    async for session in session_scope(app.state.sessionmaker):
        ada = Contact(tenant_id=tenant.id, display_name="Ada de Vries")
        sanne = Agent(tenant_id=tenant.id, name="Sanne Visser", extension="201")
        youssef = Agent(tenant_id=tenant.id, name="Youssef El Amrani", extension="202")
        session.add_all([ada, sanne, youssef])
        await session.flush()
        session.add(ContactNumber(tenant_id=tenant.id, contact_id=ada.id, e164=ADA, raw=ADA))
        people = People(ada=ada.id, sanne=sanne.id, youssef=youssef.id)
    return people


async def connect_provider(api: httpx.AsyncClient, provider: str) -> None:
    """Connect the provider for the tenant (the stream is authenticated: the secret is unused)."""
    response = await api.put(f"/v1/providers/{provider}", json={"secret": "not-used-by-streams"})
    assert response.status_code == 200, response.text


def quick_settings(**values: Any) -> ConnectorSettings:
    """Connector settings with short test timings, ignoring the environment's .env file."""
    timings: dict[str, Any] = {
        "connector_backoff_initial_seconds": 0.05,
        "connector_backoff_max_seconds": 0.2,
        "connector_connect_timeout_seconds": 2.0,
        "connector_idle_seconds": 5.0,
    }
    return ConnectorSettings(_env_file=None, **{**timings, **values})


@asynccontextmanager
async def running(app: FastAPI, settings: ConnectorSettings) -> AsyncIterator[list[Connector]]:
    """The app's connectors for these settings, stopped (and app.state restored) after."""
    before = getattr(app.state, "connectors", [])
    connectors = await start_connectors(app, settings)
    try:
        yield connectors
    finally:
        await asyncio.wait_for(stop_connectors(connectors), DEADLINE)
        app.state.connectors = before


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` until true; fail after DEADLINE seconds."""

    async def poll() -> None:
        # Database rows and counters have no event to wait on: polling is the honest way.
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), DEADLINE)
    except TimeoutError:
        raise AssertionError(f"not within {DEADLINE}s: {what}") from None


async def rows(app: FastAPI, model: Any, tenant: TenantCtx) -> list[Any]:
    """The tenant's rows of a model, oldest first."""
    found: list[Any] = []
    async for session in session_scope(app.state.sessionmaker):
        query = select(model).where(model.tenant_id == tenant.id).order_by(model.id)
        found = list(await session.scalars(query))
    return found


async def pops_for(app: FastAPI, tenant: TenantCtx, agent_id: int) -> list[dict[str, Any]]:
    """The pops an agent received, from the broker's replay log."""
    entries, _complete = await app.state.hub.broker.replay(tenant.id, agent_id, 0)
    return [json.loads(message)["pop"] for _seq, message in entries]


async def both_calls_finished(app: FastAPI, tenant: TenantCtx) -> bool:
    """True once both recorded calls are over in the database."""
    calls = await rows(app, Call, tenant)
    return len(calls) == 2 and all(call.ended_at is not None for call in calls)


async def assert_answered_and_missed(
    app: FastAPI,
    tenant: TenantCtx,
    people: People,
    *,
    provider: str,
    answered_id: str,
    missed_id: str,
    missed_rang: set[int],
) -> None:
    """The database and the pops after the two recorded calls."""
    calls = {call.provider_call_id: call for call in await rows(app, Call, tenant)}
    assert set(calls) == {answered_id, missed_id}
    answered, missed = calls[answered_id], calls[missed_id]
    assert all(call.provider == provider for call in calls.values())
    assert (answered.state, answered.contact_id, answered.match) == ("ended", people.ada, "known")
    assert answered.from_e164 == ADA and answered.to_e164 == "+31331234567"
    assert (answered.answered_by_agent_id, answered.answered_by) == (people.sanne, "Sanne Visser")
    assert answered.ringing_extension == "201"
    assert (missed.state, missed.contact_id, missed.answered_at) == ("missed", None, None)
    assert missed.from_e164 == "+31201234567"

    interactions = {i.call_id: i for i in await rows(app, Interaction, tenant)}
    assert interactions[answered.id].outcome == "answered"
    assert interactions[answered.id].contact_id == people.ada
    assert interactions[answered.id].agent_id == people.sanne
    assert interactions[missed.id].outcome == "missed"
    [callback] = await rows(app, CallbackRequest, tenant)
    assert (callback.number_e164, callback.call_id, callback.status) == (
        "+31201234567",
        missed.id,
        "open",
    )

    for agent in (people.sanne, people.youssef):
        pops = await pops_for(app, tenant, agent)
        of_answered = [p["type"] for p in pops if p["call"]["provider_call_id"] == answered_id]
        of_missed = [p["type"] for p in pops if p["call"]["provider_call_id"] == missed_id]
        if agent == people.sanne:
            assert of_answered == ["call.ringing", "call.answered", "call.ended"]
            ringing = next(p for p in pops if p["type"] == "call.ringing")
            assert ringing["card"]["display_name"] == "Ada de Vries"
        else:
            assert of_answered == []
        assert of_missed == (["call.ringing", "call.missed"] if agent in missed_rang else [])
