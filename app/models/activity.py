"""What happened with a caller and what we still owe them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TenantScoped, utcnow


class Interaction(TenantScoped, Base):
    """One contact moment: a call, an email, a visit."""

    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_contact_time", "contact_id", "occurred_at"),)

    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(16), default="phone")
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    summary: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    # The agent's "geholpen?" at wrap-up (resolved, partly, not); `satisfaction` is the agent's
    # view of how content the caller was, `survey_score` the caller's own 1-5 after the call.
    helped: Mapped[str | None] = mapped_column(String(16))
    survey_score: Mapped[int | None] = mapped_column(Integer)


class CallbackRequest(TenantScoped, Base):
    """A promise to call someone back: shown whenever they call until it is done."""

    __tablename__ = "callback_requests"
    __table_args__ = (
        Index("ix_callback_requests_contact_status", "contact_id", "status"),
        Index("ix_callback_requests_number_status", "tenant_id", "number_e164", "status"),
        # The overdue sweep: open, not escalated, by due time.
        Index("ix_callback_requests_overdue", "status", "escalated_at", "due_by"),
    )

    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    number_e164: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_by: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="open")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # How many missed calls this request stands for: a caller who tries again gets no second
    # request, but the count shows how often they tried.
    missed_calls: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    assignee_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None]
    # Set once, by the process whose sweep claimed it overdue (app/callbacks/escalation.py).
    escalated_at: Mapped[datetime | None]


class CallbackAttempt(TenantScoped, Base):
    """One try at keeping a callback promise: who called, when, and how it went."""

    __tablename__ = "callback_attempts"
    __table_args__ = (Index("ix_callback_attempts_request", "callback_request_id", "attempted_at"),)

    callback_request_id: Mapped[int] = mapped_column(
        ForeignKey("callback_requests.id", ondelete="CASCADE")
    )
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)


class Case(TenantScoped, Base):
    """A referral, waiting-list place or application, looked up by its reference."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("tenant_id", "reference"),
        Index("ix_cases_contact_status", "contact_id", "status"),
    )

    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    reference: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32), default="referral")
    status: Mapped[str] = mapped_column(String(32), default="open")
    next_step: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int | None] = mapped_column(Integer)
    owner: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Notice(TenantScoped, Base):
    """A message for callers of a tenant, a line or with a tag, within a period."""

    __tablename__ = "notices"

    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(16), default="info")
    # Hidden from role `agent` (the front desk): on the card, in the stream, in the API.
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="CASCADE"))
    tag: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)
    ends_at: Mapped[datetime | None]


class Call(TenantScoped, Base):
    """One phone call as the phone system reported it, from ringing to its end."""

    __tablename__ = "calls"
    __table_args__ = (UniqueConstraint("tenant_id", "provider", "provider_call_id"),)

    provider: Mapped[str] = mapped_column(String(32))
    provider_call_id: Mapped[str] = mapped_column(String(128))
    from_e164: Mapped[str | None] = mapped_column(String(32))
    from_masked: Mapped[str] = mapped_column(String(64), default="")
    to_e164: Mapped[str | None] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    state: Mapped[str] = mapped_column(String(16), default="ringing")
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="SET NULL"))
    ringing_extension: Mapped[str | None] = mapped_column(String(64))
    answered_by: Mapped[str | None] = mapped_column(String(120))
    answered_by_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    match: Mapped[str] = mapped_column(String(16), default="unknown")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
