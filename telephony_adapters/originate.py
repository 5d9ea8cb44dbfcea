"""Calling a caller back through the phone system: the contract every vendor's originator keeps.

An originator rings the agent's own phone first and, when the agent answers, connects the
caller, showing the caller the number they called (so they recognise who calls back). It
knows its vendor's API and nothing else: it turns a `CallBack` and the tenant's credentials
into the request to send (`HttpCall`, or ESL command bytes), and the vendor's answer into
the vendor's call id or an `OriginateRefused`. Sending is the app's job, so originators stay
pure (stdlib and `cryptography` only, as every adapter; a test checks).

Exceptions::

    OriginateError        .message is shown to the agent or integrator
    ├── CredentialsProblem   the stored credentials cannot work (the app answers 422)
    ├── NoAgentPhone         the agent has no phone this phone system can ring (409)
    └── OriginateRefused     the vendor said no, or did not answer (502)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

# Long enough to walk to a desk phone, short enough that a missed ring is not a minute lost.
DEFAULT_RING_SECONDS = 30
# Vendors' error bodies can be pages of HTML from a proxy; the agent needs the first line.
MAX_VENDOR_MESSAGE = 300
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_EXTENSION = re.compile(r"[0-9A-Za-z*#_.-]{1,32}")
# A SIP URI as agents' `sip_uri` holds it; no spaces, quotes or angle brackets that could
# break out of the XML attribute, JSON string or dial string it is put in.
_SIP_URI = re.compile(r"sips?:[^\s<>\"',{}()&|]{1,200}")


class OriginateError(Exception):
    """A call back that cannot be placed; `message` says why, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CredentialsProblem(OriginateError):
    """The stored credentials are missing a field or malformed."""


class NoAgentPhone(OriginateError):
    """The agent has no phone (number, SIP URI, extension) this phone system can ring."""


class OriginateRefused(OriginateError):
    """The vendor refused the request, failed, or did not answer in time."""


@dataclass(frozen=True, slots=True)
class AgentPhone:
    """Where the agent answers: a number (E.164), a SIP URI, or a PBX extension."""

    number: str | None = None
    sip_uri: str | None = None
    extension: str | None = None

    def __post_init__(self) -> None:
        if self.number is not None and not _E164.fullmatch(self.number):
            raise NoAgentPhone(f"{self.number!r} is not an E.164 number (+31…)")
        if self.sip_uri is not None and not _SIP_URI.fullmatch(self.sip_uri):
            raise NoAgentPhone("the agent's SIP URI is not of the form sip:user@host")
        if self.extension is not None and not _EXTENSION.fullmatch(self.extension):
            raise NoAgentPhone("the agent's extension holds characters a dial string cannot")


@dataclass(frozen=True, slots=True)
class CallBack:
    """One call back: ring `agent`, then connect `callee` showing `caller_id`."""

    agent: AgentPhone
    callee: str
    caller_id: str
    reference: str
    ring_seconds: int = DEFAULT_RING_SECONDS

    def __post_init__(self) -> None:
        for name in ("callee", "caller_id"):
            if not _E164.fullmatch(getattr(self, name)):
                raise OriginateError(f"{name} must be an E.164 number, got a malformed one")
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", self.reference):
            raise OriginateError("reference must be 1-64 letters, digits or _.:-")


@dataclass(frozen=True, slots=True)
class HttpCall:
    """An HTTP request to the vendor, exactly as it is to be sent."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class HttpOriginator(Protocol):
    """A vendor reached over HTTPS (Twilio, Telnyx, Vonage, Plivo, Asterisk ARI)."""

    provider: str
    # Credential names beyond the webhook secret, as stored write-only with the provider.
    credential_names: tuple[str, ...]

    def check_credentials(self, credentials: Mapping[str, str]) -> list[str]:
        """What is wrong with the credentials, one problem a line; empty when usable."""
        ...

    def request(
        self, call: CallBack, *, secret: str, credentials: Mapping[str, str], base_url: str
    ) -> HttpCall:
        """The request that places `call`; NoAgentPhone if the agent cannot be rung."""
        ...

    def call_id(self, status: int, body: bytes) -> str:
        """The vendor's id of the placed call; OriginateRefused when `status` is a failure."""
        ...


def dial_twiml(call: CallBack) -> str:
    """TwiML (Twilio's, also Telnyx TeXML and Plivo XML): connect the callee, our line's ID."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Dial callerId={quoteattr(call.caller_id)}><Number>{escape(call.callee)}</Number>"
        "</Dial></Response>"
    )


def required(credentials: Mapping[str, str], rules: Mapping[str, tuple[str, str]]) -> list[str]:
    """Problems with `credentials` under `rules`: name → (regex, what it should look like)."""
    problems = []
    for name, (pattern, hint) in rules.items():
        value = credentials.get(name, "")
        if not value.strip():
            problems.append(f"`{name}` is missing: {hint}")
        elif not re.fullmatch(pattern, value.strip(), flags=re.DOTALL):
            problems.append(f"`{name}` does not look right: {hint}")
    return problems


def refused(vendor: str, status: int, body: bytes) -> OriginateRefused:
    """The vendor's own words for a failed request, short enough to show an agent."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    message = _message_in(parsed) or text or "no message"
    message = " ".join(message.split())[:MAX_VENDOR_MESSAGE]
    return OriginateRefused(f"{vendor} refused the call (HTTP {status}): {message}")


def _message_in(parsed: object) -> str | None:
    """The human part of a vendor's JSON error (each vendor names it differently)."""
    if not isinstance(parsed, dict):
        return None
    errors = parsed.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return str(first.get("detail") or first.get("title") or first)
    for key in ("message", "detail", "error", "title", "error_message"):
        value = parsed.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            return _message_in(value) or json.dumps(value)
    return None


def json_object(vendor: str, status: int, body: bytes) -> dict[str, object]:
    """The JSON object a 2xx answer carries; OriginateRefused for a failure or junk."""
    if not 200 <= status < 300:
        raise refused(vendor, status, body)
    try:
        parsed = json.loads(body)
    except ValueError:
        raise OriginateRefused(f"{vendor} answered HTTP {status} with no JSON") from None
    if not isinstance(parsed, dict):
        raise OriginateRefused(f"{vendor} answered HTTP {status} with unexpected JSON")
    return parsed
