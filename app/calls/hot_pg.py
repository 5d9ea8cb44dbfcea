"""One webhook's database work on PostgreSQL: two round trips per event, one for a retry
and one for a call's first ringing.

Through the pool's asyncpg connection, outside any transaction (each statement commits on
its own): `hot_pg_sql.READ` answers everything `hot_lifecycle.decide` may ask, then one
statement writes the plan, every part of it guarded by the event's own
`INSERT ... ON CONFLICT DO NOTHING`: a retry racing this one writes nothing twice. A call
created by a concurrent event in between makes the write fail whole (on the call's unique
key); the event is then read and decided again, against that call. A ringing event whose
call does not exist yet is read and recorded by one statement (`hot_pg_sql.CLAIM`, see
app/calls/hot_pg_claim.py), guarded the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from asyncpg import (  # type: ignore[import-untyped]  # asyncpg ships no type hints
    ForeignKeyViolationError,
    UniqueViolationError,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from app.calls import hot_audit
from app.calls import hot_pg_sql as sql
from app.calls.hot_card import Card, add_details, card_from_candidates, empty_card
from app.calls.hot_lifecycle import CallRow, HotEvent, Plan, Tenancy, Written, decide
from app.calls.hot_pg_claim import claimable, verified
from app.models import utcnow
from app.subscriptions import hot_outbox
from telephony_adapters.base import EventKind


class PostgresHotStore:
    """The hot path's repository on PostgreSQL (asyncpg, plain SQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, tenancy: Tenancy, events: Sequence[HotEvent]) -> list[Written]:
        async with self._engine.connect() as connection:
            pooled = await connection.get_raw_connection()
            driver: Any = pooled.driver_connection  # asyncpg.Connection, not in a transaction
            return [await _attempt(driver, tenancy, hot) for hot in events]


async def _attempt(conn: Any, tenancy: Tenancy, hot: HotEvent) -> Written:
    try:
        return await _one(conn, tenancy, hot)
    except (UniqueViolationError, ForeignKeyViolationError):
        # Another event created the call between our read and our write (its first events
        # arriving together): nothing of ours was written; read again, and find it.
        return await _one(conn, tenancy, hot)


class _Read:
    """hot_lifecycle.Reads answered from READ's row."""

    def __init__(self, row: Any) -> None:
        self._row = row

    def recognise(self, hot: HotEvent) -> Card:
        number = hot.party
        if number.is_withheld or number.key is None:
            card = empty_card("withheld" if number.is_withheld else "unknown", hot.number)
        else:
            card = card_from_candidates(self._row["candidates"] or [], hot.number)
        add_details(card, self._row["details"] or [], hot.at)
        return card

    def call_interaction(self, call: CallRow) -> tuple[int, str | None] | None:
        found = self._row["call_interaction"]
        return None if found is None else (found[0], found[1])

    def callback_of_call(self, call: CallRow) -> tuple[int, int, int] | None:
        found = self._row["callback_of_call"]
        return None if found is None else (found[0], found[1], found[2])

    def open_callback(self, call: CallRow, known: bool) -> int | None:
        for callback_id, contact_id, number in self._row["open_callbacks"] or []:
            if (contact_id == call.contact_id) if known else (number == call.from_e164):
                return int(callback_id)
        return None


async def _one(conn: Any, tenancy: Tenancy, hot: HotEvent) -> Written:
    event, party = hot.event, hot.party
    read_args = [
        tenancy.tenant_id,
        event.provider,
        event.call_id,
        hot.key,
        event.kind is EventKind.RINGING,
        None if party.is_withheld else party.key,
        hot.line.key,
        hot.at,
        hot.caller.key,
        event.kind is not EventKind.RINGING,
    ]
    claim = claimable(tenancy, hot)
    if claim is None:
        row = await conn.fetchrow(sql.READ, *read_args)
    else:
        row = await conn.fetchrow(sql.CLAIM, *read_args, *claim.args(hot))
    if row["seen"]:
        return Written()  # delivered before: this statement was all it cost
    existing = CallRow.of(row["call"]) if row["call"] is not None else None
    plan = decide(tenancy, hot, existing, _Read(row))
    if claim is not None and row["claimed_call_id"] is not None:
        await verified(conn, claim, hot, plan, row)
        return plan.written  # recorded by the one statement
    if plan.created:
        plan.call.id = row["new_call_id"]
    statement, args = _write(tenancy, hot, plan, row)
    if not await conn.fetchval(statement, *args):
        return Written()  # a retry of this delivery recorded it a moment ago
    return plan.written


