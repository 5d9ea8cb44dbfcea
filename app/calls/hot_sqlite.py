"""One webhook's database work on SQLite, as one function run in the connection's thread.

`record` does what `lifecycle.handle_event` does for each event (idempotency first, then
`hot_lifecycle.decide` and its writes) and commits, without leaving the thread aiosqlite
runs the connection in: a webhook costs one hop into that thread, however many statements
it runs (each is microseconds; each hop is a thread wake-up on both sides).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.calls import hot_audit
from app.calls import hot_sql as sql
from app.calls.hot_card import Card, add_details, card_from_candidates, empty_card
from app.calls.hot_lifecycle import CallRow, HotEvent, Plan, Tenancy, Written, decide
from app.models import utcnow
from app.subscriptions import hot_outbox


def record(conn: sqlite3.Connection, tenancy: Tenancy, events: Sequence[HotEvent]) -> list[Written]:
    """Record the events of one delivery in one transaction, and commit (in the thread)."""
    try:
        written = [_one(conn, tenancy, hot) for hot in events]
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return written


class _Reads:
    """hot_lifecycle.Reads on the connection, in its thread."""

    def __init__(self, conn: sqlite3.Connection, tenant_id: int) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def recognise(self, hot: HotEvent) -> Card:
        """recognition.service.recognise_number: candidates, then the top one's details."""
        number, now = hot.party, hot.at
        if number.is_withheld or number.key is None:
            card = empty_card("withheld" if number.is_withheld else "unknown", hot.number)
        else:
            rows = self._conn.execute(sql.CANDIDATES, (self._tenant_id, number.key)).fetchall()
            card = card_from_candidates(rows, hot.number)
        details = self._conn.execute(
            sql.CARD_DETAILS,
            {
                "tenant_id": self._tenant_id,
                "contact_id": card["contact_id"],
                "number_key": None if number.is_withheld else number.key,
                "called_key": hot.line.key,
                "tags": json.dumps(card["tags"]),
                "now": sql.stamp(now),
            },
        ).fetchall()
        add_details(card, details, now)
        return card

    def call_interaction(self, call: CallRow) -> tuple[int, str | None] | None:
        row = self._conn.execute(sql.CALL_INTERACTION, (call.tenant_id, call.id)).fetchone()
        return None if row is None else (row[0], row[1])

    def callback_of_call(self, call: CallRow) -> tuple[int, int, int] | None:
        row = self._conn.execute(sql.CALLBACK_OF_CALL, (call.tenant_id, call.id)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def open_callback(self, call: CallRow, known: bool) -> int | None:
        if known:
            found = self._conn.execute(
                sql.OPEN_CALLBACK_OF_CONTACT, (call.tenant_id, call.contact_id)
            )
        else:
            found = self._conn.execute(
                sql.OPEN_CALLBACK_OF_NUMBER, (call.tenant_id, call.from_e164)
            )
        row = found.fetchone()
        return None if row is None else int(row[0])


def _one(conn: sqlite3.Connection, tenancy: Tenancy, hot: HotEvent) -> Written:
    event = hot.event
    first = conn.execute(
        sql.INSERT_EVENT,
        {
            "tenant_id": tenancy.tenant_id, "provider": event.provider, "call_id": event.call_id,
            "kind": hot.key, "received_at": sql.stamp(utcnow()),
        },
    ).fetchone()  # fmt: skip
    if first is None:
        return Written()  # delivered before: nothing more to do
    event_id, known_call_id = first
    existing = None
    if known_call_id is not None:
        row = conn.execute(sql.SELECT_CALL, (known_call_id,)).fetchone()
        existing = CallRow.of(row)
    plan = decide(tenancy, hot, existing, _Reads(conn, tenancy.tenant_id))
    _write(conn, plan)
    if known_call_id is None:
        conn.execute(sql.SET_EVENT_CALL, (plan.call.id, event_id))
    for row in hot_outbox.rows(tenancy.subscribers, plan, hot.at):
        conn.execute(
            hot_outbox.SQLITE_INSERT,
            {
                "tenant_id": tenancy.tenant_id, "message_id": row.message_id, "type": row.type,
                "ordering_key": row.ordering_key, "payload": row.payload,
                "now": sql.stamp(row.now), "ids": json.dumps(row.subscription_ids),
            },
        )  # fmt: skip
    seen = hot_audit.rows(hot, plan)
    if seen:
        conn.executemany(
            hot_audit.SQLITE_INSERT,
            [
                (s.tenant_id, sql.stamp(s.at), s.actor, s.call_id, s.contact_id,
                 s.number_masked, s.agent_id)
                for s in seen
            ],
        )  # fmt: skip
    return plan.written


def _bindable(value: Any) -> Any:
    return sql.stamp(value) if isinstance(value, datetime) else value


def _write(conn: sqlite3.Connection, plan: Plan) -> None:
    call, written = plan.call, plan.written
    if plan.created:
        values = {name: _bindable(getattr(call, name)) for name in sql.INSERTED}
        call.id = int(conn.execute(sql.INSERT_CALL, values).fetchone()[0])
    elif plan.changed:
        values_ = [_bindable(getattr(call, name)) for name in plan.changed]
        conn.execute(sql.update_call(plan.changed), (*values_, call.id))
    if plan.interaction is not None:
        if plan.interaction[0] == "insert":
            _, summary, outcome = plan.interaction
            direction = call.direction if call.direction in ("inbound", "outbound") else "inbound"
            row = conn.execute(
                sql.INSERT_INTERACTION,
                (
                    call.tenant_id, call.contact_id, sql.stamp(call.started_at), direction,
                    summary, outcome, call.answered_by_agent_id, call.id,
                ),
            ).fetchone()  # fmt: skip
            written.interaction_id = int(row[0])
        else:
            _, interaction_id, summary, outcome = plan.interaction
            conn.execute(
                sql.REVISE_INTERACTION,
                (summary, outcome, call.answered_by_agent_id, interaction_id),
            )
    if plan.callback is not None:
        _write_callback(conn, plan)


def _write_callback(conn: sqlite3.Connection, plan: Plan) -> None:
    call, op = plan.call, plan.callback
    assert op is not None
    if op[0] == "count":
        conn.execute(sql.COUNT_MISSED, (op[1],))
    elif op[0] == "insert":
        row = conn.execute(
            sql.INSERT_CALLBACK,
            (
                call.tenant_id, call.contact_id if plan.known else None, call.from_e164, op[1],
                sql.stamp(utcnow()), None if op[2] is None else sql.stamp(op[2]), call.id,
            ),
        ).fetchone()  # fmt: skip
        plan.written.callback_request_id = int(row[0])
    elif op[0] == "cancel":
        conn.execute(sql.CANCEL_CALLBACK, (sql.stamp(utcnow()), op[1]))
    elif op[0] == "set_missed":
        conn.execute(sql.SET_MISSED, (op[2], op[1]))
    elif plan.known:
        conn.execute(sql.UNCOUNT_OF_CONTACT, (call.tenant_id, call.contact_id))
    else:
        conn.execute(sql.UNCOUNT_OF_NUMBER, (call.tenant_id, call.from_e164))
