"""Real SIP end to end: sipp callers → Kamailio with docs/kamailio/kamailio.cfg → our server.

The server is `python -m uvicorn app.main:app` on the migrated SQLite file, seeded with a
tenant, agent Sanne (extension 201, the phone every call rings) and contact Ada on
+31612345678. A sipp UAS is Sanne's desk phone; the agent's widget is a WebSocket client on
`/v1/stream`. Outages of our server: tests/test_kamailio_outage.py. Skips without
kamailio/sipp (fails under STAMGAST_REQUIRE_ALL=1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from telephony_adapters.kamailio import hmac_pads
from tests.support.live_server import live_server
from tests.support.sip import (
    SECRET,
    Caller,
    Phone,
    connect_kamailio,
    kamailio,
    require_sip_tools,
    run_callers,
    seed_tenant,
    sipp_phone,
)

DIALLED = "0331234567"
POP_DEADLINE = 5.0  # after the last SIP message: every pop must be on the agent's screen
ADA = Caller("+31612345678", display='Ada \\"Ace\\" de Vries')  # quotes reach JSON intact
PAI = "P-Asserted-Identity: <tel:+31-6-1234-5678>"


@dataclass(frozen=True)
class Stamgast:
    """The running server and what was seeded for the test tenant."""

    base_url: str
    webhook_url: str
    admin_key: str
    agent_token: str
    ada_id: int


@pytest.fixture(scope="module")
def stamgast(sqlite_url: str) -> Iterator[Stamgast]:
    """Our server on the seeded tenant, with the kamailio provider connected."""
    require_sip_tools()
    tenant = seed_tenant(sqlite_url)
    with live_server(sqlite_url) as base_url:
        webhook_url = connect_kamailio(base_url, tenant)
        yield Stamgast(base_url, webhook_url, tenant.admin_key, tenant.agent_token, tenant.ada_id)


@contextmanager
def _agent_screen(server: Stamgast) -> Iterator[ClientConnection]:
    """Sanne's widget stream, past its hello."""
    url = f"ws{server.base_url[4:]}/v1/stream?token={server.agent_token}"
    with connect(url, open_timeout=5) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello", hello
        yield ws


