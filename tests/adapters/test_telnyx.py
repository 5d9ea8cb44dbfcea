"""Telnyx adapter: Telnyx's own examples, Call Control events, TeXML requests and answers.

The Ed25519 signatures are in test_telnyx_signature.py; shared helpers in telnyx_helpers.py.
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

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
from tests.adapters.cases_telnyx import AGENT_CLIENT_STATE, public_key
from tests.adapters.telnyx_helpers import (
    CONFIG,
    KEY,
    SESSION,
    URL,
    adapter,
    fixture,
    parse,
    signed,
)
from tests.support import vendor_fixtures

# The old marker: outside the signature, so it must change nothing.
QUERY_MARKED_URL = f"{URL}?stamgast_leg=agent"
PARENT_SID = "v3:KBnLO0ZK3DhKM5s7bE9VluaSmKsOchKht_fUYvxcp8ysbmzCCtpkmA"
FORM = "application/x-www-form-urlencoded"


def form(body: bytes, **kwargs: Any) -> AdapterRequest:
    return signed(body, media=FORM, **kwargs)


def parse_one(request: AdapterRequest, config: AdapterConfig = CONFIG) -> CallEvent:
    events = parse(request, config)
    assert len(events) == 1
    return events[0]


def with_payload(name: str, event_type: str | None = None, **payload: Any) -> bytes:
    document = json.loads(fixture(name))
    document["data"]["payload"].update(payload)
    if event_type:
        document["data"]["event_type"] = event_type
    return json.dumps(document).encode()


def with_fields(name: str, **fields: str) -> bytes:
    return urlencode({**dict(parse_qsl(fixture(name).decode())), **fields}).encode()


def texml(body: bytes) -> ET.Element:
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return root


# --- Telnyx's own examples ---------------------------------------------------------------


def test_documented_incoming_call_rings() -> None:
    event = parse_one(signed(fixture("docs-call-initiated.json")))
    assert event == CallEvent(
        provider="telnyx",
        call_id="428c31b6-abf3-3bc1-b7f4-5013ef9657c1",
        kind=EventKind.RINGING,
        from_raw="+1-202-555-0133",
        to_raw="+12025550131",
        direction=Direction.INBOUND,
        occurred_at=datetime(2018, 2, 2, 22, 25, 27, 521992, tzinfo=UTC),
        number_style=NumberStyle.E164,
        raw=event.raw,
    )


def test_documented_rejected_hangup_is_missed_and_proves_nobody_answered() -> None:
    event = parse_one(signed(fixture("docs-call-hangup.json")))
    assert (event.call_id, event.kind) == ("428c31b6-7af4-4bcb-b7f5-5013ef9657c1", "missed")
    # hangup_cause call_rejected (SIP 603): the leg was never answered.
    assert (event.person_answered, event.direction) == (False, Direction.INBOUND)
    assert event.raw["sip_hangup_cause"] == "603"


@pytest.mark.parametrize(
    "fixture_file", vendor_fixtures.all_fixtures("telnyx"), ids=lambda f: f.path.name
)
def test_every_event_says_numbers_are_e164(fixture_file: vendor_fixtures.VendorFixture) -> None:
    json_body = fixture_file.path.suffix == ".json"
    media = "application/json" if json_body else FORM
    for url in (URL, QUERY_MARKED_URL):
        for event in parse(signed(fixture_file.body, url=url, media=media)):
            assert event.number_style is NumberStyle.E164


# --- Call Control -------------------------------------------------------------------------


def test_incoming_call_answered_is_the_application_and_bridged_is_a_person() -> None:
    answered = parse_one(signed(fixture("call-answered.json")))
    assert (answered.call_id, answered.kind, answered.answered_by) == (SESSION, "answered", None)
    assert answered.by_application is True
    assert answered.caller_name is None  # the fixture carries none
    bridged = parse_one(signed(fixture("call-bridged.json")))
    assert (bridged.call_id, bridged.kind, bridged.by_application) == (SESSION, "answered", False)
    assert (bridged.from_raw, bridged.direction) == ("+31612345678", Direction.INBOUND)


def test_outgoing_call_placed_by_our_user() -> None:
    events = [
        parse_one(signed(fixture(name)))
        for name in ("outgoing-initiated.json", "outgoing-answered.json")
    ]
    for event in events:
        assert (event.direction, event.from_raw, event.to_raw) == (
            Direction.OUTBOUND,
            "+31331234567",
            "+31612345678",
        )
        assert event.number_style is NumberStyle.E164
    assert [e.kind for e in events] == [EventKind.RINGING, EventKind.ANSWERED]
    assert events[1].by_application is False  # the person called picked up
    unanswered = parse_one(signed(fixture("outgoing-hangup-no-answer.json")))
    # Not a missed call of ours: our user's call was not taken.
    assert (unanswered.kind, unanswered.direction) == (EventKind.ENDED, Direction.OUTBOUND)
    assert unanswered.person_answered is False
    bridged = with_payload("outgoing-answered.json", "call.bridged")
    assert parse(signed(bridged)) == []
    from_phone = parse_one(signed(with_payload("outgoing-initiated.json", **{"from": "sip:202@x"})))
    assert from_phone.ringing_extension == "202"


@pytest.mark.parametrize(
    ("cause", "kind", "person"),
    [
        # The caller's leg was answered (by the application at least): no proof either way.
        ("normal_clearing", EventKind.ENDED, None),
        ("time_limit", EventKind.ENDED, None),
        (None, EventKind.ENDED, None),
        # The caller's leg was never answered: nobody can have talked to the caller.
        ("originator_cancel", EventKind.MISSED, False),
        ("timeout", EventKind.MISSED, False),
        ("no_answer", EventKind.MISSED, False),
        ("user_busy", EventKind.MISSED, False),
        ("call_rejected", EventKind.MISSED, False),
    ],
)
def test_hangup_cause_mapping(cause: str | None, kind: EventKind, person: bool | None) -> None:
    event = parse_one(signed(with_payload("call-hangup.json", hangup_cause=cause)))
    assert (event.kind, event.person_answered) == (kind, person)


def test_hangup_fixtures() -> None:
    ended = parse_one(signed(fixture("call-hangup.json")))
    assert (ended.kind, ended.caller_name) == (EventKind.ENDED, None)  # the name was the number
    assert ended.occurred_at == datetime(2026, 11, 25, 10, 45, tzinfo=UTC)
    assert parse_one(signed(fixture("call-hangup-cancel.json"))).kind is EventKind.MISSED


def test_agent_leg_names_the_agent_and_does_not_end_the_call() -> None:
    answered = parse_one(signed(fixture("agent-answered.json")))
    assert (answered.call_id, answered.answered_by, answered.direction) == (
        SESSION,
        "201",
        "inbound",
    )
    assert answered.by_application is False  # a leg to a SIP URI rings a person of ours
    rung = parse_one(signed(with_payload("agent-answered.json", "call.initiated")))
    assert (rung.kind, rung.ringing_extension) == (EventKind.RINGING, "201")
    hangup = with_payload("agent-answered.json", "call.hangup", hangup_cause="no_answer")
    assert parse(signed(hangup)) == []
    assert parse(signed(with_payload("agent-answered.json", "call.bridged"))) == []


def test_transfer_to_a_phone_is_an_agent_leg_by_its_client_state() -> None:
    answered = parse_one(signed(fixture("agent-answered-phone.json")))
    assert (answered.call_id, answered.kind, answered.answered_by) == (
        SESSION,
        EventKind.ANSWERED,
        "+31201234567",
    )
    assert (answered.direction, answered.by_application) == (Direction.INBOUND, False)
    rung = parse_one(signed(with_payload("agent-answered-phone.json", "call.initiated")))
    assert (rung.kind, rung.ringing_extension) == (EventKind.RINGING, "+31201234567")
    hangup = with_payload("agent-answered-phone.json", "call.hangup", hangup_cause="timeout")
    assert parse(signed(hangup)) == []  # one agent not answering does not end the call
    # Without the marker the same leg is a call our user placed to that number.
    plain = parse_one(signed(with_payload("agent-answered-phone.json", client_state=None)))
    assert (plain.direction, plain.answered_by) == (Direction.OUTBOUND, None)


def test_documented_client_state_is_no_marker_of_ours() -> None:
    # Telnyx's own call.answered example carries base64 of "have a nice day =]".
    event = parse_one(signed(fixture("docs-call-answered.json")))
    assert (event.kind, event.by_application, event.answered_by) == ("answered", True, None)


@pytest.mark.parametrize(
    ("state", "agent"),
    [
        (b"stamgast_leg=agent", True),
        (b"queue=sales&stamgast_leg=agent&try=2", True),
        (b"stamgast_leg=agent.x", True),
        (b"stamgast_leg=agents", False),
        (b"xstamgast_leg=agent", False),
        (b"stamgast_leg=caller", False),
        (b"\xff\xfe stamgast_leg=agent", True),  # not UTF-8 around it: the marker still reads
        (None, False),
    ],
)
def test_client_state_marker(state: bytes | None, agent: bool) -> None:
    encoded = base64.b64encode(state).decode() if state is not None else None
    event = parse_one(signed(with_payload("agent-answered-phone.json", client_state=encoded)))
    assert (event.answered_by == "+31201234567") is agent


@pytest.mark.parametrize("state", ["stamgast_leg=agent", "%%%", 7, ["c3RhbWdhc3RfbGVnPWFnZW50"]])
def test_client_state_that_is_no_base64_string_marks_nothing(state: object) -> None:
    event = parse_one(signed(with_payload("agent-answered-phone.json", client_state=state)))
    assert event.answered_by is None


def test_marker_on_the_callers_incoming_leg_is_still_the_application() -> None:
    # A transfer's own client_state lands on the leg it was issued on: the caller's.
    marked = with_payload("call-answered.json", client_state=AGENT_CLIENT_STATE)
    event = parse_one(signed(marked))
    assert (event.by_application, event.answered_by) == (True, None)


def test_answer_source_agent_leg_ignores_the_application_answering() -> None:
    config = AdapterConfig(secret=public_key(KEY), options={"answer_source": "agent_leg"})
    assert parse(signed(fixture("call-answered.json")), config) == []
    agent = parse_one(signed(fixture("agent-answered-phone.json")), config)
    assert agent.answered_by == "+31201234567"


def test_unknown_event_type_is_ignored_and_answered() -> None:
    request = signed(with_payload("call-bridged.json", "call.dtmf.received"))
    assert parse(request) == []
    assert adapter.respond(request, CONFIG, [], Outcome()).status_code == 204


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"[]", '"data" must be an object'),
        (b'{"data": {"payload": {}}}', '"data.event_type" is required'),
        (b'{"data": {"event_type": "call.hangup"}}', '"data.payload" must be an object'),
        (
            b'{"data": {"event_type": "call.hangup", "payload": {"from": "+3161"}}}',
            '"data.payload.call_session_id" is required',
        ),
    ],
)
def test_malformed_call_control(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse(signed(body))


def test_events_filter_from_config() -> None:
    config = AdapterConfig(secret=public_key(KEY), events=frozenset({EventKind.MISSED}))
    assert parse(signed(fixture("call-initiated.json")), config) == []
    assert parse_one(signed(fixture("call-hangup-cancel.json")), config).kind is EventKind.MISSED


# --- TeXML --------------------------------------------------------------------------------


def test_texml_instruction_request_rings() -> None:
    event = parse_one(form(fixture("texml-voice.txt")))
    assert (event.call_id, event.kind, event.from_raw) == (PARENT_SID, "ringing", "+31612345678")
    # Telnyx's default method is GET, but its signature covers no query: refused, saying why.
    query = fixture("texml-voice.txt").decode()
    via_get = signed(b"", url=f"{URL}?{query}", media="", method="GET")
    with pytest.raises(SignatureError, match="Voice Method and Status Callback Method to POST"):
        parse(via_get)


@pytest.mark.parametrize(
    ("name", "kind", "person"),
    [
        ("texml-completed.txt", EventKind.ENDED, True),  # DialCallStatus=completed
        ("texml-no-answer.txt", EventKind.MISSED, False),  # DialCallStatus=no-answer
    ],
)
def test_texml_status_callbacks(name: str, kind: EventKind, person: bool) -> None:
    event = parse_one(form(fixture(name)))
    assert (event.call_id, event.kind, event.person_answered) == (PARENT_SID, kind, person)
    # Without <Dial>'s report the parent's own duration proves nothing.
    undialled = with_fields(name, DialCallStatus="").replace(b"&DialCallStatus=", b"")
    assert parse_one(form(undialled)).person_answered is None


def test_texml_dial_leg_names_the_agent() -> None:
    event = parse_one(form(fixture("texml-child-answered.txt")))
    assert (event.call_id, event.kind, event.answered_by) == (PARENT_SID, "answered", "201")
    assert event.direction is Direction.INBOUND
    assert event.occurred_at == datetime(2026, 11, 25, 10, 42, 6, tzinfo=UTC)
    unanswered = with_fields("texml-child-answered.txt", CallStatus="no-answer")
    assert parse(form(unanswered)) == []


def test_texml_answered_caller_leg_is_not_a_person() -> None:
    answered = with_fields("texml-completed.txt", CallStatus="in-progress", DialCallStatus="")
    event = parse_one(form(answered.replace(b"&DialCallStatus=", b"")))
    assert (event.kind, event.by_application) == (EventKind.ANSWERED, True)
    outbound = with_fields(
        "texml-completed.txt", CallStatus="in-progress", Direction="outbound-api"
    )
    assert (
        parse_one(form(outbound.replace(b"&DialCallStatus=completed", b""))).kind
        is EventKind.ANSWERED
    )


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2021-04-28 21:51:18.731479Z", datetime(2021, 4, 28, 21, 51, 18, 731479, tzinfo=UTC)),
        ("Wed, 28 Apr 2021 21:51:18 +0000", datetime(2021, 4, 28, 21, 51, 18, tzinfo=UTC)),
        ("soon", None),
    ],
)
def test_texml_timestamp_formats(stamp: str, expected: datetime | None) -> None:
    assert (
        parse_one(form(with_fields("texml-completed.txt", Timestamp=stamp))).occurred_at == expected
    )


def test_texml_without_call_sid_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match='"CallSid" is required'):
        parse(form(b"CallStatus=ringing&From=%2B3161"))


@pytest.mark.parametrize(
    ("options", "noun", "target"),
    [
        ({}, None, None),
        (
            {"dial_target": "sip:queue@pbx.example.org?x=1&y=2"},
            "Sip",
            "sip:queue@pbx.example.org?x=1&y=2",
        ),
        ({"dial_target": "+31201234567"}, "Number", "+31201234567"),
        ({"dial_target": "the queue"}, None, None),
        ({"dial_target": "sip:q@pbx\x01"}, None, None),
    ],
)
def test_texml_voice_answer(options: dict[str, str], noun: str | None, target: str | None) -> None:
    request = form(fixture("texml-voice.txt"))
    config = AdapterConfig(secret=public_key(KEY), options=options)
    response = adapter.respond(request, config, parse(request, config), Outcome())
    assert (response.status_code, response.media_type) == (200, "text/xml")
    root = texml(response.body)
    if noun is None:
        assert len(root) == 0
    else:
        assert root.findtext(f"Dial/{noun}") == target


@pytest.mark.parametrize("name", ["texml-completed.txt", "texml-child-answered.txt"])
def test_texml_callbacks_get_an_empty_response(name: str) -> None:
    config = AdapterConfig(secret=public_key(KEY), options={"dial_target": "+31201234567"})
    for answer in (adapter.respond, lambda r, c, e, o: adapter.fail_open(r, c)):
        response = answer(form(fixture(name)), config, [], Outcome())
        assert len(texml(response.body)) == 0


@pytest.mark.parametrize("options", [{"dial_target": "sip:q@pbx"}, {"dial_target": "\x00"}, None])
def test_fail_open_never_raises(options: Any) -> None:
    config = AdapterConfig(secret=public_key(KEY), options=options)
    for request in (
        form(fixture("texml-voice.txt")),
        AdapterRequest("POST", URL, {"content-type": FORM}, b"\xff\xfe%%%"),
        AdapterRequest("GET", "::not a url::", {}, b""),
    ):
        response = adapter.fail_open(request, config)
        assert (response.status_code, response.media_type) == (200, "text/xml")
        texml(response.body)
    assert adapter.fail_open(signed(b"{broken"), config).status_code == 204
    dialled = adapter.fail_open(
        form(fixture("texml-voice.txt")), AdapterConfig("k", options={"dial_target": "sip:q@pbx"})
    )
    assert texml(dialled.body).findtext("Dial/Sip") == "sip:q@pbx"
