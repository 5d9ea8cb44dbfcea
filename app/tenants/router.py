"""The tenant's settings: HTTP in, a service call out."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app import audit
from app.api.deps import Admin, DbSession
from app.calls.provider_changes import ConfigChanged, announce
from app.errors import error_responses
from app.models import Tenant
from app.tenants import service
from app.tenants.schemas import TenantOut, TenantUpdate

router = APIRouter(tags=["tenant"])


def _out(tenant: Tenant) -> TenantOut:
    return TenantOut(
        slug=tenant.slug,
        name=tenant.name,
        default_region=tenant.default_region,
        timezone=tenant.timezone,
        extension_plan=tenant.extension_plan,
    )


@router.get(
    "/tenant",
    response_model=TenantOut,
    summary="This tenant's settings",
    responses=error_responses(401, 403),
)
async def get_tenant(session: DbSession, principal: Admin) -> TenantOut:
    """How this tenant's numbers are read."""
    return _out(await service.get_tenant(session, tenant_id=principal.tenant_id))


@router.patch(
    "/tenant",
    response_model=TenantOut,
    summary="Change this tenant's settings",
    responses=error_responses(401, 403, 422),
)
async def update_tenant(
    session: DbSession, principal: Admin, body: TenantUpdate, request: Request
) -> TenantOut:
    """Set the internal extension plan (the only setting that can change after creation)."""
    tenant = await service.set_extension_plan(
        session, tenant_id=principal.tenant_id, spec=body.extension_plan
    )
    audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        action="update",
        subject_type="tenant",
        subject_id=principal.tenant_id,
    )
    out = _out(tenant)
    await session.commit()  # before it is forgotten: no process may read the old plan back
    # Webhooks read the plan through the provider cache: the next call must see the new plan.
    await announce(request.app.state.hub, ConfigChanged(tenant.slug))
    return out
