"""Telnyx: Call Control webhooks (a JSON envelope) and TeXML requests (a form), one URL.

Signature: Ed25519 over the body, checked in ``telnyx_signature``; it never covers the URL, so
TeXML's GET method is refused (set the TeXML application's methods to POST), and nothing in the
query is trusted (see ``leg_marker``).

Call Control: ``call.initiated`` rings, ``call.answered`` answers, ``call.hangup`` ends, or misses
when its ``hangup_cause`` says nobody answered. ``call_session_id`` groups a call's legs and is
our call id. On an incoming leg ``call.answered`` means the Call Control application answered
(an IVR, a bot, a queue), so it is reported with ``by_application``; a person answers when the
caller's leg is bridged (``call.bridged``) or when a leg that rings an agent is answered. Such a
leg (a ``transfer``, always ``outgoing``) is an agent leg when it goes to a SIP URI, or when its
``client_state`` decodes to text holding ``stamgast_leg=agent`` (needed for a transfer to a phone
number): the transfer command's ``target_leg_client_state``, base64, which Telnyx puts in every
webhook of the new leg, inside the signed body. Its ``to`` names the agent. The transfer's own
``client_state`` lands on the caller's (incoming) leg, which is never an agent's. A
``?stamgast_leg=agent`` in the webhook URL, the old way, is not trusted: the signature does not
cover it, so a captured request could be replayed with it added; it is logged. Option
``answer_source=agent_leg`` drops the application's answer altogether. An ``outgoing`` leg that
is no agent leg is a call our user places: its ``from`` is our number and its ``to`` the person
called. Numbers are E.164 with "+".

TeXML: Twilio-style fields (``CallSid``, ``CallStatus``, ``ParentCallSid``…); the instruction
request is answered with ``<Dial>`` to option ``dial_target`` (``sip:…`` or a number), else with
an empty ``<Response/>``, which ends the call; callbacks get ``<Response/>``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from xml.sax.saxutils import escape

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
    parse_json,
    select_events,
)
from telephony_adapters.leg_marker import AGENT_LEG_PARAM, client_state_marks_agent
from telephony_adapters.telnyx_signature import verify_telnyx
from telephony_adapters.twilio import agent_from_address

logger = logging.getLogger(__name__)

_MAX_CALL_ID = 128  # the width of our call id column
_MAX_AGENT = 64

_E164 = re.compile(r"\+?[0-9]{6,15}")
# Characters XML 1.0 cannot carry even escaped; a target holding one is a broken option.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
EMPTY_TEXML = f"{_XML_DECLARATION}<Response/>"
EMPTY = AdapterResponse(status_code=204, media_type="text/plain", body=b"")

_CALL_CONTROL_KINDS = {
    "call.initiated": EventKind.RINGING,
    "call.answered": EventKind.ANSWERED,
    "call.bridged": EventKind.ANSWERED,
    "call.hangup": EventKind.ENDED,
}
# Causes that end a leg before it was ever answered (SIP CANCEL, ring timeout, 486, 603...).
# Nobody can talk to a caller whose own leg was never answered, so on the caller's leg these
# prove no person answered; any other cause (normal_clearing above all) also ends a leg only
# the application answered, so it proves nothing either way.
_UNANSWERED_CAUSES = frozenset(
    {"originator_cancel", "timeout", "no_answer", "user_busy", "call_rejected"}
)
_TEXML_KINDS = {
    "queued": EventKind.RINGING,
    "initiated": EventKind.RINGING,
    "ringing": EventKind.RINGING,
    "in-progress": EventKind.ANSWERED,
    "completed": EventKind.ENDED,
    "busy": EventKind.MISSED,
    "no-answer": EventKind.MISSED,
    "canceled": EventKind.MISSED,
    "failed": EventKind.MISSED,
}
_DIAL_UNANSWERED = frozenset({"busy", "no-answer", "canceled", "failed"})
# Fields only TeXML callbacks carry, never the request for the call's instructions.
_CALLBACK_MARKERS = ("CallbackSource", "DialCallStatus", "ParentCallSid", "RecordingSid")


def _is_json(request: AdapterRequest) -> bool:
    media = request.content_type
    if media:
        return media == "application/json" or media.endswith("+json")
    return request.body.lstrip().startswith(b"{")


def _warn_query_marker(request: AdapterRequest, document: object) -> None:
    """Say once per request that a URL marker was ignored, unless the signed body marks it."""
    try:
        in_query = AGENT_LEG_PARAM in request.query()
    except PayloadError:
        return
    data = document.get("data") if isinstance(document, dict) else None
    payload = data.get("payload") if isinstance(data, dict) else None
    state = payload.get("client_state") if isinstance(payload, dict) else None
    if in_query and not client_state_marks_agent(state):
        logger.warning(
            "telnyx: ?%s in the webhook URL is not trusted (Telnyx's signature does not cover "
            "the URL); set the transfer's target_leg_client_state to base64 of %s=agent",
            AGENT_LEG_PARAM,
            AGENT_LEG_PARAM,
        )


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)  # TeXML's docs also show RFC 2822
        except (TypeError, ValueError, IndexError, OverflowError):
            return None  # an odd optional timestamp must not cost us the event
    try:
        return in_utc(parsed, "timestamp")
    except PayloadError:
        return None  # as odd, and year 9999 would break the call's times further on


def _agent(address: str) -> str | None:
    agent = agent_from_address(address).strip()
    return agent if agent and len(agent) <= _MAX_AGENT else None


def _is_sip(address: str) -> bool:
    return address.strip().lower().startswith(("sip:", "sips:"))


def _call_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f'"{name}" is required (a string)')
    if len(value.strip()) > _MAX_CALL_ID:
        raise PayloadError(f'"{name}" must be at most {_MAX_CALL_ID} characters')
    return value.strip()


def _string(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    return value if isinstance(value, str) else ""


def _raw(item: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(key): value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for key, value in item.items()
    }


def call_control_event(document: object, *, answer_source: str = "call") -> CallEvent | None:
    """The CallEvent for a Call Control webhook, or None for an event we do not track."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        raise PayloadError('"data" must be an object (the Telnyx webhook envelope)')
    event_type = data.get("event_type")
    if not isinstance(event_type, str):
        raise PayloadError('"data.event_type" is required (e.g. "call.initiated")')
    name = event_type.strip().lower()
    kind = _CALL_CONTROL_KINDS.get(name)
    if kind is None:
        return None
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise PayloadError('"data.payload" must be an object')
    call_id = _call_id(payload.get("call_session_id"), "data.payload.call_session_id")
    to_raw, from_raw = _string(payload, "to"), _string(payload, "from")
    outgoing = _string(payload, "direction").strip().lower() == "outgoing"
    # Only an outgoing leg rings an agent: marked by the client_state Telnyx signs with the
    # body, or, without it, by going to a SIP URI (a transfer to a SIP phone); our users' own
    # calls go to the callers' numbers.
    marked = client_state_marks_agent(payload.get("client_state"))
    agent_leg = outgoing and (marked or _is_sip(to_raw))
    outgoing = outgoing and not agent_leg
    ringing_extension = answered_by = None
    if outgoing and _is_sip(from_raw):
        ringing_extension = _agent(from_raw)  # a SIP user of ours placed the call
    by_application = False
    person_answered: bool | None = None
    if agent_leg:
        # The leg rings an agent for the caller's call: how the call ends is the caller's leg's,
        # and the bridge that follows an agent's answer adds nothing to it.
        if kind is EventKind.ENDED or name == "call.bridged":
            return None
        agent = _agent(to_raw)
        ringing_extension = agent if kind is EventKind.RINGING else None
        answered_by = agent if kind is EventKind.ANSWERED else None
    elif name == "call.answered" and not outgoing:
        if answer_source == "agent_leg":
            return None  # the tenant asked to hear only of agent legs answering
        # Telnyx reports the Call Control application's own answer (an IVR, a bot) here.
        by_application = True
    elif name == "call.bridged" and outgoing:
        return None  # our user's own call: its call.answered already said the callee answered
    elif kind is EventKind.ENDED:
        cause = _string(payload, "hangup_cause").strip().lower()
        if cause in _UNANSWERED_CAUSES:
            # The leg was never answered (see _UNANSWERED_CAUSES): no person answered.
            person_answered = False
            # A call our user placed that nobody took is over, not a missed call for us.
            kind = EventKind.ENDED if outgoing else EventKind.MISSED
    # Telnyx fills the name with the number when it has none: that is no name.
    caller_name = _string(payload, "caller_id_name").strip()
    return CallEvent(
        provider=TelnyxAdapter.name,
        call_id=call_id,
        kind=kind,
        from_raw=from_raw,
        to_raw=to_raw,
        direction=Direction.OUTBOUND if outgoing else Direction.INBOUND,
        ringing_extension=ringing_extension,
        answered_by=answered_by,
        caller_name=caller_name if caller_name and caller_name != from_raw.strip() else None,
        occurred_at=_timestamp(data.get("occurred_at")),
        number_style=TelnyxAdapter.number_style,
        by_application=by_application,
        person_answered=person_answered,
        raw={"event_type": event_type, **_raw(payload)},
    )


