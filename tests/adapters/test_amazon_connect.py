"""Amazon Connect: relayed contact-flow and contact events, the flat answer, and the Lambda.

The Lambda (`docs/amazon-connect-lambda.py`) runs against a local HTTP server that verifies
its requests with our adapter, as Stamgast would.
"""

from __future__ import annotations

import hashlib
import hmac
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

from telephony_adapters.amazon_connect import AmazonConnectAdapter
from telephony_adapters.base import (
    AdapterConfig,
    AdapterRequest,
    CallEvent,
    Direction,
    EventKind,
    NumberStyle,
    Outcome,
    PayloadError,
    SignatureError,
)
from tests.adapters.cases_amazon_connect import contact_event, flow_event
from tests.support import vendor_fixtures

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = "connect-secret-of-acme"
NOW = datetime(2026, 11, 25, 10, 42, 30, tzinfo=UTC)
STAMP = int(NOW.timestamp())
URL = "https://stamgast.example.org/webhooks/amazon_connect/acme"
CONFIG = AdapterConfig(secret=SECRET)
CONTACT = "4a573372-1f28-4e26-b97b-0242ac120002"
UNKNOWN = {
    "callerName": "",
    "callerLanguage": "",
    "hasOpenCallback": "false",
    "recognised": "false",
}

adapter = AmazonConnectAdapter()


def fixture(name: str) -> bytes:
    return vendor_fixtures.load("amazon_connect", name).body


def signed(body: bytes, *, secret: str = SECRET, stamp: int = STAMP) -> AdapterRequest:
    """Signed per the documented generic scheme, computed here without the adapter's code."""
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "x-stamgast-timestamp": str(stamp),
        "x-stamgast-signature": f"v1={digest}",
    }
    return AdapterRequest("POST", URL, headers, body)


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def parse(request: AdapterRequest, config: AdapterConfig = CONFIG) -> list[CallEvent]:
    return adapter.parse(request, config, now=NOW)


def refused(request: AdapterRequest, config: AdapterConfig = CONFIG) -> str:
    with pytest.raises(SignatureError) as caught:
        parse(request, config)
    return caught.value.message


# --- signatures ---------------------------------------------------------------------------


def test_signature_checks_are_the_generic_ones() -> None:
    body = fixture("contact-flow-event.json")
    assert len(parse(signed(body))) == 1
    assert "does not match" in refused(signed(body, secret="someone-else"))
    request = signed(body)
    altered = AdapterRequest("POST", URL, request.headers, body.replace(b"+3161", b"+3162"))
    assert "does not match" in refused(altered)
    assert "301 s old" in refused(signed(body, stamp=STAMP - 301))
    unsigned = AdapterRequest("POST", URL, {"content-type": "application/json"}, body)
    assert refused(unsigned) == "missing X-Stamgast-Timestamp header"


def test_empty_secret_accepts_nothing() -> None:
    assert "no secret is configured" in refused(signed(b"{}", secret=""), AdapterConfig(secret=""))


# --- contact-flow events ------------------------------------------------------------------


def test_contact_flow_event_rings() -> None:
    [event] = parse(signed(fixture("contact-flow-event.json")))
    assert event == CallEvent(
        provider="amazon_connect",
        call_id=CONTACT,
        kind=EventKind.RINGING,
        from_raw="+31612345678",
        to_raw="+31201234567",
        direction=Direction.INBOUND,
        ringing_extension="201",
        number_style=NumberStyle.E164,
        raw=event.raw,
    )
    assert event.raw["Queue.Name"] == "Klantenservice"
    assert event.raw["Parameters.flow"] == "main"


def test_withheld_number_and_outbound_contacts() -> None:
    document = flow_event("c-1")
    data = document["Details"]["ContactData"]
    data.update(CustomerEndpoint=None, SystemEndpoint=None, InitiationMethod="OUTBOUND")
    [event] = parse(signed(encode(document)))
    assert (event.from_raw, event.to_raw, event.direction) == ("", "", Direction.OUTBOUND)


