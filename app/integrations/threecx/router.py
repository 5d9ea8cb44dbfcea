"""The routes 3CX's CRM template calls, and the template itself for the tenant's admin.

The lookup and the call report go through the webhook receiver like every phone system's
requests (budget, fail-open answer, held deliveries and pops); this module only turns the
HTTP requests into 3CX deliveries and the receiver's refusals into HTTP errors.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from app import audit
from app.api.bodies import read_body
from app.api.deps import Admin, DbSession
from app.calls.receiver import ProviderNotConnected, WebhookReceiver
from app.errors import BodyTooLarge, NotFound, error_responses
from app.integrations.threecx import PROVIDER, SECRET_HEADER
from app.integrations.threecx.delivery import JournalDelivery, LookupDelivery
from app.integrations.threecx.schemas import JournalIn, JournalOut, LookupOut
from app.integrations.threecx.template import render_template
from app.models import ProviderConfig, Tenant, utcnow

router = APIRouter(tags=["3cx"])

# A call report is a few hundred bytes; this bounds what a stranger can make us parse.
_MAX_JOURNAL_BYTES = 16 * 1024

Secret = Annotated[
    str | None,
    Header(alias=SECRET_HEADER, description="The tenant's 3CX secret, sent by the template"),
]


def _not_connected(tenant: str) -> NotFound:
    return NotFound(
        f"3CX is not connected for tenant {tenant!r}: "
        f"connect it with PUT /v1/providers/{PROVIDER}.",
        code="provider_not_connected",
    )


def _base_url(request: Request) -> str:
    base = request.app.state.settings.public_base_url or str(request.base_url)
    return str(base).rstrip("/")


@router.get(
    "/integrations/3cx/{tenant}/lookup",
    response_model=LookupOut,
    summary="3CX contact lookup: who is calling (and pop their card to the agents)",
    responses=error_responses(401, 404, 422),
)
async def lookup(
    request: Request,
    tenant: str,
    number: Annotated[
        str, Query(max_length=200, description="3CX's [Number], in whatever format it has")
    ],
    secret: Secret = None,
) -> LookupOut:
    """The contacts on the number for 3CX to show; the ringing card goes to the agents.

    Answered within the webhook budget: contacts not read by then are left out, and the
    card follows when it is ready.
    """
    receiver: WebhookReceiver = request.app.state.webhooks
    delivery = LookupDelivery(
        tenant_slug=tenant,
        secret=secret,
        number=number,
        received_at=utcnow(),
        base_url=_base_url(request),
        sessionmaker=request.app.state.sessionmaker,
    )
    try:
        return await receiver.deliver(delivery)
    except ProviderNotConnected:
        raise _not_connected(tenant) from None


async def _journal_body(request: Request) -> bytes:
    body = await read_body(request, _MAX_JOURNAL_BYTES)  # never buffered past the limit
    if body is None:
        raise BodyTooLarge(f"A call report is limited to {_MAX_JOURNAL_BYTES} bytes.")
    return body


_JOURNAL_SCHEMA = JournalIn.model_json_schema(by_alias=True)


@router.post(
    "/integrations/3cx/{tenant}/journal",
    response_model=JournalOut,
    summary="3CX call journaling (ReportCall): the call becomes an interaction",
    responses={
        202: {"description": "Accepted while the database is away: recorded when it is back"},
        **error_responses(401, 404, 413, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _JOURNAL_SCHEMA},
                "application/x-www-form-urlencoded": {"schema": _JOURNAL_SCHEMA},
            },
        }
    },
)
async def report_call(request: Request, tenant: str, secret: Secret = None) -> JSONResponse:
    """Record the call: inbound calls end through the call's life (a missed one leaves a
    callback request unless one is open); outbound calls become interactions. A report
    sent again changes nothing (`duplicate: true`)."""
    receiver: WebhookReceiver = request.app.state.webhooks
    delivery = JournalDelivery(
        tenant_slug=tenant,
        secret=secret,
        body=await _journal_body(request),
        content_type=request.headers.get("content-type", ""),
        received_at=utcnow(),
        sessionmaker=request.app.state.sessionmaker,
    )
    try:
        return await receiver.deliver(delivery)
    except ProviderNotConnected:
        raise _not_connected(tenant) from None


@router.get(
    "/integrations/3cx/template.xml",
    response_class=Response,
    summary="The tenant's 3CX CRM template, ready to upload in 3CX",
    responses={
        200: {
            "description": "The CRM template (XML) with this tenant's lookup and journal URLs",
            "content": {"application/xml": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 404, 422),
    },
)
async def crm_template(
    request: Request,
    session: DbSession,
    principal: Admin,
    tenant: Annotated[
        str | None, Query(description="The tenant's slug (the key's own tenant by default)")
    ] = None,
    include_secret: Annotated[
        bool,
        Query(description="Fill the secret in, so the admin need not type it in 3CX"),
    ] = False,
) -> Response:
    """Upload it in 3CX under CRM integration; then type the secret there, unless included."""
    own = await session.get_one(Tenant, principal.tenant_id)
    if tenant is not None and tenant != own.slug:
        raise NotFound(f"No tenant {tenant!r} for this API key.")
    config = await session.scalar(
        select(ProviderConfig).where(
            ProviderConfig.tenant_id == own.id, ProviderConfig.provider == PROVIDER
        )
    )
    if config is None:
        raise NotFound(
            f"3CX is not connected for this tenant: connect it first with "
            f'PUT /v1/providers/{PROVIDER} {{"secret": "…"}}.',
            code="provider_not_connected",
        )
    option = config.options.get("public_base_url")
    base = str(option) if option else _base_url(request)
    xml = render_template(
        base_url=base,
        tenant_slug=own.slug,
        country=own.default_region,
        secret=config.secret if include_secret else None,
    )
    if include_secret:
        audit.record(
            session,
            tenant_id=own.id,
            actor=principal.actor,
            action="view",
            subject_type="provider_secret",
            subject_id=PROVIDER,
        )
    headers = {"Content-Disposition": f'attachment; filename="stamgast-3cx-{own.slug}.xml"'}
    if include_secret:
        headers["Cache-Control"] = "no-store"
    return Response(xml, media_type="application/xml", headers=headers)
