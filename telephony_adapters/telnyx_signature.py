"""Telnyx webhook signatures: Ed25519 over the timestamp and the raw body.

``telnyx-signature-ed25519`` = base64 Ed25519 over ``f"{telnyx-timestamp}|{body}"``
(the raw body; the URL is not signed, so GET requests are refused), verified with Telnyx's
public key: the tenant's secret, base64 as the portal shows it. A timestamp more than 300 s away
from now is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import TYPE_CHECKING

from telephony_adapters.base import AdapterRequest, SignatureError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# `cryptography` (~7 MiB resident) is imported by the first Telnyx webhook a process checks,
# not by every server: most never have a Telnyx tenant (bench/import_memory.py).

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
# Telnyx's own SDKs accept the same window: clock drift and a retry, not a replay next hour.
MAX_SKEW_SECONDS = 300

_DIGITS = re.compile(r"[0-9]{1,12}")


def _shown(value: str, limit: int = 40) -> str:
    # Echo what we received so the integrator can spot it, but never a whole hostile header.
    return json.dumps(value if len(value) <= limit else value[:limit] + "…", ensure_ascii=False)


def _public_key(secret: str) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode("".join(secret.split()), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise SignatureError(
            "the configured secret is not a Telnyx public key (base64 of 32 bytes, as shown "
            "in Mission Control under Keys & Credentials → Public Key)"
        ) from None


def verify_telnyx(request: AdapterRequest, public_key: str, *, now: datetime) -> None:
    """Check the timestamp window and the Ed25519 signature; raises SignatureError."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if request.method.upper() in ("GET", "HEAD"):
        # Telnyx signs the timestamp and body, never the URL: a GET's query (all it says)
        # would be unsigned, and one captured signature could report any call for 300 s.
        raise SignatureError(
            "Telnyx signs only the body, which a GET request does not have: set the TeXML "
            "application's Voice Method and Status Callback Method to POST"
        )
    signature = request.headers.get(SIGNATURE_HEADER)
    if signature is None:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    stamp = request.headers.get(TIMESTAMP_HEADER)
    if stamp is None:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    stamp = stamp.strip()
    # int() would also take "+5" or "1_000": the signed text must be exactly these digits.
    if not _DIGITS.fullmatch(stamp):
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds; got {_shown(stamp)}")
    age = now.timestamp() - int(stamp)
    if age > MAX_SKEW_SECONDS:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is {age:.0f} s old; at most {MAX_SKEW_SECONDS} s is accepted"
        )
    if -age > MAX_SKEW_SECONDS:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is {-age:.0f} s in the future; at most {MAX_SKEW_SECONDS} s "
            "is accepted (check our clock)"
        )
    from cryptography.exceptions import InvalidSignature

    key = _public_key(public_key)
    try:
        decoded = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{SIGNATURE_HEADER} is not base64") from None
    try:
        key.verify(decoded, stamp.encode("ascii") + b"|" + request.body)
    except InvalidSignature:
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match: wrong public key, or the body was altered"
        ) from None
