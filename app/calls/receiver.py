"""Receiving a phone system's webhook: verify, record, pop, and answer within the budget.

A phone system waits for our answer while the caller hears ringing, so whatever fails
behind the signature check (a slow or unreachable database, a broker hiccup) the vendor
gets a valid response in time, and the event is kept to be processed when we recover.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls.budget import Budget
from app.calls.deliveries import (
    AdapterDelivery,
    AnswerT,
    Delivery,
    Durable,
    HeldDelivery,
    Recorded,
    Restorer,
)
from app.calls.hot_path import EventRecorder, record_events
from app.calls.pop_publisher import PopPublisher, detached
from app.calls.providers import ProviderDirectory, TenantProvider
from app.calls.routing_cache import RoutingCache
from app.calls.spool import Spool, SpooledRequest
from app.log_privacy import describe_error, mask_numbers
from app.metrics import timing as webhook_timing
from app.metrics.registry import DEAD_LETTERED, HELD, HELD_NOW
from app.screen_pop.hub import ScreenPopHub
from app.screen_pop.schemas import Pop
from app.sources.pops import PopEnricher
from app.telemetry import context, tracing
from telephony_adapters.base import (
    Adapter,
    AdapterConfig,
    AdapterRequest,
    AdapterResponse,
    CallEvent,
    Outcome,
)

log = logging.getLogger("stamgast.webhooks")


class ProviderNotConnected(Exception):
    """The tenant has not connected (or has disabled) this phone system."""


class WebhookReceiver:
    """Turns one vendor request into recorded events, pops and the vendor's response."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        hub: ScreenPopHub,
        directory: ProviderDirectory,
        budget_seconds: float,
        held_limit: int = 10_000,
        spool: Spool | None = None,
        max_attempts: int = 3,
        unverified_limit: int = 1_000,
        restorers: Mapping[str, Restorer] | None = None,
        recorder: EventRecorder | None = None,
        enricher: PopEnricher | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        # Without a recorder of its own: the lifecycle (ORM), routing read once per receiver.
        self._recorder = recorder or EventRecorder(
            sessionmaker=sessionmaker, routes=RoutingCache(sessionmaker), store=None
        )
        self._hub = hub
        self._directory = directory
        self._budget = budget_seconds
        self._held: deque[HeldDelivery] = deque()
        self._held_limit = held_limit
        # Requests kept before their signature could be checked (the tenant's secret was never
        # seen by this process and the database is away), per tenant and provider: a flood
        # of forgeries must not crowd out the real events or grow without bound.
        self._unverified: Counter[tuple[str, str]] = Counter()
        self._unverified_limit = unverified_limit
        self._spilled = False  # some spooled requests wait on disk only (memory was full)
        self._background: set[asyncio.Task[object]] = set()
        self._retry_task: asyncio.Task[None] | None = None
        self._pops = PopPublisher(hub, held_limit)
        self._spool = spool
        self._max_attempts = max_attempts
        self._restorers = dict(restorers or {})
        # Lookup sources: asked after recording, before publishing (app/sources/pops.py).
        self._enricher = enricher

    @property
    def held(self) -> int:
        """How many deliveries wait for the database to come back."""
        return len(self._held)

    @property
    def held_pops(self) -> int:
        """How many pops wait for the broker to come back."""
        return self._pops.held

    async def receive(
        self, adapter: Adapter, provider: str, tenant_slug: str, request: AdapterRequest
    ) -> AdapterResponse:
        """Verify and process; raises ProviderNotConnected or the adapter's errors (4xx)."""
        fallback = AdapterConfig(secret="", public_base_url=self._directory.public_base_url)
        return await self.deliver(
            AdapterDelivery(adapter, provider, tenant_slug, request, fallback)
        )

    async def deliver(self, delivery: Delivery[AnswerT]) -> AnswerT:
        """Find the tenant, authenticate, record, publish and answer within the budget.

        Raises ProviderNotConnected, or whatever `authenticate` raises (the route answers
        4xx); anything failing behind that is answered with `fail_open`, and a delivery
        that could not be recorded is kept and recorded when the database is back.
        """
        webhook_timing.ensure_started()  # a delivery that did not come through the router
        budget = Budget(self._budget)  # one timer for the three steps (app/calls/budget.py)
        context.bind(provider=delivery.provider, tenant=delivery.tenant_slug)
        try:
            return await self._deliver(delivery, budget)
        finally:
            budget.close()

    async def _deliver(self, delivery: Delivery[AnswerT], budget: Budget) -> AnswerT:
        where = f"{delivery.provider}/{delivery.tenant_slug}"
        try:
            # A cached tenant (the usual case) is found without suspending.
            tenant = await budget.bounded(self._find(delivery.tenant_slug, delivery.provider))
        except ProviderNotConnected:
            raise
        except Exception as exc:  # the database is down or slow: answer, keep, retry later
            key = (delivery.tenant_slug, delivery.provider)
            if self._unverified[key] >= self._unverified_limit:
                context.bind(outcome="dropped")
                log.warning(
                    "webhook %s not kept: %d unverified held already", where, self._unverified[key]
                )
                return self._fail_open(delivery, None)
            context.bind(outcome="held")
            log.warning("webhook %s held: %s", where, type(exc).__name__)
            self._unverified[key] += 1
            held = HeldDelivery(delivery, await self._keep(delivery), verified=False)
            self._hold(held)
            return self._fail_open(delivery, None)
        context.bind(tenant_id=tenant.tenant_id)
        delivery.authenticate(tenant)
        # A task of its own, so that the recording goes on when the budget is spent.
        task = asyncio.ensure_future(self._record(tenant, delivery))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        if not await budget.wait(task):
            # The work goes on in the background; the card follows when it is ready. Until
            # it is recorded the request is on disk: a crash now must not lose it.
            context.bind(outcome="over_budget")
            log.warning("webhook %s over budget, answered fail-open", where)
            spool_id = await self._keep(delivery)
            task.add_done_callback(self._settle_late(delivery, spool_id))
            return self._fail_open(delivery, tenant)
        failure = task.exception() if not task.cancelled() else asyncio.CancelledError()
        if failure is not None:
            context.bind(outcome="held")
            log.warning("webhook %s failed (%s), held", where, describe_error(failure))
            self._hold(HeldDelivery(delivery, await self._keep(delivery)))
            return self._fail_open(delivery, tenant)
        try:
            # An answer that needs no I/O finishes even when the budget is spent exactly.
            return await budget.bounded(delivery.answer(tenant, task.result()))
        except TimeoutError:
            context.bind(outcome="fail_open")
            log.warning("webhook %s answer over budget, answered fail-open", where)
        except Exception:
            context.bind(outcome="fail_open")
            log.exception("webhook %s could not build its answer", where)
        return self._fail_open(delivery, tenant)

    async def ingest(self, tenant_slug: str, provider: str, events: list[CallEvent]) -> Outcome:
        """Process events a connector read from a phone system's own stream (AMI, ARI, ESL).

        The connection itself is authenticated; the tenant must still have the provider
        connected (`PUT /v1/providers/<provider>`), which says which tenant the calls are for.
        """
        webhook_timing.start()  # ring-to-pop from the moment the connector read them
        context.bind(provider=provider, tenant=tenant_slug)
        tenant = await self._find(tenant_slug, provider)
        return await self._process(tenant, Recorded(events))

    async def _find(self, tenant_slug: str, provider: str) -> TenantProvider:
        known, found = self._directory.cached(tenant_slug, provider)
        if not known:  # no session at all for a cached answer
            async with self._sessionmaker() as session:
                found = await self._directory.find(session, tenant_slug, provider)
        if found is None or not found.enabled:
            raise ProviderNotConnected(
                f"Provider {provider!r} is not connected for tenant {tenant_slug!r}: "
                f"connect it with PUT /v1/providers/{provider}."
            )
        return found

    async def _record(self, tenant: TenantProvider, delivery: Delivery[Any]) -> Outcome:
        return await self._process(tenant, delivery.record)

    async def _process(
        self,
        tenant: TenantProvider,
        recording: Recorded | Callable[[AsyncSession, TenantProvider], Awaitable[Recorded]],
    ) -> Outcome:
        if isinstance(recording, Recorded):
            recorded = recording
        else:
            # Most deliveries read nothing here (no connection is taken then); one that
            # wrote (3CX turning a call outbound) commits that before its events.
            async with self._sessionmaker() as session:
                recorded = await recording(session, tenant)
                await session.commit()
        with tracing.span("record"):
            outcome, recorded_pops = await record_events(self._recorder, tenant, recorded.events)
        pops = [*recorded.pops, *recorded_pops]
        if self._enricher is not None and pops:
            # The database work is done; a number not known here waits for the tenant's
            # sources at most their deadline, within the webhook's budget (fail-open).
            pops = await self._enricher.enrich(tenant.tenant_id, pops, self.publish)
        # Publish after commit, so an agent acting on the pop finds the rows. The events
        # are recorded now: if the broker is down, the pops wait here, not the events.
        if pops:
            with tracing.span("publish", {"stamgast.pops": len(pops)}):
                for agent_ids, pop in pops:
                    await self.publish(tenant.tenant_id, agent_ids, pop)
        return outcome

    async def publish(self, tenant_id: int, agent_ids: list[int], pop: Pop) -> None:
        """Publish a pop; when the broker is down it is held and published once it is back."""
        await self._pops.publish(tenant_id, agent_ids, pop)

    def _hold(self, delivery: HeldDelivery) -> None:
        HELD.inc()
        if len(self._held) < self._held_limit:
            self._held.append(delivery)
        elif delivery.spool_id is not None:
            self._spilled = True  # on disk; read back once memory has room
        else:
            log.error(
                "webhook %s/%s lost: %d held already and no spool",
                delivery.delivery.provider,
                delivery.delivery.tenant_slug,
                len(self._held),
            )
            self._release(delivery)
        HELD_NOW.set(len(self._held))
        if self._retry_task is None or self._retry_task.done():
            self._retry_task = detached(self._retry_held())

    def _release(self, held: HeldDelivery) -> None:
        if not held.verified:
            key = (held.delivery.tenant_slug, held.delivery.provider)
            self._unverified[key] -= 1
            if self._unverified[key] <= 0:
                del self._unverified[key]

    def _settle_late(
        self, delivery: Delivery[Any], spool_id: int | None
    ) -> Callable[[asyncio.Future[Outcome]], None]:
        """What to do when work answered fail-open finishes: forget it, or hold it."""

        def done(task: asyncio.Future[Outcome]) -> None:
            if task.cancelled() or task.exception() is not None:
                self._hold(HeldDelivery(delivery, spool_id))
            elif spool_id is not None:
                self._spool_done(spool_id)

        return done

    async def _keep(self, delivery: Delivery[Any]) -> int | None:
        """Write a delivery to the durable spool before it is answered; None if we cannot."""
        if self._spool is None or not isinstance(delivery, Durable):
            return None
        try:
            return await asyncio.to_thread(delivery.keep, self._spool)
        except Exception:
            log.exception(
                "webhook %s/%s could not be spooled", delivery.provider, delivery.tenant_slug
            )
            return None

    def _spool_done(self, spool_id: int) -> None:
        if self._spool is None:
            return
        task = asyncio.ensure_future(asyncio.to_thread(self._spool.done, spool_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def start(self) -> None:
        """Take up what an earlier run answered but did not record (killed mid-outage)."""
        if self._spool is None:
            return
        for entry in await asyncio.to_thread(self._spool.pending):
            delivery = self._restore(entry)
            if delivery is None:
                log.warning(
                    "spooled webhook %s for unknown provider %r kept", entry.id, entry.provider
                )
                continue
            self._hold(HeldDelivery(delivery, entry.id, entry.attempts))
        if self._held:
            log.warning("replaying %d webhooks held by an earlier run", len(self._held))

    def _restore(self, entry: SpooledRequest) -> Delivery[Any] | None:
        restorer = self._restorers.get(entry.provider)
        if restorer is not None:
            return restorer(entry)
        fallback = AdapterConfig(secret="", public_base_url=self._directory.public_base_url)
        return AdapterDelivery.restore(entry, fallback)

    @property
    def dead_letters(self) -> int:
        """How many deliveries failed so often that they wait for an admin."""
        return 0 if self._spool is None else self._spool.count_dead()

    def dead_letters_of(self, tenant_slug: str) -> list[SpooledRequest]:
        """A tenant's dead letters, oldest first (blocking: call it in a thread)."""
        return [] if self._spool is None else self._spool.dead(tenant_slug)

    async def retry_dead_letter(self, entry_id: int, tenant_slug: str) -> bool:
        """Queue a dead letter again; False if the tenant has no such one."""
        if self._spool is None:
            return False
        entry = await asyncio.to_thread(self._spool.revive, entry_id, tenant_slug)
        if entry is None:
            return False
        delivery = self._restore(entry)
        if delivery is not None:
            self._hold(HeldDelivery(delivery, entry.id))
        return True

    async def drop_dead_letter(self, entry_id: int, tenant_slug: str) -> bool:
        """Delete a dead letter for good; False if the tenant has no such one."""
        if self._spool is None:
            return False
        return await asyncio.to_thread(self._spool.drop, entry_id, tenant_slug)

    def _fail_open(self, delivery: Delivery[AnswerT], tenant: TenantProvider | None) -> AnswerT:
        timing = webhook_timing.CURRENT.get()
        if timing is not None:
            timing.fail_open = True  # the router counts the webhook under fail_open
        return delivery.fail_open(tenant)

    async def _retry_held(self) -> None:
        """Record held deliveries once the database answers again, oldest first.

        One that keeps failing while the database is up (a poison event) goes to the dead
        letters after `max_attempts`, so it never blocks the ones behind it.
        """
        # Held pops are published long after their webhook: not a ring-to-pop figure.
        webhook_timing.CURRENT.set(None)
        delay = 0.5
        while self._held:
            held = self._held[0]
            delivery = held.delivery
            try:
                tenant = await self._find(delivery.tenant_slug, delivery.provider)
            except ProviderNotConnected:
                self._forget(held)  # nothing to do for it: drop it
                continue
            except Exception:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            try:
                delivery.authenticate(tenant)
            except Exception as exc:  # no I/O in there: a refusal, never an outage
                log.warning(
                    "held webhook %s/%s refused on retry: %s",
                    delivery.provider,
                    delivery.tenant_slug,
                    mask_numbers(getattr(exc, "message", type(exc).__name__)),
                )
                self._forget(held)
                continue
            try:
                await self._record(tenant, delivery)
            except Exception as exc:
                if await self._database_answers():
                    await self._count_failure(held, exc)
                    if held.attempts >= self._max_attempts:
                        await self._bury(held, exc)
                        continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self._forget(held)
            delay = 0.5
            if not self._held and self._spilled:
                self._spilled = False
                await self.start()  # what waited on disk only comes back into memory

    def _forget(self, held: HeldDelivery) -> None:
        self._held.popleft()
        HELD_NOW.set(len(self._held))
        self._release(held)
        if held.spool_id is not None:
            self._spool_done(held.spool_id)

    async def _count_failure(self, held: HeldDelivery, exc: Exception) -> None:
        # Counted on disk too: a process that crashes on it every time still gives up.
        if self._spool is not None and held.spool_id is not None:
            reason = describe_error(exc)
            held.attempts = await asyncio.to_thread(self._spool.failed, held.spool_id, reason)
        else:
            held.attempts += 1

    async def _bury(self, held: HeldDelivery, exc: Exception) -> None:
        self._held.popleft()
        HELD_NOW.set(len(self._held))
        DEAD_LETTERED.inc()
        self._release(held)
        reason = describe_error(exc)[:500]
        log.error(
            "webhook %s/%s failed %d times with the database up: moved to the dead letters (%s)",
            held.delivery.provider, held.delivery.tenant_slug, held.attempts, type(exc).__name__,
        )  # fmt: skip
        if self._spool is not None and held.spool_id is not None:
            await asyncio.to_thread(self._spool.bury, held.spool_id, reason)

    async def _database_answers(self) -> bool:
        try:
            async with self._sessionmaker() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def stop(self) -> None:
        """Let in-flight processing finish (briefly) and stop retrying."""
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        if self._enricher is not None:
            await self._enricher.stop()
        self._pops.stop()
        if self._retry_task is not None:
            self._retry_task.cancel()
