"""Asterisk ARI: originate a channel to the agent's endpoint that continues in the dialplan.

https://docs.asterisk.org/Latest_API/API_Documentation/Asterisk_REST_Interface/Channels_REST_API/#originate
`POST /ari/channels?endpoint=PJSIP/201&extension=+31612345678&context=…&priority=1
&callerId=…&timeout=30`: Asterisk rings the endpoint and, once it answers, runs the dialplan
at (context, extension, 1), which dials the caller through the tenant's own outbound
rules. `callerId` is what both legs show: the line the caller called.

The connector's own settings serve as credentials (url, username, password) with two more:
`context` (where the callee's number is dialled) and `endpoint` (a template for the agent's
channel, `{extension}` replaced).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from telephony_adapters.originate import (
    CallBack,
    HttpCall,
    NoAgentPhone,
    OriginateRefused,
    json_object,
    required,
)

PROVIDER = "asterisk_ari"
DEFAULT_ENDPOINT = "PJSIP/{extension}"
RULES = {
    "username": (r"\S{1,200}", "STAMGAST_ARI_USER, the ari.conf user"),
    "context": (r"[A-Za-z0-9_-]{1,80}", "STAMGAST_ARI_ORIGINATE_CONTEXT, a dialplan context"),
    "endpoint": (
        r"[A-Za-z0-9_/@.:-]*\{extension\}[A-Za-z0-9_/@.:-]*",
        "STAMGAST_ARI_ORIGINATE_ENDPOINT, e.g. PJSIP/{extension}",
    ),
}


def http_base(url: str) -> str:
    """The HTTP base of the ARI server from the connector's URL (ws://pbx:8088 → http://…/ari)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if not path.endswith("/ari"):
        path += "/ari"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class AriOriginator:
    """ARI `POST /channels`: the agent's endpoint first, then the dialplan dials the callee."""

    provider: str = PROVIDER
    credential_names: tuple[str, ...] = ("username", "context", "endpoint")

    def check_credentials(self, credentials: Mapping[str, str]) -> list[str]:
        """The ARI user, a dialplan context for the callee, and the agent endpoint template."""
        return required(credentials, RULES)

    def request(
        self, call: CallBack, *, secret: str, credentials: Mapping[str, str], base_url: str
    ) -> HttpCall:
        """POST {ari}/channels with the originate parameters in the query, basic auth."""
        if call.agent.extension is None:
            raise NoAgentPhone("Asterisk rings an agent at their extension; the agent has none")
        endpoint = credentials["endpoint"].replace("{extension}", call.agent.extension)
        query = {
            "endpoint": endpoint,
            "extension": call.callee,
            "context": credentials["context"],
            "priority": "1",
            "callerId": call.caller_id,
            "timeout": str(call.ring_seconds),
        }
        token = base64.b64encode(f"{credentials['username']}:{secret}".encode()).decode()
        variables = {"variables": {"STAMGAST_CALLBACK": call.reference}}
        return HttpCall(
            method="POST",
            url=f"{http_base(base_url)}/channels?{urlencode(query)}",
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
            body=json.dumps(variables).encode(),
        )

    def call_id(self, status: int, body: bytes) -> str:
        """Asterisk answers 200 with the new channel; its `id` names the call."""
        channel_id = json_object("Asterisk", status, body).get("id")
        if not isinstance(channel_id, str):
            raise OriginateRefused(f"Asterisk answered HTTP {status} without a channel id")
        return channel_id
