"""A call's first ringing on PostgreSQL is read and recorded by one statement (CLAIM).

tests/test_hot_path.py holds its rows and pops against the lifecycle's and counts its one
round trip; here: the audit rows it writes are the ones the two-statement path writes, a
tenant whose subscribers want the ringing takes two statements, and a claim that chose
the caller unlike `decide` (a bug in the SQL) is logged and corrected.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.calls import hot_pg
from app.calls.hot_path import EventRecorder
from app.calls.hot_store import hot_store_for
from app.db import session_scope
from app.models import AuditEvent, Call, utcnow
from telephony_adapters.base import CallEvent, EventKind
from tests.conftest import TenantCtx
from tests.support.hot_callers import ADA, LINE, seed

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
SECRET = "generic-secret-123"


async def _recorder(app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx) -> tuple[Any, Any]:
    assert (await api.put("/v1/providers/generic", json={"secret": SECRET})).status_code == 200
    async for session in session_scope(app.state.sessionmaker):
        provider = await app.state.provider_directory.find(session, tenant.slug, "generic")
    recorder = EventRecorder(
        sessionmaker=app.state.sessionmaker,
        routes=app.state.routes,
        store=hot_store_for(app.state.engine),
        subscribers=app.state.subscribers,
    )
    return recorder, provider


def _ring(call_id: str) -> CallEvent:
    return CallEvent(
        provider="generic", call_id=call_id, kind=EventKind.RINGING, from_raw=ADA,
        to_raw=LINE, occurred_at=utcnow(),
    )  # fmt: skip


async def _call_and_audit(app: FastAPI, call_id: str) -> tuple[tuple[Any, ...], list[Any]]:
    """The call's (contact, match), and its audit rows (actor, agent, contact)."""
    async for session in session_scope(app.state.sessionmaker):
        call = await session.scalar(select(Call).where(Call.provider_call_id == call_id))
        assert call is not None
        audit = await session.execute(
            select(AuditEvent.actor, AuditEvent.agent_id, AuditEvent.contact_id)
            .where(AuditEvent.subject_type == "call", AuditEvent.subject_id == str(call.id))
            .order_by(AuditEvent.agent_id)
        )
        found = (call.contact_id, call.match), [tuple(row) for row in audit]
    return found


async def test_one_statement_audits_as_two_do(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    callers = await seed(app, tenant.id, utcnow())
    recorder, provider = await _recorder(app, api, tenant)
    statements: list[str] = []
    real = hot_pg.sql

    class Spy:
        def __getattr__(self, name: str) -> Any:
            statements.append(name)
            return getattr(real, name)

    monkeypatch.setattr(hot_pg, "sql", Spy())
    _, pops = await recorder.record(provider, [_ring("claimed")])
    assert pops and "CLAIM" in statements and "READ" not in statements
    monkeypatch.setattr(hot_pg, "claimable", lambda tenancy, hot: None)  # the two statements
    statements.clear()
    _, pops = await recorder.record(provider, [_ring("written")])
    assert pops and statements[0] == "READ" and "CLAIM" not in statements
    claimed, claimed_audit = await _call_and_audit(app, "claimed")
    written, written_audit = await _call_and_audit(app, "written")
    assert claimed == written == (callers.ada, "known")
    assert claimed_audit == written_audit and len(claimed_audit) >= 1


async def test_subscribers_of_the_ringing_take_two_statements(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(app, tenant.id, utcnow())
    recorder, provider = await _recorder(app, api, tenant)
    subscription = {"url": "https://crm.example/hooks", "event_types": ["call.recognised"]}
    made = await api.post("/v1/subscriptions", json=subscription)
    assert made.status_code == 201, made.text
    chosen: list[object] = []
    real = hot_pg.claimable

    def spying(tenancy: Any, hot: Any) -> Any:
        chosen.append(real(tenancy, hot))
        return chosen[-1]

    monkeypatch.setattr(hot_pg, "claimable", spying)
    _, pops = await recorder.record(provider, [_ring("subscribed")])
    assert pops and chosen == [None]


async def test_a_claim_unlike_the_decision_is_corrected_and_logged(
    app: FastAPI,
    api: httpx.AsyncClient,
    tenant: TenantCtx,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    callers = await seed(app, tenant.id, utcnow())
    recorder, provider = await _recorder(app, api, tenant)
    wrong = hot_pg.sql.CLAIM.replace("(SELECT id FROM top),\n         CASE", "NULL,\n         CASE")
    assert wrong != hot_pg.sql.CLAIM  # the statement now records nobody as the caller
    monkeypatch.setattr(hot_pg.sql, "CLAIM", wrong)
    with caplog.at_level(logging.ERROR, logger="stamgast.calls"):
        _, pops = await recorder.record(provider, [_ring("mistaken")])
    assert pops
    call, _ = await _call_and_audit(app, "mistaken")
    assert call == (callers.ada, "known")
    assert any("claimed unlike decided" in r.getMessage() for r in caplog.records)
