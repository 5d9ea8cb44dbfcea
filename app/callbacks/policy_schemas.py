"""The callback policy as the admin API reads and writes it (tenant and line)."""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from app.callbacks.policy import WEEKDAYS, CallbackPolicy, Rule, clock, minutes

Span = Annotated[str, Field(min_length=11, max_length=11, examples=["08:30-17:00"])]
Day = Annotated[list[Span], Field(max_length=12)]

_EXAMPLE = CallbackPolicy.of(None).stored()


class OpeningHours(BaseModel):
    """Opening hours per weekday as 'HH:MM-HH:MM' spans (local time); an absent day is closed."""

    model_config = ConfigDict(extra="forbid")

    mon: Day = []
    tue: Day = []
    wed: Day = []
    thu: Day = []
    fri: Day = []
    sat: Day = []
    sun: Day = []

    @model_validator(mode="after")
    def _spans(self) -> OpeningHours:
        for day in WEEKDAYS:
            spans: list[tuple[int, int]] = []
            for text in getattr(self, day):
                start, sep, end = text.partition("-")
                try:
                    span = (minutes(start), minutes(end)) if sep else None
                except ValueError as exc:
                    raise PydanticCustomError("bad_time", f"{day}: {exc}") from None
                if span is None or span[0] >= span[1]:
                    raise PydanticCustomError(
                        "bad_span",
                        f"{day}: {text!r} must be 'HH:MM-HH:MM' with opening before closing, "
                        "e.g. '08:30-17:00'",
                    )
                spans.append(span)
            spans.sort()
            for (s1, e1), (s2, e2) in pairwise(spans):
                if s2 < e1:
                    raise PydanticCustomError(
                        "overlapping_hours",
                        f"{day}: {clock(s1)}-{clock(e1)} and {clock(s2)}-{clock(e2)} overlap; "
                        "give each hour once",
                    )
            setattr(self, day, [f"{clock(s)}-{clock(e)}" for s, e in spans])
        return self


class CallbackPolicyIn(BaseModel):
    """When a missed call's callback is due: opening hours, closed days and a rule."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    opening_hours: OpeningHours
    closed_days: list[date] = Field(
        default=[], max_length=1000, description="Dates closed all day (holidays)"
    )
    rule: Rule = Field(
        default="same_working_day",
        description="same_working_day: missed before `cutoff` on a working day is due at that "
        "day's closing time, else at the next working day's; within_working_hours: `hours` "
        "opening hours later; next_working_day: the next working day's closing time",
    )
    cutoff: str | None = Field(
        default=None,
        examples=["16:00"],
        description="same_working_day only: missed from this local time on counts as the next "
        "working day (null: until closing)",
    )
    hours: int | None = Field(
        default=None, ge=1, le=1000, description="within_working_hours only: how many hours"
    )

    @field_validator("cutoff")
    @classmethod
    def _cutoff(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return clock(minutes(value))
        except ValueError as exc:
            raise PydanticCustomError("bad_time", f"cutoff: {exc}") from None

    @model_validator(mode="after")
    def _consistent(self) -> CallbackPolicyIn:
        if not any(getattr(self.opening_hours, day) for day in WEEKDAYS):
            raise PydanticCustomError(
                "never_open", "opening_hours: give at least one day's hours, e.g. mon 08:30-17:00"
            )
        if self.rule == "within_working_hours" and self.hours is None:
            raise PydanticCustomError(
                "hours_missing", "rule within_working_hours needs `hours`, e.g. 4"
            )
        if self.rule != "within_working_hours" and self.hours is not None:
            raise PydanticCustomError(
                "hours_unused", f"`hours` is for rule within_working_hours, not {self.rule}"
            )
        if self.rule != "same_working_day" and self.cutoff is not None:
            raise PydanticCustomError(
                "cutoff_unused", f"`cutoff` is for rule same_working_day, not {self.rule}"
            )
        return self

    def stored(self) -> dict[str, Any]:
        """The canonical stored form (sorted spans and days)."""
        return CallbackPolicy.of(self.model_dump(mode="json")).stored()


class CallbackPolicyOut(CallbackPolicyIn):
    """A policy in force."""
