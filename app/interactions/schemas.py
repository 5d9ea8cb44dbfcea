"""What the interactions API reads and writes: one contact moment."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.inputs import AwareDatetime, Channel, Note, RowId

Direction = Literal["inbound", "outbound"]


class InteractionCreate(BaseModel):
    """A contact moment to record."""

    model_config = ConfigDict(extra="forbid")

    contact_id: RowId
    occurred_at: AwareDatetime | None = Field(default=None, description="Defaults to now")
    channel: Channel = "phone"
    direction: Direction = "inbound"
    summary: Note = Field(default="", examples=["Asked about the waiting list; explained step 2"])
    outcome: str | None = Field(default=None, max_length=64, examples=["answered", "callback"])
    agent_id: RowId | None = None
    call_id: RowId | None = None
    satisfaction: int | None = Field(
        default=None, ge=1, le=5, description="The caller's own judgement, 1 (poor) to 5 (great)"
    )


class InteractionOut(BaseModel):
    """A stored contact moment."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    contact_id: int | None
    occurred_at: datetime
    channel: Channel
    direction: Direction
    summary: str
    outcome: str | None
    agent_id: int | None
    call_id: int | None
    satisfaction: int | None
    helped: str | None = Field(
        default=None, description='The wrap-up\'s answer to "geholpen?": resolved, partly, not'
    )
    survey_score: int | None = Field(
        default=None, description="The caller's post-call survey score, 1 (poor) to 5 (great)"
    )
