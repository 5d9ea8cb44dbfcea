"""Retention per tenant with a controlled clock: rows just inside a period are kept, just
outside removed; a dry run removes nothing and reports the same counts; open callbacks and
tenants without periods are never touched; the daily run and `stamgast purge` do the same."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import cli
from app.db import session_scope
from app.models import (
    AuditEvent,
    Call,
    CallbackRequest,
    CallEventRecord,
    Interaction,
    Tenant,
    utcnow,
)
from app.retention.schedule import purge_forever
from app.retention.service import TABLES, purge
from tests.conftest import TenantCtx, make_tenant
from tests.test_cli import cli_db  # noqa: F401  # the CLI's own migrated SQLite file

# The controlled clock: ten years ahead, so the app's own daily purge (on the real clock)
# can never reach the rows planted around these cut-offs while a test runs.
NOW = utcnow().replace(microsecond=0) + timedelta(days=3650)
PERIODS = {
    "keep_calls_days": 30,
    "keep_interactions_days": 365,
    "keep_audit_days": 90,
    "keep_callbacks_done_days": 7,
}
EDGE = timedelta(seconds=1)
MODELS: dict[str, Any] = {
    "call_events": CallEventRecord,
    "calls": Call,
    "interactions": Interaction,
    "audit_events": AuditEvent,
    "callback_requests": CallbackRequest,
}


def _cutoff(period: str) -> datetime:
    return NOW - timedelta(days=PERIODS[period])


async def _plant(app: FastAPI, tenant_id: int) -> dict[str, int]:
    """Rows on both sides of every cut-off; the ids of those to follow."""
    calls, audit = _cutoff("keep_calls_days"), _cutoff("keep_audit_days")
    talks, done = _cutoff("keep_interactions_days"), _cutoff("keep_callbacks_done_days")
    async for session in session_scope(app.state.sessionmaker):
        old_call, new_call = (
            Call(tenant_id=tenant_id, provider="generic", provider_call_id=name, started_at=at)
            for name, at in (("old", calls - EDGE), ("new", calls + EDGE))
        )
        session.add_all([old_call, new_call])
        await session.flush()
        kept_talk = Interaction(
            tenant_id=tenant_id,
            occurred_at=talks + EDGE,
            summary="about the old call",
            call_id=old_call.id,
        )
        open_one = CallbackRequest(
            tenant_id=tenant_id,
            number_e164="+31612345678",
            reason="Terugbellen",
            requested_at=NOW - timedelta(days=999),
            call_id=old_call.id,
        )
        session.add_all(
            [
                *(
                    CallEventRecord(
                        tenant_id=tenant_id,
                        provider="generic",
                        provider_call_id=call.provider_call_id,
                        kind=kind,
                        received_at=call.started_at,
                        call_id=call.id,
                    )
                    for call in (old_call, new_call)
                    for kind in ("ringing", "ended")
                ),
                # An event that never became a call goes by its own age.
                CallEventRecord(
                    tenant_id=tenant_id,
                    provider="generic",
                    provider_call_id="orphan",
                    kind="ringing",
                    received_at=calls - EDGE,
                ),
                kept_talk,
                Interaction(tenant_id=tenant_id, occurred_at=talks - EDGE, summary="too old"),
                AuditEvent(
                    tenant_id=tenant_id,
                    at=audit - EDGE,
                    actor="x",
                    action="pop",
                    subject_type="call",
                ),
                AuditEvent(
                    tenant_id=tenant_id,
                    at=audit + EDGE,
                    actor="x",
                    action="pop",
                    subject_type="call",
                ),
                open_one,
                *(
                    CallbackRequest(
                        tenant_id=tenant_id,
                        number_e164="+31612345678",
                        reason="Terugbellen",
                        status=status,
                        requested_at=NOW - timedelta(days=999),
                        closed_at=closed,
                    )
                    for status, closed in (
                        ("done", done - EDGE),
                        ("done", done + EDGE),
                        ("cancelled", done - EDGE),
                        ("cancelled", None),  # closed before closing was recorded: its request
                    )
                ),
            ]
        )
        await session.flush()
        ids = {"kept_talk": kept_talk.id, "open_one": open_one.id, "new_call": new_call.id}
    return ids  # after the loop: the scope commits when it ends


# Just outside: the old call with its 2 events and the orphan event; one interaction; two
# audit events (the planted one, and the PATCH that set the periods: written on the real
# clock, ten years before NOW); three closed callbacks (not the open one, not the one
# closed just inside).
REMOVED = {
    "call_events": 3,
    "calls": 1,
    "interactions": 1,
    "audit_events": 2,
    "callback_requests": 3,
}


async def _counts(app: FastAPI, tenant_id: int) -> dict[str, int]:
    async for session in session_scope(app.state.sessionmaker):
        return {
            name: int(
                await session.scalar(
                    select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
                )
                or 0
            )
            for name, model in MODELS.items()
        }
    raise AssertionError("no session")


async def _purge(app: FastAPI, slug: str, *, dry_run: bool, now: datetime = NOW) -> dict[str, int]:
    async for session in session_scope(app.state.sessionmaker):
        [report] = await purge(session, now=now, dry_run=dry_run, tenant_slug=slug)
        assert report.dry_run is dry_run
    return report.counts  # after the loop: the scope commits when it ends


async def test_periods_are_set_per_tenant_and_checked(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    assert (await api.patch("/v1/tenant", json={"extension_plan": "2xx"})).status_code == 200
    shown = await api.get("/v1/tenant")
    assert {name: shown.json()[name] for name in PERIODS} == dict.fromkeys(PERIODS)
    changed = await api.patch("/v1/tenant", json=PERIODS)
    assert changed.status_code == 200, changed.text
    assert {name: changed.json()[name] for name in PERIODS} == PERIODS
    assert changed.json()["extension_plan"] == "2xx"  # only the fields given change
    kept = await api.patch("/v1/tenant", json={"keep_audit_days": None})
    assert kept.json()["keep_audit_days"] is None and kept.json()["keep_calls_days"] == 30
    for bad in (0, -1, 36501, "a year"):
        refused = await api.patch("/v1/tenant", json={"keep_calls_days": bad})
        assert refused.status_code == 422, bad
        assert "keep_calls_days" in refused.text
    assert (await api.get("/v1/tenant")).json()["keep_calls_days"] == 30


async def test_just_inside_is_kept_just_outside_removed_and_a_dry_run_removes_nothing(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    assert (await api.patch("/v1/tenant", json=PERIODS)).status_code == 200
    ids = await _plant(app, tenant.id)
    untouched = await make_tenant(app)  # no periods: never purged, however old its rows
    await _plant(app, untouched.id)
    untouched_before = await _counts(app, untouched.id)
    before = await _counts(app, tenant.id)
    assert await _purge(app, tenant.slug, dry_run=True) == REMOVED
    assert await _counts(app, tenant.id) == before
    assert await _purge(app, tenant.slug, dry_run=False) == REMOVED
    after = await _counts(app, tenant.id)
    assert {name: before[name] - after[name] for name in TABLES} == REMOVED
    # Nothing is left to purge at the same moment; a second later the edge rows go too.
    assert await _purge(app, tenant.slug, dry_run=False) == dict.fromkeys(REMOVED, 0)
    async for session in session_scope(app.state.sessionmaker):
        talk = await session.get(Interaction, ids["kept_talk"])
        promise = await session.get(CallbackRequest, ids["open_one"])
        assert talk is not None and talk.call_id is None  # kept; its purged call unlinked
        assert promise is not None and promise.status == "open" and promise.call_id is None
        assert await session.get(Call, ids["new_call"]) is not None
    assert await _counts(app, untouched.id) == untouched_before
    async for session in session_scope(app.state.sessionmaker):
        assert await purge(session, now=NOW, tenant_slug=untouched.slug) == []
    later = await _purge(app, tenant.slug, dry_run=True, now=NOW + 2 * EDGE)
    # A moment later the rows just inside are outside: each table's edge row goes.
    assert later == {
        "call_events": 2,
        "calls": 1,
        "interactions": 1,
        "audit_events": 1,
        "callback_requests": 1,
    }


async def test_the_daily_run_purges_on_its_clock_without_waiting(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    assert (await api.patch("/v1/tenant", json=PERIODS)).status_code == 200
    await _plant(app, tenant.id)
    before = await _counts(app, tenant.id)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise asyncio.CancelledError  # stop after two runs

    with pytest.raises(asyncio.CancelledError):
        await purge_forever(app.state.sessionmaker, interval=86400, clock=lambda: NOW, sleep=sleep)
    assert waits == [60.0, 86400, 86400]
    after = await _counts(app, tenant.id)
    assert {name: before[name] - after[name] for name in TABLES} == REMOVED


def _cli_tenant(url: str, slug: str, **periods: int) -> None:
    """A tenant with an audit event 100 days old, on the CLI's database."""
    from app.db import create_engine, create_sessionmaker

    async def make() -> None:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                tenant = Tenant(slug=slug, name=slug, **periods)
                session.add(tenant)
                await session.flush()
                session.add(
                    AuditEvent(
                        tenant_id=tenant.id,
                        at=utcnow() - timedelta(days=100),
                        actor="x",
                        action="lookup",
                        subject_type="number",
                    )
                )
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(make())


def test_stamgast_purge_reports_per_table_and_dry_run_deletes_nothing(cli_db: str) -> None:  # noqa: F811
    runner = CliRunner()
    assert "nothing to purge" in runner.invoke(cli, ["purge"]).output
    _cli_tenant(cli_db, "zorg", keep_audit_days=90)
    _cli_tenant(cli_db, "gemeente")
    dry = runner.invoke(cli, ["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete 1 rows" in dry.output and "zorg" in dry.output
    assert "gemeente" not in dry.output  # no periods: not purged
    done = runner.invoke(cli, ["purge", "--tenant", "zorg"])
    assert done.exit_code == 0 and "deleted 1 rows" in done.output
    again = runner.invoke(cli, ["purge", "--tenant", "zorg"])
    assert "deleted 0 rows" in again.output
    unknown = runner.invoke(cli, ["purge", "--tenant", "nobody"])
    assert unknown.exit_code == 1 and "no tenant 'nobody'" in unknown.output
