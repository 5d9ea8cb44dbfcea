"""What one event does to its call, decided without the ORM: the hot path's half of
`lifecycle.handle_event`, shared by the SQLite and PostgreSQL stores.

`decide` reads what it needs through `Reads` (SQLite asks in its thread as it goes;
PostgreSQL has read it all in one statement) and returns a `Plan` of writes, which each
store carries out its own way: statement by statement in SQLite's thread, in one statement
of chained CTEs on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from app.callbacks.policy import due_by
from app.calls.hot_card import Card, moment
from app.calls.routing import Recipient, Route
from app.calls.routing_cache import RoutingSnapshot
from app.calls.states import CallFacts, CallState, PopKind, Signal, advance
from app.interactions.calls import summarise
from app.phone import PhoneNumber
from app.subscriptions.cache import Subscribers
from app.subscriptions.events import call_event_types
from telephony_adapters.base import CallEvent, Direction, EventKind

CALL_COLUMNS = (
    "id", "tenant_id", "provider", "provider_call_id", "from_e164", "from_masked", "to_e164",
    "direction", "state", "line_id", "ringing_extension", "answered_by", "answered_by_agent_id",
    "contact_id", "match", "started_at", "answered_at", "ended_at",
)  # fmt: skip
# What an event may change on a call that exists.
CHANGEABLE = (
    "line_id", "ringing_extension", "contact_id", "match", "state", "answered_at",
    "answered_by", "answered_by_agent_id", "ended_at",
)  # fmt: skip


@dataclass(slots=True)
class CallRow:
    """A `calls` row as plain data, with the names of `models.Call`."""

    id: int
    tenant_id: int
    provider: str
    provider_call_id: str
    from_e164: str | None
    from_masked: str
    to_e164: str | None
    direction: str
    state: str
    line_id: int | None
    ringing_extension: str | None
    answered_by: str | None
    answered_by_agent_id: int | None
    contact_id: int | None
    match: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def of(cls, row: Sequence[Any]) -> CallRow:
        """From a row in `CALL_COLUMNS` order."""
        values = list(row)
        for at in (15, 16, 17):
            values[at] = moment(values[at])
        return cls(*values)


assert tuple(f.name for f in fields(CallRow)) == CALL_COLUMNS


@dataclass(frozen=True, slots=True)
class HotEvent:
    """An event with what is known before the database: numbers read, delivery key."""

    event: CallEvent
    key: str  # lifecycle.delivery_key
    at: datetime
    caller: PhoneNumber
    called: PhoneNumber
    party: PhoneNumber  # whom the card is about
    line: PhoneNumber  # our own number: it routes
    number: dict[str, Any]  # hot_card.describe_number(party)


@dataclass(frozen=True, slots=True)
class Tenancy:
    """The tenant facts recording needs."""

    tenant_id: int
    timezone: str
    routes: RoutingSnapshot
    # Who wants which outbound event (app/subscriptions): empty writes no outbox rows.
    subscribers: Subscribers = field(default_factory=dict)


@dataclass(slots=True)
class Written:
    """What recording one event did; `call` is None for a duplicate."""

    call: CallRow | None = None
    route: Route | None = None
    recipients: list[Recipient] = field(default_factory=list)
    card: Card | None = None
    pop: PopKind | None = None
    interaction_id: int | None = None
    callback_request_id: int | None = None

    @property
    def duplicate(self) -> bool:
        """A repeated delivery: nothing was written."""
        return self.call is None


class Reads(Protocol):
    """What deciding may need to read besides the call (asked only when it is needed)."""

    def recognise(self, hot: HotEvent) -> Card:
        """recognition.service.recognise_number as plain data."""
        ...

    def call_interaction(self, call: CallRow) -> tuple[int, str | None] | None:
        """The call's first interaction: (id, outcome)."""
        ...

    def callback_of_call(self, call: CallRow) -> tuple[int, int, int] | None:
        """The open request the call opened: (id, missed calls, attempts)."""
        ...

    def open_callback(self, call: CallRow, known: bool) -> int | None:
        """The oldest open request of the call's contact (known) or number."""
        ...


@dataclass(slots=True)
class Plan:
    """The writes one event needs, and what it shows."""

    written: Written
    call: CallRow  # as it is to be stored (`id` 0 while new, on SQLite)
    created: bool
    changed: tuple[str, ...] = ()
    # ("insert", summary, outcome) or ("revise", id, summary, outcome); None for neither.
    interaction: tuple[Any, ...] | None = None
    # ("count", id) | ("insert", reason, due_by) | ("cancel", id) | ("set_missed", id, n)
    # | ("uncount",)
    callback: tuple[Any, ...] | None = None
    known: bool = False  # whose callback: the contact's (True) or the number's
    events: tuple[str, ...] = ()  # the outbound events this step announces


