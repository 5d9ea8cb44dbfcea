"""How API input is checked beyond its shape: datetimes, languages, numbers, ids of this tenant."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Annotated, Any, Literal

import pydantic
from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    PlainValidator,
    ValidationError,
    WrapValidator,
)
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from app.models.base import TenantScoped
from app.phone import PhoneNumber, normalise

# Ids are 32-bit INTEGER keys on both backends: a larger id cannot exist, and PostgreSQL
# would fail to even bind it.
MAX_ID = 2_147_483_647
LANGUAGE_PATTERN = r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$"
_LANGUAGE = re.compile(LANGUAGE_PATTERN)
TIMEZONE_HINT = "give a timezone, e.g. 2026-11-25T10:00:00+01:00"

Channel = Literal["phone", "email", "visit", "letter", "chat", "portal"]
"""How a contact moment happens, or how a caller prefers it to."""


def _explain_missing_zone(value: Any, handler: pydantic.ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        if any(error["type"] == "timezone_aware" for error in exc.errors()):
            raise PydanticCustomError("timezone_aware", TIMEZONE_HINT) from None
        raise


AwareDatetime = Annotated[
    pydantic.AwareDatetime,
    WrapValidator(_explain_missing_zone),
    # In UTC from the start, so a response shows it as it will read back from storage.
    AfterValidator(lambda value: value.astimezone(UTC)),
]
"""A datetime with an offset, converted to UTC; a naive one is refused with a hint."""


def _check_language(value: str) -> str:
    if not _LANGUAGE.fullmatch(value):
        raise PydanticCustomError(
            "language_tag",
            "'{value}' is not a language tag: use a BCP 47 tag such as nl, en or en-GB",
            {"value": value},
        )
    return value


Language = Annotated[
    str,
    Field(max_length=35, examples=["nl", "en-GB"], json_schema_extra={"pattern": LANGUAGE_PATTERN}),
    AfterValidator(_check_language),
]
"""A BCP 47-ish language tag (`nl`, `en-GB`, `pap-AW`)."""


def refuse_nulls(patch: BaseModel, names: tuple[str, ...]) -> None:
    """Refuse an explicit null for fields a PATCH may leave out but whose column holds no null."""
    for name in names:
        if name in patch.model_fields_set and getattr(patch, name) is None:
            raise PydanticCustomError(
                "not_null",
                "{name} cannot be null: leave it out to keep it as it is",
                {"name": name},
            )


# Free text is bounded: what an agent writes about a caller rides on every pop of their card.
Note = Annotated[str, Field(max_length=10_000)]
"""Free text about a caller or a contact moment: a long letter's worth, not a document."""

Remark = Annotated[str, Field(max_length=2_000)]
"""A sentence or a paragraph: a callback's reason, a case's next step."""

Tag = Annotated[str, Field(max_length=64)]
Tags = Annotated[list[Tag], Field(max_length=50, description="At most 50, each up to 64 chars")]
"""Labels on a contact (tags, flags)."""

Preferences = Annotated[
    list[Annotated[str, Field(max_length=200)]],
    Field(max_length=50, description="At most 50, each up to 200 chars"),
]
"""What a caller likes or dislikes, one short phrase each."""

References = Annotated[
    dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=200)]],
    Field(max_length=50, description="At most 50; names up to 64 chars, values up to 200"),
]
"""External references by system name (`zorgdomein`, `crm`)."""

EXTRA_VALUE_MAX_LENGTH = 1_000
_ExtraScalar = Annotated[str, Field(max_length=EXTRA_VALUE_MAX_LENGTH)] | bool | int | float | None


def _check_extra_value(value: Any) -> Any:
    # One message for a bad value, not one per member of the union.
    if isinstance(value, str) and len(value) > EXTRA_VALUE_MAX_LENGTH:
        raise PydanticCustomError(
            "string_too_long",
            "String should have at most {max_length} characters",
            {"max_length": EXTRA_VALUE_MAX_LENGTH},
        )
    if value is not None and not isinstance(value, str | bool | int | float):
        raise PydanticCustomError(
            "extra_value",
            "should be a string, number, boolean or null (one line on the card), "
            "not a list or an object",
        )
    return value


ExtraValue = Annotated[
    _ExtraScalar, PlainValidator(_check_extra_value, json_schema_input_type=_ExtraScalar)
]
Extra = Annotated[
    dict[Annotated[str, Field(max_length=64)], ExtraValue],
    Field(
        max_length=50,
        description="Free key/values: at most 50, names up to 64 chars, each value a string "
        "(up to 1,000 chars), number, boolean or null",
    ),
]
"""A service profile's free key/values: flat, so each is one line on the card."""

RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
"""The id of a stored row, as given in a body or query."""


def id_path(what: str) -> Any:
    """A path parameter holding the id of a `what`."""
    return Path(ge=1, le=MAX_ID, description=f"The {what}'s id")


def number_key(raw: str, *, region: str, field: str) -> tuple[str, PhoneNumber]:
    """The storable key of a number given in `field`; InvalidInput if withheld or unreadable."""
    number = normalise(raw, region)
    if number.key is not None:
        return number.key, number
    if number.is_withheld:
        raise InvalidInput(
            f"{field}: '{raw}' is a withheld number (anonymous, private, unknown), "
            "not one we can store: give the caller's real number."
        )
    example = "+31612345678 or 0612345678" if region == "NL" else "+31612345678"
    raise InvalidInput(f"{field}: cannot read '{raw}' as a phone number: give it as {example}.")


async def require_in_tenant(
    session: AsyncSession,
    model: type[TenantScoped],
    *,
    tenant_id: int,
    row_id: int | None,
    field: str,
) -> None:
    """InvalidInput unless `row_id` (when given) names a row of this tenant."""
    if row_id is None:
        return
    found = await session.scalar(
        select(model.id).where(model.id == row_id, model.tenant_id == tenant_id)
    )
    if found is None:
        raise InvalidInput(f"{field} {row_id} does not exist in this tenant.")
