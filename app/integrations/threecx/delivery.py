"""3CX's lookup and call report, taken in by the webhook receiver like any phone system's.

3CX calls us in its CRM template's shape, so its requests are turned into call events
here; the receiver gives them the webhook budget, the fail-open answer, held deliveries
while the database is away and held pops while the broker is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import audit
from app.calls.deliveries import Recorded
from app.calls.providers import TenantProvider
from app.calls.spool import Spool, SpooledRequest
from app.errors import InvalidInput
from app.integrations.threecx import PROVIDER, SECRET_HEADER, journal, service
from app.integrations.threecx.schemas import JournalIn, JournalOut, LookupOut, ThreeCXContact
from app.integrations.threecx.template import NUMBER_STYLE
from app.phone import PhoneNumber, normalise
from telephony_adapters.base import Outcome

log = logging.getLogger("stamgast.threecx")


class LookupDelivery:
    """A lookup at ring time: the ringing event, and the contacts on the number for 3CX."""

    provider = PROVIDER

    def __init__(
        self,
        *,
        tenant_slug: str,
        secret: str | None,
        number: str,
        received_at: datetime,
        base_url: str,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self.tenant_slug = tenant_slug
        self.received_at = received_at
        self._secret = secret
        self._raw = number
        self._base_url = base_url
        self._sessionmaker = sessionmaker
        self._number: PhoneNumber | None = None

    def authenticate(self, tenant: TenantProvider) -> None:
        service.check_caller(tenant, self.tenant_slug, self._secret)
        self._number = normalise(
            self._raw, tenant.region, style=NUMBER_STYLE, extensions=tenant.extensions
        )

    async def record(self, session: AsyncSession, tenant: TenantProvider) -> Recorded:
        assert self._number is not None  # authenticate ran first
        event = service.ringing_event(tenant=tenant, number=self._number, at=self.received_at)
        return Recorded([event] if event is not None else [])

    async def answer(self, tenant: TenantProvider, outcome: Outcome) -> LookupOut:
        assert self._number is not None
        base = tenant.config.public_base_url or self._base_url
        async with self._sessionmaker() as session:
            contacts = await service.lookup_contacts(
                session, tenant_id=tenant.tenant_id, number=self._number, base_url=base
            )
            _audit(session, tenant, self._number, contacts)
            await session.commit()
        return LookupOut(contacts=contacts)

    def keep(self, spool: Spool) -> int:
        """Write the lookup to the durable spool: the ringing it stands for must not be lost."""
        return spool.add(
            provider=PROVIDER, tenant_slug=self.tenant_slug, method="GET", url=_LOOKUP,
            headers=_secret_header(self._secret), body=self._raw.encode(),
            received_at=self.received_at,
        )  # fmt: skip

    def fail_open(self, tenant: TenantProvider | None) -> LookupOut:
        # No contacts rather than late contacts: 3CX shows the number, the card follows.
        return LookupOut(contacts=[])


def _audit(
    session: AsyncSession, tenant: TenantProvider, number: PhoneNumber, found: list[ThreeCXContact]
) -> None:
    audit.record(
        session,
        tenant_id=tenant.tenant_id,
        actor="3cx",
        action="lookup",
        subject_type="number",
        contact_id=found[0].id if found else None,
        number_masked=number.masked,
        via="threecx",
    )


def read_report(raw: bytes, content_type: str) -> JournalIn:
    """The call report 3CX posted, as JSON or a form; 422 with the reason otherwise."""
    data: Any
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        data = {key: values[-1] for key, values in form.items()}
    else:
        # 3CX's RequestEncoding="Json" posts JSON; read it whatever Content-Type came along.
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


class JournalDelivery:
    """A call report (ReportCall): inbound calls end through the lifecycle's events,
    outbound ones are journalled here (the lifecycle knows callers, not whom agents call)."""

    provider = PROVIDER

    def __init__(
        self,
        *,
        tenant_slug: str,
        secret: str | None,
        body: bytes,
        content_type: str,
        received_at: datetime,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self.tenant_slug = tenant_slug
        self.received_at = received_at
        self._secret = secret
        self._body = body
        self._content_type = content_type
        self._sessionmaker = sessionmaker
        self._entry: journal.JournalEntry | None = None
        self._key = ""
        self._finished = False

    def authenticate(self, tenant: TenantProvider) -> None:
        service.check_caller(tenant, self.tenant_slug, self._secret)
        report = read_report(self._body, self._content_type)
        self._entry = journal.read_entry(report, region=tenant.region, timezone=tenant.timezone)

    async def record(self, session: AsyncSession, tenant: TenantProvider) -> Recorded:
        entry = self._entry
        assert entry is not None  # authenticate ran first
        self._key = await service.matching_call_key(
            session, tenant=tenant, number=entry.number, started_at=entry.started_at
        )
        known = await journal.find_call(session, tenant.tenant_id, self._key)
        self._finished = known is not None and known.ended_at is not None
        if self._finished:
            return Recorded([])
        if entry.call_type in ("Inbound", "Missed"):
            return Recorded(journal.inbound_events(entry, self._key, tenant))
        if known is not None:
            journal.turn_outbound(known)
            await session.flush()  # the lifecycle reads the call back from the database
        return Recorded(journal.outbound_events(entry, self._key, tenant))

    async def answer(self, tenant: TenantProvider, outcome: Outcome) -> JSONResponse:
        async with self._sessionmaker() as session:
            result = await journal.read_back(
                session, tenant_id=tenant.tenant_id, call_key=self._key, duplicate=self._finished
            )
        return JSONResponse(result.model_dump(mode="json"))

    def keep(self, spool: Spool) -> int:
        """Write the report to the durable spool, as 3CX sent it."""
        headers = {**_secret_header(self._secret), "content-type": self._content_type}
        return spool.add(
            provider=PROVIDER, tenant_slug=self.tenant_slug, method="POST", url=_JOURNAL,
            headers=headers, body=self._body, received_at=self.received_at,
        )  # fmt: skip

    def fail_open(self, tenant: TenantProvider | None) -> JSONResponse:
        # Accepted: the report is kept and recorded once the database is back. 3CX reads
        # nothing from this answer (the template's ReportCall has no Outputs).
        accepted = JournalOut(
            duplicate=False,
            call_id=None,
            contact_id=None,
            interaction_id=None,
            callback_request_id=None,
        )
        return JSONResponse(accepted.model_dump(mode="json"), status_code=202)


# What a spooled 3CX request was: the spool's `url` column names the endpoint.
_LOOKUP, _JOURNAL = "3cx:lookup", "3cx:journal"


def _secret_header(secret: str | None) -> dict[str, str]:
    # The template's secret travels with the request, as the vendors' signatures do: a
    # replayed request is checked like a fresh one.
    return {} if secret is None else {SECRET_HEADER.lower(): secret}


def restorer(
    sessionmaker: async_sessionmaker[AsyncSession], base_url: str
) -> Callable[[SpooledRequest], LookupDelivery | JournalDelivery | None]:
    """Rebuilds spooled 3CX requests (for the receiver, after a restart)."""

    def restore(entry: SpooledRequest) -> LookupDelivery | JournalDelivery | None:
        secret = entry.headers.get(SECRET_HEADER.lower())
        if entry.url == _LOOKUP:
            return LookupDelivery(
                tenant_slug=entry.tenant_slug, secret=secret, number=entry.body.decode(),
                received_at=entry.received_at, base_url=base_url, sessionmaker=sessionmaker,
            )  # fmt: skip
        if entry.url == _JOURNAL:
            return JournalDelivery(
                tenant_slug=entry.tenant_slug, secret=secret, body=entry.body,
                content_type=entry.headers.get("content-type", ""),
                received_at=entry.received_at, sessionmaker=sessionmaker,
            )  # fmt: skip
        return None

    return restore
