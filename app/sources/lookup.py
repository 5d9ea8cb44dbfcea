"""Asking a tenant's sources about a number: all at once, under one deadline.

What answers within the deadline goes on the card at once; the rest keeps running (each
source bounded by its own timeout) and is handed back to update the card when it comes.
A source that fails is skipped and counted; after a few failures in a row it is not
asked for a while (so a dead CRM costs nothing per call), then tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.log_privacy import describe_error
from app.metrics.registry import SOURCE_FAILURES, SOURCE_SECONDS
from app.models import LookupSource
from app.phone import PhoneNumber
from app.screen_pop.broker import INVALIDATE_ALL, InvalidationHandler
from app.sources.base import Source, SourceError, SourceRecord, SourceUnreachable
from app.sources.cache import ResultCache
from app.sources.registry import build

log = logging.getLogger("stamgast.sources")

# A tenant's list of sources is read once and kept; changes through the API are announced
# (`sources:<tenant id>`) and forget it in every process, this TTL bounds the rest.
LIST_SECONDS = 300.0
FAILURES_TO_PAUSE = 3  # failures in a row before a source is paused
PAUSE_SECONDS = 30.0
MAX_TIMEOUT_SECONDS = 30.0  # a source's longest timeout (schemas: timeout_ms le=30_000)
MAX_IN_FLIGHT = 50  # queries one source may have open; beyond that, skipped (it is slow)


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Which source an answer came from."""

    id: int
    tenant_id: int
    name: str
    kind: str
    version: str
    timeout: float
    ttl: float


@dataclass(slots=True)
class SourceHealth:
    """How a source has been answering (shown in /readyz and on its test)."""

    queries: int = 0
    failures: int = 0
    skipped: int = 0
    in_a_row: int = 0
    paused_until: float = 0.0
    last_error: str | None = None
    in_flight: int = 0


@dataclass(slots=True)
class Configured:
    """A tenant's source, built and ready."""

    ref: SourceRef
    source: Source
    health: SourceHealth = field(default_factory=SourceHealth)


@dataclass(frozen=True, slots=True)
class Found:
    """What one source has for the number (an empty list: nobody)."""

    ref: SourceRef
    records: list[SourceRecord]


@dataclass(slots=True)
class Asked:
    """Answers in time, and the queries still running (each ends within its timeout)."""

    found: list[Found]
    later: list[asyncio.Future[Found | None]]


