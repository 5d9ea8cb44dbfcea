"""Which subscriptions want which event types, per tenant, kept in memory.

The ringing webhook must not pay a query to learn that a tenant subscribes to nothing (most
do): each process keeps `Subscribers` per tenant, read once, and forgets a tenant when a
change to its subscriptions is announced (`subscriptions:<tenant id>` on the broker's
invalidation channel, as app/calls/routing_cache.py does). A change made by hand is seen
after a restart. An event written against a just-changed set is harmless: the outbox insert
itself selects only subscriptions that still exist and are enabled.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Subscription
from app.screen_pop.hub import ScreenPopHub
from app.tenant_cache import TenantCache

PREFIX = "subscriptions:"

Subscribers = dict[str, tuple[int, ...]]
"""Event type -> ids of the enabled subscriptions that want it (empty: nobody)."""


async def load(session: AsyncSession, tenant_id: int) -> Subscribers:
    """The tenant's enabled subscriptions by event type (one small query)."""
    rows = await session.execute(
        select(Subscription.id, Subscription.event_types)
        .where(Subscription.tenant_id == tenant_id, Subscription.enabled.is_(True))
        .order_by(Subscription.id)
    )
    wanting: dict[str, list[int]] = {}
    for subscription_id, types in rows:
        for type_ in types:
            wanting.setdefault(type_, []).append(subscription_id)
    return {type_: tuple(ids) for type_, ids in wanting.items()}


class SubscriberCache(TenantCache[Subscribers]):
    """This process's `Subscribers` per tenant; `forget` on every announced change, which
    also wakes the delivery worker (`on_change`)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(sessionmaker, load, PREFIX, on_change)


async def announce(hub: ScreenPopHub, tenant_id: int) -> None:
    """Tell every process a tenant's subscriptions changed; call after the commit."""
    await hub.broker.invalidate(f"{PREFIX}{tenant_id}")
