"""jambonz: an application's call hook (answered with verbs) and its call status webhook.

Both are POSTed as JSON with ``Jambonz-Signature: t=<unix>,v1=<hex HMAC-SHA256(webhook secret,
f"{t}." + body)>``. jambonz signs ``JSON.stringify(payload)``, exactly the body it sends, so the
raw bytes are verified; a GET hook sends no signed body and is refused.

The call hook (``session:new``, the only request carrying the ``sip`` INVITE) must get
a verb array back, or jambonz rejects the call. Options:

- ``dial_target``: comma-separated, at most 10 rung at once: ``sip:201@pbx.example`` (a SIP
  target), ``user:201@realm`` (a user registered on jambonz), else a phone number. Dialled with
  ``answerOnBridge`` so the caller's leg is answered only when an agent picks up, which is
  what makes "in-progress" on the call mean "answered".
- ``redirect_url``: hands the call to the tenant's own jambonz application (``redirect``).
- neither: ``sip:decline`` 480, which lets a carrier fail over. A ``pause`` would leave the
  caller waiting for nothing and then end in 603, which forbids failover.

To only recognise callers, keep your own call hook and point just the call status webhook
here: its ``trying`` already pops the card.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
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
    parse_json,
    select_events,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Jambonz-Signature"
# jambonz's own verifiers allow 300 s; we also refuse as far in the future (clock drift).
MAX_SKEW_SECONDS = 300
# More values than any key rotation needs; bounds the comparisons one request can ask for.
MAX_SIGNATURES = 8
# jambonz's dial verb rings at most 10 targets at once.
MAX_DIAL_TARGETS = 10

_DIGITS = re.compile(r"[0-9]{1,12}")
_PHONE = re.compile(r"\+?[0-9]{2,20}")
_STATUS_KINDS = {
    "trying": EventKind.RINGING,
    "ringing": EventKind.RINGING,
    "early-media": EventKind.RINGING,
    "in-progress": EventKind.ANSWERED,
    # Whether a completed call was missed is decided by the app from the whole lifecycle.
    "completed": EventKind.ENDED,
    "failed": EventKind.MISSED,
    "busy": EventKind.MISSED,
    "no-answer": EventKind.MISSED,
}
_DIRECTIONS = {"inbound": Direction.INBOUND, "outbound": Direction.OUTBOUND}
# Only the call hook (session:new) carries the INVITE. Not "defaults": jambonz's documented
# call:status example (docs/ws/call-status) carries it too.
_CALL_HOOK_MARKERS = ("sip",)
DECLINE: dict[str, object] = {
    "verb": "sip:decline",
    "status": 480,
    "headers": {"X-Reason": "Stamgast: no dial_target or redirect_url configured"},
}


def jambonz_signature(secret: str, body: bytes, timestamp: int | str) -> str:
    """The hex HMAC-SHA256 jambonz puts after `v1=` for `body` sent at `timestamp`."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _header_parts(header: str) -> tuple[str | None, list[str]]:
    stamp: str | None = None
    offered: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            stamp = value.strip()
        elif key == "v1" and len(offered) < MAX_SIGNATURES:
            offered.append(value.strip())
    return stamp, offered


def verify_jambonz(request: AdapterRequest, secret: str, *, now: datetime) -> None:
    """Check Jambonz-Signature's timestamp window and HMAC; raises SignatureError."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not secret:
        raise SignatureError("no webhook secret is configured for jambonz; set one first")
    if request.method.upper() != "POST":
        raise SignatureError(
            f"jambonz signs only POST bodies; set the webhook's method to POST "
            f"(got {request.method.upper()[:10]})"
        )
    header = request.headers.get(SIGNATURE_HEADER.lower())
    if header is None:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    stamp, offered = _header_parts(header)
    if stamp is None or not _DIGITS.fullmatch(stamp):
        raise SignatureError(f"{SIGNATURE_HEADER} has no t=<unix seconds> timestamp")
    if not offered:
        raise SignatureError(f"{SIGNATURE_HEADER} holds no v1= signature")
    age = now.timestamp() - int(stamp)
    if abs(age) > MAX_SKEW_SECONDS:
        when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
        raise SignatureError(
            f"{SIGNATURE_HEADER} timestamp is {when}; at most {MAX_SKEW_SECONDS} s is accepted"
        )
    expected = jambonz_signature(secret, request.body, stamp).encode("ascii")
    matched = False
    for candidate in offered:
        # Every candidate is compared, so timing does not tell which position matched.
        matched |= hmac.compare_digest(expected, candidate.lower().encode("utf-8"))
    if not matched:
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match: use the account's webhook secret from the "
            "jambonz portal as this provider's secret"
        )


def _type_name(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def jambonz_document(body: bytes) -> dict[str, Any]:
    """The JSON object jambonz sent; raises PayloadError."""
    document = parse_json(body)
    if not isinstance(document, dict):
        raise PayloadError(f"body must be a JSON object; got {_type_name(document)}")
    return document


def _text(document: Mapping[str, Any], name: str, *, limit: int = 256) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f'"{name}" must be a string; got {_type_name(value)}')
    if len(value) > limit:
        raise PayloadError(f'"{name}" must be at most {limit} characters; got {len(value)}')
    return value


def _raw(document: Mapping[str, Any]) -> dict[str, str]:
    # Nested objects are left out: `sip` holds the whole INVITE, SDP included.
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in document.items()
        if not isinstance(value, dict | list)
    }


def agent_from_target(address: str) -> str:
    """The agent a dialled leg reached: `sip:201@pbx` → 201, `201@realm` → 201."""
    lowered = address.lower()
    for scheme in ("sip:", "sips:"):
        if lowered.startswith(scheme):
            address = address[len(scheme) :]
            break
    return address.split(";", 1)[0].split("@", 1)[0]


def is_call_hook(document: Mapping[str, Any]) -> bool:
    """True for the application's call hook, which must be answered with verbs."""
    return any(marker in document for marker in _CALL_HOOK_MARKERS) and not document.get(
        "parent_call_sid"
    )


