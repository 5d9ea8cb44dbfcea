"""The calls an agent's widget should show now, rebuilt from the database.

Pops are delivered once, through a log that lives as long as the broker: a widget that was
away while the server restarted (or Redis lost its data) is told `resync`, and reloads its
calls from here instead of waiting for a pop that will never come.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.lifecycle import build_pop
from app.calls.routing import route_call
from app.models import Call, CallbackRequest, Interaction, Tenant
from app.phone import normalise
from app.recognition.service import recognise_number
from app.screen_pop.schemas import Pop, PopType

# A finished call stays on the agent's screen for its wrap-up; one older than this was
# wrapped up or left, and a widget that reloads should not bring it back.
FINISHED_SHOWN_FOR = timedelta(minutes=15)
# An open call this old lost its final event; the sweeper closes it, the widget skips it.
OPEN_AT_MOST = timedelta(hours=12)
MOST_CALLS = 20  # what the widget keeps on screen
_SCANNED = 200  # the tenant's recent calls looked at to find the agent's

_OPEN = ("ringing", "answered")


async def calls_for_agent(
    session: AsyncSession, *, tenant: Tenant, agent_id: int, now: datetime
) -> list[Pop]:
    """Pops of the agent's open calls and of those finished in the last minutes, newest
    first: the calls that ring (or rang) the agent, or that the agent answered."""
    recent = await session.scalars(
        select(Call)
        .where(
            Call.tenant_id == tenant.id,
            Call.started_at >= now - OPEN_AT_MOST,
            or_(Call.state.in_(_OPEN), Call.ended_at >= now - FINISHED_SHOWN_FOR),
        )
        .order_by(Call.started_at.desc(), Call.id.desc())
        .limit(_SCANNED)
    )
    pops: list[Pop] = []
    for call in recent:
        pop = await _pop_for(session, tenant, agent_id, call, now)
        if pop is not None:
            pops.append(pop)
            if len(pops) == MOST_CALLS:
                break
    return pops


async def _pop_for(
    session: AsyncSession, tenant: Tenant, agent_id: int, call: Call, now: datetime
) -> Pop | None:
    region = tenant.default_region
    # The card is about the other party; our own line routes (as in the lifecycle).
    line_key, party_key = call.to_e164, call.from_e164
    if call.direction == "outbound":
        line_key, party_key = party_key, line_key
    route = await route_call(
        session, tenant_id=tenant.id, called_key=line_key, extension=call.ringing_extension
    )
    seen_by = {recipient.agent_id for recipient in route.recipients}
    if agent_id not in seen_by and call.answered_by_agent_id != agent_id:
        return None
    card = await recognise_number(
        session,
        tenant_id=tenant.id,
        number=normalise(party_key or "", region),
        called=normalise(line_key or "", region),
        now=now,
        region=region,
    )
    finished = call.state not in _OPEN
    interaction_id = await _interaction_of(session, call) if finished else None
    callback_id = await _open_callback_of(session, call) if call.state == "missed" else None
    kind: PopType = f"call.{call.state}"  # type: ignore[assignment]
    return build_pop(
        call, kind, route, card, interaction_id, now, region=region,
        callback_request_id=callback_id,
    )  # fmt: skip


async def _interaction_of(session: AsyncSession, call: Call) -> int | None:
    found: int | None = await session.scalar(
        select(Interaction.id)
        .where(Interaction.tenant_id == call.tenant_id, Interaction.call_id == call.id)
        .order_by(Interaction.id)
        .limit(1)
    )
    return found


async def _open_callback_of(session: AsyncSession, call: Call) -> int | None:
    if call.from_e164 is None:
        return None
    found: int | None = await session.scalar(
        select(CallbackRequest.id)
        .where(
            CallbackRequest.tenant_id == call.tenant_id,
            CallbackRequest.number_e164 == call.from_e164,
            CallbackRequest.status == "open",
        )
        .order_by(CallbackRequest.id.desc())
        .limit(1)
    )
    return found
