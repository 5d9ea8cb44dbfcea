"""What the cases API reads and writes: a referral, waiting-list place or application."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.api.inputs import MAX_ID, Remark, RowId, refuse_nulls

CaseKind = Literal["referral", "waiting_list", "application", "complaint", "other"]
# Where a referral, waiting-list place or application stands, in the order a case usually goes
# through them; only `closed` ends it (the card shows every other case).
CaseStatus = Literal["open", "in_review", "waiting", "in_progress", "closed"]
CASE_STATUSES: tuple[str, ...] = get_args(CaseStatus)
CASE_KINDS: tuple[str, ...] = get_args(CaseKind)
STATUS_MEANINGS = (
    "open: received, nobody has looked at it yet; "
    "in_review: being assessed (an application judged, a referral triaged); "
    "waiting: accepted and waiting (for a place, an intake, the caller's papers); "
    "in_progress: the care or service is being given; "
    "closed: finished, withdrawn or turned down (say which in next_step)"
)
# What we write is one of the values above; a row written around the API (an import by SQL, an
# older or newer version) is still read back as it is, never turned into a server error.
STORED_STATUS = Field(
    description=f"One of {', '.join(CASE_STATUSES)} ({STATUS_MEANINGS}). "
    "A value written outside this API is passed on as stored.",
    examples=["waiting"],
)
STORED_KIND = Field(
    description=f"One of {', '.join(CASE_KINDS)}. A value written outside this API is passed "
    "on as stored.",
    examples=["referral"],
)

Reference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(
        description="Unique in the tenant; stored trimmed, matched exactly (case matters)",
        examples=["ZD-123456"],
    ),
]


class CaseCreate(BaseModel):
    """A case to open."""

    model_config = ConfigDict(extra="forbid")

    contact_id: RowId | None = None
    reference: Reference
    kind: CaseKind = "referral"
    status: CaseStatus = Field(default="open", description=STATUS_MEANINGS)
    next_step: Remark | None = Field(default=None, examples=["Intake on 3 December"])
    position: int | None = Field(
        default=None, ge=0, le=MAX_ID, description="Place on a waiting list"
    )
    owner: str | None = Field(default=None, max_length=120)


class CaseUpdate(BaseModel):
    """Changes to a case: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    contact_id: RowId | None = None
    reference: Reference | None = None
    kind: CaseKind | None = None
    status: CaseStatus | None = Field(default=None, description=STATUS_MEANINGS)
    next_step: Remark | None = None
    position: int | None = Field(default=None, ge=0, le=MAX_ID)
    owner: str | None = Field(default=None, max_length=120)

    @model_validator(mode="after")
    def _no_nulls(self) -> CaseUpdate:
        refuse_nulls(self, ("reference", "kind", "status"))
        return self


class CaseOut(BaseModel):
    """A stored case."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    contact_id: int | None
    reference: str
    kind: Annotated[str, STORED_KIND]
    status: Annotated[str, STORED_STATUS]
    next_step: str | None
    position: int | None
    owner: str | None
    created_at: datetime
    updated_at: datetime
