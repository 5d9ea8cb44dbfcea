"""Vonage Voice API: the answer URL (answered with an NCCO) and the event URL, on one address.

Signature: a bearer JWT with a payload_hash, checked in ``vonage_signature``. It covers the body
(a GET's query), never a POST's URL: see ``leg_marker``.

Legs: a call is a conversation; every leg's event carries its ``conversation_uuid``, our call id.
The caller's leg is answered by Vonage itself to run the NCCO (Vonage: "Answer webhook is sent
when a call is answered"), so its ``answered`` is reported with ``by_application``. The leg that
rings an agent (a ``connect`` action, always ``outbound``) is a person's: an outbound leg to an
app user or a SIP URI is one, and so is an outbound leg whose event URL carries our mark for its
conversation, ``?stamgast_leg=agent.<mac>`` (``leg_marker``: an HMAC of the conversation_uuid
keyed with the tenant's signature secret). Our NCCO's ``connect`` writes that URL; in a tenant's
own NCCO (option ``ncco``) a ``connect`` whose ``eventUrl`` is our URL + ``?stamgast_leg=agent``
gets that plain marker replaced by the mark for the call being answered. A plain
``stamgast_leg=agent``, or another conversation's mark, is not trusted (a replayed request could
carry it) and is logged. Its ``to`` names the agent. Any other outbound leg is a call our user
places: ``from`` is our number, ``to`` the person called. Numbers are E.164 digits without "+"
(``"from": "447700900000"``).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
    in_utc,
    parse_count,
    parse_json,
    select_events,
    url_for_signature,
)
from telephony_adapters.leg_marker import (
    AGENT_LEG_PARAM,
    agent_mark,
    is_agent_mark,
    mark_url,
    shown_mark,
)
from telephony_adapters.twilio import agent_from_address
from telephony_adapters.vonage_signature import shown, verify_vonage

logger = logging.getLogger(__name__)

_MAX_CALL_ID = 128  # the width of our call id column
_MAX_AGENT = 64

_RINGING = frozenset({"started", "ringing"})
_UNANSWERED = frozenset({"busy", "cancelled", "unanswered", "rejected", "failed", "timeout"})
# Fields of the event URL's requests that carry no `status` (record, input, transfer, machine
# detection): their absence is what tells the answer URL's request apart.
_NOT_ANSWER = ("status", "recording_url", "dtmf", "speech", "type", "call_uuid")
_E164_DIGITS = re.compile(r"\+?([0-9]{6,15})")

EMPTY = AdapterResponse(status_code=204, media_type="text/plain", body=b"")


def _fields(request: AdapterRequest) -> dict[str, Any]:
    """The vendor's fields: the query for GET, else the JSON body."""
    if request.method.upper() in ("GET", "HEAD"):
        return {name: values[0] for name, values in request.query().items() if values}
    document = parse_json(request.body)
    if not isinstance(document, dict):
        raise PayloadError("body must be a JSON object of Vonage call fields")
    return document


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None or isinstance(value, str):
        return value
    raise PayloadError(f'"{name}" must be a string; got {shown(value)}')


def _is_agent_leg(request: AdapterRequest, secret: str, fields: Mapping[str, Any]) -> bool:
    """True when the URL carries our mark for the conversation the signed fields name."""
    try:
        values = request.query().get(AGENT_LEG_PARAM)
    except PayloadError:
        return False
    if not values:
        return False
    conversation = fields.get("conversation_uuid")
    call_id = conversation.strip() if isinstance(conversation, str) else ""
    if not call_id:
        return False  # the event itself is refused for want of a conversation_uuid
    if is_agent_mark(values[0], secret, call_id):
        return True
    # The query is outside the signature: a plain marker or another call's mark may have been
    # added to a captured request. One line per request, the marker cut short.
    logger.warning(
        "vonage: %s=%s is not our mark for conversation %s (a replayed request, or an eventUrl "
        "we did not mark); the leg is not taken as an agent's",
        AGENT_LEG_PARAM,
        shown_mark(values[0]),
        shown_mark(call_id),
    )
    return False


def _is_answer(fields: Mapping[str, Any]) -> bool:
    return not any(name in fields for name in _NOT_ANSWER)


def _kind(status: str, *, inbound: bool, agent_leg: bool) -> EventKind | None:
    if status in _RINGING:
        return EventKind.RINGING
    if status == "answered":
        return EventKind.ANSWERED
    if agent_leg:
        # One agent not answering, or hanging up, says nothing certain about the call: the
        # caller's leg reports how the call ends.
        return None
    if status == "completed":
        # Whether it was missed is decided by the app: no person answered before it ended.
        return EventKind.ENDED
    if status in _UNANSWERED:
        # Our user's call nobody took is over; only a caller of ours can be missed.
        return EventKind.MISSED if inbound else EventKind.ENDED
    return None


