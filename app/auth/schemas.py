"""API keys over HTTP: what an admin sends to issue one, and what is shown of a key."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.auth.keys import Scope
from app.auth.roles import Role
from app.models import ApiKey


class ApiKeyCreate(BaseModel):
    """A key to issue for this tenant."""

    name: str = Field(
        min_length=1, max_length=120, description="What it is for (shown in the audit trail)"
    )
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=len(Scope),
        examples=[["lookup:read"]],
        description="What it may do",
    )
    role: Role | None = Field(
        default=None,
        description="What it may see: `agent` (the front desk: no contact notes, no "
        "sensitive notices; responses list what was left out in `masked`), `supervisor` "
        "(everything) or `admin`. Default: `admin` for a key with the `admin` scope (which "
        "must be `admin`), else `agent`.",
    )


class ApiKeyOut(BaseModel):
    """A key as listed: never the key itself nor its hash."""

    id: int
    name: str
    prefix: str = Field(description="The 8 hex characters after `sg_`, to tell keys apart")
    scopes: list[str]
    role: str = Field(description="What it may see: agent, supervisor or admin")
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyOut:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            scopes=sorted(row.scopes),
            role=row.role,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


class IssuedApiKey(ApiKeyOut):
    """A new key; `key` is in this response only (only its SHA-256 is kept)."""

    key: str
