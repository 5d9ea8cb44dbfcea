"""The hot path's statements on PostgreSQL: one that reads all an event may need, one that
writes all it decided (chained CTEs, so it commits or fails whole), and for a call's first
ringing one that does both (CLAIM, below).

READ answers in one row: whether the delivery was seen before (then nothing else is read:
a vendor's retry costs this one statement), the call, the card's rows (candidates, then
the top one's interactions, callbacks, cases and notices, as `recognition.queries`), the
facts a finishing event needs, and ids for the rows the write may insert (drawn here, so
the write needs nothing back to chain them). Rows come as JSON arrays in column order.
"""

from __future__ import annotations

from app.audit import POP_ACTION, POP_VIA
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

_CLOSED = ", ".join(f"'{status}'" for status in CLOSED_CASE_STATUSES)
_CONTACT = ", ".join(f"c.{column}" for column in CONTACT_COLUMNS)
# Aliased: contacts and service profiles both have a `language`.
_PROFILE = ", ".join(f"sp.{column} AS p_{column}" for column in PROFILE_COLUMNS)
_CANDIDATE = ", ".join(
    [f"r.{column}" for column in CONTACT_COLUMNS] + [f"r.p_{column}" for column in PROFILE_COLUMNS]
)
_CALL = ", ".join(f"c.{column}" for column in CALL_COLUMNS)

# $1 tenant, $2 provider, $3 provider call id, $4 delivery key, $5 recognise even when the
# call exists (a ringing event), $6 the party's number key, $7 our line's key, $8 now,
# $9 the caller's number key, $10 the event may finish the call (read its facts).
_READ_CTES = f"""
seen AS (
  SELECT EXISTS (SELECT 1 FROM call_events WHERE tenant_id = $1 AND provider = $2
                 AND provider_call_id = $3 AND kind = $4) AS yes
), c AS (
  SELECT {_CALL} FROM calls c
  WHERE c.tenant_id = $1 AND c.provider = $2 AND c.provider_call_id = $3
    AND NOT (SELECT yes FROM seen)
), recognising AS (
  SELECT NOT (SELECT yes FROM seen) AND ($5 OR NOT EXISTS (SELECT 1 FROM c)) AS yes
), cand AS (
  SELECT {_CONTACT}, {_PROFILE},
         (SELECT max(i.occurred_at) FROM interactions i WHERE i.contact_id = c.id) AS last_at,
         nc.contact_id IS NOT NULL AS chosen
  FROM contacts c
  JOIN contact_numbers cn ON cn.contact_id = c.id
  LEFT OUTER JOIN service_profiles sp ON sp.contact_id = c.id
  LEFT OUTER JOIN number_choices nc
    ON nc.tenant_id = cn.tenant_id AND nc.e164 = cn.e164 AND nc.contact_id = c.id
  WHERE cn.tenant_id = $1 AND cn.e164 = $6::varchar AND (SELECT yes FROM recognising)
  ORDER BY chosen DESC, last_at DESC NULLS LAST, c.id
  LIMIT {MAX_CANDIDATES}
), ranked AS (
  SELECT cand.*, row_number() OVER (ORDER BY chosen DESC, last_at DESC NULLS LAST, id) AS rank
  FROM cand
), top AS (
  SELECT id, tags FROM ranked WHERE rank = 1
), details AS (
  SELECT * FROM (
    SELECT 'interaction'::text AS kind, i.id, i.occurred_at AS at, NULL::timestamptz AS due,
           i.channel::text AS t1, i.summary::text AS t2, i.outcome::text AS t3,
           a.name::text AS t4, i.direction::text AS t5, NULL::integer AS n
    FROM interactions i LEFT OUTER JOIN agents a ON a.id = i.agent_id
    WHERE i.tenant_id = $1 AND i.contact_id = (SELECT id FROM top)
    ORDER BY i.occurred_at DESC, i.id DESC LIMIT {LAST_INTERACTIONS}) AS recent
  UNION ALL SELECT * FROM (
    SELECT 'case', id, updated_at, NULL::timestamptz, reference::text, kind::text,
           status::text, next_step::text, NULL::text, position
    FROM cases
    WHERE tenant_id = $1 AND contact_id = (SELECT id FROM top) AND status NOT IN ({_CLOSED})
    ORDER BY updated_at DESC LIMIT {MAX_CASES}) AS open_cases
  UNION ALL SELECT * FROM (
    SELECT 'callback', id, requested_at, due_by, reason::text, status::text, NULL::text,
           NULL::text, NULL::text, attempts
    FROM callback_requests
    WHERE tenant_id = $1 AND status = 'open'
      AND (contact_id = (SELECT id FROM top) OR number_e164 = $6::varchar)
    ORDER BY due_by ASC NULLS LAST, id LIMIT {MAX_CALLBACKS}) AS callbacks
  UNION ALL SELECT * FROM (
    SELECT 'notice', id, starts_at, ends_at, title::text, body::text, severity::text,
           NULL::text, NULL::text, sensitive::integer
    FROM notices
    WHERE tenant_id = $1 AND starts_at <= $8 AND (ends_at IS NULL OR ends_at > $8)
      AND (line_id IS NULL OR line_id IN (
            SELECT id FROM lines WHERE tenant_id = $1 AND number_e164 = $7::varchar))
      AND (tag IS NULL OR tag IN (
            SELECT jsonb_array_elements_text(COALESCE((SELECT tags FROM top)::jsonb, '[]'))))
    ORDER BY starts_at DESC LIMIT {MAX_NOTICES}) AS notices
), finishing AS (
  SELECT NOT (SELECT yes FROM seen) AND $10 AS yes
)
"""

