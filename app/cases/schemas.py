"""What the cases API reads and writes: a referral, waiting-list place or application."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.api.inputs import MAX_ID, Remark, RowId, refuse_nulls

CaseKind = Literal["referral", "waiting_list", "application", "complaint", "other"]
CaseStatus = Literal["open", "in_progress", "waiting", "closed"]

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
    status: CaseStatus = "open"
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
    status: CaseStatus | None = None
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
    kind: CaseKind
    status: CaseStatus
    next_step: str | None
    position: int | None
    owner: str | None
    created_at: datetime
    updated_at: datetime
