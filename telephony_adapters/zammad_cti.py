"""Zammad-style generic CTI: the newCall/answer/hangup push format many PBX scripts speak.

The body is exactly Zammad's, JSON or form (urlencoded or multipart, ``user[]`` repeated)::

    {"event": "newCall", "from": "493055571600", "to": "492214710334", "direction": "in",
     "callId": "307fa962-de8d-4ffc", "user": ["Emma Taylor"], "queue": "support"}

``call_id`` is accepted for ``callId``, as Zammad does (``params['callId'] ||
params['call_id']`` in its ``app/models/cti/log.rb``; its request specs post ``call_id``).

Zammad trusts a token in its URL; ours names only the tenant, so a secret is required on top:
``X-Stamgast-Secret: <secret>``, or our generic HMAC headers (``X-Stamgast-Timestamp`` and
``X-Stamgast-Signature``, see `telephony_adapters.generic`), which also cover body and age.
Every event is answered ``{}``, Zammad's "no action".
"""

from __future__ import annotations

import email
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import HTTP
from email.utils import collapse_rfc2231_value

from telephony_adapters.base import (
    MAX_FORM_FIELDS,
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
    check_fields,
    parse_json,
    select_events,
)
from telephony_adapters.generic import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_generic

SECRET_HEADER = "X-Stamgast-Secret"
# Zammad's documented limit for callId.
MAX_CALL_ID = 250
NO_ACTION = b"{}"

_KINDS = {"newcall": EventKind.RINGING, "answer": EventKind.ANSWERED, "hangup": EventKind.ENDED}
# sipgate's causes that say nobody picked up. normalClearing and forwarded (and any cause we do
# not know) stay ENDED: the app then decides from the call's history whether it was answered.
_MISSED_CAUSES = frozenset({"busy", "cancel", "noanswer", "congestion", "notfound"})
_DIRECTIONS = {"in": Direction.INBOUND, "out": Direction.OUTBOUND}
# Zammad's specs answer a call with user "voicemail"; its caller log then keeps it open.
_VOICEMAIL_USER = "voicemail"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def verify_zammad_cti(request: AdapterRequest, secret: str, *, now: datetime) -> None:
    """Check the generic HMAC headers if sent, else X-Stamgast-Secret; raises SignatureError."""
    if not secret:
        # An empty secret would let an empty header (or an HMAC anyone can compute) through.
        raise SignatureError("no secret is configured for this phone system; set one first")
    if any(name.lower() in request.headers for name in (TIMESTAMP_HEADER, SIGNATURE_HEADER)):
        verify_generic(request, secret, now=now)
        return
    offered = request.headers.get(SECRET_HEADER.lower())
    if offered is None:
        raise SignatureError(
            f"missing {SECRET_HEADER} header (or the {TIMESTAMP_HEADER} and "
            f"{SIGNATURE_HEADER} HMAC headers)"
        )
    # Comparing digests keeps the time spent independent of both values' lengths.
    if not hmac.compare_digest(_digest(offered.strip()), _digest(secret)):
        raise SignatureError(f"{SECRET_HEADER} does not match the secret configured here")


