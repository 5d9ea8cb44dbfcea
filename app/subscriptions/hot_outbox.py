"""The hot path's outbox rows: the call events of one recorded event, as plain statements.

`rows` says what to write (nothing at all when the tenant subscribes to none of the step's
events: no body is even built); the SQLite store runs `SQLITE_INSERT` per row in its one
hop, the PostgreSQL store adds `pg_part` as a CTE to its one write statement, guarded like
its other writes by the event's own insert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from app.models import utcnow
from app.subscriptions import events
from app.subscriptions.cache import Subscribers
from app.subscriptions.outbox import COLUMNS

if TYPE_CHECKING:
    from app.calls.hot_lifecycle import Plan


@dataclass(frozen=True, slots=True)
class HotRow:
    """One event for the subscriptions in `subscription_ids`."""

    type: str
    subscription_ids: tuple[int, ...]
    message_id: str
    ordering_key: str
    payload: str
    now: datetime


def rows(subscribers: Subscribers, plan: Plan, at: datetime) -> list[HotRow]:
    """The outbox rows for a written plan (the call's id and its new rows' ids known)."""
    if not subscribers or not events.wanted(subscribers, plan.events):
        return []
    call, written, now = plan.call, plan.written, utcnow()
    found: list[HotRow] = []
    for type_ in plan.events:
        ids = subscribers.get(type_, ())
        if not ids:
            continue
        contact = None
        if type_ == "call.recognised" and written.card is not None:
            card = written.card
            contact = events.recognised_contact(
                card["contact_id"], card["display_name"], card["language"], card["match"]
            )
        data = events.call_data(
            call,
            interaction_id=written.interaction_id,
            callback_request_id=written.callback_request_id,
            contact=contact,
        )
        found.append(
            HotRow(
                type_,
                ids,
                events.message_id(),
                f"call:{call.id}",
                events.body(type_, at, data),
                now,
            )
        )
    return found


SQLITE_INSERT = f"""
INSERT INTO event_outbox ({", ".join(COLUMNS)})
SELECT tenant_id, id, :message_id, :type, :ordering_key, :payload, 'pending', 0, :now, :now
FROM subscriptions
WHERE tenant_id = :tenant_id AND enabled AND id IN (SELECT value FROM json_each(:ids))
"""


def pg_part(found: list[HotRow], tenant_id: int, p: Callable[[object, str], str]) -> str:
    """One CTE inserting every row, written only with the event (`ev`); `p` binds a value.

    One INSERT, its rows sorted: separate CTEs would run in no set order, and the ids
    drawn in order are what keeps a call's events in order.
    """
    values = ", ".join(
        f"({n}, {p(row.message_id, 'varchar')}, {p(row.type, 'varchar')}, "
        f"{p(row.ordering_key, 'varchar')}, {p(row.payload, 'text')}, "
        f"{p(list(row.subscription_ids), 'integer[]')})"
        for n, row in enumerate(found)
    )
    now = p(found[0].now, "timestamptz")
    return (
        f"ob AS (INSERT INTO event_outbox ({', '.join(COLUMNS)}) "
        f"SELECT s.tenant_id, s.id, e.message_id, e.type, e.ordering_key, e.payload, 'pending', "
        f"0, {now}, {now} FROM (VALUES {values}) AS e(n, message_id, type, ordering_key, "
        "payload, ids) JOIN subscriptions s ON s.id = ANY(e.ids) "
        f"WHERE s.tenant_id = {p(tenant_id, 'integer')} AND s.enabled "
        "AND EXISTS (SELECT 1 FROM ev) ORDER BY e.n, s.id)"
    )
