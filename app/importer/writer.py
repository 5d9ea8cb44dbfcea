"""Batched reads and writes of contacts and numbers: a few round trips per batch, none per row.

Reads are Core selects bounded by the batch (its external ids, numbers and matched ids, each
list bound as one parameter), not the whole table. New rows bypass the ORM and SQLAlchemy's
per-row bind processing:

- SQLite: the batch first takes the write lock (a no-op UPDATE), so new contacts can get
  explicit ids max(id) + 1 ... without racing another writer; then one executemany per table.
- PostgreSQL: ids come from the table's sequence in one query; the whole plan, changes to
  stored contacts included, goes in through a staging table (staging.py): one COPY and one
  statement on the session's own connection and transaction.

On SQLite, changes to stored contacts are rarer and go through Core executemany UPDATEs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Table, any_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from app.importer import staging
from app.importer.matching import (
    CHANGEABLE,
    BatchPlan,
    Existing,
    ExistingNumber,
    Group,
    Lookup,
    name_only,
)
from app.importer.rows import ContactRow, name_key
from app.models import Contact, ContactNumber

T = TypeVar("T")

# Values per lookup query: keeps each query's work and answer bounded whatever --batch is.
_CHUNK = 5_000
_CONTACTS = cast(Table, Contact.__table__)
_NUMBERS = cast(Table, ContactNumber.__table__)
_CONTACT_COLUMNS = (
    "id", "tenant_id", "display_name", "form_of_address", "language", "organisation",
    "household", "external_id", "references", "tags", "flags", "notes", "created_at",
    "updated_at",
)  # fmt: skip
_NUMBER_COLUMNS = ("tenant_id", "contact_id", "e164", "raw", "kind", "label")
# The lookups are prepared once and run every batch. PostgreSQL's cached generic plan was
# made while the tables were nearly empty and kept as they grew (each lookup then took
# seconds), and even fresh plans chose parallel sequential scans of the whole table over
# 2,000 index probes once it held a few hundred thousand rows, or joined a batch's numbers
# to their contacts by walking the whole primary key: the lookups get a plan per execution,
# made of index probes (a batch's keys are a few thousand; the table may hold millions).
# The statistics the planner uses lag a bulk load (autovacuum analyzes a table a minute or
# more after it grew): while they still described a small table, the lookups scanned every
# row of the tenant through its tenant_id index (4,000 pages for 2,000 keys at 300 k rows,
# and growing). The import analyzes the two tables itself each time its own inserts have
# doubled since the last time (10 k, 20 k, 40 k ...: some 100 ms each, a few per million).
_ANALYZE_FROM = 10_000
_PG_LOOKUP_SETTINGS = (
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('enable_seqscan', 'off', true), "
    "set_config('enable_hashjoin', 'off', true), "
    "set_config('enable_mergejoin', 'off', true), "
    "set_config('max_parallel_workers_per_gather', '0', true)"
)


class ContactStore:
    """Reads what a batch may match and writes its plan, for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.is_postgres = dialect.name == "postgresql"
        # Contacts inserted by this run, and how many there were at the last ANALYZE.
        self._inserted = 0
        self._analyzed_at = 0
        quote = dialect.identifier_preparer.quote
        self._time = _CONTACTS.c.created_at.type.bind_processor(dialect)
        self._sql = {
            table: f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
            for table, columns in (
                ("contacts", _CONTACT_COLUMNS),
                ("contact_numbers", _NUMBER_COLUMNS),
            )
        }

    async def begin(self, session: AsyncSession, *, write: bool) -> None:
        """Start the batch's transaction (on SQLite: take the write lock now)."""
        if self.is_postgres:
            if self._inserted >= max(_ANALYZE_FROM, 2 * self._analyzed_at):
                await session.execute(text("ANALYZE contacts, contact_numbers"))
                self._analyzed_at = self._inserted
            await session.execute(text(_PG_LOOKUP_SETTINGS))
        elif write:
            await session.execute(text("UPDATE contacts SET id = id WHERE 0"))

    async def lookup(self, session: AsyncSession, tenant_id: int, groups: list[Group]) -> Lookup:
        """Stored contacts with the batch's external ids, or with its names and numbers."""
        found = Lookup()
        externals = sorted({g.row.external_id for g in groups if g.row.external_id is not None})
        for chunk in _chunks(externals):
            result = await session.execute(
                select(_CONTACTS.c.external_id, _CONTACTS.c.id).where(
                    _CONTACTS.c.tenant_id == tenant_id, self._one_of(_CONTACTS.c.external_id, chunk)
                )
            )
            found.by_external.update((ext, cid) for ext, cid in result)
        numbers = sorted(
            {
                n.e164
                for g in groups
                if g.row.external_id not in found.by_external
                for n in g.row.numbers
            }
        )
        for chunk in _chunks(numbers):
            matches = await session.execute(
                select(
                    _NUMBERS.c.e164,
                    _CONTACTS.c.id,
                    _CONTACTS.c.display_name,
                    _CONTACTS.c.external_id,
                )
                .join(_CONTACTS, _CONTACTS.c.id == _NUMBERS.c.contact_id)
                .where(_NUMBERS.c.tenant_id == tenant_id, self._one_of(_NUMBERS.c.e164, chunk))
                .order_by(_CONTACTS.c.id)
            )
            for e164, cid, display_name, external_id in matches:
                found.by_name_number.setdefault((name_key(display_name), e164), []).append(cid)
                found.external_of[cid] = external_id
        # Rare, and a scan of the tenant's contacts (display_name has no index of its own).
        names = sorted({g.row.display_name for g in groups if name_only(g.row)})
        for chunk in _chunks(names):
            named = await session.execute(
                select(_CONTACTS.c.display_name, _CONTACTS.c.id)
                .where(
                    _CONTACTS.c.tenant_id == tenant_id,
                    _CONTACTS.c.external_id.is_(None),
                    self._one_of(_CONTACTS.c.display_name, chunk),
                )
                .order_by(_CONTACTS.c.id)
            )
            for display_name, cid in named:
                found.by_name.setdefault(display_name, []).append(cid)
                found.external_of[cid] = None
        return found

    async def load(
        self, session: AsyncSession, tenant_id: int, ids: Sequence[int]
    ) -> dict[int, Existing]:
        """The matched contacts with their numbers."""
        stored: dict[int, Existing] = {}
        columns = [_CONTACTS.c[name] for name in ("id", *CHANGEABLE)]
        for chunk in _chunks(sorted(set(ids))):
            result = await session.execute(
                select(*columns).where(
                    _CONTACTS.c.tenant_id == tenant_id, self._one_of(_CONTACTS.c.id, chunk)
                )
            )
            for row in result.mappings():
                values = dict(row)
                values["tags"] = list(values["tags"] or [])
                values["flags"] = list(values["flags"] or [])
                values["references"] = dict(values["references"] or {})
                stored[row["id"]] = Existing(**values)
            numbers = await session.execute(
                select(
                    _NUMBERS.c.contact_id,
                    _NUMBERS.c.e164,
                    _NUMBERS.c.id,
                    _NUMBERS.c.kind,
                    _NUMBERS.c.label,
                ).where(self._one_of(_NUMBERS.c.contact_id, chunk))
            )
            for contact_id, e164, number_id, kind, label in numbers:
                stored[contact_id].numbers[e164] = ExistingNumber(number_id, kind, label)
        return stored

    async def write(
        self, session: AsyncSession, tenant_id: int, plan: BatchPlan, now: datetime
    ) -> list[int]:
        """Apply a batch's plan; the ids given to `plan.inserts`, in order."""
        ids = await self._allocate(session, len(plan.inserts)) if plan.inserts else []
        self._inserted += len(ids)
        if self.is_postgres:
            connection = await session.connection()
            raw = await connection.get_raw_connection()
            await staging.apply(raw.driver_connection, tenant_id, plan, ids, now)
            return ids
        stamp = self._time(now) if self._time is not None else now
        if plan.inserts:
            await self._copy(
                session,
                "contacts",
                _CONTACT_COLUMNS,
                [
                    _contact_record(cid, tenant_id, row, stamp)
                    for cid, row in zip(ids, plan.inserts, strict=True)
                ],
            )
        numbers = [
            (tenant_id, cid, n.e164, n.raw, n.kind, n.label)
            for cid, row in zip(ids, plan.inserts, strict=True)
            for n in row.numbers
        ]
        numbers.extend(
            (tenant_id, cid, n.e164, n.raw, n.kind, n.label) for cid, n in plan.new_numbers
        )
        if numbers:
            await self._copy(session, "contact_numbers", _NUMBER_COLUMNS, numbers)
        if plan.updates:
            await session.execute(
                update(_CONTACTS)
                .where(_CONTACTS.c.id == bindparam("v_id"))
                .values(
                    {name: bindparam(f"v_{name}") for name in CHANGEABLE}
                    | {"updated_at": bindparam("v_updated_at")}
                ),
                [
                    {"v_id": change.id, "v_updated_at": now}
                    | {f"v_{name}": change.values[name] for name in CHANGEABLE}
                    for change in plan.updates
                ],
            )
        if plan.number_updates:
            await session.execute(
                update(_NUMBERS)
                .where(_NUMBERS.c.id == bindparam("v_id"))
                .values(kind=bindparam("v_kind"), label=bindparam("v_label")),
                [
                    {"v_id": number_id, "v_kind": kind, "v_label": label}
                    for number_id, kind, label in plan.number_updates
                ],
            )
        return ids

    def _one_of(self, column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
        """`column IN values` as one bound parameter, so the SQL text is the same every batch.

        A plain IN list renders new SQL for every length: each is parsed, planned and kept in
        the driver's statement cache (SQLite's costs ~0.5 MB a statement at 2,000 values).
        """
        if self.is_postgres:
            return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
        listed = func.json_each(bindparam(None, json.dumps(list(values)))).table_valued("value")
        return column.in_(select(listed.c.value))

    async def _allocate(self, session: AsyncSession, count: int) -> list[int]:
        if self.is_postgres:
            result = await session.execute(
                text(
                    # The sequence's name once (OFFSET 0 keeps the subquery apart), not
                    # a catalog lookup per id.
                    "SELECT nextval(s.name) FROM (SELECT pg_get_serial_sequence('contacts', "
                    "'id') AS name OFFSET 0) AS s, generate_series(1, :count)"
                ),
                {"count": count},
            )
            return [int(value) for value in result.scalars()]
        # Safe only because begin() holds SQLite's write lock: nobody else can insert now.
        highest = await session.scalar(select(func.max(_CONTACTS.c.id)))
        start = int(highest or 0) + 1
        return list(range(start, start + count))

    async def _copy(
        self,
        session: AsyncSession,
        table: str,
        columns: tuple[str, ...],
        records: list[tuple[Any, ...]],
    ) -> None:
        connection = await session.connection()
        await connection.exec_driver_sql(self._sql[table], records)


def _contact_record(
    contact_id: int, tenant_id: int, row: ContactRow, stamp: Any
) -> tuple[Any, ...]:
    return (
        contact_id,
        tenant_id,
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
        stamp,
        stamp,
    )


def _json(value: Any) -> str:
    # json.dumps is also what SQLAlchemy's JSON type writes, so the API reads these back alike.
    return "{}" if value == {} else "[]" if value == [] else json.dumps(value)


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
