"""Plivo adapter: V3 signatures made and checked by Plivo's own SDK, parsing, Plivo XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from plivo.utils.signature_v3 import (  # type: ignore[import-untyped]
    construct_get_url,
    construct_post_url,
)

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
from telephony_adapters.plivo import PlivoAdapter, agent_from_address, plivo_base_string
from tests.adapters.cases_plivo import sdk_params, sdk_signature
from tests.support import vendor_fixtures

TOKEN = "MzQ5ZGFkNTctYjE2Ny00NzI3LWE0ZGQtZDFhNjA0ZmIyZTE1"
URL = "https://stamgast.example.org/webhooks/plivo/acme"
NONCE = "05429567804466091622"
NOW = datetime(2026, 11, 25, 10, 42, tzinfo=UTC)
A_LEG = "e4b3c2d1-0a9b-4c8d-8e7f-6a5b4c3d2e1f"
FORM = "application/x-www-form-urlencoded"

adapter = PlivoAdapter()
CONFIG = AdapterConfig(secret=TOKEN)


def fixture(name: str) -> bytes:
    return vendor_fixtures.load("plivo", name).body


def signature_of(url: str, body: bytes, *, token: str = TOKEN, method: str = "POST") -> str:
    return sdk_signature(url, body, token, NONCE, method)


def form_request(
    body: bytes, *, url: str = URL, signature: str | None = None, signed_url: str | None = None
) -> AdapterRequest:
    headers = {
        "content-type": FORM,
        "x-plivo-signature-v3": signature or signature_of(signed_url or url, body),
        "x-plivo-signature-v3-nonce": NONCE,
    }
    return AdapterRequest(method="POST", url=url, headers=headers, body=body)


def parse_one(request: AdapterRequest, config: AdapterConfig = CONFIG) -> CallEvent:
    events = adapter.parse(request, config, now=NOW)
    assert len(events) == 1
    return events[0]


def params_body(**fields: str) -> bytes:
    return urlencode(
        {"CallUUID": A_LEG, "From": "31612345678", "To": "31201234567", **fields}
    ).encode()


def plivo_xml(body: bytes) -> ET.Element:
    """Parse the XML (proving it well-formed) and check the declaration and root."""
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return root


# --- signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/answer/",
        "https://example.com/answer/?b=2&a=1&a=0&empty=",
        "http://10.0.0.5:8000/hook;v=1?x=%2F+y#frag",
    ],
)
@pytest.mark.parametrize("body", [b"", b"CallUUID=abc&From=3161&Tag=b&Tag=a&Blank="])
def test_base_string_matches_the_sdk(url: str, body: bytes) -> None:
    params = parse_qs(body.decode(), keep_blank_values=True)
    ours = plivo_base_string("POST", url, params)
    assert ours == construct_post_url(url, sdk_params(body)).decode()
    assert plivo_base_string("GET", url, {}) == construct_get_url(url, {}).decode()


def test_documented_base_string_shape() -> None:
    body = "CallUUID=e4b3&From=14155551234&To=14155559876&CallStatus=ringing&Direction=inbound"
    params = parse_qs(body + "&Event=StartApp")
    assert plivo_base_string("POST", "https://example.com/answer/", params) == (
        "https://example.com/answer/?CallStatusringingCallUUIDe4b3DirectioninboundEventStartApp"
        "From14155551234To14155559876"
    )


def test_answer_fixture_is_verified_and_parsed() -> None:
    event = parse_one(form_request(fixture("answer.txt")))
    expected = CallEvent("plivo", A_LEG, EventKind.RINGING, "31612345678", "31201234567")
    expected = replace(expected, number_style=NumberStyle.E164)
    assert event == replace(expected, caller_name="ADA L", raw=event.raw)
    assert event.raw["Event"] == "StartApp" and event.raw["ForwardedFrom"] == ""


def test_wrong_token_is_refused() -> None:
    body = fixture("answer.txt")
    request = form_request(body, signature=signature_of(URL, body, token="not-the-token"))
    with pytest.raises(SignatureError, match="does not match for URL https://stamgast"):
        adapter.parse(request, CONFIG, now=NOW)


@pytest.mark.parametrize(
    ("body", "nonce"),
    [
        (fixture("answer.txt").replace(b"From=31612345678", b"From=31699999999"), NONCE),
        (fixture("answer.txt") + b"&Extra=1", NONCE),
        (fixture("answer.txt"), "99999999999999999999"),
    ],
)
def test_altered_body_params_or_nonce_are_refused(body: bytes, nonce: str) -> None:
    signed = form_request(fixture("answer.txt"))
    headers = {**signed.headers, "x-plivo-signature-v3-nonce": nonce}
    with pytest.raises(SignatureError):
        adapter.parse(AdapterRequest("POST", URL, headers, body), CONFIG, now=NOW)


def test_altered_query_is_refused() -> None:
    body = fixture("answer.txt")
    signed = f"{URL}?line=1"
    request = form_request(body, url=f"{URL}?line=2", signature=signature_of(signed, body))
    with pytest.raises(SignatureError):
        adapter.parse(request, CONFIG, now=NOW)
    assert parse_one(form_request(body, url=signed)).kind is EventKind.RINGING


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("x-plivo-signature-v3", "missing X-Plivo-Signature-V3 header"),
        ("x-plivo-signature-v3-nonce", "missing X-Plivo-Signature-V3-Nonce header"),
    ],
)
def test_missing_headers_are_refused(drop: str, message: str) -> None:
    request = form_request(fixture("answer.txt"))
    headers = {k: v for k, v in request.headers.items() if k != drop}
    with pytest.raises(SignatureError) as caught:
        adapter.parse(AdapterRequest("POST", URL, headers, request.body), CONFIG, now=NOW)
    assert caught.value.message == message


def test_any_value_in_the_comma_list_matches() -> None:
    body = fixture("answer.txt")
    signature = f"c29tZXRoaW5nIGVsc2U=, {signature_of(URL, body)}"
    assert parse_one(form_request(body, signature=signature)).kind is EventKind.RINGING


def test_main_account_signature_is_accepted() -> None:
    body = fixture("answer.txt")
    headers = {
        "content-type": FORM,
        "x-plivo-signature-v3": signature_of(URL, body, token="subaccount-token"),
        "x-plivo-signature-ma-v3": signature_of(URL, body),
        "x-plivo-signature-v3-nonce": NONCE,
    }
    assert parse_one(AdapterRequest("POST", URL, headers, body)).kind is EventKind.RINGING


def test_proxy_needs_public_base_url() -> None:
    internal = "http://10.0.0.5:8000/webhooks/plivo/acme"
    request = form_request(fixture("answer.txt"), url=internal, signed_url=URL)
    proxied = AdapterConfig(secret=TOKEN, public_base_url="https://stamgast.example.org")
    assert parse_one(request, proxied).kind is EventKind.RINGING
    with pytest.raises(SignatureError, match=r"for URL http://10\.0\.0\.5:8000/"):
        adapter.parse(request, CONFIG, now=NOW)


def test_repeated_params_match_the_sdk() -> None:
    body = params_body(CallStatus="ringing") + b"&Tag=b&Tag=a"
    assert parse_one(form_request(body)).raw["Tag"] == "b"


def test_get_request_is_signed_over_the_url() -> None:
    url = f"{URL}?{params_body(CallStatus='ringing').decode()}"
    signature = signature_of(url, b"", method="GET")
    headers = {"x-plivo-signature-v3": signature, "x-plivo-signature-v3-nonce": NONCE}
    event = parse_one(AdapterRequest("GET", url, headers, b""))
    assert (event.call_id, event.kind) == (A_LEG, EventKind.RINGING)
    tampered = AdapterRequest("GET", url.replace("31612345678", "31612345679"), headers, b"")
    with pytest.raises(SignatureError):
        adapter.parse(tampered, CONFIG, now=NOW)


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
