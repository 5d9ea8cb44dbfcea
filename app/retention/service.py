"""Purging what a tenant keeps no longer: rows older than its retention periods.

Per tenant and table one `DELETE` (or, for a dry run, one `count`) with the same condition,
so a dry run reports exactly what the purge would remove. A row exactly at the cut-off is
kept: only rows older than `now - days` go.

Foreign keys: a purged call's events go with it (explicitly, so they are counted); the
interactions and callback requests that name a purged call keep their own retention and
lose only the link (`call_id` SET NULL, as the schema says): the summary of a
conversation outlives the telephony record of it when the tenant keeps interactions longer.
The service flushes; the caller commits (a purge is one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.callbacks.schemas import CLOSED_STATUSES
from app.models import (
    AuditEvent,
    Call,
    CallbackRequest,
    CallEventRecord,
    Interaction,
    Tenant,
)

# What each period keeps, in the order purged (a call's events before the call).
PERIODS = {
    "keep_calls_days": ("call_events", "calls"),
    "keep_interactions_days": ("interactions",),
    "keep_audit_days": ("audit_events",),
    "keep_callbacks_done_days": ("callback_requests",),
}
TABLES = ("call_events", "calls", "interactions", "audit_events", "callback_requests")


def _older(tenant_id: int, cutoff: datetime) -> dict[str, tuple[Any, ColumnElement[bool]]]:
    """Per table: the model and which of the tenant's rows are older than `cutoff`."""
    old_calls = select(Call.id).where(Call.tenant_id == tenant_id, Call.started_at < cutoff)
    closed_at = func.coalesce(CallbackRequest.closed_at, CallbackRequest.requested_at)
    return {
        "call_events": (
            CallEventRecord,
            and_(
                CallEventRecord.tenant_id == tenant_id,
                or_(
                    CallEventRecord.call_id.in_(old_calls.scalar_subquery()),
                    # Events of no call (never recorded whole) go by their own age.
                    and_(CallEventRecord.call_id.is_(None), CallEventRecord.received_at < cutoff),
                ),
            ),
        ),
        "calls": (Call, and_(Call.tenant_id == tenant_id, Call.started_at < cutoff)),
        "interactions": (
            Interaction,
            and_(Interaction.tenant_id == tenant_id, Interaction.occurred_at < cutoff),
        ),
        "audit_events": (
            AuditEvent,
            and_(AuditEvent.tenant_id == tenant_id, AuditEvent.at < cutoff),
        ),
        # Only closed requests: an open promise to call back is never purged.
        "callback_requests": (
            CallbackRequest,
            and_(
                CallbackRequest.tenant_id == tenant_id,
                CallbackRequest.status.in_(CLOSED_STATUSES),
                closed_at < cutoff,
            ),
        ),
    }


@dataclass
class TenantPurge:
    """What was (or, in a dry run, would be) removed for one tenant, per table."""

    tenant_id: int
    slug: str
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows removed in all tables."""
        return sum(self.counts.values())


async def purge_tenant(
    session: AsyncSession, *, tenant: Tenant, now: datetime, dry_run: bool = False
) -> TenantPurge:
    """Delete (or count) the tenant's rows older than its retention periods."""
    report = TenantPurge(tenant.id, tenant.slug, dry_run)
    for period, tables in PERIODS.items():
        days: int | None = getattr(tenant, period)
        if days is None:
            continue
        older = _older(tenant.id, now - timedelta(days=days))
        for table in tables:
            model, condition = older[table]
            if dry_run:
                found = await session.scalar(
                    select(func.count()).select_from(model).where(condition)
                )
                report.counts[table] = int(found or 0)
            else:
                result = await session.execute(
                    delete(model).where(condition).execution_options(synchronize_session=False)
                )
                report.counts[table] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    await session.flush()
    return report


async def purge(
    session: AsyncSession,
    *,
    now: datetime,
    dry_run: bool = False,
    tenant_slug: str | None = None,
) -> list[TenantPurge]:
    """Purge every tenant with a retention period set (or the one named); their reports."""
    query = select(Tenant).order_by(Tenant.id)
    if tenant_slug is not None:
        query = query.where(Tenant.slug == tenant_slug)
    reports = []
    for tenant in list(await session.scalars(query)):
        if all(getattr(tenant, period) is None for period in PERIODS):
            continue
        reports.append(await purge_tenant(session, tenant=tenant, now=now, dry_run=dry_run))
    return reports
