"""What travels to an agent's screen: the pop, its per-agent delivery, and stream notices."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.calls.states import CallState
from app.recognition.masking import masked_card
from app.recognition.schemas import Card

# Vendors cap caller ID names far below this (CNAM: 15 characters); a longer one is cut.
CALLER_NAME_LIMIT = 128

PopType = Literal[
    "call.ringing", "call.answered", "call.ended", "call.missed", "call.voicemail", "card.updated"
]


class PopCall(BaseModel):
    """The call a pop is about, as the agent's widget shows it."""

    id: int
    provider: str
    provider_call_id: str
    state: CallState
    direction: str
    from_e164: str | None
    from_display: str | None
    to_e164: str | None
    party_e164: str | None = Field(
        default=None,
        description="The other party: the caller on an inbound call, the person called on an "
        "outbound one (the card is about them)",
    )
    party_display: str | None = Field(default=None, description="party_e164 as agents read it")
    line_label: str | None
    ringing_extension: str | None
    answered_by_agent_id: int | None
    answered_by_name: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    interaction_id: int | None = Field(
        default=None, description="Set when the call ended: the wrap-up is saved into it"
    )
    caller_name: str | None = Field(
        default=None,
        max_length=CALLER_NAME_LIMIT,
        description="The caller's name as the phone system gave it on this event (caller ID "
        "name); not checked by us, and only on the events that carried it",
    )
    callback_request_id: int | None = Field(
        default=None,
        description="On a missed call or voicemail: the callback request it opened or counted "
        "on; null when there is no number to call back (withheld or unreadable)",
    )


class Pop(BaseModel):
    """One screen-pop; every agent it reaches sees the same `pop_id` (clients dedupe on it)."""

    pop_id: str = Field(description="Unique per pop, the same for every agent receiving it")
    type: PopType
    tenant_id: int
    call: PopCall
    card: Card | None
    at: datetime

    def masked(self) -> Pop | None:
        """This pop as role `agent` sees it (app/recognition/masking.py); None when its card
        holds nothing to leave out, so every role can share one body."""
        if self.card is None:
            return None
        card = masked_card(self.card)
        return self.model_copy(update={"card": card}) if card.masked else None


class Delivery(BaseModel):
    """A pop as delivered to one agent: `seq` orders that agent's stream and resumes it."""

    seq: int = Field(
        ge=1, description="Per-agent sequence: starts at 1, strictly increasing per agent"
    )
    pop: Pop


class StreamNotice(BaseModel):
    """A control message on the stream (never a pop)."""

    type: Literal["hello", "resync", "bye"] = Field(
        description=(
            "`hello` on connect; `resync` when pops after your last_seq are gone (reload the "
            "agent's calls: `GET /v1/me/calls`); `bye` when the server closes the stream "
            "(reconnect after retry_ms)"
        )
    )
    seq: int = Field(
        ge=0,
        description="The agent's last seq (hello, resync) or the last one sent here (bye)",
    )
    message: str | None = None
    retry_ms: int | None = Field(default=None, description="Wait this long before reconnecting")
    epoch: str | None = Field(
        default=None,
        description=(
            "On `hello`: the life of the sequence numbers. Reconnect with `epoch` and "
            "`last_seq`; when the epoch has changed (the server's pop log started again), "
            "the stream says `hello` with seq 0, then `resync`, then replays from seq 1"
        ),
    )


class OverdueCallback(BaseModel):
    """The promised callback that is overdue, as stored (see `callback.overdue` events)."""

    id: int
    contact_id: int | None
    number_e164: str | None
    reason: str
    status: str
    requested_at: datetime
    due_by: datetime | None
    closed_at: datetime | None
    assignee_agent_id: int | None
    call_id: int | None
    attempts: int
    missed_calls: int
    line_label: str | None = Field(description="The line the missed call came in on")
    escalated_at: datetime


class CallbackOverdue(BaseModel):
    """Not a call: the team of the line a missed call came in on (and its assignee) is told
    once that its callback is past due (app/callbacks/escalation.py). Delivered like a pop,
    with a seq, and replayed like one."""

    pop_id: str
    type: Literal["callback.overdue"]
    tenant_id: int
    call: None = None
    card: None = None
    callback: OverdueCallback
    at: datetime


class CallbackOverdueDelivery(BaseModel):
    """A `Delivery` whose `pop` is a `CallbackOverdue`."""

    seq: int = Field(ge=1)
    pop: CallbackOverdue
