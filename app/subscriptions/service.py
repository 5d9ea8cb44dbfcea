"""Subscriptions of one tenant: made, changed, rotated, pinged; their deliveries listed and
sent again. Flushes, never commits (the request's session does)."""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.models import DeliveryAttempt, OutboxEvent, Subscription, utcnow
from app.subscriptions import events
from app.subscriptions.outbox import emit
from app.subscriptions.schemas import (
    AttemptOut,
    DeliveryOut,
    PingQueued,
    SecretRotated,
    SubscriptionIn,
    SubscriptionPatch,
)

# How long the old secret keeps signing after a rotation: a day lets a receiver that
# deploys once a day take the new one without a delivery failing its check.
DEFAULT_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def get_subscription(
    session: AsyncSession, *, tenant_id: int, subscription_id: int
) -> Subscription:
    """The tenant's subscription, or NotFound."""
    found = await session.scalar(
        select(Subscription).where(
            Subscription.tenant_id == tenant_id, Subscription.id == subscription_id
        )
    )
    if found is None:
        raise NotFound(f"No subscription {subscription_id} in this tenant.")
    return found


async def create_subscription(
    session: AsyncSession, *, tenant_id: int, data: SubscriptionIn
) -> Subscription:
    """A new subscription with a fresh secret."""
    subscription = Subscription(
        tenant_id=tenant_id,
        url=data.url,
        event_types=list(data.event_types),
        description=data.description,
        enabled=data.enabled,
        secret=new_secret(),
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def list_subscriptions(session: AsyncSession, *, tenant_id: int) -> list[Subscription]:
    """The tenant's subscriptions, oldest first."""
    found = await session.scalars(
        select(Subscription).where(Subscription.tenant_id == tenant_id).order_by(Subscription.id)
    )
    return list(found)


async def update_subscription(
    session: AsyncSession, *, tenant_id: int, subscription_id: int, changes: SubscriptionPatch
) -> Subscription:
    """Change the given fields."""
    subscription = await get_subscription(
        session, tenant_id=tenant_id, subscription_id=subscription_id
    )
    for name, value in changes.model_dump(exclude_unset=True).items():
        if value is None and name != "description":
            continue  # url, event types and enabled cannot be emptied
        setattr(subscription, name, list(value) if name == "event_types" else value)
    subscription.updated_at = utcnow()
    await session.flush()
    return subscription


async def delete_subscription(
    session: AsyncSession, *, tenant_id: int, subscription_id: int
) -> None:
    """Delete it with its undelivered events and its log."""
    subscription = await get_subscription(
        session, tenant_id=tenant_id, subscription_id=subscription_id
    )
    await session.delete(subscription)
    await session.flush()


async def rotate_secret(
    session: AsyncSession, *, tenant_id: int, subscription_id: int, overlap: timedelta
) -> SecretRotated:
    """A new secret; the current one keeps signing beside it for `overlap`."""
    subscription = await get_subscription(
        session, tenant_id=tenant_id, subscription_id=subscription_id
    )
    until = utcnow() + overlap
    subscription.previous_secret, subscription.previous_secret_expires_at = (
        subscription.secret,
        until,
    )
    subscription.secret = new_secret()
    subscription.updated_at = utcnow()
    await session.flush()
    return SecretRotated(secret=subscription.secret, previous_secret_expires_at=until)


async def ping(session: AsyncSession, *, tenant_id: int, subscription_id: int) -> PingQueued:
    """Queue a `ping` event for this subscription alone (even if disabled: it waits)."""
    await get_subscription(session, tenant_id=tenant_id, subscription_id=subscription_id)
    await emit(
        session,
        tenant_id=tenant_id,
        type_=events.PING,
        data={"subscription_id": subscription_id},
        only=subscription_id,
    )
    row = await session.execute(
        select(OutboxEvent.id, OutboxEvent.message_id)
        .where(OutboxEvent.subscription_id == subscription_id, OutboxEvent.type == events.PING)
        .order_by(OutboxEvent.id.desc())
        .limit(1)
    )
    delivery_id, message_id = row.one()
    return PingQueued(delivery_id=delivery_id, message_id=message_id)


async def list_deliveries(
    session: AsyncSession,
    *,
    tenant_id: int,
    subscription_id: int,
    status: str | None,
    limit: int,
    offset: int,
) -> list[DeliveryOut]:
    """The subscription's events, newest first, each with its tries."""
    await get_subscription(session, tenant_id=tenant_id, subscription_id=subscription_id)
    query = select(OutboxEvent).where(
        OutboxEvent.tenant_id == tenant_id, OutboxEvent.subscription_id == subscription_id
    )
    if status is not None:
        query = query.where(OutboxEvent.status == status)
    rows = list(
        await session.scalars(query.order_by(OutboxEvent.id.desc()).limit(limit).offset(offset))
    )
    tries: dict[int, list[AttemptOut]] = {row.id: [] for row in rows}
    if rows:
        found = await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.event_id.in_(tries))
            .order_by(DeliveryAttempt.id)
        )
        for attempt in found:
            tries[attempt.event_id].append(AttemptOut.model_validate(attempt, from_attributes=True))
    return [
        DeliveryOut(
            id=row.id,
            message_id=row.message_id,
            type=row.type,
            status=row.status,  # type: ignore[arg-type]  # one of DeliveryStatus, by the worker
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            log=tries[row.id],
        )
        for row in rows
    ]


async def redeliver(
    session: AsyncSession, *, tenant_id: int, subscription_id: int, delivery_id: int
) -> None:
    """Send an event again (dead, delivered or waiting): due now, with a fresh schedule and
    the same `webhook-id`, so a receiver that has it already can tell."""
    await get_subscription(session, tenant_id=tenant_id, subscription_id=subscription_id)
    changed = await session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.tenant_id == tenant_id,
            OutboxEvent.subscription_id == subscription_id,
            OutboxEvent.id == delivery_id,
        )
        .values(
            status="pending",
            attempts=0,
            next_attempt_at=utcnow(),
            lease_until=None,
            lease_token=None,
            delivered_at=None,
        )
    )
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"No delivery {delivery_id} for subscription {subscription_id}.")
