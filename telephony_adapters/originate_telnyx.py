"""Telnyx: one TeXML call to the agent whose inline TeXML `<Dial>`s the caller.

Telnyx's simplest documented way to place a two-legged call without answering webhooks of
our own: "Initiate an outbound TeXML call" with inline instructions,
https://developers.telnyx.com/api/call-scripting/initiate-texml-call (POST
/v2/texml/calls/{connection_id}, what the SDK's `client.texml.calls.create` sends). Call
Control's `POST /v2/calls` would need us to bridge on its `call.answered` webhook: more
state, same result for the caller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import quote

from telephony_adapters.originate import (
    CallBack,
    HttpCall,
    NoAgentPhone,
    OriginateRefused,
    dial_twiml,
    json_object,
    required,
)

BASE_URL = "https://api.telnyx.com"
RULES = {
    "api_key": (r"KEY[0-9A-Za-z_-]{10,200}", "a Telnyx API v2 key, KEY…, from Auth → API Keys"),
    "connection_id": (
        r"[0-9A-Za-z_-]{1,64}",
        "the id of the TeXML application the line's number belongs to",
    ),
}


class TelnyxOriginator:
    """Telnyx TeXML: `To` the agent, `Texml` connecting the callee from our line."""

    provider: str = "telnyx"
    credential_names: tuple[str, ...] = ("api_key", "connection_id")

    def check_credentials(self, credentials: Mapping[str, str]) -> list[str]:
        """An API key (the webhook secret is only Telnyx's public key) and the application."""
        return required(credentials, RULES)

    def request(
        self, call: CallBack, *, secret: str, credentials: Mapping[str, str], base_url: str
    ) -> HttpCall:
        """POST /v2/texml/calls/{connection_id}, JSON, bearer API key."""
        agent = call.agent.number or call.agent.sip_uri
        if agent is None:
            raise NoAgentPhone("Telnyx can ring a phone number or a SIP URI; the agent has neither")
        body = {"From": call.caller_id, "To": agent, "Texml": dial_twiml(call)}
        connection = quote(credentials["connection_id"].strip(), safe="")
        return HttpCall(
            method="POST",
            url=f"{base_url.rstrip('/')}/v2/texml/calls/{connection}",
            headers={
                "Authorization": f"Bearer {credentials['api_key'].strip()}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            body=json.dumps(body).encode(),
        )

    def call_id(self, status: int, body: bytes) -> str:
        """A flat call object (no `data` wrapper) whose `call_sid` names the call."""
        answer = json_object("Telnyx", status, body)
        call_sid = answer.get("call_sid")
        if not isinstance(call_sid, str):
            raise OriginateRefused(f"Telnyx answered HTTP {status} without a call_sid")
        return call_sid
