"""Our originate requests equal what each vendor's own SDK sends for the same call.

Twilio, Telnyx, Vonage and Plivo.

Both go to one real HTTP(S) server on 127.0.0.1 that records them (tests/support/
recording_http.py); the test compares method, path, authentication and body fields.
Vonage's JWT is checked with the application's public key by PyJWT (what vonage-jwt uses).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import jwt
import plivo
import pytest
import telnyx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from plivo import plivoxml
from plivo.rest import client as plivo_client
from twilio.rest import Client as TwilioClient
from twilio.twiml.voice_response import VoiceResponse
from vonage import Auth, HttpClientOptions, Vonage
from vonage_voice import CreateCallRequest
from vonage_voice.models.connect_endpoints import PhoneEndpoint
from vonage_voice.models.ncco import Connect

from app.callbacks.originate_send import PhoneSystem, place
from telephony_adapters.base import SignatureError
from telephony_adapters.originate import AgentPhone, CallBack, OriginateRefused, dial_twiml
from telephony_adapters.originate_plivo import answer_xml
from telephony_adapters.originate_vonage import VonageOriginator, application_jwt
from tests.support.recording_http import Recorded, RecordingServer, recording_server

AGENT = "+31612340000"
CALLEE = "+31687654321"
LINE = "+31331234567"
CALL = CallBack(
    agent=AgentPhone(number=AGENT), callee=CALLEE, caller_id=LINE, reference="callback-7"
)
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-0123"
TELNYX_KEY = "KEY0123456789ABCDEF_test"
TELNYX_APP = "1293384261075731499"
VONAGE_APP = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with recording_server() as running:
        yield running


def _form(recorded: Recorded) -> dict[str, list[str]]:
    return parse_qs(recorded.body.decode())


def test_our_twiml_is_what_twilios_voice_response_builds() -> None:
    response = VoiceResponse()
    response.dial(caller_id=LINE).number(CALLEE)
    assert dial_twiml(CALL) == str(response)


async def test_twilio_request_equals_the_sdks(server: RecordingServer) -> None:
    server.reply = json.dumps({"sid": "CA" + "f" * 32, "status": "queued"}).encode()
    client = TwilioClient(TWILIO_SID, TWILIO_TOKEN)
    client.api.base_url = server.url
    client.calls.create(to=AGENT, from_=LINE, twiml=dial_twiml(CALL), timeout=30)
    sdk = server.last()
    system = PhoneSystem(
        provider="twilio",
        secret=TWILIO_TOKEN,
        credentials={"account_sid": TWILIO_SID},
        base_url=server.url,
    )
    assert await place(system, CALL, within=5) == "CA" + "f" * 32
    ours = server.last()
    assert (
        (ours.method, ours.path)
        == (sdk.method, sdk.path)
        == (
            "POST",
            f"/2010-04-01/Accounts/{TWILIO_SID}/Calls.json",
        )
    )
    assert ours.headers["authorization"] == sdk.headers["authorization"]
    assert ours.headers["content-type"] == sdk.headers["content-type"]
    assert _form(ours) == _form(sdk)
    assert _form(ours)["Twiml"] == [
        '<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="+31331234567">'
        "<Number>+31687654321</Number></Dial></Response>"
    ]


async def test_telnyx_request_equals_the_sdks(server: RecordingServer) -> None:
    server.reply = json.dumps(
        {"call_sid": "v3:abc", "from": LINE, "status": "queued", "to": AGENT}
    ).encode()
    client = telnyx.Telnyx(api_key=TELNYX_KEY, base_url=f"{server.url}/v2", max_retries=0)
    client.texml.calls.create(TELNYX_APP, from_=LINE, to=AGENT, texml=dial_twiml(CALL))
    sdk = server.last()
    system = PhoneSystem(
        provider="telnyx",
        secret="telnyx-public-key",
        credentials={"api_key": TELNYX_KEY, "connection_id": TELNYX_APP},
        base_url=server.url,
    )
    assert await place(system, CALL, within=5) == "v3:abc"
    ours = server.last()
    assert (
        (ours.method, ours.path)
        == (sdk.method, sdk.path)
        == (
            "POST",
            f"/v2/texml/calls/{TELNYX_APP}",
        )
    )
    assert ours.headers["authorization"] == sdk.headers["authorization"]
    assert json.loads(ours.body) == json.loads(sdk.body)


def _rsa_pem() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


async def test_vonage_request_equals_the_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    private_pem, public_pem = _rsa_pem()
    with recording_server(tls=True) as server:  # Vonage's SDK speaks only https
        server.reply = json.dumps(
            {"uuid": "63f61863-4a51-4f6b-86e1-46edebcf9356", "status": "started",
             "direction": "outbound", "conversation_uuid": "CON-1"}
        ).encode()  # fmt: skip
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        host = server.url.removeprefix("https://")
        client = Vonage(
            Auth(application_id=VONAGE_APP, private_key=private_pem),
            HttpClientOptions(api_host=host, max_retries=0),
        )
        client.voice.create_call(
            CreateCallRequest(
                to=[{"type": "phone", "number": AGENT.lstrip("+")}],
                from_={"type": "phone", "number": LINE.lstrip("+")},
                ncco=[Connect(endpoint=[PhoneEndpoint(number=CALLEE.lstrip("+"))], from_=LINE[1:])],
                ringing_timer=30,
            )
        )
        sdk = server.last()
        request = VonageOriginator().request(
            CALL,
            secret="signature-secret",
            credentials={"application_id": VONAGE_APP, "private_key": private_pem},
            base_url=server.url,
        )
        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=server.ca_file)
        ) as client_ours:
            answer = await client_ours.request(
                request.method, request.url, headers=request.headers, content=request.body
            )
        assert VonageOriginator().call_id(answer.status_code, answer.content) == (
            "63f61863-4a51-4f6b-86e1-46edebcf9356"
        )
        ours = server.last()
    assert (ours.method, ours.path) == (sdk.method, sdk.path) == ("POST", "/v1/calls")
    assert json.loads(ours.body) == json.loads(sdk.body)
    ours_claims = _verified_claims(ours, public_pem)
    sdk_claims = _verified_claims(sdk, public_pem)
    assert set(ours_claims) == set(sdk_claims) == {"application_id", "iat", "jti", "exp"}
    assert ours_claims["application_id"] == sdk_claims["application_id"] == VONAGE_APP
    assert ours_claims["exp"] - ours_claims["iat"] == sdk_claims["exp"] - sdk_claims["iat"]
    assert jwt.get_unverified_header(ours.headers["authorization"].split()[1]) == {
        "alg": "RS256",
        "typ": "JWT",
    }


def _verified_claims(recorded: Recorded, public_pem: bytes) -> dict[str, object]:
    scheme, token = recorded.headers["authorization"].split()
    assert scheme == "Bearer"
    claims: dict[str, object] = jwt.decode(token, public_pem, algorithms=["RS256"])
    return claims


def test_vonage_jwt_refused_under_another_key() -> None:
    private_pem, _ = _rsa_pem()
    _, other_public = _rsa_pem()
    token = application_jwt(VONAGE_APP, private_pem, now=1_800_000_000)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other_public, algorithms=["RS256"], options={"verify_exp": False})


@pytest.mark.parametrize(
    ("status", "reply", "words"),
    [
        (401, {"code": 20003, "message": "Authenticate", "status": 401}, "HTTP 401): Authenticate"),
        (422, {"errors": [{"title": "Invalid", "detail": "to is not a number"}]}, "not a number"),
        (500, "<html>upstream broke</html>", "upstream broke"),
    ],
)
async def test_vendor_refusals_carry_the_vendors_words(
    server: RecordingServer, status: int, reply: object, words: str
) -> None:
    server.status = status
    server.reply = (json.dumps(reply) if not isinstance(reply, str) else reply).encode()
    system = PhoneSystem(
        provider="twilio", secret=TWILIO_TOKEN, credentials={"account_sid": TWILIO_SID},
        base_url=server.url,
    )  # fmt: skip
    with pytest.raises(OriginateRefused, match="Twilio refused") as refused:
        await place(system, CALL, within=5)
    assert words in refused.value.message


async def test_a_vendor_that_does_not_answer_in_time(server: RecordingServer) -> None:
    server.delay = 2.0
    system = PhoneSystem(
        provider="twilio", secret=TWILIO_TOKEN, credentials={"account_sid": TWILIO_SID},
        base_url=server.url,
    )  # fmt: skip
    with pytest.raises(OriginateRefused, match=r"did not answer within 0\.3s"):
        await place(system, CALL, within=0.3)


PLIVO_ID = "MAXXXXXXXXXXXXXXXXXX"
PLIVO_TOKEN = "plivo-auth-token-0123"
PLIVO_ANSWER = "https://stamgast.example/webhooks/plivo/t1/call-back"
# What Plivo's SDK adds to every Call create on its own (its defaults), which we leave to
# Plivo's side: same values either way.
PLIVO_SDK_DEFAULTS = {
    "ring_method": "POST", "hangup_method": "POST", "fallback_method": "POST",
    "machine_detection_time": 5000, "machine_detection_method": "POST",
    "error_if_parent_not_found": False,
}  # fmt: skip


async def test_plivo_request_equals_the_sdks(
    server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.reply = json.dumps(
        {"api_id": "97ceeb52", "message": "call fired", "request_uuid": "75c2a8b4-0b2d"}
    ).encode()
    monkeypatch.setattr(plivo_client, "API_VOICE_BASE_URI", f"{server.url}/v1/Account")
    system = PhoneSystem(
        provider="plivo", secret=PLIVO_TOKEN,
        credentials={"auth_id": PLIVO_ID, "answer_url": PLIVO_ANSWER}, base_url=server.url,
    )  # fmt: skip
    assert await place(system, CALL, within=5) == "75c2a8b4-0b2d"
    ours = server.last()
    sent = json.loads(ours.body)
    plivo.RestClient(PLIVO_ID, PLIVO_TOKEN).calls.create(
        from_=sent["from"], to_=sent["to"], answer_url=sent["answer_url"], ring_timeout=30
    )
    sdk = server.last()
    assert (
        (ours.method, ours.path)
        == (sdk.method, sdk.path)
        == (
            "POST",
            f"/v1/Account/{PLIVO_ID}/Call/",
        )
    )
    assert ours.headers["authorization"] == sdk.headers["authorization"]
    assert json.loads(sdk.body) == sent | PLIVO_SDK_DEFAULTS
    assert (sent["from"], sent["to"]) == (LINE[1:], AGENT[1:])  # Plivo: no plus
    answer = dict(parse_qsl(urlsplit(sent["answer_url"]).query))
    assert sent["answer_url"].startswith(PLIVO_ANSWER + "?")
    expected = plivoxml.ResponseElement()
    expected.add(plivoxml.DialElement(caller_id=LINE[1:]).add(plivoxml.NumberElement(CALLEE[1:])))
    assert answer_xml(answer, PLIVO_TOKEN) == expected.to_string(False)
    with pytest.raises(SignatureError):
        answer_xml({**answer, "to": "31600000000"}, PLIVO_TOKEN)
    with pytest.raises(SignatureError):
        answer_xml(answer, "another-tenants-token")
