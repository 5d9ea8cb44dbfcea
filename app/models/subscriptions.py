"""Outbound events: who wants which, what is waiting to go out, and how each try went."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TenantScoped, utcnow


class Subscription(TenantScoped, Base):
    """A URL of another system and the event types it wants, signed with its secret.

    During a rotation the previous secret keeps signing beside the new one until
    `previous_secret_expires_at`, so the receiver can switch without losing a delivery.
    """

    __tablename__ = "subscriptions"

    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(200))
    event_types: Mapped[list[str]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret: Mapped[str] = mapped_column(String(128))
    previous_secret: Mapped[str | None] = mapped_column(String(128))
    previous_secret_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboxEvent(TenantScoped, Base):
    """One event for one subscription: written in the change's own transaction, then
    delivered (and retried) by a worker until it is delivered or dead."""

    __tablename__ = "event_outbox"
    __table_args__ = (
        UniqueConstraint("subscription_id", "message_id"),
        # The worker's claim: what is due, oldest first.
        Index("ix_event_outbox_due", "status", "next_attempt_at"),
        # In order per call: an earlier pending event of the same key holds a later one.
        Index("ix_event_outbox_order", "subscription_id", "ordering_key", "status"),
    )

    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(40))  # `webhook-id`, the same on every try
    type: Mapped[str] = mapped_column(String(32))
    ordering_key: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the body, signed byte for byte
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))


class DeliveryAttempt(TenantScoped, Base):
    """One try at delivering an outbox event: the subscription's delivery log."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_event", "event_id", "id"),)

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("event_outbox.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
