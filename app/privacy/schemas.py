"""The audit trail and a person's data export as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEventOut(BaseModel):
    """Who looked up, was shown or changed what, when, and through what."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str = Field(description="`agent:<name>` (a widget, a pop) or `api-key:<name>`")
    agent_id: int | None = Field(description="The agent who acted or was shown the caller")
    action: str = Field(description="lookup, view, pop, create, update, revoke, export, …")
    via: str = Field(description="api, widget, screen-pop, threecx, …")
    subject_type: str = Field(description="What was acted on: call, contact, number, …")
    subject_id: str | None
    contact_id: int | None
    number_masked: str | None = Field(description="The number concerned, masked")


Rows = list[dict[str, Any]]


class PersonalData(BaseModel):
    """Everything held about a contact or a number, each row with all its columns."""

    subject: dict[str, Any] = Field(description="What was asked for: a contact id or a number")
    exported_at: datetime
    contacts: Rows = Field(
        description="The contact (or every contact holding the number), with `numbers` and "
        "`service_profile`"
    )
    interactions: Rows
    callbacks: Rows = Field(description="Callback requests of the contacts or the number")
    callback_attempts: Rows = Field(
        default=[], description="Every try at calling them back: outcome, note, agent, time"
    )
    cases: Rows
    notices: Rows = Field(description="Notices addressed to a tag the contacts carry")
    calls: Rows = Field(description="Calls matched to the contacts, or from or to the number")
    audit_events: Rows = Field(description="Who looked them up or was shown them, and when")
    number_choices: Rows = Field(description="Agents' picks among contacts sharing a number")