_READ_COLUMNS = f"""
  (SELECT yes FROM seen) AS seen,
  (SELECT json_build_array({_CALL}) FROM c) AS call,
  (SELECT yes FROM recognising) AS recognised,
  (SELECT json_agg(json_build_array({_CANDIDATE}, r.last_at, r.chosen) ORDER BY r.rank)
   FROM ranked r) AS candidates,
  (SELECT json_agg(json_build_array(d.kind, d.id, d.at, d.due, d.t1, d.t2, d.t3, d.t4, d.t5,
                                    d.n))
   FROM details d WHERE (SELECT yes FROM recognising)) AS details,
  (SELECT json_build_array(i.id, i.outcome) FROM interactions i
   WHERE (SELECT yes FROM finishing) AND i.tenant_id = $1 AND i.call_id = (SELECT id FROM c)
   ORDER BY i.id LIMIT 1) AS call_interaction,
  (SELECT json_build_array(r.id, r.missed_calls, r.attempts) FROM callback_requests r
   WHERE (SELECT yes FROM finishing) AND r.tenant_id = $1 AND r.call_id = (SELECT id FROM c)
     AND r.status = 'open' LIMIT 1) AS callback_of_call,
  (SELECT json_agg(json_build_array(r.id, r.contact_id, r.number_e164)
                   ORDER BY r.requested_at, r.id) FROM callback_requests r
   WHERE (SELECT yes FROM finishing) AND r.tenant_id = $1 AND r.status = 'open'
     AND (r.contact_id IN ((SELECT contact_id FROM c), (SELECT id FROM top))
          OR r.number_e164 IN ((SELECT from_e164 FROM c), $9::varchar))) AS open_callbacks,
  CASE WHEN NOT (SELECT yes FROM seen) AND NOT EXISTS (SELECT 1 FROM c)
       THEN nextval(pg_get_serial_sequence('calls', 'id')) END AS new_call_id,
  CASE WHEN (SELECT yes FROM finishing)
       THEN nextval(pg_get_serial_sequence('interactions', 'id')) END AS new_interaction_id,
  CASE WHEN (SELECT yes FROM finishing)
       THEN nextval(pg_get_serial_sequence('callback_requests', 'id')) END AS new_callback_id
"""

