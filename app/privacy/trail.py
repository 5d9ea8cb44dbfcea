"""Reading the audit trail: what happened about a contact or a number, or by an agent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.models import AuditEvent, Call, ContactNumber
from app.phone import PhoneNumber


def about_number(number: PhoneNumber) -> ColumnElement[bool]:
    """Audit events about a number: its holders, its calls, and lookups of it.

    The trail keeps numbers masked, so a lookup of a number nobody holds is found by its
    masked form (another number with the same visible digits matches too).
    """
    holders = select(ContactNumber.contact_id).where(
        ContactNumber.tenant_id == AuditEvent.tenant_id, ContactNumber.e164 == number.key
    )
    calls = select(cast(Call.id, String)).where(
        Call.tenant_id == AuditEvent.tenant_id,
        or_(Call.from_e164 == number.key, Call.to_e164 == number.key),
    )
    return or_(
        AuditEvent.contact_id.in_(holders.scalar_subquery()),
        and_(AuditEvent.subject_type == "call", AuditEvent.subject_id.in_(calls.scalar_subquery())),
        and_(AuditEvent.subject_type == "number", AuditEvent.number_masked == number.masked),
    )


def about_contact(contact_id: int) -> ColumnElement[bool]:
    """Audit events about a contact: named, or about a call matched to them."""
    calls = select(cast(Call.id, String)).where(
        Call.tenant_id == AuditEvent.tenant_id, Call.contact_id == contact_id
    )
    return or_(
        AuditEvent.contact_id == contact_id,
        and_(AuditEvent.subject_type == "call", AuditEvent.subject_id.in_(calls.scalar_subquery())),
    )


async def audit_events(
    session: AsyncSession,
    *,
    tenant_id: int,
    contact_id: int | None = None,
    agent_id: int | None = None,
    number: PhoneNumber | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[AuditEvent]:
    """The tenant's audit events matching every filter given, newest first."""
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if contact_id is not None:
        query = query.where(about_contact(contact_id))
    if agent_id is not None:
        query = query.where(AuditEvent.agent_id == agent_id)
    if number is not None:
        query = query.where(about_number(number))
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    query = query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    return (await session.scalars(query.limit(limit).offset(offset))).all()
