"""Vonage adapter: JWTs made with PyJWT and checked by Vonage's own package.

Parsing and NCCO answers are in test_vonage.py; shared helpers in vonage_helpers.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from vonage_jwt import verify_signature  # type: ignore[import-untyped]

from telephony_adapters.base import (
    AdapterConfig,
    AdapterRequest,
    CallEvent,
    Direction,
    EventKind,
    NumberStyle,
    SignatureError,
)
from telephony_adapters.vonage import VonageAdapter
from tests.adapters.cases_vonage import agent_mark, vonage_token
from tests.adapters.vonage_helpers import (
    AGENT_URL,
    CON,
    CONFIG,
    IAT,
    NOW,
    PLAIN_AGENT_URL,
    SECRET,
    URL,
    adapter,
    answer_get,
    claims_token,
    fixture,
    parse,
    parse_one,
    post,
)


def signature_error(request: AdapterRequest) -> str:
    with pytest.raises(SignatureError) as caught:
        parse(request)
    return caught.value.message


# --- signatures ---------------------------------------------------------------------------


def test_pyjwt_token_is_what_vonage_checks_and_what_we_accept() -> None:
    body = fixture("ringing.json")
    token = vonage_token(SECRET, body, iat=int(time.time()))
    assert verify_signature(token, SECRET) is True
    assert verify_signature(token, "another-secret-0123456789abcdefgh") is False
    event = adapter.parse(post(body, token=token), CONFIG, now=datetime.now(UTC))[0]
    assert event == CallEvent(
        provider="vonage",
        call_id=CON,
        kind=EventKind.RINGING,
        from_raw="31612345678",
        to_raw="31331234567",
        direction=Direction.INBOUND,
        occurred_at=datetime(2026, 11, 25, 10, 42, tzinfo=UTC),
        number_style=NumberStyle.E164,
        raw=event.raw,
    )
    assert event.raw["headers"] == "{}"


# The test vector of Vonage's own verifier (vonage-python-sdk jwt/tests/test_verify_jwt.py at
# b308cb1e94192b7ae5f5f7256d0ff1dfdd028020): an HS256 token and the secret it was signed with.
SDK_TOKEN = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJPbmxpbmUgSldUIEJ1aWxkZXIiLCJpYXQiOjE2OTc2Mz"
    "Q2ODAsImV4cCI6MzMyNTQ1NDA4MjgsImF1ZCI6IiIsInN1YiI6IiJ9.88vJc3I2HhuqEDixHXVhc9R30tA6U_HQHZTC2"
    "9y6CGM"
)
SDK_SECRET = "qwertyuiopasdfghjklzxcvbnm123456"


# The vector's wrong secret ("asdf") is short on purpose; PyJWT warns about it.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_vonage_sdk_vector_passes_our_hmac_check_but_carries_no_payload_hash() -> None:
    assert verify_signature(SDK_TOKEN, SDK_SECRET) is True
    issued = datetime.fromtimestamp(1697634680, UTC)  # the vector's iat
    body = fixture("tutorial-ringing.json")
    request = post(body, token=SDK_TOKEN)
    with pytest.raises(SignatureError) as caught:
        VonageAdapter().parse(request, AdapterConfig(secret=SDK_SECRET), now=issued)
    # Our HMAC check agrees with Vonage's; the vector is no callback token, so it lacks the
    # payload_hash Vonage's webhooks carry (developer.vonage.com "Decoding signed webhooks").
    assert caught.value.message == 'the JWT has no "payload_hash" claim'
    assert verify_signature(SDK_TOKEN, "asdf") is False
    with pytest.raises(SignatureError, match="signature does not match"):
        VonageAdapter().parse(request, AdapterConfig(secret="asdf"), now=issued)


def test_wrong_secret_is_refused() -> None:
    request = post(fixture("ringing.json"), secret="another-secret-0123456789abcdefgh")
    assert "signature does not match" in signature_error(request)


def test_altered_body_is_refused() -> None:
    request = post(fixture("ringing.json"))
    altered = AdapterRequest("POST", URL, request.headers, request.body.replace(b"316", b"317"))
    assert "payload_hash does not match" in signature_error(altered)


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing Authorization header"),
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <JWT>'"),
        ("Bearer ", "must be 'Bearer <JWT>'"),
        ("Bearer abc.def", "is not a JWT"),
        ("Bearer a.b.c", "header is not"),
    ],
)
def test_missing_or_unusable_authorization(authorization: str | None, message: str) -> None:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    assert message in signature_error(AdapterRequest("POST", URL, headers, fixture("ringing.json")))


def test_stale_and_future_tokens() -> None:
    body = fixture("ringing.json")
    assert "301 s old" in signature_error(post(body, iat=IAT - 301))
    assert "301 s in the future" in signature_error(post(body, iat=IAT + 301))
    assert len(parse(post(body, iat=IAT - 300))) == len(parse(post(body, iat=IAT + 300))) == 1


def test_token_cannot_pick_its_algorithm() -> None:
    body = fixture("ringing.json")
    claims = {"iat": IAT, "payload_hash": hashlib.sha256(body).hexdigest()}
    strong = claims_token(claims, "x" * 64, algorithm="HS512")
    assert "must be signed with HS256" in signature_error(post(body, token=strong))
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    unsigned = head + "." + claims_token(claims).split(".")[1] + "."
    assert 'its alg is "none"' in signature_error(post(body, token=unsigned))


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"payload_hash": "0"}, 'no numeric "iat"'),
        ({"iat": "yesterday", "payload_hash": "0"}, 'no numeric "iat"'),
        ({"iat": IAT}, 'no "payload_hash"'),
        ({"iat": IAT, "exp": IAT - 301, "payload_hash": "0"}, "has expired"),
    ],
)
def test_claims_are_required(claims: dict[str, Any], message: str) -> None:
    assert message in signature_error(post(fixture("ringing.json"), token=claims_token(claims)))


def test_payload_hash_of_a_reserialised_body_and_of_query_plus_body() -> None:
    document = json.loads(fixture("agent-answered.json"))
    spaced = json.dumps(document).encode()  # ", " and ": " on the wire, compact when hashed
    compact = json.dumps(document, separators=(",", ":")).encode()
    event = parse_one(post(spaced, token=vonage_token(SECRET, compact, iat=IAT), url=AGENT_URL))
    assert event.answered_by == "201"
    mark = agent_mark(SECRET, CON)
    merged = json.dumps({"stamgast_leg": mark, **document}, separators=(",", ":")).encode()
    assert len(parse(post(spaced, token=vonage_token(SECRET, merged, iat=IAT), url=AGENT_URL)))


# --- the agent marker: outside the signature, so bound to the conversation ------------------


def phone_leg() -> bytes:
    """An outbound leg to a phone number answered: nothing in the body says whose it is."""
    return json.dumps({**json.loads(fixture("agent-answered.json")), "to": "31201234567"}).encode()


def test_replayed_event_with_a_marker_added_is_no_agent_leg(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = post(phone_leg())
    # Vonage's own verifier accepts the token whatever the URL: the JWT covers only the body.
    assert verify_signature(request.headers["authorization"].split()[1], SECRET) is True
    other = agent_mark(SECRET, "CON-bbbbbbbb-bbbb-cccc-dddd-0123456789ab")
    forged = [
        PLAIN_AGENT_URL,
        f"{URL}?stamgast_leg={other}",
        f"{URL}?stamgast_leg=agent.{'A' * 22}",
    ]
    caplog.set_level(logging.WARNING, logger="telephony_adapters.vonage")
    for url in forged:
        caplog.clear()
        event = parse_one(replace(request, url=url))
        # Read as what the body says: a call placed to 31201234567, not an agent answering.
        assert (event.direction, event.answered_by) == (Direction.OUTBOUND, None)
        [warning] = caplog.records  # once per request
        assert "not our mark" in warning.getMessage()
        assert other not in warning.getMessage()  # the marker is cut short


def test_the_mark_of_its_own_conversation_makes_an_agent_leg() -> None:
    event = parse_one(post(phone_leg(), url=AGENT_URL))
    assert (event.direction, event.answered_by) == (Direction.INBOUND, "31201234567")
    # Made with another tenant's secret, it is somebody else's mark.
    foreign = f"{URL}?stamgast_leg={agent_mark('another-secret-0123456789abcdef', CON)}"
    assert parse_one(post(phone_leg(), url=foreign)).answered_by is None


@pytest.mark.parametrize("url", [AGENT_URL, PLAIN_AGENT_URL])
def test_caller_leg_replayed_onto_an_agent_url_stays_the_application(url: str) -> None:
    # The caller's inbound leg shares the conversation, so its mark too: only an outbound
    # leg can ring an agent.
    event = parse_one(post(fixture("answered-inbound.json"), url=url))
    assert (event.by_application, event.answered_by) == (True, None)


def test_get_answer_is_signed_over_its_query() -> None:
    params = json.loads(fixture("answer.json"))
    assert parse_one(answer_get(params)).kind is EventKind.RINGING
    # The empty payload's hash covers none of the query the GET is all about.
    empty = {"iat": IAT, "payload_hash": hashlib.sha256(b"").hexdigest()}
    unsigned_query = replace(
        answer_get(params), headers={"authorization": f"Bearer {claims_token(empty)}"}
    )
    assert "methods of the Vonage application to POST" in signature_error(unsigned_query)
    request = answer_get(params)
    tampered = AdapterRequest(
        "GET", request.url.replace("31612345678", "31687654321"), request.headers, b""
    )
    assert "payload_hash does not match" in signature_error(tampered)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        adapter.parse(post(fixture("ringing.json")), CONFIG, now=NOW.replace(tzinfo=None))
