"""Callback requests: promising, finding and keeping them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.inputs import number_key, require_in_tenant
from app.audit import record
from app.callbacks.policy import due_by as policy_due_by
from app.callbacks.policy_store import load_policy
from app.callbacks.schemas import CLOSED_STATUSES, CallbackCreate, CallbackUpdate
from app.errors import NotFound
from app.models import Agent, CallbackRequest, Contact, ContactNumber, utcnow
from app.phone import normalise
from app.subscriptions import events as outbound_events
from app.subscriptions.outbox import emit

StatusFilter = Literal["open", "done", "cancelled", "all"]


def masked_number(row: CallbackRequest, region: str) -> str | None:
    """The request's number as logs and the audit trail show it."""
    return None if row.number_e164 is None else normalise(row.number_e164, region).masked


async def announce_and_audit(
    session: AsyncSession,
    row: CallbackRequest,
    *,
    event: str | None,
    action: str,
    actor: str,
    region: str,
) -> None:
    """In the change's transaction: the outbound event (if any) and the audit row."""
    if event is not None:
        await emit(
            session,
            tenant_id=row.tenant_id,
            type_=event,
            data={"callback": outbound_events.row_data(row, outbound_events.CALLBACK_FIELDS)},
        )
    record(
        session,
        tenant_id=row.tenant_id,
        actor=actor,
        action=action,
        subject_type="callback",
        subject_id=row.id,
        contact_id=row.contact_id,
        number_masked=masked_number(row, region),
    )


async def get_callback(
    session: AsyncSession, *, tenant_id: int, callback_id: int
) -> CallbackRequest:
    """One callback request; NotFound if not this tenant's."""
    row = await session.scalar(
        select(CallbackRequest).where(
            CallbackRequest.tenant_id == tenant_id, CallbackRequest.id == callback_id
        )
    )
    if row is None:
        raise NotFound(f"No callback request {callback_id} in this tenant.")
    return row


async def create_callback(
    session: AsyncSession, *, tenant_id: int, region: str, actor: str, data: CallbackCreate
) -> CallbackRequest:
    """Promise a callback to a contact of this tenant and/or a number."""
    key = None if data.number is None else number_key(data.number, region=region, field="number")[0]
    await require_in_tenant(
        session, Contact, tenant_id=tenant_id, row_id=data.contact_id, field="contact_id"
    )
    await require_in_tenant(
        session,
        Agent,
        tenant_id=tenant_id,
        row_id=data.assignee_agent_id,
        field="assignee_agent_id",
    )
    now, due = utcnow(), data.due_by
    if due is None:  # no time promised: the tenant's policy says when, as for a missed call
        policy, timezone = await load_policy(session, tenant_id=tenant_id)
        due = policy_due_by(policy, now, timezone)
    row = CallbackRequest(
        tenant_id=tenant_id,
        contact_id=data.contact_id,
        number_e164=key,
        reason=data.reason,
        requested_at=now,
        due_by=due,
        status="open",
        attempts=0,
        assignee_agent_id=data.assignee_agent_id,
    )
    session.add(row)
    await session.flush()
    await announce_and_audit(
        session, row, event="callback.created", action="create", actor=actor, region=region
    )
    return row


async def list_callbacks(
    session: AsyncSession,
    *,
    tenant_id: int,
    region: str,
    now: datetime,
    status: StatusFilter = "open",
    contact_id: int | None = None,
    number: str | None = None,
    assignee_agent_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[CallbackRequest]:
    """Callbacks matching the filters: overdue ones first, then by due time."""
    query = select(CallbackRequest).where(CallbackRequest.tenant_id == tenant_id)
    if status != "all":
        query = query.where(CallbackRequest.status == status)
    if contact_id is not None:
        query = query.where(CallbackRequest.contact_id == contact_id)
    if assignee_agent_id is not None:
        query = query.where(CallbackRequest.assignee_agent_id == assignee_agent_id)
    if number is not None:
        key, _ = number_key(number, region=region, field="number")
        # A number's callbacks are those promised to the bare number or to a contact on it.
        on_number = select(ContactNumber.contact_id).where(
            ContactNumber.tenant_id == tenant_id, ContactNumber.e164 == key
        )
        query = query.where(
            or_(CallbackRequest.number_e164 == key, CallbackRequest.contact_id.in_(on_number))
        )
    overdue = and_(
        CallbackRequest.status == "open",
        CallbackRequest.due_by.is_not(None),
        CallbackRequest.due_by < now,
    )
    query = query.order_by(
        case((overdue, 0), else_=1),
        CallbackRequest.due_by.asc().nulls_last(),
        CallbackRequest.id,
    )
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def update_callback(
    session: AsyncSession,
    *,
    tenant_id: int,
    region: str,
    actor: str,
    callback_id: int,
    data: CallbackUpdate,
) -> CallbackRequest:
    """Change a callback; closing it stamps `closed_at`, reopening clears it."""
    row = await get_callback(session, tenant_id=tenant_id, callback_id=callback_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if "assignee_agent_id" in changes:
        await require_in_tenant(
            session,
            Agent,
            tenant_id=tenant_id,
            row_id=changes["assignee_agent_id"],
            field="assignee_agent_id",
        )
    new_status = changes.pop("status", row.status)
    done_now = new_status == "done" and row.status != "done"
    if new_status != row.status:
        row.closed_at = utcnow() if new_status in CLOSED_STATUSES else None
        row.status = new_status
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    event = "callback.done" if done_now else None
    await announce_and_audit(session, row, event=event, action="update", actor=actor, region=region)
    return row
