"""Kamailio with docs/kamailio/kamailio.cfg while our server is stopped or down.

The config queues events in shared memory and posts them from rtimer processes, so SIP
does not wait for Stamgast, and keeps them until Stamgast takes them. Both tests run real
Kamailio, sipp callers and phone, and `python -m uvicorn app.main:app` on the migrated
SQLite file; they check what Stamgast stored, per call and event.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import free_port
from tests.support.sip import (
    SECRET,
    Caller,
    Kamailio,
    connect_kamailio,
    kamailio,
    percentile,
    recorded_events,
    require_sip_tools,
    response_times,
    run_callers,
    seed_tenant,
    sipp_phone,
    stamgast_process,
)

DIALLED = "0331234567"
OUTAGE = 10.0  # seconds Stamgast is stopped or down
RATE = 5  # new calls a second during the outage
SETUP_P99_MS = 100.0  # INVITE to 200 OK, and BYE to 200, at the caller
DELIVERY_DEADLINE = 20.0  # after Stamgast is back: every event stored
CALLERS = [Caller("+31612345678"), Caller("%2B31612345678"), Caller("0612345678")]
KINDS = ("ringing", "answered", "ended")


@dataclass(frozen=True)
class Target:
    """A seeded tenant with kamailio connected, and where its server listens."""

    database_url: str
    slug: str
    port: int

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/kamailio/{self.slug}"


@pytest.fixture(scope="module")
def target(sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Target:
    require_sip_tools()
    tenant = seed_tenant(sqlite_url)
    port = free_port()
    with stamgast_process(sqlite_url, port, tmp_path_factory.mktemp("connect")):
        connect_kamailio(f"http://127.0.0.1:{port}", tenant)
    return Target(sqlite_url, tenant.slug, port)


def _kamailio(workdir: Path, phone_port: int, target: Target) -> AbstractContextManager[Kamailio]:
    defines: dict[str, str | int] = {
        "PHONE_URI": f"sip:201@127.0.0.1:{phone_port}",
        "WEBHOOK_URL": target.webhook_url,
        "WEBHOOK_SECRET": SECRET,
    }
    return kamailio(workdir, defines)


def _wait_for_every_event(target: Target, call_ids: list[str], proxy: Kamailio) -> float:
    """Seconds until Stamgast stored ringing, answered and ended of every call."""
    started = time.monotonic()
    wanted = {(call_id, kind) for call_id in call_ids for kind in KINDS}
    while True:
        stored = recorded_events(target.database_url, target.slug, call_ids)
        if wanted <= stored:
            return time.monotonic() - started
        if time.monotonic() - started > DELIVERY_DEADLINE:
            missing = sorted(wanted - stored)
            raise AssertionError(
                f"{len(missing)} events not stored within {DELIVERY_DEADLINE} s, e.g. "
                f"{missing[:5]}\n{proxy.log_text()[-3000:]}"
            )
        time.sleep(0.25)


def test_sip_is_not_held_up_while_stamgast_is_stopped(target: Target, tmp_path: Path) -> None:
    """SIGSTOP: Stamgast's socket accepts connections but nothing answers them."""
    calls = int(OUTAGE * RATE)
    callers = [CALLERS[n % len(CALLERS)] for n in range(calls)]
    with (
        stamgast_process(target.database_url, target.port, tmp_path) as pid,
        sipp_phone(tmp_path, calls, "uas_answer.xml") as phone,
        _kamailio(tmp_path, phone.port, target) as proxy,
    ):
        os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            call_ids = run_callers(
                tmp_path, "uac_call.xml", proxy.port, DIALLED, callers, "sg-stop", rate=RATE
            )
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
        finally:
            os.kill(pid, signal.SIGCONT)
        delivered_in = _wait_for_every_event(target, call_ids, proxy)
        log = proxy.log_text()

    times = response_times(tmp_path)
    setup, bye = percentile(times["setup"], 0.99), percentile(times["bye"], 0.99)
    print(f"p99 INVITE→200 {setup} ms, BYE→200 {bye} ms over {calls} calls; "
          f"all {calls * len(KINDS)} events stored {delivered_in:.1f} s after SIGCONT")  # fmt: skip
    assert len(times["setup"]) == len(times["bye"]) == calls, times
    assert setup < SETUP_P99_MS and bye < SETUP_P99_MS, (setup, bye)
    # The outage was felt (posts timed out, curl error 28) and nothing was given up.
    assert "not delivered (28)" in log, log[-3000:]
    assert "dropped" not in log and "refused" not in log, log[-3000:]


def test_events_wait_for_stamgast_while_it_is_down(target: Target, tmp_path: Path) -> None:
    """Nothing listens on Stamgast's port (connection refused) until it starts again."""
    callers = CALLERS * 2
    with (
        sipp_phone(tmp_path, len(callers), "uas_answer.xml") as phone,
        _kamailio(tmp_path, phone.port, target) as proxy,
    ):
        down = time.monotonic()
        call_ids = run_callers(
            tmp_path, "uac_call.xml", proxy.port, DIALLED, callers, "sg-down", rate=RATE
        )
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
        assert recorded_events(target.database_url, target.slug, call_ids) == set()
        with stamgast_process(target.database_url, target.port, tmp_path):
            _wait_for_every_event(target, call_ids, proxy)
        log = proxy.log_text()
    assert f"stamgast: invite {call_ids[0]} not delivered (7)" in log, log[-3000:]
    assert "dropped" not in log and "refused" not in log, log[-3000:]