@pytest.mark.parametrize(
    "change",
    [
        {"Channel": "CHAT"},
        {"Channel": "TASK"},
        {"InitiationMethod": "MONITOR"},
        {"InitiationMethod": "DISCONNECT"},
    ],
)
def test_non_call_contacts_are_ignored(change: dict[str, str]) -> None:
    document = flow_event("c-1")
    document["Details"]["ContactData"].update(change)
    assert parse(signed(encode(document))) == []


@pytest.mark.parametrize(
    "document",
    [{"Name": "SomethingElse", "Details": {}}, {"hello": "world"}, {"detail-type": "Other"}],
)
def test_unknown_events_are_ignored(document: dict[str, Any]) -> None:
    assert parse(signed(encode(document))) == []


# --- contact events (EventBridge) ---------------------------------------------------------


def test_connected_to_agent_answers() -> None:
    [event] = parse(signed(fixture("contact-event-connected.json")))
    assert (event.call_id, event.kind, event.from_raw) == (CONTACT, EventKind.ANSWERED, "")
    assert event.answered_by == "0c245dde-8e1f-4b5d-9d7c-0242ac120002"
    assert event.occurred_at == datetime(2026, 11, 25, 10, 42, 8, tzinfo=UTC)


def test_disconnected_ends_in_either_spelling() -> None:
    [event] = parse(signed(fixture("contact-event-disconnected.json")))
    assert (event.call_id, event.kind, event.answered_by) == (CONTACT, EventKind.ENDED, None)
    assert event.occurred_at == datetime(2026, 11, 25, 10, 45, 37, tzinfo=UTC)
    [completed] = parse(signed(encode(contact_event("c-1", "COMPLETED"))))
    assert completed.kind is EventKind.ENDED


@pytest.mark.parametrize("event_type", ["INITIATED", "QUEUED", "CONTACT_DATA_UPDATED", "NEW"])
def test_other_contact_events_are_ignored(event_type: str) -> None:
    assert parse(signed(encode(contact_event("c-1", event_type)))) == []


