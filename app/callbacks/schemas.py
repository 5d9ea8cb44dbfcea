"""What the callbacks API reads and writes: a promise to call someone back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from app.api.inputs import AwareDatetime, Remark, RowId, refuse_nulls
from app.models import CallbackAttempt, CallbackRequest

CallbackStatus = Literal["open", "done", "cancelled"]
CLOSED_STATUSES = ("done", "cancelled")


class CallbackCreate(BaseModel):
    """A callback to promise: to a contact, a bare number, or both."""

    model_config = ConfigDict(extra="forbid")

    contact_id: RowId | None = None
    number: str | None = Field(
        default=None, min_length=1, max_length=64, description="Call this number back"
    )
    reason: Remark = Field(min_length=1, examples=["Wants to know where the referral stands"])
    due_by: AwareDatetime | None = None
    assignee_agent_id: RowId | None = None

    @model_validator(mode="after")
    def _someone_to_call(self) -> CallbackCreate:
        if self.contact_id is None and self.number is None:
            raise PydanticCustomError(
                "no_callee", "give contact_id or number: whom should be called back?"
            )
        return self


class CallbackUpdate(BaseModel):
    """Changes to a callback; `done` or `cancelled` closes it, `open` reopens it."""

    model_config = ConfigDict(extra="forbid")

    status: CallbackStatus | None = None
    attempts: int | None = Field(
        default=None, ge=0, le=10_000, description="How often we tried so far (the new total)"
    )
    reason: Remark | None = Field(default=None, min_length=1)
    due_by: AwareDatetime | None = None
    assignee_agent_id: RowId | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> CallbackUpdate:
        refuse_nulls(self, ("status", "attempts", "reason"))
        return self


class CallbackOut(BaseModel):
    """A stored callback request."""

    id: int
    contact_id: int | None
    number_e164: str | None
    reason: str
    requested_at: datetime
    due_by: datetime | None
    status: CallbackStatus
    attempts: int
    missed_calls: int = Field(
        default=1, description="How many missed calls from this caller the request stands for"
    )
    assignee_agent_id: int | None
    call_id: int | None
    closed_at: datetime | None
    overdue: bool = Field(description="Open and past its due time")
    escalated_at: datetime | None = Field(
        default=None, description="When it was announced overdue to the line's team"
    )

    @classmethod
    def of(cls, row: CallbackRequest, now: datetime) -> CallbackOut:
        """The view of a stored callback as of `now`."""
        return cls(
            id=row.id,
            contact_id=row.contact_id,
            number_e164=row.number_e164,
            reason=row.reason,
            requested_at=row.requested_at,
            due_by=row.due_by,
            status=row.status,  # type: ignore[arg-type]  # only CallbackStatus is written
            attempts=row.attempts,
            missed_calls=row.missed_calls or 1,
            assignee_agent_id=row.assignee_agent_id,
            call_id=row.call_id,
            closed_at=row.closed_at,
            overdue=row.status == "open" and row.due_by is not None and row.due_by < now,
            escalated_at=row.escalated_at,
        )


AttemptOutcome = Literal["reached", "no_answer", "voicemail", "busy", "wrong_number"]


class AttemptCreate(BaseModel):
    """One try at calling back; `reached` closes the request as done."""

    model_config = ConfigDict(extra="forbid")

    outcome: AttemptOutcome
    note: str = Field(default="", max_length=2000, examples=["Voicemail ingesproken"])
    agent_id: RowId | None = Field(
        default=None, description="Who called (default: the widget's agent, else none)"
    )
    at: AwareDatetime | None = Field(default=None, description="When (default: now)")


class AttemptOut(BaseModel):
    """A recorded attempt."""

    id: int
    callback_request_id: int
    outcome: AttemptOutcome
    note: str
    agent_id: int | None
    attempted_at: datetime

    @classmethod
    def of(cls, row: CallbackAttempt) -> AttemptOut:
        """The view of a stored attempt."""
        return cls(
            id=row.id,
            callback_request_id=row.callback_request_id,
            outcome=row.outcome,  # type: ignore[arg-type]  # only AttemptOutcome is written
            note=row.note,
            agent_id=row.agent_id,
            attempted_at=row.attempted_at,
        )


class AttemptRecorded(BaseModel):
    """The attempt and the request as it now stands."""

    attempt: AttemptOut
    callback: CallbackOut
