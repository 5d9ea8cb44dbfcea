"""The broker contract and the in-process broker (subscriptions: app/screen_pop/subscribers.py).

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
from typing import TYPE_CHECKING, Protocol

from app.screen_pop.schemas import Pop

# Part of the broker's contract, defined beside the per-process registry (re-exported).
from app.screen_pop.subscribers import CATCH_UP_SEQ as CATCH_UP_SEQ
from app.screen_pop.subscribers import CloseReason as CloseReason
from app.screen_pop.subscribers import Direct as Direct
from app.screen_pop.subscribers import LocalSubscribers as LocalSubscribers
from app.screen_pop.subscribers import Subscription as Subscription

if TYPE_CHECKING:
    from app.settings import Settings

# A per-agent log in Redis past this many entries is trimmed even inside the window: the
# memory an agent's log takes there stays bounded whatever a misbehaving caller publishes.
MAX_LOG_ENTRIES = 1000
# The embedded broker keeps fewer, in the server's own memory. The log serves a widget
# that reconnects (0.5-5 s after a `bye`, or after a network blip): at the benchmark's
# 200 calls/s over teams of 10 an agent gets about 6 pops a second (ringing, answered,
# ended), so 100 is some 15 s of that; a real agent's hour. Older pops are gone and the
# client resumes with `resync` (it reloads its calls), as after an expired window. So the
# log is at most agents x 100 entries, each sharing its pop's bytes with the other agents
# of the same publish (see MemoryBroker), whatever the window or the traffic.
MEMORY_LOG_ENTRIES = 100

# Invalidation meaning "some may have been missed: drop everything cached".
INVALIDATE_ALL = "*"

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
InvalidationHandler = Callable[[str], None]
# Agents who get the same pop body (app/screen_pop/views.py: one per role's view).
Audience = tuple[Sequence[int], bytes]


class BrokerUnavailable(Exception):
    """The broker's backing service cannot be reached; the pop was not published."""


def delivery_message(seq: int, pop_json: bytes) -> bytes:
    """The Delivery JSON for one agent, spliced around the pop serialised once per publish."""
    return b'{"seq":%d,"pop":' % seq + pop_json + b"}"


def _each_agent(audiences: Sequence[Audience]) -> list[tuple[int, bytes]]:
    """Every agent once with its audience's body (the first audience naming it wins)."""
    seen: dict[int, bytes] = {}
    for agent_ids, body in audiences:
        for agent_id in agent_ids:
            seen.setdefault(agent_id, body)
    return list(seen.items())


def new_epoch() -> str:
    """A fresh epoch name: short (it travels in every reconnect URL), random enough that two
    lives of a broker never share one."""
    return secrets.token_hex(6)


def unique_agents(agent_ids: Sequence[int]) -> list[int]:
    """The agents in order, each once: a pop reaches an agent once whatever the caller passed."""
    return list(dict.fromkeys(agent_ids))


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

    async def publish_bodies(
        self, tenant_id: int, audiences: Sequence[Audience], pop_id: str
    ) -> None:
        """As `publish`, one pop serialised per audience (an agent in one audience only):
        each agent's log and live feed get its audience's body."""

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
    """The embedded broker: everything in this process, nothing survives a restart.

    An agent's log keeps `(seq, published at, pop JSON)`: the pop's bytes are one object
    for all the agents it went to (a team of 10 stores it once, not ten times), and the
    Delivery JSON is spliced again on replay, which is rare next to publishing.
    """

    def __init__(self, settings: Settings, *, clock: Clock = time.time) -> None:
        self._window = float(settings.replay_window_seconds)
        self._clock = clock
        self._local = LocalSubscribers(settings.stream_queue_size)
        self._seqs: dict[tuple[int, int], int] = {}
        # Per agent: (seq, published at, pop JSON), oldest first, at most MEMORY_LOG_ENTRIES.
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
        await self.publish_bodies(
            tenant_id, [(agent_ids, pop.model_dump_json().encode())], pop.pop_id
        )

    async def publish_bodies(
        self, tenant_id: int, audiences: Sequence[Audience], pop_id: str
    ) -> None:
        now = self._clock()
        # No await below: seq, log and delivery happen together, so order holds per agent.
        local = self._local
        for agent_id, pop_json in _each_agent(audiences):
            key = (tenant_id, agent_id)
            seq = self._seqs.get(key, 0) + 1
            self._seqs[key] = seq
            log = self._logs.get(key)
            if log is None:
                # maxlen: the deque drops its oldest entry itself once full.
                log = self._logs[key] = deque(maxlen=MEMORY_LOG_ENTRIES)
            log.append((seq, now, pop_json))
            self._trim(key, now)
            if local.wants(tenant_id, agent_id):
                local.deliver(tenant_id, agent_id, seq, delivery_message(seq, pop_json))

    async def replay(
        self, tenant_id: int, agent_id: int, after_seq: int
    ) -> tuple[list[tuple[int, bytes]], bool]:
        key = (tenant_id, agent_id)
        self._trim(key, self._clock())
        log = self._logs.get(key, ())
        entries = [(seq, delivery_message(seq, pop)) for seq, _at, pop in log if seq > after_seq]
        return replay_result(entries, after_seq, self._seqs.get(key, 0))

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
