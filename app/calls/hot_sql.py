"""The statements of the webhook's hot path on SQLite, as plain SQL.

They say what `recognition.queries`, `calls.lifecycle`, `interactions.calls` and
`callbacks.missed_calls` say through the ORM, written out once: built per event, the
ORM's statements cost more than running them. Times are bound as SQLAlchemy stores them
on SQLite (naive UTC text), so comparisons with stored times stay comparisons of text.
`tests/test_hot_path.py` checks that both paths write and show the same.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.calls.hot_card import CONTACT_COLUMNS, PROFILE_COLUMNS
from app.calls.hot_lifecycle import CALL_COLUMNS
from app.recognition.queries import (
    CLOSED_CASE_STATUSES,
    LAST_INTERACTIONS,
    MAX_CALLBACKS,
    MAX_CANDIDATES,
    MAX_CASES,
    MAX_NOTICES,
)


def stamp(moment: datetime) -> str:
    """A time as SQLAlchemy's DateTime stores it in SQLite."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# The first statement of every event: a repeated (provider, call id, delivery key) inserts
# nothing and is answered as a duplicate. An existing call's id is filled in at once.
INSERT_EVENT = """
INSERT INTO call_events (tenant_id, provider, provider_call_id, kind, received_at, call_id)
VALUES (:tenant_id, :provider, :call_id, :kind, :received_at,
        (SELECT id FROM calls WHERE tenant_id = :tenant_id AND provider = :provider
         AND provider_call_id = :call_id))
ON CONFLICT DO NOTHING RETURNING id, call_id
"""
SET_EVENT_CALL = "UPDATE call_events SET call_id = ? WHERE id = ?"

INSERTED = CALL_COLUMNS[1:]
INSERT_CALL = (
    f"INSERT INTO calls ({', '.join(INSERTED)}) "
    f"VALUES ({', '.join(':' + c for c in INSERTED)}) RETURNING id"
)
SELECT_CALL = f"SELECT {', '.join(CALL_COLUMNS)} FROM calls WHERE id = ?"

_CONTACT = ", ".join(f"c.{column}" for column in CONTACT_COLUMNS)
_PROFILE = ", ".join(f"sp.{column}" for column in PROFILE_COLUMNS)
# recognition.queries._candidates_statement
CANDIDATES = f"""
SELECT {_CONTACT}, {_PROFILE},
       (SELECT max(i.occurred_at) FROM interactions i WHERE i.contact_id = c.id) AS last_at,
       nc.contact_id IS NOT NULL AS chosen
FROM contacts c
JOIN contact_numbers cn ON cn.contact_id = c.id
LEFT OUTER JOIN service_profiles sp ON sp.contact_id = c.id
LEFT OUTER JOIN number_choices nc
  ON nc.tenant_id = cn.tenant_id AND nc.e164 = cn.e164 AND nc.contact_id = c.id
WHERE cn.tenant_id = ? AND cn.e164 = ?
ORDER BY chosen DESC, last_at DESC NULLS LAST, c.id
LIMIT {MAX_CANDIDATES}
"""

