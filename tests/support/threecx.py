"""Shared by the 3CX tests: an app with the 3CX routes, people to recognise, requests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.db import session_scope
from app.integrations.threecx import router
from app.integrations.threecx.router import router as threecx_router
from app.main import create_app
from app.models import Agent, Contact, ContactNumber
from app.settings import Settings
from tests.conftest import TenantCtx

SECRET = "threecx-secret-0123456789"
ADA = "+31612345678"
HOUSEHOLD = "+31331234567"
RANG_AT = datetime(2026, 3, 2, 9, 30, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    """The application with the 3CX routes, whether or not app.main includes them yet."""
    application = create_app(Settings(database_url=database_url))
    if not any(getattr(r, "path", "").startswith("/integrations/3cx/") for r in application.routes):
        application.include_router(threecx_router)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def rang_at(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Lookups happen at a fixed moment, so a test never straddles a minute."""
    monkeypatch.setattr(router, "utcnow", lambda: RANG_AT)
    return RANG_AT


def headers(secret: str = SECRET) -> dict[str, str]:
    return {"X-Stamgast-Secret": secret}


async def connect(api: httpx.AsyncClient, **extra: Any) -> None:
    response = await api.put("/v1/providers/threecx", json={"secret": SECRET, **extra})
    assert response.status_code == 200, response.text


async def add_people(app: FastAPI, tenant: TenantCtx) -> dict[str, int]:
    """Ada (mobile, work line, e-mail), the Jansens sharing a landline, agent Sanne at 201."""
    ids: dict[str, int] = {}
    async for session in session_scope(app.state.sessionmaker):
        ada = Contact(
            tenant_id=tenant.id,
            display_name="Ada de Vries",
            organisation="Zorggroep Eemland",
            references={"email": "ada@example.org"},
        )
        piet = Contact(tenant_id=tenant.id, display_name="Jansen, Piet")
        els = Contact(tenant_id=tenant.id, display_name="Els Jansen")
        sanne = Agent(tenant_id=tenant.id, name="Sanne Visser", extension="201")
        session.add_all([ada, piet, els, sanne])
        await session.flush()
        session.add_all(
            [
                ContactNumber(
                    tenant_id=tenant.id,
                    contact_id=ada.id,
                    e164="+31201234567",
                    raw="020",
                    kind="work",
                ),
                ContactNumber(tenant_id=tenant.id, contact_id=ada.id, e164=ADA, raw="06"),
                ContactNumber(
                    tenant_id=tenant.id,
                    contact_id=piet.id,
                    e164=HOUSEHOLD,
                    raw="033",
                    kind="landline",
                ),
                ContactNumber(
                    tenant_id=tenant.id,
                    contact_id=els.id,
                    e164=HOUSEHOLD,
                    raw="033",
                    kind="landline",
                ),
            ]
        )
        ids = {"ada": ada.id, "piet": piet.id, "els": els.id, "sanne": sanne.id}
    return ids


async def rows(app: FastAPI, model: Any, tenant: TenantCtx) -> list[Any]:
    found: list[Any] = []
    async for session in session_scope(app.state.sessionmaker):
        query = select(model).where(model.tenant_id == tenant.id).order_by(model.id)
        found = list(await session.scalars(query))
    return found


async def pops_for(app: FastAPI, tenant: TenantCtx, agent_id: int) -> list[dict[str, Any]]:
    entries, _complete = await app.state.hub.broker.replay(tenant.id, agent_id, 0)
    return [json.loads(message)["pop"] for _seq, message in entries]


async def lookup(
    client: httpx.AsyncClient, tenant: TenantCtx, number: str, secret: str = SECRET
) -> httpx.Response:
    return await client.get(
        f"/integrations/3cx/{tenant.slug}/lookup",
        params={"number": number},
        headers=headers(secret),
    )


def report(number: str, call_type: str, start: datetime, **extra: Any) -> dict[str, Any]:
    """A call report as the Stamgast template has 3CX send it."""
    body = {
        "Number": number,
        "CallType": call_type,
        "Agent": "201",
        "Duration": "00:03:10",
        "DateTime": start.strftime("%d-%m-%Y %H:%M:%S"),
        "CallStartTimeUTC": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "CallEndTimeUTC": (start + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    body.update(extra)
    return body


async def post_report(
    client: httpx.AsyncClient, tenant: TenantCtx, body: dict[str, Any], *, form: bool = False
) -> httpx.Response:
    url = f"/integrations/3cx/{tenant.slug}/journal"
    if form:
        return await client.post(url, data=body, headers=headers())
    return await client.post(url, json=body, headers=headers())
