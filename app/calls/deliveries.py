"""What the receiver takes in: a phone system's request (a `Delivery`), what recording it
wrote (`Recorded`), and one held for later (`HeldDelivery`). A vendor webhook is an
`AdapterDelivery`; integrations with their own endpoint shape (3CX) bring their own."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.providers import TenantProvider
from app.calls.spool import Spool, SpooledRequest
from app.models import utcnow
from app.screen_pop.schemas import Pop
from telephony_adapters.base import (
    Adapter,
    AdapterConfig,
    AdapterRequest,
    AdapterResponse,
    CallEvent,
    Outcome,
)
from telephony_adapters.registry import get_adapter

log = logging.getLogger("stamgast.webhooks")


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


@runtime_checkable
class Durable(Protocol):
    """A delivery that can be written to the durable spool as it was received."""

    def keep(self, spool: Spool) -> int:
        """Write it to the spool; returns its spool id."""
        ...


# Rebuilds a spooled request of one provider (3CX's own endpoints); vendor webhooks are
# rebuilt by `AdapterDelivery.restore`.
Restorer = Callable[[SpooledRequest], "Delivery[Any] | None"]


@dataclass(slots=True)
class HeldDelivery:
    """A delivery we answered but could not record yet (the database was down)."""

    delivery: Delivery[Any]
    spool_id: int | None = None  # its row in the durable spool, when it could be written
    attempts: int = 0  # failures while the database was up (a poison event counts these)
    verified: bool = True  # its signature was checked before it was kept

    @property
    def received_at(self) -> datetime:
        """When the phone system sent it."""
        return self.delivery.received_at


class AdapterDelivery:
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

    def keep(self, spool: Spool) -> int:
        """Write the request, as the vendor sent it, to the durable spool."""
        return spool.add(
            provider=self.provider,
            tenant_slug=self.tenant_slug,
            method=self.request.method,
            url=self.request.url,
            headers=self.request.headers,
            body=self.request.body,
            received_at=self.received_at,
        )

    @classmethod
    def restore(cls, entry: SpooledRequest, fallback: AdapterConfig) -> AdapterDelivery | None:
        """The delivery a spooled request stands for; None if its adapter is gone."""
        adapter = get_adapter(entry.provider)
        if adapter is None:
            return None
        request = AdapterRequest(entry.method, entry.url, dict(entry.headers), entry.body)
        delivery = cls(adapter, entry.provider, entry.tenant_slug, request, fallback)
        delivery.received_at = entry.received_at
        return delivery


def _safe_fail_open(
    adapter: Adapter, request: AdapterRequest, config: AdapterConfig
) -> AdapterResponse:
    try:
        return adapter.fail_open(request, config)
    except Exception:  # an adapter bug must still not reach the phone system
        log.exception("adapter %s fail_open raised", adapter.name)
        return AdapterResponse(status_code=200, media_type="text/plain", body=b"")
