"""Bodies of the survey and first-contact resolution routes."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class SurveyIn(BaseModel):
    """The caller's answer to a post-call survey."""

    score: int = Field(
        ge=1, le=5, examples=[4], description="1 (not satisfied at all) to 5 (very satisfied)"
    )


class ProviderSurveyIn(SurveyIn):
    """A survey score for a call named as the phone system knows it (an IVR's view)."""

    provider: str = Field(
        min_length=1, max_length=32, examples=["generic"], description="The phone system"
    )
    provider_call_id: str = Field(
        min_length=1,
        max_length=128,
        examples=["abc-123"],
        description="The call id the phone system used in its webhooks",
    )


class SurveyOut(BaseModel):
    """The interaction the score was attached to."""

    interaction_id: int
    call_id: int
    score: int


class FcrWeekOut(BaseModel):
    """One ISO week of first-contact resolution (weeks start Monday 00:00 UTC)."""

    week_start: date = Field(description="The Monday the week starts on")
    answered: int = Field(description="Inbound calls answered that started this week")
    resolved: int = Field(description="Of those, wrapped up as helped: resolved")
    resolved_first_time: int = Field(
        description="Helped: resolved, and the caller did not call again within `repeat_days`"
    )
    called_again: int = Field(
        description="Answered calls whose caller called again within `repeat_days`"
    )
    rate: float | None = Field(
        description="resolved_first_time / answered, 0 to 1; null in a week without calls"
    )


class FcrOut(BaseModel):
    """First-contact resolution over a period."""

    since: date
    until: date
    repeat_days: int
    weeks: list[FcrWeekOut]
