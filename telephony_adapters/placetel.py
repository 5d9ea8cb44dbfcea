"""Placetel notify API: ``IncomingCall``, ``OutgoingCall``, ``CallAccepted`` and ``HungUp``.

Placetel POSTs a form for every event of a number with notifications switched on (Settings →
External APIs in the Placetel web portal) and of every outgoing call.

Signature: ``X-PLACETEL-SIGNATURE`` = hex HMAC-SHA256(shared secret, raw body), the secret set
in the same settings page. There is no timestamp in the scheme.

Fields, per Placetel's README (github.com/Placetel/call-control-notify-api): numbers as dialled
(``022129191999``, ``anonymous``; SIP ids on internal calls). ``OutgoingCall``: ``from`` is the
caller id shown to the callee, ``peer`` the calling SIP user (``7777abcdefg@fpbx.de``), ``to``
the person called. ``CallAccepted`` comes for incoming calls only, ``peer`` being who answered.
``HungUp`` has ``type`` and ``duration`` (seconds of an accepted call, 0 otherwise).

The response is an empty 200: Placetel reads XML only for numbers routed to "External API"
(call control), which this adapter does not offer; notifications need no answer.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

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
    parse_count,
    select_events,
)

SIGNATURE_HEADER = "X-PLACETEL-SIGNATURE"
_SHA256_HEX_CHARS = 64

_RINGING_DIRECTIONS = {"incomingcall": Direction.INBOUND, "outgoingcall": Direction.OUTBOUND}
_DIRECTIONS = {"in": Direction.INBOUND, "out": Direction.OUTBOUND}
# Placetel: "busy, canceled, unavailable and congestion are limited to outbound calls".
_OUTBOUND_ONLY_TYPES = frozenset({"busy", "canceled", "unavailable", "congestion"})
_HANGUP_KINDS = {
    "accepted": EventKind.ENDED,
    "missed": EventKind.MISSED,
    "canceled": EventKind.MISSED,
    "cancelled": EventKind.MISSED,
    "busy": EventKind.MISSED,
    "unavailable": EventKind.MISSED,
    "congestion": EventKind.MISSED,
    "blocked": EventKind.MISSED,
    "voicemail": EventKind.VOICEMAIL,
}


def placetel_signature(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw body with the shared secret."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_placetel(request: AdapterRequest, config: AdapterConfig) -> None:
    """Check X-PLACETEL-SIGNATURE over the exact body; raises SignatureError."""
    header = request.headers.get(SIGNATURE_HEADER.lower())
    if header is None:
        raise SignatureError(
            f"missing {SIGNATURE_HEADER} header (set the shared secret in Placetel's "
            "external API settings)"
        )
    offered = header.strip().lower()
    if len(offered) != _SHA256_HEX_CHARS:
        raise SignatureError(f"{SIGNATURE_HEADER} must be {_SHA256_HEX_CHARS} hex characters")
    expected = placetel_signature(config.secret, request.body)
    if not hmac.compare_digest(expected.encode("ascii"), offered.encode("utf-8")):
        raise SignatureError(
            f"{SIGNATURE_HEADER} does not match: expected hex(HMAC-SHA256(secret, body)) over "
            "the exact bytes sent (wrong shared secret, or the body was altered)"
        )


def agent_from_peer(peer: str) -> str:
    """The SIP user in a peer: `7777abcdefg@fpbx.de` → 7777abcdefg."""
    text = peer.strip()
    for scheme in ("sip:", "sips:"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    return text.split(";", 1)[0].split("@", 1)[0]


def _seconds(value: str) -> int | None:
    # Seven digits (115 days) is past any call: longer is garbage, and `now - it` must not overflow.
    return parse_count(value, max_digits=7)


def placetel_events(fields: Mapping[str, str], *, now: datetime) -> list[CallEvent]:
    """The CallEvents for one notification: none, one, or answered-then-ended."""
    event = fields.get("event", "").strip()
    if not event:
        raise PayloadError(
            '"event" is required (IncomingCall, OutgoingCall, CallAccepted or HungUp)'
        )
    event = event.lower()
    if event not in ("incomingcall", "outgoingcall", "callaccepted", "hungup"):
        return []
    call_id = fields.get("call_id", "").strip()
    if not call_id:
        raise PayloadError('"call_id" is required (the Placetel call id, 64 hex characters)')
    from_raw, to_raw = fields.get("from", ""), fields.get("to", "")
    hangup_type = fields.get("type", "").strip().lower()
    direction = _RINGING_DIRECTIONS.get(event) or _DIRECTIONS.get(
        fields.get("direction", "").strip().lower()
    )
    if direction is None:
        # HungUp without "direction" (Zammad's Placetel specs post such bodies): the types
        # Placetel limits to outbound calls still say which way the call went.
        direction = Direction.OUTBOUND if hangup_type in _OUTBOUND_ONLY_TYPES else Direction.INBOUND
    if direction is Direction.OUTBOUND and "@" in to_raw:
        # Placetel names both ends by SIP id on internal calls.
        direction = Direction.INTERNAL

    def make(
        kind: EventKind,
        *,
        ringing_extension: str | None = None,
        answered_by: str | None = None,
        occurred_at: datetime | None = None,
        person_answered: bool | None = None,
    ) -> CallEvent:
        return CallEvent(
            provider=PlacetelAdapter.name,
            call_id=call_id,
            kind=kind,
            from_raw=from_raw,
            to_raw=to_raw,
            direction=direction,
            ringing_extension=ringing_extension,
            answered_by=answered_by,
            occurred_at=occurred_at,
            number_style=PlacetelAdapter.number_style,
            person_answered=person_answered,
            raw=dict(fields),
        )

    if event == "incomingcall":
        return [make(EventKind.RINGING)]
    peer = agent_from_peer(fields.get("peer", "")) or None
    if event == "outgoingcall":
        # `from` is only the caller id shown to the callee; `peer` is the SIP user who
        # dialled: the agent who should see the callee's card. Zammad's Placetel specs also
        # post a SIP id in `from` without a `peer`: that SIP user placed the call.
        if peer is None and "@" in from_raw:
            peer = agent_from_peer(from_raw) or None
        return [make(EventKind.RINGING, ringing_extension=peer)]
    if event == "callaccepted":
        return [make(EventKind.ANSWERED, answered_by=peer)]
    # An unknown or missing hangup type still ends the call; the app knows if it was answered.
    kind = _HANGUP_KINDS.get(hangup_type, EventKind.ENDED)
    duration = _seconds(fields.get("duration", ""))
    if hangup_type == "accepted" and duration:
        # Placetel sends CallAccepted for incoming calls only: an accepted outgoing call
        # would otherwise look unanswered. For an incoming one it is a harmless repeat.
        answered = make(EventKind.ANSWERED, occurred_at=now - timedelta(seconds=duration))
        return [answered, make(kind, person_answered=True)]
    return [make(kind, person_answered=_person_answered(hangup_type))]


def _person_answered(hangup_type: str) -> bool | None:
    """What Placetel's hangup type proves about a person answering; None when it proves nothing."""
    if hangup_type == "accepted":
        # "The call was accepted and ended by hangup": a SIP user took it (voicemail has its
        # own type).
        return True
    if hangup_type in ("missed", "canceled", "busy", "blocked", "unavailable"):
        # Placetel's table: "nobody picked up", "canceled by the caller", "the called number
        # was busy", "the call was blocked", "destination is offline": no one answered.
        return False
    # voicemail: a machine took the call, and whether a person had picked up before is not
    # said; congestion ("there was a problem") and unknown types: no proof either way.
    return None


def _fields(request: AdapterRequest) -> dict[str, str]:
    return {name: values[0] for name, values in request.form().items() if values}


_EMPTY = AdapterResponse(status_code=200, media_type="text/plain", body=b"")


class PlacetelAdapter:
    """Placetel notify API (PROFI)."""

    name: str = "placetel"
    number_style: NumberStyle = NumberStyle.DIALLED

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Verify X-PLACETEL-SIGNATURE, then turn the notification into events."""
        verify_placetel(request, config)
        return select_events(placetel_events(_fields(request), now=now), config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """An empty 200: notifications need no answer."""
        return _EMPTY

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """An empty 200 as well; building it cannot fail."""
        return _EMPTY
