"""GET /v1/audit and a person's data export (admin): HTTP in, a service call out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app import audit
from app.api.deps import Admin, DbSession, Paging
from app.api.inputs import MAX_ID, AwareDatetime, id_path
from app.errors import InvalidInput, NotFound, error_responses
from app.phone import PhoneNumber, normalise
from app.privacy import export, trail
from app.privacy.schemas import AuditEventOut, PersonalData

router = APIRouter(tags=["privacy"])

_NUMBER_HELP = "+31612345678, 0612345678 or a tel:/sip: URI"


def _read_number(raw: str, region: str) -> PhoneNumber:
    number = normalise(raw, region)
    if number.is_withheld or number.key is None:
        raise InvalidInput(
            f"Cannot read number={raw!r} as a phone number: give it as {_NUMBER_HELP} "
            "(a withheld number names nobody)."
        )
    return number


@router.get(
    "/audit",
    response_model=list[AuditEventOut],
    summary="The audit trail, per contact, agent or number",
    responses=error_responses(401, 403, 422),
)
async def list_audit_events(
    session: DbSession,
    principal: Admin,
    page: Paging,
    contact_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="About this contact (or their calls)")
    ] = None,
    agent_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="By, or shown to, this agent")
    ] = None,
    number: Annotated[
        str | None,
        Query(max_length=200, description=f"About this number ({_NUMBER_HELP})"),
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="At or after (with offset)")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Before (with offset)")] = None,
) -> list[AuditEventOut]:
    """Who looked up, was shown (a screen-pop) or changed what, newest first. Every filter
    given must hold; a number matches its holders, its calls and lookups of it."""
    if since is not None and until is not None and until <= since:
        raise InvalidInput("`until` must be after `since`.")
    found = await trail.audit_events(
        session,
        tenant_id=principal.tenant_id,
        contact_id=contact_id,
        agent_id=agent_id,
        number=None if number is None else _read_number(number, principal.tenant_region),
        since=since,
        until=until,
        limit=page.limit,
        offset=page.offset,
    )
    return [AuditEventOut.model_validate(event) for event in found]


@router.get(
    "/contacts/{contact_id}/export",
    response_model=PersonalData,
    summary="Everything held about a contact (an access request)",
    responses=error_responses(401, 403, 404, 422),
)
async def export_contact(
    session: DbSession,
    principal: Admin,
    contact_id: Annotated[int, id_path("contact")],
) -> PersonalData:
    """The contact, their numbers and profile, and every row about them, as one document.
    The export is itself audited."""
    data = await export.export_contact(
        session,
        tenant_id=principal.tenant_id,
        contact_id=contact_id,
        region=principal.tenant_region,
        now=None,
    )
    if data is None:
        raise NotFound(f"No contact {contact_id} in this tenant.")
    audit.record(
        session, tenant_id=principal.tenant_id, actor=principal.actor, action="export",
        subject_type="contact", subject_id=contact_id, contact_id=contact_id,
        agent_id=principal.agent_id,
    )  # fmt: skip
    return data


@router.get(
    "/export",
    response_model=PersonalData,
    summary="Everything held about a number (an access request)",
    responses=error_responses(401, 403, 422),
)
async def export_number(
    session: DbSession,
    principal: Admin,
    number: Annotated[str, Query(max_length=200, description=f"The number ({_NUMBER_HELP})")],
) -> PersonalData:
    """Every contact holding the number (a household's number names them all: hand over
    what belongs to the person asking), and its calls, callbacks and audit trail."""
    phone = _read_number(number, principal.tenant_region)
    data = await export.export_number(
        session, tenant_id=principal.tenant_id, number=phone, now=None
    )
    audit.record(
        session, tenant_id=principal.tenant_id, actor=principal.actor, action="export",
        subject_type="number", number_masked=phone.masked, agent_id=principal.agent_id,
    )  # fmt: skip
    return data
