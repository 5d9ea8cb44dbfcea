"""The in-process delivery worker: one per process, taking due events from the outbox.

It sleeps while no subscription is enabled anywhere (so a deployment without subscribers
never touches the outbox), else it claims due events every `poll_seconds` (at once when
woken by a subscription change or a ping), sends them concurrently outside any
transaction, and records each try. `clock` is its notion of now for everything it
schedules (retries, leases, a rotated secret's overlap); tests turn it to make a day pass.
`webhook-timestamp` is always the wall clock: receivers compare it with theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import exists, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import session_scope
from app.models import Subscription, utcnow
from app.subscriptions import claims
from app.subscriptions.sender import send, signed_headers

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

BATCH = 20


class DeliveryWorker:
    """Claims, sends and records outbox events until stopped."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        timeout_seconds: float = 10.0,
        lease_seconds: float = 60.0,
        poll_seconds: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        jitter: Callable[[], float] = random.random,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.timeout = timeout_seconds
        # A lease outlives the longest try, so a live worker never loses its event.
        self._lease = timedelta(seconds=max(lease_seconds, timeout_seconds + 5))
        self._poll = poll_seconds
        self.clock = clock
        self._jitter = jitter
        # Made by the first delivery: httpx (~5 MiB resident with what it imports) stays out
        # of every process whose tenants have no subscription (bench/import_memory.py).
        self._client = client
        self._wake = asyncio.Event()
        self._active: bool | None = None  # any enabled subscription? None: ask
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """A subscription changed or an event is waiting: look again now."""
        self._active = None
        self._wake.set()

    def start(self) -> None:
        """Run in the background until `stop`."""
        self._task = asyncio.create_task(self._run(), name="event-delivery")

    async def stop(self) -> None:
        """Stop; an event being sent keeps its lease and is sent again later."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client deliveries are sent with (made on first use)."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    async def _run(self) -> None:
        while True:
            try:
                busy = await self._is_active() and await self.run_once() > 0
            except (SQLAlchemyError, OSError) as exc:
                log.warning("event delivery paused: %s", type(exc).__name__)
                busy = False
            if busy:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)

    async def _is_active(self) -> bool:
        if self._active is None:
            async with self._sessionmaker() as session:
                self._active = bool(
                    await session.scalar(select(exists().where(Subscription.enabled.is_(True))))
                )
        return self._active

    async def run_once(self) -> int:
        """Claim the due events and try each once; returns how many were tried."""
        now = self.clock()
        async for session in session_scope(self._sessionmaker):
            claimed = await claims.claim(session, now=now, lease=self._lease, limit=BATCH)
        if not claimed:
            return 0
        await asyncio.gather(*(self._deliver(one) for one in claimed))
        return len(claimed)

    async def _deliver(self, claimed: claims.Claimed) -> None:
        headers = signed_headers(claimed.message_id, claimed.payload, claimed.secrets, utcnow())
        result = await send(self.client, claimed.url, claimed.payload, headers, self.timeout)
        try:
            async for session in session_scope(self._sessionmaker):
                status = await claims.record(
                    session, claimed, result, now=self.clock(), jitter=self._jitter()
                )
        except SQLAlchemyError as exc:
            # Deleted meanwhile, or the database is away: the lease runs out, it is tried again.
            log.warning("delivery %s not recorded: %s", claimed.id, type(exc).__name__)
            return
        if status != "delivered":
            log.info(
                "event %s to subscription %s: %s (%s)",
                claimed.id,
                claimed.subscription_id,
                status,
                result.error,
            )
