"""Zammad-style generic CTI: Zammad's exact body (JSON, urlencoded, multipart), secret or HMAC."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
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
from telephony_adapters.zammad_cti import ZammadCtiAdapter
from tests.support import vendor_fixtures

SECRET = "zammad-secret-of-acme"
NOW = datetime(2026, 11, 25, 10, 42, 30, tzinfo=UTC)
STAMP = int(NOW.timestamp())
URL = "https://stamgast.example.org/webhooks/zammad_cti/acme"
CONFIG = AdapterConfig(secret=SECRET)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

adapter = ZammadCtiAdapter()


def fixture(name: str) -> bytes:
    return vendor_fixtures.load("zammad_cti", name).body


def with_secret(
    body: bytes, *, secret: str | None = SECRET, content_type: str = JSON
) -> AdapterRequest:
    headers = {"content-type": content_type}
    if secret is not None:
        headers["x-stamgast-secret"] = secret
    return AdapterRequest("POST", URL, headers, body)


def with_hmac(
    body: bytes, *, secret: str = SECRET, stamp: int = STAMP, content_type: str = JSON
) -> AdapterRequest:
    """Signed per the documented generic scheme, computed here without the adapter's code."""
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": content_type,
        "x-stamgast-timestamp": str(stamp),
        "x-stamgast-signature": f"v1={digest}",
    }
    return AdapterRequest("POST", URL, headers, body)


def parse(request: AdapterRequest, config: AdapterConfig = CONFIG) -> list[CallEvent]:
    return adapter.parse(request, config, now=NOW)


def one(body: Mapping[str, Any]) -> CallEvent:
    [event] = parse(with_secret(json.dumps(body).encode()))
    return event


def refused(request: AdapterRequest, config: AdapterConfig = CONFIG) -> str:
    with pytest.raises(SignatureError) as caught:
        parse(request, config)
    return caught.value.message


def malformed(body: bytes, content_type: str = JSON) -> str:
    with pytest.raises(PayloadError) as caught:
        parse(with_secret(body, content_type=content_type))
    return caught.value.message


BASE = {"from": "493023125741", "to": "492214710334", "direction": "in", "callId": "c-1"}

# --- authentication -----------------------------------------------------------------------


def test_secret_header_accepts_zammads_own_body() -> None:
    [event] = parse(with_secret(fixture("newcall.json")))
    assert event == CallEvent(
        provider="zammad_cti",
        call_id="307fa962-de8d-4ffc-817b-7f6993204159",
        kind=EventKind.RINGING,
        from_raw="493023125741",
        to_raw="492214710334",
        direction=Direction.INBOUND,
        number_style=NumberStyle.E164,
        raw=event.raw,
    )
    assert event.raw["queue"] == "support"
    assert json.loads(event.raw["user"]) == ["Christopher Miller", "Emma Taylor"]


def test_wrong_secret_is_refused() -> None:
    message = refused(with_secret(fixture("newcall.json"), secret="someone-else"))
    assert message == "X-Stamgast-Secret does not match the secret configured here"


def test_missing_secret_header_is_refused() -> None:
    message = refused(with_secret(fixture("newcall.json"), secret=None))
    assert message.startswith("missing X-Stamgast-Secret header")
    assert "X-Stamgast-Signature" in message  # the alternative is named


def test_empty_configured_secret_accepts_nothing() -> None:
    empty = AdapterConfig(secret="")
    assert "no secret is configured" in refused(with_secret(b"{}", secret=""), empty)
    assert "no secret is configured" in refused(with_hmac(b"{}", secret=""), empty)


def test_hmac_headers_are_verified_instead() -> None:
    [event] = parse(with_hmac(fixture("answer.json")))
    assert event.kind is EventKind.ANSWERED


