"""The contract every telephony adapter fulfils: request in, `CallEvent`s out, response back.

Adapters are pure: stdlib only, no `app`, web framework or database imports (a test checks).

Exceptions::

    AdapterError            .message is shown to the integrator who set up the phone system
    ├── SignatureError      the request is not provably from the vendor: the app answers 401
    └── PayloadError        the body is malformed or lacks a required field: the app answers 400
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from urllib.parse import parse_qs, urlsplit, urlunsplit

# Far above any real webhook (Twilio sends ~40 fields) yet bounds the work a hostile body can cause.
MAX_FORM_FIELDS = 1000


class EventKind(StrEnum):
    """What happened to a call."""

    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"
    MISSED = "missed"
    VOICEMAIL = "voicemail"


class Direction(StrEnum):
    """Which way the call goes, seen from the tenant."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One vendor-neutral call event; numbers are left exactly as the vendor sent them."""

    provider: str
    call_id: str
    kind: EventKind
    from_raw: str
    to_raw: str
    direction: Direction = Direction.INBOUND
    ringing_extension: str | None = None
    answered_by: str | None = None
    caller_name: str | None = None
    occurred_at: datetime | None = None
    # Excluded from the hash: a dict is unhashable, and the parsed fields identify the event.
    raw: Mapping[str, str] = field(default_factory=dict, hash=False)


class AdapterError(Exception):
    """Base of adapter errors; `message` is meant for the integrator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SignatureError(AdapterError):
    """The request's signature is missing, stale or wrong (answer 401)."""


class PayloadError(AdapterError):
    """The body is malformed or misses a required field (answer 400)."""


@dataclass(frozen=True, slots=True)
class AdapterRequest:
    """The HTTP request as the app received it, framework-free."""

    method: str
    url: str
    headers: Mapping[str, str]  # keys lower-cased by the caller
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ("" when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def form(self) -> dict[str, list[str]]:
        """The body parsed as application/x-www-form-urlencoded; raises PayloadError."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"form body is not UTF-8 (byte {exc.start})") from None
        return _parse_query(text, "form body")

    def query(self) -> dict[str, list[str]]:
        """The URL's query string parsed; raises PayloadError."""
        return _parse_query(urlsplit(self.url).query, "query string")


def _parse_query(text: str, what: str) -> dict[str, list[str]]:
    # Blank values are kept: vendors sign "Name=" fields too, dropping them breaks the signature.
    try:
        return parse_qs(
            text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS
        )
    except UnicodeDecodeError:
        raise PayloadError(f"{what} has percent-encoded bytes that are not UTF-8") from None
    except ValueError:
        raise PayloadError(f"{what} has more than {MAX_FORM_FIELDS} fields") from None


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    """One tenant's settings for one adapter."""

    secret: str
    # The URL the vendor called, when a proxy stands between it and us, e.g. "https://x.example".
    public_base_url: str | None = None
    # Event kinds to accept; None accepts all. Other kinds are dropped silently, not refused.
    events: frozenset[EventKind] | None = None
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdapterResponse:
    """The HTTP response to give the vendor."""

    status_code: int
    media_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the app decided about the call, for adapters whose vendor can use it."""

    recognised_name: str | None = None
    language: str | None = None
    has_open_callback: bool = False


class Adapter(Protocol):
    """A vendor adapter: verify and parse a webhook, then answer it."""

    name: str

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Verify the signature, then parse; raises SignatureError / PayloadError."""
        ...

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """The success response the vendor expects."""
        ...

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """A valid vendor response for when anything behind us failed; never raises."""
        ...


def select_events(events: Iterable[CallEvent], config: AdapterConfig) -> list[CallEvent]:
    """Keep only the event kinds the tenant asked for."""
    if config.events is None:
        return list(events)
    return [event for event in events if event.kind in config.events]


def url_for_signature(request: AdapterRequest, config: AdapterConfig) -> str:
    """The URL the vendor requested (and signed), rebuilt from `public_base_url` if set."""
    if not config.public_base_url:
        return request.url
    received = urlsplit(request.url)
    public = urlsplit(config.public_base_url)
    # A proxy that publishes us under a prefix ("/stamgast") strips it before forwarding,
    # so the prefix comes back in front of the path we saw.
    path = public.path.rstrip("/") + received.path
    return urlunsplit((public.scheme, public.netloc, path, received.query, ""))
