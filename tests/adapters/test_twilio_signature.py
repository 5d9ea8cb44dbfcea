"""Twilio adapter: signatures made by Twilio's own SDK over form and JSON bodies.

Parsing is in test_twilio.py; shared helpers in twilio_helpers.py.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from telephony_adapters.base import (
    AdapterConfig,
    AdapterRequest,
    CallEvent,
    Direction,
    EventKind,
    NumberStyle,
    PayloadError,
    SignatureError,
    url_for_signature,
)
from telephony_adapters.twilio import twilio_signature
from tests.adapters.twilio_helpers import (
    FORM,
    NOW,
    PARENT_SID,
    TOKEN,
    URL,
    MultiParams,
    adapter,
    fixture,
    form_request,
    parse_one,
    sdk_signature,
)
from tests.support import vendor_fixtures

# --- signatures ---------------------------------------------------------------------------


SDK_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"


def test_sdk_vector_form() -> None:
    recorded = vendor_fixtures.load("twilio", "sdk-vector-form.txt")
    assert (recorded.authored_by, recorded.url) == ("vendor", SDK_URL)
    expected = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    params = dict(parse_qsl(recorded.text))
    assert RequestValidator("12345").compute_signature(SDK_URL, params) == expected
    assert twilio_signature("12345", SDK_URL, {k: [v] for k, v in params.items()}) == expected
    request = form_request(recorded.body, url=SDK_URL, signature=expected)
    # Verified; no CallStatus in the vector, so there is no event to report.
    assert adapter.parse(request, AdapterConfig(secret="12345"), now=NOW) == []
    with pytest.raises(SignatureError):
        adapter.parse(request, AdapterConfig(secret="12346"), now=NOW)


@pytest.mark.parametrize(
    ("received", "signature"),
    [
        # test_validation_removes_port_on_https / _http: any port may be left out of the hash
        (SDK_URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (
            SDK_URL.replace(".com", ".com:1234").replace("https", "http"),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        ),
        # test_validation_adds_port_on_https / _http: the default port may be in the hash
        (SDK_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        (SDK_URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_sdk_port_vectors(received: str, signature: str) -> None:
    body = fixture("sdk-vector-form.txt")
    request = form_request(body, url=received, signature=signature)
    assert adapter.parse(request, AdapterConfig(secret="12345"), now=NOW) == []


def test_sdk_duplicate_params_vector() -> None:
    # test_compute_signature_duplicate_query_dict: names sorted, values sorted and de-duplicated
    body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234"
    request = form_request(body, url=SDK_URL, signature="IK+Dwps556ElfBT0I3Rgjkr1wJU=")
    with pytest.raises(PayloadError, match="CallSid"):  # verified; it just is no call event
        adapter.parse(request, AdapterConfig(secret="12345"), now=NOW)


def test_ringing_fixture_is_verified_and_parsed() -> None:
    event = parse_one(form_request(fixture("ringing.txt")))
    assert event == CallEvent(
        provider="twilio",
        call_id=PARENT_SID,
        kind=EventKind.RINGING,
        from_raw="+31612345678",
        to_raw="+31201234567",
        direction=Direction.INBOUND,
        caller_name="ADA L",
        number_style=NumberStyle.E164,
        raw=event.raw,
    )
    assert event.raw["AccountSid"].startswith("AC")
    assert event.raw["CalledCity"] == ""  # blank fields are kept (and were signed)


def test_wrong_token_is_refused() -> None:
    body = fixture("ringing.txt")
    request = form_request(body, signature=sdk_signature(URL, body, token="not-the-token"))
    with pytest.raises(SignatureError, match="does not match for URL https://stamgast"):
        adapter.parse(request, AdapterConfig(secret=TOKEN), now=NOW)


def test_altered_body_is_refused() -> None:
    body = fixture("ringing.txt")
    signature = sdk_signature(URL, body)
    altered = body.replace(b"From=%2B31612345678", b"From=%2B31699999999")
    assert altered != body
    with pytest.raises(SignatureError):
        adapter.parse(
            form_request(altered, signature=signature), AdapterConfig(secret=TOKEN), now=NOW
        )


def test_added_param_is_refused() -> None:
    body = fixture("ringing.txt")
    request = form_request(body + b"&Extra=1", signature=sdk_signature(URL, body))
    with pytest.raises(SignatureError):
        adapter.parse(request, AdapterConfig(secret=TOKEN), now=NOW)


def test_missing_header_is_refused() -> None:
    request = AdapterRequest("POST", URL, {"content-type": FORM}, fixture("ringing.txt"))
    with pytest.raises(SignatureError) as caught:
        adapter.parse(request, AdapterConfig(secret=TOKEN), now=NOW)
    assert caught.value.message == "missing X-Twilio-Signature header"


def test_proxy_needs_public_base_url() -> None:
    body = fixture("ringing.txt")
    internal = "http://10.0.0.5:8000/webhooks/twilio/acme"
    request = form_request(body, url=internal, signed_url=URL)
    proxied = AdapterConfig(secret=TOKEN, public_base_url="https://stamgast.example.org")
    assert url_for_signature(request, proxied) == URL
    assert parse_one(request, proxied).kind is EventKind.RINGING
    with pytest.raises(SignatureError, match=r"for URL http://10\.0\.0\.5:8000/"):
        adapter.parse(request, AdapterConfig(secret=TOKEN), now=NOW)


def test_public_base_url_keeps_query_and_adds_prefix() -> None:
    request = AdapterRequest("POST", "http://10.0.0.5:8000/hook?a=1&b=%2F", {}, b"")
    config = AdapterConfig(secret=TOKEN, public_base_url="https://proxy.example.org/stamgast/")
    assert url_for_signature(request, config) == "https://proxy.example.org/stamgast/hook?a=1&b=%2F"
    assert url_for_signature(request, AdapterConfig(secret=TOKEN)) == request.url


@pytest.mark.parametrize(
    ("received", "signed"),
    [
        (URL, "https://stamgast.example.org:443/webhooks/twilio/acme"),
        ("https://stamgast.example.org:443/webhooks/twilio/acme", URL),
        ("http://stamgast.example.org/hook?x=1", "http://stamgast.example.org:80/hook?x=1"),
    ],
)
def test_default_port_variants_are_accepted(received: str, signed: str) -> None:
    request = form_request(fixture("ringing.txt"), url=received, signed_url=signed)
    assert parse_one(request).kind is EventKind.RINGING


def test_other_port_is_not_a_variant() -> None:
    signed = "https://stamgast.example.org:8443/webhooks/twilio/acme"
    with pytest.raises(SignatureError):
        adapter.parse(
            form_request(fixture("ringing.txt"), signed_url=signed),
            AdapterConfig(secret=TOKEN),
            now=NOW,
        )


def test_repeated_params_match_the_sdk() -> None:
    pairs = [("CallSid", "CA" + "2" * 32), ("CallStatus", "ringing"), ("Tag", "b"), ("Tag", "a")]
    signature = RequestValidator(TOKEN).compute_signature(URL, MultiParams(pairs))
    assert parse_one(form_request(urlencode(pairs).encode(), signature=signature)).raw["Tag"] == "b"


def test_get_request_is_signed_over_the_url() -> None:
    url = (
        f"{URL}?{urlencode({'CallSid': 'CA' + '3' * 32, 'CallStatus': 'ringing', 'From': '+3161'})}"
    )
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    request = AdapterRequest("GET", url, {"x-twilio-signature": signature}, b"")
    event = parse_one(request)
    assert (event.call_id, event.kind, event.from_raw) == (
        "CA" + "3" * 32,
        EventKind.RINGING,
        "+3161",
    )
    tampered = AdapterRequest("GET", url.replace("%2B3161", "%2B3162"), request.headers, b"")
    with pytest.raises(SignatureError):
        adapter.parse(tampered, AdapterConfig(secret=TOKEN), now=NOW)


def test_hmac_sha256_webhook_rule() -> None:
    body = fixture("ringing.txt")
    request = form_request(body, signature=sdk_signature(URL, body, algorithm="HMAC_SHA256"))
    headers = {
        **request.headers,
        "x-twilio-webhooks-signature-settings": "key=k1,algorithm=HMAC_SHA256",
    }
    sha256_request = AdapterRequest("POST", URL, headers, body)
    assert parse_one(sha256_request).kind is EventKind.RINGING
    with pytest.raises(SignatureError):  # the same signature read as SHA-1 does not match
        adapter.parse(request, AdapterConfig(secret=TOKEN), now=NOW)
    unknown = AdapterRequest(
        "POST", URL, {**headers, "x-twilio-webhooks-signature-settings": "algorithm=MD5"}, body
    )
    with pytest.raises(SignatureError, match='unsupported algorithm "MD5"'):
        adapter.parse(unknown, AdapterConfig(secret=TOKEN), now=NOW)


# --- JSON bodies --------------------------------------------------------------------------


def json_request(body: str, *, tamper: bool = False, hash_in_url: bool = True) -> AdapterRequest:
    validator = RequestValidator("12345")
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    if hash_in_url:
        url += f"&bodySHA256={validator.compute_hash(body)}"
    headers = {
        "content-type": "application/json",
        "x-twilio-signature": validator.compute_signature(url, {}),
    }
    sent = body.replace("value", "VALUE") if tamper else body
    return AdapterRequest("POST", url, headers, sent.encode())


def test_json_documented_vector() -> None:
    recorded = vendor_fixtures.load("twilio", "sdk-vector-json.txt")
    assert recorded.authored_by == "vendor" and recorded.url is not None
    request = json_request(recorded.text)
    assert request.url == recorded.url
    assert request.headers["x-twilio-signature"] == "a9nBmqA0ju/hNViExpshrM61xv4="
    with pytest.raises(PayloadError, match="CallSid"):  # verified; it just is no call event
        adapter.parse(request, AdapterConfig(secret="12345"), now=NOW)
    # The vector's own signature over the vector's URL, checked by our verifier alone.
    headers = {
        "content-type": "application/json",
        "x-twilio-signature": "a9nBmqA0ju/hNViExpshrM61xv4=",
    }
    with pytest.raises(SignatureError, match="bodySHA256"):
        adapter.parse(
            AdapterRequest("POST", recorded.url, headers, recorded.body + b" "),
            AdapterConfig(secret="12345"),
            now=NOW,
        )


def test_json_call_event() -> None:
    body = (
        '{"CallSid": "CA'
        + "4" * 32
        + '", "CallStatus": "completed", "From": "+3161", "To": "+3120"}'
    )
    event = parse_one(json_request(body), AdapterConfig(secret="12345"))
    assert (event.kind, event.from_raw, event.to_raw) == (EventKind.ENDED, "+3161", "+3120")


def test_json_tampered_body_is_refused() -> None:
    request = json_request('{"property": "value", "boolean": true}', tamper=True)
    with pytest.raises(SignatureError, match="bodySHA256"):
        adapter.parse(request, AdapterConfig(secret="12345"), now=NOW)


def test_json_without_body_hash_is_refused() -> None:
    request = json_request('{"property": "value"}', hash_in_url=False)
    with pytest.raises(SignatureError, match="no bodySHA256"):
        adapter.parse(request, AdapterConfig(secret="12345"), now=NOW)
