"""Generic JSON adapter: HMAC-SHA256 over timestamp and body, strict and helpful parsing."""

from __future__ import annotations

import hashlib
import hmac
import json
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
from telephony_adapters.generic import GenericAdapter, sign_generic
from tests.support import vendor_fixtures

SECRET = "s3cret-of-acme"
NOW = datetime(2026, 11, 25, 10, 42, 30, tzinfo=UTC)
STAMP = int(NOW.timestamp())
URL = "https://stamgast.example.org/webhooks/generic/acme"
CONFIG = AdapterConfig(secret=SECRET)

adapter = GenericAdapter()


def fixture(name: str) -> bytes:
    return vendor_fixtures.load("generic", name).body


def independent_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The documented HMAC, computed here without the adapter's code."""
    message = str(timestamp).encode() + b"." + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def request_for(
    body: bytes,
    *,
    secret: str = SECRET,
    timestamp: int = STAMP,
    headers: dict[str, str] | None = None,
) -> AdapterRequest:
    signed = {
        "x-stamgast-timestamp": str(timestamp),
        "x-stamgast-signature": independent_signature(secret, body, timestamp),
    }
    merged = {"content-type": "application/json", **signed, **(headers or {})}
    return AdapterRequest("POST", URL, merged, body)


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def parse(request: AdapterRequest, config: AdapterConfig = CONFIG) -> list[CallEvent]:
    return adapter.parse(request, config, now=NOW)


def signature_error(request: AdapterRequest) -> str:
    with pytest.raises(SignatureError) as caught:
        parse(request)
    return caught.value.message


# --- signatures ---------------------------------------------------------------------------


def test_sign_generic_matches_independent_hmac() -> None:
    body = fixture("ringing.json")
    headers = sign_generic(SECRET, body, STAMP)
    assert headers == {
        "X-Stamgast-Timestamp": str(STAMP),
        "X-Stamgast-Signature": independent_signature(SECRET, body, STAMP),
    }
    lowered = {name.lower(): value for name, value in headers.items()}
    assert len(parse(AdapterRequest("POST", URL, lowered, body))) == 1


def test_valid_event_with_every_field() -> None:
    [event] = parse(request_for(fixture("ringing.json")))
    assert event == CallEvent(
        provider="generic",
        call_id="abc-123",
        kind=EventKind.RINGING,
        from_raw="+31612345678",
        to_raw="+31331234567",
        direction=Direction.INBOUND,
        ringing_extension="201",
        caller_name="Ada Lovelace",
        occurred_at=datetime(2026, 11, 25, 10, 42, tzinfo=UTC),
        raw=event.raw,
    )
    assert event.raw["event"] == "ringing"


def test_offset_is_converted_to_utc() -> None:
    [event] = parse(request_for(fixture("answered.json")))
    assert (event.kind, event.answered_by) == (EventKind.ANSWERED, "201")
    assert event.occurred_at == datetime(2026, 11, 25, 10, 42, 5, tzinfo=UTC)
    assert event.occurred_at is not None and event.occurred_at.tzinfo is UTC


def test_minimal_event_defaults() -> None:
    [event] = parse(request_for(encode({"call_id": "x", "event": "ended", "from": "+3161"})))
    assert (event.to_raw, event.direction, event.occurred_at) == ("", Direction.INBOUND, None)
    assert event.raw == {"call_id": "x", "event": "ended", "from": "+3161"}


def test_stale_timestamp_is_refused() -> None:
    body = encode({"call_id": "x", "event": "ringing", "from": "+3161"})
    assert "301 s old" in signature_error(request_for(body, timestamp=STAMP - 301))
    assert len(parse(request_for(body, timestamp=STAMP - 300))) == 1


def test_future_timestamp_is_refused() -> None:
    body = encode({"call_id": "x", "event": "ringing", "from": "+3161"})
    assert "301 s in the future" in signature_error(request_for(body, timestamp=STAMP + 301))
    assert len(parse(request_for(body, timestamp=STAMP + 300))) == 1


