"""Plivo adapter: parsing and Plivo XML answers.

The V3 signatures are in test_plivo_signature.py; shared helpers in plivo_helpers.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

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
)
from telephony_adapters.plivo import agent_from_address
from tests.adapters.plivo_helpers import (
    A_LEG,
    CONFIG,
    NONCE,
    NOW,
    TOKEN,
    URL,
    adapter,
    fixture,
    form_request,
    params_body,
    parse_one,
    signature_of,
)
from tests.support import vendor_fixtures


def plivo_xml(body: bytes) -> ET.Element:
    """Parse the XML (proving it well-formed) and check the declaration and root."""
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return root


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("ringing", EventKind.RINGING),
        ("in-progress", EventKind.ANSWERED),
        ("completed", EventKind.ENDED),
        ("busy", EventKind.MISSED),
        ("no-answer", EventKind.MISSED),
        ("cancel", EventKind.MISSED),
        ("timeout", EventKind.MISSED),
        ("failed", EventKind.MISSED),
    ],
)
def test_call_status_mapping(status: str, kind: EventKind) -> None:
    assert parse_one(form_request(params_body(CallStatus=status))).kind is kind


def test_hangup_fixtures() -> None:
    ended = parse_one(form_request(fixture("hangup.txt")))
    assert (ended.call_id, ended.kind, ended.answered_by) == (A_LEG, EventKind.ENDED, None)
    assert ended.occurred_at is None  # Plivo's times are in an unnamed local zone
    assert ended.person_answered is None  # BillDuration counts from Plivo's own answer
    canceled = parse_one(form_request(fixture("hangup-canceled.txt")))
    assert (canceled.kind, canceled.person_answered) == (EventKind.MISSED, False)


def test_captured_hangup_of_an_ivr_call_proves_no_person() -> None:
    """A real hangup request: Plivo's XML answered (Duration 28, BillDuration 60), no Dial."""
    event = parse_one(form_request(fixture("capture-hangup.txt")))
    assert event == CallEvent(
        provider="plivo",
        call_id="fb07c1aa-e64a-4d30-ba6a-63707c3bceb2",
        kind=EventKind.ENDED,
        from_raw="447866555273",
        to_raw="447441908765",
        direction=Direction.INBOUND,
        number_style=NumberStyle.E164,  # E.164 digits without "+"
        person_answered=None,
        raw=event.raw,
    )


def test_captured_dial_answer_is_a_person() -> None:
    """A real <Dial callbackUrl> request, sent with callbackMethod GET."""
    captured = vendor_fixtures.load("plivo", "capture-dial-answer.txt")
    assert captured.method == "GET" and captured.url and captured.body == b""
    headers = {
        "x-plivo-signature-v3": signature_of(captured.url, b"", method="GET"),
        "x-plivo-signature-v3-nonce": NONCE,
    }
    event = parse_one(AdapterRequest("GET", captured.url, headers, b""))
    assert (event.call_id, event.kind) == ("a39290d0-eacb-4f45-87f4-93256d1ac6f0", "answered")
    assert (event.answered_by, event.by_application) == ("447496026874", False)
    assert (event.direction, event.number_style) == (Direction.INBOUND, NumberStyle.E164)
    # No From on a Dial callback: the dialled leg's caller ID stands in.
    assert event.from_raw == "+447866555273"


def test_answer_url_in_progress_is_plivo_running_our_xml() -> None:
    event = parse_one(form_request(fixture("answer-redirect.txt")))
    assert (event.kind, event.by_application, event.answered_by) == ("answered", True, None)
    assert (event.from_raw, event.direction) == ("447866555273", Direction.INBOUND)
    response = adapter.respond(form_request(fixture("answer-redirect.txt")), CONFIG, [], Outcome())
    assert response.status_code == 200


def test_outbound_call_placed_by_our_user() -> None:
    answered = parse_one(form_request(fixture("outbound-answer.txt")))
    # The answer URL of an outbound call is requested when the person called picks up.
    assert (answered.kind, answered.by_application) == (EventKind.ANSWERED, False)
    ended = parse_one(form_request(fixture("outbound-hangup.txt")))
    unanswered = parse_one(form_request(fixture("outbound-no-answer.txt")))
    for event in (answered, ended, unanswered):
        assert (event.direction, event.from_raw, event.to_raw) == (
            Direction.OUTBOUND,
            "31331234567",
            "31612345678",
        )
        assert event.number_style is NumberStyle.E164
    assert (ended.kind, ended.person_answered) == (EventKind.ENDED, True)  # BillDuration 120
    # Not a missed call of ours: our user's call was not taken.
    assert (unanswered.kind, unanswered.person_answered) == (EventKind.ENDED, False)
    busy = parse_one(form_request(params_body(Direction="outbound", CallStatus="busy")))
    assert (busy.kind, busy.person_answered) == (EventKind.ENDED, False)
    respond = adapter.respond(
        form_request(fixture("outbound-answer.txt")), dial_config("31"), [], Outcome()
    )
    assert len(plivo_xml(respond.body)) == 0  # we only dial agents for callers of ours