def test_hmac_wrong_key_altered_body_and_stale_are_refused() -> None:
    body = fixture("newcall.json")
    assert "does not match" in refused(with_hmac(body, secret="someone-else"))
    signed = with_hmac(body)
    altered = AdapterRequest("POST", URL, signed.headers, body.replace(b"4930", b"4931"))
    assert "does not match" in refused(altered)
    assert "301 s old" in refused(with_hmac(body, stamp=STAMP - 301))
    assert len(parse(with_hmac(body, stamp=STAMP - 300))) == 1


def test_hmac_headers_win_over_a_correct_secret_header() -> None:
    # Sending both must not let a right secret cover for a wrong signature.
    request = with_hmac(fixture("newcall.json"), secret="someone-else")
    headers = {**request.headers, "x-stamgast-secret": SECRET}
    assert "does not match" in refused(AdapterRequest("POST", URL, headers, request.body))
    half = {"content-type": JSON, "x-stamgast-secret": SECRET, "x-stamgast-timestamp": "1"}
    assert "missing X-Stamgast-Signature" in refused(AdapterRequest("POST", URL, half, b"{}"))


def test_malformed_body_is_checked_only_after_the_secret() -> None:
    assert "does not match" in refused(with_secret(b"not json {", secret="nope"))


# --- bodies -------------------------------------------------------------------------------


def test_urlencoded_form_with_repeated_user_fields() -> None:
    [event] = parse(with_secret(fixture("newcall-form.txt"), content_type=FORM))
    assert (event.call_id, event.kind, event.from_raw) == (
        "123456",
        EventKind.RINGING,
        "492111234567",
    )
    assert json.loads(event.raw["user"]) == ["Alice", "Bob"]
    assert event.raw["userId[]"] == "w0"


def test_multipart_form_as_curl_form_sends_it() -> None:
    boundary = "------------------------d74496d66958873e"
    fields = [("event", "answer"), ("callId", "m-1"), ("from", "0301234567")]
    fields += [("to", "0221470334"), ("direction", "in"), ("user[]", "Zoë de Vries")]
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    request = with_secret(body, content_type=f"multipart/form-data; boundary={boundary}")
    [event] = parse(request)
    assert (event.kind, event.call_id, event.answered_by) == (
        EventKind.ANSWERED,
        "m-1",
        "Zoë de Vries",
    )


def test_multipart_without_boundary_is_malformed() -> None:
    message = malformed(b"event=newCall", content_type="multipart/form-data")
    assert "no parts" in message


def test_json_sent_with_a_form_content_type_is_read_as_json() -> None:
    [event] = parse(with_secret(fixture("hangup.json"), content_type=FORM))
    assert event.kind is EventKind.ENDED


def test_integers_are_accepted_for_ids_and_numbers() -> None:
    event = one({"event": "newCall", "callId": 123456789, "from": 4930555, "to": 4922})
    assert (event.call_id, event.from_raw, event.to_raw) == ("123456789", "4930555", "4922")


# --- mappings -----------------------------------------------------------------------------


def test_answer_names_the_answering_number() -> None:
    [event] = parse(with_secret(fixture("answer.json")))
    assert (event.kind, event.answered_by) == (EventKind.ANSWERED, "emma@chrispresso.com")


@pytest.mark.parametrize(
    ("user", "answered_by"),
    [("Emma Taylor", "Emma Taylor"), (["Emma Taylor"], "Emma Taylor"), (["A", "B"], None)],
)
def test_answer_without_answering_number_falls_back_to_a_lone_user(
    user: object, answered_by: str | None
) -> None:
    assert one({**BASE, "event": "answer", "user": user}).answered_by == answered_by


@pytest.mark.parametrize(
    ("cause", "kind"),
    [
        ("normalClearing", EventKind.ENDED),
        ("forwarded", EventKind.ENDED),
        (None, EventKind.ENDED),
        ("somethingNew", EventKind.ENDED),
        ("busy", EventKind.MISSED),
        ("cancel", EventKind.MISSED),
        ("noAnswer", EventKind.MISSED),
        ("congestion", EventKind.MISSED),
        ("notFound", EventKind.MISSED),
    ],
)
def test_hangup_causes(cause: str | None, kind: EventKind) -> None:
    body = {**BASE, "event": "hangup", **({"cause": cause} if cause else {})}
    assert one(body).kind is kind


