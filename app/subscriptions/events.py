"""The events other systems can subscribe to, and their bodies as Standard Webhooks shape them.

A body is `{"type", "timestamp", "data"}`, serialised once when the change is written and
signed byte for byte on every try. Call events carry the call as `calls` stores it; the
hot path (plain rows) and the ORM (`models.Call`) hand the same attributes to `call_data`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, get_args

import pydantic_core

EventType = Literal[
    "call.ringing",
    "call.recognised",
    "call.answered",
    "call.ended",
    "call.missed",
    "call.wrapped_up",
    "call.surveyed",
    "callback.created",
    "callback.done",
    "callback.overdue",
    "interaction.created",
    "contact.updated",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
PING = "ping"  # sent by `POST /v1/subscriptions/{id}/ping` only; nobody subscribes to it


class CallLike(Protocol):
    """What a call event reads: `models.Call` and the hot path's `CallRow` both have it."""

    id: int
    provider: str
    provider_call_id: str
    direction: str
    state: str
    from_e164: str | None
    to_e164: str | None
    line_id: int | None
    ringing_extension: str | None
    answered_by: str | None
    answered_by_agent_id: int | None
    contact_id: int | None
    match: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None


def message_id() -> str:
    """A new `webhook-id`: unique per event, the same on every try and redelivery."""
    return f"msg_{uuid.uuid4().hex}"


def call_event_types(pop: str | None, *, finished_now: bool, recognised: bool) -> tuple[str, ...]:
    """The events a call's step announces (its pop, read as an outside system wants it).

    A voicemail is a missed call whose caller left a message: `call.missed` when the call
    ends that way, nothing more when the voicemail report follows an announced miss.
    """
    if pop == "call.ringing":
        return ("call.ringing", "call.recognised") if recognised else ("call.ringing",)
    if pop == "call.voicemail":
        return ("call.missed",) if finished_now else ()
    return (pop,) if pop is not None else ()


def _moment(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def call_data(
    call: CallLike,
    *,
    interaction_id: int | None = None,
    callback_request_id: int | None = None,
    contact: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A call event's `data`: the call, and for `call.recognised` whom we recognised."""
    data: dict[str, Any] = {
        "call": {
            "id": call.id,
            "provider": call.provider,
            "provider_call_id": call.provider_call_id,
            "direction": call.direction,
            "state": call.state,
            "from_e164": call.from_e164,
            "to_e164": call.to_e164,
            "line_id": call.line_id,
            "ringing_extension": call.ringing_extension,
            "answered_by": call.answered_by,
            "answered_by_agent_id": call.answered_by_agent_id,
            "contact_id": call.contact_id,
            "match": call.match,
            "started_at": _moment(call.started_at),
            "answered_at": _moment(call.answered_at),
            "ended_at": _moment(call.ended_at),
            "interaction_id": interaction_id,
            "callback_request_id": callback_request_id,
        }
    }
    if contact is not None:
        data["contact"] = contact
    return data


def recognised_contact(
    contact_id: int | None, display_name: str | None, language: str | None, match: str
) -> dict[str, Any]:
    """`call.recognised`'s `contact`: who the card says is calling."""
    return {"id": contact_id, "display_name": display_name, "language": language, "match": match}


def body(type_: str, at: datetime, data: dict[str, Any]) -> str:
    """The delivered JSON body."""
    envelope = {"type": type_, "timestamp": _moment(at), "data": data}
    return pydantic_core.to_json(envelope).decode()


def wanted(subscribers: Mapping[str, Sequence[int]], types: Sequence[str]) -> bool:
    """Whether any subscription of the tenant wants one of `types` (else nothing is built)."""
    return any(subscribers.get(t) for t in types)


CALLBACK_FIELDS = (
    "id",
    "contact_id",
    "number_e164",
    "reason",
    "status",
    "requested_at",
    "due_by",
    "closed_at",
    "assignee_agent_id",
    "call_id",
    "attempts",
)
INTERACTION_FIELDS = (
    "id",
    "contact_id",
    "occurred_at",
    "channel",
    "direction",
    "summary",
    "outcome",
    "agent_id",
    "call_id",
)
CONTACT_FIELDS = ("id", "display_name", "external_id", "language", "updated_at")
# What a CRM's call journal needs of the wrap-up: the interaction with the agent's verdict.
WRAP_UP_FIELDS = (*INTERACTION_FIELDS, "satisfaction", "helped", "survey_score")


def row_data(row: object, names: tuple[str, ...]) -> dict[str, Any]:
    """A row's named attributes, times in UTC ISO 8601."""
    values: dict[str, Any] = {}
    for name in names:
        value = getattr(row, name, None)
        values[name] = _moment(value) if isinstance(value, datetime) else value
    return values