def test_chat_contact_events_are_ignored() -> None:
    document = contact_event("c-1", "DISCONNECTED")
    document["detail"]["channel"] = "CHAT"
    assert parse(signed(encode(document))) == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (["ContactFlowEvent"], "body must be a JSON object; got array"),
        ({"Name": "ContactFlowEvent", "Details": "x"}, '"Details" must be an object; got string'),
        ({"Name": "ContactFlowEvent", "Details": {}}, '"Details.ContactData" is required'),
        (
            {"Details": {"ContactData": {"Channel": "VOICE"}}},
            '"Details.ContactData.ContactId" is required',
        ),
        (
            {"Details": {"ContactData": {"ContactId": 7}}},
            '"Details.ContactData.ContactId" must be a string; got number',
        ),
        (
            {"Details": {"ContactData": {"ContactId": "c", "CustomerEndpoint": {"Address": 1}}}},
            '"Details.ContactData.CustomerEndpoint.Address" must be a string',
        ),
        (
            {"Details": {"ContactData": {"ContactId": "c"}, "Parameters": {"extension": 201}}},
            '"Details.Parameters.extension" must be a string; got number',
        ),
        ({"detail-type": "Amazon Connect Contact Event"}, '"detail" is required'),
        (
            {"detail-type": "Amazon Connect Contact Event", "detail": {"eventType": "COMPLETED"}},
            '"detail.contactId" is required',
        ),
    ],
)
def test_malformed_events_name_the_field(document: Any, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(signed(encode(document)))
    assert caught.value.message.startswith(message)


# --- responses ----------------------------------------------------------------------------


def test_respond_is_a_flat_string_map() -> None:
    request = signed(fixture("contact-flow-event.json"))
    outcome = Outcome(recognised_name="Ada de Vries", language="nl", has_open_callback=True)
    response = adapter.respond(request, CONFIG, parse(request), outcome)
    assert (response.status_code, response.media_type) == (200, "application/json")
    assert json.loads(response.body) == {
        "callerName": "Ada de Vries",
        "callerLanguage": "nl",
        "hasOpenCallback": "true",
        "recognised": "true",
    }
    unknown = adapter.respond(request, CONFIG, [], Outcome())
    assert json.loads(unknown.body) == UNKNOWN


def test_fail_open_answers_the_same_keys_for_an_unknown_caller() -> None:
    for request in (signed(fixture("contact-flow-event.json")), signed(b"\xff")):
        response = adapter.fail_open(request, AdapterConfig(secret=""))
        assert (response.status_code, json.loads(response.body)) == (200, UNKNOWN)


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


# --- AWS's own sample requests and events -------------------------------------------------


def from_fixture(name: str) -> CallEvent:
    [event] = parse(signed(fixture(name)))
    return event


def test_every_event_carries_e164() -> None:
    events = [from_fixture(fx.path.name) for fx in vendor_fixtures.all_fixtures("amazon_connect")]
    assert {event.number_style for event in events} == {NumberStyle.E164}


INSTANCE_ARN = (
    "arn:aws::connect:us-west-2:123456789012:instance/12345678-1234-1234-1234-123456789012"
)


def test_awss_sample_lambda_request_rings() -> None:
    event = from_fixture("aws-doc-flow-event.json")
    assert event == CallEvent(
        provider="amazon_connect",
        call_id="4a573372-1f28-4e26-b97b-XXXXXXXXXXX",
        kind=EventKind.RINGING,
        from_raw="+1234567890",
        to_raw="+1234567890",
        # The sample lists every method ("INBOUND | OUTBOUND | ..."); none is OUTBOUND alone.
        direction=Direction.INBOUND,
        number_style=NumberStyle.E164,
        raw=event.raw,
    )
    assert event.raw["Queue.Name"] == "QueueName"  # the sample's queue is a bare name


def test_awss_sample_connected_to_agent_answers() -> None:
    event = from_fixture("aws-doc-connected.json")
    assert (event.kind, event.call_id, event.answered_by, event.occurred_at) == (
        EventKind.ANSWERED,
        "11111111-1111-1111-1111-111111111111",
        "12345678-1234-1234-1234-123456789012",
        datetime(2021, 8, 4, 17, 29, 9, tzinfo=UTC),
    )


def test_awss_sample_disconnect_of_an_outbound_call_an_agent_took() -> None:
    event = from_fixture("aws-doc-disconnected-outbound.json")
    assert (event.kind, event.direction, event.person_answered, event.occurred_at) == (
        EventKind.ENDED,
        Direction.OUTBOUND,
        True,
        datetime(2021, 8, 4, 17, 18, 37, tzinfo=UTC),
    )
    assert from_fixture("contact-event-disconnected.json").person_answered is True  # AgentInfo


def test_disconnect_without_an_agent_connection_proves_nothing() -> None:
    document = contact_event("c-1", "DISCONNECTED")  # agentInfo without a connected time
    [event] = parse(signed(encode(document)))
    assert (event.kind, event.person_answered) == (EventKind.ENDED, None)
    del document["detail"]["agentInfo"]
    [event] = parse(signed(encode(document)))
    assert event.person_answered is None


def test_pascal_case_contact_events_as_in_awss_routing_samples() -> None:
    detail = {
        "ContactId": "12345678-1234-1234-1234-123456789012",
        "Channel": "VOICE",
        "InitiationMethod": "INBOUND",
        "EventType": "CONNECTED_TO_AGENT",
        "AgentInfo": {
            "AgentArn": f"{INSTANCE_ARN}/agent/12345678-1234-1234-1234-123456789012",
            "ConnectedToAgentTimestamp": "2021-08-04T17:29:09.000Z",
        },
    }
    document = {"detail-type": "Amazon Connect Contact Event", "detail": detail}
    [event] = parse(signed(encode(document)))
    assert (event.kind, event.call_id, event.answered_by) == (
        EventKind.ANSWERED,
        "12345678-1234-1234-1234-123456789012",
        "12345678-1234-1234-1234-123456789012",
    )
