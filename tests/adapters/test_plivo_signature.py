"""Plivo adapter: V3 signatures made and checked by Plivo's own SDK.

Parsing and Plivo XML answers are in test_plivo.py; shared helpers in plivo_helpers.py.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs

import pytest
from plivo.utils.signature_v3 import (  # type: ignore[import-untyped]
    construct_get_url,
    construct_post_url,
)

from telephony_adapters.base import (
    AdapterConfig,
    AdapterRequest,
    CallEvent,
    EventKind,
    NumberStyle,
    SignatureError,
)
from telephony_adapters.plivo import plivo_base_string
from tests.adapters.cases_plivo import sdk_params
from tests.adapters.plivo_helpers import (
    A_LEG,
    CONFIG,
    FORM,
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
