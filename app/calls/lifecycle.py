"""A call's life from the phone system's events: ringing, answered, ended or missed.

Every event is recorded once per (provider, call id, kind), so a vendor's retry changes
nothing and pops nothing twice. Events may arrive in any order: an answer before its
ringing still creates the call and shows the card.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.providers import TenantProvider
from app.calls.routing import Recipient, Route, find_answering_agent, route_call
from app.models import Call, CallbackRequest, CallEventRecord, Interaction, utcnow
from app.phone import PhoneNumber, normalise
from app.recognition.schemas import Card
from app.recognition.service import recognise_number
from app.screen_pop.schemas import Pop, PopCall, PopType
from telephony_adapters.base import CallEvent, EventKind, Outcome

FINISHED = ("ended", "missed", "voicemail")


@dataclass
class EventResult:
    """What handling one event decided: the vendor's outcome and the pops to send."""

    outcome: Outcome
    duplicate: bool = False
    pops: list[tuple[list[int], Pop]] = field(default_factory=list)


_CALL_COLUMNS = (
    "tenant_id", "provider", "provider_call_id", "from_e164", "from_masked", "to_e164",
    "direction", "state", "ringing_extension", "started_at", "contact_id", "match", "line_id",
)  # fmt: skip
_EVENT_COLUMNS = ("tenant_id", "provider", "provider_call_id", "kind", "call_id")
# The table, not the mapped class: nothing is loaded back, so the ORM's bulk-insert
# machinery would only cost time.
_EVENTS = CallEventRecord.__table__


