"""Calls whose final event never came (a lost webhook, a PBX restart) are closed after a while.

Without it such a call stays ringing forever: no interaction, no callback request, and an
agent's card that never closes. A stale call is finished through the same state machine as a
vendor's hangup, so a missed inbound call still gets its callback request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls.lifecycle import handle_event
from app.calls.providers import TenantProvider
from app.models import Call, Tenant, utcnow
from app.phone import ExtensionPlan, ExtensionPlanError
from app.screen_pop.hub import ScreenPopHub
from app.screen_pop.schemas import Pop
from telephony_adapters.base import AdapterConfig, CallEvent, Direction, EventKind

log = logging.getLogger("stamgast.calls")

# Enough for any backlog after an outage, small enough that one sweep is one short transaction.
_BATCH = 200


async def close_stale_calls(
    session: AsyncSession,
    *,
    now: datetime,
    ringing_after: timedelta,
    answered_after: timedelta,
) -> list[tuple[int, list[int], Pop]]:
    """Finish calls without a final event; returns the pops to publish after commit."""
    rows = (
        await session.execute(
            select(Call, Tenant)
            .join(Tenant, Tenant.id == Call.tenant_id)
            .where(
                or_(
                    and_(Call.state == "ringing", Call.started_at < now - ringing_after),
                    and_(Call.state == "answered", Call.started_at < now - answered_after),
                )
            )
            .order_by(Call.started_at)
            .limit(_BATCH)
        )
    ).all()
    pops: list[tuple[int, list[int], Pop]] = []
    for call, tenant in rows:
        result = await handle_event(
            session, tenant=_tenant_view(tenant), event=_lost_final_event(call)
        )
        pops.extend((call.tenant_id, agents, pop) for agents, pop in result.pops)
        log.info("call %s closed without a final event (%s)", call.id, call.state)
    return pops


def _lost_final_event(call: Call) -> CallEvent:
    # The last moment we know of, not the sweep's: a missed call is shown at the time it rang,
    # and an answered call's unknown length is not stretched to the timeout.
    return CallEvent(
        provider=call.provider,
        call_id=call.provider_call_id,
        kind=EventKind.ENDED,
        from_raw=call.from_e164 or "anonymous",
        to_raw=call.to_e164 or "",
        direction=Direction(call.direction),
        occurred_at=call.answered_at or call.started_at,
    )


def _tenant_view(tenant: Tenant) -> TenantProvider:
    try:
        plan = ExtensionPlan.parse(tenant.extension_plan)
    except ExtensionPlanError:
        plan = None
    return TenantProvider(
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        region=tenant.default_region,
        timezone=tenant.timezone,
        enabled=True,
        config=AdapterConfig(secret=""),
        extensions=plan,
    )


async def sweep_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    hub: ScreenPopHub,
    *,
    interval: float,
    ringing_after: timedelta,
    answered_after: timedelta,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Close stale calls every `interval` seconds until cancelled; never raises."""
    while True:
        await asyncio.sleep(interval)
        try:
            async with sessionmaker() as session:
                pops = await close_stale_calls(
                    session, now=clock(), ringing_after=ringing_after, answered_after=answered_after
                )
                await session.commit()
            for tenant_id, agent_ids, pop in pops:
                await hub.publish(tenant_id, agent_ids, pop)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: the next sweep tries again
            log.warning("closing stale calls failed: %s", type(exc).__name__)
