"""Overdue callbacks are escalated once: a notice to the team of the line the call came in on,
and an outbound `callback.overdue` event.

Every process runs `escalate_forever`. Each request is claimed by one UPDATE that sets
`escalated_at` where it is still null: on PostgreSQL a second process's UPDATE waits for the
first's row lock, then re-checks `escalated_at IS NULL`, finds it set and skips the row; on
SQLite writers take turns. So however many processes sweep, a request escalates once. The
outbox row is written in the transaction of the claim; the notice is published after commit
(a crash in between loses the notice, never the event, and never escalates twice).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.calls.hot_path import PreparedPop
from app.calls.routing_cache import RoutingCache
from app.models import Call, CallbackRequest, Line, utcnow
from app.screen_pop.hub import ScreenPopHub
from app.subscriptions import events as outbound_events
from app.subscriptions.outbox import emit

log = logging.getLogger("stamgast.callbacks")

OVERDUE = "callback.overdue"
# One sweep is one short transaction; a backlog after an outage takes a few sweeps.
_BATCH = 200


@dataclass(frozen=True, slots=True)
class Escalation:
    """A claimed request: whom to tell, and what."""

    tenant_id: int
    callback_id: int
    agent_ids: list[int]
    notice: PreparedPop


async def claim_overdue(session: AsyncSession, *, now: datetime) -> list[CallbackRequest]:
    """Mark open requests past their due time as escalated; only those this call marked."""
    due = (
        select(CallbackRequest.id)
        .where(
            CallbackRequest.status == "open",
            CallbackRequest.escalated_at.is_(None),
            CallbackRequest.due_by < now,
        )
        .order_by(CallbackRequest.due_by)
        .limit(_BATCH)
    )
    claimed = await session.scalars(
        update(CallbackRequest)
        .where(CallbackRequest.id.in_(due.scalar_subquery()))
        .where(CallbackRequest.escalated_at.is_(None))  # re-checked after a row lock wait
        .values(escalated_at=now)
        .returning(CallbackRequest)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed.all(), key=lambda row: (row.due_by or now, row.id))


async def escalate_overdue(
    session: AsyncSession, routes: RoutingCache, *, now: datetime
) -> list[Escalation]:
    """Claim overdue requests and queue their events; returns the notices to publish after
    the caller commits."""
    escalations: list[Escalation] = []
    for row in await claim_overdue(session, now=now):
        data = {"callback": outbound_events.row_data(row, outbound_events.CALLBACK_FIELDS)}
        await emit(session, tenant_id=row.tenant_id, type_=OVERDUE, data=data, at=now)
        line_id, line_label = None, None
        if row.call_id is not None:
            found = (
                await session.execute(
                    select(Line.id, Line.label)
                    .join(Call, Call.line_id == Line.id)
                    .where(Call.id == row.call_id, Call.tenant_id == row.tenant_id)
                )
            ).first()
            if found is not None:
                line_id, line_label = found
        snapshot = await routes.get(row.tenant_id, session)
        line = next((ln for ln in snapshot.lines.values() if ln.id == line_id), None)
        team = snapshot.by_team.get(line.team_id, ()) if line and line.team_id else snapshot.active
        agents = [r.agent_id for r in team]
        if row.assignee_agent_id is not None and row.assignee_agent_id not in agents:
            agents.append(row.assignee_agent_id)
        notice = overdue_notice(row, line_label=line_label, now=now)
        escalations.append(Escalation(row.tenant_id, row.id, agents, notice))
        log.info("callback %s overdue: escalated to %d agents", row.id, len(agents))
    return escalations


def overdue_notice(row: CallbackRequest, *, line_label: str | None, now: datetime) -> PreparedPop:
    """The stream frame `callback.overdue`: no call, the request instead (see the widget)."""
    data: dict[str, Any] = {
        "pop_id": uuid.uuid4().hex,
        "type": OVERDUE,
        "tenant_id": row.tenant_id,
        "call": None,
        "card": None,
        "callback": {
            **outbound_events.row_data(row, outbound_events.CALLBACK_FIELDS),
            "missed_calls": row.missed_calls,
            "line_label": line_label,
            "escalated_at": now,
        },
        "at": now,
    }
    return PreparedPop.of(data)


async def escalate_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    hub: ScreenPopHub,
    routes: RoutingCache,
    *,
    now: datetime,
) -> list[Escalation]:
    """One sweep: claim and queue in one transaction, then tell the teams."""
    async with sessionmaker() as session:
        escalations = await escalate_overdue(session, routes, now=now)
        await session.commit()
    for escalation in escalations:
        if escalation.agent_ids:
            await hub.publish(escalation.tenant_id, escalation.agent_ids, escalation.notice)
    return escalations


async def escalate_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    hub: ScreenPopHub,
    routes: RoutingCache,
    *,
    interval: float,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Escalate every `interval` seconds until cancelled; never raises."""
    while True:
        await asyncio.sleep(interval)
        try:
            await escalate_once(sessionmaker, hub, routes, now=clock())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database or broker is away: the next sweep tries again
            log.warning("escalating overdue callbacks failed: %s", type(exc).__name__)
