"""The shape every credential we issue shares: `<kind>_<8 hex prefix>_<secret>`.

API keys (`sg_`) and agent tokens (`sga_`) are looked up by their prefix and checked
against a stored SHA-256; the credential itself is never stored.
"""

from __future__ import annotations

import hashlib
import secrets


def hash_credential(value: str) -> str:
    """The stored form of a credential."""
    return hashlib.sha256(value.encode()).hexdigest()


def mint(kind: str) -> tuple[str, str]:
    """A new credential of `kind` (e.g. "sg_") and its lookup prefix."""
    prefix = secrets.token_hex(4)
    return f"{kind}{prefix}_{secrets.token_urlsafe(32)}", prefix


def prefix_of(value: str, kind: str) -> str | None:
    """The lookup prefix of a well-formed credential of `kind`, else None."""
    if not value.startswith(kind):
        return None
    prefix, sep, secret = value[len(kind) :].partition("_")
    if not sep or len(prefix) != 8 or not secret:
        return None
    return prefix
