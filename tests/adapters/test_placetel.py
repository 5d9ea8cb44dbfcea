"""Placetel adapter: the documented HMAC vector, refused deliveries, parsing, responses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
from telephony_adapters.placetel import PlacetelAdapter, agent_from_peer, placetel_signature
from tests.adapters.cases_placetel import sign
from tests.support import vendor_fixtures

SECRET = "b7e2c1d0a9f8e7d6"
URL = "https://stamgast.example.org/webhooks/placetel/acme"
NOW = datetime(2026, 11, 25, 10, 42, tzinfo=UTC)
CALL_ID = "f4591ba315d81671d7a06c2a3b4f963dafd119de39cb26edd8a6476676b2f447"
CONFIG = AdapterConfig(secret=SECRET)

adapter = PlacetelAdapter()


def fixture(name: str) -> bytes:
    return vendor_fixtures.load("placetel", name).body


def notification(
    body: bytes, *, signature: str | None = None, secret: str = SECRET
) -> AdapterRequest:
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-placetel-signature": signature if signature is not None else sign(body, secret),
    }
    return AdapterRequest("POST", URL, headers, body)


def parse(request: AdapterRequest, config: AdapterConfig = CONFIG) -> list[CallEvent]:
    return adapter.parse(request, config, now=NOW)


def parse_one(body: bytes, config: AdapterConfig = CONFIG) -> CallEvent:
    events = parse(notification(body), config)
    assert len(events) == 1
    return events[0]


# --- signatures ---------------------------------------------------------------------------

# Placetel's README: secret "12345" over the fixture's body gives this signature.
VECTOR_SIGNATURE = "c4f823c5b8806432fe2b83b1fc2ee714422e0cdfb4b5129152a7d0bbcd7792d0"


def test_documented_vector() -> None:
    vector = vendor_fixtures.load("placetel", "readme-signature-vector.txt")
    assert vector.authored_by == "vendor"
    assert placetel_signature("12345", vector.body) == VECTOR_SIGNATURE
    assert sign(vector.body, "12345") == VECTOR_SIGNATURE
    [event] = parse(notification(vector.body, signature=VECTOR_SIGNATURE), AdapterConfig("12345"))
    assert event == CallEvent(
        provider="placetel",
        call_id="4a4cbb39578170aed9a2761a7bec8c7e704a541f52291ef603d6f5f152980c3c",
        kind=EventKind.ANSWERED,
        from_raw="0123456789",
        to_raw="0987654321",
        direction=Direction.INBOUND,  # CallAccepted is sent for incoming calls only
        number_style=NumberStyle.DIALLED,
        raw=event.raw,
    )


def test_documented_vector_refuses_another_secret() -> None:
    body = vendor_fixtures.load("placetel", "readme-signature-vector.txt").body
    with pytest.raises(SignatureError):
        parse(notification(body, signature=VECTOR_SIGNATURE), AdapterConfig("12346"))


def test_uppercase_hex_is_accepted() -> None:
    body = fixture("incoming.txt")
    events = parse(notification(body, signature=sign(body, SECRET).upper()))
    assert [e.kind for e in events] == [EventKind.RINGING]


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="wrong shared secret"):
        parse(notification(fixture("incoming.txt"), secret="not-the-secret"))


def test_altered_body_is_refused() -> None:
    body = fixture("incoming.txt")
    altered = body.replace(b"from=0612345678", b"from=0612345679")
    with pytest.raises(SignatureError, match="does not match"):
        parse(notification(altered, signature=sign(body)))


def test_missing_header_is_refused() -> None:
    request = AdapterRequest("POST", URL, {}, fixture("incoming.txt"))
    with pytest.raises(SignatureError, match="missing X-PLACETEL-SIGNATURE header"):
        parse(request)


@pytest.mark.parametrize("signature", ["", "abc", "z" * 64, "sha256=" + "0" * 64])
def test_malformed_header_is_refused(signature: str) -> None:
    with pytest.raises(SignatureError):
        parse(notification(fixture("incoming.txt"), signature=signature))


# --- parsing ------------------------------------------------------------------------------


def test_incoming_call_rings() -> None:
    event = parse_one(fixture("incoming.txt"))
    assert (event.provider, event.call_id, event.kind) == ("placetel", CALL_ID, EventKind.RINGING)
    assert (event.from_raw, event.to_raw, event.direction) == (
        "0612345678",
        "0331234567",
        Direction.INBOUND,
    )
    assert event.ringing_extension is None and event.raw["event"] == "IncomingCall"


def test_outgoing_call_rings_for_the_calling_agent() -> None:
    event = parse_one(fixture("outgoing.txt"))
    # `from` is the caller id shown to the callee, `peer` the SIP user who dialled.
    assert (event.kind, event.direction, event.ringing_extension) == (
        EventKind.RINGING,
        Direction.OUTBOUND,
        "7777abcdefg",
    )
    assert (event.from_raw, event.to_raw) == ("0331234567", "0612345678")


def test_internal_call_between_sip_users() -> None:
    body = b"call_id=c1&event=OutgoingCall&from=7777a%40fpbx.de&to=7777b%40fpbx.de&direction=out"
    assert parse_one(body).direction is Direction.INTERNAL


def test_call_accepted_names_the_peer() -> None:
    event = parse_one(fixture("accepted.txt"))
    assert (event.kind, event.answered_by) == (EventKind.ANSWERED, "7777abcdefg")


@pytest.mark.parametrize(
    ("hangup_type", "kind"),
    [
        ("missed", EventKind.MISSED),
        ("canceled", EventKind.MISSED),
        ("busy", EventKind.MISSED),
        ("unavailable", EventKind.MISSED),
        ("congestion", EventKind.MISSED),
        ("blocked", EventKind.MISSED),
        ("voicemail", EventKind.VOICEMAIL),
        ("accepted", EventKind.ENDED),
        ("somethingnew", EventKind.ENDED),
    ],
)
def test_hangup_types(hangup_type: str, kind: EventKind) -> None:
    body = f"call_id=c1&event=HungUp&from=0612&to=0331&type={hangup_type}&duration=0"
    assert parse_one(body.encode()).kind is kind


def test_hangup_fixtures() -> None:
    assert parse_one(fixture("hungup-missed.txt")).kind is EventKind.MISSED
    voicemail = parse_one(fixture("hungup-voicemail.txt"))
    assert (voicemail.kind, voicemail.from_raw) == (EventKind.VOICEMAIL, "anonymous")


def test_accepted_hangup_reports_the_answer_too() -> None:
    # Placetel has no CallAccepted for outgoing calls; the duration says when it was answered.
    events = parse(notification(fixture("hungup-accepted.txt")))
    assert [e.kind for e in events] == [EventKind.ANSWERED, EventKind.ENDED]
    assert events[0].occurred_at == NOW - timedelta(seconds=95)
    assert {e.call_id for e in events} == {CALL_ID}


def test_unknown_event_is_ignored_and_answered() -> None:
    request = notification(b"call_id=c1&event=CallTransferred&from=1&to=2")
    assert parse(request) == []
    assert adapter.respond(request, CONFIG, [], Outcome()).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"call_id=c1&from=1&to=2", '"event" is required'),
        (b"event=IncomingCall&from=1&to=2", '"call_id" is required'),
        (b"event=HungUp&call_id=&type=missed", '"call_id" is required'),
    ],
)
def test_malformed_notifications_name_the_field(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse(notification(body))


@pytest.mark.parametrize(
    ("peer", "agent"),
    [("7777abcdefg@fpbx.de", "7777abcdefg"), ("sip:201@fpbx.de;x=y", "201"), ("201", "201")],
)
def test_agent_from_peer(peer: str, agent: str) -> None:
    assert agent_from_peer(peer) == agent


def test_events_filter_from_config() -> None:
    config = AdapterConfig(secret=SECRET, events=frozenset({EventKind.ENDED}))
    events = parse(notification(fixture("hungup-accepted.txt")), config)
    assert [e.kind for e in events] == [EventKind.ENDED]


# --- responses ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["incoming.txt", "accepted.txt", "hungup-accepted.txt"])
def test_respond_is_an_empty_200(name: str) -> None:
    response = adapter.respond(notification(fixture(name)), CONFIG, [], Outcome())
    assert (response.status_code, response.body) == (200, b"")


@pytest.mark.parametrize("config", [CONFIG, AdapterConfig(secret=""), None])
@pytest.mark.parametrize("body", [fixture("incoming.txt"), b"\xff\xfe", b""])
def test_fail_open_never_raises(config: Any, body: bytes) -> None:
    response = adapter.fail_open(AdapterRequest("POST", URL, {}, body), config)
    assert (response.status_code, response.body) == (200, b"")


# --- Placetel's and Zammad's own material -------------------------------------------------


def events_of(name: str) -> list[CallEvent]:
    return parse(notification(fixture(name)))


def test_every_event_carries_placetels_number_style() -> None:
    names = [fx.path.name for fx in vendor_fixtures.all_fixtures("placetel")]
    events = [event for name in names for event in events_of(name)]
    assert len(events) > len(names) - 2  # every notification yields its event(s)
    assert {event.number_style for event in events} == {NumberStyle.DIALLED}


@pytest.mark.parametrize(
    ("hangup_type", "answered"),
    [
        ("accepted", True),
        ("missed", False),
        ("canceled", False),
        ("busy", False),
        ("blocked", False),
        ("unavailable", False),
        ("voicemail", None),
        ("congestion", None),
        ("somethingnew", None),
    ],
)
def test_hangup_type_says_whether_a_person_answered(
    hangup_type: str, answered: bool | None
) -> None:
    body = f"call_id=c1&event=HungUp&from=0612&to=0331&type={hangup_type}&duration=0"
    assert parse_one(body.encode()).person_answered is answered


def test_accepted_hangup_ends_a_call_a_person_answered() -> None:
    answered, ended = events_of("hungup-accepted.txt")
    assert (answered.kind, answered.person_answered) == (EventKind.ANSWERED, None)
    assert (ended.kind, ended.person_answered) == (EventKind.ENDED, True)
    [zammads] = events_of("zammad-spec-hungup-accepted.txt")  # no duration: no ANSWERED
    assert (zammads.kind, zammads.person_answered, zammads.from_raw) == (
        EventKind.ENDED,
        True,
        "01114100300",
    )


def test_canceled_outgoing_call_is_not_a_missed_incoming_call() -> None:
    [event] = events_of("hungup-canceled-outbound.txt")
    assert (event.kind, event.direction, event.person_answered) == (
        EventKind.MISSED,
        Direction.OUTBOUND,
        False,
    )
    assert (event.from_raw, event.to_raw) == ("0331234567", "0612345678")


def test_outbound_only_hangup_types_imply_the_direction() -> None:
    # Placetel: "busy, canceled, unavailable and congestion are limited to outbound calls".
    for hangup_type in ("busy", "canceled", "unavailable", "congestion"):
        body = f"call_id=c1&event=HungUp&type={hangup_type}".encode()
        assert parse_one(body).direction is Direction.OUTBOUND, hangup_type
    assert parse_one(b"call_id=c1&event=HungUp&type=missed").direction is Direction.INBOUND


def test_hangup_without_direction_or_numbers_from_zammads_specs() -> None:
    [event] = events_of("zammad-spec-hungup-missed-no-direction.txt")
    # The spec's call was outgoing, but nothing in this body says so: the call's direction
    # has to come from its OutgoingCall.
    assert (event.kind, event.person_answered, event.from_raw, event.to_raw) == (
        EventKind.MISSED,
        False,
        "",
        "",
    )


def test_zammads_incoming_call_and_answer() -> None:
    [ringing] = events_of("zammad-spec-incoming.txt")
    assert (ringing.kind, ringing.direction, ringing.from_raw, ringing.to_raw) == (
        EventKind.RINGING,
        Direction.INBOUND,
        "01114100300",
        "030600000000",
    )
    [answered] = events_of("zammad-spec-callaccepted.txt")
    assert (answered.kind, answered.call_id, answered.answered_by) == (
        EventKind.ANSWERED,
        "1234567890-3",
        None,
    )


def test_outgoing_call_takes_the_agent_from_peer_not_from() -> None:
    [event] = events_of("zammad-spec-outgoing-peer.txt")
    assert (event.direction, event.from_raw, event.to_raw, event.ringing_extension) == (
        Direction.OUTBOUND,
        "030600000000",
        "01114100300",
        "something",
    )


def test_outgoing_call_with_a_sip_id_in_from_and_no_peer() -> None:
    [event] = events_of("zammad-spec-outgoing-sip-from.txt")
    assert (event.direction, event.to_raw, event.ringing_extension) == (
        Direction.OUTBOUND,
        "099999222222",
        "777008478072",
    )


def test_outgoing_caller_id_is_never_taken_for_the_agent() -> None:
    body = b"call_id=c1&event=OutgoingCall&direction=out&from=0331234567&to=0612345678"
    assert parse_one(body).ringing_extension is None
