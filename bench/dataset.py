"""Bench dataset: N invented contacts with their numbers, history, profiles, callbacks, cases.

    .venv/bin/python bench/dataset.py N [--database-url URL] [--tenant bench] [--seed 1]
                                        [--sqlite-analyze]

Migrates the database (app.migrate.upgrade), adds one tenant with a team, 40 agents and two
notices, then N contacts: 1-3 numbers each (10 % share a household landline with 1-3
others), 0-20 interactions each (10 on average), a service profile for half of them, open
callbacks (3 %) and open cases (4 %) for a few, plus done callbacks and closed cases.
Names and numbers are Dutch and Belgian; numbers are made in E.164 and a sample is checked
with app.phone.normalise. Same N and seed, same data.

Statistics: PostgreSQL is ANALYZEd after the load (autovacuum would do that soon anyway);
SQLite is not, unless --sqlite-analyze, because nothing in Stamgast runs ANALYZE on SQLite,
and without statistics its planner picks other indexes.

Bulk loading bypasses the ORM: SQLite through the stdlib driver (executemany, one
transaction per batch, `PRAGMA synchronous=OFF`), PostgreSQL through asyncpg's COPY
(`copy_records_to_table`) on the engine's raw driver connection. Prints rows/s per table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import sqlite3
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import ROOT  # noqa: F401  (puts the project on sys.path)
from _rows import COLUMNS, Batch, Numbers, RowMaker
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from app.db import create_engine
from app.migrate import upgrade
from app.models import Agent, Base, Contact, Notice, Team, Tenant, agent_teams
from app.phone import normalise

VERSION = 2  # bump when the generated rows change: cached files are keyed by it
BATCH_CONTACTS = 20_000
AGENTS = 40
NOTICES = [
    {
        "title": "Nieuwe openingstijden",
        "body": "Vanaf 1 september zijn we op vrijdag tot 16:00 bereikbaar.",
        "severity": "info",
    },
    {
        "title": "Wegwerkzaamheden Amersfoort",
        "body": "De locatie is alleen via de achteringang bereikbaar.",
        "severity": "warning",
        "tag": "thuiszorg",
    },
]
CACHE_DIR = Path(os.environ.get("STAMGAST_BENCH_CACHE", "/tmp"))


@dataclass
class LoadReport:
    """What was loaded and how long each part took."""

    database_url: str
    contacts: int
    seed: int
    tenant_id: int = 0
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    insert_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    generate_seconds: float = 0.0
    commit_seconds: float = 0.0
    setup_seconds: float = 0.0
    finish_seconds: float = 0.0
    total_seconds: float = 0.0
    numbers_checked: int = 0
    cached: bool = False

    def lines(self) -> list[str]:
        """The report as printed by the command."""
        total_rows = sum(self.rows.values())
        out = [
            f"dataset: {self.contacts} contacts, seed {self.seed}, tenant id {self.tenant_id}",
            f"  {'table':<18} {'rows':>11} {'insert s':>9} {'rows/s':>10}",
        ]
        for table in COLUMNS:
            rows, secs = self.rows.get(table, 0), self.insert_seconds.get(table, 0.0)
            rate = f"{rows / secs:,.0f}" if secs else "-"
            out.append(f"  {table:<18} {rows:>11,} {secs:>9.2f} {rate:>10}")
        out += [
            f"  migrate + tenant, team, agents: {self.setup_seconds:.2f} s",
            f"  generating rows (Python):       {self.generate_seconds:.2f} s",
            f"  inserting rows:                 {sum(self.insert_seconds.values()):.2f} s "
            f"(+ {self.commit_seconds:.2f} s committing)",
            f"  finishing, number checks:       {self.finish_seconds:.2f} s "
            f"({self.numbers_checked} numbers checked with app.phone.normalise)",
            f"  total: {self.total_seconds:.1f} s, {total_rows:,} rows, "
            f"{total_rows / self.total_seconds:,.0f} rows/s overall",
        ]
        return out


def check_columns() -> None:
    """Fail early if the schema gained a NOT NULL column the loader does not fill."""
    for table_name, columns in COLUMNS.items():
        table = Base.metadata.tables[table_name]
        unknown = set(columns) - set(table.c.keys())
        if unknown:
            raise RuntimeError(f"{table_name} has no column(s) {sorted(unknown)}")
        for column in table.c:
            generated = column.primary_key and column.autoincrement is not False
            required = not column.nullable and column.server_default is None and not generated
            if required and column.name not in columns:
                raise RuntimeError(f"bench/_rows.py does not fill {table_name}.{column.name}")


def sqlite_stamp(moment: float) -> str:
    """A UTC timestamp as SQLAlchemy stores DATETIME in SQLite ('YYYY-MM-DD HH:MM:SS.ffffff')."""
    return datetime.fromtimestamp(moment, UTC).isoformat(" ", "microseconds")[:26]


def postgres_stamp(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def build(
    database_url: str,
    contacts: int,
    *,
    tenant: str = "bench",
    seed: int = 1,
    sqlite_analyze: bool = False,
    quiet: bool = False,
) -> LoadReport:
    """Migrate `database_url` and load `contacts` contacts into a new tenant (blocking)."""
    check_columns()
    report = LoadReport(database_url, contacts, seed)
    started = time.perf_counter()
    upgrade(database_url)  # Alembic runs an event loop of its own: not inside ours
    tenant_id, agent_ids, first_id = asyncio.run(_prepare(database_url, tenant, seed))
    report.tenant_id = tenant_id
    report.setup_seconds = time.perf_counter() - started
    sqlite = is_sqlite(database_url)
    maker = RowMaker(
        seed=seed,
        tenant_id=tenant_id,
        agent_ids=agent_ids,
        first_contact_id=first_id,
        stamp=sqlite_stamp if sqlite else postgres_stamp,
    )
    if sqlite:
        path = make_url(database_url).database or ""
        _load_sqlite(path, maker, contacts, report, quiet, analyze=sqlite_analyze)
    else:
        asyncio.run(_load_postgres(database_url, maker, contacts, report, quiet))
    finish = time.perf_counter()
    report.numbers_checked = check_numbers(maker.numbers)
    report.finish_seconds += time.perf_counter() - finish
    report.total_seconds = time.perf_counter() - started
    return report


async def _prepare(url: str, slug: str, seed: int) -> tuple[int, list[int], int]:
    """The tenant, its team, agents and notices; and the first free contact id."""
    from _people import make_caller

    rng = random.Random(f"{seed}:agents")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            if await conn.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
                raise SystemExit(f"tenant {slug!r} exists already: use a new database or --tenant")
            tid = (
                await conn.execute(
                    insert(Tenant)
                    .values(slug=slug, name=f"Zorggroep {slug.title()}", default_region="NL")
                    .returning(Tenant.id)
                )
            ).scalar_one()
            team = (
                await conn.execute(
                    insert(Team).values(tenant_id=tid, name="Klantcontact").returning(Team.id)
                )
            ).scalar_one()
            rows = [
                {
                    "tenant_id": tid,
                    "name": make_caller(rng).display_name,
                    "extension": str(200 + i),
                    "language": "nl",
                }
                for i in range(AGENTS)
            ]
            agent_ids = list(
                (
                    await conn.execute(
                        insert(Agent).returning(Agent.id, sort_by_parameter_order=True), rows
                    )
                ).scalars()
            )
            await conn.execute(
                insert(agent_teams), [{"agent_id": a, "team_id": team} for a in agent_ids]
            )
            await conn.execute(insert(Notice), [{"tenant_id": tid, **n} for n in NOTICES])
            first_id = int(await conn.scalar(select(func.coalesce(func.max(Contact.id), 0))))
    finally:
        await engine.dispose()
    return tid, agent_ids, first_id + 1


def _load_sqlite(
    path: str, maker: RowMaker, contacts: int, report: LoadReport, quiet: bool, *, analyze: bool
) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("synchronous=OFF", "cache_size=-524288", "temp_store=MEMORY"):
            connection.execute(f"PRAGMA {pragma}")  # for the load only: not durable
        statements = {
            table: f"INSERT INTO {table} ({', '.join(map(_quoted, cols))}) "
            f"VALUES ({', '.join('?' * len(cols))})"
            for table, cols in COLUMNS.items()
        }

        def write(batch: Batch) -> None:
            connection.execute("BEGIN")
            for table, rows in batch.items():
                began = time.perf_counter()
                connection.executemany(statements[table], rows)
                report.insert_seconds[table] += time.perf_counter() - began
                report.rows[table] += len(rows)
            began = time.perf_counter()
            connection.execute("COMMIT")
            report.commit_seconds += time.perf_counter() - began

        _drive(maker, contacts, report, write, quiet)
        write({"callback_requests": maker.bare_callbacks(max(1, contacts // 500))})
        began = time.perf_counter()
        if analyze:
            connection.execute("ANALYZE")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        report.finish_seconds += time.perf_counter() - began
    finally:
        connection.close()


def _quoted(column: str) -> str:
    return f'"{column}"'  # "references" is a reserved word


async def _load_postgres(
    url: str, maker: RowMaker, contacts: int, report: LoadReport, quiet: bool
) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection  # the asyncpg connection itself
            # Skip the foreign-key triggers during the load (the rows are consistent by
            # construction): 3-6x faster. Needs a superuser, as on the bench's own server;
            # without one the load just checks every key.
            replica = False
            with contextlib.suppress(Exception):
                await driver.execute("SET session_replication_role = replica")
                replica = True

            async def write(batch: Batch) -> None:
                transaction = driver.transaction()
                await transaction.start()
                try:
                    for table, rows in batch.items():
                        began = time.perf_counter()
                        await driver.copy_records_to_table(
                            table, records=rows, columns=list(COLUMNS[table])
                        )
                        report.insert_seconds[table] += time.perf_counter() - began
                        report.rows[table] += len(rows)
                except BaseException:
                    await transaction.rollback()
                    raise
                began = time.perf_counter()
                await transaction.commit()
                report.commit_seconds += time.perf_counter() - began

            batches = maker.batches(contacts, BATCH_CONTACTS)
            while True:
                began = time.perf_counter()
                batch = next(batches, None)
                report.generate_seconds += time.perf_counter() - began
                if batch is None:
                    break
                await write(batch)
                _progress(report, contacts, quiet)
            await write({"callback_requests": maker.bare_callbacks(max(1, contacts // 500))})
            began = time.perf_counter()
            # Contact ids were given explicitly: move the sequence past them.
            await driver.execute(
                "SELECT setval(pg_get_serial_sequence('contacts', 'id'), "
                "(SELECT max(id) FROM contacts))"
            )
            if replica:
                await driver.execute("RESET session_replication_role")
            await driver.execute("ANALYZE")
            report.finish_seconds += time.perf_counter() - began
    finally:
        await engine.dispose()


def _drive(maker: RowMaker, contacts: int, report: LoadReport, write: Any, quiet: bool) -> None:
    batches = maker.batches(contacts, BATCH_CONTACTS)
    while True:
        began = time.perf_counter()
        batch = next(batches, None)
        report.generate_seconds += time.perf_counter() - began
        if batch is None:
            return
        write(batch)
        _progress(report, contacts, quiet)


def _progress(report: LoadReport, contacts: int, quiet: bool) -> None:
    done = report.rows["contacts"]
    if not quiet and (done % 200_000 < BATCH_CONTACTS or done == contacts):
        print(f"[dataset] {done:,}/{contacts:,} contacts", file=sys.stderr, flush=True)


def check_numbers(numbers: Numbers) -> int:
    """Every sampled number and its raw form normalise to the stored key; unknowns are valid."""
    checked = 0
    for e164, raw in numbers.samples:
        for given in (e164, raw):
            parsed = normalise(given, "NL")
            if parsed.key != e164 or parsed.kind not in ("mobile", "fixed"):
                raise RuntimeError(f"{given!r} normalises to {parsed.key!r} ({parsed.kind})")
        checked += 1
    for e164 in numbers.unknown(200):
        if normalise(e164, "NL").key != e164:
            raise RuntimeError(f"unknown-number generator made an invalid number {e164}")
    return checked


def unknown_numbers(count: int, seed: int = 1) -> list[str]:
    """Valid numbers that no contact of a dataset with this seed has."""
    return Numbers(seed).unknown(count)


def cached_sqlite(contacts: int, seed: int = 1, *, quiet: bool = False) -> tuple[Path, LoadReport]:
    """A SQLite dataset file under /tmp, built once per (N, seed, VERSION) and then reused.

    Treat it as read-only: copy it before serving it (lookups write audit events).
    """
    path = CACHE_DIR / f"stamgast-bench-dataset-v{VERSION}-n{contacts}-s{seed}.db"
    if path.exists():
        report = LoadReport(f"sqlite+aiosqlite:///{path}", contacts, seed, cached=True)
        return path, report
    partial = path.with_suffix(f".partial-{os.getpid()}")
    for stale in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        stale.unlink(missing_ok=True)
    report = build(f"sqlite+aiosqlite:///{partial}", contacts, seed=seed, quiet=quiet)
    os.replace(partial, path)  # the loader closed it after a TRUNCATE checkpoint: one file
    return path, report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("contacts", type=int, metavar="N")
    parser.add_argument(
        "--database-url",
        default=None,
        help="sqlite+aiosqlite:///FILE or postgresql+asyncpg://...; default: a new SQLite "
        "file under /tmp",
    )
    parser.add_argument("--tenant", default="bench", help="slug of the tenant to create")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--sqlite-analyze",
        action="store_true",
        help="ANALYZE a SQLite database after the load (Stamgast itself never does)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.contacts <= 10_000_000:
        parser.error("N must be between 1 and 10,000,000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url or (
        f"sqlite+aiosqlite:///{CACHE_DIR}/stamgast-dataset-{args.contacts}-{os.getpid()}.db"
    )
    report = build(
        url, args.contacts, tenant=args.tenant, seed=args.seed, sqlite_analyze=args.sqlite_analyze
    )
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"database: {make_url(url).render_as_string(hide_password=True)}")
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
