"""The same promises, checked for every adapter in the registry, through the real endpoint.

Each vendor's deliveries come from `tests/adapters/cases_<provider>.py`, signed with the
vendor's own SDK where one exists.
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.db import session_scope
from app.models import Agent, Call, Contact, ContactNumber, utcnow
from telephony_adapters.base import AdapterRequest
from telephony_adapters.registry import ADAPTERS
from tests.conftest import TenantCtx
from tests.support.adapter_cases import Signing, VendorCase

PROVIDERS = sorted(ADAPTERS)


def case_for(provider: str) -> VendorCase:
    module = importlib.import_module(f"tests.adapters.cases_{provider}")
    case: VendorCase = module.CASE
    assert case.provider == provider
    return case


def test_every_registered_adapter_has_a_case() -> None:
    for provider in PROVIDERS:
        case_for(provider)


async def _setup(app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, case: VendorCase) -> int:
    config = case.config
    body: dict[str, Any] = {"secret": config.secret, "options": dict(config.options)}
    if config.events is not None:
        body["events"] = sorted(str(e) for e in config.events)
    response = await api.put(f"/v1/providers/{case.provider}", json=body)
    assert response.status_code == 200, response.text
    agent_id = 0
    async for session in session_scope(app.state.sessionmaker):
        ada = Contact(tenant_id=tenant.id, display_name="Ada de Vries")
        agent = Agent(tenant_id=tenant.id, name="Sanne Visser", extension="201")
        session.add_all([ada, agent])
        await session.flush()
        session.add(
            ContactNumber(tenant_id=tenant.id, contact_id=ada.id, e164="+31612345678", raw="06")
        )
        agent_id = agent.id
    return agent_id


async def _send(client: httpx.AsyncClient, request: AdapterRequest) -> httpx.Response:
    return await client.request(
        request.method, request.url, headers=dict(request.headers), content=request.body
    )


def _url(case: VendorCase, tenant: TenantCtx) -> str:
    return f"http://testserver/webhooks/{case.provider}/{tenant.slug}"


async def _pops(app: FastAPI, tenant: TenantCtx, agent_id: int) -> list[tuple[int, bytes]]:
    entries, _complete = await app.state.hub.broker.replay(tenant.id, agent_id, 0)
    return list(entries)


async def _calls(app: FastAPI, tenant: TenantCtx) -> list[Call]:
    found: list[Call] = []
    async for session in session_scope(app.state.sessionmaker):
        found = list(await session.scalars(select(Call).where(Call.tenant_id == tenant.id)))
    return found


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_signatures_are_checked(
    provider: str,
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
) -> None:
    case = case_for(provider)
    agent_id = await _setup(app, api, tenant, case)
    url = _url(case, tenant)
    call_id = f"contract-{uuid.uuid4().hex[:12]}"
    refused = {
        "wrong key": case.request("ringing", call_id, url, Signing(key="not-the-right-key-0")),
        "missing signature": case.request("ringing", call_id, url, Signing(unsigned=True)),
        "altered body": case.tampered(case.request("ringing", call_id, url)),
    }
    if case.has_timestamp:
        refused["stale timestamp"] = case.request("ringing", call_id, url, Signing(stale=True))
    for what, request in refused.items():
        response = await _send(client, request)
        assert response.status_code == 401, f"{provider}: {what} answered {response.status_code}"
        assert response.json()["message"], what
    assert await _pops(app, tenant, agent_id) == []

    accepted = await _send(client, case.request("ringing", call_id, url))
    assert accepted.is_success, accepted.text
    assert len(await _pops(app, tenant, agent_id)) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_duplicates_ignored_events_and_disorder(
    provider: str,
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
) -> None:
    case = case_for(provider)
    agent_id = await _setup(app, api, tenant, case)
    url = _url(case, tenant)

    ignored = await _send(client, case.request("ignored", f"ign-{uuid.uuid4().hex[:8]}", url))
    assert ignored.is_success, ignored.text
    assert await _pops(app, tenant, agent_id) == []

    ringing = case.request("ringing", f"dup-{uuid.uuid4().hex[:8]}", url)
    first, second = await _send(client, ringing), await _send(client, ringing)
    assert first.is_success and second.is_success
    assert len(await _pops(app, tenant, agent_id)) == 1, "a retried delivery popped twice"

    late = f"ooo-{uuid.uuid4().hex[:8]}"
    for scenario in ("answered", "ringing", "ended"):
        response = await _send(client, case.request(scenario, late, url))  # type: ignore[arg-type]
        assert response.is_success, f"{provider} {scenario}: {response.text}"
    states = {c.provider_call_id: c.state for c in await _calls(app, tenant)}
    matching = [state for call_id, state in states.items() if late in call_id]
    assert matching and matching[0] in ("ended", "answered"), states


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_event_says_how_its_vendor_writes_numbers(provider: str) -> None:
    case, adapter = case_for(provider), ADAPTERS[provider]
    url = f"http://testserver/webhooks/{provider}/t"
    for scenario in ("ringing", "answered", "ended"):
        request = case.request(scenario, uuid.uuid4().hex, url)
        events = adapter.parse(request, case.config, now=utcnow())
        assert events, scenario
        assert {event.number_style for event in events} == {adapter.number_style}, scenario
