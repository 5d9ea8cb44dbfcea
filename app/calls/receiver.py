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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls.lifecycle import handle_event
from app.calls.providers import ProviderDirectory, TenantProvider
from app.log_privacy import describe_error, mask_numbers
from app.models import utcnow
from app.screen_pop.hub import ScreenPopHub
from app.screen_pop.schemas import Pop
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


Pops = list[tuple[list[int], Pop]]
AnswerT = TypeVar("AnswerT")
AnswerT_co = TypeVar("AnswerT_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a delivery wrote in the receiver's transaction: events for the call lifecycle,
    and the pops of rows it wrote itself (published after the commit, held if need be)."""

    events: Sequence[CallEvent]
    pops: Pops = field(default_factory=list)


class Delivery(Protocol[AnswerT_co]):
    """One request from a phone system, as the receiver takes it in.

    A vendor webhook (`receive`) and an integration with its own endpoint shape (3CX's
    lookup and call report) both come in as a Delivery: the receiver finds the tenant,
    lets the delivery authenticate, records it, publishes its pops and answers within
    the budget, or answers `fail_open` and keeps the delivery until it can be recorded.
    """

    provider: str
    tenant_slug: str
    received_at: datetime

    def authenticate(self, tenant: TenantProvider) -> None:
        """Check the request is the tenant's and readable; no I/O. Raises to refuse it."""
        ...

    async def record(self, session: AsyncSession, tenant: TenantProvider) -> Recorded:
        """The events to run through the call lifecycle (may read the tenant's rows)."""
        ...

    async def answer(self, tenant: TenantProvider, outcome: Outcome) -> AnswerT_co:
        """The vendor's answer once recorded; the receiver bounds it by the budget."""
        ...

    def fail_open(self, tenant: TenantProvider | None) -> AnswerT_co:
        """A valid answer when anything behind us failed or is late; never raises."""
        ...


@dataclass(frozen=True, slots=True)
class HeldDelivery:
    """A delivery we answered but could not record yet (the database was down)."""

    delivery: Delivery[Any]

    @property
    def received_at(self) -> datetime:
        """When the phone system sent it."""
        return self.delivery.received_at


class _AdapterDelivery:
    """A vendor webhook: the adapter verifies and parses it, and builds the answers."""

    def __init__(
        self,
        adapter: Adapter,
        provider: str,
        tenant_slug: str,
        request: AdapterRequest,
        fallback: AdapterConfig,
    ) -> None:
        self.adapter = adapter
        self.provider = provider
        self.tenant_slug = tenant_slug
        self.request = request
        self.received_at = utcnow()
        self._events: list[CallEvent] = []
        self._fallback = fallback  # answers fail-open before the tenant's config is known

    def authenticate(self, tenant: TenantProvider) -> None:
        self._events = self.adapter.parse(self.request, tenant.config, now=self.received_at)

    async def record(self, session: AsyncSession, tenant: TenantProvider) -> Recorded:
        return Recorded(self._events)

    async def answer(self, tenant: TenantProvider, outcome: Outcome) -> AdapterResponse:
        return self.adapter.respond(self.request, tenant.config, self._events, outcome)

    def fail_open(self, tenant: TenantProvider | None) -> AdapterResponse:
        config = tenant.config if tenant is not None else self._fallback
        return _safe_fail_open(self.adapter, self.request, config)


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
        fallback = AdapterConfig(secret="", public_base_url=self._directory.public_base_url)
        return await self.deliver(
            _AdapterDelivery(adapter, provider, tenant_slug, request, fallback)
        )

    async def deliver(self, delivery: Delivery[AnswerT]) -> AnswerT:
        """Find the tenant, authenticate, record, publish and answer within the budget.

        Raises ProviderNotConnected, or whatever `authenticate` raises (the route answers
        4xx); anything failing behind that is answered with `fail_open`, and a delivery
        that could not be recorded is kept and recorded when the database is back.
        """
        started = time.monotonic()
        where = f"{delivery.provider}/{delivery.tenant_slug}"
        try:
            tenant = await asyncio.wait_for(
                self._find(delivery.tenant_slug, delivery.provider), self._budget
            )
        except ProviderNotConnected:
            raise
        except Exception as exc:  # the database is down or slow: answer, keep, retry later
            log.warning("webhook %s held: %s", where, type(exc).__name__)
            self._hold(HeldDelivery(delivery))
            return self._fail_open(delivery, None)
        delivery.authenticate(tenant)
        task = asyncio.ensure_future(self._record(tenant, delivery))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        try:
            outcome = await asyncio.wait_for(asyncio.shield(task), self._left(started))
        except TimeoutError:
            # The work goes on in the background; the card follows when it is ready.
            log.warning("webhook %s over budget, answered fail-open", where)
            task.add_done_callback(self._hold_on_failure(delivery))
            return self._fail_open(delivery, tenant)
        except Exception as exc:
            log.warning("webhook %s failed (%s), held", where, describe_error(exc))
            self._hold(HeldDelivery(delivery))
            return self._fail_open(delivery, tenant)
        answering = asyncio.ensure_future(delivery.answer(tenant, outcome))
        # asyncio.wait (not wait_for) lets an answer that needs no I/O finish even when
        # the budget is spent exactly.
        await asyncio.wait({answering}, timeout=self._left(started))
        if not answering.done():
            answering.cancel()
            log.warning("webhook %s answer over budget, answered fail-open", where)
            return self._fail_open(delivery, tenant)
        if answering.exception() is not None:
            log.error(
                "webhook %s could not build its answer", where, exc_info=answering.exception()
            )
            return self._fail_open(delivery, tenant)
        return answering.result()

    def _left(self, started: float) -> float:
        return max(0.0, self._budget - (time.monotonic() - started))

    async def ingest(self, tenant_slug: str, provider: str, events: list[CallEvent]) -> Outcome:
        """Process events a connector read from a phone system's own stream (AMI, ARI, ESL).

        The connection itself is authenticated; the tenant must still have the provider
        connected (`PUT /v1/providers/<provider>`), which says which tenant the calls are for.
        """
        tenant = await self._find(tenant_slug, provider)
        return await self._process(tenant, Recorded(events))

    async def _find(self, tenant_slug: str, provider: str) -> TenantProvider:
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
        outcome = Outcome()
        async with self._sessionmaker() as session:
            if isinstance(recording, Recorded):
                recorded = recording
            else:
                recorded = await recording(session, tenant)
            pops = list(recorded.pops)
            for event in recorded.events:
                result = await handle_event(session, tenant=tenant, event=event)
                pops.extend(result.pops)
                if result.outcome.recognised_name is not None or not result.duplicate:
                    outcome = result.outcome
            await session.commit()
        # Publish after commit, so an agent acting on the pop finds the rows. The events
        # are recorded now: if the broker is down, the pops wait here, not the events.
        for agent_ids, pop in pops:
            await self.publish(tenant.tenant_id, agent_ids, pop)
        return outcome

    async def publish(self, tenant_id: int, agent_ids: list[int], pop: Pop) -> None:
        """Publish a pop; when the broker is down it is held and published once it is back."""
        try:
            await self._hub.publish(tenant_id, agent_ids, pop)
        except Exception as exc:
            log.warning("pop %s held, broker unavailable: %s", pop.pop_id, exc)
            self._hold_pop(tenant_id, agent_ids, pop)

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
        self, delivery: Delivery[Any]
    ) -> Callable[[asyncio.Future[Outcome]], None]:
        def done(task: asyncio.Future[Outcome]) -> None:
            if not task.cancelled() and task.exception() is not None:
                self._hold(HeldDelivery(delivery))

        return done

    def _fail_open(self, delivery: Delivery[AnswerT], tenant: TenantProvider | None) -> AnswerT:
        return delivery.fail_open(tenant)

    async def _retry_held(self) -> None:
        """Record held deliveries once the database answers again, oldest first."""
        delay = 0.5
        while self._held:
            delivery = self._held[0].delivery
            try:
                tenant = await self._find(delivery.tenant_slug, delivery.provider)
            except ProviderNotConnected:
                self._held.popleft()  # nothing to do for it: drop it
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
                self._held.popleft()
                continue
            try:
                await self._record(tenant, delivery)
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
