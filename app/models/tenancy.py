"""Organisations and the people and numbers that answer for them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, IdType, TenantScoped, utcnow


class Tenant(Base):
    """An organisation using Stamgast (a care provider, a municipality, a shop)."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_region: Mapped[str] = mapped_column(String(2), default="NL")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    # Internal numbers, e.g. "2xx, 3000-3099" (app.phone.ExtensionPlan); None: guess by length.
    extension_plan: Mapped[str | None] = mapped_column(String(200))
    # Retention in days (app/retention): older rows are purged; None keeps them for ever.
    keep_calls_days: Mapped[int | None]
    keep_interactions_days: Mapped[int | None]
    keep_audit_days: Mapped[int | None]
    keep_callbacks_done_days: Mapped[int | None]
    # When a missed call's callback is due (app/callbacks/policy.py); None: the default.
    callback_policy: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


agent_teams = Table(
    "agent_teams",
    Base.metadata,
    Column("agent_id", ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
)


class Team(TenantScoped, Base):
    """A group of agents that answers one or more lines."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(120))
    agents: Mapped[list[Agent]] = relationship(
        secondary=agent_teams, back_populates="teams", lazy="raise"
    )


class Line(TenantScoped, Base):
    """A called number (DID): which tenant, location and team a call to it belongs to."""

    __tablename__ = "lines"
    # Unique per tenant, not across tenants: every call reaches us under a tenant's own
    # webhook URL or connector, so a line is only ever looked up within its tenant. A
    # global rule would tell a tenant that someone else has a number, and let the first
    # tenant to enter a number keep its owner from configuring it.
    __table_args__ = (UniqueConstraint("tenant_id", "number_e164"),)

    number_e164: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(120))
    location: Mapped[str | None] = mapped_column(String(120))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    # Replaces the tenant's callback policy whole for calls to this number; None: the tenant's.
    callback_policy: Mapped[dict[str, Any] | None]


class Agent(TenantScoped, Base):
    """A person answering calls, reachable at an extension and through the widget."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("tenant_id", "extension"),)

    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(200))
    extension: Mapped[str | None] = mapped_column(String(32))
    sip_uri: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16), default="nl")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # What the agent's widget shows (app/auth/roles.py): `agent` masks notes and sensitive
    # notices; routing carries it, so a change applies to the agent's next pop.
    role: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    teams: Mapped[list[Team]] = relationship(
        secondary=agent_teams, back_populates="agents", lazy="raise"
    )
