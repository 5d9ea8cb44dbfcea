"""Notices: what callers should hear about, and when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.inputs import require_in_tenant
from app.audit import record
from app.errors import InvalidInput, NotFound
from app.models import Line, Notice, utcnow
from app.notices.schemas import NoticeCreate, NoticeUpdate


def _check_period(starts_at: datetime, ends_at: datetime | None) -> None:
    if ends_at is not None and ends_at <= starts_at:
        raise InvalidInput(
            f"ends_at ({ends_at.isoformat()}) must be after starts_at ({starts_at.isoformat()}): "
            "move ends_at later, or leave it out for a notice without an end."
        )


async def get_notice(
    session: AsyncSession, *, tenant_id: int, notice_id: int, sensitive: bool = True
) -> Notice:
    """One notice; NotFound if not this tenant's, or sensitive and `sensitive` is False
    (role `agent`: a notice it may not see does not exist for it)."""
    row = await session.scalar(
        select(Notice).where(Notice.tenant_id == tenant_id, Notice.id == notice_id)
    )
    if row is None or (row.sensitive and not sensitive):
        raise NotFound(f"No notice {notice_id} in this tenant.")
    return row


async def create_notice(
    session: AsyncSession, *, tenant_id: int, actor: str, data: NoticeCreate
) -> Notice:
    """Publish a notice; its line must be this tenant's and its period must not be empty."""
    starts_at = data.starts_at or utcnow()
    _check_period(starts_at, data.ends_at)
    await require_in_tenant(
        session, Line, tenant_id=tenant_id, row_id=data.line_id, field="line_id"
    )
    row = Notice(tenant_id=tenant_id, **data.model_dump(exclude={"starts_at"}), starts_at=starts_at)
    session.add(row)
    await session.flush()
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="create",
        subject_type="notice",
        subject_id=row.id,
    )
    return row


async def list_notices(
    session: AsyncSession,
    *,
    tenant_id: int,
    now: datetime,
    active: bool | None = None,
    line_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
    sensitive: bool = True,
) -> Sequence[Notice]:
    """Notices, latest start first; `active` keeps those within (or outside) their period;
    `sensitive` False leaves out the sensitive ones (role `agent`)."""
    query = select(Notice).where(Notice.tenant_id == tenant_id)
    if not sensitive:
        query = query.where(Notice.sensitive.is_(False))
    if active is not None:
        within = and_(Notice.starts_at <= now, or_(Notice.ends_at.is_(None), Notice.ends_at > now))
        query = query.where(within if active else not_(within))
    if line_id is not None:
        query = query.where(Notice.line_id == line_id)
    query = query.order_by(Notice.starts_at.desc(), Notice.id.desc()).limit(limit).offset(offset)
    return (await session.scalars(query)).all()


async def update_notice(
    session: AsyncSession,
    *,
    tenant_id: int,
    actor: str,
    notice_id: int,
    data: NoticeUpdate,
    sensitive: bool = True,
) -> Notice:
    """Change the fields given; the resulting period must not be empty. `sensitive` False:
    a sensitive notice is not found (role `agent`)."""
    row = await get_notice(session, tenant_id=tenant_id, notice_id=notice_id, sensitive=sensitive)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    _check_period(changes.get("starts_at", row.starts_at), changes.get("ends_at", row.ends_at))
    if "line_id" in changes:
        await require_in_tenant(
            session, Line, tenant_id=tenant_id, row_id=changes["line_id"], field="line_id"
        )
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="update",
        subject_type="notice",
        subject_id=row.id,
    )
    return row


async def delete_notice(
    session: AsyncSession, *, tenant_id: int, actor: str, notice_id: int, sensitive: bool = True
) -> None:
    """Delete a notice (`sensitive` False: a sensitive one is not found)."""
    await get_notice(session, tenant_id=tenant_id, notice_id=notice_id, sensitive=sensitive)
    await session.execute(
        delete(Notice).where(Notice.tenant_id == tenant_id, Notice.id == notice_id)
    )
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="delete",
        subject_type="notice",
        subject_id=notice_id,
    )
