"""Callers: who they are, their numbers and how they want to be served."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, IdType, TenantScoped, utcnow


class Contact(TenantScoped, Base):
    """A caller we know."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("tenant_id", "external_id"),)

    display_name: Mapped[str] = mapped_column(String(200))
    form_of_address: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(35))
    organisation: Mapped[str | None] = mapped_column(String(200))
    household: Mapped[str | None] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(120))
    references: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[str]] = mapped_column(default=list)
    flags: Mapped[list[str]] = mapped_column(default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    numbers: Mapped[list[ContactNumber]] = relationship(
        back_populates="contact",
        cascade="all, delete-orphan",
        lazy="raise",
        order_by="ContactNumber.id",
    )
    service_profile: Mapped[ServiceProfile | None] = relationship(
        cascade="all, delete-orphan", lazy="raise", uselist=False
    )


class ContactNumber(TenantScoped, Base):
    """One number of a contact; several contacts may share one (a household)."""

    __tablename__ = "contact_numbers"
    __table_args__ = (
        Index("ix_contact_numbers_lookup", "tenant_id", "e164"),
        UniqueConstraint("contact_id", "e164"),
    )

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    e164: Mapped[str] = mapped_column(String(32))
    raw: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="mobile")
    label: Mapped[str | None] = mapped_column(String(64))

    contact: Mapped[Contact] = relationship(back_populates="numbers", lazy="raise")


class ServiceProfile(Base):
    """How a contact wants to be served (time, place, language, complexity, relevance, ...)."""

    __tablename__ = "service_profiles"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    preferred_times: Mapped[str | None] = mapped_column(String(200))
    preferred_channel: Mapped[str | None] = mapped_column(String(32))
    preferred_place: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(35))
    plain_language: Mapped[bool] = mapped_column(Boolean, default=False)
    extra_explanation: Mapped[bool] = mapped_column(Boolean, default=False)
    interpreter: Mapped[str | None] = mapped_column(String(64))
    accessibility: Mapped[str | None] = mapped_column(String(200))
    likes: Mapped[list[str]] = mapped_column(default=list)
    dislikes: Mapped[list[str]] = mapped_column(default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class NumberChoice(Base):
    """Which contact an agent last picked for a shared number: ranked first next time."""

    __tablename__ = "number_choices"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    e164: Mapped[str] = mapped_column(String(32), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("agents.id", ondelete="SET NULL")
    )
    chosen_at: Mapped[datetime] = mapped_column(default=utcnow)
