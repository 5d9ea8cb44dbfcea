"""One webhook's database work on SQLite, as one function run in the connection's thread.

`record` does what `lifecycle.handle_event` does for each event (idempotency, recognition,
the call row, the state machine's writes) and commits, without leaving the thread aiosqlite
runs the connection in: a webhook costs one hop into that thread, however many statements
it runs (each statement is microseconds; each hop is a thread wake-up on both sides).
Routing comes from the process's `RoutingSnapshot`, read-only here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.calls import hot_sql as sql
from app.calls.hot_card import Card, add_details, card_from_candidates, empty_card, moment
from app.calls.routing import Recipient, Route
from app.calls.routing_cache import RoutingSnapshot
from app.calls.states import CallFacts, CallState, PopKind, Signal, advance
from app.interactions.calls import summarise
from app.models import utcnow
from app.phone import PhoneNumber
from telephony_adapters.base import CallEvent, Direction, EventKind


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
        """From a row in `hot_sql.CALL_COLUMNS` order."""
        values = list(row)
        for at in (15, 16, 17):
            values[at] = moment(values[at])
        return cls(*values)


_CHANGEABLE = (
    "line_id", "ringing_extension", "contact_id", "match", "state", "answered_at",
    "answered_by", "answered_by_agent_id", "ended_at",
)  # fmt: skip
assert tuple(f.name for f in fields(CallRow)) == sql.CALL_COLUMNS


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


@dataclass(frozen=True, slots=True)
class Tenancy:
    """The tenant facts recording needs."""

    tenant_id: int
    timezone: str
    routes: RoutingSnapshot


def record(conn: sqlite3.Connection, tenancy: Tenancy, events: Sequence[HotEvent]) -> list[Written]:
    """Record the events of one delivery in one transaction, and commit (in the thread)."""
    try:
        written = [_one(conn, tenancy, hot) for hot in events]
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return written


def _one(conn: sqlite3.Connection, tenancy: Tenancy, hot: HotEvent) -> Written:
    event, at, tenant_id = hot.event, hot.at, tenancy.tenant_id
    first = conn.execute(
        sql.INSERT_EVENT,
        {
            "tenant_id": tenant_id, "provider": event.provider, "call_id": event.call_id,
            "kind": hot.key, "received_at": sql.stamp(utcnow()),
        },
    ).fetchone()  # fmt: skip
    if first is None:
        return Written()
    event_id, known_call_id = first
    card: Card | None = None
    if event.kind is EventKind.RINGING:
        card = _recognise(conn, tenant_id, hot)
    routes = tenancy.routes
    route = routes.route(hot.line.key, event.ringing_extension)
    call, created = _call(conn, tenant_id, hot, card, route.line_id)
    if known_call_id is None:
        conn.execute(sql.SET_EVENT_CALL, (call.id, event_id))
    before = {name: getattr(call, name) for name in _CHANGEABLE}

    if not event.ringing_extension and call.ringing_extension:
        route = routes.route(hot.line.key, call.ringing_extension)
    if call.line_id is None and route.line_id is not None:
        call.line_id = route.line_id
    if event.ringing_extension and not call.ringing_extension:
        call.ringing_extension = event.ringing_extension
    if card is None and created:
        card = _recognise(conn, tenant_id, hot)
    if card is not None and (call.contact_id, call.match) != (card["contact_id"], card["match"]):
        call.contact_id, call.match = card["contact_id"], card["match"]

    step = advance(
        CallFacts(CallState(call.state), Direction(call.direction), call.answered_at is not None),
        Signal(event.kind, event.by_application, event.person_answered),
    )
    call.state = str(step.state)
    written = Written(call=call, route=route, recipients=list(route.recipients), card=card)
    if step.answered_now:
        call.answered_at = call.answered_at or at
        agent = routes.answering(event.answered_by) if event.answered_by else None
        call.answered_by = event.answered_by or call.answered_by
        if agent is not None:
            call.answered_by_agent_id, call.answered_by = agent.agent_id, agent.name
            if all(r.agent_id != agent.agent_id for r in written.recipients):
                written.recipients.append(agent)
    if step.finished_now:
        call.ended_at = call.ended_at or at
        written.interaction_id = _record_interaction(conn, call, tenancy.timezone)
        if step.open_callback:
            local = at.astimezone(ZoneInfo(tenancy.timezone)).strftime("%H:%M")
            written.callback_request_id = _open_callback(
                conn, call, reason=f"Gemiste oproep om {local}"
            )
    if step.revised:
        written.interaction_id = _revise_interaction(conn, call, tenancy.timezone)
        if not step.open_callback and step.state is CallState.ENDED:
            _withdraw_callback(conn, call)
    changed = tuple(name for name in _CHANGEABLE if getattr(call, name) != before[name])
    if changed:
        values = [_bindable(getattr(call, name)) for name in changed]
        conn.execute(sql.update_call(changed), (*values, call.id))
    written.pop = step.pop
    return written


def _bindable(value: Any) -> Any:
    return sql.stamp(value) if isinstance(value, datetime) else value


def _call(
    conn: sqlite3.Connection,
    tenant_id: int,
    hot: HotEvent,
    card: Card | None,
    line_id: int | None,
) -> tuple[CallRow, bool]:
    event = hot.event
    row = conn.execute(
        sql.INSERT_CALL,
        {
            "tenant_id": tenant_id,
            "provider": event.provider,
            "provider_call_id": event.call_id,
            "from_e164": hot.caller.key,
            "from_masked": hot.caller.masked,
            "to_e164": hot.called.key,
            "direction": str(event.direction),
            "state": "ringing",
            "line_id": line_id,
            "ringing_extension": event.ringing_extension,
            "contact_id": card["contact_id"] if card is not None else None,
            "match": card["match"] if card is not None else "unknown",
            "started_at": sql.stamp(hot.at),
        },
    ).fetchone()
    if row is not None:
        return CallRow.of(row), True
    row = conn.execute(sql.SELECT_CALL, (tenant_id, event.provider, event.call_id)).fetchone()
    assert row is not None  # the event's insert holds the write lock: nobody deleted it
    return CallRow.of(row), False


def _recognise(conn: sqlite3.Connection, tenant_id: int, hot: HotEvent) -> Card:
    """recognition.service.recognise_number: candidates, then the top one's details."""
    number, now = hot.party, hot.at
    if number.is_withheld or number.key is None:
        card = empty_card("withheld" if number.is_withheld else "unknown", hot.number)
        contact_id, tags = None, []
    else:
        rows = conn.execute(sql.CANDIDATES, (tenant_id, number.key)).fetchall()
        card = card_from_candidates(rows, hot.number)
        contact_id, tags = card["contact_id"], card["tags"]
    details = conn.execute(
        sql.CARD_DETAILS,
        {
            "tenant_id": tenant_id,
            "contact_id": contact_id,
            "number_key": None if number.is_withheld else number.key,
            "called_key": hot.line.key,
            "tags": json.dumps(tags),
            "now": sql.stamp(now),
        },
    ).fetchall()
    add_details(card, details, now)
    return card


