"""Every finished call becomes an interaction on the caller's (or the called person's) history."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Call, Interaction


class FinishedCall(Protocol):
    """What a summary reads of a call: a `Call`, or the hot path's plain row."""

    @property
    def direction(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def answered_by(self) -> str | None: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def answered_at(self) -> datetime | None: ...
    @property
    def ended_at(self) -> datetime | None: ...


def summarise(call: FinishedCall, timezone: str) -> tuple[str, str]:
    """The interaction's summary (Dutch, as agents read it) and outcome for a finished call."""
    ended = call.ended_at or call.started_at
    local = ended.astimezone(ZoneInfo(timezone)).strftime("%H:%M")
    outbound = call.direction == "outbound"
    if call.answered_at is not None:
        minutes = max(1, round((ended - call.answered_at).total_seconds() / 60))
        summary = f"{'Uitgaand' if outbound else 'Inkomend'} gesprek, {minutes} min"
        if call.answered_by:
            summary += f", {'gebeld door' if outbound else 'aangenomen door'} {call.answered_by}"
        return summary, "answered"
    if call.state == "voicemail":
        return f"Voicemail ingesproken om {local}", "voicemail"
    if call.direction != "inbound":
        return f"Gebeld om {local}, niet opgenomen", "not_reached"
    return f"Gemiste oproep om {local}", "missed"


async def record_call(session: AsyncSession, *, call: Call, timezone: str) -> int:
    """Write the finished call's interaction; its id is where the wrap-up goes."""
    summary, outcome = summarise(call, timezone)
    interaction = Interaction(
        tenant_id=call.tenant_id,
        contact_id=call.contact_id,
        occurred_at=call.started_at,
        channel="phone",
        direction=call.direction if call.direction in ("inbound", "outbound") else "inbound",
        summary=summary,
        outcome=outcome,
        agent_id=call.answered_by_agent_id,
        call_id=call.id,
    )
    session.add(interaction)
    await session.flush()
    return interaction.id


async def revise_call(session: AsyncSession, *, call: Call, timezone: str) -> int:
    """The call's outcome changed after it finished: bring its interaction up to date.

    An agent's wrap-up (a different outcome than ours) is left as the agent wrote it.
    """
    interaction = await session.scalar(
        select(Interaction)
        .where(Interaction.tenant_id == call.tenant_id, Interaction.call_id == call.id)
        .order_by(Interaction.id)
        .limit(1)
    )
    if interaction is None:
        return await record_call(session, call=call, timezone=timezone)
    if interaction.outcome in ("answered", "missed", "voicemail", "not_reached"):
        interaction.summary, interaction.outcome = summarise(call, timezone)
        interaction.agent_id = call.answered_by_agent_id
    return interaction.id
