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
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.callbacks import missed_calls
from app.callbacks.policy import due_by
from app.callbacks.policy_store import load_policy
from app.calls.providers import TenantProvider
from app.calls.routing import Recipient, Route, find_answering_agent, route_call
from app.calls.routing_cache import RoutingSnapshot
from app.calls.states import CallFacts, CallState, Signal, advance
from app.interactions import calls as interactions
from app.models import Call, CallEventRecord, utcnow
from app.phone import DEFAULT_REGION, PhoneNumber, display, normalise
from app.recognition.schemas import Card
from app.recognition.service import recognise_number
from app.screen_pop.schemas import CALLER_NAME_LIMIT, Pop, PopCall, PopType
from app.subscriptions import events as outbound_events
from app.subscriptions.cache import Subscribers
from app.subscriptions.cache import load as load_subscribers
from app.subscriptions.outbox import emit
from telephony_adapters.base import CallEvent, Direction, EventKind, Outcome


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
_EVENTS = cast(Table, CallEventRecord.__table__)


def _dialect_insert(dialect: str) -> Any:
    """The dialect's own INSERT (it has ON CONFLICT). Imported for the dialect in use only:
    PostgreSQL's dialect package is ~2 MiB resident that a SQLite server never needs
    (bench/import_memory.py); the statements are built once (cached)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


@cache
def _insert_once(dialect: str, table: Any, columns: tuple[str, ...], returning: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING, built once per dialect with bind
    parameters: building it per event (values, cache key) cost more than running it."""
    # ON CONFLICT DO NOTHING exists on both dialects we run on, under the same name.
    insert = _dialect_insert(dialect)
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


def delivery_key(event: CallEvent) -> str:
    """What makes a delivery the same one again (stored, at most 16 characters).

    The kind alone is not enough: an IVR answering and then an agent answering are two
    answers, and a hangup that proves a person talked must not be dropped as a repeat of one
    that did not say.
    """
    if event.by_application:
        return f"{event.kind}+app"
    if event.person_answered is not None:
        return f"{event.kind}{'+' if event.person_answered else '-'}person"
    return str(event.kind)


@cache
def _first_delivery_statement(dialect: str) -> Any:
    """INSERT the event unless delivered before, naming its call if that exists already."""
    insert = _dialect_insert(dialect)
    calls = Call.__table__
    known_call = (
        select(calls.c.id)
        .where(
            calls.c.tenant_id == bindparam("tenant_id"),
            calls.c.provider == bindparam("provider"),
            calls.c.provider_call_id == bindparam("provider_call_id"),
        )
        .scalar_subquery()
    )
    values: dict[str, Any] = {c: bindparam(c) for c in _EVENT_COLUMNS if c != "call_id"}
    return (
        insert(_EVENTS)
        .values({**values, "call_id": known_call})
        .on_conflict_do_nothing()
        .returning(_EVENTS.c.id, _EVENTS.c.call_id)
    )


async def _first_delivery(
    session: AsyncSession, tenant: TenantProvider, event: CallEvent
) -> tuple[int, int | None] | None:
    """(event id, its call's id if known) for a first delivery; None for a repeat.

    The first statement of every event: a vendor's retry costs nothing more.
    """
    inserted = await session.execute(
        _first_delivery_statement(_dialect(session)),
        {
            "tenant_id": tenant.tenant_id,
            "provider": event.provider,
            "provider_call_id": event.call_id,
            "kind": delivery_key(event),
        },
    )
    row = inserted.first()
    return None if row is None else (row[0], row[1])


