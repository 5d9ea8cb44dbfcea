"""sipgate.io adapter: RSA signatures (sipgate's published key and our own), parsing, XML."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

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
from telephony_adapters.sipgate import SipgateAdapter, verify_sipgate
from tests.adapters.cases_sipgate import OTHER_KEY, PRIVATE_KEY, public_pem, sign
from tests.support import vendor_fixtures

URL = "https://stamgast.example.org/webhooks/sipgate/acme"
NOW = datetime(2026, 11, 25, 10, 42, tzinfo=UTC)
CALL_ID = "7e1a2b3c4d5e6f708192a3b4c5d6e7f8"
CONFIG = AdapterConfig(secret=public_pem(PRIVATE_KEY))

adapter = SipgateAdapter()

# The signature sipgate made for the body in fixture sdk-signed-newcall.txt, from the
# signed-webhook test in sipgate's Node.js SDK (lib/webhook/webhook.test.node.ts, see its source).
SDK_BODY = vendor_fixtures.load("sipgate", "sdk-signed-newcall.txt").body
SDK_SIGNATURE = (
    "hlY7r9Vad0NP/7xJxf+vcDqjWaGWHOcIrj+rcP5aqQQcHtbSLsElp2kRNRPBL5unWbq6bExVPZB49HHM+Y/fWSVL"
    "19q7KSJhYPHfikcME0r0mCYB4S/VnJwnIvpiqz6s7Dpnk3wDCy65B3WQLwBVWA9oh6ojNM/g+87YnoMTKRx1KoFq"
    "osKNfBp1c1I8XjXusGOW/VlGnMb6wHhUVdwi9K7FfUgxj2pnV+M1Xv9rYs6RAi4V1OcUPqdT5geHsxWa09sk+AEH"
    "SUm1EFnAvx7PhIkugpNwST7yPKHf0+iyei4qUQCBZtfQVOI4mLZTRfQuyVo3YuJfvHaNPYY34/1ZCZGCKeu+HS6W"
    "Hs1vGUyKxSi8v4JJqog2VOlWruf8pMGg+syuAFwuxiCnWsSXgaaUfe9JrBAFjBxUmNP9DzR1bbkwxkJnthacu7jA"
    "LXjGsubjSSSl955QgenV/ZpODHgWDPg0fe6qGILtk+kXLjyfSsoR/qgzE5W5OAyZq8W64h01KAt9Q283N7/2nogy"
    "6keiIWL3qjPolWnrchSP7iJUatM2YiTcpkNKnJ70UE05cdw3swuNe7zqD51MdOX3rAioEOFgOIFMSrxMVX+V4XK7"
    "sa5o43smN8lHoa+0AogQMuIrC7k2axdRbulSSNfyqVAZIT4qS0cItiv3aPXsdDKkkA0="
)


def fixture(name: str) -> bytes:
    return vendor_fixtures.load("sipgate", name).body


def push(body: bytes, *, signature: str | None = None, **headers: str) -> AdapterRequest:
    signed = {"content-type": "application/x-www-form-urlencoded"}
    signed["x-sipgate-signature"] = signature if signature is not None else sign(body)
    return AdapterRequest("POST", URL, {**signed, **headers}, body)


def parse(request: AdapterRequest, config: AdapterConfig = CONFIG) -> list[CallEvent]:
    return adapter.parse(request, config, now=NOW)


def parse_one(body: bytes, config: AdapterConfig = CONFIG) -> CallEvent:
    events = parse(push(body), config)
    assert len(events) == 1
    return events[0]


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def sipgate_xml(body: bytes) -> ET.Element:
    """Parse the XML (proving it well-formed) and check the declaration and root."""
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return root


# --- signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [AdapterConfig(secret="sipgate"), AdapterConfig(secret="", options={"public_key": "sipgate"})],
)
def test_published_key_verifies_a_real_sipgate_signature(config: AdapterConfig) -> None:
    verify_sipgate(push(SDK_BODY, signature=SDK_SIGNATURE), config)
    # Verified, but that test push carries no call id: no call to record.
    with pytest.raises(PayloadError, match='"callId" is required'):
        parse(push(SDK_BODY, signature=SDK_SIGNATURE), config)
    altered = SDK_BODY.replace(b"123456789&orig", b"123456779&orig")
    with pytest.raises(SignatureError, match="does not match the body"):
        verify_sipgate(push(altered, signature=SDK_SIGNATURE), config)


def test_own_key_signature_is_verified() -> None:
    event = parse_one(fixture("newcall.txt"))
    assert (event.provider, event.call_id, event.kind) == ("sipgate", CALL_ID, EventKind.RINGING)


def test_wrong_key_is_refused() -> None:
    body = fixture("newcall.txt")
    with pytest.raises(SignatureError, match="signed with another key"):
        parse(push(body, signature=sign(body, OTHER_KEY)))
    with pytest.raises(SignatureError):  # sipgate's own key is not this tenant's key
        parse(push(body), AdapterConfig(secret="sipgate"))


def test_altered_body_is_refused() -> None:
    body = fixture("newcall.txt")
    altered = body.replace(b"from=492111234567", b"from=492111234568")
    with pytest.raises(SignatureError, match="does not match the body"):
        parse(push(altered, signature=sign(body)))


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (None, "missing X-Sipgate-Signature header"),
        ("not base64!", "X-Sipgate-Signature is not base64"),
        ("QUJD" * 2000, "X-Sipgate-Signature is longer than any RSA signature"),
    ],
)
def test_missing_or_malformed_header_is_refused(signature: str | None, message: str) -> None:
    request = push(fixture("newcall.txt"), signature=signature or "")
    if signature is None:
        request = AdapterRequest("POST", URL, {}, request.body)
    with pytest.raises(SignatureError) as caught:
        parse(request)
    assert caught.value.message == message


EC_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


@pytest.mark.parametrize("secret", ["", "not a key", EC_PEM])
def test_unusable_configured_key_says_so(secret: str) -> None:
    with pytest.raises(SignatureError, match="not a PEM RSA public key"):
        parse(push(fixture("newcall.txt")), AdapterConfig(secret=secret))


def test_pem_with_escaped_newlines_is_accepted() -> None:
    one_line = public_pem(PRIVATE_KEY).replace("\n", "\\n")
    assert parse_one(fixture("newcall.txt"), AdapterConfig(secret=one_line)).call_id == CALL_ID


def test_basic_auth_when_configured() -> None:
    config = AdapterConfig(secret=CONFIG.secret, options={"basic_auth": "stamgast:s3cr:et"})
    body = fixture("newcall.txt")
    assert len(parse(push(body, authorization=basic("stamgast:s3cr:et")), config)) == 1
    with pytest.raises(SignatureError, match="missing Authorization header"):
        parse(push(body), config)
    for wrong in (basic("stamgast:other"), "Bearer stamgast:s3cr:et", "Basic !!"):
        with pytest.raises(SignatureError, match="does not match the configured basic auth"):
            parse(push(body, authorization=wrong), config)


# --- parsing ------------------------------------------------------------------------------


def test_new_call_rings_the_one_user_by_id() -> None:
    event = parse_one(fixture("newcall.txt"))
    assert (event.from_raw, event.to_raw) == ("492111234567", "4915791234567")
    assert (event.direction, event.ringing_extension) == (Direction.INBOUND, "w0")
    assert event.raw["user[]"] == "Alice Adams"


def test_group_call_names_no_single_extension() -> None:
    event = parse_one(fixture("newcall-group.txt"))
    assert event.ringing_extension is None
    assert event.raw["userId[]"] == "w0,w1"


def test_outbound_call_and_anonymous_caller() -> None:
    body = b"event=newCall&direction=out&from=anonymous&to=4915791234567&callId=c1&user%5B%5D=Bob"
    event = parse_one(body)
    assert (event.direction, event.from_raw, event.ringing_extension) == (
        Direction.OUTBOUND,
        "anonymous",
        "Bob",
    )


def test_answer_names_the_user() -> None:
    event = parse_one(fixture("answer.txt"))
    assert (event.call_id, event.kind, event.answered_by) == (CALL_ID, EventKind.ANSWERED, "w0")
    by_name = parse_one(b"event=answer&callId=c1&user=Alice+Adams&direction=in")
    assert by_name.answered_by == "Alice Adams"
    by_number = parse_one(b"event=answer&callId=c1&answeringNumber=4921199999999&direction=out")
    assert (by_number.answered_by, by_number.direction) == ("4921199999999", Direction.OUTBOUND)


def test_voicemail_answer_is_voicemail() -> None:
    event = parse_one(fixture("answer-voicemail.txt"))
    assert (event.kind, event.answered_by) == (EventKind.VOICEMAIL, None)


@pytest.mark.parametrize(
    ("cause", "kind"),
    [
        ("normalClearing", EventKind.ENDED),
        ("busy", EventKind.MISSED),
        ("cancel", EventKind.MISSED),
        ("noAnswer", EventKind.MISSED),
        ("congestion", EventKind.MISSED),
        ("notFound", EventKind.MISSED),
        ("somethingNew", EventKind.ENDED),
    ],
)
def test_hangup_causes(cause: str, kind: EventKind) -> None:
    body = fixture("hangup.txt").replace(b"cause=normalClearing", f"cause={cause}".encode())
    assert parse_one(body).kind is kind


def test_forwarded_call_stays_one_call() -> None:
    forwarded_away = fixture("hangup.txt").replace(b"normalClearing", b"forwarded")
    assert parse(push(forwarded_away)) == []
    new_leg = parse_one(fixture("newcall-forwarded.txt"))
    assert (new_leg.call_id, new_leg.ringing_extension) == (CALL_ID, "w1")
    assert new_leg.raw["callId"] == "9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.mark.parametrize("body", [b"event=dtmf&dtmf=1&callId=c1", b"event=somethingNew"])
def test_other_events_are_ignored(body: bytes) -> None:
    assert parse(push(body)) == []
    response = adapter.respond(push(body), CONFIG, [], Outcome())
    assert len(sipgate_xml(response.body)) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"callId=c1&from=1", '"event" is required'),
        (b"event=answer&from=1", '"callId" is required'),
    ],
)
def test_malformed_pushes_name_the_field(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse(push(body))


def test_events_filter_from_config() -> None:
    config = AdapterConfig(secret=CONFIG.secret, events=frozenset({EventKind.ENDED}))
    assert parse(push(fixture("newcall.txt")), config) == []
    assert parse_one(fixture("hangup.txt"), config).kind is EventKind.ENDED


# --- responses ----------------------------------------------------------------------------


def test_new_call_subscribes_to_answer_and_hangup_here() -> None:
    response = adapter.respond(push(fixture("newcall.txt")), CONFIG, [], Outcome())
    assert (response.status_code, response.media_type) == (200, "application/xml")
    root = sipgate_xml(response.body)
    assert (root.get("onAnswer"), root.get("onHangup"), len(root)) == (URL, URL, 0)


def test_callback_url_is_public_and_keeps_basic_auth() -> None:
    config = AdapterConfig(secret=CONFIG.secret, public_base_url="https://proxy.example.org/s")
    request = AdapterRequest(
        "POST",
        "http://10.0.0.5:8000/webhooks/sipgate/acme?a=1&b=2",
        {"authorization": basic("stamgast:p@ss:w/rd")},
        fixture("newcall.txt"),
    )
    root = sipgate_xml(adapter.respond(request, config, [], Outcome()).body)
    expected = "https://stamgast:p%40ss%3Aw%2Frd@proxy.example.org/s/webhooks/sipgate/acme?a=1&b=2"
    assert root.get("onAnswer") == root.get("onHangup") == expected


@pytest.mark.parametrize("name", ["answer.txt", "answer-voicemail.txt", "hangup.txt"])
def test_answer_and_hangup_get_an_empty_response(name: str) -> None:
    response = adapter.respond(push(fixture(name)), CONFIG, [], Outcome())
    root = sipgate_xml(response.body)
    assert (root.attrib, len(root)) == ({}, 0)


@pytest.mark.parametrize("config", [CONFIG, AdapterConfig(secret=""), None])
@pytest.mark.parametrize("body", [fixture("newcall.txt"), fixture("hangup.txt"), b"\xff", b"%"])
def test_fail_open_never_raises(config: Any, body: bytes) -> None:
    response = adapter.fail_open(AdapterRequest("POST", URL, {}, body), config)
    assert response.status_code == 200
    sipgate_xml(response.body)


def test_fail_open_still_subscribes_a_new_call() -> None:
    request = AdapterRequest("POST", URL, {}, fixture("newcall.txt"))
    root = sipgate_xml(adapter.fail_open(request, AdapterConfig(secret="")).body)
    assert root.get("onAnswer") == URL


# --- sipgate's own examples ---------------------------------------------------------------


def test_every_event_carries_e164_as_sipgate_sends_numbers() -> None:
    events = [
        event
        for fx in vendor_fixtures.all_fixtures("sipgate")
        if fx.path.name != "sdk-signed-newcall.txt"  # no callId: refused, tested above
        for event in parse(push(fx.body))
    ]
    assert len(events) >= 10
    assert {event.number_style for event in events} == {NumberStyle.E164}


def test_readme_new_call_rings_two_users() -> None:
    event = parse_one(fixture("readme-newcall.txt"))
    assert event == CallEvent(
        provider="sipgate",
        call_id="123456",
        kind=EventKind.RINGING,
        from_raw="492111234567",
        to_raw="4915791234567",
        direction=Direction.INBOUND,
        number_style=NumberStyle.E164,
        raw=event.raw,
    )
    assert event.raw["user[]"] == "Alice,Bob"  # two users ring: no single extension


def test_readme_answer_names_the_user() -> None:
    event = parse_one(fixture("readme-answer.txt"))
    assert (event.kind, event.answered_by, event.from_raw) == (
        EventKind.ANSWERED,
        "w0",
        "492111234567",
    )


def test_readme_hangup_proves_no_person() -> None:
    event = parse_one(fixture("readme-hangup.txt"))
    # normalClearing: "hung up after the call was established", by a person or a voicemail.
    assert (event.kind, event.person_answered, event.call_id) == (EventKind.ENDED, None, "123456")


@pytest.mark.parametrize(
    ("cause", "answered"),
    [
        ("busy", False),
        ("cancel", False),
        ("noAnswer", False),
        ("congestion", False),
        ("notFound", False),
        ("normalClearing", None),
        ("somethingNew", None),
    ],
)
def test_hangup_cause_says_whether_a_person_answered(cause: str, answered: bool | None) -> None:
    body = f"event=hangup&cause={cause}&callId=c1&from=492111234567&to=4915791234567"
    assert parse_one(body.encode()).person_answered is answered


def test_outbound_call_rings_for_the_calling_user_and_a_cancel_stays_outbound() -> None:
    ringing = parse_one(fixture("newcall-outbound.txt"))
    assert (ringing.direction, ringing.ringing_extension, ringing.to_raw) == (
        Direction.OUTBOUND,
        "w0",
        "4915791234567",
    )
    ended = parse_one(fixture("hangup-cancel-outbound.txt"))
    assert (ended.kind, ended.direction, ended.person_answered, ended.call_id) == (
        EventKind.MISSED,
        Direction.OUTBOUND,
        False,
        ringing.call_id,
    )