def _collect(
    ws: ClientConnection, wanted: set[tuple[str, str]], deadline: float
) -> dict[tuple[str, str], dict[str, Any]]:
    """The pops for each wanted (SIP Call-ID, pop type), waiting until `deadline` at most."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    while not wanted <= found.keys():
        left = deadline - time.monotonic()
        if left <= 0:
            missing = sorted(wanted - found.keys())
            raise AssertionError(f"no pop within {POP_DEADLINE} s for {missing}")
        try:
            message = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            continue
        pop = message.get("pop")
        if pop is not None:
            found[(pop["call"]["provider_call_id"], pop["type"])] = pop
    return found


def _logs(*servers: Any) -> str:
    return "\n".join(f"--- {type(s).__name__}:\n{s.log_text()[-3000:]}" for s in servers)


@contextmanager
def _phone_and_kamailio(
    workdir: Path, calls: int, defines: dict[str, str | int]
) -> Iterator[tuple[Phone, Any]]:
    with sipp_phone(workdir, calls) as phone:
        defines = {"PHONE_URI": f"sip:201@127.0.0.1:{phone.port}", **defines}
        with kamailio(workdir, defines) as proxy:
            yield phone, proxy


def test_calls_through_kamailio_pop_the_right_card_and_a_cancel_is_a_missed_call(
    stamgast: Stamgast, tmp_path: Path
) -> None:
    callers = [
        ADA,
        Caller("0612345678"),
        Caller("anonymous", "anonymous.invalid", "Anonymous", PAI),  # withheld, PAI tells
        Caller("anonymous", "anonymous.invalid", "Anonymous"),  # withheld, nothing tells
        Caller("%2B31612345678"),  # the user part percent-escaped, as RFC 3261 allows
        Caller("0031%206%2012345678"),  # escaped spaces, international prefix 00
    ]
    defines: dict[str, str | int] = {
        "WEBHOOK_URL": stamgast.webhook_url,
        "WEBHOOK_SECRET": SECRET,
    }
    with (
        _phone_and_kamailio(tmp_path, len(callers) + 1, defines) as (phone, proxy),
        _agent_screen(stamgast) as screen,
    ):
        started = time.monotonic()
        call_ids = run_callers(tmp_path, "uac_call.xml", proxy.port, DIALLED, callers, "sg-a")
        kinds = ("call.ringing", "call.answered", "call.ended")
        wanted = {(call_id, kind) for call_id in call_ids for kind in kinds}
        try:
            pops = _collect(screen, wanted, time.monotonic() + POP_DEADLINE)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_logs(proxy, phone)}") from None
        answered_in = time.monotonic() - started

        known, national, via_pai, withheld, escaped, spaced = (
            pops[(c, "call.ringing")] for c in call_ids
        )
        for pop in (known, national, via_pai, escaped, spaced):
            assert pop["card"]["match"] == "known", pop
            assert pop["card"]["display_name"] == "Ada de Vries"
            assert pop["call"]["from_e164"] == "+31612345678"
        assert withheld["card"]["match"] == "withheld", withheld
        assert withheld["call"]["from_e164"] is None
        for call_id in call_ids:
            ringing = pops[(call_id, "call.ringing")]["call"]
            assert (ringing["provider"], ringing["ringing_extension"]) == ("kamailio", "201")
            answered = pops[(call_id, "call.answered")]["call"]
            assert answered["answered_by_name"] == "Sanne Visser", answered
            ended = pops[(call_id, "call.ended")]["call"]
            assert ended["state"] == "ended" and ended["interaction_id"] is not None

        # The caller hangs up while Sanne's phone rings: a missed call and a callback.
        started = time.monotonic()
        [cancelled] = run_callers(
            tmp_path, "uac_cancel.xml", proxy.port, DIALLED, [Caller("0612345678")], "sg-b"
        )
        missed = _collect(screen, {(cancelled, "call.missed")}, time.monotonic() + POP_DEADLINE)
        missed_in = time.monotonic() - started
        call = missed[(cancelled, "call.missed")]["call"]
        assert call["state"] == "missed" and call["answered_at"] is None, call
        assert "not delivered" not in proxy.log_text(), _logs(proxy)

    callbacks = httpx.get(
        f"{stamgast.base_url}/v1/callbacks",
        headers={"Authorization": f"Bearer {stamgast.admin_key}"},
        params={"contact_id": stamgast.ada_id},
        timeout=10,
    )
    assert callbacks.status_code == 200, callbacks.text
    assert [(c["status"], c["call_id"]) for c in callbacks.json()] == [("open", call["id"])]
    # Generous bounds: each run is about 1.5 s and 0.1 s here; the pops follow in milliseconds.
    assert answered_in < 10 and missed_in < 5, (answered_in, missed_in)


def test_the_hmac_signed_variant_of_the_config_is_accepted(
    stamgast: Stamgast, tmp_path: Path
) -> None:
    inner, outer = hmac_pads(SECRET)
    defines: dict[str, str | int] = {
        "WEBHOOK_URL": stamgast.webhook_url,
        "WEBHOOK_HMAC_IPAD": inner,
        "WEBHOOK_HMAC_OPAD": outer,
    }
    with (
        _phone_and_kamailio(tmp_path, 1, defines) as (phone, proxy),
        _agent_screen(stamgast) as screen,
    ):
        [call_id] = run_callers(tmp_path, "uac_call.xml", proxy.port, DIALLED, [ADA], "sg-h")
        wanted = {(call_id, "call.ringing"), (call_id, "call.ended")}
        try:
            pops = _collect(screen, wanted, time.monotonic() + POP_DEADLINE)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_logs(proxy, phone)}") from None
        assert pops[(call_id, "call.ringing")]["card"]["match"] == "known"
        assert "not delivered" not in proxy.log_text(), _logs(proxy)
