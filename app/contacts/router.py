"""Contacts over HTTP: /v1/contacts and their numbers and service profile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.api.deps import Admin, ContactsWriter, DbSession, LookupReader, Paging
from app.api.inputs import id_path
from app.auth.keys import Principal
from app.contacts import service
from app.contacts.schemas import (
    ContactCreate,
    ContactOut,
    ContactUpdate,
    NumberIn,
    NumberOut,
    ServiceProfileIn,
    ServiceProfileOut,
)
from app.errors import Forbidden, error_responses
from app.models import Contact

router = APIRouter(prefix="/contacts", tags=["contacts"])

ContactId = Annotated[int, id_path("contact")]


@router.post(
    "",
    response_model=ContactOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a contact with numbers and service profile",
    responses=error_responses(401, 403, 409, 422),
)
async def create_contact(
    data: ContactCreate, session: DbSession, principal: ContactsWriter
) -> ContactOut:
    """Store a caller; every number is normalised with the tenant's region."""
    contact = await service.create_contact(
        session,
        tenant_id=principal.tenant_id,
        region=principal.tenant_region,
        actor=principal.actor,
        data=data,
    )
    return _out(contact, principal)


@router.get(
    "",
    response_model=list[ContactOut],
    summary="Find contacts by name, number or tag",
    responses=error_responses(401, 403, 422),
)
async def list_contacts(
    session: DbSession,
    principal: LookupReader,
    page: Paging,
    q: Annotated[
        str | None, Query(max_length=200, description="Part of the name, any case")
    ] = None,
    number: Annotated[
        str | None, Query(max_length=64, description="A number in any common notation")
    ] = None,
    tag: Annotated[str | None, Query(max_length=64, description="Contacts with this tag")] = None,
) -> list[ContactOut]:
    """Contacts matching every filter given, ordered by name then id."""
    contacts = await service.list_contacts(
        session,
        tenant_id=principal.tenant_id,
        region=principal.tenant_region,
        q=q,
        number=number,
        tag=tag,
        limit=page.limit,
        offset=page.offset,
    )
    return [_out(c, principal) for c in contacts]


@router.get(
    "/{contact_id}",
    response_model=ContactOut,
    summary="Read one contact",
    responses=error_responses(401, 403, 404, 422),
)
async def get_contact(
    contact_id: ContactId, session: DbSession, principal: LookupReader
) -> ContactOut:
    """One contact with numbers and profile; the reading is audited."""
    contact = await service.view_contact(
        session, tenant_id=principal.tenant_id, actor=principal.actor, contact_id=contact_id
    )
    return _out(contact, principal)


@router.patch(
    "/{contact_id}",
    response_model=ContactOut,
    summary="Change a contact",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def update_contact(
    contact_id: ContactId, data: ContactUpdate, session: DbSession, principal: ContactsWriter
) -> ContactOut:
    """Change the fields given; `numbers` replaces the set, `service_profile` is merged.
    Role `agent` may not change `notes` (it cannot read them)."""
    if "notes" in data.model_fields_set and not principal.sees_sensitive:
        raise Forbidden(
            "Role `agent` cannot read a contact's notes, so it may not change them: leave "
            "`notes` out, or use a key or agent with role `supervisor`."
        )
    contact = await service.update_contact(
        session,
        tenant_id=principal.tenant_id,
        region=principal.tenant_region,
        actor=principal.actor,
        contact_id=contact_id,
        data=data,
    )
    return _out(contact, principal)


@router.delete(
    "/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Erase a contact and everything about them",
    responses=error_responses(401, 403, 404, 422),
)
async def erase_contact(contact_id: ContactId, session: DbSession, principal: Admin) -> None:
    """Erase the contact with numbers, profile, interactions, callbacks and cases."""
    await service.erase_contact(
        session,
        tenant_id=principal.tenant_id,
        region=principal.tenant_region,
        actor=principal.actor,
        contact_id=contact_id,
    )


@router.post(
    "/{contact_id}/numbers",
    response_model=NumberOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a number to a contact",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def add_number(
    contact_id: ContactId, data: NumberIn, session: DbSession, principal: ContactsWriter
) -> NumberOut:
    """Add one number, normalised with the tenant's region."""
    row = await service.add_number(
        session,
        tenant_id=principal.tenant_id,
        region=principal.tenant_region,
        actor=principal.actor,
        contact_id=contact_id,
        data=data,
    )
    return NumberOut.of(row, principal.tenant_region)


@router.delete(
    "/{contact_id}/numbers/{number_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove a number from a contact",
    responses=error_responses(401, 403, 404, 422),
)
async def remove_number(
    contact_id: ContactId,
    number_id: Annotated[int, id_path("number")],
    session: DbSession,
    principal: ContactsWriter,
) -> None:
    """Remove one of the contact's numbers."""
    await service.remove_number(
        session,
        tenant_id=principal.tenant_id,
        region=principal.tenant_region,
        actor=principal.actor,
        contact_id=contact_id,
        number_id=number_id,
    )


@router.put(
    "/{contact_id}/service-profile",
    response_model=ServiceProfileOut,
    summary="Set a contact's service profile",
    responses=error_responses(401, 403, 404, 422),
)
async def put_service_profile(
    contact_id: ContactId, data: ServiceProfileIn, session: DbSession, principal: ContactsWriter
) -> ServiceProfileOut:
    """Replace the profile as a whole: fields left out get their defaults."""
    profile = await service.put_service_profile(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        contact_id=contact_id,
        data=data,
    )
    return ServiceProfileOut.model_validate(profile)


def _out(contact: Contact, principal: Principal) -> ContactOut:
    """A contact as this reader's role sees it (app/auth/roles.py)."""
    view = ContactOut.of(contact, principal.tenant_region)
    return view.for_reader(sees_sensitive=principal.sees_sensitive)
