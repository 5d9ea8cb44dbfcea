"""What the contacts API reads and writes: a caller, their numbers and service profile."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.inputs import (
    Channel,
    Extra,
    Language,
    Note,
    Preferences,
    References,
    Tags,
    refuse_nulls,
)
from app.models import Contact, ContactNumber, ServiceProfile
from app.phone import display, normalise
from app.recognition.schemas import MaskedField

NumberKind = Literal["mobile", "landline", "work", "fax"]

_FLAGS_DOC = "Free strings; agents' widgets highlight `attention` and `vip`."


class NumberIn(BaseModel):
    """A number to store for a contact."""

    model_config = ConfigDict(extra="forbid")

    number: str = Field(
        min_length=1, max_length=64, examples=["06-12345678", "+31 33 123 4567", "1234"]
    )
    kind: NumberKind | None = Field(
        default=None, description="Defaults from the number: mobile for a mobile, else landline"
    )
    label: str | None = Field(default=None, max_length=64, examples=["home", "daughter"])


class NumberOut(BaseModel):
    """A stored number of a contact, with what the number itself tells."""

    id: int
    e164: str = Field(description="E.164, or the bare digits of an extension or short number")
    raw: str = Field(description="As it was given")
    kind: NumberKind
    label: str | None
    display: str = Field(description="How to show it: national at home, international abroad")
    region_description: str | None = Field(description="e.g. 'Amersfoort' for a 033 number")

    @classmethod
    def of(cls, row: ContactNumber, region: str) -> NumberOut:
        """The view of a stored number, described with the tenant's region."""
        number = normalise(row.raw, region)
        return cls(
            id=row.id,
            e164=row.e164,
            raw=row.raw,
            kind=row.kind,  # type: ignore[arg-type]  # only NumberKind values are written
            label=row.label,
            display=display(number, region),
            region_description=number.region_description,
        )


class ServiceProfileIn(BaseModel):
    """How a caller wants to be served (time, place, language, complexity, relevance, ...)."""

    model_config = ConfigDict(extra="forbid")

    preferred_times: str | None = Field(
        default=None, max_length=200, examples=["weekday mornings, not before 10:00"]
    )
    preferred_channel: Channel | None = None
    preferred_place: str | None = Field(default=None, max_length=200, examples=["Amersfoort"])
    language: Language | None = None
    plain_language: bool = False
    extra_explanation: bool = False
    interpreter: str | None = Field(default=None, max_length=64, examples=["Turkish"])
    accessibility: str | None = Field(default=None, max_length=200, examples=["hard of hearing"])
    likes: Preferences = []
    dislikes: Preferences = []
    extra: Extra = {}


class ServiceProfileOut(BaseModel):
    """A stored service profile."""

    model_config = ConfigDict(from_attributes=True)

    preferred_times: str | None
    preferred_channel: Channel | None
    preferred_place: str | None
    language: str | None
    plain_language: bool
    extra_explanation: bool
    interpreter: str | None
    accessibility: str | None
    likes: list[str]
    dislikes: list[str]
    extra: dict[str, Any]


class _ContactFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form_of_address: str | None = Field(default=None, max_length=200, examples=["Mevrouw De Vries"])
    language: Language | None = None
    organisation: str | None = Field(default=None, max_length=200)
    household: str | None = Field(default=None, max_length=200)
    external_id: str | None = Field(
        default=None, min_length=1, max_length=120, description="Unique in the tenant (CRM id)"
    )
    notes: Note | None = None


MAX_NUMBERS = 100


class ContactCreate(_ContactFields):
    """A new contact, optionally with numbers and a service profile."""

    display_name: str = Field(min_length=1, max_length=200, examples=["Anna de Vries"])
    references: References = Field(
        default={}, examples=[{"zorgdomein": "ZD-123456", "crm": "C-77"}]
    )
    tags: Tags = []
    flags: Tags = Field(default=[], description=_FLAGS_DOC, examples=[["attention"]])
    numbers: list[NumberIn] = Field(default=[], max_length=MAX_NUMBERS)
    service_profile: ServiceProfileIn | None = None


# Fields a PATCH may leave out but not set to null: their columns hold no null.
_NOT_NULL = ("display_name", "references", "tags", "flags", "numbers")


class ContactUpdate(_ContactFields):
    """Changes to a contact: only the fields given change; `numbers` replaces the whole set."""

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    references: References | None = None
    tags: Tags | None = None
    flags: Tags | None = Field(default=None, description=_FLAGS_DOC)
    numbers: list[NumberIn] | None = Field(
        default=None,
        max_length=MAX_NUMBERS,
        description="When given, replaces all numbers of the contact",
    )
    service_profile: ServiceProfileIn | None = Field(
        default=None, description="When given, merged into the stored profile (created if none)"
    )

    @model_validator(mode="after")
    def _no_null_for_required(self) -> ContactUpdate:
        refuse_nulls(self, _NOT_NULL)
        return self


class ContactOut(BaseModel):
    """A contact with everything stored about them."""

    id: int
    display_name: str
    form_of_address: str | None
    language: str | None
    organisation: str | None
    household: str | None
    external_id: str | None
    references: dict[str, str]
    tags: list[str]
    flags: list[str] = Field(description=_FLAGS_DOC)
    notes: str | None = Field(
        description="Free notes; null for role `agent` (then `masked` names them)"
    )
    numbers: list[NumberOut]
    service_profile: ServiceProfileOut | None
    created_at: datetime
    updated_at: datetime
    masked: list[MaskedField] = Field(
        default=[],
        description="What was left out for this reader's role (`agent`): `notes` when the "
        "contact has notes. Empty when nothing was left out",
    )

    def for_reader(self, *, sees_sensitive: bool) -> ContactOut:
        """This view as a reader sees it: role `agent` without the notes (app/auth/roles.py)."""
        if sees_sensitive or self.notes is None:
            return self
        return self.model_copy(update={"notes": None, "masked": ["notes"]})

    @classmethod
    def of(cls, contact: Contact, region: str) -> ContactOut:
        """The view of a contact whose numbers and profile are loaded."""
        profile: ServiceProfile | None = contact.service_profile
        return cls(
            id=contact.id,
            display_name=contact.display_name,
            form_of_address=contact.form_of_address,
            language=contact.language,
            organisation=contact.organisation,
            household=contact.household,
            external_id=contact.external_id,
            references={str(k): str(v) for k, v in contact.references.items()},
            tags=list(contact.tags),
            flags=list(contact.flags),
            notes=contact.notes,
            numbers=[NumberOut.of(n, region) for n in contact.numbers],
            service_profile=None if profile is None else ServiceProfileOut.model_validate(profile),
            created_at=contact.created_at,
            updated_at=contact.updated_at,
        )
