"""After the call: the agent's outcome and note saved into the call's interaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.schemas import WrapUpIn
from app.errors import Conflict, InvalidInput, NotFound
from app.models import Call, Contact, Interaction
from app.subscriptions import events
from app.subscriptions.outbox import emit

# Between the interaction's own summary ("Inkomend gesprek, 4 min") and each agent's note.
NOTE_SEPARATOR = " — "


async def ended_call(
    session: AsyncSession, *, tenant_id: int, call_id: int
) -> tuple[Call, Interaction]:
    """The call and its own interaction; 404 for no such call, 409 while it has not ended."""
    call = await session.scalar(select(Call).where(Call.tenant_id == tenant_id, Call.id == call_id))
    if call is None:
        raise NotFound(f"No call {call_id} in this tenant.")
    # The call's own interaction is dated at the call's start; notes taken during the
    # call may carry the call id too, but are dated when they were written.
    interaction = await session.scalar(
        select(Interaction)
        .where(
            Interaction.tenant_id == tenant_id,
            Interaction.call_id == call_id,
            Interaction.occurred_at == call.started_at,
        )
        .order_by(Interaction.id)
        .limit(1)
    )
    if interaction is None:
        raise Conflict(f"Call {call_id} has not ended yet: wrap it up after it ends.")
    return call, interaction


async def wrap_up(
    session: AsyncSession, *, tenant_id: int, call_id: int, data: WrapUpIn, agent_id: int | None
) -> Interaction:
    """Record how the call went; the interaction exists once the call has ended."""
    call, interaction = await ended_call(session, tenant_id=tenant_id, call_id=call_id)
    if data.contact_id is not None and data.contact_id != interaction.contact_id:
        # The agent picked the caller among a household, or created them during the call.
        owner = await session.scalar(
            select(Contact.id).where(Contact.tenant_id == tenant_id, Contact.id == data.contact_id)
        )
        if owner is None:
            raise InvalidInput(f"contact_id {data.contact_id} does not exist in this tenant.")
        interaction.contact_id = call.contact_id = data.contact_id
        call.match = "known"
    # A second wrap-up (another tab, a colleague, a correction) adds its note after the
    # first instead of erasing it; the same note sent again (a retry whose answer was lost)
    # is not added twice. The outcome is the call's latest: a later one replaces it.
    note = data.note.strip()
    if note and not interaction.summary.endswith(f"{NOTE_SEPARATOR}{note}"):
        interaction.summary = f"{interaction.summary}{NOTE_SEPARATOR}{note}"
    interaction.outcome = data.outcome
    if data.satisfaction is not None:
        interaction.satisfaction = data.satisfaction
    if data.helped is not None:
        interaction.helped = data.helped
    if interaction.agent_id is None and agent_id is not None:
        interaction.agent_id = agent_id
    await session.flush()
    # In the same transaction: a CRM journaling calls gets every wrap-up that was saved,
    # and none that was not. After the call's own events (same ordering key).
    await emit(
        session,
        tenant_id=tenant_id,
        type_="call.wrapped_up",
        data={
            **events.call_data(call, interaction_id=interaction.id),
            "interaction": events.row_data(interaction, events.WRAP_UP_FIELDS),
        },
        ordering_key=f"call:{call.id}",
    )
    return interaction
