"""PostgreSQL: a batch's plan reaches the tables through a staging table, set-based.

The plan (new contacts, their numbers, new numbers of stored contacts, changed contacts and
changed numbers) goes into one temporary table with one COPY, and from there into
`contacts` and `contact_numbers` with one statement: an INSERT ... SELECT per table and an
UPDATE ... FROM per table, as data-modifying CTEs. Each table's indexes and constraints are
then maintained by one statement per batch instead of a COPY per table plus an UPDATE per
changed row, and a batch costs the same few round trips whatever it changes.

The staging table is temporary: private to the connection (two imports never see each
other's rows), never written to the WAL, emptied at every commit, and gone with the
connection. It is created when a batch finds it missing (a new pooled connection).

What to insert and update is decided in Python by matching.py, exactly as on SQLite; this
module only applies the decision. Row order is kept: new contacts get the ids allocated for
them in file order, and numbers are inserted in staging order, so `contact_numbers.id` (the
order a card lists a contact's numbers in) is what the direct COPY gave.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.importer.matching import CHANGEABLE, BatchPlan
from app.importer.rows import ContactRow

STAGE = "stamgast_import_stage"

# op: 'c' new contact, 'n' new number (id: its contact), 'u' changed contact, 'k' changed
# number (id: the number). `seq` is the row's place in the batch, which keeps ids in order.
_CREATE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} (
    seq integer NOT NULL,
    op char(1) NOT NULL,
    id integer NOT NULL,
    display_name varchar(200),
    form_of_address varchar(200),
    language varchar(35),
    organisation varchar(200),
    household varchar(200),
    external_id varchar(120),
    "references" json,
    tags json,
    flags json,
    notes text,
    e164 varchar(32),
    raw varchar(64),
    kind varchar(16),
    label varchar(64)
) ON COMMIT DELETE ROWS
"""
COLUMNS = (
    "seq", "op", "id", "display_name", "form_of_address", "language", "organisation",
    "household", "external_id", "references", "tags", "flags", "notes", "e164", "raw", "kind",
    "label",
)  # fmt: skip
# The lookups before this ran with per-execution plans of index probes only (writer.py).
# This statement must not: its foreign key checks would be planned again for every row (a
# third of the server's time on 1 M rows) instead of reusing their cached plan.
_PREPARE = (
    "RESET plan_cache_mode; RESET enable_seqscan; RESET enable_hashjoin; "
    "RESET enable_mergejoin; RESET max_parallel_workers_per_gather;" + _CREATE
)
_CONTACT_VALUES = (
    "display_name", "form_of_address", "language", "organisation", "household", "external_id",
    "references", "tags", "flags", "notes",
)  # fmt: skip
_JSON_VALUES = frozenset(("references", "tags", "flags"))
_CONTACT_LIST = ", ".join(f'"{c}"' for c in _CONTACT_VALUES)
_CHANGES = ", ".join(f'"{c}" = s."{c}"' for c in CHANGEABLE)

# $1 the tenant, $2 the batch's time. The number insert's foreign key to a contact inserted
# by the first CTE is checked at the end of the statement, when that contact exists.
APPLY = f"""
WITH new_contacts AS (
    INSERT INTO contacts (id, tenant_id, {_CONTACT_LIST}, created_at, updated_at)
    SELECT id, $1, {_CONTACT_LIST}, $2, $2 FROM {STAGE} WHERE op = 'c' ORDER BY seq
), new_numbers AS (
    INSERT INTO contact_numbers (tenant_id, contact_id, e164, raw, kind, label)
    SELECT $1, id, e164, raw, kind, label FROM {STAGE} WHERE op = 'n' ORDER BY seq
), changed_contacts AS (
    UPDATE contacts AS c SET {_CHANGES}, updated_at = $2
    FROM {STAGE} AS s WHERE s.op = 'u' AND c.id = s.id
), changed_numbers AS (
    UPDATE contact_numbers AS n SET kind = s.kind, label = s.label
    FROM {STAGE} AS s WHERE s.op = 'k' AND n.id = s.id
)
SELECT 1
"""

_EMPTY_NUMBER: tuple[None, ...] = (None, None, None, None)
_NO_CONTACT: tuple[None, ...] = (None,) * len(_CONTACT_VALUES)


async def apply(
    driver: Any, tenant_id: int, plan: BatchPlan, ids: list[int], now: datetime
) -> None:
    """Write `plan` (new contacts taking `ids`) through the staging table: COPY, one statement.

    `driver` is the session's asyncpg connection, inside the batch's transaction.
    """
    records = stage_records(plan, ids)
    if not records:
        return
    try:
        await driver.execute(_PREPARE)  # no arguments: one round trip for all its statements
        await driver.copy_records_to_table(STAGE, records=records, columns=COLUMNS)
        await driver.execute(APPLY, tenant_id, now)
    except Exception as exc:
        # These bypass SQLAlchemy: raise what its statements would on a constraint violation
        # (SQLSTATE class 23), so the batch is retried like any conflict.
        if str(getattr(exc, "sqlstate", "")).startswith("23"):
            raise IntegrityError("import staging", None, exc) from exc
        raise


def stage_records(plan: BatchPlan, ids: list[int]) -> list[tuple[Any, ...]]:
    """The staging rows of a plan, in the order the direct writes used."""
    records: list[tuple[Any, ...]] = []
    for contact_id, row in zip(ids, plan.inserts, strict=True):
        records.append((len(records), "c", contact_id, *_contact_values(row), *_EMPTY_NUMBER))
    numbers = [(cid, n) for cid, row in zip(ids, plan.inserts, strict=True) for n in row.numbers]
    for contact_id, n in [*numbers, *plan.new_numbers]:
        number = (n.e164, n.raw, n.kind, n.label)
        records.append((len(records), "n", contact_id, *_NO_CONTACT, *number))
    for change in plan.updates:
        values = change.values
        contact = tuple(
            _json(values[c]) if c in _JSON_VALUES else values[c] for c in _CONTACT_VALUES
        )
        records.append((len(records), "u", change.id, *contact, *_EMPTY_NUMBER))
    for number_id, kind, label in plan.number_updates:
        records.append((len(records), "k", number_id, *_NO_CONTACT, None, None, kind, label))
    return records


def _contact_values(row: ContactRow) -> tuple[Any, ...]:
    return (
        row.display_name,
        row.form_of_address,
        row.language,
        row.organisation,
        row.household,
        row.external_id,
        _json(row.references),
        _json(row.tags),
        _json(row.flags),
        row.notes,
    )


def _json(value: Any) -> str:
    # json.dumps is also what SQLAlchemy's JSON type writes, so the API reads these back alike
    # (and PostgreSQL's json type keeps the text as given). Most rows have no references or
    # flags: those skip the encoder.
    return "{}" if value == {} else "[]" if value == [] else json.dumps(value)