async def handle_event(
    session: AsyncSession,
    *,
    tenant: TenantProvider,
    event: CallEvent,
    routes: RoutingSnapshot | None = None,
    subscribers: Subscribers | None = None,
) -> EventResult:
    """Record one event and decide its pops; the caller commits, then publishes.

    With `routes` (the process's cached directory) routing reads no rows; with
    `subscribers` (its cached subscriptions) neither does deciding the outbound events.
    """
    at = event.occurred_at or utcnow()
    style, plan = event.number_style, tenant.extensions
    caller = normalise(event.from_raw, tenant.region, style=style, extensions=plan)
    called = normalise(event.to_raw, tenant.region, style=style, extensions=plan)
    outbound = event.direction is Direction.OUTBOUND
    # The card is about the other party: who rang us, or whom we rang. Our own line routes.
    party, line = (called, caller) if outbound else (caller, called)
    first = await _first_delivery(session, tenant, event)
    if first is None:
        return EventResult(outcome=Outcome(), duplicate=True)
    card: Card | None = None
    if event.kind is EventKind.RINGING:
        # Recognise before writing: the call row is then inserted once, complete.
        card = await recognise_number(
            session, tenant_id=tenant.tenant_id, number=party, called=line, now=at,
            region=tenant.region,
        )  # fmt: skip
    route = await _route(session, tenant.tenant_id, line.key, event.ringing_extension, routes)
    call, created = await _get_or_create_call(
        session, tenant, event, caller, called, at, card, route.line_id
    )
    event_id, known_call_id = first
    if known_call_id is None:
        await session.execute(
            update(_EVENTS).where(_EVENTS.c.id == event_id).values(call_id=call.id)
        )
    if not event.ringing_extension and call.ringing_extension:
        # Later events rarely repeat the extension: the agents who saw it ring follow it.
        route = await _route(session, tenant.tenant_id, line.key, call.ringing_extension, routes)
    if call.line_id is None and route.line_id is not None:
        call.line_id = route.line_id
    if event.ringing_extension and not call.ringing_extension:
        call.ringing_extension = event.ringing_extension
    if card is None and created:
        # A call first seen answered or ended (events out of order): still show who it is.
        card = await recognise_number(
            session, tenant_id=tenant.tenant_id, number=party, called=line, now=at,
            region=tenant.region,
        )  # fmt: skip
    if card is not None and (call.contact_id, call.match) != (card.contact_id, card.match):
        call.contact_id, call.match = card.contact_id, card.match

    step = advance(
        CallFacts(CallState(call.state), Direction(call.direction), call.answered_at is not None),
        Signal(event.kind, event.by_application, event.person_answered),
    )
    call.state = str(step.state)
    recipients = list(route.recipients)
    if step.answered_now:
        call.answered_at = call.answered_at or at
        agent = await _answering_agent(session, tenant.tenant_id, event, routes)
        call.answered_by = event.answered_by or call.answered_by
        if agent is not None:
            call.answered_by_agent_id, call.answered_by = agent.agent_id, agent.name
            recipients = _with(recipients, agent)
    interaction_id: int | None = None
    callback_request_id: int | None = None
    if step.finished_now:
        call.ended_at = call.ended_at or at
        interaction_id = await interactions.record_call(
            session, call=call, timezone=tenant.timezone
        )
        if step.open_callback:
            local = at.astimezone(ZoneInfo(tenant.timezone)).strftime("%H:%M")
            if routes is not None:
                policy = routes.policy(call.line_id)
            else:
                policy, _ = await load_policy(
                    session, tenant_id=tenant.tenant_id, line_id=call.line_id
                )
            callback_request_id = await missed_calls.open_for_missed_call(
                session,
                call=call,
                reason=f"Gemiste oproep om {local}",
                due_by=due_by(policy, at, tenant.timezone),
            )
    if step.revised:
        interaction_id = await interactions.revise_call(
            session, call=call, timezone=tenant.timezone
        )
        if not step.open_callback and step.state is CallState.ENDED:
            await missed_calls.withdraw_for_call(session, call=call)
    await session.flush()
    recognised = step.pop == "call.ringing" and card is not None and card.contact_id is not None
    types = outbound_events.call_event_types(
        step.pop, finished_now=step.finished_now, recognised=recognised
    )
    if types and subscribers is None:
        subscribers = await load_subscribers(session, tenant.tenant_id)
    for type_ in types:
        if not subscribers or not subscribers.get(type_):
            continue  # nobody wants it: not even its body is built
        contact = None
        if type_ == "call.recognised" and card is not None:
            contact = outbound_events.recognised_contact(
                card.contact_id, card.display_name, card.language, card.match
            )
        data = outbound_events.call_data(
            call, interaction_id=interaction_id, callback_request_id=callback_request_id,
            contact=contact,
        )  # fmt: skip
        await emit(
            session, tenant_id=tenant.tenant_id, type_=type_, data=data, at=at,
            ordering_key=f"call:{call.id}", subscribers=subscribers,
        )  # fmt: skip
    result = EventResult(outcome=await _outcome(call, card))
    if step.pop is not None and recipients:
        pop = build_pop(
            call, step.pop, route, card, interaction_id, at, region=tenant.region,
            # The phone system names whoever placed the call: on an outbound call, us.
            caller_name=None if outbound else event.caller_name,
            callback_request_id=callback_request_id,
        )  # fmt: skip
        result.pops.append(([r.agent_id for r in recipients], pop))
        for r in recipients:
            audit.pop_seen(
                session, tenant_id=tenant.tenant_id, agent_id=r.agent_id, agent_name=r.name,
                call_id=call.id, contact_id=call.contact_id, number_masked=party.masked,
            )  # fmt: skip
    return result


