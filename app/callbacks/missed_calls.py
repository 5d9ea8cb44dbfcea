"""Missed calls become callback requests: one open request per caller, however often they try."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Call, CallbackRequest, utcnow


async def open_for_missed_call(
    session: AsyncSession, *, call: Call, reason: str, due_by: datetime | None = None
) -> int | None:
    """Open a callback request for a missed inbound call, or count the call on the open one.

    `due_by` (from the line's policy) is set on a new request only: a caller who tries again
    must not push our promise later. Returns that request's id, or None when there is no
    number to call back (withheld, or one the normaliser could not read): the agent's card
    must not promise a callback then.
    """
    if call.from_e164 is None or call.match == "withheld":
        return None  # nobody to call back
    known = call.match == "known" and call.contact_id is not None
    whose = (
        CallbackRequest.contact_id == call.contact_id
        if known
        else CallbackRequest.number_e164 == call.from_e164
    )
    existing = await session.scalar(
        select(CallbackRequest)
        .where(CallbackRequest.tenant_id == call.tenant_id, CallbackRequest.status == "open", whose)
        .order_by(CallbackRequest.requested_at)
        .limit(1)
    )
    if existing is not None:
        existing.missed_calls += 1
        return existing.id
    opened = CallbackRequest(
        tenant_id=call.tenant_id,
        contact_id=call.contact_id if known else None,
        number_e164=call.from_e164,
        reason=reason,
        requested_at=utcnow(),
        due_by=due_by,
        call_id=call.id,
        missed_calls=1,
    )
    session.add(opened)
    await session.flush()
    return opened.id


async def withdraw_for_call(session: AsyncSession, *, call: Call) -> None:
    """A call first seen as missed turned out answered: take back what it asked for.

    The request it opened is cancelled while untouched; one it only counted on loses the count.
    """
    opened = await session.scalar(
        select(CallbackRequest).where(
            CallbackRequest.tenant_id == call.tenant_id,
            CallbackRequest.call_id == call.id,
            CallbackRequest.status == "open",
        )
    )
    if opened is not None:
        if opened.missed_calls <= 1 and opened.attempts == 0:
            opened.status, opened.closed_at = "cancelled", utcnow()
        else:
            opened.missed_calls = max(1, opened.missed_calls - 1)
        return
    whose = (
        CallbackRequest.contact_id == call.contact_id
        if call.match == "known" and call.contact_id is not None
        else CallbackRequest.number_e164 == call.from_e164
    )
    await session.execute(
        update(CallbackRequest)
        .where(
            CallbackRequest.tenant_id == call.tenant_id,
            CallbackRequest.status == "open",
            CallbackRequest.missed_calls > 1,
            whose,
        )
        .values(missed_calls=CallbackRequest.missed_calls - 1)
    )
