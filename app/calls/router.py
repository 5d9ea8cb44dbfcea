"""Webhook and provider-configuration routes: HTTP in, a receiver or service call out."""

from __future__ import annotations

import time
from typing import Annotated, cast

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.routing import Route

from app import audit
from app.api.bodies import read_body
from app.api.deps import Admin, ContactsWriter, DbSession
from app.api.inputs import id_path
from app.api.rate_limit import RateLimited
from app.calls import providers
from app.calls.provider_changes import ConfigChanged, announce
from app.calls.receiver import ProviderNotConnected, WebhookReceiver
from app.calls.schemas import Helped, ProviderConfigIn, ProviderConfigOut, WrapUpIn, WrapUpOut
from app.calls.wrapup import wrap_up
from app.errors import ErrorBody, NotFound, error_response, error_responses
from app.metrics import timing as webhook_timing
from app.metrics.registry import WEBHOOK_SECONDS
from app.models import ProviderConfig, Tenant
from app.telemetry import context, tracing
from telephony_adapters.base import AdapterError, AdapterRequest, PayloadError, SignatureError
from telephony_adapters.registry import get_adapter

webhook_router = APIRouter(tags=["webhooks"])
config_router = APIRouter(tags=["providers"])


def _error(status_code: int, code: str, message: str) -> JSONResponse:
    context.bind(outcome=code)
    return JSONResponse(ErrorBody(code=code, message=message).model_dump(), status_code)


_WEBHOOK_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "The vendor's expected response (TwiML, JSON, XML …)"},
    **error_responses(400, 401, 404, 413),
    429: {
        "model": ErrorBody,
        "description": "Too many requests with a wrong or missing signature from this address "
        "(STAMGAST_WEBHOOK_RATE_LIMIT); `Retry-After` says when to try again",
    },
}


# Served by `webhook_route()`, a plain Starlette route placed ahead of FastAPI's: a phone
# system's request does not pay for dependency resolution and validation (provider and
# tenant are path segments, the body is read raw within its limit). These two definitions
# describe the operations in the OpenAPI document and would answer the same way.
WEBHOOK_PATH = "/webhooks/{provider}/{tenant}"


@webhook_router.get(
    WEBHOOK_PATH,
    summary="Receive a phone system's call event (vendors that call with GET)",
    response_class=Response,
    responses=_WEBHOOK_RESPONSES,
    operation_id="receive_webhook_get",
)
async def receive_webhook_get(provider: str, tenant: str, request: Request) -> Response:
    """Vonage-style answer URLs request with GET and query parameters."""
    return await receive_webhook_lean(request)


@webhook_router.post(
    WEBHOOK_PATH,
    summary="Receive a phone system's call event",
    response_class=Response,
    responses=_WEBHOOK_RESPONSES,
    operation_id="receive_webhook",
)
async def receive_webhook(provider: str, tenant: str, request: Request) -> Response:
    """Verify the vendor's signature, record the event, pop the card, answer the vendor."""
    return await receive_webhook_lean(request)


def webhook_route() -> Route:
    """The route serving both operations; mount it before FastAPI's routes."""
    route = Route(WEBHOOK_PATH, receive_webhook_lean, methods=["GET", "POST"])
    route.methods = {"GET", "POST"}  # Starlette adds HEAD to GET; the documented API has none
    return route


async def receive_webhook_lean(request: Request) -> Response:
    """A vendor's webhook, straight from Starlette: see `receive_webhook`."""
    timing = webhook_timing.start()  # ring-to-pop starts here (app/metrics/timing.py)
    provider: str = request.path_params["provider"]
    tenant: str = request.path_params["tenant"]
    context.bind(provider=provider, tenant=tenant)
    if tracing.enabled():
        response, outcome = await _traced(request, provider, tenant)
    else:
        response, outcome = await _receive(request, provider, tenant)
    if outcome == "ok" and timing.fail_open:
        outcome = "fail_open"
    # Known providers only as a label: a scan of made-up names must not grow the series.
    known = provider if get_adapter(provider) is not None else "unknown"
    WEBHOOK_SECONDS.labels(known, outcome).observe(time.time() - timing.received)
    return response


async def _traced(request: Request, provider: str, tenant: str) -> tuple[Response, str]:
    """`_receive` in a `webhook` span (OpenTelemetry, when OTEL_* turned it on)."""
    attributes = {"stamgast.provider": provider, "stamgast.tenant": tenant}
    with tracing.span("webhook", attributes) as span:
        response, outcome = await _receive(request, provider, tenant)
        logged = context.current().get("outcome", "ok" if response.status_code < 400 else "")
        tracing.annotate(
            span, {"stamgast.outcome": logged, "http.response.status_code": response.status_code}
        )
        return response, outcome


