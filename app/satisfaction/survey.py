"""A post-call survey score (1-5, e.g. DTMF from an IVR) attached to the call's interaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.wrapup import ended_call
from app.errors import Conflict, NotFound
from app.models import Call, Interaction
from app.subscriptions import events
from app.subscriptions.outbox import emit


async def record_score(
    session: AsyncSession, *, tenant_id: int, call_id: int, score: int
) -> tuple[Interaction, bool]:
    """Attach the caller's score, and whether it changed anything: the same score again is a
    no-op (an IVR's retry), neither announced nor audited twice.

    A different score for a call already scored is refused rather than replacing it: a
    survey is answered once, and a second answer is more likely another call's digits
    sent to the wrong call id than the caller changing their mind.
    """
    call, interaction = await ended_call(session, tenant_id=tenant_id, call_id=call_id)
    if interaction.survey_score is not None and interaction.survey_score != score:
        raise Conflict(
            f"Call {call.id} already has survey score {interaction.survey_score}; "
            "a call's survey is answered once."
        )
    if interaction.survey_score == score:
        return interaction, False  # a retry: already scored and announced
    interaction.survey_score = score
    await session.flush()
    # In the same transaction, after the call's own events: a CRM that journals calls
    # (`call.wrapped_up`) gets the caller's verdict too, whenever it arrives.
    await emit(
        session,
        tenant_id=tenant_id,
        type_="call.surveyed",
        data={
            **events.call_data(call, interaction_id=interaction.id),
            "interaction": events.row_data(interaction, events.WRAP_UP_FIELDS),
        },
        ordering_key=f"call:{call.id}",
    )
    return interaction, True


async def call_by_provider_id(
    session: AsyncSession, *, tenant_id: int, provider: str, provider_call_id: str
) -> int:
    """Our id of the call the phone system calls `provider_call_id` (all an IVR knows)."""
    call_id = await session.scalar(
        select(Call.id).where(
            Call.tenant_id == tenant_id,
            Call.provider == provider,
            Call.provider_call_id == provider_call_id,
        )
    )
    if call_id is None:
        raise NotFound(
            f"No call {provider_call_id!r} from provider {provider!r} in this tenant; "
            "send the call id the phone system used in its webhooks."
        )
    return call_id