def _texml_kind(fields: Mapping[str, str], *, child: bool, inbound: bool) -> EventKind | None:
    status = fields.get("CallStatus", "").strip().lower()
    kind = _TEXML_KINDS.get(status)
    dial = fields.get("DialCallStatus", "").strip().lower()
    if not any(marker in fields for marker in _CALLBACK_MARKERS):
        # The request for the call's instructions: the call is coming in.
        return EventKind.RINGING if kind in (None, EventKind.RINGING, EventKind.ANSWERED) else kind
    if dial and kind is EventKind.ENDED:
        return EventKind.MISSED if dial in _DIAL_UNANSWERED and inbound else EventKind.ENDED
    if dial and kind is EventKind.ANSWERED:
        # A <Dial action> request: it reports on the dialled leg.
        return EventKind.MISSED if dial in _DIAL_UNANSWERED and inbound else EventKind.ANSWERED
    if child:
        # A <Dial> leg: one agent not answering, or hanging up, is not the call's end.
        return kind if kind in (EventKind.RINGING, EventKind.ANSWERED) else None
    if kind is EventKind.MISSED and not inbound:
        return EventKind.ENDED  # our user's call nobody took is over, not missed by us
    return kind


def _texml_person(fields: Mapping[str, str], kind: EventKind) -> bool | None:
    # Only <Dial>'s own report proves whether the dialled person answered; the parent call's
    # CallDuration and AnsweredTime count from Telnyx answering to run the TeXML.
    if kind not in (EventKind.ENDED, EventKind.MISSED):
        return None
    dial = fields.get("DialCallStatus", "").strip().lower()
    if dial == "completed":
        return True
    return False if dial in _DIAL_UNANSWERED else None