@pytest.mark.parametrize(
    "fixture_file", vendor_fixtures.all_fixtures("plivo"), ids=lambda f: f.path.name
)
def test_every_event_says_numbers_are_e164(fixture_file: vendor_fixtures.VendorFixture) -> None:
    if fixture_file.method == "GET":
        return  # covered by the captured Dial callback above
    for event in adapter.parse(form_request(fixture_file.body), CONFIG, now=NOW):
        assert event.number_style is NumberStyle.E164


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"HangupCause": "NORMAL_CLEARING", "Duration": "12"}, EventKind.ENDED),
        ({"HangupCause": "NORMAL_CLEARING", "Duration": "0"}, EventKind.MISSED),
        ({"HangupCause": "NORMAL_CLEARING", "BillDuration": "0"}, EventKind.MISSED),
        ({"HangupCause": "USER_BUSY", "Duration": "3"}, EventKind.MISSED),
        ({"HangupCause": "NO_ANSWER"}, EventKind.MISSED),
        ({"HangupCauseName": "Busy Line", "Duration": "1"}, EventKind.MISSED),
        ({"HangupCause": "NORMAL_CLEARING", "CallStatus": "no-answer"}, EventKind.MISSED),
        ({"Event": "Hangup", "CallStatus": "completed"}, EventKind.ENDED),
        ({"HangupCause": "SOMETHING_NEW", "Duration": "x"}, EventKind.ENDED),
    ],
)
def test_hangup_ended_or_missed(fields: dict[str, str], kind: EventKind) -> None:
    body = params_body(CallStatus=fields.pop("CallStatus", "completed"), **fields)
    event = parse_one(form_request(body))
    assert event.kind is kind
    # A missed inbound call proves nobody answered; an ended one only that Plivo did.
    assert event.person_answered is (False if kind is EventKind.MISSED else None)


def test_dial_callbacks_name_the_answering_agent() -> None:
    answered = parse_one(form_request(fixture("dial-answer.txt")))
    assert (answered.call_id, answered.kind) == (A_LEG, EventKind.ANSWERED)
    assert (answered.answered_by, answered.direction) == ("alice123", Direction.INBOUND)
    ended = parse_one(form_request(fixture("dial-hangup.txt")))
    assert (ended.kind, ended.answered_by) == (EventKind.ENDED, "alice123")
    assert ended.person_answered is True  # DialBLegDuration 53: the agent's leg was answered


@pytest.mark.parametrize(
    ("fields", "kind", "agent"),
    [
        ({"DialAction": "connected", "DialBLegTo": "3120123"}, EventKind.ANSWERED, "3120123"),
        ({"DialStatus": "completed"}, EventKind.ANSWERED, None),
        ({"DialStatus": "no-answer", "DialBLegTo": "3120123"}, EventKind.MISSED, None),
    ],
)
def test_dial_requests_without_call_uuid_use_the_a_leg(
    fields: dict[str, str], kind: EventKind, agent: str | None
) -> None:
    event = parse_one(form_request(urlencode({"DialALegUUID": A_LEG, **fields}).encode()))
    assert (event.call_id, event.kind, event.answered_by) == (A_LEG, kind, agent)
    # The <Dial action>'s DialStatus reports the whole dial: no-answer proves nobody answered.
    assert event.person_answered is (False if kind is EventKind.MISSED else None)


@pytest.mark.parametrize(
    "fields",
    [
        {"DialAction": "hangup", "DialBLegDuration": "0", "DialBLegTo": "sip:bob@phone.plivo.com"},
        {"DialAction": "hangup"},
        {"DialAction": "digits", "DialDigitsMatch": "1"},
        {"CallStatus": "teleported"},
        {},
    ],
)
def test_untracked_requests_are_ignored(fields: dict[str, str]) -> None:
    request = form_request(params_body(**fields))
    assert adapter.parse(request, CONFIG, now=NOW) == []
    response = adapter.respond(request, CONFIG, [], Outcome())
    assert response.status_code == 200


def test_missing_call_uuid_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match='"CallUUID" is required'):
        adapter.parse(form_request(b"CallStatus=ringing&From=3161"), CONFIG, now=NOW)


def test_caller_name_that_is_the_number_is_dropped() -> None:
    event = parse_one(form_request(params_body(CallStatus="ringing", CallerName="+31612345678")))
    assert event.caller_name is None