def _type_name(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _multipart(request: AdapterRequest) -> dict[str, list[str]]:
    """A multipart/form-data body (what `curl --form` and PHP's curl send) as name → values."""
    header = request.headers.get("content-type", "")
    try:
        prefix = f"Content-Type: {header}\r\n\r\n".encode("latin-1")
    except UnicodeEncodeError:
        raise PayloadError("Content-Type header is not Latin-1") from None
    message = email.message_from_bytes(prefix + request.body, policy=HTTP)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise PayloadError("multipart/form-data body has no parts (missing or wrong boundary?)")
    fields: dict[str, list[str]] = {}
    for count, part in enumerate(message.iter_parts()):
        if count >= MAX_FORM_FIELDS:
            raise PayloadError(f"form body has more than {MAX_FORM_FIELDS} fields")
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name is None or not isinstance(payload, bytes):
            continue  # not a form field (a stray preamble part, or a nested multipart)
        text_name = collapse_rfc2231_value(name)
        try:
            fields.setdefault(text_name, []).append(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise PayloadError(f'form field "{text_name}" is not UTF-8') from None
    check_fields(fields, "form body")
    return fields


def _form_fields(multi: Mapping[str, list[str]]) -> dict[str, object]:
    fields: dict[str, object] = {}
    users: list[str] = []
    for name, values in multi.items():
        if name in ("user", "user[]"):
            users.extend(values)  # sipgate and Zammad's forms repeat user[] per user
        elif values:
            fields[name] = values[0]
    if users:
        fields["user"] = users
    return fields


def zammad_fields(request: AdapterRequest) -> dict[str, object]:
    """The body's fields: JSON values as sent; form fields as strings, `user` as a list."""
    media = request.content_type
    # A JSON body under a form content type (curl -d's default) is still plainly JSON.
    if media == "application/json" or media.endswith("+json") or request.body.lstrip()[:1] == b"{":
        document = parse_json(request.body)
        if not isinstance(document, dict):
            raise PayloadError(f"JSON body must be an object; got {_type_name(document)}")
        return document
    if media == "multipart/form-data":
        return _form_fields(_multipart(request))
    return _form_fields(request.form())


def _text(fields: Mapping[str, object], name: str, *, limit: int) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    # PBX scripts that build JSON by hand send ids and numbers unquoted: accept integers.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError(f'"{name}" must be a string; got {_type_name(value)}')
    text = str(value)
    if len(text) > limit:
        raise PayloadError(f'"{name}" must be at most {limit} characters; got {len(text)}')
    return text


def _users(fields: Mapping[str, object]) -> list[str]:
    value = fields.get("user")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]  # Zammad's JSON examples send a single user as a plain string
    if isinstance(value, list) and all(isinstance(user, str) for user in value):
        return [user for user in value if user]
    raise PayloadError('"user" must be a string or an array of strings')


def _raw(fields: Mapping[str, object]) -> dict[str, str]:
    return {
        key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for key, value in fields.items()
    }


def zammad_event(fields: Mapping[str, object]) -> CallEvent | None:
    """The CallEvent for one push, or None for an event type we do not track."""
    name = _text(fields, "event", limit=64)
    if name is None:
        raise PayloadError('"event" is required (newCall, answer or hangup)')
    kind = _KINDS.get(name.strip().lower())
    if kind is None:
        return None
    call_id = _text(fields, "callId", limit=MAX_CALL_ID)
    if call_id is None or not call_id.strip():
        call_id = _text(fields, "call_id", limit=MAX_CALL_ID)
    if call_id is None or not call_id.strip():
        raise PayloadError('"callId" (or "call_id") is required')
    from_raw = _text(fields, "from", limit=64)
    if from_raw is None and kind is EventKind.RINGING:
        raise PayloadError('"from" is required for newCall (send "anonymous" when withheld)')
    direction_text = (_text(fields, "direction", limit=16) or "in").strip().lower()
    direction = _DIRECTIONS.get(direction_text)
    if direction is None:
        shown = json.dumps(direction_text[:16])
        raise PayloadError(f'"direction" must be in or out; got {shown}')
    users = _users(fields)
    answering = (_text(fields, "answeringNumber", limit=128) or "").strip() or None
    person_answered = None
    if kind is EventKind.ENDED:
        cause = (_text(fields, "cause", limit=64) or "").strip().lower()
        if cause in _MISSED_CAUSES:
            kind = EventKind.MISSED
            # sipgate's vocabulary: the caller hung up first, or the callee was busy,
            # refused, unreachable or unknown; no one answered.
            person_answered = False
        # normalClearing says only that an established call ended: voicemail establishes
        # one too, so it proves no person.
    if kind is EventKind.ANSWERED and [user.lower() for user in users] == [_VOICEMAIL_USER]:
        kind = EventKind.VOICEMAIL
    ringing_extension = answered_by = None
    if kind is EventKind.RINGING:
        # Inbound: the one user being rung; outbound: the user who dials (Zammad shows it
        # as the caller's name). Several users ringing name no single extension.
        # Zammad's specs also send several users as one "user 1,user 2" string.
        ringing_extension = users[0] if len(users) == 1 and "," not in users[0] else None
    elif kind is EventKind.ANSWERED:
        # answeringNumber names the agent's phone or login; failing that, a lone user is the
        # person who picked up (the app matches either against extension, SIP user or name).
        answered_by = answering or (users[0] if len(users) == 1 else None)
    elif kind is EventKind.ENDED:
        answered_by = answering
    return CallEvent(
        provider=ZammadCtiAdapter.name,
        call_id=call_id.strip(),
        kind=kind,
        from_raw=from_raw or "",
        to_raw=_text(fields, "to", limit=64) or "",
        direction=direction,
        ringing_extension=ringing_extension,
        answered_by=answered_by,
        number_style=ZammadCtiAdapter.number_style,
        person_answered=person_answered,
        raw=_raw(fields),
    )


def _no_action() -> AdapterResponse:
    return AdapterResponse(status_code=200, media_type="application/json", body=NO_ACTION)


class ZammadCtiAdapter:
    """Zammad's generic CTI push format, for PBX scripts written against it."""

    name: str = "zammad_cti"
    number_style: NumberStyle = NumberStyle.E164

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Verify the secret header or HMAC, then turn the push into at most one event."""
        verify_zammad_cti(request, config.secret, now=now)
        event = zammad_event(zammad_fields(request))
        return select_events([event] if event else [], config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """`{}`: we never reject or re-route a call the way Zammad's blocklist can."""
        return _no_action()

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """`{}`, the same "no action" the PBX gets when all went well."""
        return _no_action()
