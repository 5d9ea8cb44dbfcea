"""Taking due outbox events for delivery, so that no two workers send the same one at once.

A claim is one UPDATE that leases the rows it picks (`lease_until`, `lease_token`): on
PostgreSQL its inner SELECT locks them `FOR UPDATE SKIP LOCKED`, so workers in other
processes pass over them instead of waiting; on SQLite the statement runs under the
database's single writer lock. A process that dies mid-delivery leaves a lease that runs
out, and another worker (or its own restart) sends the event again with the same
`webhook-id`: at least once. In order per call: an event is not due while an earlier
event of the same call for the same subscription is still pending.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.models import DeliveryAttempt, OutboxEvent, Subscription
from app.subscriptions.schedule import next_delay
from app.subscriptions.sender import ERROR_LIMIT, Result


@dataclass(frozen=True, slots=True)
class Claimed:
    """An event leased to this worker, with what sending it needs."""

    id: int
    tenant_id: int
    subscription_id: int
    message_id: str
    payload: str
    attempts: int
    token: str
    url: str
    secrets: list[str]


async def claim(
    session: AsyncSession, *, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Lease up to `limit` due events (the caller commits at once)."""
    earlier = aliased(OutboxEvent)
    held_back = exists().where(
        earlier.subscription_id == OutboxEvent.subscription_id,
        earlier.ordering_key == OutboxEvent.ordering_key,
        earlier.status == "pending",
        earlier.id < OutboxEvent.id,
    )
    due = (
        select(OutboxEvent.id)
        .join(Subscription, Subscription.id == OutboxEvent.subscription_id)
        .where(
            OutboxEvent.status == "pending",
            OutboxEvent.next_attempt_at <= now,
            or_(OutboxEvent.lease_until.is_(None), OutboxEvent.lease_until < now),
            Subscription.enabled.is_(True),
            ~held_back,
        )
        .order_by(OutboxEvent.next_attempt_at, OutboxEvent.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(of=OutboxEvent, skip_locked=True)
    token = uuid.uuid4().hex
    leased = await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_(due.scalar_subquery()))
        .values(lease_until=now + lease, lease_token=token)
        .returning(
            OutboxEvent.id,
            OutboxEvent.tenant_id,
            OutboxEvent.subscription_id,
            OutboxEvent.message_id,
            OutboxEvent.payload,
            OutboxEvent.attempts,
        )
    )
    rows = leased.all()
    if not rows:
        return []
    found = await session.execute(
        select(Subscription).where(Subscription.id.in_({row[2] for row in rows}))
    )
    subscriptions = {s.id: s for s in found.scalars()}
    return [
        Claimed(
            id=row[0],
            tenant_id=row[1],
            subscription_id=row[2],
            message_id=row[3],
            payload=row[4],
            attempts=row[5],
            token=token,
            url=subscriptions[row[2]].url,
            secrets=signing_secrets(subscriptions[row[2]], now),
        )
        for row in sorted(rows, key=lambda row: row[0])
        if row[2] in subscriptions
    ]


def signing_secrets(subscription: Subscription, now: datetime) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    secrets = [subscription.secret]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        secrets.append(subscription.previous_secret)
    return secrets


async def record(
    session: AsyncSession, claimed: Claimed, result: Result, *, now: datetime, jitter: float
) -> str:
    """Write how the try went and what follows (the next try, delivered or dead).

    Nothing changes if the lease was lost meanwhile (the event was redelivered by hand):
    the try is still logged. Returns the event's status.
    """
    attempts = claimed.attempts + 1
    values: dict[str, object] = {
        "attempts": attempts,
        "lease_until": None,
        "lease_token": None,
        "last_status_code": result.status_code,
        "last_error": result.error,
    }
    if result.delivered:
        values.update(status="delivered", delivered_at=now)
    else:
        delay = next_delay(attempts, lambda low, high: low + (high - low) * jitter)
        if delay is None:
            values["status"] = "dead"
        else:
            values.update(status="pending", next_attempt_at=now + delay)
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == claimed.id, OutboxEvent.lease_token == claimed.token)
        .values(values)
    )
    session.add(
        DeliveryAttempt(
            tenant_id=claimed.tenant_id,
            subscription_id=claimed.subscription_id,
            event_id=claimed.id,
            attempted_at=now,
            status_code=result.status_code,
            error=(result.error or None) and result.error[:ERROR_LIMIT],
            duration_ms=result.duration_ms,
            succeeded=result.delivered,
        )
    )
    return str(values.get("status", "pending"))
