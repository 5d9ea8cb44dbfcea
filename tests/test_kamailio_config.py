"""What docs/kamailio/kamailio.cfg posts, on the wire: real Kamailio and sipp, and a small
HTTP server here that records every post (our server's own handling is in
tests/test_kamailio_sip.py).
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import free_port, missing
from tests.support.sip import Caller, Kamailio, kamailio, require_sip_tools, run_callers, sipp_phone

DIALLED = "0331234567"
SECRET = "kamailio-capture-secret"
PAI = "P-Asserted-Identity: <tel:+31-6-1234-5678>"
SETTLE = 0.5  # after the last SIP message: the senders post within tens of milliseconds


@dataclass
class Capture:
    """Every JSON body posted to `url`, in arrival order."""

    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[str | None] = field(default_factory=list)

    def events(self, call_id: str) -> list[str]:
        return [body["event"] for body in self.bodies if body["call_id"] == call_id]

    def one(self, call_id: str, event: str) -> dict[str, Any]:
        [body] = [b for b in self.bodies if (b["call_id"], b["event"]) == (call_id, event)]
        return body


@contextmanager
def capture_server(status: int = 200, tls: ssl.SSLContext | None = None) -> Iterator[Capture]:
    """A webhook receiver on a free port that answers `status` {"ok":true} to every post;
    HTTPS with `tls`."""
    lock = threading.Lock()
    capture = Capture(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                capture.bodies.append(json.loads(body))
                capture.secrets.append(self.headers.get("X-Stamgast-Secret"))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b'{"ok":true}')

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "http" if tls is None else "https"
    capture.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/webhooks/kamailio/capture"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _proxy(
    workdir: Path, phone: str, calls: int, capture: Capture, **defines: str | int
) -> Iterator[Kamailio]:
    with sipp_phone(workdir, calls, phone) as sipp:
        settings: dict[str, str | int] = {
            "PHONE_URI": f"sip:201@127.0.0.1:{sipp.port}",
            "WEBHOOK_URL": capture.url,
            "WEBHOOK_SECRET": SECRET,
            **defines,
        }
        with kamailio(workdir, settings) as proxy:
            yield proxy


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_sip_tools()


def test_each_event_is_posted_once_with_the_user_parts_unescaped(tmp_path: Path) -> None:
    callers = [
        Caller("%2B31612345678", display="Ada"),
        Caller("0031%206%2012345678"),
        Caller("anonymous", "anonymous.invalid", "Anonymous", PAI),
    ]
    with capture_server() as capture, _proxy(tmp_path, "uas_answer.xml", 3, capture) as proxy:
        call_ids = run_callers(
            tmp_path, "uac_call.xml", proxy.port, "033%201234567", callers, "cap"
        )
        time.sleep(SETTLE)
    escaped, spaced, withheld = call_ids
    # The phone sent every 200 OK twice; `answered` went out once per call all the same.
    for call_id in call_ids:
        assert sorted(capture.events(call_id)) == ["answered", "bye", "invite"], capture.bodies
    assert capture.one(escaped, "invite") == {
        "event": "invite", "call_id": escaped, "from_user": "+31612345678",
        "to_user": "033 1234567", "from_display": '"Ada"', "extension": "201",
    }  # fmt: skip
    assert capture.one(spaced, "answered")["from_user"] == "0031 6 12345678"
    assert capture.one(spaced, "bye")["from_user"] == "0031 6 12345678"
    assert capture.one(withheld, "invite")["pai"] == "tel:+31-6-1234-5678"
    assert capture.one(withheld, "answered")["answered_by"] == "201"
    assert set(capture.secrets) == {SECRET}


def test_a_busy_phone_is_one_failed_event_with_its_status(tmp_path: Path) -> None:
    with capture_server() as capture, _proxy(tmp_path, "uas_busy.xml", 1, capture) as proxy:
        [call_id] = run_callers(
            tmp_path, "uac_rejected.xml", proxy.port, DIALLED, [Caller("0612345678")], "busy"
        )
        time.sleep(SETTLE)
    assert sorted(capture.events(call_id)) == ["failed", "invite"], capture.bodies
    failed = capture.one(call_id, "failed")
    assert (failed["status"], failed["extension"]) == ("486", "201")


def test_nobody_answering_within_the_ring_timeout_is_one_failed_event(tmp_path: Path) -> None:
    with (
        capture_server() as capture,
        _proxy(tmp_path, "uas_ringing.xml", 1, capture, RING_TIMEOUT=1500) as proxy,
    ):
        started = time.monotonic()
        [call_id] = run_callers(
            tmp_path, "uac_rejected.xml", proxy.port, DIALLED, [Caller("0612345678")], "ring"
        )
        rang = time.monotonic() - started
        time.sleep(SETTLE)
    assert sorted(capture.events(call_id)) == ["failed", "invite"], capture.bodies
    assert capture.one(call_id, "failed")["status"] == "408"
    assert 1.4 < rang < 5, rang  # RING_TIMEOUT, not Kamailio's default of 120 s


def test_a_refused_event_is_logged_and_not_retried(tmp_path: Path) -> None:
    """A 4xx (wrong secret, unknown tenant) would be refused again: no retry, no queue."""
    with capture_server(401) as capture, _proxy(tmp_path, "uas_answer.xml", 1, capture) as proxy:
        [call_id] = run_callers(
            tmp_path, "uac_call.xml", proxy.port, DIALLED, [Caller("0612345678")], "ref"
        )
        time.sleep(SETTLE + 1)  # longer than RETRY_DELAY: a retry would have come
        log = proxy.log_text()
    assert sorted(capture.events(call_id)) == ["answered", "bye", "invite"], capture.bodies
    assert f"stamgast: invite {call_id} refused (401), not retried" in log, log[-3000:]


def test_past_the_queue_limit_new_events_are_logged_and_dropped(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/webhooks/kamailio/nobody"
    capture = Capture(url=nobody)  # nothing listens: every event stays queued
    with _proxy(tmp_path, "uas_answer.xml", 2, capture, QUEUE_LIMIT=4) as proxy:
        call_ids = run_callers(
            tmp_path, "uac_call.xml", proxy.port, DIALLED, [Caller("0612345678")] * 2, "full"
        )
        log = proxy.log_text()
    # Both senders fail at once (refused) and pause RETRY_DELAY, 1 s; the calls take 0.4 s.
    # So the two invites and answereds fill the queue, and both BYEs find it full.
    assert f"stamgast: queue full (4), bye {call_ids[-1]} dropped" in log, log[-3000:]
    assert "not delivered (7)" in log


def _private_ca(workdir: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA of our own and a server certificate it signed for 127.0.0.1 (openssl CLI)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
            "/CN=Stamgast test CA", "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "san.ext",
            "-out", "server.pem")  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(workdir / "server.pem", workdir / "server.key")
    return workdir / "ca.pem", context


def test_https_to_a_private_ca_needs_its_cacert(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        missing("openssl (to make a test CA)", "openssl")
    ca, tls = _private_ca(tmp_path)
    caller = [Caller("0612345678")]
    with capture_server(tls=tls) as capture:
        with _proxy(tmp_path, "uas_answer.xml", 1, capture) as proxy:
            [unverified] = run_callers(tmp_path, "uac_call.xml", proxy.port, DIALLED, caller, "ca0")
            time.sleep(SETTLE)
            log = proxy.log_text()
        assert capture.events(unverified) == []
        assert f"stamgast: invite {unverified} not delivered (60)" in log, log[-3000:]
        with _proxy(tmp_path, "uas_answer.xml", 1, capture, WEBHOOK_CACERT=str(ca)) as proxy:
            [verified] = run_callers(tmp_path, "uac_call.xml", proxy.port, DIALLED, caller, "ca1")
            time.sleep(SETTLE)
    assert sorted(capture.events(verified)) == ["answered", "bye", "invite"], capture.bodies
