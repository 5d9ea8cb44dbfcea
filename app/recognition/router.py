"""Lookup routes: who is this number, whose is this reference."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.api.deps import ContactsWriter, DbSession, LookupReader
from app.api.inputs import RowId, id_path, require_in_tenant
from app.auth.keys import Principal
from app.errors import Forbidden, InvalidInput, NotFound, error_responses
from app.models import Agent
from app.phone import PhoneNumber, normalise
from app.recognition.masking import card_for
from app.recognition.schemas import Card
from app.recognition.service import (
    recognise_contact,
    recognise_number,
    recognise_reference,
    remember_choice,
)
from app.sources.lookup import SourceLookups
from app.sources.merge import merge

router = APIRouter(tags=["lookup"])


def _read_number(raw: str, region: str, parameter: str) -> PhoneNumber:
    number = normalise(raw, region)
    if number.kind == "invalid":
        raise InvalidInput(
            f"Cannot read {parameter}={raw!r} as a phone number: give it as +31612345678, "
            "0612345678 or a tel:/sip: URI (withheld callers: 'anonymous')."
        )
    return number


@router.get(
    "/lookup",
    response_model=Card,
    summary="Recognise a caller by number or a case by reference",
    responses=error_responses(401, 403, 404, 422),
)
async def lookup(
    request: Request,
    session: DbSession,
    principal: LookupReader,
    number: Annotated[
        str | None, Query(description="Calling number in any common form", max_length=200)
    ] = None,
    reference: Annotated[
        str | None, Query(description="A case reference, e.g. a referral number", max_length=64)
    ] = None,
    called: Annotated[
        str | None,
        Query(description="The number that was called (selects line notices)", max_length=200),
    ] = None,
) -> Card:
    """The caller's card: pass exactly one of `number` and `reference`. A number not known
    here is looked up in the tenant's sources too (within `STAMGAST_SOURCES_DEADLINE_MS`)."""
    if (number is None) == (reference is None):
        raise InvalidInput("Pass exactly one of `number` or `reference`.")
    region = principal.tenant_region
    if reference is not None:
        if not reference.strip():
            raise InvalidInput("`reference` is empty: give a case reference such as ZD-2026-0042.")
        card = await recognise_reference(
            session, tenant_id=principal.tenant_id, reference=reference
        )
        if card is None:
            raise NotFound(f"No case with reference {reference.strip()!r} in this tenant.")
        masked = None
    else:
        assert number is not None
        if not number.strip():
            # Withheld callers are looked up by saying so: an empty value is more often a
            # template variable the phone system left blank than a withheld caller.
            raise InvalidInput(
                "`number` is empty: give the calling number, e.g. number=0612345678 "
                "(for a withheld caller pass number=anonymous)."
            )
        caller = _read_number(number, region, "number")
        called_number = _read_number(called, region, "called") if called else None
        card = await recognise_number(
            session,
            tenant_id=principal.tenant_id,
            number=caller,
            called=called_number,
            region=region,
        )
        card = await with_sources(
            session, request.app.state.source_lookups, principal.tenant_id, card
        )
        masked = caller.masked
    audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        agent_id=principal.agent_id,
        action="lookup",
        subject_type="reference" if reference is not None else "number",
        subject_id=reference.strip() if reference is not None else None,
        contact_id=card.contact_id,
        number_masked=masked,
    )
    return card_for(card, sees_sensitive=principal.sees_sensitive)


async def with_sources(
    session: AsyncSession, lookups: SourceLookups, tenant_id: int, card: Card
) -> Card:
    """The card with what the tenant's sources answer within the deadline, for a number
    not known here (a late answer is cached for the next lookup)."""
    e164 = card.number.e164 if card.number is not None else None
    if card.match not in ("unknown", "ambiguous") or e164 is None:
        return card
    asked = await lookups.ask(tenant_id, normalise(e164), session=session)
    if not asked.found:
        return card
    return Card.model_validate(merge(card.model_dump(), asked.found))


@router.get(
    "/cards/{contact_id}",
    response_model=Card,
    summary="The card of one contact (e.g. the household member an agent picked)",
    responses=error_responses(401, 403, 404, 422),
)
async def contact_card(
    session: DbSession,
    principal: LookupReader,
    contact_id: Annotated[int, id_path("contact")],
    number: Annotated[
        str | None, Query(description="The number they call from", max_length=200)
    ] = None,
    called: Annotated[
        str | None,
        Query(
            description="The number that was called (selects line notices as on the ringing card)",
            max_length=200,
        ),
    ] = None,
) -> Card:
    """Everything about one contact, as on a ringing card."""
    region = principal.tenant_region
    caller = _read_number(number, region, "number") if number else None
    called_number = _read_number(called, region, "called") if called else None
    card = await recognise_contact(
        session,
        tenant_id=principal.tenant_id,
        contact_id=contact_id,
        number=caller,
        called=called_number,
        region=region,
    )
    if card is None:
        raise NotFound(f"No contact {contact_id} in this tenant.")
    audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        agent_id=principal.agent_id,
        action="view",
        subject_type="contact",
        subject_id=contact_id,
        contact_id=contact_id,
    )
    return card_for(card, sees_sensitive=principal.sees_sensitive)


class NumberChoiceIn(BaseModel):
    """An agent's pick among the contacts sharing a number."""

    number: str = Field(max_length=200, examples=["+31334567890"])
    contact_id: RowId
    agent_id: RowId | None = None


@router.post(
    "/lookup/choice",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remember which contact sharing a number was calling",
    responses=error_responses(401, 403, 422),
)
async def choose_contact(
    session: DbSession, principal: ContactsWriter, body: NumberChoiceIn
) -> None:
    """Next time this number calls, this contact is ranked first (needs `contacts:write`;
    an agent's widget token records choices as its own agent)."""
    caller = _read_number(body.number, principal.tenant_region, "number")
    agent_id = await _choosing_agent(session, principal, body.agent_id)
    if not await remember_choice(
        session,
        tenant_id=principal.tenant_id,
        number=caller,
        contact_id=body.contact_id,
        agent_id=agent_id,
    ):
        raise InvalidInput(
            f"Contact {body.contact_id} has no number {caller.masked} in this tenant: "
            "pick one of the candidates the lookup returned."
        )


async def _choosing_agent(
    session: AsyncSession, principal: Principal, agent_id: int | None
) -> int | None:
    """The agent a choice is recorded for: a widget token's own agent, or one of this
    tenant's agents named by an API key (the choice shows on every later card)."""
    if principal.agent_id is not None:
        if agent_id not in (None, principal.agent_id):
            raise Forbidden(
                f"This agent token records choices for its own agent only: send agent_id "
                f"{principal.agent_id} or leave it out."
            )
        return principal.agent_id
    await require_in_tenant(
        session, Agent, tenant_id=principal.tenant_id, row_id=agent_id, field="agent_id"
    )
    return agent_id
