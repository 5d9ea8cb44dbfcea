"""jambonz deliveries for the shared contract test.

No jambonz SDK is installed for Python, so the signature is computed here with stdlib `hmac`
from jambonz's documented scheme, independently of the adapter's code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from telephony_adapters.base import AdapterConfig, AdapterRequest
from tests.support.adapter_cases import Scenario, Signing

SECRET = "wh_secret_jambonz_contract"


def jambonz_header(secret: str, body: bytes, timestamp: int) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>`, as jambonz's requestor sends."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def wire(document: dict[str, Any]) -> bytes:
    """The body as jambonz posts it: JSON.stringify, compact and not ASCII-escaped."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class JambonzCase:
    provider: str = "jambonz"
    config: AdapterConfig = field(
        default_factory=lambda: AdapterConfig(
            secret=SECRET, options={"dial_target": "sip:201@pbx.example.org"}
        )
    )
    has_timestamp: bool = True

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        document: dict[str, Any] = {
            "call_sid": call_id,
            "direction": "inbound",
            "from": "+31612345678",
            "to": "+31331234567",
            "call_id": f"sip-{call_id}",
            "account_sid": "66acafce-44c2-417a-a7c0-0242ac120002",
            "application_sid": "db7ba948-2410-4845-949f-0242ac120002",
        }
        if scenario == "ringing":  # the call hook
            document.update(call_status="trying", sip_status=100, caller_name="")
            document.update(sip={"method": "INVITE"}, defaults={"synthesizer": {}})
        elif scenario == "answered":  # the dial verb's leg to extension 201 picked up
            document.update(call_sid=f"leg-{call_id}", parent_call_sid=call_id)
            document.update(direction="outbound", to="sip:201@pbx.example.org")
            document.update(call_status="in-progress", sip_status=200)
        elif scenario == "ended":
            document.update(call_status="completed", sip_status=200, duration=42)
        else:  # a status we do not track
            document.update(call_status="queued", sip_status=100)
        body = wire(document)
        headers = {"content-type": "application/json"}
        if not signing.unsigned:
            stamp = int(time.time()) - (400 if signing.stale else 0)
            headers["jambonz-signature"] = jambonz_header(signing.key or SECRET, body, stamp)
        return AdapterRequest(method="POST", url=url, headers=headers, body=body)

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        return replace(request, body=request.body.replace(b"31612345678", b"31687654321"))


CASE = JambonzCase()