def test_missed_hangup_names_nobody_and_ended_keeps_the_answering_number() -> None:
    [ended] = parse(with_secret(fixture("hangup.json")))
    assert (ended.kind, ended.answered_by) == (EventKind.ENDED, "emma@chrispresso.com")
    [missed] = parse(with_secret(fixture("hangup-cancel-form.txt"), content_type=FORM))
    assert (missed.kind, missed.answered_by) == (EventKind.MISSED, None)


def test_directions() -> None:
    assert one({**BASE, "event": "newCall", "direction": "out"}).direction is Direction.OUTBOUND
    assert one({**BASE, "event": "newCall", "direction": "IN"}).direction is Direction.INBOUND
    without = {key: value for key, value in BASE.items() if key != "direction"}
    assert one({**without, "event": "newCall"}).direction is Direction.INBOUND


def test_hangup_may_leave_out_the_numbers() -> None:
    event = one({"event": "hangup", "callId": "c-9", "cause": "cancel"})
    assert (event.kind, event.from_raw, event.to_raw) == (EventKind.MISSED, "", "")


@pytest.mark.parametrize("name", ["transfer", "dtmf", "NEWCALL_V2", ""])
def test_unknown_events_are_ignored(name: str) -> None:
    assert parse(with_secret(json.dumps({**BASE, "event": name}).encode())) == []


def test_events_filter_from_config() -> None:
    config = AdapterConfig(secret=SECRET, events=frozenset({EventKind.MISSED}))
    assert parse(with_secret(fixture("newcall.json")), config) == []
    request = with_secret(fixture("hangup-cancel-form.txt"), content_type=FORM)
    assert [event.kind for event in parse(request, config)] == [EventKind.MISSED]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON"),
        (b'["newCall"]', "JSON body must be an object; got array"),
        (json.dumps({"callId": "x"}).encode(), '"event" is required (newCall, answer or hangup)'),
        (json.dumps({"event": "answer"}).encode(), '"callId" (or "call_id") is required'),
        (
            json.dumps({"event": "answer", "callId": " "}).encode(),
            '"callId" (or "call_id") is required',
        ),
        (
            json.dumps({"event": "newCall", "callId": "x"}).encode(),
            '"from" is required for newCall',
        ),
        (
            json.dumps({"event": "answer", "callId": {"id": 1}}).encode(),
            '"callId" must be a string; got object',
        ),
        (
            json.dumps({"event": "answer", "callId": "x" * 251}).encode(),
            '"callId" must be at most 250 characters; got 251',
        ),
        (
            json.dumps({**BASE, "event": "newCall", "direction": "sideways"}).encode(),
            '"direction" must be in or out; got "sideways"',
        ),
        (
            json.dumps({**BASE, "event": "newCall", "user": [1, 2]}).encode(),
            '"user" must be a string or an array of strings',
        ),
        (json.dumps({**BASE, "event": True}).encode(), '"event" must be a string; got boolean'),
    ],
)
def test_malformed_bodies_name_the_field(body: bytes, message: str) -> None:
    assert malformed(body).startswith(message)


def test_non_utf8_form_is_malformed() -> None:
    assert "not UTF-8" in malformed(b"event=newCall&from=%FF", content_type=FORM)


# --- responses ----------------------------------------------------------------------------


def test_every_event_is_answered_with_no_action() -> None:
    for name, content_type in [("newcall.json", JSON), ("hangup-cancel-form.txt", FORM)]:
        request = with_secret(fixture(name), content_type=content_type)
        events = parse(request)
        response = adapter.respond(request, CONFIG, events, Outcome(recognised_name="Ada"))
        assert (response.status_code, response.media_type) == (200, "application/json")
        assert json.loads(response.body) == {}


def test_fail_open_is_no_action_even_for_garbage() -> None:
    for request in (with_secret(fixture("newcall.json")), with_secret(b"\xff\x00", secret=None)):
        response = adapter.fail_open(request, AdapterConfig(secret=""))
        assert (response.status_code, json.loads(response.body)) == (200, {})