def jambonz_event(document: Mapping[str, Any]) -> CallEvent | None:
    """The CallEvent for a call hook or status callback, or None for a status we skip."""
    call_sid = (_text(document, "call_sid") or "").strip()
    if not call_sid:
        raise PayloadError('"call_sid" is required (the jambonz call id)')
    status = _text(document, "call_status", limit=32)
    if status is None:
        raise PayloadError('"call_status" is required')
    kind = _STATUS_KINDS.get(status.strip().lower())
    parent_sid = (_text(document, "parent_call_sid") or "").strip()
    if kind is None or (parent_sid and kind is EventKind.MISSED):
        # A status we do not track ("queued"), or one dialled agent not answering, which says
        # nothing about the call: others may have.
        return None
    from_raw = _text(document, "from") or ""
    to_raw = _text(document, "to") or ""
    direction_text = (_text(document, "direction", limit=32) or "").strip().lower()
    direction = _DIRECTIONS.get(direction_text, Direction.INBOUND)
    ringing_extension = answered_by = None
    person_answered = None
    if kind is EventKind.MISSED:
        # no-answer, busy, failed: jambonz's final statuses of a call that never connected,
        # so no one answered. ("completed" proves nothing about a person: the application's
        # own verbs answer the call too.)
        person_answered = False
    if parent_sid:
        # A dial verb's leg to an agent: its `to` is the target rung, and it belongs to the
        # caller's call. jambonz calls the leg outbound; the call it serves came in.
        direction = Direction.INBOUND
        agent = agent_from_target(to_raw) or None
        if kind is EventKind.RINGING:
            ringing_extension = agent
        else:
            answered_by = agent
    return CallEvent(
        provider=JambonzAdapter.name,
        call_id=parent_sid or call_sid,
        kind=kind,
        from_raw=from_raw,
        to_raw=to_raw,
        direction=direction,
        ringing_extension=ringing_extension,
        answered_by=answered_by,
        caller_name=(_text(document, "caller_name") or "").strip() or None,
        number_style=JambonzAdapter.number_style,
        person_answered=person_answered,
        raw=_raw(document),
    )


def _dial_target(target: str) -> dict[str, str] | None:
    lowered = target.lower()
    if lowered.startswith(("sip:", "sips:")):
        return {"type": "sip", "sipUri": target}
    if lowered.startswith("user:") and len(target) > len("user:"):
        return {"type": "user", "name": target[len("user:") :]}
    if _PHONE.fullmatch(target):
        return {"type": "phone", "number": target}
    return None


def call_hook_verbs(options: Mapping[str, str]) -> list[dict[str, object]]:
    """The verbs for the call hook per the `dial_target` / `redirect_url` options."""
    targets = []
    for text in options.get("dial_target", "").split(","):
        if text.strip():
            target = _dial_target(text.strip())
            if target is None:
                logger.warning("jambonz dial_target entry %r is not sip:, user: or a number", text)
            else:
                targets.append(target)
    if targets:
        return [{"verb": "dial", "answerOnBridge": True, "target": targets[:MAX_DIAL_TARGETS]}]
    redirect = options.get("redirect_url", "").strip()
    if redirect.lower().startswith(("https://", "http://")):
        return [{"verb": "redirect", "actionHook": redirect}]
    if redirect:
        logger.warning("jambonz redirect_url must be an http(s) URL; declining the call")
    return [DECLINE]


def _json_response(document: object) -> AdapterResponse:
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return AdapterResponse(status_code=200, media_type="application/json", body=body)


_FALLBACK = _json_response([DECLINE])


class JambonzAdapter:
    """jambonz call hooks and call status webhooks."""

    name: str = "jambonz"
    number_style: NumberStyle = NumberStyle.SIP_USER

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Verify Jambonz-Signature, then turn the request into at most one event."""
        verify_jambonz(request, config.secret, now=now)
        event = jambonz_event(jambonz_document(request.body))
        return select_events([event] if event else [], config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """The configured verbs for the call hook, `{}` for status callbacks."""
        # Decided from the request, not `events`: a tenant filtering out "ringing" still
        # needs its calls put through.
        try:
            hook = is_call_hook(jambonz_document(request.body))
        except PayloadError:
            hook = False
        return _json_response(call_hook_verbs(config.options) if hook else {})

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """The configured verbs for what may be a call hook, so the call still goes through."""
        try:
            try:
                hook = is_call_hook(jambonz_document(request.body))
            except PayloadError:
                hook = True  # unreadable: treat as the call hook, where silence rejects the call
            return _json_response(call_hook_verbs(config.options) if hook else {})
        except Exception:
            logger.exception("jambonz fail_open fell back to declining the call")
            return _FALLBACK
