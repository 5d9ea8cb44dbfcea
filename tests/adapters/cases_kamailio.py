"""The Kamailio adapter's deliveries for the shared contract test.

They use the config's HMAC variant (`X-Stamgast-Signature`), the one that covers the body:
the plain `X-Stamgast-Secret` header cannot notice an altered body or a stale delivery,
by design (see `telephony_adapters.kamailio`), and `tests/adapters/test_kamailio.py`
checks that header on its own.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace

from telephony_adapters.base import AdapterConfig, AdapterRequest
from telephony_adapters.generic import sign_generic
from tests.support.adapter_cases import Scenario, Signing

SECRET = "kamailio-contract-secret"
# What docs/kamailio/kamailio.cfg posts for each moment of the call.
EVENTS = {"ringing": "invite", "answered": "answered", "ended": "bye", "ignored": "reinvite"}


@dataclass
class KamailioCase:
    provider: str = "kamailio"
    config: AdapterConfig = field(default_factory=lambda: AdapterConfig(secret=SECRET))
    has_timestamp: bool = True

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        event = {
            "event": EVENTS[scenario],
            "call_id": call_id,
            "from_user": "+31612345678",
            "to_user": "0331234567",
            "extension": "201",
        }
        if scenario == "ringing":
            event["from_display"] = '"Ada de Vries"'
        if scenario == "answered":
            event["answered_by"] = "201"
        body = json.dumps(event, separators=(",", ":")).encode()
        stamp = int(time.time()) - (400 if signing.stale else 0)
        headers = {"content-type": "application/json"}
        if not signing.unsigned:
            signed = sign_generic(signing.key or SECRET, body, stamp)
            headers.update({name.lower(): value for name, value in signed.items()})
        return AdapterRequest(method="POST", url=url, headers=headers, body=body)

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        return replace(request, body=request.body.replace(b"+31612345678", b"+31687654321"))


CASE = KamailioCase()