_CLOSED = ", ".join(f"'{status}'" for status in CLOSED_CASE_STATUSES)
# recognition.queries._card_details_statement, every shape in one: a contact, number or
# called line that is absent is bound as NULL and matches nothing, as a branch left out.
CARD_DETAILS = f"""
SELECT * FROM (
  SELECT 'interaction' AS kind, i.id, i.occurred_at AS at, NULL AS due, i.channel AS t1,
         i.summary AS t2, i.outcome AS t3, a.name AS t4, i.direction AS t5, NULL AS n
  FROM interactions i LEFT OUTER JOIN agents a ON a.id = i.agent_id
  WHERE i.tenant_id = :tenant_id AND i.contact_id = :contact_id
  ORDER BY i.occurred_at DESC, i.id DESC LIMIT {LAST_INTERACTIONS})
UNION ALL SELECT * FROM (
  SELECT 'case', id, updated_at, NULL, reference, kind, status, next_step, NULL, position
  FROM cases
  WHERE tenant_id = :tenant_id AND contact_id = :contact_id AND status NOT IN ({_CLOSED})
  ORDER BY updated_at DESC LIMIT {MAX_CASES})
UNION ALL SELECT * FROM (
  SELECT 'callback', id, requested_at, due_by, reason, status, NULL, NULL, NULL, attempts
  FROM callback_requests
  WHERE tenant_id = :tenant_id AND status = 'open'
    AND (contact_id = :contact_id OR number_e164 = :number_key)
  ORDER BY due_by ASC NULLS LAST, id LIMIT {MAX_CALLBACKS})
UNION ALL SELECT * FROM (
  SELECT 'notice', id, starts_at, ends_at, title, body, severity, NULL, NULL,
         CAST(sensitive AS INTEGER)
  FROM notices
  WHERE tenant_id = :tenant_id AND starts_at <= :now AND (ends_at IS NULL OR ends_at > :now)
    AND (line_id IS NULL OR line_id IN (
          SELECT id FROM lines WHERE tenant_id = :tenant_id AND number_e164 = :called_key))
    AND (tag IS NULL OR tag IN (SELECT value FROM json_each(:tags)))
  ORDER BY starts_at DESC LIMIT {MAX_NOTICES})
"""

# interactions.calls
INSERT_INTERACTION = """
INSERT INTO interactions
  (tenant_id, contact_id, occurred_at, channel, direction, summary, outcome, agent_id, call_id)
VALUES (?, ?, ?, 'phone', ?, ?, ?, ?, ?) RETURNING id
"""
CALL_INTERACTION = (
    "SELECT id, outcome FROM interactions WHERE tenant_id = ? AND call_id = ? ORDER BY id LIMIT 1"
)
REVISE_INTERACTION = "UPDATE interactions SET summary = ?, outcome = ?, agent_id = ? WHERE id = ?"

# callbacks.missed_calls
_OPEN_CALLBACK = (
    "SELECT id FROM callback_requests WHERE tenant_id = ? AND status = 'open' AND {whose} "
    "ORDER BY requested_at LIMIT 1"
)
OPEN_CALLBACK_OF_CONTACT = _OPEN_CALLBACK.format(whose="contact_id = ?")
OPEN_CALLBACK_OF_NUMBER = _OPEN_CALLBACK.format(whose="number_e164 = ?")
COUNT_MISSED = "UPDATE callback_requests SET missed_calls = missed_calls + 1 WHERE id = ?"
INSERT_CALLBACK = """
INSERT INTO callback_requests
  (tenant_id, contact_id, number_e164, reason, requested_at, due_by, status, attempts,
   missed_calls, call_id)
VALUES (?, ?, ?, ?, ?, ?, 'open', 0, 1, ?) RETURNING id
"""
CALLBACK_OF_CALL = (
    "SELECT id, missed_calls, attempts FROM callback_requests "
    "WHERE tenant_id = ? AND call_id = ? AND status = 'open'"
)
CANCEL_CALLBACK = "UPDATE callback_requests SET status = 'cancelled', closed_at = ? WHERE id = ?"
SET_MISSED = "UPDATE callback_requests SET missed_calls = ? WHERE id = ?"
_UNCOUNT = (
    "UPDATE callback_requests SET missed_calls = missed_calls - 1 "
    "WHERE tenant_id = ? AND status = 'open' AND missed_calls > 1 AND {whose}"
)
UNCOUNT_OF_CONTACT = _UNCOUNT.format(whose="contact_id = ?")
UNCOUNT_OF_NUMBER = _UNCOUNT.format(whose="number_e164 = ?")

_updates: dict[tuple[str, ...], str] = {}


def update_call(columns: tuple[str, ...]) -> str:
    """UPDATE of the call's changed columns (a handful of shapes, each built once)."""
    sql = _updates.get(columns)
    if sql is None:
        sets = ", ".join(f"{column} = ?" for column in columns)
        sql = _updates[columns] = f"UPDATE calls SET {sets} WHERE id = ?"
    return sql