@cache
def _insert_once(dialect: str, table: Any, columns: tuple[str, ...], returning: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING, built once per dialect with bind
    parameters: building it per event (values, cache key) cost more than running it."""
    # ON CONFLICT DO NOTHING exists on both dialects we run on, under the same name.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .values({column: bindparam(column) for column in columns})
        .on_conflict_do_nothing()
        .returning(returning)
    )


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def _get_or_create_call(
    session: AsyncSession,
    tenant: TenantProvider,
    event: CallEvent,
    caller: PhoneNumber,
    called: PhoneNumber,
    at: datetime,
    card: Card | None,
    line_id: int | None,
) -> tuple[Call, bool]:
    """The call row, inserted complete in one statement when this event is its first."""
    inserted = await session.scalars(
        _insert_once(_dialect(session), Call, _CALL_COLUMNS, Call),
        {
            "tenant_id": tenant.tenant_id,
            "provider": event.provider,
            "provider_call_id": event.call_id,
            "from_e164": caller.key,
            "from_masked": caller.masked,
            "to_e164": called.key,
            "direction": str(event.direction),
            "state": "ringing",
            "ringing_extension": event.ringing_extension,
            "started_at": at,
            "contact_id": card.contact_id if card is not None else None,
            "match": card.match if card is not None else "unknown",
            "line_id": line_id,
        },
        execution_options={"populate_existing": True},
    )
    call = inserted.first()
    if call is not None:
        return call, True
    existing = await session.scalar(
        select(Call)
        .where(
            Call.tenant_id == tenant.tenant_id,
            Call.provider == event.provider,
            Call.provider_call_id == event.call_id,
        )
        .execution_options(populate_existing=True)
    )
    assert existing is not None
    return existing, False


async def _first_delivery(session: AsyncSession, call: Call, event: CallEvent) -> bool:
    inserted = await session.execute(
        _insert_once(_dialect(session), _EVENTS, _EVENT_COLUMNS, _EVENTS.c.id),
        {
            "tenant_id": call.tenant_id,
            "provider": event.provider,
            "provider_call_id": event.call_id,
            "kind": str(event.kind),
            "call_id": call.id,
        },
    )
    return inserted.scalar() is not None


async def handle_event(
    session: AsyncSession, *, tenant: TenantProvider, event: CallEvent
) -> EventResult:
    """Record one event and decide its pops; the caller commits, then publishes."""
    at = event.occurred_at or utcnow()
    caller = normalise(event.from_raw, tenant.region)
    called = normalise(event.to_raw, tenant.region)
    card: Card | None = None
    if event.kind is EventKind.RINGING:
        # Recognise before writing: the call row is then inserted once, complete.
        card = await recognise_number(
            session, tenant_id=tenant.tenant_id, number=caller, called=called, now=at
        )
    route = await route_call(
        session, tenant_id=tenant.tenant_id, called_key=called.key,
        extension=event.ringing_extension,
    )  # fmt: skip
    call, created = await _get_or_create_call(
        session, tenant, event, caller, called, at, card, route.line_id
    )
    if not await _first_delivery(session, call, event):
        return EventResult(outcome=Outcome(), duplicate=True)
    if not event.ringing_extension and call.ringing_extension:
        # Later events rarely repeat the extension: the agents who saw it ring follow it.
        route = await route_call(
            session, tenant_id=tenant.tenant_id, called_key=called.key,
            extension=call.ringing_extension,
        )  # fmt: skip
    if call.line_id is None and route.line_id is not None:
        call.line_id = route.line_id
    if event.ringing_extension and not call.ringing_extension:
        call.ringing_extension = event.ringing_extension
    if card is None and created:
        # A call first seen answered or ended (events out of order): still show who it is.
        card = await recognise_number(
            session, tenant_id=tenant.tenant_id, number=caller, called=called, now=at
        )
    if card is not None and (call.contact_id, call.match) != (card.contact_id, card.match):
        call.contact_id, call.match = card.contact_id, card.match
    recipients = list(route.recipients)
    kind: PopType | None = None
    interaction_id: int | None = None

    if event.kind is EventKind.RINGING:
        kind = None if call.state in FINISHED else "call.ringing"
    elif event.kind is EventKind.ANSWERED:
        if call.state not in FINISHED:
            call.state, call.answered_at = "answered", call.answered_at or at
            agent = await _answering_agent(session, tenant.tenant_id, event)
            call.answered_by = event.answered_by or call.answered_by
            if agent is not None:
                call.answered_by_agent_id, call.answered_by = agent.agent_id, agent.name
                recipients = _with(recipients, agent)
            kind = "call.answered"
    elif call.ended_at is None:
        if event.kind is EventKind.VOICEMAIL:
            call.state = "voicemail"
        elif event.kind is EventKind.ENDED and call.answered_at is not None:
            call.state = "ended"
        else:
            call.state = "missed"
        call.ended_at = at
        interaction_id = await _finish(session, tenant, call, at)
        kind = {"ended": "call.ended", "missed": "call.missed"}.get(call.state, "call.voicemail")  # type: ignore[assignment]
    await session.flush()
    result = EventResult(outcome=await _outcome(call, card))
    if kind is not None and recipients:
        pop = build_pop(call, kind, route, card, interaction_id, at)
        result.pops.append(([r.agent_id for r in recipients], pop))
    return result


def _with(recipients: list[Recipient], agent: Recipient) -> list[Recipient]:
    if any(r.agent_id == agent.agent_id for r in recipients):
        return recipients
    return [*recipients, agent]


async def _answering_agent(
    session: AsyncSession, tenant_id: int, event: CallEvent
) -> Recipient | None:
    if not event.answered_by:
        return None
    return await find_answering_agent(session, tenant_id=tenant_id, answered_by=event.answered_by)


async def _finish(session: AsyncSession, tenant: TenantProvider, call: Call, at: datetime) -> int:
    """Every finished call becomes an interaction; a missed one, a callback request."""
    local = at.astimezone(ZoneInfo(tenant.timezone)).strftime("%H:%M")
    if call.state == "ended":
        minutes = max(1, round((at - (call.answered_at or at)).total_seconds() / 60))
        summary = f"Inkomend gesprek, {minutes} min"
        if call.answered_by:
            summary += f", aangenomen door {call.answered_by}"
        outcome = "answered"
    else:
        summary = f"Gemiste oproep om {local}"
        if call.state == "voicemail":
            summary = f"Voicemail ingesproken om {local}"
        outcome = call.state
    interaction = Interaction(
        tenant_id=call.tenant_id,
        contact_id=call.contact_id,
        occurred_at=call.started_at,
        channel="phone",
        direction=call.direction if call.direction in ("inbound", "outbound") else "inbound",
        summary=summary,
        outcome=outcome,
        agent_id=call.answered_by_agent_id,
        call_id=call.id,
    )
    session.add(interaction)
    if call.state != "ended" and call.from_e164 is not None and call.match != "withheld":
        await _ensure_callback(session, call, f"Gemiste oproep om {local}")
    await session.flush()
    return interaction.id


async def _ensure_callback(session: AsyncSession, call: Call, reason: str) -> None:
    """One open callback per caller: a second missed call adds an attempt, not a request."""
    whose = (
        CallbackRequest.contact_id == call.contact_id
        if call.match == "known" and call.contact_id is not None
        else CallbackRequest.number_e164 == call.from_e164
    )
    existing = await session.scalar(
        select(CallbackRequest.id)
        .where(
            CallbackRequest.tenant_id == call.tenant_id,
            CallbackRequest.status == "open",
            whose,
        )
        .limit(1)
    )
    if existing is not None:
        return
    session.add(
        CallbackRequest(
            tenant_id=call.tenant_id,
            contact_id=call.contact_id if call.match == "known" else None,
            number_e164=call.from_e164,
            reason=reason,
            requested_at=utcnow(),
            call_id=call.id,
        )
    )


async def _outcome(call: Call, card: Card | None) -> Outcome:
    if card is None:
        return Outcome()
    return Outcome(
        recognised_name=card.display_name,
        language=card.language,
        has_open_callback=bool(card.callbacks),
    )


def build_pop(
    call: Call,
    kind: PopType,
    route: Route,
    card: Card | None,
    interaction_id: int | None,
    at: datetime,
) -> Pop:
    """The message agents' widgets receive for this moment of the call."""
    caller = normalise(call.from_e164) if call.from_e164 else None
    return Pop(
        pop_id=uuid.uuid4().hex,
        type=kind,
        tenant_id=call.tenant_id,
        call=PopCall(
            id=call.id,
            provider=call.provider,
            provider_call_id=call.provider_call_id,
            state=call.state,  # type: ignore[arg-type]
            direction=call.direction,
            from_e164=call.from_e164,
            from_display=(caller.national or caller.international) if caller else None,
            to_e164=call.to_e164,
            line_label=route.line_label,
            ringing_extension=call.ringing_extension,
            answered_by_agent_id=call.answered_by_agent_id,
            answered_by_name=call.answered_by,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=call.ended_at,
            interaction_id=interaction_id,
        ),
        card=card,
        at=at,
    )
