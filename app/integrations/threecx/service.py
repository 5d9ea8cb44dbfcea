"""3CX's side of a call: who a number is (in its template's shape) and the card it pops.

3CX names no call, so a call is keyed by the caller and the minute it rang:
`3cx-{keyed hash of the number}-{YYYYMMDDHHMM}`. The lookup at ring time and the journal
entry after the call arrive at the same key and so at the same Call row. The number is
hashed with the tenant's secret so the key does not keep a number an erasure removed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.providers import TenantProvider
from app.errors import NotFound, Unauthorized
from app.integrations.threecx import PROVIDER, SECRET_HEADER
from app.integrations.threecx.schemas import ThreeCXContact
from app.integrations.threecx.template import NUMBER_STYLE
from app.models import Call, Contact, ContactNumber
from app.phone import NumberKind, PhoneNumber
from app.recognition.service import recognise_number
from telephony_adapters.base import CallEvent, Direction, EventKind


def check_caller(found: TenantProvider | None, tenant_slug: str, secret: str | None) -> None:
    """Refuse a tenant without 3CX connected (404) or a missing or wrong secret (401)."""
    if found is None or not found.enabled:
        raise NotFound(
            f"3CX is not connected for tenant {tenant_slug!r}: "
            f"connect it with PUT /v1/providers/{PROVIDER}.",
            code="provider_not_connected",
        )
    if not secret:
        raise Unauthorized(
            f"Missing {SECRET_HEADER} header: fill in the Stamgast secret in the 3CX CRM "
            "template's settings.",
            code="missing_secret",
        )
    expected = found.config.secret.encode()
    if not expected or not hmac.compare_digest(secret.encode(), expected):
        raise Unauthorized(f"Wrong {SECRET_HEADER}.", code="bad_secret")


def call_key(secret: str, number: PhoneNumber, at: datetime) -> str:
    """The call id 3CX never gives us: the caller and the minute, `at` in any zone."""
    who = "withheld" if number.is_withheld else (number.key or number.raw.lower())
    digest = hmac.new(secret.encode(), who.encode(), hashlib.sha256).hexdigest()[:24]
    return f"3cx-{digest}-{at.astimezone(UTC):%Y%m%d%H%M}"


async def matching_call_key(
    session: AsyncSession, *, tenant: TenantProvider, number: PhoneNumber, started_at: datetime
) -> str:
    """The key the lookup gave this call: its start minute, or the next one if it rang across."""
    same = call_key(tenant.config.secret, number, started_at)
    following = call_key(tenant.config.secret, number, started_at + timedelta(minutes=1))
    found = set(
        await session.scalars(
            select(Call.provider_call_id).where(
                Call.tenant_id == tenant.tenant_id,
                Call.provider == PROVIDER,
                Call.provider_call_id.in_((same, following)),
            )
        )
    )
    return following if following in found and same not in found else same


def ringing_event(*, tenant: TenantProvider, number: PhoneNumber, at: datetime) -> CallEvent | None:
    """The ringing event a lookup stands for; None for internal calls or if not wanted."""
    if number.kind is NumberKind.EXTENSION:
        return None  # a colleague calling: nobody to recognise
    events = tenant.config.events
    if events is not None and EventKind.RINGING not in events:
        return None
    return CallEvent(
        provider=PROVIDER,
        call_id=call_key(tenant.config.secret, number, at),
        kind=EventKind.RINGING,
        from_raw=number.e164 or number.raw,
        to_raw="",
        direction=Direction.INBOUND,
        occurred_at=at,
        number_style=NUMBER_STYLE,
    )


def split_name(display_name: str) -> tuple[str, str]:
    """First and last name for 3CX: "Ada de Vries" → ("Ada", "de Vries"); "Vries, Ada de" too."""
    name = " ".join(display_name.split())
    if "," in name:
        last, _, first = name.partition(",")
        return first.strip(), last.strip()
    first, _, last = name.partition(" ")
    return first, last


def _phones(numbers: Sequence[ContactNumber], calling: str) -> tuple[str, str]:
    """(business, mobile): the calling number in its own slot first, faxes never."""
    business = mobile = ""
    for row in sorted(numbers, key=lambda n: (n.e164 != calling, n.id)):
        if row.kind == "mobile":
            mobile = mobile or row.e164
        elif row.kind != "fax":
            business = business or row.e164
    return business, mobile


def contact_view(
    contact: Contact, numbers: Sequence[ContactNumber], calling: str, base_url: str
) -> ThreeCXContact:
    """A contact as 3CX's template reads it."""
    first, last = split_name(contact.display_name)
    business, mobile = _phones(numbers, calling)
    email = contact.references.get("email") if isinstance(contact.references, dict) else None
    return ThreeCXContact(
        id=contact.id,
        first_name=first,
        last_name=last,
        company=contact.organisation or "",
        phone_business=business,
        phone_mobile=mobile,
        email=email if isinstance(email, str) else "",
        contact_url=f"{base_url.rstrip('/')}/widget?contact={contact.id}",
    )


async def lookup_contacts(
    session: AsyncSession, *, tenant_id: int, number: PhoneNumber, base_url: str
) -> list[ThreeCXContact]:
    """Everyone on the number, ranked as recognition ranks them (a household: several)."""
    if number.key is None:
        return []
    card = await recognise_number(session, tenant_id=tenant_id, number=number)
    ranked = [candidate.contact_id for candidate in card.candidates]
    if not ranked:
        return []
    contacts = {
        c.id: c
        for c in await session.scalars(
            select(Contact).where(Contact.tenant_id == tenant_id, Contact.id.in_(ranked))
        )
    }
    numbers: dict[int, list[ContactNumber]] = {contact_id: [] for contact_id in ranked}
    for row in await session.scalars(
        select(ContactNumber).where(
            ContactNumber.tenant_id == tenant_id, ContactNumber.contact_id.in_(ranked)
        )
    ):
        numbers[row.contact_id].append(row)
    return [
        contact_view(contacts[i], numbers[i], number.key, base_url) for i in ranked if i in contacts
    ]
