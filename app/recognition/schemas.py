"""The caller's card: everything an agent should see before saying hello."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

MatchKind = Literal["known", "ambiguous", "unknown", "withheld"]
MaskedField = Literal["notes", "notices"]


class CallerNumber(BaseModel):
    """What the calling number itself tells, known caller or not."""

    raw: str
    e164: str | None
    kind: str = Field(description="mobile, fixed, toll_free, premium, short, extension, ...")
    region: str | None
    region_description: str | None = Field(description="e.g. 'Amersfoort' for a 033 number")
    display: str | None = Field(description="How to show the number to an agent")


class Candidate(BaseModel):
    """One of the contacts sharing a number, ranked."""

    contact_id: int
    display_name: str
    form_of_address: str | None
    household: str | None
    last_interaction_at: datetime | None
    chosen_before: bool = Field(description="An agent picked this contact for this number last")


class ServiceProfileView(BaseModel):
    """How this caller wants to be served."""

    preferred_times: str | None
    preferred_channel: str | None
    preferred_place: str | None
    language: str | None
    plain_language: bool
    extra_explanation: bool
    interpreter: str | None
    accessibility: str | None
    likes: list[str]
    dislikes: list[str]
    extra: dict[str, object]


class InteractionBrief(BaseModel):
    """One of the last interactions."""

    id: int
    occurred_at: datetime
    channel: str
    direction: str
    summary: str
    outcome: str | None
    agent_name: str | None


class CallbackBrief(BaseModel):
    """An open callback request; `overdue` when its due time has passed."""

    id: int
    reason: str
    requested_at: datetime
    due_by: datetime | None
    overdue: bool
    attempts: int


class CaseBrief(BaseModel):
    """An open case: where their referral or waiting-list request stands."""

    id: int
    reference: str
    kind: str
    status: str
    next_step: str | None
    position: int | None
    updated_at: datetime


class NoticeBrief(BaseModel):
    """A message that concerns this caller (their line, a tag, the whole tenant)."""

    id: int
    title: str
    body: str
    severity: str
    sensitive: bool = Field(
        default=False, description="Marked sensitive: role `agent` does not get it"
    )


class SourceFact(BaseModel):
    """One record a lookup source has for this number: where the card's facts came from."""

    source: str = Field(description="The source's name, shown as 'from <name>'")
    kind: str = Field(description="http, ldap, carddav or fhir")
    display_name: str | None
    external_id: str | None = Field(description="The record's id in that system")
    deep_link: str | None = Field(description="Opens the record in that system")
    fields: list[str] = Field(
        description="The card's fields this record filled (display_name, form_of_address, "
        "organisation, language, flags); empty when the card had them already"
    )
    organisation: str | None = None
    language: str | None = None
    form_of_address: str | None = None
    last_activity: str | None = None
    details: dict[str, str] = Field(default={}, description="e.g. a colleague's title")


class Card(BaseModel):
    """The recognition result for one call or lookup."""

    match: MatchKind
    number: CallerNumber | None = None
    contact_id: int | None = None
    display_name: str | None = None
    form_of_address: str | None = None
    language: str | None = None
    organisation: str | None = None
    household: str | None = None
    flags: list[str] = []
    tags: list[str] = []
    notes: str | None = None
    candidates: list[Candidate] = []
    service_profile: ServiceProfileView | None = None
    interactions: list[InteractionBrief] = []
    callbacks: list[CallbackBrief] = []
    cases: list[CaseBrief] = []
    notices: list[NoticeBrief] = []
    sources: list[SourceFact] = Field(
        default=[],
        description="Records the tenant's lookup sources have for this number (a number not "
        "known here); the fields they filled say 'from <source>'",
    )
    masked: list[MaskedField] = Field(
        default=[],
        description="What this card leaves out for the reader's role (`agent`): `notes` "
        "(the contact has notes; `notes` is null) and/or `notices` (sensitive notices were "
        "left out of `notices`). Empty when nothing was left out; show it as 'hidden', "
        "never guess the content",
    )
