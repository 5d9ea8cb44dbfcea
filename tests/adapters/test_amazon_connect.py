"""Amazon Connect: relayed contact-flow and contact events, and the flat answer.

The Lambda that relays them is tested in test_amazon_connect_lambda.py; shared helpers in
amazon_connect_helpers.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

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
from tests.adapters.amazon_connect_helpers import (
    CONFIG,
    CONTACT,
    SECRET,
    UNKNOWN,
    adapter,
    fixture,
)
from tests.adapters.cases_amazon_connect import contact_event, flow_event
from tests.support import vendor_fixtures

NOW = datetime(2026, 11, 25, 10, 42, 30, tzinfo=UTC)
STAMP = int(NOW.timestamp())
URL = "https://stamgast.example.org/webhooks/amazon_connect/acme"


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
