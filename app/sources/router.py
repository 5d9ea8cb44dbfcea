"""`/v1/sources`: the tenant's lookup sources (admin scope); translation to the service only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from app.api.deps import Admin, DbSession
from app.api.inputs import id_path
from app.errors import InvalidInput, error_responses
from app.phone import normalise
from app.sources import service
from app.sources.lookup import SourceLookups, changed_message
from app.sources.schemas import SourceIn, SourceOut, SourceTestOut

router = APIRouter(tags=["sources"])


async def _announce(request: Request, tenant_id: int) -> None:
    # After the commit: every process (this one at once) reads the tenant's sources again.
    await request.app.state.hub.broker.invalidate(changed_message(tenant_id))


@router.get(
    "/sources",
    response_model=list[SourceOut],
    summary="The tenant's lookup sources",
    responses=error_responses(401, 403),
)
async def list_sources(session: DbSession, principal: Admin) -> list[SourceOut]:
    """Every source, in the order their answers are merged onto a card (secrets never shown)."""
    rows = await service.list_sources(session, tenant_id=principal.tenant_id)
    return [service.to_out(row) for row in rows]


@router.post(
    "/sources",
    response_model=SourceOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a lookup source (HTTP/JSON, LDAP, CardDAV, FHIR)",
    responses=error_responses(401, 403, 409, 422),
)
async def create_source(
    body: SourceIn, request: Request, session: DbSession, principal: Admin
) -> SourceOut:
    """Callers not known here are looked up in it from the next call on."""
    row = await service.create_source(session, tenant_id=principal.tenant_id, body=body)
    out = service.to_out(row)
    await session.commit()
    await _announce(request, principal.tenant_id)
    return out


@router.get(
    "/sources/{source_id}",
    response_model=SourceOut,
    summary="One lookup source",
    responses=error_responses(401, 403, 404, 422),
)
async def get_source(
    source_id: Annotated[int, id_path("source")], session: DbSession, principal: Admin
) -> SourceOut:
    """Its settings, without the secret."""
    row = await service.get_source(session, tenant_id=principal.tenant_id, source_id=source_id)
    return service.to_out(row)


@router.put(
    "/sources/{source_id}",
    response_model=SourceOut,
    summary="Replace a lookup source's settings",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def replace_source(
    source_id: Annotated[int, id_path("source")],
    body: SourceIn,
    request: Request,
    session: DbSession,
    principal: Admin,
) -> SourceOut:
    """Send the whole source; leave `secret` out to keep the stored one."""
    row = await service.replace_source(
        session, tenant_id=principal.tenant_id, source_id=source_id, body=body
    )
    out = service.to_out(row)
    await session.commit()
    await _announce(request, principal.tenant_id)
    return out


@router.delete(
    "/sources/{source_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a lookup source",
    responses=error_responses(401, 403, 404, 422),
)
async def delete_source(
    source_id: Annotated[int, id_path("source")],
    request: Request,
    session: DbSession,
    principal: Admin,
) -> None:
    """It is not asked again; what it answered is forgotten."""
    await service.delete_source(session, tenant_id=principal.tenant_id, source_id=source_id)
    await session.commit()
    await _announce(request, principal.tenant_id)


@router.post(
    "/sources/{source_id}/test",
    response_model=SourceTestOut,
    summary="Ask one source about a number now, and time it",
    responses=error_responses(401, 403, 404, 422),
)
async def test_source(
    source_id: Annotated[int, id_path("source")],
    number: Annotated[
        str,
        Query(description="A number in any common form", max_length=200, examples=["+31201234567"]),
    ],
    request: Request,
    session: DbSession,
    principal: Admin,
) -> SourceTestOut:
    """What the source returns for `number`, mapped to our fields, with the time it took
    (its cache is passed by; a source that fails answers 200 with `ok: false`)."""
    row = await service.get_source(session, tenant_id=principal.tenant_id, source_id=source_id)
    caller = normalise(number, principal.tenant_region)
    if caller.e164 is None:
        raise InvalidInput(
            f"Cannot read number={number!r} as a phone number to look up: give it as "
            "+31612345678 or 0612345678."
        )
    lookups: SourceLookups = request.app.state.source_lookups
    return await service.try_source(lookups, row, caller)
