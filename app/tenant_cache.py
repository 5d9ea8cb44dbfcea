"""A value per tenant read from the database once, forgotten when a change is announced.

The webhook path must not query what rarely changes (routing, subscriptions): each process
keeps the value per tenant and drops it when any process announces a change on the broker's
invalidation channel as `<prefix><tenant id>` (INVALIDATE_ALL drops every tenant).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.screen_pop.broker import INVALIDATE_ALL, InvalidationHandler

T = TypeVar("T")
Loader = Callable[[AsyncSession, int], Awaitable[T]]


class TenantCache(Generic[T]):
    """This process's values per tenant; `forget` on every announced change."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        load: Loader[T],
        prefix: str,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.prefix = prefix
        self._load = load
        self._on_change = on_change
        self._values: dict[int, T] = {}
        # Bumped by every invalidation: a load that overlapped one is used once, not kept.
        self._generation = 0

    def cached(self, tenant_id: int) -> T | None:
        """The tenant's value if this process has it."""
        return self._values.get(tenant_id)

    async def get(self, tenant_id: int, session: AsyncSession | None = None) -> T:
        """The tenant's value, read (in `session`, or a session of its own) when not cached."""
        found = self._values.get(tenant_id)
        if found is not None:
            return found
        generation = self._generation
        if session is not None:
            value = await self._load(session, tenant_id)
        else:
            async with self.sessionmaker() as own:
                value = await self._load(own, tenant_id)
        if generation == self._generation:
            self._values[tenant_id] = value
        return value

    def forget(self, tenant_id: int | None = None) -> None:
        """Drop one tenant's value, or every one."""
        self._generation += 1
        if tenant_id is None:
            self._values.clear()
        else:
            self._values.pop(tenant_id, None)
        self._on_change()

    def message(self, tenant_id: int) -> str:
        """The invalidation that says a tenant's value changed."""
        return f"{self.prefix}{tenant_id}"

    def listener(self) -> InvalidationHandler:
        """The broker handler: `<prefix><tenant id>` forgets that tenant."""
        prefix = self.prefix

        def on_invalidation(message: str) -> None:
            if message == INVALIDATE_ALL:
                self.forget()
            elif message.startswith(prefix) and message[len(prefix) :].isdigit():
                self.forget(int(message[len(prefix) :]))

        return on_invalidation
