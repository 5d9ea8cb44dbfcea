"""What 3CX sends us and what its CRM template reads back."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

CallType = Literal["Inbound", "Outbound", "Missed", "Notanswered"]

_CALL_TYPES: dict[str, CallType] = {
    "inbound": "Inbound",
    "outbound": "Outbound",
    "missed": "Missed",
    "notanswered": "Notanswered",
}
# 3CX leaves a template variable it could not fill as its own name in brackets ("[Agent]").
_UNFILLED = re.compile(r"^\[[A-Za-z][A-Za-z0-9_]*\]$")


def filled(value: Any) -> str | None:
    """The value as 3CX sent it, stripped; None when blank or an unfilled `[Variable]`."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or _UNFILLED.match(text):
        return None
    return text


class ThreeCXContact(BaseModel):
    """One contact as the template's Variables read it (`contacts.firstName`, …)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: int = Field(description="Our contact id (3CX's ContactID)")
    first_name: str = Field(description="First word of the display name", examples=["Ada"])
    last_name: str = Field(description="The rest of the display name", examples=["de Vries"])
    company: str = Field(description="The contact's organisation, or empty")
    phone_business: str = Field(description="A landline or work number (E.164), or empty")
    phone_mobile: str = Field(description="A mobile number (E.164), or empty")
    email: str = Field(description="The `email` external reference, or empty")
    contact_url: str = Field(description="Opens the agent widget on this contact")


class LookupOut(BaseModel):
    """Every contact on the number, best match first; empty when the number is unknown."""

    contacts: list[ThreeCXContact]


class JournalIn(BaseModel):
    """A call report (3CX's ReportCall scenario), named as 3CX names its variables."""

    model_config = ConfigDict(extra="ignore")

    number: str = Field(
        alias="Number",
        max_length=200,
        description="The other party's number, any format; empty or `anonymous` if withheld",
    )
    call_type: CallType = Field(
        alias="CallType", description="Inbound, Outbound, Missed or Notanswered"
    )
    agent: str | None = Field(
        default=None, alias="Agent", max_length=200, description="The agent's extension"
    )
    duration: str | None = Field(
        default=None,
        alias="Duration",
        max_length=64,
        description="Talk time as hh:mm:ss (3CX's format) or whole seconds",
    )
    date_time: str | None = Field(
        default=None,
        alias="DateTime",
        max_length=64,
        description="Call start in the phone system's local time (used if no UTC time is sent)",
    )
    call_start_time_utc: str | None = Field(
        default=None,
        alias="CallStartTimeUTC",
        max_length=64,
        description="Call start, ISO 8601 UTC (the template formats it so)",
    )
    call_end_time_utc: str | None = Field(
        default=None, alias="CallEndTimeUTC", max_length=64, description="Call end, ISO 8601 UTC"
    )

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: Any) -> str:
        if value is None:
            raise ValueError("give the caller's number (empty if withheld)")
        return filled(value) or ""

    @field_validator("call_type", mode="before")
    @classmethod
    def _call_type(cls, value: Any) -> str:
        text = (filled(value) or "").replace(" ", "").replace("_", "").lower()
        if text not in _CALL_TYPES:
            raise ValueError("must be one of Inbound, Outbound, Missed, Notanswered")
        return _CALL_TYPES[text]

    @field_validator(
        "agent", "duration", "date_time", "call_start_time_utc", "call_end_time_utc", mode="before"
    )
    @classmethod
    def _optional(cls, value: Any) -> str | None:
        return filled(value)


class JournalOut(BaseModel):
    """What the call report became."""

    ok: bool = True
    duplicate: bool = Field(description="True when this report was already recorded")
    call_id: int | None = Field(description="The call it was recorded on")
    contact_id: int | None = Field(description="The contact it was filed under, if known")
    interaction_id: int | None = Field(description="The interaction the call became")
    callback_request_id: int | None = Field(
        description="The callback request this (missed) call created"
    )
