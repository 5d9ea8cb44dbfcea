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
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Subscription
from app.screen_pop.broker import INVALIDATE_ALL, InvalidationHandler
from app.screen_pop.hub import ScreenPopHub

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


@dataclass(slots=True)
class SubscriberCache:
    """This process's `Subscribers` per tenant; `forget` on every announced change."""

    sessionmaker: async_sessionmaker[AsyncSession]
    on_change: Callable[[], None] = lambda: None  # wakes the delivery worker
    _tenants: dict[int, Subscribers] = field(default_factory=dict)
    _generation: int = 0  # a load that overlapped an invalidation is used once, not kept

    async def get(self, tenant_id: int) -> Subscribers:
        """The tenant's subscribers, read when not cached."""
        found = self._tenants.get(tenant_id)
        if found is not None:
            return found
        generation = self._generation
        async with self.sessionmaker() as session:
            subscribers = await load(session, tenant_id)
        if generation == self._generation:
            self._tenants[tenant_id] = subscribers
        return subscribers

    def forget(self, tenant_id: int | None = None) -> None:
        """Drop one tenant, or every one."""
        self._generation += 1
        if tenant_id is None:
            self._tenants.clear()
        else:
            self._tenants.pop(tenant_id, None)
        self.on_change()

    def listener(self) -> InvalidationHandler:
        """The broker handler: `subscriptions:<tenant id>` forgets that tenant."""

        def on_invalidation(message: str) -> None:
            if message == INVALIDATE_ALL:
                self.forget()
            elif message.startswith(PREFIX) and message[len(PREFIX) :].isdigit():
                self.forget(int(message[len(PREFIX) :]))

        return on_invalidation


async def announce(hub: ScreenPopHub, tenant_id: int) -> None:
    """Tell every process a tenant's subscriptions changed; call after the commit."""
    await hub.broker.invalidate(f"{PREFIX}{tenant_id}")
