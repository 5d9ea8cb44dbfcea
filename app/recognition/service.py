"""Recognition: a number or a case reference in, the caller's card out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Contact, NumberChoice, ServiceProfile, utcnow
from app.phone import DEFAULT_REGION, PhoneNumber, display
from app.recognition import queries
from app.recognition.schemas import (
    CallbackBrief,
    CallerNumber,
    Candidate,
    Card,
    CaseBrief,
    InteractionBrief,
    NoticeBrief,
    ServiceProfileView,
)


def describe_number(number: PhoneNumber, region: str = DEFAULT_REGION) -> CallerNumber:
    """What the number itself tells an agent of a tenant in `region`."""
    return CallerNumber(
        raw=number.raw,
        e164=number.e164,
        kind=str(number.kind),
        region=number.region,
        region_description=number.region_description,
        display=display(number, region),
    )


async def recognise_number(
    session: AsyncSession,
    *,
    tenant_id: int,
    number: PhoneNumber,
    called: PhoneNumber | None = None,
    now: datetime | None = None,
    region: str = DEFAULT_REGION,
) -> Card:
    """The card for a calling number: known, ambiguous (a shared number), unknown or withheld."""
    now = now or utcnow()
    called_key = called.key if called is not None else None
    if number.is_withheld or number.key is None:
        card = Card(match="withheld" if number.is_withheld else "unknown")
        card.number = describe_number(number, region)
        await _fill_details(session, card, tenant_id, None, None, called_key, [], now)
        return card
    statement, params = queries.candidates_for_number(tenant_id, number.key)
    rows = (await session.execute(statement, params)).all()
    card = _card_from_candidates(rows)
    card.number = describe_number(number, region)
    top = rows[0][0] if rows else None
    await _fill_details(
        session,
        card,
        tenant_id,
        top.id if top else None,
        number.key,
        called_key,
        list(top.tags) if top else [],
        now,
    )
    return card


async def recognise_contact(
    session: AsyncSession,
    *,
    tenant_id: int,
    contact_id: int,
    number: PhoneNumber | None = None,
    called: PhoneNumber | None = None,
    now: datetime | None = None,
    region: str = DEFAULT_REGION,
) -> Card | None:
    """The card of one contact (an agent picked them among a household); None if not ours."""
    now = now or utcnow()
    row = (await session.execute(queries.contact_with_profile(tenant_id, contact_id))).first()
    if row is None:
        return None
    card = _card_from_candidates([row])
    if number is not None:
        card.number = describe_number(number, region)
    key = number.key if number is not None else None
    called_key = called.key if called is not None else None
    await _fill_details(session, card, tenant_id, contact_id, key, called_key, row[0].tags, now)
    return card


async def recognise_reference(
    session: AsyncSession, *, tenant_id: int, reference: str, now: datetime | None = None
) -> Card | None:
    """The card of whoever a case reference (e.g. a referral number) belongs to."""
    case = (await session.execute(queries.case_by_reference(tenant_id, reference))).scalar()
    if case is None:
        return None
    if case.contact_id is not None:
        return await recognise_contact(
            session, tenant_id=tenant_id, contact_id=case.contact_id, now=now
        )
    # A case filed before we knew who it is for: show the case and the tenant's notices.
    card = Card(match="unknown")
    await _fill_details(session, card, tenant_id, None, None, None, [], now or utcnow())
    card.cases.append(
        CaseBrief(
            id=case.id,
            reference=case.reference,
            kind=case.kind,
            status=case.status,
            next_step=case.next_step,
            position=case.position,
            updated_at=case.updated_at,
        )
    )
    return card


async def remember_choice(
    session: AsyncSession,
    *,
    tenant_id: int,
    number: PhoneNumber,
    contact_id: int,
    agent_id: int | None,
) -> bool:
    """Remember which contact an agent picked for a shared number; False if not on it."""
    if number.key is None:
        return False
    owns = await session.scalar(queries.number_belongs_to(tenant_id, number.key, contact_id))
    if owns is None:
        return False
    choice = await session.get(NumberChoice, (tenant_id, number.key))
    if choice is None:
        session.add(
            NumberChoice(
                tenant_id=tenant_id, e164=number.key, contact_id=contact_id, agent_id=agent_id
            )
        )
    else:
        choice.contact_id, choice.agent_id, choice.chosen_at = contact_id, agent_id, utcnow()
    await session.flush()
    return True


def _card_from_candidates(rows: Sequence[Any]) -> Card:
    if not rows:
        return Card(match="unknown")
    contact: Contact = rows[0][0]
    profile: ServiceProfile | None = rows[0][1]
    return Card(
        match="known" if len(rows) == 1 else "ambiguous",
        contact_id=contact.id,
        display_name=contact.display_name,
        form_of_address=contact.form_of_address,
        language=contact.language,
        organisation=contact.organisation,
        household=contact.household,
        flags=list(contact.flags),
        tags=list(contact.tags),
        notes=contact.notes,
        candidates=[
            Candidate(
                contact_id=row[0].id,
                display_name=row[0].display_name,
                form_of_address=row[0].form_of_address,
                household=row[0].household,
                last_interaction_at=row[2],
                chosen_before=bool(row[3]),
            )
            for row in rows
        ],
        service_profile=_profile_view(profile) if profile is not None else None,
    )


def _profile_view(profile: ServiceProfile) -> ServiceProfileView:
    return ServiceProfileView(
        preferred_times=profile.preferred_times,
        preferred_channel=profile.preferred_channel,
        preferred_place=profile.preferred_place,
        language=profile.language,
        plain_language=profile.plain_language,
        extra_explanation=profile.extra_explanation,
        interpreter=profile.interpreter,
        accessibility=profile.accessibility,
        likes=list(profile.likes),
        dislikes=list(profile.dislikes),
        extra=dict(profile.extra),
    )


async def _fill_details(
    session: AsyncSession,
    card: Card,
    tenant_id: int,
    contact_id: int | None,
    number_key: str | None,
    called_key: str | None,
    tags: list[str],
    now: datetime,
) -> None:
    statement, params = queries.card_details(
        tenant_id=tenant_id,
        contact_id=contact_id,
        number_key=number_key,
        called_key=called_key,
        tags=tags,
        now=now,
    )
    for row in (await session.execute(statement, params)).mappings():
        kind = row["kind"]
        if kind == "interaction":
            card.interactions.append(
                InteractionBrief(
                    id=row["id"],
                    occurred_at=row["at"],
                    channel=row["t1"],
                    summary=row["t2"],
                    outcome=row["t3"],
                    agent_name=row["t4"],
                    direction=row["t5"],
                )
            )
        elif kind == "callback":
            due = row["due"]
            card.callbacks.append(
                CallbackBrief(
                    id=row["id"],
                    reason=row["t1"],
                    requested_at=row["at"],
                    due_by=due,
                    overdue=due is not None and due < now,
                    attempts=row["n"] or 0,
                )
            )
        elif kind == "case":
            card.cases.append(
                CaseBrief(
                    id=row["id"],
                    reference=row["t1"],
                    kind=row["t2"],
                    status=row["t3"],
                    next_step=row["t4"],
                    position=row["n"],
                    updated_at=row["at"],
                )
            )
        else:
            card.notices.append(
                NoticeBrief(
                    id=row["id"],
                    title=row["t1"],
                    body=row["t2"],
                    severity=row["t3"],
                    sensitive=bool(row["n"]),
                )
            )
    # UNION ALL keeps no order across branches: restore each list's own.
    card.interactions.sort(key=lambda i: (i.occurred_at, i.id), reverse=True)
    card.callbacks.sort(key=lambda c: (not c.overdue, c.due_by is None, c.due_by or now, c.id))
    card.cases.sort(key=lambda c: c.updated_at, reverse=True)
