"""Writing events to the outbox, in the transaction of the change they describe.

One row per (event, interested subscription), inserted by selecting the subscriptions that
still exist and are enabled: a subscription deleted or paused a moment ago gets nothing,
whatever a cache said. Nothing is built or written when no subscription wants the type.
The hot path writes the same rows in plain SQL (`hot_outbox`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Integer, String, Text, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import OutboxEvent, Subscription, utcnow
from app.models.base import UTCDateTime
from app.subscriptions import events
from app.subscriptions.cache import Subscribers, load

# The outbox columns every insert fills, in the order of the hot path's statements too.
COLUMNS = (
    "tenant_id",
    "subscription_id",
    "message_id",
    "type",
    "ordering_key",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


async def emit(
    session: AsyncSession,
    *,
    tenant_id: int,
    type_: str,
    data: dict[str, Any],
    at: datetime | None = None,
    ordering_key: str | None = None,
    subscribers: Subscribers | None = None,
    only: int | None = None,
) -> None:
    """Queue one event for every enabled subscription of the tenant that wants it.

    `subscribers` is the caller's cached view (read here when not given); `only` sends to
    that one subscription whatever it subscribes to (the ping).
    """
    which: ColumnElement[bool]
    if only is None:
        if subscribers is None:
            subscribers = await load(session, tenant_id)
        ids = subscribers.get(type_, ())
        if not ids:
            return
        which = Subscription.id.in_(ids)
    else:
        which = Subscription.id == only
    now = utcnow()
    values = select(
        Subscription.tenant_id,
        Subscription.id,
        literal(events.message_id(), String()),
        literal(type_, String()),
        literal(ordering_key, String()),
        literal(events.body(type_, at or now, data), Text()),
        literal("pending", String()),
        literal(0, Integer()),
        literal(now, UTCDateTime()),
        literal(now, UTCDateTime()),
    ).where(Subscription.tenant_id == tenant_id, which)
    if only is None:
        values = values.where(Subscription.enabled == literal(True, Boolean()))
    await session.execute(insert(OutboxEvent).from_select(list(COLUMNS), values))