def _person_answered(status: str, fields: Mapping[str, Any], *, inbound: bool) -> bool | None:
    if status in _UNANSWERED:
        return False  # the leg ended before it was answered: nobody picked up
    if status != "completed" or inbound:
        # The caller's leg counts its duration from Vonage answering to run the NCCO.
        return None
    # An outbound leg's duration counts from the called person picking up.
    seconds = fields.get("duration")
    count = parse_count(seconds)
    return None if count is None else count > 0


def _is_address(value: str) -> bool:
    """True for an app user or SIP URI (a person's endpoint), False for a phone number."""
    text = value.strip()
    return bool(text) and _E164_DIGITS.fullmatch(text) is None


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None  # an odd optional timestamp must not cost us the event
    try:
        return in_utc(parsed, "timestamp")
    except PayloadError:
        return None  # as odd, and year 9999 would break the call's times further on


def _raw(fields: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(key): value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for key, value in fields.items()
    }


def vonage_event(fields: Mapping[str, Any], *, agent_leg: bool) -> CallEvent | None:
    """The CallEvent for one request's fields, or None for an event we do not track."""
    status = _text(fields, "status")
    inbound = (_text(fields, "direction") or "inbound").strip().lower() != "outbound"
    to_raw = _text(fields, "to") or ""
    # Only an outbound leg rings an agent: the caller's inbound leg shares the conversation (and
    # so its mark). Without our mark, a leg to an app user or SIP URI still rings a person.
    agent_leg = not inbound and (agent_leg or _is_address(to_raw))
    state = (status or "").strip().lower()
    if status is None:
        if not _is_answer(fields):
            return None
        kind: EventKind | None = EventKind.RINGING  # the answer URL: the call is coming in
    else:
        kind = _kind(state, inbound=inbound, agent_leg=agent_leg)
    if kind is None:
        return None
    call_id = (_text(fields, "conversation_uuid") or "").strip()
    if not call_id:
        raise PayloadError('"conversation_uuid" is required (the Vonage call id, "CON-…")')
    if len(call_id) > _MAX_CALL_ID:
        raise PayloadError(f'"conversation_uuid" must be at most {_MAX_CALL_ID} characters')
    ringing_extension = answered_by = None
    if agent_leg:
        # The leg rings an agent on behalf of the caller's inbound call.
        agent = agent_from_address(to_raw).strip() or None
        agent = agent if agent and len(agent) <= _MAX_AGENT else None
        ringing_extension = agent if kind is EventKind.RINGING else None
        answered_by = agent if kind is EventKind.ANSWERED else None
    return CallEvent(
        provider=VonageAdapter.name,
        call_id=call_id,
        kind=kind,
        from_raw=_text(fields, "from") or "",
        to_raw=to_raw,
        direction=Direction.INBOUND if inbound or agent_leg else Direction.OUTBOUND,
        ringing_extension=ringing_extension,
        answered_by=answered_by,
        occurred_at=_timestamp(fields.get("timestamp")),
        number_style=VonageAdapter.number_style,
        # The caller's own leg answered: Vonage picked up to run the NCCO, no person yet.
        by_application=kind is EventKind.ANSWERED and inbound and not agent_leg,
        person_answered=_person_answered(state, fields, inbound=inbound),
        raw=_raw(fields),
    )


def _endpoint(target: str) -> dict[str, str] | None:
    """An NCCO endpoint for `sip:…`, `app:<user>` or an E.164 number; None if none fits."""
    lowered = target.lower()
    if lowered.startswith(("sip:", "sips:")):
        return {"type": "sip", "uri": target}
    if lowered.startswith("app:") and target[4:].strip():
        return {"type": "app", "user": target[4:].strip()}
    digits = _E164_DIGITS.fullmatch(target)
    # Vonage writes E.164 without the "+".
    return {"type": "phone", "number": digits.group(1)} if digits else None


def _mark_connect(step: dict[str, Any], mark: str) -> dict[str, Any]:
    urls = step.get("eventUrl")
    if isinstance(urls, str):
        return {**step, "eventUrl": mark_url(urls, mark)}
    if isinstance(urls, list):
        marked = [mark_url(url, mark) if isinstance(url, str) else url for url in urls]
        return {**step, "eventUrl": marked}
    return step


def _custom_ncco(text: str, mark: str | None) -> list[Any] | None:
    try:
        ncco = json.loads(text)
    except ValueError:
        return None
    if not isinstance(ncco, list) or not ncco:
        return None
    valid = all(isinstance(step, dict) and isinstance(step.get("action"), str) for step in ncco)
    if not valid:
        return None
    if mark is None:
        return ncco  # nothing to sign with: a plain marker stays, and is not trusted
    # The tenant writes our URL + "?stamgast_leg=agent"; we sign it for this conversation.
    return [_mark_connect(step, mark) if step["action"] == "connect" else step for step in ncco]


