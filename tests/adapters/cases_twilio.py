"""Twilio deliveries for the shared contract test, signed by Twilio's own SDK.

"answered" is the dialled leg's report (the agent's phone sip:201@… picked up), grouped
under the parent call: the only request that tells Twilio's answer by a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from telephony_adapters.base import AdapterConfig, AdapterRequest
from tests.support.adapter_cases import Scenario, Signing

TOKEN = "twilio-contract-auth-token"
STATUS = {"ringing": "ringing", "answered": "in-progress", "ended": "completed"}
AGENT_LEG = "sip:201@pbx.example"


@dataclass
class TwilioCase:
    provider: str = "twilio"
    config: AdapterConfig = field(
        default_factory=lambda: AdapterConfig(
            secret=TOKEN, options={"dial_target": "sip:queue@pbx.example"}
        )
    )
    has_timestamp: bool = False

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        params = {
            "CallSid": call_id,
            "AccountSid": "AC0000",
            "From": "+31612345678",
            "To": "+31331234567",
            "Direction": "inbound",
            "CallStatus": STATUS.get(scenario, "some-future-status"),
        }
        if scenario == "answered":
            params |= {
                "CallSid": f"{call_id}-leg",
                "ParentCallSid": call_id,
                "To": AGENT_LEG,
                "Direction": "outbound-dial",
                "StatusCallbackEvent": "answered",
                "CallbackSource": "call-progress-events",
                "SequenceNumber": "2",
            }
        elif scenario == "ended":
            params |= {"CallbackSource": "call-progress-events", "CallDuration": "42"}
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if not signing.unsigned:
            validator = RequestValidator(signing.key or TOKEN)
            headers["x-twilio-signature"] = validator.compute_signature(url, params)
        return AdapterRequest(
            method="POST", url=url, headers=headers, body=urlencode(params).encode()
        )

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        return replace(request, body=request.body.replace(b"31612345678", b"31687654321"))


CASE = TwilioCase()
