"""Kamailio: one JSON object per SIP event, posted by the routing script's `http_client_query`.

The ready config is ``docs/kamailio/kamailio.cfg`` (how to run it: ``docs/kamailio/README.md``):
its SIP workers queue each event, rtimer processes post them and retry while we are away,
so events may arrive late, out of order and (after a post that timed out on Kamailio's side
but was processed on ours) twice: the app keeps one event per call and kind. The body is
built with the `jansson` module, so quotes in display names stay valid JSON::

    {"event": "invite", "call_id": "a84b4c76e66710@pc33", "from_user": "anonymous",
     "from_display": "Anonymous", "pai": "tel:+31-6-1234-5678", "to_user": "0331234567",
     "extension": "201"}

    event         invite | ringing            → ringing (the INVITE, or a 180 from the phone)
                  answered                    → answered (the 200 OK to the INVITE)
                  cancel | failed             → missed (caller hung up / final 3xx-6xx reply)
                  bye                         → ended
                  ack, reinvite, update, …    → ignored (see IGNORED_EVENTS), answered 200
    call_id       $ci, the SIP Call-ID: every event of a call carries the same one (required)
    from_user     $fU, the caller's number as sent (required for invite and ringing)
    from_display  $fn, the display name; surrounding quotes and backslash escapes are removed
    pai           $ai, the P-Asserted-Identity URI ("" when absent)
    to_user       $tU, the number the caller dialled
    extension     the phone that rings ($rU after routing), optional
    answered_by   extension or SIP user that answered (answered only), optional
    status        the final SIP reply code (failed only), optional
    direction     inbound (default), outbound or internal

Numbers are SIP user parts (`NumberStyle.SIP_USER`): the shipped config unescapes them
(``$(fU{s.unescape.user})``), but a hand-written script may post ``%2B31612345678``; the
app decodes either. ``cancel`` and ``failed`` (posted only when no branch is left) prove
that nobody answered: ``person_answered=False``. Other events do not say.

The caller is `pai` when `from_user` holds no digit (``anonymous``, ``restricted``, ""),
else `from_user`; the raw value goes on, the app normalises it. Set the tenant option
``use_pai=never`` to show such callers as withheld instead. Kamailio prints a missing
pseudo-variable as ``<null>``: such values count as absent. A Call-ID longer than the 128
characters we store becomes ``sha256:<hex>`` of it, the same for every event of the call.

Authentication, either of:

- ``X-Stamgast-Secret: <secret>``, compared in constant time. Simple to send from the
  script, but anyone who sees one request holds the secret, and the body is not covered:
  use HTTPS (or a private network) between Kamailio and Stamgast.
- ``X-Stamgast-Timestamp`` + ``X-Stamgast-Signature: v1=<hex HMAC-SHA256>``, exactly as the
  generic adapter (`telephony_adapters.generic`). Kamailio 5.6 computes it with its core
  ``{s.sha256}`` and ``{s.decode.hexa}`` transformations from the padded keys that
  `hmac_pads` derives from the secret once. The secret never travels, the body is covered
  and a delivery older than 5 minutes is refused. When the signature header is present it
  is checked and the secret header is ignored.

Response: 200 ``{"ok": true}``; fail-open gives the same. The config retries only curl
errors, 408, 429 and 5xx: the queued event goes back in its queue.
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
    parse_json,
    select_events,
)
from telephony_adapters.generic import SIGNATURE_HEADER, verify_generic

SECRET_HEADER = "X-Stamgast-Secret"
EVENT_KINDS = {
    "invite": EventKind.RINGING,
    "ringing": EventKind.RINGING,
    "answered": EventKind.ANSWERED,
    "cancel": EventKind.MISSED,
    "failed": EventKind.MISSED,
    "bye": EventKind.ENDED,
}
# SIP events a script may well post (or post by mistake) that change nothing about the call.
IGNORED_EVENTS = frozenset(
    {"ack", "reinvite", "update", "info", "options", "prack", "refer", "notify", "register",
     "message", "subscribe", "progress"}
)  # fmt: skip
# What the app stores as the provider's call id; longer SIP Call-IDs are hashed to fit.
MAX_CALL_ID = 128
_FIELD_LIMITS = {
    "from_user": 128, "from_display": 128, "pai": 256, "to_user": 128,
    "extension": 64, "answered_by": 120, "status": 8, "direction": 16,
}  # fmt: skip
_NULL = "<null>"  # how Kamailio prints an absent pseudo-variable
_DIGIT = re.compile(r"[0-9]")
_ESCAPED = re.compile(r"\\(.)")
_DIRECTIONS = {direction.value: direction for direction in Direction}
_BLOCK = 64  # SHA-256's block size: the HMAC key is padded (or first hashed) to this


def hmac_pads(secret: str) -> tuple[str, str]:
    """The inner and outer HMAC-SHA256 keys for `secret`, in hex, for the Kamailio config."""
    key = secret.encode("utf-8")
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()


def verify_kamailio(request: AdapterRequest, secret: str, *, now: datetime) -> None:
    """Check the HMAC signature if sent, else the secret header; raises SignatureError."""
    if SIGNATURE_HEADER.lower() in request.headers:
        verify_generic(request, secret, now=now)
        return
    offered = request.headers.get(SECRET_HEADER.lower())
    if offered is None:
        raise SignatureError(
            f"missing {SECRET_HEADER} header (or {SIGNATURE_HEADER} with X-Stamgast-Timestamp)"
        )
    if not secret or not hmac.compare_digest(
        offered.strip().encode("utf-8"), secret.encode("utf-8")
    ):
        raise SignatureError(
            f"{SECRET_HEADER} does not match the secret set with PUT /v1/providers/kamailio"
        )


def _type_name(value: object) -> str:
    names = {dict: "object", list: "array", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _shown(value: str, limit: int = 40) -> str:
    return json.dumps(value if len(value) <= limit else value[:limit] + "…", ensure_ascii=False)


def _fields(document: Mapping[str, Any]) -> dict[str, str]:
    """Every field as text: strings only (null counts as absent), each within its limit."""
    fields: dict[str, str] = {}
    for name, value in document.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise PayloadError(f'"{name}" must be a string; got {_type_name(value)}')
        limit = _FIELD_LIMITS.get(name)
        if limit is not None and len(value) > limit:
            raise PayloadError(f'"{name}" must be at most {limit} characters; got {len(value)}')
        fields[name] = value
    return fields


def _present(fields: Mapping[str, str], name: str) -> str | None:
    value = fields.get(name, "").strip()
    return None if value in ("", _NULL) else value


def _call_id(fields: Mapping[str, str]) -> str:
    call_id = _present(fields, "call_id")
    if call_id is None:
        raise PayloadError('"call_id" is required: post the SIP Call-ID ($ci)')
    if len(call_id) > MAX_CALL_ID:
        return "sha256:" + hashlib.sha256(call_id.encode("utf-8")).hexdigest()
    return call_id


def _display_name(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = _ESCAPED.sub(r"\1", value[1:-1]).strip()
    return value or None


def _caller(fields: Mapping[str, str], config: AdapterConfig) -> tuple[str, str | None]:
    """The caller's raw number and name: the PAI stands in for a From without a number."""
    from_user = _present(fields, "from_user") or ""
    name = _display_name(_present(fields, "from_display"))
    if name is not None and name.casefold() == from_user.casefold():
        name = None  # "Anonymous" <sip:anonymous@…> or a display name that is the number
    pai = _present(fields, "pai")
    if pai and not _DIGIT.search(from_user) and config.options.get("use_pai") != "never":
        return pai, name
    return from_user, name


