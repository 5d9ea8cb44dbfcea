"""Twilio: call the agent with the Calls API, whose inline TwiML `<Dial>`s the caller.

https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource
The webhook secret is the account's auth token; the account SID is the one more credential.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from telephony_adapters.originate import (
    CallBack,
    HttpCall,
    NoAgentPhone,
    dial_twiml,
    json_object,
    required,
)

BASE_URL = "https://api.twilio.com"
RULES = {"account_sid": (r"AC[0-9a-fA-F]{32}", "the Account SID, AC followed by 32 hex digits")}


class TwilioOriginator:
    """Twilio's Calls API: `To` the agent, `Twiml` connecting the callee from our line."""

    provider: str = "twilio"
    credential_names: tuple[str, ...] = ("account_sid",)

    def check_credentials(self, credentials: Mapping[str, str]) -> list[str]:
        """An Account SID is needed beside the auth token (the webhook secret)."""
        return required(credentials, RULES)

    def request(
        self, call: CallBack, *, secret: str, credentials: Mapping[str, str], base_url: str
    ) -> HttpCall:
        """POST /2010-04-01/Accounts/{sid}/Calls.json, form-encoded, basic auth."""
        agent = call.agent.number or call.agent.sip_uri
        if agent is None:
            raise NoAgentPhone("Twilio can ring a phone number or a SIP URI; the agent has neither")
        sid = credentials["account_sid"].strip()
        token = base64.b64encode(f"{sid}:{secret}".encode()).decode()
        form = {
            "To": agent,
            "From": call.caller_id,
            "Twiml": dial_twiml(call),
            "Timeout": str(call.ring_seconds),
        }
        return HttpCall(
            method="POST",
            url=f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(sid)}/Calls.json",
            headers={
                "Authorization": f"Basic {token}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            body=urlencode(form).encode(),
        )

    def call_id(self, status: int, body: bytes) -> str:
        """Twilio answers 201 with the call resource; its `sid` names the call."""
        return str(json_object("Twilio", status, body).get("sid", ""))
