"""`/v1/subscriptions`: HTTP in, a service call out; changes announced after their commit."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.api.deps import Admin, DbSession, Paging
from app.api.inputs import id_path
from app.errors import error_responses
from app.models import Subscription
from app.subscriptions import service
from app.subscriptions.cache import announce
from app.subscriptions.schemas import (
    DeliveryOut,
    DeliveryStatus,
    PingQueued,
    SecretRotated,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])
SubscriptionId = Annotated[int, id_path("subscription")]


def _out(subscription: Subscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(subscription, from_attributes=True)


async def _changed(request: Request, session: DbSession, tenant_id: int) -> None:
    # Committed before announced: no process may read the old set back into its cache.
    await session.commit()
    await announce(request.app.state.hub, tenant_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionCreated,
    summary="Subscribe a URL to events",
    responses=error_responses(401, 403, 422),
)
async def create_subscription(
    data: SubscriptionIn, session: DbSession, principal: Admin, request: Request
) -> SubscriptionCreated:
    """Events of the chosen types are POSTed to the URL, signed with the secret shown here once."""
    made = await service.create_subscription(session, tenant_id=principal.tenant_id, data=data)
    await _changed(request, session, principal.tenant_id)
    return SubscriptionCreated(**_out(made).model_dump(), secret=made.secret)


@router.get(
    "",
    response_model=list[SubscriptionOut],
    summary="List subscriptions",
    responses=error_responses(401, 403),
)
async def list_subscriptions(session: DbSession, principal: Admin) -> list[SubscriptionOut]:
    """This tenant's subscriptions (without secrets)."""
    found = await service.list_subscriptions(session, tenant_id=principal.tenant_id)
    return [_out(s) for s in found]


@router.get(
    "/{subscription_id}",
    response_model=SubscriptionOut,
    summary="Get a subscription",
    responses=error_responses(401, 403, 404),
)
async def get_subscription(
    subscription_id: SubscriptionId, session: DbSession, principal: Admin
) -> SubscriptionOut:
    """One subscription (without secrets)."""
    return _out(
        await service.get_subscription(
            session, tenant_id=principal.tenant_id, subscription_id=subscription_id
        )
    )


@router.patch(
    "/{subscription_id}",
    response_model=SubscriptionOut,
    summary="Change a subscription",
    responses=error_responses(401, 403, 404, 422),
)
async def update_subscription(
    subscription_id: SubscriptionId,
    changes: SubscriptionPatch,
    session: DbSession,
    principal: Admin,
    request: Request,
) -> SubscriptionOut:
    """Change its URL, event types, description, or pause it (`enabled: false`)."""
    changed = await service.update_subscription(
        session, tenant_id=principal.tenant_id, subscription_id=subscription_id, changes=changes
    )
    await _changed(request, session, principal.tenant_id)
    return _out(changed)


@router.delete(
    "/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a subscription",
    responses=error_responses(401, 403, 404),
)
async def delete_subscription(
    subscription_id: SubscriptionId, session: DbSession, principal: Admin, request: Request
) -> Response:
    """Delete it, with its undelivered events and its delivery log."""
    await service.delete_subscription(
        session, tenant_id=principal.tenant_id, subscription_id=subscription_id
    )
    await _changed(request, session, principal.tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{subscription_id}/rotate-secret",
    response_model=SecretRotated,
    summary="Replace the signing secret, with overlap",
    responses=error_responses(401, 403, 404, 422),
)
async def rotate_secret(
    subscription_id: SubscriptionId,
    session: DbSession,
    principal: Admin,
    overlap_hours: Annotated[
        float, Query(ge=0, le=168, description="How long the old secret keeps signing too")
    ] = service.DEFAULT_OVERLAP.total_seconds() / 3600,
) -> SecretRotated:
    """A new secret, shown this once; until `previous_secret_expires_at` every delivery
    carries a signature with each secret, so the receiver can switch at its own pace."""
    return await service.rotate_secret(
        session,
        tenant_id=principal.tenant_id,
        subscription_id=subscription_id,
        overlap=timedelta(hours=overlap_hours),
    )


@router.post(
    "/{subscription_id}/ping",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PingQueued,
    summary="Send a test event",
    responses=error_responses(401, 403, 404),
)
async def ping(
    subscription_id: SubscriptionId, session: DbSession, principal: Admin, request: Request
) -> PingQueued:
    """Queue a signed `ping` event for this subscription; see how it went in its deliveries."""
    queued = await service.ping(
        session, tenant_id=principal.tenant_id, subscription_id=subscription_id
    )
    await session.commit()
    request.app.state.event_worker.wake()
    return queued


@router.get(
    "/{subscription_id}/deliveries",
    response_model=list[DeliveryOut],
    summary="The subscription's delivery log",
    responses=error_responses(401, 403, 404, 422),
)
async def list_deliveries(
    subscription_id: SubscriptionId,
    session: DbSession,
    principal: Admin,
    paging: Paging,
    status_: Annotated[
        DeliveryStatus | None, Query(alias="status", description="Only events in this state")
    ] = None,
) -> list[DeliveryOut]:
    """Its events, newest first: state, tries so far, when the next is due, each try's answer."""
    return await service.list_deliveries(
        session,
        tenant_id=principal.tenant_id,
        subscription_id=subscription_id,
        status=status_,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    summary="Send an event again",
    responses=error_responses(401, 403, 404),
)
async def redeliver(
    subscription_id: SubscriptionId,
    delivery_id: Annotated[int, id_path("delivery")],
    session: DbSession,
    principal: Admin,
    request: Request,
) -> Response:
    """Due now with a fresh retry schedule and the same `webhook-id` (a dead one too)."""
    await service.redeliver(
        session,
        tenant_id=principal.tenant_id,
        subscription_id=subscription_id,
        delivery_id=delivery_id,
    )
    await session.commit()
    request.app.state.event_worker.wake()
    return Response(status_code=status.HTTP_202_ACCEPTED)
