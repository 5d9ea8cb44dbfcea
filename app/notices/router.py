"""Notices over HTTP: /v1/notices."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi import status as http_status

from app.api.deps import ContactsWriter, DbSession, LookupReader, Paging
from app.api.inputs import MAX_ID, id_path
from app.auth.keys import Principal
from app.errors import Forbidden, error_responses
from app.models import utcnow
from app.notices import service
from app.notices.schemas import NoticeCreate, NoticeOut, NoticeUpdate

router = APIRouter(prefix="/notices", tags=["notices"])

NoticeId = Annotated[int, id_path("notice")]


@router.post(
    "",
    response_model=NoticeOut,
    status_code=http_status.HTTP_201_CREATED,
    summary="Publish a notice",
    responses=error_responses(401, 403, 422),
)
async def create_notice(
    data: NoticeCreate, session: DbSession, principal: ContactsWriter
) -> NoticeOut:
    """Publish a notice for the tenant, one line or a tag, from starts_at (default now).
    Role `agent` may not mark one sensitive (it could not read it back)."""
    if data.sensitive:
        _may_see_sensitive(principal)
    row = await service.create_notice(
        session, tenant_id=principal.tenant_id, actor=principal.actor, data=data
    )
    return NoticeOut.of(row, utcnow())


@router.get(
    "",
    response_model=list[NoticeOut],
    summary="Notices, latest start first",
    responses=error_responses(401, 403, 422),
)
async def list_notices(
    session: DbSession,
    principal: LookupReader,
    page: Paging,
    active: Annotated[
        bool | None, Query(description="true: only those within their period now; false: others")
    ] = None,
    line_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[NoticeOut]:
    """Notices matching the filters."""
    now = utcnow()
    rows = await service.list_notices(
        session,
        tenant_id=principal.tenant_id,
        now=now,
        active=active,
        line_id=line_id,
        limit=page.limit,
        offset=page.offset,
        sensitive=principal.sees_sensitive,
    )
    return [NoticeOut.of(row, now) for row in rows]


@router.get(
    "/{notice_id}",
    response_model=NoticeOut,
    summary="Read one notice",
    responses=error_responses(401, 403, 404, 422),
)
async def get_notice(notice_id: NoticeId, session: DbSession, principal: LookupReader) -> NoticeOut:
    """One notice."""
    row = await service.get_notice(
        session,
        tenant_id=principal.tenant_id,
        notice_id=notice_id,
        sensitive=principal.sees_sensitive,
    )
    return NoticeOut.of(row, utcnow())


@router.patch(
    "/{notice_id}",
    response_model=NoticeOut,
    summary="Change a notice",
    responses=error_responses(401, 403, 404, 422),
)
async def update_notice(
    notice_id: NoticeId, data: NoticeUpdate, session: DbSession, principal: ContactsWriter
) -> NoticeOut:
    """Change the fields given; ends_at must stay after starts_at. Role `agent` may not
    mark one sensitive, and does not find the sensitive ones."""
    if data.sensitive:
        _may_see_sensitive(principal)
    row = await service.update_notice(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        notice_id=notice_id,
        data=data,
        sensitive=principal.sees_sensitive,
    )
    return NoticeOut.of(row, utcnow())


@router.delete(
    "/{notice_id}",
    status_code=http_status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a notice",
    responses=error_responses(401, 403, 404, 422),
)
async def delete_notice(notice_id: NoticeId, session: DbSession, principal: ContactsWriter) -> None:
    """Delete a notice."""
    await service.delete_notice(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        notice_id=notice_id,
        sensitive=principal.sees_sensitive,
    )


def _may_see_sensitive(principal: Principal) -> None:
    if not principal.sees_sensitive:
        raise Forbidden(
            "Role `agent` does not see sensitive notices, so it may not mark one sensitive: "
            "leave `sensitive` out, or use a key or agent with role `supervisor`."
        )