def texml_event(fields: Mapping[str, str]) -> CallEvent | None:
    """The CallEvent for one TeXML request's fields, or None for a status we do not track."""
    call_sid = _call_id(fields.get("CallSid"), "CallSid")
    parent_sid = fields.get("ParentCallSid", "").strip()
    inbound = not fields.get("Direction", "inbound").strip().lower().startswith("outbound")
    kind = _texml_kind(fields, child=bool(parent_sid), inbound=inbound)
    if kind is None:
        return None
    to_raw, from_raw = fields.get("To", ""), fields.get("From", "")
    dialled = bool(fields.get("DialCallStatus", "").strip())
    ringing_extension = answered_by = None
    if parent_sid:
        # A <Dial> leg: its To is the agent rung, for the caller's inbound (parent) call.
        inbound = True
        ringing_extension = _agent(to_raw) if kind is EventKind.RINGING else None
        answered_by = _agent(to_raw) if kind is EventKind.ANSWERED else None
    # The caller's own call answered: Telnyx picked up to run the TeXML, no person yet.
    by_application = kind is EventKind.ANSWERED and inbound and not parent_sid and not dialled
    name = (fields.get("CallerName") or fields.get("CallerId") or "").strip()
    return CallEvent(
        provider=TelnyxAdapter.name,
        call_id=_call_id(parent_sid, "ParentCallSid") if parent_sid else call_sid,
        kind=kind,
        from_raw=from_raw,
        to_raw=to_raw,
        direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
        ringing_extension=ringing_extension,
        answered_by=answered_by,
        caller_name=name if name and name != from_raw.strip() else None,
        occurred_at=_timestamp(fields.get("Timestamp")),
        number_style=TelnyxAdapter.number_style,
        by_application=by_application,
        person_answered=_texml_person(fields, kind),
        raw=dict(fields),
    )


