"""Vonage deliveries for the shared contract test, signed with PyJWT as Vonage signs them.

Vonage's Python package only checks a token (`vonage_jwt.verify_signature`); the JWT itself is
made here with PyJWT, HS256 over Vonage's documented claims.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from telephony_adapters.base import AdapterConfig, AdapterRequest
from tests.support.adapter_cases import Scenario, Signing

SECRET = "vonage-contract-signature-secret"


def agent_mark(secret: str, conversation: str) -> str:
    """Our marker for an agent's leg in `conversation`, as the adapter must make it."""
    # Written out, not imported, so the tests pin the construction: HMAC-SHA256 keyed with the
    # secret over a label and the conversation_uuid, 128 bits, base64url without padding.
    digest = hmac.new(secret.encode(), b"stamgast_leg=agent\x00" + conversation.encode(), "sha256")
    return "agent." + base64.urlsafe_b64encode(digest.digest()[:16]).rstrip(b"=").decode()


def vonage_token(secret: str, body: bytes, *, iat: int) -> str:
    """The bearer JWT Vonage sends with a callback whose payload is `body`."""
    claims = {
        "iat": iat,
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "a1b2c3d4",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    }
    with warnings.catch_warnings():
        # The contract's "wrong key" is short on purpose; a real secret's length is Vonage's.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256")


@dataclass
class VonageCase:
    provider: str = "vonage"
    config: AdapterConfig = field(default_factory=lambda: AdapterConfig(secret=SECRET))
    has_timestamp: bool = True

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        event: dict[str, Any] = {
            "headers": {},
            "from": "31612345678",
            "to": "31331234567",
            "uuid": f"leg-{call_id}",
            "conversation_uuid": call_id,
            "direction": "inbound",
            "timestamp": "2026-11-25T10:42:00.000Z",
        }
        if scenario == "ringing":
            event["status"] = "ringing"
        elif scenario == "answered":  # the connect action's leg to extension 201 picked up
            url += f"?stamgast_leg={agent_mark(SECRET, call_id)}"
            event.update(uuid=f"agent-{call_id}", to="sip:201@pbx.example.org")
            event.update(direction="outbound", status="answered")
        elif scenario == "ended":
            event.update(status="completed", duration="42", end_time="2026-11-25T10:43:00Z")
        else:  # the NCCO's input action reporting digits: no call state changes
            event.pop("direction")
            event.update(dtmf={"digits": "1", "timed_out": False}, speech=None)
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {"content-type": "application/json"}
        if not signing.unsigned:
            iat = int(time.time()) - (400 if signing.stale else 0)
            token = vonage_token(signing.key or SECRET, body, iat=iat)
            headers["authorization"] = f"Bearer {token}"
        return AdapterRequest(method="POST", url=url, headers=headers, body=body)

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        return replace(request, body=request.body.replace(b"31612345678", b"31687654321"))


CASE = VonageCase()
