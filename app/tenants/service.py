"""Reading and changing the tenant's settings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.callbacks.policy_schemas import CallbackPolicyIn
from app.errors import InvalidInput, NotFound
from app.models import Tenant
from app.phone import ExtensionPlan, ExtensionPlanError


async def get_tenant(session: AsyncSession, *, tenant_id: int) -> Tenant:
    """The tenant row; NotFound if it was deleted under the key."""
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"No tenant {tenant_id}.")
    return tenant


async def set_extension_plan(session: AsyncSession, *, tenant_id: int, spec: str | None) -> Tenant:
    """Store the plan in its canonical spelling; InvalidInput says how to write a bad one."""
    try:
        plan = ExtensionPlan.parse(spec)
    except ExtensionPlanError as exc:
        raise InvalidInput(f"`extension_plan`: {exc}") from None
    tenant = await get_tenant(session, tenant_id=tenant_id)
    tenant.extension_plan = None if plan is None else str(plan)
    await session.flush()
    return tenant


async def set_retention(
    session: AsyncSession, *, tenant_id: int, periods: dict[str, int | None]
) -> Tenant:
    """Set the retention periods given (days; None keeps for ever)."""
    tenant = await get_tenant(session, tenant_id=tenant_id)
    for name, days in periods.items():
        setattr(tenant, name, days)
    await session.flush()
    return tenant


async def set_callback_settings(
    session: AsyncSession,
    *,
    tenant_id: int,
    timezone: str | None = None,
    policy: CallbackPolicyIn | None = None,
    reset_policy: bool = False,
) -> Tenant:
    """Set the timezone and/or the callback policy (`reset_policy`: back to the default)."""
    tenant = await get_tenant(session, tenant_id=tenant_id)
    if timezone is not None:
        tenant.timezone = timezone
    if policy is not None:
        tenant.callback_policy = policy.stored()
    elif reset_policy:
        tenant.callback_policy = None
    await session.flush()
    return tenant
