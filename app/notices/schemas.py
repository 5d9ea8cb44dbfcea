"""What the notices API reads and writes: a message for callers within a period."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.inputs import AwareDatetime, RowId, refuse_nulls
from app.models import Notice

Severity = Literal["info", "warning", "critical"]
SENSITIVE_DOC = (
    "Hidden from role `agent` (the front desk): left out of its cards (which then list "
    "`notices` in `masked`), its stream and this API"
)


class NoticeCreate(BaseModel):
    """A notice for callers of the whole tenant, one line, or contacts with a tag."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200, examples=["Roadworks at Amersfoort"])
    body: str = Field(default="", max_length=4_000)
    severity: Severity = "info"
    line_id: RowId | None = Field(default=None, description="Only for calls to this line")
    tag: str | None = Field(
        default=None, min_length=1, max_length=64, description="Only for contacts with this tag"
    )
    starts_at: AwareDatetime | None = Field(default=None, description="Defaults to now")
    ends_at: AwareDatetime | None = Field(default=None, description="After starts_at; none: open")
    sensitive: bool = Field(default=False, description=SENSITIVE_DOC)


class NoticeUpdate(BaseModel):
    """Changes to a notice: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, max_length=4_000)
    severity: Severity | None = None
    line_id: RowId | None = None
    tag: str | None = Field(default=None, min_length=1, max_length=64)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    sensitive: bool | None = Field(default=None, description=SENSITIVE_DOC)

    @model_validator(mode="after")
    def _no_nulls(self) -> NoticeUpdate:
        refuse_nulls(self, ("title", "body", "severity", "starts_at", "sensitive"))
        return self


class NoticeOut(BaseModel):
    """A stored notice."""

    id: int
    title: str
    body: str
    severity: Severity
    line_id: int | None
    tag: str | None
    starts_at: datetime
    ends_at: datetime | None
    active: bool = Field(description="Within its period now")
    sensitive: bool = Field(description=SENSITIVE_DOC)

    @classmethod
    def of(cls, row: Notice, now: datetime) -> NoticeOut:
        """The view of a stored notice as of `now`."""
        return cls(
            id=row.id,
            title=row.title,
            body=row.body,
            severity=row.severity,  # type: ignore[arg-type]  # only Severity is written
            line_id=row.line_id,
            tag=row.tag,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            active=row.starts_at <= now and (row.ends_at is None or row.ends_at > now),
            sensitive=row.sensitive,
        )
