"""Contacts: creating, finding, changing and erasing callers with their numbers and profile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.api.inputs import number_key
from app.audit import record
from app.contacts.schemas import ContactCreate, ContactUpdate, NumberIn, ServiceProfileIn
from app.errors import Conflict, InvalidInput, NotFound
from app.models import Call, CallbackRequest, Contact, ContactNumber, ServiceProfile, utcnow
from app.phone import normalise
from app.subscriptions import events as outbound_events
from app.subscriptions.outbox import emit


def _with_details() -> Select[Contact]:
    return select(Contact).options(
        selectinload(Contact.numbers), selectinload(Contact.service_profile)
    )


async def load_contact(session: AsyncSession, *, tenant_id: int, contact_id: int) -> Contact:
    """The contact with its numbers and profile loaded; NotFound if not in this tenant."""
    contact = await session.scalar(
        _with_details().where(Contact.tenant_id == tenant_id, Contact.id == contact_id)
    )
    if contact is None:
        raise NotFound(f"No contact {contact_id} in this tenant.")
    return contact


def _number_row(given: NumberIn, *, tenant_id: int, region: str, field: str) -> ContactNumber:
    key, number = number_key(given.number, region=region, field=field)
    kind = given.kind or ("mobile" if str(number.kind) == "mobile" else "landline")
    return ContactNumber(
        tenant_id=tenant_id, e164=key, raw=given.number, kind=kind, label=given.label
    )


def _number_rows(given: Sequence[NumberIn], *, tenant_id: int, region: str) -> list[ContactNumber]:
    """Normalise every number before anything is stored, refusing the same number twice."""
    rows: list[ContactNumber] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(given):
        row = _number_row(item, tenant_id=tenant_id, region=region, field=f"numbers[{i}].number")
        if row.e164 in seen:
            raise InvalidInput(
                f"numbers[{i}].number: '{item.number}' is {row.e164}, "
                f"already given as numbers[{seen[row.e164]}]: give each number once."
            )
        seen[row.e164] = i
        rows.append(row)
    return rows


async def _check_external_id(
    session: AsyncSession, *, tenant_id: int, external_id: str | None, contact_id: int | None
) -> None:
    if external_id is None:
        return
    query = select(Contact.id).where(
        Contact.tenant_id == tenant_id, Contact.external_id == external_id
    )
    if contact_id is not None:
        query = query.where(Contact.id != contact_id)
    other = await session.scalar(query)
    if other is not None:
        raise Conflict(f"External id {external_id} is already used by contact {other}.")


async def create_contact(
    session: AsyncSession, *, tenant_id: int, region: str, actor: str, data: ContactCreate
) -> Contact:
    """Store a new contact with its numbers and profile."""
    numbers = _number_rows(data.numbers, tenant_id=tenant_id, region=region)
    await _check_external_id(
        session, tenant_id=tenant_id, external_id=data.external_id, contact_id=None
    )
    fields = data.model_dump(exclude={"numbers", "service_profile"})
    profile = (
        None
        if data.service_profile is None
        else ServiceProfile(tenant_id=tenant_id, **data.service_profile.model_dump())
    )
    now = utcnow()
    contact = Contact(
        tenant_id=tenant_id,
        **fields,
        numbers=numbers,
        service_profile=profile,
        created_at=now,
        updated_at=now,
    )
    session.add(contact)
    await session.flush()
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="create",
        subject_type="contact",
        subject_id=contact.id,
        contact_id=contact.id,
    )
    return contact


def _has_tag(session: AsyncSession, tag: str) -> ColumnElement[bool]:
    # Tags are a JSON array: each backend has its own way to unnest one.
    dialect = session.get_bind().dialect.name
    elements = func.json_each if dialect == "sqlite" else func.json_array_elements_text
    values = elements(Contact.tags).table_valued("value")
    return exists(select(1).select_from(values).where(values.c.value == tag))


async def list_contacts(
    session: AsyncSession,
    *,
    tenant_id: int,
    region: str,
    q: str | None = None,
    number: str | None = None,
    tag: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Contact]:
    """Contacts matching every filter given, by name then id."""
    query = _with_details().where(Contact.tenant_id == tenant_id)
    if q:
        query = query.where(Contact.display_name.icontains(q, autoescape=True))
    if number is not None:
        key, _ = number_key(number, region=region, field="number")
        query = query.where(
            Contact.id.in_(
                select(ContactNumber.contact_id).where(
                    ContactNumber.tenant_id == tenant_id, ContactNumber.e164 == key
                )
            )
        )
    if tag is not None:
        query = query.where(_has_tag(session, tag))
    query = query.order_by(Contact.display_name, Contact.id).limit(limit).offset(offset)
    return (await session.scalars(query)).all()


async def view_contact(
    session: AsyncSession, *, tenant_id: int, actor: str, contact_id: int
) -> Contact:
    """One contact, its reading audited."""
    contact = await load_contact(session, tenant_id=tenant_id, contact_id=contact_id)
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="view",
        subject_type="contact",
        subject_id=contact.id,
        contact_id=contact.id,
    )
    return contact


def _replace_numbers(contact: Contact, rows: list[ContactNumber]) -> None:
    # A number kept keeps its row (and id); updating in place also avoids deleting and
    # inserting the same (contact, e164) in one flush, which the unique constraint forbids.
    kept = {n.e164: n for n in contact.numbers}
    result: list[ContactNumber] = []
    for row in rows:
        old = kept.get(row.e164)
        if old is None:
            result.append(row)
        else:
            old.raw, old.kind, old.label = row.raw, row.kind, row.label
            result.append(old)
    contact.numbers = result


def _merge_profile(contact: Contact, tenant_id: int, given: ServiceProfileIn) -> ServiceProfile:
    profile = contact.service_profile
    if profile is None:
        profile = ServiceProfile(tenant_id=tenant_id, **given.model_dump())
        contact.service_profile = profile
        return profile
    for name, value in given.model_dump(exclude_unset=True).items():
        setattr(profile, name, value)
    return profile


async def update_contact(
    session: AsyncSession,
    *,
    tenant_id: int,
    region: str,
    actor: str,
    contact_id: int,
    data: ContactUpdate,
) -> Contact:
    """Change the fields given; `numbers` replaces the set, `service_profile` is merged."""
    contact = await load_contact(session, tenant_id=tenant_id, contact_id=contact_id)
    numbers = (
        None
        if data.numbers is None
        else _number_rows(data.numbers, tenant_id=tenant_id, region=region)
    )
    changes: dict[str, Any] = data.model_dump(
        exclude_unset=True, exclude={"numbers", "service_profile"}
    )
    if "external_id" in changes:
        await _check_external_id(
            session, tenant_id=tenant_id, external_id=changes["external_id"], contact_id=contact.id
        )
    for name, value in changes.items():
        setattr(contact, name, value)
    if numbers is not None:
        _replace_numbers(contact, numbers)
    if data.service_profile is not None:
        _merge_profile(contact, tenant_id, data.service_profile)
    contact.updated_at = utcnow()
    await session.flush()
    await emit(
        session,
        tenant_id=tenant_id,
        type_="contact.updated",
        data={"contact": outbound_events.row_data(contact, outbound_events.CONTACT_FIELDS)},
    )
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="update",
        subject_type="contact",
        subject_id=contact.id,
        contact_id=contact.id,
    )
    return contact


async def erase_contact(
    session: AsyncSession, *, tenant_id: int, region: str, actor: str, contact_id: int
) -> None:
    """Erase a contact and everything pointing to it; the trail keeps only masked numbers."""
    contact = await load_contact(session, tenant_id=tenant_id, contact_id=contact_id)
    numbers = [(n.id, normalise(n.raw, region).masked) for n in contact.numbers]
    await _erase_number_traces(session, tenant_id, contact_id, [n.e164 for n in contact.numbers])
    # The foreign keys cascade to numbers, profile, interactions, callbacks, cases and
    # number choices, and set the contact of calls and audit events to NULL.
    await session.execute(
        delete(Contact).where(Contact.tenant_id == tenant_id, Contact.id == contact_id)
    )
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="erase",
        subject_type="contact",
        subject_id=contact_id,
    )
    for number_id, masked in numbers:
        record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="erase",
            subject_type="contact_number",
            subject_id=number_id,
            number_masked=masked,
        )


async def _erase_number_traces(
    session: AsyncSession, tenant_id: int, contact_id: int, keys: list[str]
) -> None:
    """Forget the contact's numbers where rows hold them bare: calls and callbacks by number.

    A number someone else still has (a household line) is theirs too, and stays.
    """
    shared = set(
        await session.scalars(
            select(ContactNumber.e164).where(
                ContactNumber.tenant_id == tenant_id,
                ContactNumber.e164.in_(keys),
                ContactNumber.contact_id != contact_id,
            )
        )
    )
    own = [key for key in keys if key not in shared]
    await session.execute(
        update(Call)
        .where(
            Call.tenant_id == tenant_id,
            or_(Call.contact_id == contact_id, Call.from_e164.in_(own)),
        )
        .values(from_e164=None)
    )
    if own:
        await session.execute(
            delete(CallbackRequest).where(
                CallbackRequest.tenant_id == tenant_id,
                CallbackRequest.contact_id.is_(None),
                CallbackRequest.number_e164.in_(own),
            )
        )


async def add_number(
    session: AsyncSession,
    *,
    tenant_id: int,
    region: str,
    actor: str,
    contact_id: int,
    data: NumberIn,
) -> ContactNumber:
    """Add one number to a contact; Conflict if the contact has it already."""
    contact = await load_contact(session, tenant_id=tenant_id, contact_id=contact_id)
    row = _number_row(data, tenant_id=tenant_id, region=region, field="number")
    for existing in contact.numbers:
        if existing.e164 == row.e164:
            raise Conflict(
                f"Contact {contact_id} already has number {row.e164} (number {existing.id})."
            )
    contact.numbers.append(row)
    contact.updated_at = utcnow()
    await session.flush()
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="create",
        subject_type="contact_number",
        subject_id=row.id,
        contact_id=contact_id,
        number_masked=normalise(row.raw, region).masked,
    )
    return row


async def remove_number(
    session: AsyncSession,
    *,
    tenant_id: int,
    region: str,
    actor: str,
    contact_id: int,
    number_id: int,
) -> None:
    """Remove one number from a contact; NotFound if it is not theirs."""
    contact = await load_contact(session, tenant_id=tenant_id, contact_id=contact_id)
    row = next((n for n in contact.numbers if n.id == number_id), None)
    if row is None:
        raise NotFound(f"Contact {contact_id} has no number {number_id}.")
    contact.numbers.remove(row)
    contact.updated_at = utcnow()
    await session.flush()
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="delete",
        subject_type="contact_number",
        subject_id=number_id,
        contact_id=contact_id,
        number_masked=normalise(row.raw, region).masked,
    )


async def put_service_profile(
    session: AsyncSession, *, tenant_id: int, actor: str, contact_id: int, data: ServiceProfileIn
) -> ServiceProfile:
    """Replace a contact's service profile (fields left out get their defaults)."""
    contact = await load_contact(session, tenant_id=tenant_id, contact_id=contact_id)
    created = contact.service_profile is None
    profile = _merge_profile(contact, tenant_id, data)
    if not created:
        for name, value in data.model_dump().items():
            setattr(profile, name, value)
    contact.updated_at = utcnow()
    await session.flush()
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="create" if created else "update",
        subject_type="service_profile",
        subject_id=contact_id,
        contact_id=contact_id,
    )
    return profile
