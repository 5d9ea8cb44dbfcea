"""A tenant's settings as the admin API shows and changes them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

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
