"""Amazon Connect: contact-flow Lambda events, and contact events, relayed by a small Lambda.

Connect cannot call a webhook itself. `docs/amazon-connect-lambda.py` posts the event it was
invoked with, unchanged, signed with our generic HMAC headers (`telephony_adapters.generic`),
and hands our answer back to the contact flow:

- ``{"Name": "ContactFlowEvent", "Details": {"ContactData": {...}, "Parameters": {...}}}``
  from an "Invoke AWS Lambda function" block: the call is RINGING. ``Parameters.extension``, if
  the flow sets it, names the extension rung.
- ``{"detail-type": "Amazon Connect Contact Event", "detail": {...}}`` when the same Lambda is
  the target of an EventBridge rule: CONNECTED_TO_AGENT is ANSWERED (by the agent's id from
  its ARN), DISCONNECTED and COMPLETED are ENDED. These carry no phone numbers.

Voice only: chats, tasks and emails, and monitoring or disconnect-flow contacts, are ignored.
The answer is the flat string map a contact flow can branch on (`caller_attributes`).
"""

from __future__ import annotations

import json
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
from telephony_adapters.generic import verify_generic

FLOW_EVENT = "ContactFlowEvent"
CONTACT_EVENT = "Amazon Connect Contact Event"
_CONTACT_EVENT_KINDS = {
    "CONNECTED_TO_AGENT": EventKind.ANSWERED,
    "DISCONNECTED": EventKind.ENDED,
    # COMPLETED follows DISCONNECTED (after wrap-up); it still ends a call whose DISCONNECTED
    # was lost, and is a harmless duplicate otherwise. Events are best effort and unordered.
    "COMPLETED": EventKind.ENDED,
}
_OUTBOUND = frozenset({"OUTBOUND", "CALLBACK", "API", "EXTERNAL_OUTBOUND", "CAMPAIGN"})
# Not a caller reaching an agent: a supervisor listening in, or the flow after hang-up.
_SKIPPED_INITIATIONS = frozenset({"MONITOR", "DISCONNECT"})


def _type_name(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _object(parent: Mapping[str, Any], name: str, path: str) -> Mapping[str, Any] | None:
    value = parent.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PayloadError(f'"{path}" must be an object; got {_type_name(value)}')
    return value


def _required_object(parent: Mapping[str, Any], name: str, path: str) -> Mapping[str, Any]:
    value = _object(parent, name, path)
    if value is None:
        raise PayloadError(f'"{path}" is required')
    return value


def _text(parent: Mapping[str, Any] | None, name: str, path: str) -> str | None:
    if parent is None:
        return None
    value = parent.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f'"{path}" must be a string; got {_type_name(value)}')
    if len(value) > 256:
        raise PayloadError(f'"{path}" must be at most 256 characters; got {len(value)}')
    return value


def _required_text(parent: Mapping[str, Any], name: str, path: str) -> str:
    value = (_text(parent, name, path) or "").strip()
    if not value:
        raise PayloadError(f'"{path}" is required')
    return value


def _direction(initiation: str) -> Direction:
    return Direction.OUTBOUND if initiation in _OUTBOUND else Direction.INBOUND


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


def _flow_event(document: Mapping[str, Any]) -> CallEvent | None:
    details = _required_object(document, "Details", "Details")
    contact = _required_object(details, "ContactData", "Details.ContactData")
    where = "Details.ContactData."
    contact_id = _required_text(contact, "ContactId", where + "ContactId")
    channel = (_text(contact, "Channel", where + "Channel") or "VOICE").upper()
    initiation = (_text(contact, "InitiationMethod", where + "InitiationMethod") or "").upper()
    if channel != "VOICE" or initiation in _SKIPPED_INITIATIONS:
        return None
    # Both endpoints may be null (a withheld number, an API-started contact).
    customer = _object(contact, "CustomerEndpoint", where + "CustomerEndpoint")
    system = _object(contact, "SystemEndpoint", where + "SystemEndpoint")
    queue_value = contact.get("Queue")
    # AWS's own sample request writes the queue as a bare name ("Queue": "QueueName").
    queue = (
        {"Name": queue_value}
        if isinstance(queue_value, str)
        else _object(contact, "Queue", where + "Queue")
    )
    parameters = _object(details, "Parameters", "Details.Parameters") or {}
    raw = {
        "Name": str(document.get("Name", "")),
        "ContactId": contact_id,
        "InitialContactId": _text(contact, "InitialContactId", where + "InitialContactId") or "",
        "Channel": channel,
        "InitiationMethod": initiation,
        "Queue.Name": _text(queue, "Name", where + "Queue.Name") or "",
    }
    raw.update(
        {
            f"Parameters.{key}": value if isinstance(value, str) else json.dumps(value)
            for key, value in parameters.items()
        }
    )
    extension = _text(parameters, "extension", "Details.Parameters.extension")
    return CallEvent(
        provider=AmazonConnectAdapter.name,
        call_id=contact_id,
        kind=EventKind.RINGING,
        from_raw=_text(customer, "Address", where + "CustomerEndpoint.Address") or "",
        to_raw=_text(system, "Address", where + "SystemEndpoint.Address") or "",
        direction=_direction(initiation),
        ringing_extension=(extension or "").strip() or None,
        number_style=AmazonConnectAdapter.number_style,
        raw=raw,
    )


