"""The broker contract, the per-process subscriber registry, and the in-process broker.

A broker numbers each agent's pops (`seq`), keeps them for `replay_window_seconds` so a
reconnecting client can catch up, and hands them live to that agent's subscriptions.
`MemoryBroker` does this inside one process; `RedisBroker` across processes.

It also carries invalidations: short text messages saying something a process may have
cached is no longer valid (a revoked credential, see app/auth/revocation.py), handed to
every process's handlers, this one's at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol

from app.screen_pop.schemas import Pop

if TYPE_CHECKING:
    from app.settings import Settings

# A per-agent log past this many entries is trimmed even inside the window: the memory
# (or Redis) an agent's log takes stays bounded whatever a misbehaving caller publishes.
MAX_LOG_ENTRIES = 1000

# Queue item meaning "live messages may have been missed: check the replay log".
CATCH_UP_SEQ = 0
# Invalidation meaning "some may have been missed: drop everything cached".
INVALIDATE_ALL = "*"

logger = logging.getLogger(__name__)

CloseReason = Literal["overflow", "shutdown", "revoked"]
Clock = Callable[[], float]
InvalidationHandler = Callable[[str], None]
# Push mode's first taker of a message: True when it took it (sent, or sending).
Direct = Callable[[int, bytes], bool]


class BrokerUnavailable(Exception):
    """The broker's backing service cannot be reached; the pop was not published."""


def delivery_message(seq: int, pop_json: bytes) -> bytes:
    """The Delivery JSON for one agent, spliced around the pop serialised once per publish."""
    return b'{"seq":%d,"pop":' % seq + pop_json + b"}"


def new_epoch() -> str:
    """A fresh epoch name: short (it travels in every reconnect URL), random enough that two
    lives of a broker never share one."""
    return secrets.token_hex(6)


def unique_agents(agent_ids: Sequence[int]) -> list[int]:
    """The agents in order, each once: a pop reaches an agent once whatever the caller passed."""
    return list(dict.fromkeys(agent_ids))


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
        self._limit = queue_size if queue_size > 0 else MAX_LOG_ENTRIES  # 0: as the log
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


class InvalidationHandlers:
    """This process's invalidation handlers; one failing handler does not stop the others."""

    def __init__(self) -> None:
        self._handlers: list[InvalidationHandler] = []

    def add(self, handler: InvalidationHandler) -> None:
        self._handlers.append(handler)

    def deliver(self, message: str) -> None:
        for handler in self._handlers:
            try:
                handler(message)
            except Exception:
                logger.exception("screen-pop: an invalidation handler failed")


class Broker(Protocol):
    """Numbers, logs and delivers pops; see the module docstring."""

    async def start(self) -> None:
        """Connect and start background work."""

    async def stop(self) -> None:
        """Close every subscription and release connections."""

    async def publish(self, tenant_id: int, agent_ids: Sequence[int], pop: Pop) -> None:
        """Give the pop the next seq of each agent, log it for replay, deliver it live."""

    async def replay(
        self, tenant_id: int, agent_id: int, after_seq: int
    ) -> tuple[list[tuple[int, bytes]], bool]:
        """Logged messages with seq > after_seq in order; False when some of them are gone."""

    async def last_seq(self, tenant_id: int, agent_id: int) -> int:
        """The agent's latest seq (0 before its first pop)."""

    async def epoch(self) -> str:
        """Names the life of the sequences: it changes whenever they may have started again
        (the embedded broker's process restarted, Redis lost its data), so a client's
        last_seq from another epoch is known to mean nothing here."""

    def subscribe(self, tenant_id: int, agent_id: int) -> Subscription:
        """A live feed of the agent's messages, bounded; enter it with `async with`."""

    def healthy(self) -> bool:
        """True while live delivery works (for /readyz)."""

    async def invalidate(self, message: str) -> None:
        """Hand `message` to every process's invalidation handlers, this process's at once;
        never raises (the others may then hear it late or never: see INVALIDATE_ALL)."""

    def on_invalidation(self, handler: InvalidationHandler) -> None:
        """Call `handler` with every invalidation, and with INVALIDATE_ALL whenever some
        may have been missed."""


