"""Callback requests over HTTP: /v1/callbacks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import status as http_status

from app.api.deps import ContactsWriter, DbSession, LookupReader, Paging
from app.api.inputs import MAX_ID, id_path
from app.callbacks import attempts, service
from app.callbacks.schemas import (
    AttemptCreate,
    AttemptOut,
    AttemptRecorded,
    CallbackCreate,
    CallbackOut,
    CallbackUpdate,
)
from app.errors import error_responses
from app.models import utcnow

router = APIRouter(prefix="/callbacks", tags=["callbacks"])

CallbackId = Annotated[int, id_path("callback request")]


@router.get(
    "",
    response_model=list[CallbackOut],
    summary="Callback requests, overdue first",
    responses=error_responses(401, 403, 422),
)
async def list_callbacks(
    session: DbSession,
    principal: LookupReader,
    page: Paging,
    status: Annotated[
        service.StatusFilter, Query(description="Only callbacks in this status (`all`: any)")
    ] = "open",
    contact_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    number: Annotated[
        str | None,
        Query(max_length=64, description="Promised to this number or to a contact on it"),
    ] = None,
    assignee_agent_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Assigned to this agent (an agent's own list)"),
    ] = None,
) -> list[CallbackOut]:
    """Callbacks matching the filters: overdue ones first, then by due time."""
    now = utcnow()
    rows = await service.list_callbacks(
        session,
        tenant_id=principal.tenant_id,
        region=principal.tenant_region,
        now=now,
        status=status,
        contact_id=contact_id,
        number=number,
        assignee_agent_id=assignee_agent_id,
        limit=page.limit,
        offset=page.offset,
    )
    return [CallbackOut.of(row, now) for row in rows]


@router.get(
    "/{callback_id}",
    response_model=CallbackOut,
    summary="Read one callback request",
    responses=error_responses(401, 403, 404, 422),
)
async def get_callback(
    callback_id: CallbackId, session: DbSession, principal: LookupReader
) -> CallbackOut:
    """One callback request."""
    row = await service.get_callback(
        session, tenant_id=principal.tenant_id, callback_id=callback_id
    )
    return CallbackOut.of(row, utcnow())


@router.post(
    "",
    response_model=CallbackOut,
    status_code=http_status.HTTP_201_CREATED,
    summary="Promise a callback",
    responses=error_responses(401, 403, 422),
)
async def create_callback(
    data: CallbackCreate, session: DbSession, principal: ContactsWriter
) -> CallbackOut:
    """Promise to call back a contact, a bare number, or both."""
    row = await service.create_callback(
        session,
        tenant_id=principal.tenant_id,
        region=principal.tenant_region,
        actor=principal.actor,
        data=data,
    )
    return CallbackOut.of(row, utcnow())


@router.patch(
    "/{callback_id}",
    response_model=CallbackOut,
    summary="Change, close or reopen a callback request",
    responses=error_responses(401, 403, 404, 422),
)
async def update_callback(
    callback_id: CallbackId, data: CallbackUpdate, session: DbSession, principal: ContactsWriter
) -> CallbackOut:
    """`done` or `cancelled` closes it (stamping closed_at); `open` reopens it."""
    row = await service.update_callback(
        session,
        tenant_id=principal.tenant_id,
        region=principal.tenant_region,
        actor=principal.actor,
        callback_id=callback_id,
        data=data,
    )
    return CallbackOut.of(row, utcnow())


@router.post(
    "/{callback_id}/attempts",
    response_model=AttemptRecorded,
    status_code=http_status.HTTP_201_CREATED,
    summary="Record a call-back attempt",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def record_attempt(
    callback_id: CallbackId, data: AttemptCreate, session: DbSession, principal: ContactsWriter
) -> AttemptRecorded:
    """Count one try (reached, no_answer, voicemail, busy, wrong_number); `reached` closes
    the request as done. 409 when it is no longer open."""
    row, attempt = await attempts.record_attempt(
        session,
        tenant_id=principal.tenant_id,
        callback_id=callback_id,
        outcome=data.outcome,
        actor=principal.actor,
        agent_id=data.agent_id if data.agent_id is not None else principal.agent_id,
        note=data.note,
        at=data.at,
        region=principal.tenant_region,
    )
    return AttemptRecorded(attempt=AttemptOut.of(attempt), callback=CallbackOut.of(row, utcnow()))


@router.get(
    "/{callback_id}/attempts",
    response_model=list[AttemptOut],
    summary="A callback request's attempts, oldest first",
    responses=error_responses(401, 403, 404, 422),
)
async def list_attempts(
    callback_id: CallbackId, session: DbSession, principal: LookupReader
) -> list[AttemptOut]:
    """Every try at calling back, oldest first."""
    rows = await attempts.list_attempts(
        session, tenant_id=principal.tenant_id, callback_id=callback_id
    )
    return [AttemptOut.of(row) for row in rows]