def _direction(fields: Mapping[str, str]) -> Direction:
    value = _present(fields, "direction")
    if value is None:
        return Direction.INBOUND
    direction = _DIRECTIONS.get(value)
    if direction is None:
        raise PayloadError(
            f'"direction" must be one of {", ".join(_DIRECTIONS)}; got {_shown(value)}'
        )
    return direction


def parse_kamailio_body(body: bytes, config: AdapterConfig) -> list[CallEvent]:
    """Parse one posted event (no signature check); [] for an event we ignore."""
    document = parse_json(body)
    if not isinstance(document, dict):
        raise PayloadError(f"body must be one JSON object; got {_type_name(document)}")
    fields = _fields(document)
    event = (_present(fields, "event") or "").lower()
    if event in IGNORED_EVENTS:
        return []
    kind = EVENT_KINDS.get(event)
    if kind is None:
        known = ", ".join([*EVENT_KINDS, *sorted(IGNORED_EVENTS)])
        got = _shown(event) if event else "nothing"
        raise PayloadError(f'"event" must be one of {known}; got {got}')
    call_id = _call_id(fields)
    caller, name = _caller(fields, config)
    if kind is EventKind.RINGING and not caller:
        raise PayloadError(f'"from_user" is required for "{event}": post the From user ($fU)')
    return [
        CallEvent(
            provider=KamailioAdapter.name,
            call_id=call_id,
            kind=kind,
            from_raw=caller,
            to_raw=_present(fields, "to_user") or "",
            direction=_direction(fields),
            ringing_extension=_present(fields, "extension"),
            answered_by=_present(fields, "answered_by") if kind is EventKind.ANSWERED else None,
            caller_name=name,
            number_style=KamailioAdapter.number_style,
            person_answered=False if kind is EventKind.MISSED else None,
            raw=fields,
        )
    ]


class KamailioAdapter:
    """Events posted by a Kamailio routing script (`docs/kamailio/kamailio.cfg`)."""

    name: str = "kamailio"
    number_style: NumberStyle = NumberStyle.SIP_USER

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Check the secret header (or HMAC signature), then parse the event."""
        verify_kamailio(request, config.secret, now=now)
        return select_events(parse_kamailio_body(request.body, config), config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """`{"ok": true}`: the script only logs a status other than 200."""
        return _OK

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """The same `{"ok": true}`: the event is kept, and a 5xx would make the config repost."""
        return _OK


_OK = AdapterResponse(status_code=200, media_type="application/json", body=b'{"ok":true}')
