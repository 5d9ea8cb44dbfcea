"""Telnyx adapter: Ed25519 signatures made with PyNaCl and checked by Telnyx's own SDK.

Events and answers are in test_telnyx.py; shared helpers in telnyx_helpers.py.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import pytest
from telnyx.lib.webhook_verification import (  # type: ignore[import-untyped]
    WebhookVerificationError,
    verify_webhook_signature,
)

from telephony_adapters.base import (
    AdapterConfig,
    AdapterRequest,
    CallEvent,
    Direction,
    EventKind,
    NumberStyle,
    SignatureError,
)
from tests.adapters.cases_telnyx import AGENT_CLIENT_STATE, public_key, telnyx_headers
from tests.adapters.telnyx_helpers import (
    CONFIG,
    KEY,
    NOW,
    SESSION,
    STAMP,
    URL,
    adapter,
    fixture,
    parse,
    signed,
)


def signature_error(request: AdapterRequest) -> str:
    with pytest.raises(SignatureError) as caught:
        parse(request)
    return caught.value.message


# --- signatures ---------------------------------------------------------------------------


def test_nacl_signature_is_what_telnyx_sdk_checks_and_what_we_accept() -> None:
    body = fixture("call-initiated.json")
    headers = telnyx_headers(KEY, body, int(time.time()))
    verify_webhook_signature(body, headers, public_key(KEY))  # raises if Telnyx disagrees
    with pytest.raises(WebhookVerificationError):
        verify_webhook_signature(body, headers, public_key("someone-else"))
    request = AdapterRequest("POST", URL, {"content-type": "application/json", **headers}, body)
    [event] = adapter.parse(request, CONFIG, now=datetime.now(UTC))
    assert event == CallEvent(
        provider="telnyx",
        call_id=SESSION,
        kind=EventKind.RINGING,
        from_raw="+31612345678",
        to_raw="+31331234567",
        direction=Direction.INBOUND,
        caller_name="Ada de Vries",
        occurred_at=datetime(2026, 11, 25, 10, 42, 0, 521992, tzinfo=UTC),
        number_style=NumberStyle.E164,
        raw=event.raw,
    )
    assert event.raw["call_leg_id"] == "428c31b6-7af4-4bcb-b7f5-5013ef9657c1"


def test_wrong_key_altered_body_and_moved_timestamp_are_refused() -> None:
    body = fixture("call-initiated.json")
    assert "does not match" in signature_error(signed(body, key="someone-else"))
    request = signed(body)
    altered = AdapterRequest("POST", URL, request.headers, body.replace(b"+316", b"+317"))
    assert "does not match" in signature_error(altered)
    moved = {**request.headers, "telnyx-timestamp": str(STAMP + 1)}
    assert "does not match" in signature_error(AdapterRequest("POST", URL, moved, body))


@pytest.mark.parametrize("drop", ["telnyx-signature-ed25519", "telnyx-timestamp"])
def test_missing_headers_are_refused(drop: str) -> None:
    request = signed(fixture("call-initiated.json"))
    headers = {name: value for name, value in request.headers.items() if name != drop}
    assert (
        signature_error(AdapterRequest("POST", URL, headers, request.body))
        == f"missing {drop} header"
    )


def test_stale_and_future_timestamps() -> None:
    body = fixture("call-initiated.json")
    assert "301 s old" in signature_error(signed(body, stamp=STAMP - 301))
    assert "301 s in the future" in signature_error(signed(body, stamp=STAMP + 301))
    assert len(parse(signed(body, stamp=STAMP - 300))) == len(
        parse(signed(body, stamp=STAMP + 300))
    )


@pytest.mark.parametrize("stamp", ["abc", "+1764067350", "1.5e9", ""])
def test_non_integer_timestamp_is_refused(stamp: str) -> None:
    request = signed(fixture("call-initiated.json"))
    headers = {**request.headers, "telnyx-timestamp": stamp}
    assert "must be unix seconds" in signature_error(
        AdapterRequest("POST", URL, headers, request.body)
    )


def test_unusable_key_or_signature_says_so() -> None:
    request = signed(fixture("call-initiated.json"))
    for secret in ("not base64!", "c2hvcnQ="):
        with pytest.raises(SignatureError, match="not a Telnyx public key"):
            adapter.parse(request, AdapterConfig(secret=secret), now=NOW)
    garbled = {**request.headers, "telnyx-signature-ed25519": "***"}
    assert "is not base64" in signature_error(AdapterRequest("POST", URL, garbled, request.body))


# --- the agent marker: only what Telnyx signs counts -----------------------------------------


def vendor_signed(body: bytes, url: str) -> AdapterRequest:
    """`body` signed now, checked by Telnyx's own SDK, delivered to `url`."""
    headers = telnyx_headers(KEY, body, int(time.time()))
    verify_webhook_signature(body, headers, public_key(KEY))  # raises if Telnyx disagrees
    return AdapterRequest("POST", url, {"content-type": "application/json", **headers}, body)


def phone_leg(client_state: str | None) -> bytes:
    """The transfer's leg to a phone number answered, with `client_state` in its payload."""
    document = json.loads(fixture("agent-answered-phone.json"))
    document["data"]["payload"]["client_state"] = client_state
    return json.dumps(document).encode()


def test_replayed_event_with_the_query_marker_added_is_no_agent_leg(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Our user's call to a number, captured and replayed with ?stamgast_leg=agent added: its
    # signature still holds, as Telnyx signs timestamp|body and never the URL.
    request = vendor_signed(phone_leg(None), f"{URL}?stamgast_leg=agent")
    caplog.set_level(logging.WARNING, logger="telephony_adapters.telnyx")
    [event] = adapter.parse(request, CONFIG, now=datetime.now(UTC))
    assert (event.direction, event.answered_by) == (Direction.OUTBOUND, None)
    [warning] = caplog.records  # once per request, saying what to do instead
    assert "target_leg_client_state" in warning.getMessage()


def test_client_state_in_the_signed_body_marks_the_agent_leg(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="telephony_adapters.telnyx")
    for url in (URL, f"{URL}?stamgast_leg=agent"):
        request = vendor_signed(phone_leg(AGENT_CLIENT_STATE), url)
        [event] = adapter.parse(request, CONFIG, now=datetime.now(UTC))
        assert (event.direction, event.answered_by) == (Direction.INBOUND, "+31201234567")
    assert caplog.records == []  # the body marks it: the old query marker does no harm


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        adapter.parse(signed(fixture("call-initiated.json")), CONFIG, now=NOW.replace(tzinfo=None))