def _with(recipients: list[Recipient], agent: Recipient) -> list[Recipient]:
    if any(r.agent_id == agent.agent_id for r in recipients):
        return recipients
    return [*recipients, agent]


async def _route(
    session: AsyncSession,
    tenant_id: int,
    called_key: str | None,
    extension: str | None,
    routes: RoutingSnapshot | None,
) -> Route:
    if routes is not None:
        return routes.route(called_key, extension)
    return await route_call(
        session, tenant_id=tenant_id, called_key=called_key, extension=extension
    )


async def _answering_agent(
    session: AsyncSession, tenant_id: int, event: CallEvent, routes: RoutingSnapshot | None
) -> Recipient | None:
    if not event.answered_by:
        return None
    if routes is not None:
        return routes.answering(event.answered_by)
    return await find_answering_agent(session, tenant_id=tenant_id, answered_by=event.answered_by)


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
    *,
    region: str = DEFAULT_REGION,
    caller_name: str | None = None,
    callback_request_id: int | None = None,
) -> Pop:
    """The message agents' widgets receive for this moment of the call.

    `caller_name` is the phone system's name for the caller on this event (not stored: the
    widget keeps it from an earlier pop); `callback_request_id` the request a missed call
    opened or counted on.
    """
    caller = normalise(call.from_e164, region) if call.from_e164 else None
    party_e164 = call.to_e164 if call.direction == "outbound" else call.from_e164
    party = normalise(party_e164, region) if party_e164 else None
    return Pop(
        pop_id=uuid.uuid4().hex,
        type=kind,
        tenant_id=call.tenant_id,
        call=PopCall(
            id=call.id,
            provider=call.provider,
            provider_call_id=call.provider_call_id,
            state=CallState(call.state),
            direction=call.direction,
            from_e164=call.from_e164,
            from_display=display(caller, region) if caller else None,
            party_e164=party_e164,
            party_display=display(party, region) if party else None,
            to_e164=call.to_e164,
            line_label=route.line_label,
            ringing_extension=call.ringing_extension,
            answered_by_agent_id=call.answered_by_agent_id,
            answered_by_name=call.answered_by,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=call.ended_at,
            interaction_id=interaction_id,
            caller_name=(caller_name or "").strip()[:CALLER_NAME_LIMIT] or None,
            callback_request_id=callback_request_id,
        ),
        card=card,
        at=at,
    )
