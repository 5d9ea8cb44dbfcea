"""Zammad-style CTI deliveries for the shared contract test.

Signed with our generic HMAC headers: a bare X-Stamgast-Secret header cannot show that a body
was altered or replayed, and the contract test checks both (test_zammad_cti.py covers it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from telephony_adapters.base import AdapterConfig, AdapterRequest
from telephony_adapters.generic import sign_generic
from tests.support.adapter_cases import Scenario, Signing

SECRET = "zammad-cti-contract-secret"
EVENTS = {"ringing": "newCall", "answered": "answer", "ended": "hangup"}


@dataclass
class ZammadCtiCase:
    provider: str = "zammad_cti"
    config: AdapterConfig = field(default_factory=lambda: AdapterConfig(secret=SECRET))
    has_timestamp: bool = True

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        params = [
            ("event", EVENTS.get(scenario, "heartbeat")),
            ("from", "+31612345678"),
            ("to", "+31331234567"),
            ("direction", "in"),
            ("callId", call_id),
            ("user[]", "Sanne Visser"),
        ]
        if scenario == "answered":
            params.append(("answeringNumber", "201"))
        if scenario == "ended":
            params.append(("cause", "normalClearing"))
        body = urlencode(params).encode()
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if not signing.unsigned:
            stamp = int(time.time()) - (400 if signing.stale else 0)
            signed = sign_generic(signing.key or SECRET, body, stamp)
            headers.update({name.lower(): value for name, value in signed.items()})
        return AdapterRequest(method="POST", url=url, headers=headers, body=body)

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        return replace(request, body=request.body.replace(b"31612345678", b"31687654321"))


CASE = ZammadCtiCase()
