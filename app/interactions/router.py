"""Interactions over HTTP: a contact's history and recording a new contact moment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status

from app.api.deps import ContactsWriter, DbSession, LookupReader, Paging
from app.api.inputs import id_path
from app.errors import error_responses
from app.interactions import service
from app.interactions.schemas import InteractionCreate, InteractionOut

router = APIRouter(tags=["interactions"])


@router.get(
    "/contacts/{contact_id}/interactions",
    response_model=list[InteractionOut],
    summary="A contact's interactions, newest first",
    responses=error_responses(401, 403, 404, 422),
)
async def list_interactions(
    contact_id: Annotated[int, id_path("contact")],
    session: DbSession,
    principal: LookupReader,
    page: Paging,
) -> list[InteractionOut]:
    """The contact's history, newest first."""
    rows = await service.list_interactions(
        session,
        tenant_id=principal.tenant_id,
        contact_id=contact_id,
        limit=page.limit,
        offset=page.offset,
    )
    return [InteractionOut.model_validate(row) for row in rows]


@router.post(
    "/interactions",
    response_model=InteractionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record an interaction",
    responses=error_responses(401, 403, 422),
)
async def create_interaction(
    data: InteractionCreate, session: DbSession, principal: ContactsWriter
) -> InteractionOut:
    """Record a contact moment with one of this tenant's contacts."""
    row = await service.create_interaction(
        session, tenant_id=principal.tenant_id, actor=principal.actor, data=data
    )
    return InteractionOut.model_validate(row)
