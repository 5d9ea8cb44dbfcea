"""Each metric moves when its event happens (in-process, the default registry)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import update

from app.db import session_scope
from app.metrics import timing
from app.models import CallbackRequest, utcnow
from app.screen_pop.subscribers import LocalSubscribers
from tests.conftest import TenantCtx
from tests.test_webhooks import SECRET, add_ada, connect, generic_event, post_generic

on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@on_sqlite
async def test_webhooks_count_per_provider_and_outcome(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await add_ada(app, tenant)
    await connect(api, "generic", SECRET)
    ok = value("stamgast_webhook_seconds_count", provider="generic", outcome="ok")
    bad = value("stamgast_webhook_seconds_count", provider="generic", outcome="bad_signature")
    unknown = value(
        "stamgast_webhook_seconds_count", provider="unknown", outcome="unknown_provider"
    )
    known = value("stamgast_recognitions_total", outcome="known")
    ringing = await post_generic(client, tenant, generic_event(uuid.uuid4().hex, "ringing"))
    assert ringing.status_code == 200
    forged = await post_generic(
        client, tenant, generic_event(uuid.uuid4().hex, "ringing"), secret="wrong-secret-456"
    )
    assert forged.status_code == 401
    assert (await client.post(f"/webhooks/nosuch/{tenant.slug}", content=b"{}")).status_code == 404
    assert value("stamgast_webhook_seconds_count", provider="generic", outcome="ok") == ok + 1
    assert (
        value("stamgast_webhook_seconds_count", provider="generic", outcome="bad_signature")
        == bad + 1
    )
    assert (
        value("stamgast_webhook_seconds_count", provider="unknown", outcome="unknown_provider")
        == unknown + 1
    )
    assert value("stamgast_recognitions_total", outcome="known") == known + 1


@on_sqlite
async def test_withheld_and_unknown_callers_are_counted(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await add_ada(app, tenant)
    await connect(api, "generic", SECRET)
    withheld = value("stamgast_recognitions_total", outcome="withheld")
    unknown = value("stamgast_recognitions_total", outcome="unknown")
    await post_generic(
        client, tenant, generic_event(uuid.uuid4().hex, "ringing", **{"from": "anonymous"})
    )
    await post_generic(
        client, tenant, generic_event(uuid.uuid4().hex, "ringing", **{"from": "+31201112233"})
    )
    assert value("stamgast_recognitions_total", outcome="withheld") == withheld + 1
    assert value("stamgast_recognitions_total", outcome="unknown") == unknown + 1


@on_sqlite
async def test_callbacks_open_and_overdue_are_read_at_scrape(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await add_ada(app, tenant)
    await connect(api, "generic", SECRET)
    call_id = uuid.uuid4().hex
    await post_generic(client, tenant, generic_event(call_id, "ringing"))
    await post_generic(client, tenant, generic_event(call_id, "missed"))
    text = (await client.get("/metrics")).text
    assert f'stamgast_callbacks{{status="open",tenant="{tenant.slug}"}} 1.0' in text
    assert f'stamgast_callbacks_overdue{{tenant="{tenant.slug}"}} 0.0' in text
    async for session in session_scope(app.state.sessionmaker):
        await session.execute(
            update(CallbackRequest)
            .where(CallbackRequest.tenant_id == tenant.id)
            .values(due_by=utcnow() - timedelta(hours=1))
        )
    text = (await client.get("/metrics")).text
    assert f'stamgast_callbacks_overdue{{tenant="{tenant.slug}"}} 1.0' in text


@on_sqlite
async def test_metrics_can_require_a_token_or_be_off(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    settings = app.state.settings
    settings.metrics_token = SecretStr("scrape-token-789")
    try:
        refused = await client.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized"
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer scrape-token-789"})
        assert allowed.status_code == 200
        assert "stamgast_webhook_seconds" in allowed.text
        settings.metrics_enabled = False
        assert (await client.get("/metrics")).status_code == 404
    finally:
        settings.metrics_token = None
        settings.metrics_enabled = True


def test_a_live_frame_observes_ring_to_pop_and_counts_as_delivered() -> None:
    pop_id = uuid.uuid4().hex
    timing.mark(pop_id, time.time() - 0.02)
    frame = '{"seq":7,"pop":{"pop_id":"' + pop_id + '","type":"call.ringing"}}'
    observed = value("stamgast_ring_to_pop_seconds_count", transport="websocket")
    above = value("stamgast_ring_to_pop_seconds_bucket", transport="websocket", le="0.01")
    delivered = value("stamgast_pops_total", kind="delivered")
    timing.written(frame, "websocket")
    assert value("stamgast_ring_to_pop_seconds_count", transport="websocket") == observed + 1
    # 20 ms ago: not in the 10 ms bucket.
    assert value("stamgast_ring_to_pop_seconds_bucket", transport="websocket", le="0.01") == above
    assert value("stamgast_pops_total", kind="delivered") == delivered + 1


def test_a_subscriber_that_falls_behind_counts_its_pops_as_dropped() -> None:
    dropped = value("stamgast_pops_total", kind="dropped")
    subscription = LocalSubscribers(queue_size=2).subscription(1, 1)
    for seq in (1, 2, 3):
        subscription.offer(seq, b"{}")
    assert subscription.overflowed
    assert value("stamgast_pops_total", kind="dropped") == dropped + 3