def _record_interaction(conn: sqlite3.Connection, call: CallRow, timezone: str) -> int:
    summary, outcome = summarise(call, timezone)
    direction = call.direction if call.direction in ("inbound", "outbound") else "inbound"
    row = conn.execute(
        sql.INSERT_INTERACTION,
        (
            call.tenant_id, call.contact_id, sql.stamp(call.started_at), direction, summary,
            outcome, call.answered_by_agent_id, call.id,
        ),
    ).fetchone()  # fmt: skip
    return int(row[0])


def _revise_interaction(conn: sqlite3.Connection, call: CallRow, timezone: str) -> int:
    row = conn.execute(sql.CALL_INTERACTION, (call.tenant_id, call.id)).fetchone()
    if row is None:
        return _record_interaction(conn, call, timezone)
    interaction_id, outcome = row
    if outcome in ("answered", "missed", "voicemail", "not_reached"):
        summary, new_outcome = summarise(call, timezone)
        conn.execute(
            sql.REVISE_INTERACTION,
            (summary, new_outcome, call.answered_by_agent_id, interaction_id),
        )
    return int(interaction_id)


def _open_callback(conn: sqlite3.Connection, call: CallRow, *, reason: str) -> int | None:
    """callbacks.missed_calls.open_for_missed_call."""
    if call.from_e164 is None or call.match == "withheld":
        return None
    known = call.match == "known" and call.contact_id is not None
    if known:
        open_one = conn.execute(sql.OPEN_CALLBACK_OF_CONTACT, (call.tenant_id, call.contact_id))
    else:
        open_one = conn.execute(sql.OPEN_CALLBACK_OF_NUMBER, (call.tenant_id, call.from_e164))
    existing = open_one.fetchone()
    if existing is not None:
        conn.execute(sql.COUNT_MISSED, (existing[0],))
        return int(existing[0])
    row = conn.execute(
        sql.INSERT_CALLBACK,
        (
            call.tenant_id, call.contact_id if known else None, call.from_e164, reason,
            sql.stamp(utcnow()), call.id,
        ),
    ).fetchone()  # fmt: skip
    return int(row[0])


def _withdraw_callback(conn: sqlite3.Connection, call: CallRow) -> None:
    """callbacks.missed_calls.withdraw_for_call."""
    opened = conn.execute(sql.CALLBACK_OF_CALL, (call.tenant_id, call.id)).fetchone()
    if opened is not None:
        callback_id, missed, attempts = opened
        if missed <= 1 and attempts == 0:
            conn.execute(sql.CANCEL_CALLBACK, (sql.stamp(utcnow()), callback_id))
        else:
            conn.execute(sql.SET_MISSED, (max(1, missed - 1), callback_id))
        return
    if call.match == "known" and call.contact_id is not None:
        conn.execute(sql.UNCOUNT_OF_CONTACT, (call.tenant_id, call.contact_id))
    else:
        conn.execute(sql.UNCOUNT_OF_NUMBER, (call.tenant_id, call.from_e164))
