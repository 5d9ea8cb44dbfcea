"""Amazon Connect: the Lambda (`docs/amazon-connect-lambda.py`) relaying a contact flow's events.

It runs against a local HTTP server that verifies its requests with our adapter, as Stamgast would.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from telephony_adapters.base import AdapterRequest, CallEvent, EventKind, Outcome, SignatureError
from tests.adapters.amazon_connect_helpers import (
    CONFIG,
    CONTACT,
    SECRET,
    UNKNOWN,
    adapter,
    fixture,
)
from tests.adapters.cases_amazon_connect import flow_event

ROOT = Path(__file__).resolve().parent.parent.parent


# --- the Lambda ---------------------------------------------------------------------------


def load_lambda() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "amazon_connect_lambda", ROOT / "docs" / "amazon-connect-lambda.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Stamgast:
    """A stand-in for our endpoint: verifies and parses with the adapter, like the app."""

    url: str = ""
    outcome: Outcome = field(default_factory=Outcome)
    delay: float = 0.0
    events: list[CallEvent] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


@pytest.fixture
def stamgast() -> Iterator[Stamgast]:
    state = Stamgast()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = AdapterRequest("POST", state.url, headers, self.rfile.read(length))
            time.sleep(state.delay)
            try:
                events = adapter.parse(request, CONFIG, now=datetime.now(UTC))
            except SignatureError as exc:
                state.refusals.append(exc.message)
                self._send(401, json.dumps({"message": exc.message}).encode())
                return
            state.events.extend(events)
            self._send(200, adapter.respond(request, CONFIG, events, state.outcome).body)

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/amazon_connect/acme"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def lambda_module(monkeypatch: pytest.MonkeyPatch, stamgast: Stamgast) -> ModuleType:
    monkeypatch.setenv("STAMGAST_URL", stamgast.url)
    monkeypatch.setenv("STAMGAST_SECRET", SECRET)
    return load_lambda()


def test_lambda_relays_the_flow_event_and_returns_the_answer(
    lambda_module: ModuleType, stamgast: Stamgast
) -> None:
    stamgast.outcome = Outcome(recognised_name="Ada de Vries", language="nl")
    result = lambda_module.lambda_handler(json.loads(fixture("contact-flow-event.json")), None)
    assert result == {
        "callerName": "Ada de Vries",
        "callerLanguage": "nl",
        "hasOpenCallback": "false",
        "recognised": "true",
    }
    [event] = stamgast.events
    assert (event.call_id, event.kind, event.from_raw) == (
        CONTACT,
        EventKind.RINGING,
        "+31612345678",
    )


def test_lambda_relays_contact_events_too(lambda_module: ModuleType, stamgast: Stamgast) -> None:
    lambda_module.lambda_handler(json.loads(fixture("contact-event-connected.json")), None)
    assert [event.kind for event in stamgast.events] == [EventKind.ANSWERED]


def test_lambda_with_the_wrong_secret_is_refused_and_the_flow_continues(
    lambda_module: ModuleType, stamgast: Stamgast, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAMGAST_SECRET", "not-the-secret")
    assert lambda_module.lambda_handler(flow_event("c-1"), None) == UNKNOWN
    assert stamgast.events == [] and "does not match" in stamgast.refusals[0]


def test_lambda_gives_up_after_its_timeout(
    lambda_module: ModuleType, stamgast: Stamgast, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lambda_module, "TIMEOUT_SECONDS", 0.2)
    stamgast.delay = 1.0
    started = time.monotonic()
    assert lambda_module.lambda_handler(flow_event("c-1"), None) == UNKNOWN
    assert time.monotonic() - started < 0.9


@pytest.mark.parametrize(
    ("variable", "value"),
    [("STAMGAST_URL", "http://127.0.0.1:9/closed"), ("STAMGAST_URL", "file:///etc/passwd")],
)
def test_lambda_without_a_reachable_stamgast_continues(
    lambda_module: ModuleType, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert lambda_module.lambda_handler(flow_event("c-1"), None) == UNKNOWN


def test_lambda_without_configuration_continues(
    lambda_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAMGAST_SECRET")
    assert lambda_module.lambda_handler(flow_event("c-1"), None) == UNKNOWN


def test_lambda_keeps_only_flat_strings(lambda_module: ModuleType) -> None:
    answer = {"callerName": "Ada", "nested": {"a": "b"}, "count": 3, "recognised": "true"}
    assert lambda_module._flat(answer) == {**UNKNOWN, "callerName": "Ada", "recognised": "true"}
    assert lambda_module._flat(["not", "a", "map"]) == UNKNOWN
