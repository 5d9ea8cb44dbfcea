"""The tenant's settings: HTTP in, a service call out."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app import audit
from app.api.deps import Admin, DbSession
from app.callbacks.policy import CallbackPolicy
from app.callbacks.policy_schemas import CallbackPolicyOut
from app.calls import routing_cache
from app.calls.provider_changes import ConfigChanged, announce
from app.errors import error_responses
from app.models import Tenant
from app.tenants import service
from app.tenants.schemas import Retention, TenantOut, TenantUpdate

router = APIRouter(tags=["tenant"])


def _out(tenant: Tenant) -> TenantOut:
    return TenantOut(
        slug=tenant.slug,
        name=tenant.name,
        default_region=tenant.default_region,
        timezone=tenant.timezone,
        extension_plan=tenant.extension_plan,
        callback_policy=CallbackPolicyOut(**CallbackPolicy.of(tenant.callback_policy).stored()),
        **{name: getattr(tenant, name) for name in Retention.model_fields},
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
    """Set the internal extension plan, the retention periods, the timezone and the callback
    policy (only those given change; what is older than a period is purged daily, or by
    `stamgast purge`; a new policy sets the due time of callbacks opened from now on)."""
    given = body.model_fields_set
    tenant = await service.get_tenant(session, tenant_id=principal.tenant_id)
    if "extension_plan" in given:
        tenant = await service.set_extension_plan(
            session, tenant_id=principal.tenant_id, spec=body.extension_plan
        )
    periods = {name: getattr(body, name) for name in Retention.model_fields if name in given}
    if periods:
        tenant = await service.set_retention(
            session, tenant_id=principal.tenant_id, periods=periods
        )
    if given & {"timezone", "callback_policy"}:
        tenant = await service.set_callback_settings(
            session,
            tenant_id=principal.tenant_id,
            timezone=body.timezone,
            policy=body.callback_policy,
            reset_policy="callback_policy" in given,
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
    # Due times are decided from the routing snapshot, which holds the policy.
    await routing_cache.announce(request.app.state.hub, principal.tenant_id)
    return out
