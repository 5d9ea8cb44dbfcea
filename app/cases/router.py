"""Cases over HTTP: /v1/cases, also found by their reference."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi import status as http_status
from starlette.convertors import PathConvertor, register_url_convertor

from app.api.deps import ContactsWriter, DbSession, LookupReader, Paging
from app.api.inputs import MAX_ID, id_path
from app.cases import service
from app.cases.schemas import CaseCreate, CaseKind, CaseOut, CaseStatus, CaseUpdate
from app.errors import error_responses

router = APIRouter(prefix="/cases", tags=["cases"])


class _ReferenceConvertor(PathConvertor):
    """The rest of the path, line breaks too: Starlette's `path` (".*") stops at one, so a
    reference with a surrounding newline, which the lookup trims, missed the route."""

    regex = r"[\s\S]*"


register_url_convertor("reference", _ReferenceConvertor())

CaseId = Annotated[int, id_path("case")]


@router.post(
    "",
    response_model=CaseOut,
    status_code=http_status.HTTP_201_CREATED,
    summary="Open a case",
    responses=error_responses(401, 403, 409, 422),
)
async def create_case(data: CaseCreate, session: DbSession, principal: ContactsWriter) -> CaseOut:
    """Open a case; its reference must be new in the tenant."""
    row = await service.create_case(
        session, tenant_id=principal.tenant_id, actor=principal.actor, data=data
    )
    return CaseOut.model_validate(row)


@router.get(
    "",
    response_model=list[CaseOut],
    summary="Cases, most recently updated first",
    responses=error_responses(401, 403, 422),
)
async def list_cases(
    session: DbSession,
    principal: LookupReader,
    page: Paging,
    contact_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: CaseStatus | None = None,
    kind: CaseKind | None = None,
) -> list[CaseOut]:
    """Cases matching every filter given."""
    rows = await service.list_cases(
        session,
        tenant_id=principal.tenant_id,
        contact_id=contact_id,
        status=status,
        kind=kind,
        limit=page.limit,
        offset=page.offset,
    )
    return [CaseOut.model_validate(row) for row in rows]


@router.get(
    "/by-reference/{reference:reference}",
    response_model=CaseOut,
    summary="Find a case by its reference",
    responses=error_responses(401, 403, 404, 422),
)
async def get_case_by_reference(
    reference: Annotated[
        str,
        Path(max_length=200, description="Surrounding spaces are ignored; case matters"),
    ],
    session: DbSession,
    principal: LookupReader,
) -> CaseOut:
    """The case with exactly this reference (after trimming spaces)."""
    row = await service.get_case_by_reference(
        session, tenant_id=principal.tenant_id, reference=reference
    )
    return CaseOut.model_validate(row)


@router.get(
    "/{case_id}",
    response_model=CaseOut,
    summary="Read one case",
    responses=error_responses(401, 403, 404, 422),
)
async def get_case(case_id: CaseId, session: DbSession, principal: LookupReader) -> CaseOut:
    """One case."""
    row = await service.get_case(session, tenant_id=principal.tenant_id, case_id=case_id)
    return CaseOut.model_validate(row)


@router.patch(
    "/{case_id}",
    response_model=CaseOut,
    summary="Change a case",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def update_case(
    case_id: CaseId, data: CaseUpdate, session: DbSession, principal: ContactsWriter
) -> CaseOut:
    """Change the fields given; a new reference must be free."""
    row = await service.update_case(
        session, tenant_id=principal.tenant_id, actor=principal.actor, case_id=case_id, data=data
    )
    return CaseOut.model_validate(row)


@router.delete(
    "/{case_id}",
    status_code=http_status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a case",
    responses=error_responses(401, 403, 404, 422),
)
async def delete_case(case_id: CaseId, session: DbSession, principal: ContactsWriter) -> None:
    """Delete a case."""
    await service.delete_case(
        session, tenant_id=principal.tenant_id, actor=principal.actor, case_id=case_id
    )