def test_wrong_secret_is_refused() -> None:
    body = encode({"call_id": "x", "event": "ringing", "from": "+3161"})
    assert "does not match" in signature_error(request_for(body, secret="someone-else"))


def test_altered_body_is_refused() -> None:
    body = encode({"call_id": "x", "event": "ringing", "from": "+3161"})
    request = request_for(body)
    altered = AdapterRequest("POST", URL, request.headers, body.replace(b"+3161", b"+3162"))
    assert "does not match" in signature_error(altered)


def test_timestamp_is_part_of_the_signature() -> None:
    body = encode({"call_id": "x", "event": "ringing", "from": "+3161"})
    request = request_for(body)
    moved = {**request.headers, "x-stamgast-timestamp": str(STAMP + 1)}
    assert "does not match" in signature_error(AdapterRequest("POST", URL, moved, body))


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("x-stamgast-timestamp", "missing X-Stamgast-Timestamp header"),
        ("x-stamgast-signature", "missing X-Stamgast-Signature header"),
    ],
)
def test_missing_headers_are_refused(drop: str, message: str) -> None:
    request = request_for(b"{}")
    headers = {name: value for name, value in request.headers.items() if name != drop}
    assert signature_error(AdapterRequest("POST", URL, headers, b"{}")) == message


@pytest.mark.parametrize("stamp", ["abc", "1_764_067_350", "+1764067350", "1.5e9", ""])
def test_non_integer_timestamp_is_refused(stamp: str) -> None:
    request = request_for(b"{}", headers={"x-stamgast-timestamp": stamp})
    assert "must be an integer (unix seconds)" in signature_error(request)


def test_signature_without_v1_is_refused() -> None:
    request = request_for(b"{}", headers={"x-stamgast-signature": "v0=abc, sha256=def"})
    assert signature_error(request) == "X-Stamgast-Signature holds no v1= signature"


def test_key_rotation_accepts_any_v1_value() -> None:
    body = encode({"call_id": "x", "event": "ringing", "from": "+3161"})
    old = independent_signature("old-secret", body, STAMP)
    new = independent_signature(SECRET, body, STAMP)
    for header in (f"{old},{new}", f"{new}, {old}", f"v2=zzz, {old}, {new}"):
        request = request_for(body, headers={"x-stamgast-signature": header})
        assert len(parse(request)) == 1
    only_old = request_for(body, headers={"x-stamgast-signature": old})
    assert "does not match" in signature_error(only_old)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        adapter.parse(request_for(b"{}"), CONFIG, now=NOW.replace(tzinfo=None))


# --- payloads -----------------------------------------------------------------------------