class SourceLookups:
    """Every tenant's sources in this process, with their answers cached."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, deadline_seconds: float
    ) -> None:
        self._sessionmaker = sessionmaker
        self.deadline = deadline_seconds
        self._tenants: dict[int, tuple[float, list[Configured]]] = {}
        self._generation = 0
        self._cache = ResultCache()
        self._retired: list[Source] = []
        self._reading: dict[int, asyncio.Lock] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def configured(
        self, tenant_id: int, session: AsyncSession | None = None
    ) -> list[Configured]:
        """The tenant's enabled sources, from memory when known (one query otherwise, in
        `session` when the caller holds one: SQLite's pool has a single connection)."""
        kept = self._tenants.get(tenant_id)
        if kept is not None and time.monotonic() - kept[0] < LIST_SECONDS:
            return kept[1]
        # One read per tenant at a time: the first calls of a burst share it.
        lock = self._reading.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            kept = self._tenants.get(tenant_id)
            if kept is not None and time.monotonic() - kept[0] < LIST_SECONDS:
                return kept[1]
            return await self._read(tenant_id, kept, session)

    async def _read(
        self,
        tenant_id: int,
        kept: tuple[float, list[Configured]] | None,
        session: AsyncSession | None,
    ) -> list[Configured]:
        now = time.monotonic()
        generation = self._generation
        query = (
            select(LookupSource)
            .where(LookupSource.tenant_id == tenant_id, LookupSource.enabled.is_(True))
            .order_by(LookupSource.id)
        )
        if session is not None:
            rows = (await session.scalars(query)).all()
        else:
            async with self._sessionmaker() as own:
                rows = (await own.scalars(query)).all()
        previous = {c.ref.id: c for c in (kept[1] if kept else [])}
        built = [self._build(row, previous.get(row.id)) for row in rows]
        sources = [c for c in built if c is not None]
        for old in previous.values():
            if all(c is not old for c in sources):
                self._retire(old.source)
        if generation == self._generation:
            self._tenants[tenant_id] = (now, sources)
        return sources

    def _build(self, row: LookupSource, previous: Configured | None) -> Configured | None:
        version = row.updated_at.isoformat()
        if previous is not None and previous.ref.version == version:
            return previous  # unchanged: keep its connections and its health
        try:
            source = build(row)
        except Exception as exc:  # a kind this version cannot ask, a config edited by hand
            log.warning("source %s of tenant %s cannot be used: %s", row.name, row.tenant_id, exc)
            return None
        ref = SourceRef(
            row.id, row.tenant_id, row.name, row.kind, version,
            row.timeout_ms / 1000, float(row.cache_seconds),
        )  # fmt: skip
        return Configured(ref, source)

    def forget(self, tenant_id: int) -> None:
        """The tenant's sources changed: read them again on the next call."""
        self._generation += 1
        kept = self._tenants.pop(tenant_id, None)
        for configured in kept[1] if kept else []:
            self._cache.forget_source(configured.ref.id)
            self._retire(configured.source)

    def _retire(self, source: Source) -> None:
        """Close a replaced source once queries still running on it have ended."""
        self._retired.append(source)
        try:
            task = asyncio.get_running_loop().create_task(self._close_later(source))
        except RuntimeError:  # no loop (a test's teardown): closed by `close`
            return
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_later(self, source: Source) -> None:
        await asyncio.sleep(MAX_TIMEOUT_SECONDS + 1)
        if source in self._retired:
            self._retired.remove(source)
            with contextlib.suppress(Exception):
                await source.close()

    def expire_all(self) -> None:
        """Changes may have been missed: read every tenant's sources again."""
        self._generation += 1
        self._tenants = {t: (-LIST_SECONDS, c) for t, (_, c) in self._tenants.items()}

    async def ask(
        self,
        tenant_id: int,
        number: PhoneNumber,
        *,
        deadline: float | None = None,
        session: AsyncSession | None = None,
    ) -> Asked:
        """Ask every enabled source; wait at most `deadline` (the setting by default)."""
        if number.e164 is None:
            return Asked([], [])
        found: list[Found] = []
        running: dict[asyncio.Task[list[SourceRecord]], SourceRef] = {}
        for configured in await self.configured(tenant_id, session):
            ref = configured.ref
            key = (ref.id, ref.version, number.e164)
            kept = self._cache.get(key)
            if kept is not None:
                found.append(Found(ref, kept))
                continue
            if not self._may_ask(configured):
                continue
            task = self._cache.task(key, ref.ttl, partial(self._query, configured, number))
            task.add_done_callback(_retrieve)
            running[task] = ref
        if running:
            done, _ = await asyncio.wait(
                running, timeout=self.deadline if deadline is None else deadline
            )
            for task in done:
                if not task.cancelled() and task.exception() is None:
                    found.append(Found(running[task], task.result()))
        later = [_found_later(task, ref) for task, ref in running.items() if not task.done()]
        order = {ref.id: i for i, ref in enumerate(running.values())}
        found.sort(key=lambda f: order.get(f.ref.id, -1))
        return Asked(found, later)

    def _may_ask(self, configured: Configured) -> bool:
        health = configured.health
        if health.paused_until > time.monotonic() or health.in_flight >= MAX_IN_FLIGHT:
            health.skipped += 1
            return False
        return True

    async def _query(self, configured: Configured, number: PhoneNumber) -> list[SourceRecord]:
        health = configured.health
        health.queries += 1
        health.in_flight += 1
        kind, started = configured.ref.kind, time.perf_counter()
        try:
            records = await asyncio.wait_for(
                configured.source.lookup(number), configured.ref.timeout
            )
        except Exception as exc:
            SOURCE_SECONDS.labels(kind).observe(time.perf_counter() - started)
            SOURCE_FAILURES.labels(
                kind, "timeout" if isinstance(exc, TimeoutError) else "error"
            ).inc()
            health.failures += 1
            health.in_a_row += 1
            if isinstance(exc, TimeoutError):
                exc = SourceUnreachable(f"no answer within {configured.ref.timeout:g} s")
            health.last_error = str(exc) if isinstance(exc, SourceError) else describe_error(exc)
            # Logged when it starts failing and when it is paused, not for every call.
            if health.in_a_row == 1:
                log.warning("source %s failed: %s", configured.ref.name, health.last_error)
            if health.in_a_row >= FAILURES_TO_PAUSE and health.paused_until <= time.monotonic():
                health.paused_until = time.monotonic() + PAUSE_SECONDS
                log.warning(
                    "source %s paused for %g s after %d failures in a row",
                    configured.ref.name, PAUSE_SECONDS, health.in_a_row,
                )  # fmt: skip
            raise
        finally:
            health.in_flight -= 1
        SOURCE_SECONDS.labels(kind).observe(time.perf_counter() - started)
        health.in_a_row = 0
        health.paused_until = 0.0
        return records

    async def ask_one(self, configured: Configured, number: PhoneNumber) -> list[SourceRecord]:
        """Ask one source now, past its cache (for `POST /v1/sources/{id}/test`)."""
        return await self._query(configured, number)

    def problems(self) -> dict[str, str]:
        """Sources whose last query failed, for /readyz (they never make it fail)."""
        shown: dict[str, str] = {}
        for tenant_id, (_, sources) in self._tenants.items():
            for configured in sources:
                health = configured.health
                if health.in_a_row:
                    paused = " (paused)" if health.paused_until > time.monotonic() else ""
                    shown[f"source:{tenant_id}/{configured.ref.name}"] = (
                        f"failing{paused}: {health.failures} of {health.queries} queries "
                        f"failed, {health.skipped} skipped; last: {health.last_error}"
                    )
        return shown

    async def close(self) -> None:
        """Close every source's connections."""
        for task in list(self._closing):
            task.cancel()
        sources = [c.source for _, kept in self._tenants.values() for c in kept]
        for source in [*sources, *self._retired]:
            try:
                await source.close()
            except Exception:
                log.exception("closing a source failed")
        self._tenants.clear()
        self._retired.clear()


def _retrieve(task: asyncio.Future[list[SourceRecord]]) -> None:
    """Failures are counted in _query; reading them here keeps asyncio from logging each."""
    if not task.cancelled():
        task.exception()


def _found_later(
    task: asyncio.Future[list[SourceRecord]], ref: SourceRef
) -> asyncio.Future[Found | None]:
    async def wait() -> Found | None:
        try:
            return Found(ref, await asyncio.shield(task))
        except Exception:
            return None

    return asyncio.ensure_future(wait())


def changed_message(tenant_id: int) -> str:
    """The invalidation that makes every process read a tenant's sources again."""
    return f"sources:{tenant_id}"


def listener(lookups: SourceLookups) -> InvalidationHandler:
    """Forget a tenant's sources when any process announces they changed."""

    def on_invalidation(message: str) -> None:
        if message == INVALIDATE_ALL:
            lookups.expire_all()
            return
        kind, _, rest = message.partition(":")
        if kind == "sources" and rest.isdigit():
            lookups.forget(int(rest))

    return on_invalidation