def new_call(tenant_id: int, hot: HotEvent, card: Card | None, line_id: int | None) -> CallRow:
    """The row a call's first event inserts."""
    event = hot.event
    return CallRow(
        id=0, tenant_id=tenant_id, provider=event.provider, provider_call_id=event.call_id,
        from_e164=hot.caller.key, from_masked=hot.caller.masked, to_e164=hot.called.key,
        direction=str(event.direction), state="ringing", line_id=line_id,
        ringing_extension=event.ringing_extension, answered_by=None, answered_by_agent_id=None,
        contact_id=card["contact_id"] if card is not None else None,
        match=card["match"] if card is not None else "unknown", started_at=hot.at,
        answered_at=None, ended_at=None,
    )  # fmt: skip


def decide(tenancy: Tenancy, hot: HotEvent, existing: CallRow | None, reads: Reads) -> Plan:
    """`handle_event` after its idempotency check: the call's next state and the writes."""
    event, at, routes = hot.event, hot.at, tenancy.routes
    card = reads.recognise(hot) if event.kind is EventKind.RINGING else None
    route = routes.route(hot.line.key, event.ringing_extension)
    if existing is None:
        # A call first seen answered or ended (events out of order): still show who it is.
        card = card if card is not None else reads.recognise(hot)
        call, created = new_call(tenancy.tenant_id, hot, card, route.line_id), True
    else:
        call, created = existing, False
    before = {name: getattr(call, name) for name in CHANGEABLE}
    if not event.ringing_extension and call.ringing_extension:
        # Later events rarely repeat the extension: the agents who saw it ring follow it.
        route = routes.route(hot.line.key, call.ringing_extension)
    if call.line_id is None and route.line_id is not None:
        call.line_id = route.line_id
    if event.ringing_extension and not call.ringing_extension:
        call.ringing_extension = event.ringing_extension
    if card is not None and (call.contact_id, call.match) != (card["contact_id"], card["match"]):
        call.contact_id, call.match = card["contact_id"], card["match"]

    step = advance(
        CallFacts(CallState(call.state), Direction(call.direction), call.answered_at is not None),
        Signal(event.kind, event.by_application, event.person_answered),
    )
    call.state = str(step.state)
    written = Written(call=call, route=route, recipients=list(route.recipients), card=card)
    written.pop = step.pop
    plan = Plan(written=written, call=call, created=created)
    recognised = step.pop == "call.ringing" and card is not None and card["contact_id"] is not None
    plan.events = call_event_types(step.pop, finished_now=step.finished_now, recognised=recognised)
    if step.answered_now:
        call.answered_at = call.answered_at or at
        agent = routes.answering(event.answered_by) if event.answered_by else None
        call.answered_by = event.answered_by or call.answered_by
        if agent is not None:
            call.answered_by_agent_id, call.answered_by = agent.agent_id, agent.name
            if all(r.agent_id != agent.agent_id for r in written.recipients):
                written.recipients.append(agent)
    plan.known = call.match == "known" and call.contact_id is not None
    if step.finished_now:
        call.ended_at = call.ended_at or at
        plan.interaction = ("insert", *summarise(call, tenancy.timezone))
        if step.open_callback and call.from_e164 is not None and call.match != "withheld":
            # callbacks.missed_calls.open_for_missed_call: one open request per caller.
            found = reads.open_callback(call, plan.known)
            if found is not None:
                plan.callback, written.callback_request_id = ("count", found), found
            else:
                local = at.astimezone(ZoneInfo(tenancy.timezone)).strftime("%H:%M")
                # Due by the line's policy, from memory: the hot path stays one hop.
                due = due_by(routes.policy(call.line_id), at, tenancy.timezone)
                plan.callback = ("insert", f"Gemiste oproep om {local}", due)
    if step.revised:
        summary, outcome = summarise(call, tenancy.timezone)
        first = None if created else reads.call_interaction(call)
        if first is None:
            plan.interaction = ("insert", summary, outcome)
        else:
            written.interaction_id = first[0]
            if first[1] in ("answered", "missed", "voicemail", "not_reached"):
                plan.interaction = ("revise", first[0], summary, outcome)
        if not step.open_callback and step.state is CallState.ENDED:
            plan.callback = _withdraw(reads, call, created)
    if not created:
        plan.changed = tuple(name for name in CHANGEABLE if getattr(call, name) != before[name])
    return plan


def _withdraw(reads: Reads, call: CallRow, created: bool) -> tuple[Any, ...]:
    """callbacks.missed_calls.withdraw_for_call."""
    opened = None if created else reads.callback_of_call(call)
    if opened is None:
        return ("uncount",)
    callback_id, missed, attempts = opened
    if missed <= 1 and attempts == 0:
        return ("cancel", callback_id)
    return ("set_missed", callback_id, max(1, missed - 1))
