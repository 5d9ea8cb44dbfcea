"""Who may call the API, and the trail of who looked at whom."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TenantScoped, utcnow


class ApiKey(TenantScoped, Base):
    """An API key; only its SHA-256 is stored, the key itself is shown once."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(default=list)
    # What the key may see (app/auth/roles.py); scopes say what it may do.
    role: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class AuditEvent(TenantScoped, Base):
    """Who looked up or changed which contact, when, and through what."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_contact", "tenant_id", "contact_id"),
        # GET /v1/audit?agent_id=: what one agent saw; and the retention purge by age.
        Index("ix_audit_events_agent", "tenant_id", "agent_id"),
        Index("ix_audit_events_at", "tenant_id", "at"),
    )

    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    via: Mapped[str] = mapped_column(String(32), default="api")
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    number_masked: Mapped[str | None] = mapped_column(String(64))
    # The agent who acted or was shown the caller (a pop, a widget's view): `actor` names
    # them as text for reading, this finds them when their name changed.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
