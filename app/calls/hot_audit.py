"""The hot path's audit rows: one per agent a pop is sent to, written with the call.

Who saw whom, when and why: the agent (`actor`, `agent_id`), the caller (`contact_id`,
the masked number), now, and the call (`subject_id`). The SQLite store runs
`SQLITE_INSERT` for them in its one hop; the PostgreSQL store adds `pg_part` to its one
write statement, guarded like its other writes by the event's own insert. So a pop that is
published was audited in the transaction that recorded it, and a retried delivery (which
pops nothing) audits nothing twice. `lifecycle.handle_event` does the same through
`audit.pop_seen`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.audit import POP_ACTION, POP_VIA, pop_actor
from app.calls.hot_lifecycle import HotEvent, Plan
from app.models import utcnow


@dataclass(frozen=True, slots=True)
class PopSeen:
    """One agent shown one call's pop."""

    tenant_id: int
    at: datetime
    actor: str
    agent_id: int
    call_id: str
    contact_id: int | None
    number_masked: str


def rows(hot: HotEvent, plan: Plan) -> list[PopSeen]:
    """The audit rows for a written plan (the call's id known), as many as recipients."""
    written, call = plan.written, plan.call
    if written.pop is None:
        return []
    now, tenant_id, call_id, contact_id = utcnow(), call.tenant_id, str(call.id), call.contact_id
    masked = hot.party.masked
    return [
        PopSeen(tenant_id, now, pop_actor(r.name), r.agent_id, call_id, contact_id, masked)
        for r in written.recipients
    ]


SQLITE_INSERT = f"""
INSERT INTO audit_events (tenant_id, at, actor, action, via, subject_type, subject_id,
                          contact_id, number_masked, agent_id)
VALUES (?, ?, ?, '{POP_ACTION}', '{POP_VIA}', 'call', ?, ?, ?, ?)
"""


def pg_part(seen: list[PopSeen], p: Callable[[object, str], str]) -> str:
    """One CTE inserting every row, written only with the event (`ev`); `p` binds a value."""
    first = seen[0]
    return (
        "au AS (INSERT INTO audit_events (tenant_id, at, actor, action, via, subject_type, "
        "subject_id, contact_id, number_masked, agent_id) "
        f"SELECT {p(first.tenant_id, 'integer')}, {p(first.at, 'timestamptz')}, r.actor, "
        f"'{POP_ACTION}', '{POP_VIA}', 'call', {p(first.call_id, 'varchar')}, "
        f"{p(first.contact_id, 'integer')}, {p(first.number_masked, 'varchar')}, r.agent_id "
        f"FROM unnest({p([s.actor for s in seen], 'varchar[]')}, "
        f"{p([s.agent_id for s in seen], 'integer[]')}) AS r(actor, agent_id) "
        "WHERE EXISTS (SELECT 1 FROM ev))"
    )