def replay_result(
    entries: list[tuple[int, bytes]], after_seq: int, last: int
) -> tuple[list[tuple[int, bytes]], bool]:
    """Entries after `after_seq`, and whether they are all of (after_seq, last].

    Counting is what makes this right for every way an entry can vanish (window, size cap,
    key TTL); a cursor beyond `last` (the log was reset) is incomplete too.
    """
    kept = [(seq, message) for seq, message in entries if seq > after_seq]
    return kept, after_seq <= last and len(kept) == last - after_seq


class MemoryBroker:
    """The embedded broker: everything in this process, nothing survives a restart."""

    def __init__(self, settings: Settings, *, clock: Clock = time.time) -> None:
        self._window = float(settings.replay_window_seconds)
        self._clock = clock
        self._local = LocalSubscribers(settings.stream_queue_size)
        self._seqs: dict[tuple[int, int], int] = {}
        self._logs: dict[tuple[int, int], deque[tuple[int, float, bytes]]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._invalidations = InvalidationHandlers()
        self._epoch = new_epoch()

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="screen-pop-sweeper")

    async def stop(self) -> None:
        self._local.close_all("shutdown")
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    def healthy(self) -> bool:
        return True

    async def publish(self, tenant_id: int, agent_ids: Sequence[int], pop: Pop) -> None:
        pop_json = pop.model_dump_json().encode()
        now = self._clock()
        # No await below: seq, log and delivery happen together, so order holds per agent.
        for agent_id in unique_agents(agent_ids):
            key = (tenant_id, agent_id)
            seq = self._seqs.get(key, 0) + 1
            self._seqs[key] = seq
            message = delivery_message(seq, pop_json)
            log = self._logs.get(key)
            if log is None:
                log = self._logs[key] = deque(maxlen=MAX_LOG_ENTRIES)
            log.append((seq, now, message))
            self._trim(key, now)
            self._local.deliver(tenant_id, agent_id, seq, message)

    async def replay(
        self, tenant_id: int, agent_id: int, after_seq: int
    ) -> tuple[list[tuple[int, bytes]], bool]:
        key = (tenant_id, agent_id)
        self._trim(key, self._clock())
        log = self._logs.get(key, ())
        return replay_result([(s, m) for s, _at, m in log], after_seq, self._seqs.get(key, 0))

    async def last_seq(self, tenant_id: int, agent_id: int) -> int:
        return self._seqs.get((tenant_id, agent_id), 0)

    async def epoch(self) -> str:
        return self._epoch

    def subscribe(self, tenant_id: int, agent_id: int) -> Subscription:
        return self._local.subscription(tenant_id, agent_id)

    async def invalidate(self, message: str) -> None:
        # One process: its own handlers are everyone there is.
        self._invalidations.deliver(message)

    def on_invalidation(self, handler: InvalidationHandler) -> None:
        self._invalidations.add(handler)

    def _trim(self, key: tuple[int, int], now: float) -> None:
        log = self._logs.get(key)
        if log is None:
            return
        cutoff = now - self._window
        while log and log[0][1] <= cutoff:
            log.popleft()
        if not log:
            del self._logs[key]

    async def _sweep_forever(self) -> None:
        # Agents nobody publishes to again would otherwise keep their last pops forever.
        interval = max(1.0, min(60.0, self._window / 2))
        while True:
            await asyncio.sleep(interval)
            now = self._clock()
            for key in list(self._logs):
                self._trim(key, now)


def make_broker(settings: Settings) -> Broker:
    """Redis when `settings.redis_url` is set (several processes), else in-process."""
    if settings.redis_url:
        # Imported here: the embedded setup never loads the Redis client.
        from app.screen_pop.redis_broker import RedisBroker

        return RedisBroker(settings)
    return MemoryBroker(settings)
