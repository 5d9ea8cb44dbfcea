"""Agent-leg markers that a replayed webhook cannot carry, whatever its signature covers.

Telnyx signs ``timestamp|body`` and Vonage a hash of the body, never the URL: a marker in the
query (``?stamgast_leg=agent``) can be added to, or removed from, a captured signed request
without breaking its signature. So a marker counts only where the signature reaches it:

- A URL we write ourselves (Vonage's NCCO) carries ``stamgast_leg=agent.<mac>``: HMAC-SHA256,
  keyed with the tenant's secret, over the call id that the signed body names, base64url,
  128 bits. Only a request whose signed body names that call can show it; a plain ``agent``, or
  the MAC of another call, proves nothing.
- State the integrator sets through the vendor (Telnyx's ``client_state``) comes back inside the
  signed body: a decoded text holding ``stamgast_leg=agent`` marks the leg.

Pure standard library: adapters import it, never the app.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from urllib.parse import urlsplit, urlunsplit

AGENT_LEG_PARAM = "stamgast_leg"
AGENT = "agent"
PLAIN_MARKER = f"{AGENT_LEG_PARAM}={AGENT}"
_MAC_BYTES = 16  # 128 bits: guessing one is hopeless, and the URL stays short
# Keeps our MACs apart from anything else keyed with the same secret (Vonage's JWT HMAC).
_LABEL = b"stamgast_leg=agent\x00"
# The marker as a token: "x&stamgast_leg=agent&y" counts, "stamgast_leg=agents" does not.
_MARKER_TOKEN = re.compile(r"(?<![A-Za-z0-9_])stamgast_leg=agent(?![A-Za-z0-9_])")
_MAX_CLIENT_STATE = 4096  # far above any state an integrator writes; decoding stays cheap
_SHOWN = 12


def agent_mac(secret: str, call_id: str) -> str:
    """The MAC binding the agent marker to one call: base64url, 128 bits, no padding."""
    digest = hmac.new(secret.encode("utf-8"), _LABEL + call_id.encode("utf-8"), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:_MAC_BYTES]).rstrip(b"=").decode("ascii")


def agent_mark(secret: str, call_id: str) -> str | None:
    """``agent.<mac>`` for the call; None without a secret or call id to bind it to."""
    if not secret or not call_id:
        return None  # a MAC keyed with "" is one anybody can make
    return f"{AGENT}.{agent_mac(secret, call_id)}"


def is_agent_mark(value: str, secret: str, call_id: str) -> bool:
    """True when `value` is ``agent.<mac>`` made with `secret` for `call_id`."""
    expected = agent_mark(secret, call_id)
    if expected is None:
        return False
    # Constant time, so the response time tells nothing about how much of a guess was right.
    return hmac.compare_digest(value.encode("utf-8"), expected.encode("ascii"))


def mark_url(url: str, mark: str) -> str:
    """`url` with each plain ``stamgast_leg=agent`` of its query made ``stamgast_leg=<mark>``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url  # not a URL we can rewrite; left as written, so not trusted either
    if not parts.query:
        return url
    # Only the marker's own piece changes: every other byte of the tenant's query stays.
    pieces = [
        f"{AGENT_LEG_PARAM}={mark}" if piece == PLAIN_MARKER else piece
        for piece in parts.query.split("&")
    ]
    return urlunsplit(parts._replace(query="&".join(pieces)))


def shown_mark(value: str) -> str:
    """A received marker cut short for a log line: enough to recognise, too little to reuse."""
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


def client_state_marks_agent(client_state: object) -> bool:
    """True when a base64 ``client_state`` decodes to text holding ``stamgast_leg=agent``."""
    if not isinstance(client_state, str) or not client_state.strip():
        return False
    text = client_state.strip()
    if len(text) > _MAX_CLIENT_STATE:
        return False
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False  # Telnyx requires base64; anything else is no marker of ours
    return _MARKER_TOKEN.search(decoded.decode("utf-8", errors="replace")) is not None