class _Params:
    """Positional parameters, each cast to its column's type."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, type_: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{type_}"


_ONLY_NEW = "WHERE EXISTS (SELECT 1 FROM ev)"


def _write(tenancy: Tenancy, hot: HotEvent, plan: Plan, read: Any) -> tuple[str, list[Any]]:
    p, call = _Params(), plan.call
    parts = [
        "ev AS (INSERT INTO call_events (tenant_id, provider, provider_call_id, kind, "
        f"received_at, call_id) VALUES ({p(tenancy.tenant_id, 'integer')}, "
        f"{p(call.provider, 'varchar')}, {p(call.provider_call_id, 'varchar')}, "
        f"{p(hot.key, 'varchar')}, {p(utcnow(), 'timestamptz')}, {p(call.id, 'integer')}) "
        "ON CONFLICT DO NOTHING RETURNING id)"
    ]
    if plan.created:
        names = sql.TYPES.keys()
        values = ", ".join(p(getattr(call, name), sql.TYPES[name]) for name in names)
        parts.append(f"c AS (INSERT INTO calls ({', '.join(names)}) SELECT {values} {_ONLY_NEW})")
    elif plan.changed:
        sets = ", ".join(f"{n} = {p(getattr(call, n), sql.TYPES[n])}" for n in plan.changed)
        parts.append(
            f"c AS (UPDATE calls SET {sets} WHERE id = {p(call.id, 'integer')} "
            "AND EXISTS (SELECT 1 FROM ev))"
        )
    if plan.interaction is not None:
        parts.append(_interaction(p, plan, read["new_interaction_id"]))
    if plan.callback is not None:
        parts.append(_callback(p, plan, read["new_callback_id"]))
    # After the parts above: they fill in the ids of the rows the events name.
    outbound = hot_outbox.rows(tenancy.subscribers, plan, hot.at)
    if outbound:
        parts.append(hot_outbox.pg_part(outbound, tenancy.tenant_id, p))
    seen = hot_audit.rows(hot, plan)
    if seen:
        parts.append(hot_audit.pg_part(seen, p))
    return f"WITH {', '.join(parts)} SELECT count(*) FROM ev", p.values


def _interaction(p: _Params, plan: Plan, new_id: int) -> str:
    call, op = plan.call, plan.interaction
    assert op is not None
    if op[0] == "insert":
        plan.written.interaction_id = new_id
        direction = call.direction if call.direction in ("inbound", "outbound") else "inbound"
        values = ", ".join(
            [
                p(new_id, "integer"), p(call.tenant_id, "integer"), p(call.contact_id, "integer"),
                p(call.started_at, "timestamptz"), "'phone'", p(direction, "varchar"),
                p(op[1], "text"), p(op[2], "varchar"), p(call.answered_by_agent_id, "integer"),
                p(call.id, "integer"),
            ]
        )  # fmt: skip
        return (
            "i AS (INSERT INTO interactions (id, tenant_id, contact_id, occurred_at, channel, "
            f"direction, summary, outcome, agent_id, call_id) SELECT {values} {_ONLY_NEW})"
        )
    _, interaction_id, summary, outcome = op
    return (
        f"i AS (UPDATE interactions SET summary = {p(summary, 'text')}, "
        f"outcome = {p(outcome, 'varchar')}, agent_id = {p(call.answered_by_agent_id, 'integer')} "
        f"WHERE id = {p(interaction_id, 'integer')} AND EXISTS (SELECT 1 FROM ev))"
    )


def _callback(p: _Params, plan: Plan, new_id: int) -> str:
    call, op = plan.call, plan.callback
    assert op is not None
    where = "AND EXISTS (SELECT 1 FROM ev)"
    if op[0] == "count":
        return (
            "cb AS (UPDATE callback_requests SET missed_calls = missed_calls + 1 "
            f"WHERE id = {p(op[1], 'integer')} {where})"
        )
    if op[0] == "insert":
        plan.written.callback_request_id = new_id
        contact = call.contact_id if plan.known else None
        values = ", ".join(
            [
                p(new_id, "integer"), p(call.tenant_id, "integer"), p(contact, "integer"),
                p(call.from_e164, "varchar"), p(op[1], "text"), p(utcnow(), "timestamptz"),
                p(op[2], "timestamptz"), "'open'", "0", "1", p(call.id, "integer"),
            ]
        )  # fmt: skip
        return (
            "cb AS (INSERT INTO callback_requests (id, tenant_id, contact_id, number_e164, "
            "reason, requested_at, due_by, status, attempts, missed_calls, call_id) "
            f"SELECT {values} {_ONLY_NEW})"
        )
    if op[0] == "cancel":
        now: datetime = utcnow()
        return (
            "cb AS (UPDATE callback_requests SET status = 'cancelled', closed_at = "
            f"{p(now, 'timestamptz')} WHERE id = {p(op[1], 'integer')} {where})"
        )
    if op[0] == "set_missed":
        return (
            f"cb AS (UPDATE callback_requests SET missed_calls = {p(op[2], 'integer')} "
            f"WHERE id = {p(op[1], 'integer')} {where})"
        )
    whose = (
        f"contact_id = {p(call.contact_id, 'integer')}"
        if plan.known
        else f"number_e164 = {p(call.from_e164, 'varchar')}"
    )
    return (
        "cb AS (UPDATE callback_requests SET missed_calls = missed_calls - 1 "
        f"WHERE tenant_id = {p(call.tenant_id, 'integer')} AND status = 'open' "
        f"AND missed_calls > 1 AND {whose} {where})"
    )
