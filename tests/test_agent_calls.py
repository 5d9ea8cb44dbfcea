"""GET /v1/me/calls: after `resync` the widget reloads the calls it should show, rebuilt
from the database: open calls that ring (or rang) the agent, and those finished in the
last minutes, each as the pop of its current state with a fresh card."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.db import session_scope
from app.models import Agent, AuditEvent, Line, Team, utcnow
from app.screen_pop.schemas import Pop
from telephony_adapters.base import EventKind
from tests.conftest import TenantCtx
from tests.test_call_lifecycle import deliver, event, setup

OTHER_LINE = "+31201234567"  # the front desk's line: its team does not include Sanne


async def _agents(app: FastAPI, tenant: TenantCtx) -> tuple[int, int]:
    async for session in session_scope(app.state.sessionmaker):
        sanne = await session.scalar(
            select(Agent).where(Agent.tenant_id == tenant.id, Agent.extension == "201")
        )
        bob = Agent(tenant_id=tenant.id, name="Bob Balie", extension="301")
        desk = Team(tenant_id=tenant.id, name="Balie")
        desk.agents = [bob]
        session.add_all([bob, desk])
        await session.flush()
        session.add(
            Line(tenant_id=tenant.id, number_e164=OTHER_LINE, label="Balie", team_id=desk.id)
        )
        assert sanne is not None
        ids = sanne.id, bob.id
    return ids  # after the loop: session_scope commits when it ends


async def _token(api: httpx.AsyncClient, agent_id: int) -> dict[str, str]:
    issued = await api.post(f"/v1/agents/{agent_id}/tokens", json={"label": "desk"})
    assert issued.status_code == 201, issued.text
    return {"Authorization": f"Bearer {issued.json()['token']}"}


async def test_an_agent_reloads_open_and_recently_finished_calls(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ada_id = await setup(app, api, tenant)
    sanne, bob = await _agents(app, tenant)
    now = utcnow()
    at = lambda minutes: {"occurred_at": now - timedelta(minutes=minutes)}  # noqa: E731
    await deliver(
        app, tenant,
        # Answered by Sanne, ended 5 minutes ago: shown for its wrap-up.
        event("wrapped", EventKind.RINGING, **at(9)),
        event("wrapped", EventKind.ANSWERED, answered_by="201", **at(8)),
        event("wrapped", EventKind.ENDED, **at(5)),
        # Missed 4 minutes ago: shown with the callback it opened.
        event("missed", EventKind.RINGING, **at(6)),
        event("missed", EventKind.MISSED, **at(4)),
        # Ended 30 minutes ago: gone from the screen.
        event("old", EventKind.RINGING, **at(40)),
        event("old", EventKind.ENDED, **at(30)),
        # The front desk's call: rings Bob, not Sanne.
        event("desk", EventKind.RINGING, to_raw=OTHER_LINE, **at(2)),
        # Ringing now.
        event("ringing", EventKind.RINGING, **at(1)),
    )  # fmt: skip

    response = await client.get("/v1/me/calls", headers=await _token(api, sanne))
    assert response.status_code == 200, response.text
    pops = [Pop.model_validate(p) for p in response.json()]
    assert [(p.call.provider_call_id, p.type) for p in pops] == [
        ("ringing", "call.ringing"), ("missed", "call.missed"), ("wrapped", "call.ended"),
    ]  # fmt: skip
    ringing, missed, wrapped = pops
    assert ringing.card is not None and ringing.card.contact_id == ada_id
    assert ringing.card.display_name == "Ada de Vries"
    assert missed.call.callback_request_id is not None
    assert wrapped.call.answered_by_agent_id == sanne and wrapped.call.interaction_id is not None
    assert ringing.call.line_label is None and ringing.call.party_e164 == "+31612345678"

    desk = await client.get("/v1/me/calls", headers=await _token(api, bob))
    # Bob: his team's line, and the calls to the unconfigured line (they ring everyone).
    assert [p["call"]["provider_call_id"] for p in desk.json()] == [
        "ringing", "desk", "missed", "wrapped",
    ]  # fmt: skip

    async for session in session_scope(app.state.sessionmaker):
        audited = (
            await session.execute(
                select(AuditEvent.actor, AuditEvent.subject_id, AuditEvent.number_masked).where(
                    AuditEvent.tenant_id == tenant.id, AuditEvent.via == "widget"
                )
            )
        ).all()
    seen_by_sanne = [row for row in audited if row.actor == "agent:Sanne Visser"]
    assert sorted(row.subject_id for row in seen_by_sanne) == sorted(str(p.call.id) for p in pops)
    assert {row.number_masked for row in seen_by_sanne} == {"+31 6 **** 5678"}


async def test_only_an_agent_token_has_calls(
    api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    refused = await api.get("/v1/me/calls")
    assert refused.status_code == 403
    assert "agent token" in refused.json()["message"]
    anonymous: Any = await client.get("/v1/me/calls")
    assert anonymous.status_code == 401
