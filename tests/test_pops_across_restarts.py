"""No pop lost to a restart: a single process SIGKILLed and started again (the embedded
broker's log dies with it), and a Redis without persistence killed and started empty under
two processes on PostgreSQL. Real server processes, a real Redis, and an agent's screen
that behaves as the widget does (tests/support/agent_screen.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest

from app.migrate import upgrade
from tests.support.agent_screen import AgentScreen
from tests.support.live_server import live_server_process
from tests.support.servers import free_port, postgres_server, restartable_redis
from tests.support.sip import SeededTenant, seed_tenant
from tests.test_durable_inbox import SECRET, _count_events, _signed


async def _ring(base_url: str, slug: str, call_id: str) -> None:
    body, headers = _signed(call_id, "ringing")
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{base_url}/webhooks/generic/{slug}", content=body, headers=headers
        )
    assert response.status_code == 200, response.text


def _connect_generic(base_url: str, tenant: SeededTenant) -> None:
    connected = httpx.put(
        f"{base_url}/v1/providers/generic",
        headers={"Authorization": f"Bearer {tenant.admin_key}"},
        json={"secret": SECRET},
        timeout=10,
    )
    assert connected.status_code == 200, connected.text


async def _prepared(database: str) -> SeededTenant:
    # Both run an event loop of their own: in a thread, not inside the test's.
    await asyncio.to_thread(upgrade, database)
    return await asyncio.to_thread(seed_tenant, database)


def _calls(count: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(count)]


async def test_a_process_killed_and_started_again_loses_no_pop(tmp_path: Path) -> None:
    """Call 1 rings before the kill and is still ringing; calls 2-4 ring on the new process
    before the widget is back. The widget, resuming from the old life, is replayed 2-4 and
    reloads 1."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'stamgast.sqlite'}"
    tenant = await _prepared(database)
    port, spool = free_port(), {"STAMGAST_SPOOL_PATH": str(tmp_path / "inbox.sqlite")}
    before, during = _calls(1), _calls(3)
    with live_server_process(database, port=port, extra_env=spool) as (base_url, process):
        _connect_generic(base_url, tenant)
        screen = AgentScreen(base_url, tenant.agent_token)
        watching = asyncio.create_task(screen.run())
        await asyncio.wait_for(screen.connected.wait(), 10)
        await _ring(base_url, tenant.slug, before[0])
        await screen.has(before)
        screen.may_connect.clear()  # the widget's backoff: it is away while 2-4 ring
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    try:
        with live_server_process(database, port=port, extra_env=spool) as (base_url, _process):
            for call_id in during:
                await _ring(base_url, tenant.slug, call_id)
            screen.may_connect.set()
            await screen.has(before + during)
    finally:
        watching.cancel()
    print(
        f"single process SIGKILLed: {len(before + during)} calls rang, "
        f"{len(screen.by_pop & set(during))} of {len(during)} rung while it was away replayed, "
        f"{len(screen.by_reload & set(before))} of {len(before)} open before reloaded, "
        f"{len(set(before + during) - set(screen.calls))} missing"
    )
    assert set(during) <= screen.by_pop
    assert set(before) <= screen.by_reload and screen.resyncs == 1
    assert all(screen.calls[call_id] == "ringing" for call_id in before + during)


@pytest.mark.postgres
@pytest.mark.redis
async def test_redis_restarted_without_persistence_loses_no_pop() -> None:
    """Two processes; the agent's screen on the first; calls alternate between them. Redis
    is SIGKILLed (its counters, logs and epoch die with it), five calls ring while it is
    down (their pops wait in the processes), it starts again empty, five more ring."""
    with postgres_server() as database, restartable_redis() as redis:
        tenant = await _prepared(database)
        with (
            live_server_process(database, redis.url) as (first, _first),
            live_server_process(database, redis.url) as (second, _second),
        ):
            _connect_generic(first, tenant)
            screen = AgentScreen(first, tenant.agent_token)
            watching = asyncio.create_task(screen.run())
            try:
                await asyncio.wait_for(screen.connected.wait(), 10)
                up, down, back = _calls(5), _calls(5), _calls(5)
                for n, call_id in enumerate(up):
                    await _ring((first, second)[n % 2], tenant.slug, call_id)
                await screen.has(up)
                redis.kill()
                for n, call_id in enumerate(down):
                    await _ring((first, second)[n % 2], tenant.slug, call_id)
                redis.start()
                for n, call_id in enumerate(back):
                    await _ring((first, second)[n % 2], tenant.slug, call_id)
                everything = up + down + back
                await screen.has(everything)
            finally:
                watching.cancel()
            recorded = await asyncio.to_thread(_count_events, database, everything)
    missing = set(everything) - set(screen.calls)
    print(
        f"Redis restarted without persistence: {len(everything)} webhooks answered 200, "
        f"{recorded} recorded, {len(screen.by_pop & set(everything))} calls reached the agent "
        f"as pops, {len(set(everything) - screen.by_pop)} only by reloading after resync "
        f"({screen.resyncs} resyncs), {len(missing)} missing"
    )
    assert recorded == len(everything) and not missing