async def _receive(request: Request, provider: str, tenant: str) -> tuple[Response, str]:
    """The response, and the outcome it is counted under (ok or the error code)."""
    adapter = get_adapter(provider)
    if adapter is None:
        return _error(404, "unknown_provider", f"No adapter for provider {provider!r}."), (
            "unknown_provider"
        )
    state = request.app.state
    limit: int = state.settings.webhook_max_body_bytes
    body = await read_body(request, limit)
    if body is None:
        return _error(
            413, "body_too_large", f"Webhook bodies are limited to {limit} bytes."
        ), "body_too_large"
    adapter_request = AdapterRequest(
        method=request.method,
        url=str(request.url),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
    )
    receiver: WebhookReceiver = state.webhooks
    try:
        answer = await receiver.receive(adapter, provider, tenant, adapter_request)
    except ProviderNotConnected as exc:
        return _error(404, "provider_not_connected", str(exc)), "provider_not_connected"
    except SignatureError as exc:
        # Only refused requests are counted: a correctly signed one is never limited, so a
        # phone system never sees a 429; a forged flood from one address gets one.
        source = f"{provider}:{tenant}:{request.client.host if request.client else 'unknown'}"
        try:
            await state.rate_limiter.hit(
                state.webhook_budget, source, "with a wrong or missing signature"
            )
        except RateLimited as limited:
            return error_response(limited, limited.headers), "rate_limited"
        return _error(401, "bad_signature", exc.message), "bad_signature"
    except PayloadError as exc:
        return _error(400, "malformed_body", exc.message), "malformed_body"
    except AdapterError as exc:
        return _error(400, "bad_request", exc.message), "bad_request"
    response = Response(answer.body, status_code=answer.status_code, media_type=answer.media_type)
    return response, "ok"


def _out(request: Request, tenant: Tenant, row: ProviderConfig) -> ProviderConfigOut:
    base = request.app.state.settings.public_base_url or str(request.base_url).rstrip("/")
    return ProviderConfigOut(
        provider=row.provider,
        enabled=row.enabled,
        events=list(row.events),
        options=providers.public_options(row.options),
        webhook_url=f"{base.rstrip('/')}/webhooks/{row.provider}/{tenant.slug}",
        updated_at=row.updated_at,
    )


@config_router.get(
    "/providers",
    response_model=list[ProviderConfigOut],
    summary="Phone systems connected to this tenant",
    responses=error_responses(401, 403),
)
async def list_providers(
    request: Request, session: DbSession, principal: Admin
) -> list[ProviderConfigOut]:
    """Each connected phone system with the webhook URL to configure on its side."""
    tenant = await session.get_one(Tenant, principal.tenant_id)
    rows = await providers.list_configs(session, tenant_id=principal.tenant_id)
    return [_out(request, tenant, row) for row in rows]


@config_router.put(
    "/providers/{provider}",
    response_model=ProviderConfigOut,
    summary="Connect a phone system (or change its secret and settings)",
    responses=error_responses(401, 403, 422),
)
async def put_provider(
    provider: str, body: ProviderConfigIn, request: Request, session: DbSession, principal: Admin
) -> ProviderConfigOut:
    """Store the secret the vendor signs with; the response names the URL to paste there."""
    tenant = await session.get_one(Tenant, principal.tenant_id)
    row = await providers.upsert_config(
        session, tenant_id=principal.tenant_id, provider=provider, data=body
    )
    out = _out(request, tenant, row)
    await session.commit()  # before it is forgotten: no process may read the old row back
    await announce(request.app.state.hub, ConfigChanged(tenant.slug, provider))
    return out


@config_router.delete(
    "/providers/{provider}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Disconnect a phone system",
    responses=error_responses(401, 403, 404),
)
async def delete_provider(
    provider: str, request: Request, session: DbSession, principal: Admin
) -> None:
    """Its webhooks are refused (404) from now on."""
    tenant = await session.get_one(Tenant, principal.tenant_id)
    if not await providers.delete_config(session, tenant_id=principal.tenant_id, provider=provider):
        raise NotFound(f"Provider {provider!r} is not connected for this tenant.")
    await session.commit()  # before it is forgotten: no process may read the old row back
    await announce(request.app.state.hub, ConfigChanged(tenant.slug, provider))


@config_router.post(
    "/calls/{call_id}/wrap-up",
    response_model=WrapUpOut,
    summary="Save the agent's wrap-up (outcome and note) into the call's interaction",
    responses=error_responses(401, 403, 404, 409, 422),
)
async def post_wrap_up(
    call_id: Annotated[int, id_path("call")],
    body: WrapUpIn,
    session: DbSession,
    principal: ContactsWriter,
) -> WrapUpOut:
    """The widget calls this from the wrap-up form after the call ended.

    `contact_id` moves the interaction and the call to the contact the agent picked among a
    household or created during the call. Wrapping up again adds the new note after the
    earlier ones (nothing is erased; the same note sent twice is kept once) and the new
    outcome replaces the earlier one. `outcome` is one of resolved, information_given,
    callback_planned, referred, complaint, other.
    """
    interaction = await wrap_up(
        session,
        tenant_id=principal.tenant_id,
        call_id=call_id,
        data=body,
        agent_id=principal.agent_id,
    )
    audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        agent_id=principal.agent_id,
        action="update",
        subject_type="interaction",
        subject_id=interaction.id,
        contact_id=interaction.contact_id,
    )
    return WrapUpOut(
        interaction_id=interaction.id,
        contact_id=interaction.contact_id,
        summary=interaction.summary,
        outcome=interaction.outcome,
        helped=cast(Helped | None, interaction.helped),
    )