def _texml_fields(request: AdapterRequest) -> dict[str, str]:
    multi = request.query() if request.method.upper() in ("GET", "HEAD") else request.form()
    return {name: values[0] for name, values in multi.items() if values}


def _document(request: AdapterRequest) -> object:
    return parse_json(request.body)


def _is_call_control(request: AdapterRequest) -> bool:
    return request.method.upper() not in ("GET", "HEAD") and _is_json(request)


def voice_texml(options: Mapping[str, str]) -> str:
    """The TeXML for the instruction request: `<Dial>` to option `dial_target`, or empty."""
    target = options.get("dial_target", "").strip()
    if not target:
        return EMPTY_TEXML
    sip = target.lower().startswith(("sip:", "sips:"))
    if _NOT_XML.search(target) or not (sip or _E164.fullmatch(target)):
        # Hanging up is the only TeXML left that cannot itself be an error for the caller.
        logger.warning("telnyx dial_target is neither sip:… nor a phone number; hanging up")
        return EMPTY_TEXML
    noun = "Sip" if sip else "Number"
    dial = f"<Dial><{noun}>{escape(target)}</{noun}></Dial>"
    return f"{_XML_DECLARATION}<Response>{dial}</Response>"


def _texml_response(texml: str) -> AdapterResponse:
    return AdapterResponse(status_code=200, media_type="text/xml", body=texml.encode("utf-8"))


class TelnyxAdapter:
    """Telnyx Call Control and TeXML webhooks."""

    name: str = "telnyx"
    number_style: NumberStyle = NumberStyle.E164

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Verify the Ed25519 signature, then turn the request into at most one event."""
        verify_telnyx(request, config.secret, now=now)
        if _is_call_control(request):
            source = config.options.get("answer_source", "call").strip().lower()
            document = _document(request)
            event = call_control_event(document, answer_source=source)
            _warn_query_marker(request, document)
        else:
            event = texml_event(_texml_fields(request))
        return select_events([event] if event else [], config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """204 for Call Control; TeXML for TeXML: a `<Dial>` for the instruction request."""
        if _is_call_control(request):
            return EMPTY
        # Decided from the request, not `events`: a tenant filtering out "ringing" still
        # needs its calls put through.
        fields = _texml_fields(request)
        callback = any(marker in fields for marker in _CALLBACK_MARKERS)
        return _texml_response(EMPTY_TEXML if callback else voice_texml(config.options))

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """A valid answer of the request's kind, dialling the caller through if configured."""
        try:
            if _is_call_control(request):
                return EMPTY
            try:
                fields = _texml_fields(request)
            except PayloadError:
                fields = {}  # unreadable: treat as the instruction request, where silence hurts
            # Dialling again from a callback (a <Dial action> above all) would loop the caller
            # through the same agents, so callbacks get the empty answer.
            callback = any(marker in fields for marker in _CALLBACK_MARKERS)
            return _texml_response(EMPTY_TEXML if callback else voice_texml(config.options))
        except Exception:
            logger.exception("telnyx fail_open fell back to an empty <Response/>")
            return _texml_response(EMPTY_TEXML)
