"""Our own documented JSON call-event format, signed with HMAC-SHA256 over timestamp and body.

Body: one event object, or a JSON array of 1 to 100 of them::

    {"call_id": "abc-123", "event": "ringing", "from": "+31612345678", "to": "+31331234567",
     "direction": "inbound", "extension": "201", "answered_by": "201",
     "caller_name": "Ada L", "occurred_at": "2026-11-25T10:42:00Z"}

Headers: ``X-Stamgast-Timestamp: <unix seconds>`` and
``X-Stamgast-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``; several
comma-separated ``v1=`` values are accepted so a sender can sign with old and new secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from telephony_adapters.base import (
    AdapterConfig,
    AdapterRequest,
    AdapterResponse,
    CallEvent,
    Direction,
    EventKind,
    NumberStyle,
    Outcome,
    PayloadError,
    SignatureError,
    in_utc,
    parse_json,
    select_events,
)

TIMESTAMP_HEADER = "X-Stamgast-Timestamp"
SIGNATURE_HEADER = "X-Stamgast-Signature"
# Wide enough for clock drift and a retry, narrow enough that a captured request soon goes stale.
MAX_SKEW_SECONDS = 300
MAX_BATCH = 100
# More values than any key rotation needs; bounds the comparisons one request can ask for.
MAX_SIGNATURES = 8

_DIGITS = re.compile(r"[0-9]{1,12}")
_KINDS = tuple(kind.value for kind in EventKind)
_DIRECTIONS = tuple(direction.value for direction in Direction)


def _hex_signature(secret: str, body: bytes, timestamp: str) -> str:
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign_generic(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The two headers that sign `body` at `timestamp` (unix seconds) with `secret`."""
    stamp = str(timestamp)
    return {
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: f"v1={_hex_signature(secret, body, stamp)}",
    }


def _shown(value: str, limit: int = 40) -> str:
    # Echo what we received so the integrator can spot it, but never a whole hostile header.
    return json.dumps(value if len(value) <= limit else value[:limit] + "…", ensure_ascii=False)