def agent_from_arn(arn: str) -> str:
    """The agent id at the end of `arn:aws:connect:…:instance/<id>/agent/<agent id>`."""
    return arn.rsplit("/", 1)[-1].strip()


def _either(detail: Mapping[str, Any], name: str) -> str | None:
    """`detail.<name>`, or its PascalCase spelling: AWS's samples use both."""
    pascal = name[:1].upper() + name[1:]
    if name not in detail and pascal in detail:
        return _text(detail, pascal, f"detail.{pascal}")
    return _text(detail, name, f"detail.{name}")


def _contact_event(document: Mapping[str, Any]) -> CallEvent | None:
    detail = _required_object(document, "detail", "detail")
    event_type = (_either(detail, "eventType") or "").upper()
    kind = _CONTACT_EVENT_KINDS.get(event_type)
    channel = (_either(detail, "channel") or "VOICE").upper()
    initiation = (_either(detail, "initiationMethod") or "").upper()
    if kind is None or channel != "VOICE" or initiation in _SKIPPED_INITIATIONS:
        return None
    contact_id = _either(detail, "contactId")
    if contact_id is None:
        raise PayloadError('"detail.contactId" is required')
    # Samples in AWS's docs spell these both ways.
    agent = _object(detail, "agentInfo", "detail.agentInfo") or _object(
        detail, "AgentInfo", "detail.AgentInfo"
    )
    answered_by = person_answered = None
    occurred = _timestamp(detail.get("disconnectTimestamp"))
    connected_at = (agent or {}).get("connectedToAgentTimestamp") or (agent or {}).get(
        "ConnectedToAgentTimestamp"
    )
    if kind is EventKind.ANSWERED:
        arn = (agent or {}).get("agentArn") or (agent or {}).get("AgentArn")
        answered_by = agent_from_arn(arn) if isinstance(arn, str) else None
        occurred = _timestamp(connected_at)
    elif connected_at:
        # AWS: agentInfo.connectedToAgentTimestamp is when "the contact was connected to the
        # agent": a person took it. Its absence proves nothing (the event may omit it).
        person_answered = True
    customer = _object(detail, "customerEndpoint", "detail.customerEndpoint")
    system = _object(detail, "systemEndpoint", "detail.systemEndpoint")
    return CallEvent(
        provider=AmazonConnectAdapter.name,
        call_id=contact_id,
        kind=kind,
        from_raw=_text(customer, "address", "detail.customerEndpoint.address") or "",
        to_raw=_text(system, "address", "detail.systemEndpoint.address") or "",
        direction=_direction(initiation),
        answered_by=answered_by or None,
        occurred_at=occurred or _timestamp(document.get("time")),
        number_style=AmazonConnectAdapter.number_style,
        person_answered=person_answered,
        raw={"eventType": event_type, "contactId": contact_id, "channel": channel},
    )


def connect_event(body: bytes) -> CallEvent | None:
    """The CallEvent for a relayed Lambda or contact event, or None for one we skip."""
    document = parse_json(body)
    if not isinstance(document, dict):
        raise PayloadError(f"body must be a JSON object; got {_type_name(document)}")
    if document.get("detail-type") == CONTACT_EVENT:
        return _contact_event(document)
    if document.get("Name", FLOW_EVENT) == FLOW_EVENT and "Details" in document:
        return _flow_event(document)
    return None


def caller_attributes(outcome: Outcome) -> dict[str, str]:
    """The flat string map a contact flow branches on (`$.External.recognised` …)."""
    return {
        "callerName": outcome.recognised_name or "",
        "callerLanguage": outcome.language or "",
        "hasOpenCallback": "true" if outcome.has_open_callback else "false",
        "recognised": "true" if outcome.recognised_name else "false",
    }


def _json_response(document: Mapping[str, str]) -> AdapterResponse:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return AdapterResponse(status_code=200, media_type="application/json", body=body)


_UNKNOWN_CALLER = _json_response(caller_attributes(Outcome()))


class AmazonConnectAdapter:
    """Amazon Connect events relayed by Stamgast's Lambda."""

    name: str = "amazon_connect"
    number_style: NumberStyle = NumberStyle.E164

    def parse(
        self, request: AdapterRequest, config: AdapterConfig, *, now: datetime
    ) -> list[CallEvent]:
        """Verify the generic HMAC headers, then turn the event into at most one CallEvent."""
        if not config.secret:
            # An empty secret makes an HMAC anyone can compute.
            raise SignatureError("no secret is configured for Amazon Connect; set one first")
        verify_generic(request, config.secret, now=now)
        event = connect_event(request.body)
        return select_events([event] if event else [], config)

    def respond(
        self,
        request: AdapterRequest,
        config: AdapterConfig,
        events: Sequence[CallEvent],
        outcome: Outcome,
    ) -> AdapterResponse:
        """`{"callerName", "callerLanguage", "hasOpenCallback", "recognised"}`, all strings."""
        return _json_response(caller_attributes(outcome))

    def fail_open(self, request: AdapterRequest, config: AdapterConfig) -> AdapterResponse:
        """The same keys for an unknown caller, so the flow takes its ordinary branch."""
        return _UNKNOWN_CALLER
