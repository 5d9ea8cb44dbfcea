"""A tenant's settings as the admin API shows and changes them."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from app.callbacks.policy_schemas import CallbackPolicyIn, CallbackPolicyOut

# A retention period: null keeps rows for ever. Up to a century, so a typo cannot overflow.
Days = Annotated[int | None, Field(ge=1, le=36500, examples=[365])]


class Retention(BaseModel):
    """How long the tenant keeps rows, in days (null: for ever); older ones are purged."""

    keep_calls_days: Days = Field(
        default=None, description="Calls and their events, by when they began"
    )
    keep_interactions_days: Days = Field(
        default=None, description="Interactions (contact moments), by when they happened"
    )
    keep_audit_days: Days = Field(default=None, description="Audit events, by when they happened")
    keep_callbacks_done_days: Days = Field(
        default=None,
        description="Callback requests done or cancelled, by when they were closed (open "
        "ones are never purged)",
    )


class TenantOut(Retention):
    """The calling key's tenant."""

    slug: str
    name: str
    default_region: str = Field(description="Region for numbers written without country code")
    timezone: str
    extension_plan: str | None = Field(
        description="Internal extensions, e.g. '2xx, 3000-3099'; null: 3-5 digit numbers that "
        "are no short number count as extensions"
    )
    callback_policy: CallbackPolicyOut = Field(
        description="When a missed call's callback is due (the default until one is set); "
        "a line may replace it"
    )


class TenantUpdate(Retention):
    """Changes to the tenant's settings: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    extension_plan: str | None = Field(
        default=None,
        max_length=200,
        examples=["2xx, 3000-3099"],
        description="Patterns of digits and x (any digit) and ranges of equally long numbers, "
        "comma-separated; they win over short-number rules ('112' is an extension on a PBX "
        "whose plan says 1xx). Empty or null removes the plan.",
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        examples=["Europe/Amsterdam"],
        description="IANA timezone: opening hours, summaries and due times are read in it",
    )
    callback_policy: CallbackPolicyIn | None = Field(
        default=None,
        description="When a missed call's callback is due: opening hours, closed days and a "
        "rule; null restores the default (Mon-Fri 08:30-17:00, same working day, cut-off 16:00)",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            raise PydanticCustomError("timezone_null", "timezone cannot be null; give a zone")
        if value not in _ZONES:
            raise PydanticCustomError(
                "unknown_timezone",
                f"unknown timezone {value!r}: give an IANA name such as Europe/Amsterdam",
            )
        ZoneInfo(value)
        return value


_ZONES = frozenset(available_timezones())
