"""The generic adapter's deliveries for the shared contract test."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace

from telephony_adapters.base import AdapterConfig, AdapterRequest, EventKind
from telephony_adapters.generic import sign_generic
from tests.support.adapter_cases import Scenario, Signing

SECRET = "generic-contract-secret"
EVENTS = {"ringing": "ringing", "answered": "answered", "ended": "ended"}


@dataclass
class GenericCase:
    provider: str = "generic"
    # The generic format has no event type to ignore, so the tenant's `events` setting
    # leaves voicemail out and the "ignored" delivery is a voicemail event.
    config: AdapterConfig = field(
        default_factory=lambda: AdapterConfig(
            secret=SECRET,
            events=frozenset(
                {EventKind.RINGING, EventKind.ANSWERED, EventKind.ENDED, EventKind.MISSED}
            ),
        )
    )
    has_timestamp: bool = True

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        event: dict[str, str] = {
            "call_id": call_id,
            "from": "+31612345678",
            "to": "+31331234567",
            "event": EVENTS.get(scenario, "voicemail"),
        }
        if scenario == "answered":
            event["answered_by"] = "201"
        body = json.dumps(event).encode()
        stamp = int(time.time()) - (400 if signing.stale else 0)
        headers = {"content-type": "application/json"}
        if not signing.unsigned:
            signed = sign_generic(signing.key or SECRET, body, stamp)
            headers.update({k.lower(): v for k, v in signed.items()})
        return AdapterRequest(method="POST", url=url, headers=headers, body=body)

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        return replace(request, body=request.body.replace(b"+31612345678", b"+31687654321"))


CASE = GenericCase()
