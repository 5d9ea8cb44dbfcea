"""The contract every telephony adapter fulfils: request in, `CallEvent`s out, response back.

Adapters are pure: the stdlib and `cryptography` (signature schemes) only, no `app`, web
framework or database imports (a test checks).

Exceptions::

    AdapterError            .message is shown to the integrator who set up the phone system
    ├── SignatureError      the request is not provably from the vendor: the app answers 401
    └── PayloadError        the body is malformed or lacks a required field: the app answers 400
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol
from urllib.parse import parse_qs, urlsplit, urlunsplit

# Far above any real webhook (Twilio sends ~40 fields) yet bounds the work a hostile body can cause.
MAX_FORM_FIELDS = 1000
# Vendors nest their JSON 3 to 6 levels (Amazon Connect's flow event is the deepest); deeper
# is hostile, and later steps (json.dumps of raw fields) recurse over what we accept.
MAX_JSON_DEPTH = 32
# A call event's time outside this window is a broken clock or a forgery; refusing it here keeps
# datetime arithmetic (offsets, durations, year 9999 + 1 day) from overflowing further on.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# str.isdigit() also takes "²" and "٣", and int() refuses past 4300 digits: counts are ASCII.
_COUNT = re.compile(r"[0-9]{1,18}")
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


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


class NumberStyle(StrEnum):
    """How a vendor writes the numbers in its events; the number parser takes it as a hint.

    A wrong hint is costly: "4915112345678" read nationally on a German tenant is another,
    valid German number, so vendors that drop the "+" must say so.
    """

    # E.164, with or without the "+": a bare digit string starts with the country code
    # (sipgate, Vonage, Plivo, Zammad-style scripts, 3CX "AsIs" behind an E.164 trunk).
    E164 = "e164"
    # As dialled on a PBX: national with trunk prefix ("0612..."), international with an
    # exit code ("0031...") or "+", internal extensions and short numbers.
    DIALLED = "dialled"
    # The user part of a SIP URI, possibly percent-escaped ("%2B31612345678"); the number in
    # it is read as DIALLED.
    SIP_USER = "sip_user"


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One vendor-neutral call event; numbers are left exactly as the vendor sent them.

    `from_raw` is always who placed the call and `to_raw` who was called, whatever the
    direction: on an outbound call the person of interest is `to_raw`.
    """

    provider: str
    call_id: str
    kind: EventKind
    from_raw: str
    to_raw: str
    direction: Direction = Direction.INBOUND
    # Inbound: the extension (agent) the call rings at. Outbound: the extension that placed it.
    ringing_extension: str | None = None
    answered_by: str | None = None
    caller_name: str | None = None
    occurred_at: datetime | None = None
    number_style: NumberStyle = NumberStyle.DIALLED
    # ANSWERED only: an application (IVR, queue, bot, Stasis app) took the call, not a person;
    # the call is still waiting for a person and is missed if it ends before one answers.
    by_application: bool = False
    # Final events (ENDED, MISSED, VOICEMAIL): whether the vendor's own final data shows a
    # person answered (billsec > 0, an answered time, DialCallStatus=completed); None when
    # the event does not say. Lets a lost "answered" event be reconciled at the end.
    person_answered: bool | None = None
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
        fields = parse_qs(
            text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS
        )
    except UnicodeDecodeError:
        raise PayloadError(f"{what} has percent-encoded bytes that are not UTF-8") from None
    except ValueError:
        raise PayloadError(f"{what} has more than {MAX_FORM_FIELDS} fields") from None
    check_fields(fields, what)
    return fields


def check_fields(fields: Mapping[str, Sequence[str]], what: str) -> None:
    """Refuse (PayloadError) a NUL or lone surrogate in any field name or value."""
    for name, values in fields.items():
        for item in (name, *values):
            _check_text(item, what)


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
    # How this vendor writes numbers; every CallEvent it makes carries it (a test checks).
    number_style: NumberStyle

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


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _check_document(document: object, what: str) -> None:
    # Iterative: the point is to bound what recursion later meets.
    stack = [(document, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            _check_text(item, what)
        elif isinstance(item, dict | list):
            if level > MAX_JSON_DEPTH:
                raise PayloadError(f"{what} nests JSON more than {MAX_JSON_DEPTH} levels deep")
            if isinstance(item, dict):
                stack.extend((key, level) for key in item)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)


def _check_text(text: str, what: str) -> None:
    found = _NOT_TEXT.search(text)
    if found:
        # No phone system sends these; PostgreSQL cannot store a NUL, nor UTF-8 a lone surrogate.
        raise PayloadError(
            f"{what} holds the character U+{ord(found.group()):04X}, which no call field can carry"
        )


def parse_json(body: bytes | str, what: str = "body") -> object:
    """`body` parsed as JSON with finite numbers and bounded nesting; raises PayloadError."""
    try:
        document = json.loads(body, parse_float=_finite, parse_constant=_refuse_constant)
    except RecursionError:
        raise PayloadError(f"{what} nests JSON more than {MAX_JSON_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        # ValueError also covers integers past Python's 4300-digit conversion limit.
        raise PayloadError(f"{what} is not valid JSON: {exc}") from None
    _check_document(document, what)
    return document


def _out_of_range(what: str, shown: str) -> PayloadError:
    return PayloadError(
        f"{what} must lie between {EARLIEST.year} and {LATEST.year - 1} (UTC); got {shown}"
    )


def in_utc(moment: datetime, what: str) -> datetime:
    """`moment` in UTC (a naive one read as UTC); raises PayloadError outside EARLIEST..LATEST."""
    try:
        utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in year 10000 in UTC
        raise _out_of_range(what, moment.isoformat()) from None
    if not EARLIEST <= utc < LATEST:
        raise _out_of_range(what, moment.isoformat())
    return utc


def from_unix(seconds: float, what: str) -> datetime:
    """Unix seconds as a UTC datetime; raises PayloadError outside EARLIEST..LATEST."""
    if not (math.isfinite(seconds) and EARLIEST.timestamp() <= seconds < LATEST.timestamp()):
        raise _out_of_range(what, f"{seconds:g}")
    return datetime.fromtimestamp(seconds, UTC)


def parse_count(value: object, *, max_digits: int = 12) -> int | None:
    """A count sent as ASCII digits ("37", " 0 "), or None for anything else or longer."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > max_digits or not _COUNT.fullmatch(text):
        return None
    return int(text)
