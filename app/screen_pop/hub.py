"""The glue between the app and the broker: publishing, open streams, graceful shutdown.

A `Stream` is one agent connection's view: it subscribes before reading the log, so a pop
is either replayed or arrives live (or both, and then sent once), and keeps a cursor so
nothing is sent twice. The WebSocket and SSE routes only format its events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Literal

from app.metrics import timing as webhook_timing
from app.metrics.registry import CONNECTED_AGENTS
from app.screen_pop.broker import CATCH_UP_SEQ, Broker, Direct, Subscription
from app.screen_pop.schemas import Pop, StreamNotice
from app.screen_pop.views import Roles, audiences, no_roles, roles_or_none
from app.settings import Settings

logger = logging.getLogger(__name__)

EventKind = Literal["hello", "resync", "bye", "pop", "keepalive"]
SHUTDOWN_GRACE_SECONDS = 5.0
# Clients reconnect after a random delay in this range, so a restart is not met by every
# widget of every tenant in the same millisecond.
RETRY_MS_RANGE = (1000, 5000)
OVERFLOW_RETRY_MS = 500
GONE = "Pops after your last_seq are gone: reload the agent's calls (GET /v1/me/calls)."
RESTARTED = (
    "The server's pop log started again since your last_seq: what follows is all it has; "
    "reload the agent's calls (GET /v1/me/calls) for what came before."
)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """Something to send: a notice or a pop (`data` is its JSON), or a keepalive."""

    kind: EventKind
    cursor: int  # the last seq this connection has been given, after this event
    data: str = ""
    replayed: bool = False  # a pop from the replay log, not live (no ring-to-pop figure)


def _notice(
    kind: Literal["hello", "resync", "bye"], seq: int, cursor: int, **extra: Any
) -> StreamEvent:
    notice = StreamNotice(type=kind, seq=seq, **extra)
    return StreamEvent(kind, cursor, notice.model_dump_json())


class Stream:
    """One open connection of one agent; enter it, then iterate `events()` (SSE) or write
    its `opening()` and `follow()` its live feed (WebSocket, app/screen_pop/wire.py)."""

    __slots__ = (
        "_after_epoch", "_after_seq", "_hub", "_subscription", "agent_id", "cursor", "epoch",
        "tenant_id", "token_id",
    )  # fmt: skip

    def __init__(
        self,
        hub: ScreenPopHub,
        tenant_id: int,
        agent_id: int,
        after_seq: int | None,
        token_id: int | None = None,
        after_epoch: str | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.agent_id = agent_id
        self.token_id = token_id
        self._hub = hub
        self._after_seq = after_seq
        self._after_epoch = after_epoch
        self._subscription: Subscription | None = None
        self.cursor = 0
        self.epoch = ""  # the broker's, once `events()` has said hello

    @property
    def end_reason(self) -> str | None:
        """Why the live feed ended: "overflow" (too slow), "shutdown", "revoked" (its token
        was revoked), or None."""
        return None if self._subscription is None else self._subscription.close_reason

    async def __aenter__(self) -> Stream:
        self._subscription = self._hub.broker.subscribe(self.tenant_id, self.agent_id)
        await self._subscription.__aenter__()
        self._hub._track(self)
        if self._hub.closing:
            self._subscription.close("shutdown")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._subscription is not None
        await self._subscription.__aexit__(exc_type, exc, tb)
        self._hub._forget(self)

    def close(self) -> None:
        """End the stream with a `bye` (shutdown)."""
        if self._subscription is not None:
            self._subscription.close("shutdown")

    def revoke(self) -> None:
        """End the stream without a `bye`: its token no longer admits it, so no reconnect."""
        if self._subscription is not None:
            self._subscription.close("revoked")

    def attach(self, direct: Direct, wake: Callable[[], None]) -> None:
        """Push mode for the live part (see Subscription.attach); call after `opening()`."""
        assert self._subscription is not None, "enter the stream first"
        self._subscription.attach(direct, wake)

    @property
    def subscription(self) -> Subscription:
        """The live feed (entered with the stream)."""
        assert self._subscription is not None, "enter the stream first"
        return self._subscription

    async def events(self, keepalive: float | None = None) -> AsyncIterator[StreamEvent]:
        """hello, resync when pops are gone, the replay, then live pops; `bye` at the end."""
        subscription = self.subscription
        async for event in self.opening():
            yield event
        while True:
            try:
                async with asyncio.timeout(keepalive):
                    item = await subscription.get()
            except TimeoutError:
                yield StreamEvent("keepalive", self.cursor)
                continue
            if item is None:
                break
            async for event in self.follow(*item):
                yield event
        bye = self.farewell()
        if bye is not None:
            yield bye

    async def opening(self) -> AsyncIterator[StreamEvent]:
        """hello, resync when pops are gone, and the replay; live pops follow (`follow`)."""
        assert self._subscription is not None, "enter the stream first"
        broker, tenant_id, agent_id = self._hub.broker, self.tenant_id, self.agent_id
        epoch = self.epoch = await broker.epoch()
        last = await broker.last_seq(tenant_id, agent_id)
        after = self._after_seq
        # The sequence started again since the client's cursor (another epoch, or a cursor
        # beyond `last` from a client that sends no epoch): its last_seq means nothing here.
        # Everything of the new life is replayed, and the client reloads what the old life
        # may have taken with it.
        reset = after is not None and (
            after > last or (self._after_epoch is not None and self._after_epoch != epoch)
        )
        if reset:
            self.cursor = 0
            yield _notice("hello", 0, 0, epoch=epoch)
            yield _notice("resync", last, 0, message=RESTARTED)
            async for event in self._catch_up(0, last, resync_said=True):
                yield event
        else:
            self.cursor = last if after is None else after
            yield _notice("hello", last, self.cursor, epoch=epoch)
            if after is not None:
                async for event in self._catch_up(after, last):
                    yield event

    def in_order(self, seq: int) -> bool:
        """True when a live message is simply the next one: `follow` would send it as it is,
        without asking the broker anything (the direct path relies on this)."""
        return seq == self.cursor + 1

    async def follow(self, seq: int, message: bytes) -> AsyncIterator[StreamEvent]:
        """What one live message from the feed means for this connection: normally its pop;
        a catch-up from the log for a gap, a new life for a broker that started again, or
        nothing for a pop already sent."""
        broker, tenant_id, agent_id = self._hub.broker, self.tenant_id, self.agent_id
        unexpected = seq == CATCH_UP_SEQ or not self.cursor < seq <= self.cursor + 1
        if unexpected and await broker.epoch() != self.epoch:
            # Redis came back without its data while this stream stayed open: a new
            # life of the sequences. As for a client reconnecting from the old one:
            # everything of the new life, after hello 0 and resync.
            self.epoch, self.cursor = await broker.epoch(), 0
            last = await broker.last_seq(tenant_id, agent_id)
            yield _notice("hello", 0, 0, epoch=self.epoch)
            yield _notice("resync", last, 0, message=RESTARTED)
            async for event in self._catch_up(0, last, resync_said=True):
                yield event
            return
        if seq != CATCH_UP_SEQ and seq <= self.cursor and await self._restarted(seq):
            # The broker's counter started again (Redis restarted without persistence):
            # follow it, as the widget follows a lower `hello`, or every pop from now
            # on would be dropped as one already sent.
            self.cursor = seq - 1
            self.epoch = await broker.epoch()
            yield _notice("hello", self.cursor, self.cursor, epoch=self.epoch)
        if seq == CATCH_UP_SEQ or seq > self.cursor + 1:
            # Live messages were lost (listener reconnected) or skipped: the log has them.
            last = await broker.last_seq(tenant_id, agent_id)
            async for event in self._catch_up(self.cursor, last):
                yield event
        if seq > self.cursor:
            self.cursor = seq
            yield StreamEvent("pop", seq, message.decode())

    def farewell(self) -> StreamEvent | None:
        """The `bye` to send once the live feed has ended, if its end calls for one."""
        if self.end_reason == "overflow":
            return _notice(
                "bye", self.cursor, self.cursor, retry_ms=OVERFLOW_RETRY_MS,
                message="Too far behind: reconnect with last_seq to replay what you missed.",
            )  # fmt: skip
        if self.end_reason == "shutdown":
            return _notice(
                "bye", self.cursor, self.cursor, retry_ms=random.randint(*RETRY_MS_RANGE),
                message="Server restarting: reconnect with last_seq after retry_ms.",
            )  # fmt: skip
        return None

    async def _restarted(self, seq: int) -> bool:
        """True when the broker's sequence is behind what this stream already sent, and
        `seq` belongs to the new count: a late live copy of a pop sent before (its seq
        beyond the new count) is a duplicate to drop, not a sign of a restart."""
        last = await self._hub.broker.last_seq(self.tenant_id, self.agent_id)
        return last < self.cursor and seq <= last

    async def _catch_up(
        self, after: int, last: int, *, resync_said: bool = False
    ) -> AsyncIterator[StreamEvent]:
        """Replay after `after`; `last` must have been read before the replay."""
        entries, complete = await self._hub.broker.replay(self.tenant_id, self.agent_id, after)
        if not complete and not resync_said:
            yield _notice("resync", last, self.cursor, message=GONE)
        for seq, message in entries:
            if seq > self.cursor:
                self.cursor = seq
                webhook_timing.replayed()
                yield StreamEvent("pop", seq, message.decode(), replayed=True)
        # Everything up to `last` is now sent or gone for good (resync said so); anything
        # newer is in `entries` or still to come live, as `last` was read before the replay.
        # Without this, a fully expired log would be seen as a gap again on the next pop.
        self.cursor = max(self.cursor, last)


class ScreenPopHub:
    """What the app holds in `app.state.hub`: publish pops, open streams, shut down cleanly."""

    def __init__(self, broker: Broker, settings: Settings, roles: Roles = no_roles) -> None:
        self.broker = broker
        self.settings = settings
        # The agents' roles, for each one's view of a pop (app/screen_pop/views.py); the
        # app gives routing's (app/main.py). Without: everyone gets the masked view.
        self.roles = roles
        self.closing = False
        self._streams: set[Stream] = set()
        self._drained = asyncio.Event()
        self._drained.set()
        self._restore_signals: Callable[[], None] | None = None

    @property
    def connections(self) -> int:
        """How many streams are open in this process."""
        return len(self._streams)

    def healthy(self) -> bool:
        """True while pops can be delivered (for /readyz)."""
        return not self.closing and self.broker.healthy()

    async def start(self) -> None:
        """Start the broker, and say `bye` to streams as soon as the server is told to stop."""
        await self.broker.start()
        self._restore_signals = _chain_exit_signals(asyncio.get_running_loop(), self.drain)

    async def publish(self, tenant_id: int, agent_ids: Sequence[int], pop: Pop) -> None:
        """Deliver a pop to these agents of the tenant, each in its role's view, serialised
        once per view (raises BrokerUnavailable)."""
        if not agent_ids:
            return
        roles = await roles_or_none(self.roles, tenant_id)
        bodies = audiences(pop, agent_ids, roles)
        await self.broker.publish_bodies(tenant_id, bodies, pop.pop_id)

    def open_stream(
        self,
        tenant_id: int,
        agent_id: int,
        after_seq: int | None,
        token_id: int | None = None,
        after_epoch: str | None = None,
    ) -> Stream:
        """A stream for one connection; `after_seq` is the client's last seq, if it has one,
        and `after_epoch` the epoch that seq belongs to (from its `hello`)."""
        return Stream(self, tenant_id, agent_id, after_seq, token_id, after_epoch)

    def token_ids(self) -> set[int]:
        """The tokens this process's streams were opened with."""
        return {s.token_id for s in self._streams if s.token_id is not None}

    def revoke_token(self, token_id: int) -> int:
        """End this process's streams opened with the token; how many there were."""
        streams = [s for s in self._streams if s.token_id == token_id]
        for stream in streams:
            stream.revoke()
        return len(streams)

    def revoke_agent(self, tenant_id: int, agent_id: int) -> int:
        """End this process's streams of the agent (made inactive, deleted); how many."""
        streams = [s for s in self._streams if (s.tenant_id, s.agent_id) == (tenant_id, agent_id)]
        for stream in streams:
            stream.revoke()
        return len(streams)

    def begin_shutdown(self) -> None:
        """Close every stream with `bye`; new streams get `bye` at once."""
        self.closing = True
        for stream in list(self._streams):
            stream.close()

    async def drain(self, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Say `bye` to every stream and wait (at most `grace_seconds`) for them to close."""
        self.begin_shutdown()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), grace_seconds)

    async def stop(self, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Drain the streams, then stop the broker."""
        await self.drain(grace_seconds)
        if self._streams:
            logger.warning("screen-pop: %d streams still open at shutdown", len(self._streams))
        if self._restore_signals is not None:
            self._restore_signals()
            self._restore_signals = None
        await self.broker.stop()

    def _track(self, stream: Stream) -> None:
        self._streams.add(stream)
        CONNECTED_AGENTS.set(len(self._streams))
        self._drained.clear()

    def _forget(self, stream: Stream) -> None:
        self._streams.discard(stream)
        CONNECTED_AGENTS.set(len(self._streams))
        if self._streams:
            self._drained.clear()
        else:
            self._drained.set()


def _chain_exit_signals(
    loop: asyncio.AbstractEventLoop, drain: Callable[[], Awaitable[None]]
) -> Callable[[], None] | None:
    """On SIGTERM/SIGINT, run `drain` first, then the handler already installed (uvicorn's).

    Why: uvicorn runs the lifespan shutdown only after every connection has ended, and an
    SSE response never ends by itself, so without this a restart would hang on open
    streams. Handing the signal on only after the drain is what lets every WebSocket get
    its `bye` before uvicorn closes it with a bare 1012. A second signal passes straight
    through (uvicorn's "press again to force quit").
    """
    if threading.current_thread() is not threading.main_thread():
        return None  # signals reach the main thread only; a server in a thread has none
    previous: dict[int, Any] = {}
    tasks: set[asyncio.Task[None]] = set()
    started = False

    def pass_on(signum: int, frame: FrameType | None) -> None:
        chained = previous.get(signum)
        if callable(chained):
            chained(signum, frame)
        elif chained == signal.SIG_DFL:
            # Nobody else handled it: keep the default meaning (terminate).
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    async def drain_then_pass_on(signum: int, frame: FrameType | None) -> None:
        try:
            await drain()
        finally:
            pass_on(signum, frame)

    def start_draining(signum: int, frame: FrameType | None) -> None:
        task = loop.create_task(drain_then_pass_on(signum, frame))
        tasks.add(task)  # the loop keeps only a weak reference to tasks
        task.add_done_callback(tasks.discard)

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal started
        if started:
            pass_on(signum, frame)
            return
        started = True
        loop.call_soon_threadsafe(start_draining, signum, frame)

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, handler)

    def restore() -> None:
        for signum, chained in previous.items():
            if signal.getsignal(signum) is handler:
                signal.signal(signum, chained)

    return restore
