"""The small contract every source type keeps, and what a source finds.

SourceError            (base: the source could not answer; skipped, counted, never a failed pop)
├── SourceUnreachable  connection refused, DNS, TLS, a timeout of its own
└── SourceRefused      it answered, but with an error (401, 500, an LDAP error, bad JSON)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from app.phone import PhoneNumber


class SourceError(Exception):
    """A source could not say who a number is."""


class SourceUnreachable(SourceError):
    """The source could not be reached (refused, timed out, name not found)."""


class SourceRefused(SourceError):
    """The source answered with an error or with something we cannot read."""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One person or organisation a source has for a number; each field may be missing."""

    display_name: str | None = None
    form_of_address: str | None = None
    external_id: str | None = None
    deep_link: str | None = None
    organisation: str | None = None
    language: str | None = None
    flags: tuple[str, ...] = ()
    last_activity: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class Source(Protocol):
    """One configured source, ready to be asked (built from its config and secret)."""

    async def lookup(self, number: PhoneNumber) -> list[SourceRecord]:
        """Who the source has for this number (empty: nobody); raises SourceError."""

    async def close(self) -> None:
        """Release connections (the source was changed or removed)."""


def number_forms(number: PhoneNumber) -> dict[str, str]:
    """The forms a CRM may keep a number in, for templates: {e164}, {national}, {digits}."""
    e164 = number.e164 or number.key or ""
    national = re.sub(r"\D", "", number.national or "") or e164
    return {"e164": e164, "national": national, "digits": e164.lstrip("+")}


def text(value: object, limit: int = 200) -> str | None:
    """A value from a source as a short stripped string, None when empty."""
    if value is None or isinstance(value, (dict, list)):
        return None
    shown = str(value).strip()
    return shown[:limit] or None
