"""A tenant's settings as the admin API shows and changes them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TenantOut(BaseModel):
    """The calling key's tenant."""

    slug: str
    name: str
    default_region: str = Field(description="Region for numbers written without country code")
    timezone: str
    extension_plan: str | None = Field(
        description="Internal extensions, e.g. '2xx, 3000-3099'; null: 3-5 digit numbers that "
        "are no short number count as extensions"
    )


class TenantUpdate(BaseModel):
    """Changes to the tenant's settings."""

    model_config = ConfigDict(extra="forbid")

    extension_plan: str | None = Field(
        default=None,
        max_length=200,
        examples=["2xx, 3000-3099"],
        description="Patterns of digits and x (any digit) and ranges of equally long numbers, "
        "comma-separated; they win over short-number rules ('112' is an extension on a PBX "
        "whose plan says 1xx). Empty or null removes the plan.",
    )
