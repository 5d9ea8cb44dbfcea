"""Call-back attempts: each try at keeping a promise is recorded; being reached keeps it.

`record_attempt` is the one way in, for the API, the widget and originating the call through
the phone system (app/callbacks/originate*.py records each attempt it places through it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.inputs import require_in_tenant
from app.callbacks.schemas import AttemptOutcome
from app.callbacks.service import announce_and_audit, get_callback
from app.errors import Conflict
from app.models import Agent, CallbackAttempt, CallbackRequest, utcnow

__all__ = ["AttemptOutcome", "list_attempts", "record_attempt"]


async def record_attempt(
    session: AsyncSession,
    *,
    tenant_id: int,
    callback_id: int,
    outcome: AttemptOutcome,
    actor: str,
    agent_id: int | None = None,
    note: str = "",
    at: datetime | None = None,
    region: str = "NL",
) -> tuple[CallbackRequest, CallbackAttempt]:
    """Record one try at calling back: counts it on the request; `reached` closes it as done.

    NotFound for another tenant's request, Conflict when it is no longer open (reopen it
    first), InvalidInput for an agent not of this tenant. Flushes, never commits.
    """
    row = await get_callback(session, tenant_id=tenant_id, callback_id=callback_id)
    if row.status != "open":
        raise Conflict(
            f"Callback request {callback_id} is {row.status}: reopen it "
            '(PATCH {"status": "open"}) before recording another attempt.'
        )
    await require_in_tenant(session, Agent, tenant_id=tenant_id, row_id=agent_id, field="agent_id")
    attempt = CallbackAttempt(
        tenant_id=tenant_id,
        callback_request_id=row.id,
        outcome=outcome,
        note=note,
        agent_id=agent_id,
        attempted_at=at or utcnow(),
    )
    session.add(attempt)
    # Counted in the database: two agents recording at once both count.
    row.attempts = CallbackRequest.attempts + 1  # type: ignore[assignment]
    if outcome == "reached":
        row.status, row.closed_at = "done", utcnow()
    await session.flush()
    await session.refresh(row)
    event = "callback.done" if outcome == "reached" else None
    await announce_and_audit(
        session, row, event=event, action="attempt", actor=actor, region=region
    )
    return row, attempt


async def list_attempts(
    session: AsyncSession, *, tenant_id: int, callback_id: int
) -> Sequence[CallbackAttempt]:
    """A request's attempts, oldest first; NotFound if the request is not this tenant's."""
    await get_callback(session, tenant_id=tenant_id, callback_id=callback_id)
    query = (
        select(CallbackAttempt)
        .where(
            CallbackAttempt.tenant_id == tenant_id,
            CallbackAttempt.callback_request_id == callback_id,
        )
        .order_by(CallbackAttempt.attempted_at, CallbackAttempt.id)
    )
    return (await session.scalars(query)).all()
