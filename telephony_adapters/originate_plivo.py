"""Plivo: the Call API rings the agent; our answer URL's Plivo XML `<Dial>`s the caller.

https://www.plivo.com/docs/voice/api/call#make-a-call (POST /v1/Account/{auth_id}/Call/,
JSON, basic auth with the Auth ID and Auth Token). Plivo takes no inline XML, so
`answer_url` points back at us (/webhooks/plivo/{tenant}/call-back) with the numbers in its
query, signed with the tenant's auth token: we answer only what we asked Plivo to run.
Plivo writes numbers with the country code and without the plus.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape, quoteattr

from telephony_adapters.base import SignatureError
from telephony_adapters.originate import (
    CallBack,
    HttpCall,
    NoAgentPhone,
    OriginateRefused,
    json_object,
    required,
)

PROVIDER = "plivo"
BASE_URL = "https://api.plivo.com"
ANSWER_PATH = "call-back"  # under the tenant's webhook URL, /webhooks/plivo/{tenant}/
RULES = {"auth_id": (r"[A-Z0-9]{20}", "the Auth ID (20 capitals and digits, MA… or SA…)")}


def _digits(number: str) -> str:
    return number.lstrip("+")


def _signature(secret: str, callee: str, caller_id: str) -> str:
    message = f"plivo-call-back|{callee}|{caller_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def answer_xml(query: Mapping[str, str], secret: str) -> str:
    """The Plivo XML for our answer URL; SignatureError unless we signed its numbers."""
    callee, caller_id = query.get("to", ""), query.get("from", "")
    expected = _signature(secret, callee, caller_id)
    if not callee.isdigit() or not caller_id.isdigit():
        raise SignatureError("the call-back answer URL lacks its numbers")
    if not hmac.compare_digest(query.get("sig", ""), expected):
        raise SignatureError("the call-back answer URL is not signed by this tenant")
    return (
        f"<Response><Dial callerId={quoteattr(caller_id)}><Number>{escape(callee)}</Number>"
        "</Dial></Response>"
    )


class PlivoOriginator:
    """Plivo's Call API: `to` the agent, `from` our line, `answer_url` dialling the callee."""

    provider: str = "plivo"
    credential_names: tuple[str, ...] = ("auth_id",)

    def check_credentials(self, credentials: Mapping[str, str]) -> list[str]:
        """An Auth ID is needed beside the auth token (the webhook secret)."""
        return required(credentials, RULES)

    def request(
        self, call: CallBack, *, secret: str, credentials: Mapping[str, str], base_url: str
    ) -> HttpCall:
        """POST /v1/Account/{auth_id}/Call/; `credentials["answer_url"]` is our own URL."""
        if call.agent.number is not None:
            agent = _digits(call.agent.number)
        elif call.agent.sip_uri is not None:
            agent = call.agent.sip_uri
        else:
            raise NoAgentPhone("Plivo can ring a phone number or a SIP URI; the agent has neither")
        callee, line = _digits(call.callee), _digits(call.caller_id)
        signed = {"to": callee, "from": line, "sig": _signature(secret, callee, line)}
        body = {
            "from": line,
            "to": agent,
            "answer_url": f"{credentials['answer_url']}?{urlencode(signed)}",
            "answer_method": "POST",
            "ring_timeout": call.ring_seconds,
        }
        auth_id = credentials["auth_id"].strip()
        token = base64.b64encode(f"{auth_id}:{secret}".encode()).decode()
        return HttpCall(
            method="POST",
            url=f"{base_url.rstrip('/')}/v1/Account/{quote(auth_id)}/Call/",
            headers={
                "Authorization": f"Basic {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            body=json.dumps(body).encode(),
        )

    def call_id(self, status: int, body: bytes) -> str:
        """Plivo answers 201 with `request_uuid` (the call's id once it exists)."""
        request_uuid = json_object("Plivo", status, body).get("request_uuid")
        if not isinstance(request_uuid, str):
            raise OriginateRefused(f"Plivo answered HTTP {status} without a request_uuid")
        return request_uuid
