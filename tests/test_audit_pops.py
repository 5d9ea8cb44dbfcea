"""Every screen-pop is audited: one row per agent it is sent to, in the transaction that
recorded the call, on the hot path (SQLite's one hop, PostgreSQL's write statement) and
through the ORM alike; a vendor's retry pops nothing and audits nothing."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.calls.hot_path import EventRecorder
from app.calls.hot_store import hot_store_for
from app.db import session_scope
from app.models import AuditEvent, Call, utcnow
from tests.conftest import TenantCtx
from tests.support.hot_callers import seed
from tests.test_hot_path import SCENARIOS, SECRET, _post, _tenant_provider


async def _pop_rows(app: FastAPI, tenant_id: int) -> list[AuditEvent]:
    async for session in session_scope(app.state.sessionmaker):
        query = select(AuditEvent).where(
            AuditEvent.tenant_id == tenant_id, AuditEvent.action == "pop"
        )
        rows = list(await session.scalars(query.order_by(AuditEvent.id)))
        session.expunge_all()  # read after the scope commits (which would expire them)
        return rows
    raise AssertionError("no session")


async def test_each_pop_sent_is_one_audit_row_per_agent_on_both_paths(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await seed(app, tenant.id, utcnow())
    provider = await _tenant_provider(app, api, tenant)
    kwargs: dict[str, Any] = {"sessionmaker": app.state.sessionmaker, "routes": app.state.routes}
    recorders = {
        "hot": EventRecorder(store=hot_store_for(app.state.engine), **kwargs),
        "orm": EventRecorder(store=None, **kwargs),
    }
    sent: Counter[tuple[str, int, int]] = Counter()  # (path, call id, agent id)
    for path, recorder in recorders.items():
        for name, steps in SCENARIOS.items():
            for step in steps:
                _outcome, pops = await recorder.record(provider, [step(f"{name}/{path}")])
                for agents, pop in pops:
                    call_id = _json_call_id(pop)
                    sent.update((path, call_id, agent) for agent in agents)
                # The vendor retries: no pop, so no audit row either.
                assert (await recorder.record(provider, [step(f"{name}/{path}")]))[1] == []
    async for session in session_scope(app.state.sessionmaker):
        calls = await session.execute(
            select(Call.id, Call.provider_call_id, Call.from_masked, Call.contact_id).where(
                Call.tenant_id == tenant.id
            )
        )
        path_of = {row.id: row.provider_call_id.rpartition("/")[2] for row in calls}
    rows = await _pop_rows(app, tenant.id)
    audited = Counter(
        (path_of[int(r.subject_id or 0)], int(r.subject_id or 0), r.agent_id or 0) for r in rows
    )
    assert audited == sent and sum(sent.values()) >= 20
    for row in rows:
        assert (row.via, row.subject_type) == ("screen-pop", "call")
        assert row.actor.startswith("agent:") and row.number_masked
        assert "12345678" not in row.number_masked  # masked, never the number itself


def _json_call_id(pop: Any) -> int:
    return int(json.loads(pop.model_dump_json())["call"]["id"])


async def test_a_ringing_webhook_audits_who_saw_whom_and_why(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    callers = await seed(app, tenant.id, utcnow())
    assert (await api.put("/v1/providers/generic", json={"secret": SECRET})).status_code == 200
    call_id = uuid.uuid4().hex
    before = utcnow()
    await _post(client, tenant.slug, call_id=call_id, event="ringing")
    await _post(client, tenant.slug, call_id=call_id, event="ringing")  # a retry
    rows = await _pop_rows(app, tenant.id)
    # The line's team: Sanne and Youssef (their inactive colleague gets no pop).
    assert sorted(r.actor for r in rows) == ["agent:Sanne Visser", "agent:Youssef El Amrani"]
    assert {r.agent_id for r in rows} == {callers.sanne, callers.youssef}
    async for session in session_scope(app.state.sessionmaker):
        call = await session.scalar(select(Call).where(Call.provider_call_id == call_id))
        assert call is not None
        assert {(r.subject_id, r.contact_id, r.number_masked) for r in rows} == {
            (str(call.id), callers.ada, call.from_masked)
        }
    assert all(before <= r.at <= utcnow() for r in rows)
