"""Telnyx deliveries for the shared contract test, signed with PyNaCl as Telnyx signs them."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from nacl.signing import SigningKey

from telephony_adapters.base import AdapterConfig, AdapterRequest
from tests.support.adapter_cases import Scenario, Signing

KEY_NAME = "telnyx-contract-key"
EVENT_TYPES = {"ringing": "call.initiated", "answered": "call.answered", "ended": "call.hangup"}
# base64 of "stamgast_leg=agent": what an integrator's transfer sets as target_leg_client_state.
AGENT_CLIENT_STATE = base64.b64encode(b"stamgast_leg=agent").decode()


def signing_key(name: str) -> SigningKey:
    """A key pair of our own, derived from `name` so every run signs alike."""
    return SigningKey(hashlib.sha256(name.encode()).digest())


def public_key(name: str) -> str:
    """The public key as Telnyx's portal shows it: base64 of the 32 raw bytes."""
    return base64.b64encode(bytes(signing_key(name).verify_key)).decode()


def telnyx_headers(name: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The two headers Telnyx sends: Ed25519 over f"{timestamp}|{body}"."""
    signed = signing_key(name).sign(f"{timestamp}|".encode() + body).signature
    return {
        "telnyx-timestamp": str(timestamp),
        "telnyx-signature-ed25519": base64.b64encode(signed).decode(),
    }


@dataclass
class TelnyxCase:
    provider: str = "telnyx"
    config: AdapterConfig = field(default_factory=lambda: AdapterConfig(public_key(KEY_NAME)))
    has_timestamp: bool = True

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        payload: dict[str, Any] = {
            "call_control_id": f"v3:{call_id}",
            "call_leg_id": f"leg-{call_id}",
            "call_session_id": call_id,
            "connection_id": "1684641123236054244",
            "direction": "incoming",
            "from": "+31612345678",
            "to": "+31331234567",
            "state": "parked",
        }
        if scenario == "answered":  # the transfer's leg to extension 201 picked up
            # The transfer's target_leg_client_state, echoed in the new leg's signed body.
            payload.update(call_leg_id=f"agent-{call_id}", direction="outgoing")
            payload.update(client_state=AGENT_CLIENT_STATE)
            payload.update(to="sip:201@pbx.example.org", state="answered")
        elif scenario == "ended":
            payload.update(hangup_cause="normal_clearing", hangup_source="caller")
        data = {
            "event_type": EVENT_TYPES.get(scenario, "call.dtmf.received"),
            "id": f"evt-{scenario}-{call_id}",
            "occurred_at": "2026-11-25T10:42:00.521992Z",
            "payload": payload,
            "record_type": "event",
        }
        body = json.dumps({"data": data, "meta": {"attempt": 1, "delivered_to": url}}).encode()
        headers = {"content-type": "application/json"}
        if not signing.unsigned:
            stamp = int(time.time()) - (400 if signing.stale else 0)
            headers.update(telnyx_headers(signing.key or KEY_NAME, body, stamp))
        return AdapterRequest(method="POST", url=url, headers=headers, body=body)

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        return replace(request, body=request.body.replace(b"+31612345678", b"+31687654321"))


CASE = TelnyxCase()