def _hold(conversation: str) -> dict[str, Any]:
    # An NCCO ends the call when its last action ends: a conversation of the caller's own that
    # does not start until a moderator joins keeps them on hold (with the music, if any)
    # until an agent is brought in.
    return {"action": "conversation", "name": f"stamgast-{conversation}", "startOnEnter": False}


def agent_event_url(request: AdapterRequest, config: AdapterConfig, mark: str) -> str | None:
    """Our own URL with `mark` (``leg_marker.agent_mark``), so the agent's leg events say so."""
    parts = urlsplit(url_for_signature(request, config))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, f"{AGENT_LEG_PARAM}={mark}", ""))


def answer_ncco(
    options: Mapping[str, str],
    *,
    conversation: str,
    event_url: str | None,
    mark: str | None = None,
) -> list[Any]:
    """The NCCO for the answer URL per the `ncco` / `connect_endpoint` options.

    `mark` is this conversation's agent mark: it signs the plain ``stamgast_leg=agent`` of a
    custom NCCO's connect eventUrl. Without it (no secret known, as in fail_open) a custom
    NCCO is answered as written and our own connect gets no eventUrl: the leg's events then
    carry no trusted marker, and only an app user or SIP endpoint marks them as an agent's.
    """
    custom = options.get("ncco", "").strip()
    if custom:
        ncco = _custom_ncco(custom, mark)
        if ncco is not None:
            return ncco
        logger.warning("vonage option ncco is not a JSON array of actions; ignored")
    target = options.get("connect_endpoint", "").strip()
    endpoint = _endpoint(target) if target else None
    if endpoint is not None:
        connect: dict[str, Any] = {"action": "connect", "endpoint": [endpoint]}
        if event_url:
            connect["eventUrl"] = [event_url]
        caller_id = _E164_DIGITS.fullmatch(options.get("connect_from", "").strip())
        if caller_id:
            connect["from"] = caller_id.group(1)
        return [connect]
    if target:
        logger.warning("vonage connect_endpoint is not sip:…, app:… or a number; holding")
    hold = _hold(conversation)
    music = options.get("music_on_hold_url", "").strip()
    if music.startswith("https://"):
        hold["musicOnHoldUrl"] = [music]
    return [hold]


def _ncco_response(ncco: list[Any]) -> AdapterResponse:
    body = json.dumps(ncco, separators=(",", ":")).encode("utf-8")
    return AdapterResponse(status_code=200, media_type="application/json", body=body)


def _reply(
    request: AdapterRequest, config: AdapterConfig, fields: Mapping[str, Any]
) -> AdapterResponse:
    if not _is_answer(fields):
        return EMPTY
    conversation = fields.get("conversation_uuid")
    known = conversation.strip() if isinstance(conversation, str) else ""
    # Marked only for a conversation the request named: a mark for a room of our own
    # invention would match no event. Without the tenant's secret (fail_open) nothing is marked.
    mark = agent_mark(config.secret, known)
    event_url = agent_event_url(request, config, mark) if mark else None
    room = known or uuid.uuid4().hex  # its own room still, so no two callers meet
    return _ncco_response(
        answer_ncco(config.options, conversation=room, event_url=event_url, mark=mark)
    )


class VonageAdapter:
    """Vonage Voice API answer and event webhooks."""

    name: str = "vonage"
    number_style: NumberStyle = NumberStyle.E164

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Verify the bearer JWT, then turn the request into at most one event."""
        verify_vonage(request, config.secret, now=now)
        fields = _fields(request)
        event = vonage_event(fields, agent_leg=_is_agent_leg(request, config.secret, fields))
        return select_events([event] if event else [], config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """An NCCO for the answer URL; 204 for events, whose answer Vonage does not read."""
        # Decided from the request, not `events`: a tenant filtering out "ringing" still
        # needs its calls put through.
        return _reply(request, config, _fields(request))

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """The configured NCCO so the caller is still put through; 204 for events.

        Before the tenant is known (its secret empty) the agent's leg cannot be marked: the NCCO
        is still valid, its connect simply carries no eventUrl (a custom NCCO goes out as
        written), and an unmarked leg is not trusted as an agent's.
        """
        try:
            try:
                fields = _fields(request)
            except PayloadError:
                fields = {}  # unreadable: treat as the answer URL, where silence hurts most
            return _reply(request, config, fields)
        except Exception:
            logger.exception("vonage fail_open fell back to holding the caller")
            return _ncco_response([_hold(uuid.uuid4().hex)])
