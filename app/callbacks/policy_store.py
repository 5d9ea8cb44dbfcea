"""The callback policy from the database, for paths that have no routing snapshot at hand."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.callbacks.policy import CallbackPolicy
from app.models import Line, Tenant


async def load_policy(
    session: AsyncSession, *, tenant_id: int, line_id: int | None = None
) -> tuple[CallbackPolicy, str]:
    """The policy for calls to a line (its own, else the tenant's) and the tenant's timezone."""
    tenant_policy, timezone = (
        await session.execute(
            select(Tenant.callback_policy, Tenant.timezone).where(Tenant.id == tenant_id)
        )
    ).one()
    stored = tenant_policy
    if line_id is not None:
        own = await session.scalar(
            select(Line.callback_policy).where(Line.tenant_id == tenant_id, Line.id == line_id)
        )
        stored = own if own is not None else tenant_policy
    return CallbackPolicy.of(stored), timezone
