"""Receiving a phone system's webhook: verify, record, pop, and answer within the budget.

A phone system waits for our answer while the caller hears ringing, so whatever fails
behind the signature check (a slow or unreachable database, a broker hiccup) the vendor
gets a valid response in time, and the event is kept to be processed when we recover.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls.lifecycle import handle_event
from app.calls.providers import ProviderDirectory, TenantProvider
from app.models import utcnow
from app.screen_pop.hub import ScreenPopHub
from app.screen_pop.schemas import Pop
from telephony_adapters.base import (
    Adapter,
    AdapterConfig,
    AdapterError,
    AdapterRequest,
    AdapterResponse,
    CallEvent,
    Outcome,
)

log = logging.getLogger("stamgast.webhooks")


class ProviderNotConnected(Exception):
    """The tenant has not connected (or has disabled) this phone system."""


@dataclass(frozen=True, slots=True)
class HeldDelivery:
    """A webhook we answered but could not process yet (the database was down)."""

    adapter: Adapter
    provider: str
    tenant_slug: str
    request: AdapterRequest
    received_at: datetime


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
    ) -> None:
        self._sessionmaker = sessionmaker
        self._hub = hub
        self._directory = directory
        self._budget = budget_seconds
        self._held: deque[HeldDelivery] = deque(maxlen=held_limit)
        self._background: set[asyncio.Task[object]] = set()
        self._retry_task: asyncio.Task[None] | None = None
        self._held_pops: deque[tuple[int, list[int], Pop]] = deque(maxlen=held_limit)
        self._pop_retry_task: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        """How many deliveries wait for the database to come back."""
        return len(self._held)

    @property
    def held_pops(self) -> int:
        """How many pops wait for the broker to come back."""
        return len(self._held_pops)

    async def receive(
        self, adapter: Adapter, provider: str, tenant_slug: str, request: AdapterRequest
    ) -> AdapterResponse:
        """Verify and process; raises ProviderNotConnected or the adapter's errors (4xx)."""
        started = time.monotonic()
        received_at = utcnow()
        try:
            tenant = await asyncio.wait_for(self._find(tenant_slug, provider), self._budget)
        except ProviderNotConnected:
            raise
        except Exception as exc:  # the database is down or slow: answer, keep, retry later
            log.warning("webhook %s/%s held: %s", provider, tenant_slug, type(exc).__name__)
            self._hold(HeldDelivery(adapter, provider, tenant_slug, request, received_at))
            fallback = AdapterConfig(secret="", public_base_url=self._directory.public_base_url)
            return _safe_fail_open(adapter, request, fallback)
        events = adapter.parse(request, tenant.config, now=received_at)
        task = asyncio.ensure_future(self._process(tenant, events))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        remaining = max(0.0, self._budget - (time.monotonic() - started))
        try:
            outcome = await asyncio.wait_for(asyncio.shield(task), remaining)
        except TimeoutError:
            # The work goes on in the background; the card follows when it is ready.
            log.warning("webhook %s/%s over budget, answered fail-open", provider, tenant_slug)
            task.add_done_callback(
                self._hold_on_failure(adapter, provider, tenant_slug, request, received_at)
            )
            return _safe_fail_open(adapter, request, tenant.config)
        except Exception as exc:
            log.warning("webhook %s/%s failed (%s), held", provider, tenant_slug, exc)
            self._hold(HeldDelivery(adapter, provider, tenant_slug, request, received_at))
            return _safe_fail_open(adapter, request, tenant.config)
        try:
            return adapter.respond(request, tenant.config, events, outcome)
        except Exception:
            log.exception("adapter %s could not build its response", provider)
            return _safe_fail_open(adapter, request, tenant.config)

    async def ingest(self, tenant_slug: str, provider: str, events: list[CallEvent]) -> Outcome:
        """Process events a connector read from a phone system's own stream (AMI, ARI, ESL).

        The connection itself is authenticated; the tenant must still have the provider
        connected (`PUT /v1/providers/<provider>`), which says which tenant the calls are for.
        """
        tenant = await self._find(tenant_slug, provider)
        return await self._process(tenant, events)

    async def _find(self, tenant_slug: str, provider: str) -> TenantProvider:
        async with self._sessionmaker() as session:
            found = await self._directory.find(session, tenant_slug, provider)
        if found is None or not found.enabled:
            raise ProviderNotConnected(
                f"Provider {provider!r} is not connected for tenant {tenant_slug!r}: "
                f"connect it with PUT /v1/providers/{provider}."
            )
        return found

    async def _process(self, tenant: TenantProvider, events: list[CallEvent]) -> Outcome:
        outcome = Outcome()
        pops = []
        async with self._sessionmaker() as session:
            for event in events:
                result = await handle_event(session, tenant=tenant, event=event)
                pops.extend(result.pops)
                if result.outcome.recognised_name is not None or not result.duplicate:
                    outcome = result.outcome
            await session.commit()
        # Publish after commit, so an agent acting on the pop finds the rows. The events
        # are recorded now: if the broker is down, the pops wait here, not the events.
        for agent_ids, pop in pops:
            try:
                await self._hub.publish(tenant.tenant_id, agent_ids, pop)
            except Exception as exc:
                log.warning("pop %s held, broker unavailable: %s", pop.pop_id, exc)
                self._hold_pop(tenant.tenant_id, agent_ids, pop)
        return outcome

    def _hold_pop(self, tenant_id: int, agent_ids: list[int], pop: Pop) -> None:
        self._held_pops.append((tenant_id, agent_ids, pop))
        if self._pop_retry_task is None or self._pop_retry_task.done():
            self._pop_retry_task = asyncio.create_task(self._retry_pops())

    async def _retry_pops(self) -> None:
        """Publish held pops, oldest first, once the broker answers again."""
        delay = 0.2
        while self._held_pops:
            tenant_id, agent_ids, pop = self._held_pops[0]
            try:
                await self._hub.publish(tenant_id, agent_ids, pop)
            except Exception:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._held_pops.popleft()
            delay = 0.2

    def _hold(self, delivery: HeldDelivery) -> None:
        self._held.append(delivery)
        if self._retry_task is None or self._retry_task.done():
            self._retry_task = asyncio.create_task(self._retry_held())

    def _hold_on_failure(
        self,
        adapter: Adapter,
        provider: str,
        slug: str,
        request: AdapterRequest,
        received_at: datetime,
    ) -> Callable[[asyncio.Future[Outcome]], None]:
        def done(task: asyncio.Future[Outcome]) -> None:
            if not task.cancelled() and task.exception() is not None:
                self._hold(HeldDelivery(adapter, provider, slug, request, received_at))

        return done

    async def _retry_held(self) -> None:
        """Process held deliveries once the database answers again, oldest first."""
        delay = 0.5
        while self._held:
            delivery = self._held[0]
            try:
                tenant = await self._find(delivery.tenant_slug, delivery.provider)
                events = delivery.adapter.parse(
                    delivery.request, tenant.config, now=delivery.received_at
                )
                await self._process(tenant, events)
            except ProviderNotConnected:
                pass  # nothing to do for it: drop it
            except AdapterError as exc:
                log.warning("held webhook refused on retry: %s", exc.message)
            except Exception:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self._held.popleft()
            delay = 0.5

    async def stop(self) -> None:
        """Let in-flight processing finish (briefly) and stop retrying."""
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        for task in (self._retry_task, self._pop_retry_task):
            if task is not None:
                task.cancel()


def _safe_fail_open(
    adapter: Adapter, request: AdapterRequest, config: AdapterConfig
) -> AdapterResponse:
    try:
        return adapter.fail_open(request, config)
    except Exception:  # an adapter bug must still not reach the phone system
        log.exception("adapter %s fail_open raised", adapter.name)
        return AdapterResponse(status_code=200, media_type="text/plain", body=b"")
