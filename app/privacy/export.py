"""A person's data export: everything held about a contact or a number, for an access request.

One document, the same shape for both: the contacts it concerns (with their numbers and
service profile), then every row about them or the number, each with all its columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    AuditEvent,
    Call,
    CallbackAttempt,
    CallbackRequest,
    Case,
    Contact,
    ContactNumber,
    Interaction,
    Notice,
    NumberChoice,
    ServiceProfile,
    utcnow,
)
from app.models.base import Base
from app.phone import PhoneNumber, normalise
from app.privacy.schemas import PersonalData
from app.privacy.trail import about_contact, about_number


def _data(row: Base) -> dict[str, Any]:
    """Every column of a row, by attribute name."""
    return {attr.key: getattr(row, attr.key) for attr in inspect(row).mapper.column_attrs}


def _all(rows: Iterable[Base]) -> list[dict[str, Any]]:
    return [_data(row) for row in rows]


async def export_contact(
    session: AsyncSession, *, tenant_id: int, contact_id: int, region: str, now: datetime | None
) -> PersonalData | None:
    """What we hold about one contact and their numbers; None if no such contact here."""
    contact = await session.scalar(
        select(Contact).where(Contact.tenant_id == tenant_id, Contact.id == contact_id)
    )
    if contact is None:
        return None
    keys = await session.scalars(
        select(ContactNumber.e164).where(
            ContactNumber.tenant_id == tenant_id, ContactNumber.contact_id == contact_id
        )
    )
    numbers = [normalise(key, region) for key in set(keys) if key]
    subject = {"type": "contact", "contact_id": contact_id}
    return await _export(session, tenant_id, [contact], numbers, subject, now or utcnow())


async def export_number(
    session: AsyncSession, *, tenant_id: int, number: PhoneNumber, now: datetime | None
) -> PersonalData:
    """What we hold about a number: the contacts holding it, and its calls and callbacks."""
    holding = select(ContactNumber.contact_id).where(
        ContactNumber.tenant_id == tenant_id, ContactNumber.e164 == number.key
    )
    holders = await session.scalars(
        select(Contact).where(Contact.id.in_(holding.scalar_subquery())).order_by(Contact.id)
    )
    subject = {"type": "number", "number": number.key}
    return await _export(session, tenant_id, list(holders), [number], subject, now or utcnow())


async def _rows(session: AsyncSession, query: Any) -> list[dict[str, Any]]:
    return _all(await session.scalars(query))


async def _export(
    session: AsyncSession,
    tenant_id: int,
    contacts: Sequence[Contact],
    numbers: Sequence[PhoneNumber],
    subject: dict[str, Any],
    now: datetime,
) -> PersonalData:
    ids = [contact.id for contact in contacts]
    keys = [number.key for number in numbers if number.key]

    def _contact_in(model: Any) -> Any:
        return model.contact_id.in_(ids)

    tags = sorted({tag for contact in contacts for tag in contact.tags or []})
    call = or_(Call.contact_id.in_(ids), Call.from_e164.in_(keys), Call.to_e164.in_(keys))
    callback = or_(CallbackRequest.contact_id.in_(ids), CallbackRequest.number_e164.in_(keys))
    trail = or_(*[about_contact(i) for i in ids], *[about_number(n) for n in numbers])
    return PersonalData(
        subject=subject,
        exported_at=now,
        contacts=[await _contact(session, contact) for contact in contacts],
        interactions=await _rows(
            session, _of(Interaction, tenant_id, Interaction.contact_id.in_(ids))
        ),
        callbacks=await _rows(session, _of(CallbackRequest, tenant_id, callback)),
        callback_attempts=await _rows(
            session,
            _of(
                CallbackAttempt,
                tenant_id,
                CallbackAttempt.callback_request_id.in_(
                    select(CallbackRequest.id).where(
                        CallbackRequest.tenant_id == tenant_id, callback
                    )
                ),
            ),
        ),
        cases=await _rows(session, _of(Case, tenant_id, _contact_in(Case))),
        # Notices addressed to them: by a tag they carry (the card showed them these).
        notices=await _rows(session, _of(Notice, tenant_id, Notice.tag.in_(tags))),
        calls=await _rows(session, _of(Call, tenant_id, call)),
        audit_events=await _rows(session, _of(AuditEvent, tenant_id, trail)),
        number_choices=await _rows(
            session,
            select(NumberChoice)
            .where(
                NumberChoice.tenant_id == tenant_id,
                or_(NumberChoice.contact_id.in_(ids), NumberChoice.e164.in_(keys)),
            )
            .order_by(NumberChoice.chosen_at),
        ),
    )


def _of(model: Any, tenant_id: int, about: Any) -> Any:
    return select(model).where(model.tenant_id == tenant_id, about).order_by(model.id)


async def _contact(session: AsyncSession, contact: Contact) -> dict[str, Any]:
    numbers = await session.scalars(
        select(ContactNumber)
        .where(ContactNumber.contact_id == contact.id)
        .order_by(ContactNumber.id)
    )
    profile = await session.get(ServiceProfile, contact.id)
    return {
        **_data(contact),
        "numbers": _all(numbers),
        "service_profile": None if profile is None else _data(profile),
    }