# --- Zammad's own request specs and documentation -----------------------------------------


def from_fixture(name: str) -> CallEvent:
    fx = vendor_fixtures.load("zammad_cti", name)
    [event] = parse(with_secret(fx.body, content_type=fx.content_type or JSON))
    return event


def test_every_event_carries_e164_as_zammad_scripts_send_numbers() -> None:
    events = [from_fixture(fx.path.name) for fx in vendor_fixtures.all_fixtures("zammad_cti")]
    assert {event.number_style for event in events} == {NumberStyle.E164}


def test_call_id_is_accepted_as_zammad_accepts_it() -> None:
    event = from_fixture("spec-newcall-in.txt")
    assert event == CallEvent(
        provider="zammad_cti",
        call_id="4991155921769858278-1",
        kind=EventKind.RINGING,
        from_raw="4912347114711",
        to_raw="4930600000000",
        direction=Direction.INBOUND,
        number_style=NumberStyle.E164,
        raw=event.raw,
    )
    assert event.raw["user"] == '["user+1", "user+2"]'  # two users ring: no one extension
    assert from_fixture("spec-answer-json.json").call_id == "1234567890-3"


def test_callid_wins_over_call_id() -> None:
    assert one({"event": "hangup", "callId": "a", "call_id": "b"}).call_id == "a"


def test_documented_outbound_new_call_rings_for_the_calling_user() -> None:
    event = from_fixture("docs-newcall-outbound.json")
    assert (event.kind, event.direction, event.from_raw, event.to_raw) == (
        EventKind.RINGING,
        Direction.OUTBOUND,
        "493023125741",
        "492214710334",
    )
    assert event.ringing_extension == "Christopher Miller"
    assert from_fixture("docs-newcall-inbound.json").ringing_extension is None


def test_outbound_call_from_zammads_specs() -> None:
    ringing = from_fixture("spec-newcall-out.txt")
    assert (ringing.direction, ringing.ringing_extension) == (Direction.OUTBOUND, "user 1")
    answered = from_fixture("spec-answer-out.txt")
    assert (answered.kind, answered.direction, answered.call_id) == (
        EventKind.ANSWERED,
        Direction.OUTBOUND,
        "1234567890-2",
    )
    ended = from_fixture("spec-hangup-out-normal.txt")
    # normalClearing follows a voicemail as well as a person: it proves nothing.
    assert (ended.kind, ended.direction, ended.person_answered) == (
        EventKind.ENDED,
        Direction.OUTBOUND,
        None,
    )


def test_cancelled_outbound_call_is_an_outbound_miss_without_numbers() -> None:
    event = from_fixture("spec-hangup-out-cancel.txt")
    assert (event.kind, event.direction, event.person_answered, event.from_raw) == (
        EventKind.MISSED,
        Direction.OUTBOUND,
        False,
        "",
    )


@pytest.mark.parametrize(
    ("cause", "answered"),
    [
        ("busy", False),
        ("cancel", False),
        ("noAnswer", False),
        ("congestion", False),
        ("notFound", False),
        ("normalClearing", None),
        ("forwarded", None),
    ],
)
def test_hangup_cause_says_whether_a_person_answered(cause: str, answered: bool | None) -> None:
    assert one({**BASE, "event": "hangup", "cause": cause}).person_answered is answered


def test_answer_by_voicemail_is_voicemail() -> None:
    event = from_fixture("spec-answer-voicemail.txt")
    assert (event.kind, event.call_id, event.answered_by) == (
        EventKind.VOICEMAIL,
        "1234567890-4",
        None,
    )


def test_withheld_caller_with_users_as_one_string() -> None:
    event = from_fixture("spec-newcall-anonymous-queue.txt")
    assert (event.from_raw, event.ringing_extension, event.raw["queue"]) == (
        "anonymous",
        None,
        "some_queue_name",
    )
