"""Amazon Connect deliveries for the shared contract test, as Stamgast's Lambda relays them.

Ringing is a contact-flow Lambda event; answered and ended are EventBridge contact events
(which name the agent by id, not by extension); ignored is a chat contact.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from telephony_adapters.base import AdapterConfig, AdapterRequest
from telephony_adapters.generic import sign_generic
from tests.support.adapter_cases import Scenario, Signing

SECRET = "amazon-connect-contract-secret"
INSTANCE = "arn:aws:connect:eu-central-1:111122223333:instance/c8c0e68d-2200-4265-82c0"


def flow_event(contact_id: str, *, channel: str = "VOICE") -> dict[str, Any]:
    """A contact flow's "Invoke AWS Lambda function" event."""
    return {
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "Attributes": {},
                "Channel": channel,
                "ContactId": contact_id,
                "InitialContactId": contact_id,
                "InitiationMethod": "INBOUND",
                "InstanceARN": INSTANCE,
                "CustomerEndpoint": {"Address": "+31612345678", "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {"Address": "+31331234567", "Type": "TELEPHONE_NUMBER"},
                "Queue": None,
            },
            "Parameters": {},
        },
    }


def contact_event(contact_id: str, event_type: str) -> dict[str, Any]:
    """An EventBridge "Amazon Connect Contact Event"."""
    detail: dict[str, Any] = {
        "eventType": event_type,
        "contactId": contact_id,
        "initialContactId": contact_id,
        "channel": "VOICE",
        "instanceArn": INSTANCE,
        "initiationMethod": "INBOUND",
        "agentInfo": {"agentArn": f"{INSTANCE}/agent/0c245dde-8e1f-4b5d-9d7c"},
    }
    return {
        "version": "0",
        "detail-type": "Amazon Connect Contact Event",
        "source": "aws.connect",
        "time": "2026-11-25T10:42:09Z",
        "detail": detail,
    }


@dataclass
class AmazonConnectCase:
    provider: str = "amazon_connect"
    config: AdapterConfig = field(default_factory=lambda: AdapterConfig(secret=SECRET))
    has_timestamp: bool = True

    def request(
        self, scenario: Scenario, call_id: str, url: str, signing: Signing = Signing()
    ) -> AdapterRequest:
        if scenario == "ringing":
            document = flow_event(call_id)
        elif scenario == "answered":
            document = contact_event(call_id, "CONNECTED_TO_AGENT")
        elif scenario == "ended":
            document = contact_event(call_id, "DISCONNECTED")
        else:
            document = flow_event(call_id, channel="CHAT")
        body = json.dumps(document, separators=(",", ":")).encode()
        headers = {"content-type": "application/json"}
        if not signing.unsigned:
            stamp = int(time.time()) - (400 if signing.stale else 0)
            signed = sign_generic(signing.key or SECRET, body, stamp)
            headers.update({name.lower(): value for name, value in signed.items()})
        return AdapterRequest(method="POST", url=url, headers=headers, body=body)

    def tampered(self, request: AdapterRequest) -> AdapterRequest:
        return replace(request, body=request.body.replace(b"31612345678", b"31687654321"))


CASE = AmazonConnectCase()
