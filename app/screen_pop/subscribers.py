"""This process's subscriptions: each open connection's live feed, by tenant and agent.

Brokers (app/screen_pop/broker.py) hand every message to `LocalSubscribers.deliver`,
which offers it to each subscription of the agent without ever waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from app.metrics import timing as webhook_timing

# Queue item meaning "live messages may have been missed: check the replay log".
CATCH_UP_SEQ = 0
# A backlog limit of 0 (settings) means this many, not unbounded.
DEFAULT_LIMIT = 1000

CloseReason = Literal["overflow", "shutdown", "revoked"]
# Push mode's first taker of a message: True when it took it (sent, or sending).
Direct = Callable[[int, bytes], bool]


class Subscription:
    """One connection's live feed for one agent: bounded, and never blocks publish.

    Pull mode (SSE): iterate it for `(seq, message)` pairs. Push mode (WebSocket, see
    `attach`): messages are handed to the connection as they are published, and only a
    connection that cannot take one right away leaves it in the backlog. A pair with
    `seq == CATCH_UP_SEQ` says live messages may have been missed (the cross-process
    listener reconnected): read the replay log. When the backlog is full the subscription
    closes with reason "overflow" and the client should reconnect and replay; buffering
    more for a slow client would grow memory.
    """

    # Thousands of idle connections each hold one: no per-instance __dict__, and the
    # backlog (a deque) and the waiter exist only while they are needed.
    __slots__ = (
        "_backlog",
        "_direct",
        "_finished",
        "_limit",
        "_registry",
        "_waiter",
        "_wake",
        "agent_id",
        "close_reason",
        "tenant_id",
    )  # fmt: skip

    def __init__(
        self, registry: LocalSubscribers, tenant_id: int, agent_id: int, queue_size: int
    ) -> None:
        self.tenant_id = tenant_id
        self.agent_id = agent_id
        self.close_reason: CloseReason | None = None
        self._registry = registry
        self._limit = queue_size if queue_size > 0 else DEFAULT_LIMIT
        self._backlog: deque[tuple[int, bytes]] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._finished = False
        self._direct: Direct | None = None
        self._wake: Callable[[], None] | None = None

    @property
    def overflowed(self) -> bool:
        """True when the client fell behind and the subscription was closed for it."""
        return self.close_reason == "overflow"

    @property
    def pending(self) -> bool:
        """True when `get_nowait` has something to give: a message, or the end."""
        return bool(self._backlog) or (self.close_reason is not None and not self._finished)

    def attach(self, direct: Direct, wake: Callable[[], None]) -> None:
        """Push mode: while nothing is in the backlog, each message is offered to `direct`
        first (it returns False to leave it to the backlog); `wake` is called whenever the
        backlog gets something or the subscription closes. No task waits on the feed."""
        self._direct = direct
        self._wake = wake

    def offer(self, seq: int, message: bytes) -> None:
        """Hand over or queue a message without waiting; a full backlog closes instead."""
        if self.close_reason is not None:
            return
        backlog = self._backlog
        if not backlog and self._direct is not None and self._direct(seq, message):
            return
        if backlog is None:
            backlog = self._backlog = deque()
        if len(backlog) >= self._limit:
            webhook_timing.dropped(len(backlog) + 1)  # the client replays them
            self.close("overflow")
            return
        backlog.append((seq, message))
        self._notify()

    def close(self, reason: CloseReason) -> None:
        """End the feed: it ends after what is queued (or at once on overflow)."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self._registry.discard(self)
        if self._backlog is not None and (
            reason == "overflow" or len(self._backlog) >= self._limit
        ):
            # The client replays anyway; dropping the backlog is what bounds memory.
            self._backlog = None
        self._notify()

    def get_nowait(self) -> tuple[int, bytes] | None:
        """The next `(seq, message)` when `pending`; None once the subscription is closed."""
        if self._backlog:
            item = self._backlog.popleft()
            if not self._backlog:
                self._backlog = None  # an idle connection holds no deque
            return item
        if self.close_reason is None:
            raise LookupError("nothing pending: check `pending` first")
        self._finished = True
        return None

    async def get(self) -> tuple[int, bytes] | None:
        """The next `(seq, message)`, waiting for it; None once the subscription is closed."""
        while not self.pending:
            if self._finished:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.get_nowait()

    def _notify(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self._wake is not None:
            self._wake()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> tuple[int, bytes]:
        item = await self.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def __aenter__(self) -> Subscription:
        self._registry.add(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._registry.discard(self)


class LocalSubscribers:
    """This process's open subscriptions, by (tenant, agent)."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._by_agent: dict[tuple[int, int], set[Subscription]] = {}

    def subscription(self, tenant_id: int, agent_id: int) -> Subscription:
        """A new subscription; it receives messages once entered (`async with`)."""
        return Subscription(self, tenant_id, agent_id, self._queue_size)

    def add(self, subscription: Subscription) -> None:
        key = (subscription.tenant_id, subscription.agent_id)
        self._by_agent.setdefault(key, set()).add(subscription)

    def discard(self, subscription: Subscription) -> None:
        key = (subscription.tenant_id, subscription.agent_id)
        subscriptions = self._by_agent.get(key)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._by_agent[key]

    def wants(self, tenant_id: int, agent_id: int) -> bool:
        """True when someone here listens to this agent (saves building unwanted messages)."""
        return (tenant_id, agent_id) in self._by_agent

    def deliver(self, tenant_id: int, agent_id: int, seq: int, message: bytes) -> None:
        """Offer a message to every local subscription of the agent; never waits."""
        # A copy: an overflowing subscription removes itself from the set while we iterate.
        for subscription in list(self._by_agent.get((tenant_id, agent_id), ())):
            subscription.offer(seq, message)

    def catch_up_all(self) -> None:
        """Tell every subscription to check the replay log (live messages may have been lost)."""
        for subscriptions in list(self._by_agent.values()):
            for subscription in list(subscriptions):
                subscription.offer(CATCH_UP_SEQ, b"")

    def close_all(self, reason: CloseReason) -> None:
        """Close every subscription (shutdown)."""
        for subscriptions in list(self._by_agent.values()):
            for subscription in list(subscriptions):
                subscription.close(reason)

    def __len__(self) -> int:
        return sum(len(s) for s in self._by_agent.values())