KINDS = "ringing, answered, ended, missed, voicemail"
ISO_EXPECTED = 'an ISO-8601 time with offset, e.g. "2026-11-25T10:42:00Z"'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"call_id=x", "body is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        (b'"ringing"', "body must be a JSON object or an array of objects; got string"),
        (b"42", "body must be a JSON object or an array of objects; got number"),
        (b"[]", "a batch must hold 1 to 100 events; got 0"),
        (encode({"event": "ringing", "from": "+3161"}), '"call_id" is required'),
        (
            encode({"call_id": " ", "event": "ringing", "from": "+3161"}),
            '"call_id" must not be empty',
        ),
        (
            encode({"call_id": 7, "event": "ringing", "from": "+3161"}),
            '"call_id" must be a string; got number',
        ),
        (encode({"call_id": "x", "from": "+3161"}), f'"event" is required (one of {KINDS})'),
        (
            encode({"call_id": "x", "event": "ring", "from": "+3161"}),
            f'"event" must be one of {KINDS}; got "ring"',
        ),
        (
            encode({"call_id": "x", "event": ["ringing"], "from": "+3161"}),
            f'"event" must be one of {KINDS}; got array',
        ),
        (encode({"call_id": "x", "event": "ringing"}), '"from" is required'),
        (encode({"call_id": "x", "event": "ringing", "from": None}), '"from" is required'),
        (
            encode({"call_id": "x", "event": "ringing", "from": "+3161", "to": "9" * 65}),
            '"to" must be at most 64 characters; got 65',
        ),
        (
            encode({"call_id": "x", "event": "ringing", "from": "+3161", "direction": "sideways"}),
            '"direction" must be one of inbound, outbound, internal; got "sideways"',
        ),
        (
            encode({"call_id": "x", "event": "ringing", "from": "+3161", "extension": 201}),
            '"extension" must be a string; got number',
        ),
        (
            encode(
                {"call_id": "x", "event": "ringing", "from": "+3161", "occurred_at": "yesterday"}
            ),
            f'"occurred_at" must be {ISO_EXPECTED}; got "yesterday"',
        ),
        (
            encode(
                {
                    "call_id": "x",
                    "event": "ringing",
                    "from": "+3161",
                    "occurred_at": "2026-11-25T10:42:00",
                }
            ),
            f'"occurred_at" must be {ISO_EXPECTED}; got no offset',
        ),
        (
            encode([{"call_id": "x", "event": "ringing", "from": "+3161"}, "oops"]),
            "events[1]: an event must be a JSON object; got string",
        ),
        (
            encode(
                [
                    {"call_id": "x", "event": "ringing", "from": "+3161"},
                    {"call_id": "y", "from": "1"},
                ]
            ),
            f'events[1]: "event" is required (one of {KINDS})',
        ),
    ],
)
def test_malformed_bodies(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(request_for(body))
    assert caught.value.message == message


def test_malformed_body_is_checked_only_after_the_signature() -> None:
    request = request_for(b"not json", secret="someone-else")
    with pytest.raises(SignatureError):
        parse(request)


def test_batch() -> None:
    events = parse(request_for(fixture("batch.json")))
    assert [event.kind for event in events] == [
        EventKind.RINGING,
        EventKind.ANSWERED,
        EventKind.ENDED,
        EventKind.MISSED,
        EventKind.VOICEMAIL,
    ]
    assert events[0].ringing_extension == "201"
    assert events[4].from_raw == ""  # a withheld number is still a call


def test_batch_limit() -> None:
    item = {"call_id": "x", "event": "ringing", "from": "+3161"}
    assert len(parse(request_for(encode([item] * 100)))) == 100
    with pytest.raises(PayloadError, match="1 to 100 events; got 101"):
        parse(request_for(encode([item] * 101)))


def test_events_filter_from_config() -> None:
    config = AdapterConfig(secret=SECRET, events=frozenset({EventKind.MISSED, EventKind.VOICEMAIL}))
    events = parse(request_for(fixture("batch.json")), config)
    assert [event.call_id for event in events] == ["def-456", "ghi-789"]
    ringing_only = request_for(fixture("ringing.json"))
    assert parse(ringing_only, config) == []


def test_respond_and_fail_open() -> None:
    request = request_for(fixture("batch.json"))
    events = parse(request)
    response = adapter.respond(request, CONFIG, events, Outcome(recognised_name="Ada"))
    assert (response.status_code, response.media_type) == (200, "application/json")
    assert json.loads(response.body) == {"ok": True, "events": 5}
    degraded = adapter.fail_open(request, CONFIG)
    assert (degraded.status_code, degraded.media_type) == (200, "application/json")
    assert json.loads(degraded.body) == {"ok": True, "events": 0, "degraded": True}


def test_events_are_hashable() -> None:
    [event] = parse(request_for(fixture("ringing.json")))
    assert hash(event) == hash(event)
    assert event.occurred_at is not None and NOW - event.occurred_at < timedelta(minutes=1)


def test_every_event_carries_the_dialled_number_style() -> None:
    fixtures = vendor_fixtures.all_fixtures("generic")
    # Our own format: its fixtures cite our README, not a vendor.
    assert {fx.authored_by for fx in fixtures} == {"ours"}
    events = [event for fx in fixtures for event in parse(request_for(fx.body))]
    assert len(events) == 7
    assert {event.number_style for event in events} == {NumberStyle.DIALLED}
    assert {event.person_answered for event in events} == {None}