def verify_generic(request: AdapterRequest, secret: str, *, now: datetime) -> None:
    """Check the timestamp window and the HMAC; raises SignatureError saying what is wrong."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    stamp = request.headers.get(TIMESTAMP_HEADER.lower())
    if stamp is None:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    header = request.headers.get(SIGNATURE_HEADER.lower())
    if header is None:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    stamp = stamp.strip()
    # int() would also take "+5", " 5" or "1_000": the signed text must be exactly these digits.
    if not _DIGITS.fullmatch(stamp):
        raise SignatureError(
            f"{TIMESTAMP_HEADER} must be an integer (unix seconds); got {_shown(stamp)}"
        )
    age = now.timestamp() - int(stamp)
    if age > MAX_SKEW_SECONDS:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is {age:.0f} s old; at most {MAX_SKEW_SECONDS} s is accepted"
        )
    if -age > MAX_SKEW_SECONDS:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is {-age:.0f} s in the future; "
            f"at most {MAX_SKEW_SECONDS} s is accepted (check the sender's clock)"
        )
    # Other schemes ("v2=...") are skipped, so a future scheme can be sent alongside v1.
    parts = (part.strip() for part in header.split(","))
    offered = [part[3:] for part in parts if part.startswith("v1=")][:MAX_SIGNATURES]
    if not offered:
        raise SignatureError(f"{SIGNATURE_HEADER} holds no v1= signature")
    expected = _hex_signature(secret, request.body, stamp).encode("ascii")
    matched = False
    for candidate in offered:
        # Every candidate is compared, so timing does not tell which position matched.
        matched |= hmac.compare_digest(expected, candidate.lower().encode("utf-8"))
    if not matched:
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match: expected v1=hex(HMAC-SHA256(secret, "
            f'timestamp + "." + body)) over the exact bytes sent'
        )


def _type_name(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _text(item: Mapping[str, Any], name: str, where: str, *, limit: int) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f'{where}"{name}" must be a string; got {_type_name(value)}')
    if len(value) > limit:
        raise PayloadError(f'{where}"{name}" must be at most {limit} characters; got {len(value)}')
    return value


def _required_text(item: Mapping[str, Any], name: str, where: str, *, limit: int) -> str:
    value = _text(item, name, where, limit=limit)
    if value is None:
        raise PayloadError(f'{where}"{name}" is required')
    return value


def _optional_text(item: Mapping[str, Any], name: str, where: str, *, limit: int) -> str | None:
    # An empty optional field means "not known", like an absent one.
    return _text(item, name, where, limit=limit) or None


def _choice(item: Mapping[str, Any], name: str, where: str, allowed: tuple[str, ...]) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        got = _shown(value) if isinstance(value, str) else _type_name(value)
        raise PayloadError(f'{where}"{name}" must be one of {", ".join(allowed)}; got {got}')
    return value


def _occurred_at(item: Mapping[str, Any], where: str) -> datetime | None:
    value = item.get("occurred_at")
    if value is None:
        return None
    expected = 'an ISO-8601 time with offset, e.g. "2026-11-25T10:42:00Z"'
    if not isinstance(value, str):
        raise PayloadError(f'{where}"occurred_at" must be {expected}; got {_type_name(value)}')
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(
            f'{where}"occurred_at" must be {expected}; got {_shown(value)}'
        ) from None
    if parsed.tzinfo is None:
        # A local time without offset is ambiguous across the sender's and our time zone.
        raise PayloadError(f'{where}"occurred_at" must be {expected}; got no offset')
    return in_utc(parsed, f'{where}"occurred_at"')


def _raw(item: Mapping[str, Any]) -> dict[str, str]:
    return {
        key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for key, value in item.items()
    }


def _event(item: object, where: str) -> CallEvent:
    if not isinstance(item, dict):
        raise PayloadError(f"{where}an event must be a JSON object; got {_type_name(item)}")
    kind = _choice(item, "event", where, _KINDS)
    if kind is None:
        raise PayloadError(f'{where}"event" is required (one of {", ".join(_KINDS)})')
    call_id = _required_text(item, "call_id", where, limit=128)
    if not call_id.strip():
        raise PayloadError(f'{where}"call_id" must not be empty')
    direction = _choice(item, "direction", where, _DIRECTIONS)
    return CallEvent(
        provider=GenericAdapter.name,
        call_id=call_id,
        kind=EventKind(kind),
        # "from" may be "" (or "anonymous"): a withheld number is still a call to show.
        from_raw=_required_text(item, "from", where, limit=64),
        to_raw=_text(item, "to", where, limit=64) or "",
        direction=Direction(direction) if direction else Direction.INBOUND,
        ringing_extension=_optional_text(item, "extension", where, limit=64),
        answered_by=_optional_text(item, "answered_by", where, limit=64),
        caller_name=_optional_text(item, "caller_name", where, limit=128),
        occurred_at=_occurred_at(item, where),
        number_style=GenericAdapter.number_style,
        raw=_raw(item),
    )


def parse_generic_body(body: bytes) -> list[CallEvent]:
    """Parse an unsigned body (one event object or an array of them); raises PayloadError."""
    document = parse_json(body)
    if isinstance(document, dict):
        return [_event(document, "")]
    if isinstance(document, list):
        if not 1 <= len(document) <= MAX_BATCH:
            raise PayloadError(f"a batch must hold 1 to {MAX_BATCH} events; got {len(document)}")
        return [_event(item, f"events[{index}]: ") for index, item in enumerate(document)]
    raise PayloadError(
        f"body must be a JSON object or an array of objects; got {_type_name(document)}"
    )


class GenericAdapter:
    """Stamgast's own JSON event format, for PBX scripts and the CLI simulator."""

    name: str = "generic"
    number_style: NumberStyle = NumberStyle.DIALLED

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Verify the signature, then parse the event or batch."""
        verify_generic(request, config.secret, now=now)
        return select_events(parse_generic_body(request.body), config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """`{"ok": true, "events": N}`."""
        return _json_response({"ok": True, "events": len(events)})

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """`{"ok": true, "events": 0, "degraded": true}`: the sender must not retry forever."""
        return _json_response({"ok": True, "events": 0, "degraded": True})


def _json_response(document: Mapping[str, object]) -> AdapterResponse:
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return AdapterResponse(status_code=200, media_type="application/json", body=body)
