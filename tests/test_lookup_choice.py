"""Remembering an agent's pick among a shared number's contacts is a write, for one's own agent."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.auth.keys import Scope, issue_key
from app.db import session_scope
from app.models import Agent, NumberChoice
from app.screen_pop.tokens import issue_agent_token
from tests.conftest import TenantCtx, make_tenant
from tests.test_recognition import add_contact

NUMBER = "+31334567890"


async def _key(app: FastAPI, tenant: TenantCtx, scope: Scope) -> dict[str, str]:
    async for session in session_scope(app.state.sessionmaker):
        _row, key = await issue_key(session, tenant_id=tenant.id, name=scope.value, scopes=[scope])
    return {"Authorization": f"Bearer {key}"}


async def _agent(app: FastAPI, tenant: TenantCtx, name: str) -> tuple[int, dict[str, str]]:
    async for session in session_scope(app.state.sessionmaker):
        agent = Agent(tenant_id=tenant.id, name=name)
        session.add(agent)
        await session.flush()
        _row, token = await issue_agent_token(
            session, tenant_id=tenant.id, agent_id=agent.id, label=None
        )
        agent_id = agent.id
    return agent_id, {"Authorization": f"Bearer {token}"}


async def _stored(app: FastAPI, tenant: TenantCtx) -> tuple[int, int | None] | None:
    async for session in session_scope(app.state.sessionmaker):
        row = await session.scalar(select(NumberChoice).where(NumberChoice.tenant_id == tenant.id))
        stored = None if row is None else (row.contact_id, row.agent_id)
    return stored


async def test_choice_needs_a_write_credential_and_an_agent_of_the_caller(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    piet = await add_contact(app, tenant, "Piet Bakker", NUMBER)
    await add_contact(app, tenant, "Els Bakker", NUMBER)
    sanne, sanne_token = await _agent(app, tenant, "Sanne")
    ruud, _ = await _agent(app, tenant, "Ruud")
    stranger, _ = await _agent(app, await make_tenant(app), "Elders")
    choice = {"number": NUMBER, "contact_id": piet}

    reader = await _key(app, tenant, Scope.LOOKUP_READ)
    refused = await client.post("/v1/lookup/choice", json=choice, headers=reader)
    assert refused.status_code == 403, refused.text
    assert "contacts:write" in refused.json()["message"]

    writer = await _key(app, tenant, Scope.CONTACTS_WRITE)
    foreign = await client.post(
        "/v1/lookup/choice", json={**choice, "agent_id": stranger}, headers=writer
    )
    assert foreign.status_code == 422, foreign.text
    assert foreign.json()["message"] == f"agent_id {stranger} does not exist in this tenant."

    impersonated = await client.post(
        "/v1/lookup/choice", json={**choice, "agent_id": ruud}, headers=sanne_token
    )
    assert impersonated.status_code == 403, impersonated.text
    assert f"send agent_id {sanne}" in impersonated.json()["message"]
    assert await _stored(app, tenant) is None  # nothing refused was stored

    own = await client.post("/v1/lookup/choice", json=choice, headers=sanne_token)
    assert own.status_code == 204, own.text
    assert await _stored(app, tenant) == (piet, sanne)  # the widget's own agent

    named = await client.post(
        "/v1/lookup/choice", json={**choice, "agent_id": ruud}, headers=writer
    )
    assert named.status_code == 204, named.text
    assert await _stored(app, tenant) == (piet, ruud)
