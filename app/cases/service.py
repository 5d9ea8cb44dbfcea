"""Cases: opening, finding (by id or reference), changing and deleting them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.inputs import require_in_tenant
from app.audit import record
from app.cases.schemas import CaseCreate, CaseUpdate
from app.errors import Conflict, NotFound
from app.models import Case, Contact, utcnow


async def get_case(session: AsyncSession, *, tenant_id: int, case_id: int) -> Case:
    """One case; NotFound if not this tenant's."""
    row = await session.scalar(select(Case).where(Case.tenant_id == tenant_id, Case.id == case_id))
    if row is None:
        raise NotFound(f"No case {case_id} in this tenant.")
    return row


async def get_case_by_reference(session: AsyncSession, *, tenant_id: int, reference: str) -> Case:
    """The case with this reference (trimmed, matched exactly); NotFound if none."""
    reference = reference.strip()
    row = await session.scalar(
        select(Case).where(Case.tenant_id == tenant_id, Case.reference == reference)
    )
    if row is None:
        raise NotFound(f"No case with reference {reference} in this tenant.")
    return row


async def _check_reference(
    session: AsyncSession, *, tenant_id: int, reference: str, case_id: int | None
) -> None:
    query = select(Case.id).where(Case.tenant_id == tenant_id, Case.reference == reference)
    if case_id is not None:
        query = query.where(Case.id != case_id)
    other = await session.scalar(query)
    if other is not None:
        raise Conflict(f"Case reference {reference} is already used by case {other}.")


async def create_case(
    session: AsyncSession, *, tenant_id: int, actor: str, data: CaseCreate
) -> Case:
    """Open a case; its reference must be new in the tenant."""
    await require_in_tenant(
        session, Contact, tenant_id=tenant_id, row_id=data.contact_id, field="contact_id"
    )
    await _check_reference(session, tenant_id=tenant_id, reference=data.reference, case_id=None)
    now = utcnow()
    row = Case(tenant_id=tenant_id, **data.model_dump(), created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="create",
        subject_type="case",
        subject_id=row.id,
        contact_id=row.contact_id,
    )
    return row


async def list_cases(
    session: AsyncSession,
    *,
    tenant_id: int,
    contact_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[Case]:
    """Cases matching the filters, most recently updated first."""
    query = select(Case).where(Case.tenant_id == tenant_id)
    if contact_id is not None:
        query = query.where(Case.contact_id == contact_id)
    if status is not None:
        query = query.where(Case.status == status)
    if kind is not None:
        query = query.where(Case.kind == kind)
    query = query.order_by(Case.updated_at.desc(), Case.id.desc()).limit(limit).offset(offset)
    return (await session.scalars(query)).all()


async def update_case(
    session: AsyncSession, *, tenant_id: int, actor: str, case_id: int, data: CaseUpdate
) -> Case:
    """Change the fields given."""
    row = await get_case(session, tenant_id=tenant_id, case_id=case_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if "contact_id" in changes:
        await require_in_tenant(
            session,
            Contact,
            tenant_id=tenant_id,
            row_id=changes["contact_id"],
            field="contact_id",
        )
    if "reference" in changes:
        await _check_reference(
            session, tenant_id=tenant_id, reference=changes["reference"], case_id=row.id
        )
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await session.flush()
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="update",
        subject_type="case",
        subject_id=row.id,
        contact_id=row.contact_id,
    )
    return row


async def delete_case(session: AsyncSession, *, tenant_id: int, actor: str, case_id: int) -> None:
    """Delete a case."""
    row = await get_case(session, tenant_id=tenant_id, case_id=case_id)
    await session.execute(delete(Case).where(Case.tenant_id == tenant_id, Case.id == case_id))
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="delete",
        subject_type="case",
        subject_id=case_id,
        contact_id=row.contact_id,
    )
