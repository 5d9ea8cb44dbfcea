"""Placetel notifications for the shared contract test, signed with stdlib `hmac`.

Placetel ships no validator; its documented scheme is hex HMAC-SHA256(secret, raw body).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from telephony_adapters.base import AdapterConfig, AdapterRequest
from tests.support.adapter_cases import Scenario, Signing

SECRET = "placetel-contract-shared-secret"


def sign(body: bytes, secret: str = SECRET) -> str:
    """X-PLACETEL-SIGNATURE for `body`, as Placetel's documentation computes it."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _params(scenario: Scenario, call_id: str) -> dict[str, str]:
    call = {"call_id": call_id, "from": "31612345678", "to": "31331234567", "direction": "in"}
    if scenario == "ringing":
        return {**call, "event": "IncomingCall"}
    if scenario == "answered":
        return {**call, "event": "CallAccepted", "peer": "201@fpbx.de"}
    if scenario == "ended":
        return {**call, "event": "HungUp", "type": "accepted", "duration": "42"}
    return {**call, "event": "SomethingPlacetelMayAddLater"}


@dataclass
class PlacetelCase:
    provider: str = "placetel"
    config: AdapterConfig = field(default_factory=lambda: AdapterConfig(secret=SECRET))
    has_timestamp: bool = False

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        body = urlencode(_params(scenario, call_id)).encode()
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if not signing.unsigned:
            headers["x-placetel-signature"] = sign(body, signing.key or SECRET)
        return AdapterRequest(method="POST", url=url, headers=headers, body=body)

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        return replace(request, body=request.body.replace(b"31612345678", b"31687654321"))


CASE = PlacetelCase()