READ = f"WITH {_READ_CTES}SELECT\n{_READ_COLUMNS}"

# CLAIM is READ that also records a ringing event whose call does not exist yet: the call,
# the event and the pop's audit rows, in the same statement, so the pop waits on one round
# trip. Python decided the call's row beforehand (`hot_pg_claim.claimable`) but for whom
# it is: contact and match come from the candidates read here, by the rule of
# `hot_card.card_from_candidates`, and the caller checks them against its own decision.
# As in the write (hot_pg.py) the event's insert guards the rest: a retry that got there
# first leaves the call to the two-statement path, and a call created meanwhile by another
# event makes the statement fail whole (the call's unique key), to be read again.
# $11 from, $12 from masked, $13 to, $14 direction, $15 state, $16 line id, $17 ringing
# extension, $18 started at, $19 the match when there is no number to look up, $20 the
# event's and the audit rows' time, $21 audit actors, $22 their agent ids, $23 the number
# as the audit shows it.
_MATCH = """CASE WHEN $6::varchar IS NULL THEN $19::varchar
       WHEN (SELECT count(*) FROM ranked) = 0 THEN 'unknown'
       WHEN (SELECT count(*) FROM ranked) = 1 THEN 'known' ELSE 'ambiguous' END"""
_CLAIM_CTES = f""", claim_id AS (
  SELECT nextval(pg_get_serial_sequence('calls', 'id')) AS id
  WHERE NOT (SELECT yes FROM seen) AND NOT EXISTS (SELECT 1 FROM c)
), claim_ev AS (
  INSERT INTO call_events (tenant_id, provider, provider_call_id, kind, received_at, call_id)
  SELECT $1, $2, $3, $4, $20::timestamptz, id FROM claim_id
  ON CONFLICT DO NOTHING RETURNING call_id
), claim_call AS (
  INSERT INTO calls ({", ".join(CALL_COLUMNS)})
  SELECT call_id, $1, $2, $3, $11::varchar, $12::varchar, $13::varchar, $14::varchar,
         $15::varchar, $16::integer, $17::varchar, NULL, NULL, (SELECT id FROM top),
         {_MATCH}, $18::timestamptz, NULL, NULL
  FROM claim_ev
  RETURNING id, contact_id, match
), claim_audit AS (
  INSERT INTO audit_events (tenant_id, at, actor, action, via, subject_type, subject_id,
                            contact_id, number_masked, agent_id)
  SELECT $1, $20::timestamptz, r.actor, '{POP_ACTION}', '{POP_VIA}', 'call',
         (SELECT call_id FROM claim_ev)::text, (SELECT id FROM top), $23::varchar, r.agent_id
  FROM unnest($21::varchar[], $22::integer[]) AS r(actor, agent_id)
  WHERE EXISTS (SELECT 1 FROM claim_ev)
)
"""
CLAIM = (
    f"WITH {_READ_CTES.rstrip()}{_CLAIM_CTES}SELECT\n{_READ_COLUMNS.rstrip()},\n"
    "  (SELECT id FROM claim_call) AS claimed_call_id,\n"
    "  (SELECT contact_id FROM claim_call) AS claimed_contact_id,\n"
    "  (SELECT match FROM claim_call) AS claimed_match\n"
)

# Column types of the rows the write inserts or changes, for the casts of its parameters.
TYPES = {
    "id": "integer", "tenant_id": "integer", "provider": "varchar",
    "provider_call_id": "varchar", "from_e164": "varchar", "from_masked": "varchar",
    "to_e164": "varchar", "direction": "varchar", "state": "varchar", "line_id": "integer",
    "ringing_extension": "varchar", "answered_by": "varchar", "answered_by_agent_id": "integer",
    "contact_id": "integer", "match": "varchar", "started_at": "timestamptz",
    "answered_at": "timestamptz", "ended_at": "timestamptz",
}  # fmt: skip