@pytest.mark.parametrize(
    ("address", "agent"),
    [("sip:alice1@phone.plivo.com", "alice1"), ("sips:bob@pbx;transport=tls", "bob"), ("31", "31")],
)
def test_agent_from_address(address: str, agent: str) -> None:
    assert agent_from_address(address) == agent


def test_events_filter_from_config() -> None:
    config = AdapterConfig(secret=TOKEN, events=frozenset({EventKind.ENDED}))
    assert adapter.parse(form_request(fixture("answer.txt")), config, now=NOW) == []
    assert parse_one(form_request(fixture("hangup.txt")), config).kind is EventKind.ENDED


# --- responses ----------------------------------------------------------------------------


def dial_config(target: str) -> AdapterConfig:
    return AdapterConfig(secret=TOKEN, options={"dial_target": target})


def test_answer_without_dial_target_is_an_empty_response() -> None:
    response = adapter.respond(form_request(fixture("answer.txt")), CONFIG, [], Outcome())
    assert (response.status_code, response.media_type) == (200, "application/xml")
    assert len(plivo_xml(response.body)) == 0


def test_answer_dials_users_and_numbers_with_a_callback_here() -> None:
    config = dial_config("sip:alice123@phone.plivo.com, 31201234599")
    response = adapter.respond(form_request(fixture("answer.txt")), config, [], Outcome())
    dial = plivo_xml(response.body).find("Dial")
    assert dial is not None
    assert (dial.get("callbackUrl"), dial.get("callbackMethod")) == (URL, "POST")
    assert [(child.tag, child.text) for child in dial] == [
        ("User", "sip:alice123@phone.plivo.com"),
        ("Number", "31201234599"),
    ]


def test_callback_url_is_the_public_url_and_escaped() -> None:
    config = AdapterConfig(
        secret=TOKEN,
        public_base_url="https://proxy.example.org/stamgast",
        options={"dial_target": "sip:a&b@x"},
    )
    request = form_request(fixture("answer.txt"), url="http://10.0.0.5/hook?a=1&b=2")
    root = plivo_xml(adapter.respond(request, config, [], Outcome()).body)
    dial = root.find("Dial")
    assert dial is not None
    assert dial.get("callbackUrl") == "https://proxy.example.org/stamgast/hook?a=1&b=2"
    assert [child.text for child in dial] == ["sip:a&b@x"]


@pytest.mark.parametrize("target", [" , ", "sip:a@x,,31", "bad\x00target", ",".join(["31"] * 11)])
def test_invalid_dial_target_answers_empty(target: str) -> None:
    response = adapter.respond(
        form_request(fixture("answer.txt")), dial_config(target), [], Outcome()
    )
    assert len(plivo_xml(response.body)) == 0


@pytest.mark.parametrize(
    "body",
    [
        fixture("hangup.txt"),
        fixture("dial-answer.txt"),
        params_body(CallStatus="ringing", Direction="outbound"),
    ],
)
def test_other_requests_get_an_empty_response(body: bytes) -> None:
    response = adapter.respond(form_request(body), dial_config("31201234599"), [], Outcome())
    assert len(plivo_xml(response.body)) == 0


def test_dials_even_when_ringing_is_filtered_out() -> None:
    config = AdapterConfig(
        secret=TOKEN, events=frozenset({EventKind.ENDED}), options={"dial_target": "31201"}
    )
    request = form_request(fixture("answer.txt"))
    assert adapter.parse(request, config, now=NOW) == []
    assert plivo_xml(adapter.respond(request, config, [], Outcome()).body).find("Dial") is not None


@pytest.mark.parametrize("options", [{}, {"dial_target": "31201"}, {"dial_target": "\x00"}, None])
@pytest.mark.parametrize("body", [fixture("answer.txt"), fixture("hangup.txt"), b"\xff\xfe", b"%"])
def test_fail_open_never_raises(options: Any, body: bytes) -> None:
    config = AdapterConfig(secret="", options=options)  # None: a broken config object
    request = AdapterRequest("POST", URL, {}, body)
    response = adapter.fail_open(request, config)
    assert response.status_code == 200
    plivo_xml(response.body)


def test_fail_open_connects_the_caller_and_leaves_callbacks_alone() -> None:
    config = dial_config("31201234599")
    answer = adapter.fail_open(AdapterRequest("POST", URL, {}, fixture("answer.txt")), config)
    assert plivo_xml(answer.body).find("Dial") is not None
    hangup = adapter.fail_open(AdapterRequest("POST", URL, {}, fixture("dial-hangup.txt")), config)
    assert len(plivo_xml(hangup.body)) == 0
