"""Handing a connector's call events to the receiver: in order, retried, bounded.

A webhook vendor retries a delivery we could not take; a PBX event stream never repeats
an event. So the events a connector read wait here, oldest first, while the database is
down (retried with backoff, however long it takes), and the reader keeps reading. The
wait is bounded: past `limit` batches the oldest are dropped, with a log line. An event
the app refuses for good (the tenant has not connected the provider, or a bug) is dropped
with a log line too, rather than blocking every event behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.calls.receiver import ProviderNotConnected
from telephony_adapters.base import CallEvent

log = logging.getLogger("stamgast.connectors")

Ingest = Callable[[list[CallEvent]], Awaitable[object]]


def is_transient(exc: BaseException) -> bool:
    """True for failures that pass by themselves: the database unreachable or slow."""
    if isinstance(exc, OSError | TimeoutError | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class Delivery:
    """One connector's outbox: a worker task feeds `ingest` one batch at a time."""

    def __init__(
        self,
        name: str,
        ingest: Ingest,
        *,
        limit: int = 10_000,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.delivered = 0
        self.dropped = 0
        self._ingest = ingest
        self._pending: deque[list[CallEvent]] = deque(maxlen=limit)
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._timeout = timeout
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._in_flight: list[CallEvent] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Batches read and not yet recorded."""
        return len(self._pending) + (self._in_flight is not None)

    def put(self, events: list[CallEvent]) -> None:
        """Queue a batch; never blocks (the oldest waiting batch goes when full)."""
        if len(self._pending) == self._pending.maxlen:
            self.dropped += len(self._pending[0])
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("connector %s: outbox full, %d events dropped", self.name, self.dropped)
        self._pending.append(events)
        self._drained.clear()
        self._wakeup.set()

    async def start(self) -> None:
        """Start the worker."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"delivery-{self.name}")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Deliver what is queued (for at most `drain_seconds`), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), drain_seconds)
        if self.pending:
            log.warning("connector %s: %d batches undelivered at stop", self.name, self.pending)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            while not self._pending:
                self._drained.set()
                self._wakeup.clear()
                await self._wakeup.wait()
            self._in_flight = self._pending.popleft()
            await self._deliver(self._in_flight)
            self._in_flight = None

    async def _deliver(self, batch: list[CallEvent]) -> None:
        delay = self._retry_initial
        failures = 0
        while True:
            try:
                await asyncio.wait_for(self._ingest(batch), self._timeout)
            except ProviderNotConnected as exc:
                self.dropped += len(batch)
                log.warning("connector %s: %d events dropped: %s", self.name, len(batch), exc)
                return
            except Exception as exc:
                failures += 1
                if not is_transient(exc) and failures > 1:
                    self.dropped += len(batch)
                    log.exception("connector %s: %d events dropped", self.name, len(batch))
                    return
                log.warning(
                    "connector %s: recording events failed (%s), retry in %.1fs",
                    self.name,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            self.delivered += len(batch)
            return
