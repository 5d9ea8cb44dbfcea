"""The routes 3CX's CRM template calls, and the template itself for the tenant's admin.

3CX waits for the lookup while the caller hears ringing: it is answered within the
webhook budget whatever is slow behind it (no contacts rather than late contacts), and
the card it pops follows in the background if it is not ready by then.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import select

from app import audit
from app.api.deps import Admin, DbSession
from app.calls.providers import TenantProvider
from app.calls.receiver import WebhookReceiver
from app.db import session_scope
from app.errors import InvalidInput, NotFound, StamgastError, error_responses
from app.integrations.threecx import PROVIDER, SECRET_HEADER, journal, service
from app.integrations.threecx.schemas import JournalIn, JournalOut, LookupOut, ThreeCXContact
from app.integrations.threecx.template import render_template
from app.models import ProviderConfig, Tenant, utcnow
from app.phone import PhoneNumber, normalise

log = logging.getLogger("stamgast.threecx")
router = APIRouter(tags=["3cx"])

# Work that outlives the request (a late pop, the lookup's audit event): kept referenced.
_background: set[asyncio.Task[Any]] = set()
# A call report is a few hundred bytes; this bounds what a stranger can make us parse.
_MAX_JOURNAL_BYTES = 16 * 1024


class _TooLarge(StamgastError):
    status_code = 413
    code = "body_too_large"


def _settle(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("3cx background work failed: %r", task.exception())


def _spawn(work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    task = asyncio.ensure_future(work)
    _background.add(task)
    task.add_done_callback(_settle)
    return task


async def _find(request: Request, tenant: str) -> TenantProvider | None:
    async with request.app.state.sessionmaker() as session:
        found: TenantProvider | None = await request.app.state.provider_directory.find(
            session, tenant, PROVIDER
        )
    return found


async def threecx_tenant(
    request: Request,
    tenant: str,
    secret: Annotated[
        str | None,
        Header(alias=SECRET_HEADER, description="The tenant's 3CX secret, sent by the template"),
    ] = None,
) -> TenantProvider | None:
    """The tenant 3CX calls for, once its secret checks out; None if the database is away."""
    request.state.threecx_started = time.monotonic()  # the budget counts from here
    budget = request.app.state.settings.webhook_budget_seconds
    try:
        found = await asyncio.wait_for(_find(request, tenant), budget)
    except Exception as exc:  # slow or down: the route decides how to fail
        log.warning("3cx %s: provider directory unavailable (%s)", tenant, type(exc).__name__)
        return None
    service.check_caller(found, tenant, secret)
    return found


ThreeCXTenant = Annotated[TenantProvider | None, Depends(threecx_tenant)]


def _base_url(request: Request, tenant: TenantProvider | None = None) -> str:
    configured = tenant.config.public_base_url if tenant is not None else None
    base = configured or request.app.state.settings.public_base_url or str(request.base_url)
    return str(base).rstrip("/")


async def _read_contacts(
    request: Request, tenant: TenantProvider, number: PhoneNumber
) -> list[ThreeCXContact]:
    async with request.app.state.sessionmaker() as session:
        return await service.lookup_contacts(
            session, tenant_id=tenant.tenant_id, number=number, base_url=_base_url(request, tenant)
        )


async def _audit_lookup(
    request: Request, tenant: TenantProvider, number: PhoneNumber, contact_id: int | None
) -> None:
    try:
        async for session in session_scope(request.app.state.sessionmaker):
            audit.record(
                session,
                tenant_id=tenant.tenant_id,
                actor="3cx",
                action="lookup",
                subject_type="number",
                contact_id=contact_id,
                number_masked=number.masked,
                via="threecx",
            )
    except Exception as exc:
        log.warning("3cx lookup audit not written: %s", type(exc).__name__)


@router.get(
    "/integrations/3cx/{tenant}/lookup",
    response_model=LookupOut,
    summary="3CX contact lookup: who is calling (and pop their card to the agents)",
    responses=error_responses(401, 404, 422),
)
async def lookup(
    request: Request,
    caller: ThreeCXTenant,
    number: Annotated[
        str, Query(max_length=200, description="3CX's [Number], in whatever format it has")
    ],
) -> LookupOut:
    """The contacts on the number for 3CX to show; the ringing card goes to the agents.

    Answered within the webhook budget: contacts not read by then are left out, and the
    card follows when it is ready.
    """
    if caller is None:
        return LookupOut(contacts=[])
    started: float = request.state.threecx_started
    budget = request.app.state.settings.webhook_budget_seconds
    number_read = normalise(number, caller.region)
    event = service.ringing_event(tenant=caller, number=number_read, at=utcnow())
    receiver: WebhookReceiver = request.app.state.webhooks
    pop = _spawn(receiver.ingest(caller.tenant_slug, PROVIDER, [event])) if event else None
    contacts: list[ThreeCXContact] = []
    try:
        remaining = max(0.0, budget - (time.monotonic() - started))
        reading = _read_contacts(request, caller, number_read)
        contacts = await asyncio.wait_for(reading, remaining)
    except Exception as exc:
        log.warning("3cx lookup for %s answered empty: %s", number_read.masked, repr(exc))
    _spawn(_audit_lookup(request, caller, number_read, contacts[0].id if contacts else None))
    if pop is not None:
        remaining = max(0.0, budget - (time.monotonic() - started))
        try:
            await asyncio.wait_for(asyncio.shield(pop), remaining)
        except TimeoutError:
            log.warning("3cx pop for %s over budget, follows later", number_read.masked)
        except Exception:
            pass  # logged by _settle
    return LookupOut(contacts=contacts)


async def _journal_body(request: Request) -> JournalIn:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # never buffered past the limit
        size += len(chunk)
        if size > _MAX_JOURNAL_BYTES:
            raise _TooLarge(f"A call report is limited to {_MAX_JOURNAL_BYTES} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    data: Any
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        data = {key: values[-1] for key, values in form.items()}
    else:
        try:
            data = json.loads(raw or b"null")
        except ValueError:
            raise InvalidInput("The call report is neither JSON nor a form.") from None
    if not isinstance(data, dict):
        raise InvalidInput("The call report must be a JSON object or a form.")
    try:
        return JournalIn.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


_JOURNAL_SCHEMA = JournalIn.model_json_schema(by_alias=True)


@router.post(
    "/integrations/3cx/{tenant}/journal",
    response_model=JournalOut,
    summary="3CX call journaling (ReportCall): the call becomes an interaction",
    responses=error_responses(401, 404, 409, 413, 422, 503),
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
async def report_call(request: Request, caller: ThreeCXTenant) -> JournalOut:
    """Record the call: inbound calls end through the call's life (a missed one leaves a
    callback request unless one is open); outbound calls become interactions. A report
    sent again changes nothing (`duplicate: true`)."""
    if caller is None:
        raise service.Unavailable("The database did not answer in time; send the report again.")
    entry = journal.read_entry(
        await _journal_body(request), region=caller.region, timezone=caller.timezone
    )
    sessionmaker = request.app.state.sessionmaker
    async with sessionmaker() as session:
        key = await service.matching_call_key(
            session, tenant=caller, number=entry.number, started_at=entry.started_at
        )
        known = await journal.find_call(session, caller.tenant_id, key)
        finished = known is not None and known.ended_at is not None
    if entry.call_type in ("Inbound", "Missed"):
        events = [] if finished else journal.inbound_events(entry, key, caller)
        if events:
            receiver: WebhookReceiver = request.app.state.webhooks
            await receiver.ingest(caller.tenant_slug, PROVIDER, events)
        async with sessionmaker() as session:
            return await journal.read_back(
                session, tenant_id=caller.tenant_id, call_key=key, duplicate=finished
            )
    async for session in session_scope(sessionmaker):
        result, pop = await journal.record_outbound(
            session, tenant=caller, entry=entry, call_key=key
        )
    if pop is not None:  # after the commit, so an agent acting on it finds the rows
        try:
            await request.app.state.hub.publish(caller.tenant_id, *pop)
        except Exception as exc:
            log.warning("3cx closing pop not sent: %s", repr(exc))
    return result


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
