"""Plivo deliveries for the shared contract test, signed (and checked) by Plivo's own SDK."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlencode

from plivo.utils.signature_v3 import (  # type: ignore[import-untyped]
    construct_get_url,
    construct_post_url,
    get_signature_v3,
    validate_v3_signature,
)

from telephony_adapters.base import AdapterConfig, AdapterRequest
from tests.support.adapter_cases import Scenario, Signing

TOKEN = "plivo-contract-auth-token"


def sdk_params(body: bytes) -> dict[str, Any]:
    """The form as a web framework hands it to Plivo's SDK: str, or list when repeated."""
    multi = parse_qs(body.decode(), keep_blank_values=True)
    return {name: values[0] if len(values) == 1 else values for name, values in multi.items()}


def sdk_signature(url: str, body: bytes, token: str, nonce: str, method: str = "POST") -> str:
    """X-Plivo-Signature-V3 as Plivo's SDK computes it, checked by the SDK's validator too."""
    params = sdk_params(body)
    base = construct_post_url(url, dict(params)) if method == "POST" else construct_get_url(url, {})
    signature = get_signature_v3(token, base.decode(), nonce).decode()
    assert validate_v3_signature(method, url, nonce, token, signature, dict(params))
    return str(signature)


def _params(scenario: Scenario, call_id: str) -> dict[str, str]:
    call = {"CallUUID": call_id, "From": "31612345678", "To": "31331234567"}
    if scenario == "ringing":  # the answer URL
        return {**call, "CallStatus": "ringing", "Direction": "inbound", "Event": "StartApp"}
    if scenario == "answered":  # the <Dial callbackUrl> we put in the answer XML
        return {
            **call,
            "DialAction": "answer",
            "DialALegUUID": call_id,
            "DialBLegTo": "sip:201@phone.plivo.com",
        }
    if scenario == "ended":  # the hangup URL
        return {
            **call,
            "CallStatus": "completed",
            "Event": "Hangup",
            "HangupCause": "NORMAL_CLEARING",
            "Duration": "42",
            "BillDuration": "60",
        }
    return {**call, "DialAction": "digits", "DialALegUUID": call_id, "DialDigitsMatch": "1"}


@dataclass
class PlivoCase:
    provider: str = "plivo"
    config: AdapterConfig = field(default_factory=lambda: AdapterConfig(secret=TOKEN))
    has_timestamp: bool = False

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        body = urlencode(_params(scenario, call_id)).encode()
        nonce = str(secrets.randbelow(10**20)).zfill(20)
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if not signing.unsigned:
            headers["x-plivo-signature-v3"] = sdk_signature(url, body, signing.key or TOKEN, nonce)
            headers["x-plivo-signature-v3-nonce"] = nonce
        return AdapterRequest(method="POST", url=url, headers=headers, body=body)

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        return replace(request, body=request.body.replace(b"31612345678", b"31687654321"))


CASE = PlivoCase()
