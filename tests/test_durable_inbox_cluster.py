"""The production topology in an outage: two processes on PostgreSQL + Redis answer webhooks
while the database is down, both are SIGKILLed, and one new process records every one."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from app.migrate import upgrade
from tests.support.live_server import live_server_process
from tests.support.servers import redis_server, restartable_postgres
from tests.support.sip import seed_tenant
from tests.test_durable_inbox import SECRET, _count_events, _post_sync


@pytest.mark.postgres
@pytest.mark.redis
def test_two_processes_killed_in_an_outage_lose_nothing(tmp_path: Path) -> None:
    spool = {"STAMGAST_SPOOL_PATH": str(tmp_path / "inbox.sqlite")}  # one host, one spool
    with restartable_postgres() as pg, redis_server() as redis_url:
        upgrade(pg.url)
        tenant = seed_tenant(pg.url)
        with (
            live_server_process(pg.url, redis_url, extra_env=spool) as (first, first_process),
            live_server_process(pg.url, redis_url, extra_env=spool) as (second, second_process),
        ):
            connected = httpx.put(
                f"{first}/v1/providers/generic",
                headers={"Authorization": f"Bearer {tenant.admin_key}"},
                json={"secret": SECRET},
                timeout=10,
            )
            assert connected.status_code == 200, connected.text
            for base_url in (first, second):  # each process has seen the tenant's secret
                _post_sync(base_url, tenant.slug, uuid.uuid4().hex, "ringing")
            pg.checkpoint()
            pg.stop()
            calls = [uuid.uuid4().hex for _ in range(10)]
            answered = 0
            for n, call_id in enumerate(calls):
                for event in ("ringing", "ended"):
                    _post_sync((first, second)[n % 2], tenant.slug, call_id, event)
                    answered += 1
            for process in (first_process, second_process):
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        pg.start()
        with live_server_process(pg.url, redis_url, extra_env=spool):
            deadline = time.monotonic() + 30
            while (recorded := _count_events(pg.url, calls)) < answered:
                assert time.monotonic() < deadline, f"{recorded} of {answered} recorded"
                time.sleep(0.25)
    print(f"two processes: {answered} webhooks answered 2xx in the outage, {recorded} "
          f"recorded after both were SIGKILLed, {answered - recorded} lost")  # fmt: skip
    assert recorded == answered == 20
