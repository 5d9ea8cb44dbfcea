"""The import, batch by batch: read, validate, normalise, match, write, report.

Memory stays flat: records stream from the file, and only a few batches are held at a time
(those whose numbers the workers are normalising, the one being validated, the one being
written), with what the database holds for exactly that batch. Across batches the run
remembers only a bitmap of the contact ids it touched.

Each batch is its own transaction, committed here: unlike a request, an import of a million
rows cannot be one transaction, because on SQLite it would hold the write lock, and so keep
every webhook from recording its call, for a minute. A batch that fails on a conflict with a
concurrent writer is retried; a crash loses at most the batch in flight, and re-running the
file, which is idempotent, finishes the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import time
from collections import deque
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import create_engine, create_sessionmaker
from app.importer.errors import UnusableInput
from app.importer.fields import SourceRecord, parse_maps
from app.importer.matching import BatchPlan, IdSet, assign_targets, group_rows, plan_changes
from app.importer.numbers import NumberResolver, Resolved
from app.importer.report import ImportReport, ProgressCallback, progress_bar
from app.importer.rows import ContactRow, Numberless, build, number_raws
from app.importer.sources import Source, open_source
from app.importer.writer import ContactStore
from app.models import Tenant, utcnow
from app.phone import is_valid_region

MAX_BATCH = 20_000
# Below this size normalising in-process is quicker than starting worker processes.
POOL_THRESHOLD_BYTES = 4 * 1024 * 1024
_ATTEMPTS = 3
# Rows read or validated between two yields to the event loop, so that the previous batch's
# write advances (its SQL runs in the driver's thread or the server) while this one is built.
_SLICE = 250
# Batches handed to the number workers before the first is validated: two, so that they
# never wait for this process to finish a write before they get more work.
_AHEAD = 3
_COLLECT_EVERY = 10
# This connection's SQLite settings for a bulk load. Each batch dirties pages all over the
# number index, and checkpointing the WAL after every few batches (SQLite's default is at
# 4 MB) wrote each of those pages twice, with an fsync: a 64 MB WAL cut a 1 M-row import's
# SQLite time by a third. The page cache (16 MB instead of 2 MB) keeps more of that index.
_BULK_PRAGMAS = ("PRAGMA wal_autocheckpoint=16384", "PRAGMA cache_size=-16384")


@dataclass(frozen=True)
class ImportOptions:
    """What `stamgast import` was asked to do."""

    path: Path
    tenant: str
    format: str | None = None
    maps: tuple[str, ...] = ()
    delimiter: str | None = None
    region: str | None = None
    batch_size: int = 2_000
    dry_run: bool = False
    workers: int | None = None  # None: by file size and CPU count; 0: in-process


@dataclass
class _Run:
    sessionmaker: async_sessionmaker[AsyncSession]
    options: ImportOptions
    tenant_id: int
    report: ImportReport
    progress: ProgressCallback
    touched: IdSet = field(default_factory=IdSet)
    # Contacts named in the report as without a number, until a later row gives them one.
    numberless: IdSet = field(default_factory=IdSet)
    store: ContactStore | None = None
    batches: int = 0


def run_import(
    database_url: str, options: ImportOptions, *, console: Console | None = None
) -> ImportReport:
    """Run an import on its own engine (the CLI), with a progress bar on `console`."""

    async def main() -> ImportReport:
        engine = create_engine(database_url)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _bulk_pragmas)
        try:
            if console is None:
                return await import_contacts(create_sessionmaker(engine), options)
            size = options.path.stat().st_size if options.path.is_file() else 0
            with progress_bar(console, size) as progress:
                return await import_contacts(
                    create_sessionmaker(engine), options, progress=progress
                )
        finally:
            await engine.dispose()

    with _rare_collections():
        return asyncio.run(main())


async def import_contacts(
    sessionmaker: async_sessionmaker[AsyncSession],
    options: ImportOptions,
    *,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Import a file into a tenant; UnusableInput when it cannot start at all."""
    if not 1 <= options.batch_size <= MAX_BATCH:
        raise UnusableInput(f"--batch must be between 1 and {MAX_BATCH:,}")
    maps = parse_maps(options.maps)
    tenant_id, region = await _tenant(sessionmaker, options.tenant, options.region)
    started = time.perf_counter()
    source = open_source(
        options.path, format=options.format, delimiter=options.delimiter, maps=maps
    )
    report = ImportReport(
        file=str(options.path),
        tenant=options.tenant,
        format=source.format,
        encoding=source.encoding,
        delimiter=source.delimiter,
        dry_run=options.dry_run,
    )
    run = _Run(sessionmaker, options, tenant_id, report, progress or (lambda _b, _r: None))
    resolver = NumberResolver(region, _workers(options.workers, source.total_bytes))
    try:
        await resolver.start()
        await _process(run, source, resolver)
    finally:
        await resolver.close()
        source.close()
    report.ignored = list(source.ignored)
    report.seconds = time.perf_counter() - started
    return report


async def _tenant(
    sessionmaker: async_sessionmaker[AsyncSession], slug: str, region: str | None
) -> tuple[int, str]:
    async with sessionmaker() as session:
        row = (
            await session.execute(
                select(Tenant.id, Tenant.default_region).where(Tenant.slug == slug)
            )
        ).first()
    if row is None:
        raise UnusableInput(f"tenant {slug!r} does not exist")
    chosen = (region or row.default_region).strip().upper()
    if not is_valid_region(chosen):
        raise UnusableInput(f"unknown region {chosen!r}: use an ISO country code such as NL")
    return int(row.id), chosen


def _workers(asked: int | None, size: int) -> int:
    if asked is not None:
        return max(0, asked)
    if size < POOL_THRESHOLD_BYTES:
        return 0
    # This process validates and writes, a core's worth of work on its own: one worker per
    # remaining core (measured on 2 cores: 2 workers 62 s for a million rows, 1 worker 59 s).
    return max(1, min((os.cpu_count() or 1) - 1, 4))


async def _process(run: _Run, source: Source, resolver: NumberResolver) -> None:
    """A three-stage pipeline: worker processes normalise batch n+1 while this process
    validates batch n and the database writes batch n-1 (in its driver thread or server)."""
    records = source.records()
    queued: deque[tuple[list[SourceRecord], Awaitable[dict[str, Resolved]]]] = deque()
    writing: asyncio.Task[None] | None = None
    try:
        while True:
            batch = await _read(records, run.options.batch_size)
            if batch:
                raws = [raw for record in batch for raw in number_raws(record)]
                queued.append((batch, resolver.submit(raws)))
                if len(queued) < _AHEAD:
                    continue  # keep the workers busy while this process writes
            if not queued:
                break
            batch, resolving = queued.popleft()
            rows = await _validate(run, batch, await resolving)
            if writing is not None:
                await writing
                run.progress(source.bytes_read(), run.report.rows)
            writing = asyncio.create_task(_write(run, rows))
        if writing is not None:
            await writing
            run.progress(source.bytes_read(), run.report.rows)
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing


async def _read(records: Iterator[SourceRecord], size: int) -> list[SourceRecord]:
    """The next batch, yielding to the event loop now and then so a write can progress."""
    batch: list[SourceRecord] = []
    while len(batch) < size:
        part = list(itertools.islice(records, min(_SLICE, size - len(batch))))
        batch.extend(part)
        if not part:
            break
        await asyncio.sleep(0)
    return batch


async def _validate(
    run: _Run, batch: list[SourceRecord], resolved: dict[str, Resolved]
) -> list[ContactRow]:
    rows: list[ContactRow] = []
    for start in range(0, len(batch), _SLICE):
        for record in batch[start : start + _SLICE]:
            outcome, bad_numbers = build(record, resolved)
            for bad in bad_numbers:
                run.report.bad_number(bad)
            if isinstance(outcome, ContactRow):
                rows.append(outcome)
            else:
                run.report.reject(outcome)
        await asyncio.sleep(0)
    run.report.rows += len(batch)
    return rows


async def _write(run: _Run, rows: list[ContactRow]) -> None:
    if not rows:
        return
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            plan, ids = await _write_once(run, rows)
            break
        except (IntegrityError, OperationalError):
            # Another writer inserted one of this batch's contacts (or held SQLite's lock past
            # the busy timeout) between our read and write: read again and redo the batch.
            if attempt == _ATTEMPTS:
                raise
    for contact_id in itertools.chain(ids, plan.matched):
        run.touched.add(contact_id)
    report = run.report
    report.imported += plan.imported
    report.updated += plan.updated
    report.unchanged += plan.unchanged
    report.merge(plan.merged)
    _note_numberless(run, plan, ids)
    report.numbers_stored += sum(len(r.numbers) for r in plan.inserts) + len(plan.new_numbers)
    run.batches += 1
    if run.batches % _COLLECT_EVERY == 0:
        gc.collect()  # see _rare_collections


def _note_numberless(run: _Run, plan: BatchPlan, ids: list[int]) -> None:
    """Name the contacts this batch leaves without a number; unname those it gave one."""
    for contact_id, _number in plan.new_numbers:
        if contact_id in run.numberless:
            run.numberless.discard(contact_id)
            run.report.got_number(contact_id)
    new_ids: list[int | None] = [*ids] if ids else [None] * len(plan.inserts)
    found = [
        Numberless.of(r, i) for r, i in zip(plan.inserts, new_ids, strict=True) if not r.numbers
    ]
    for numberless in sorted([*found, *plan.numberless], key=lambda n: n.line):
        run.report.no_number(numberless)
        if numberless.contact_id is not None:
            run.numberless.add(numberless.contact_id)


async def _write_once(run: _Run, rows: list[ContactRow]) -> tuple[BatchPlan, list[int]]:
    async with run.sessionmaker() as session:
        if run.store is None:
            run.store = ContactStore(session.get_bind().dialect)
        store = run.store
        await store.begin(session, write=not run.options.dry_run)
        groups = group_rows(rows)
        lookup = await store.lookup(session, run.tenant_id, groups)
        groups = assign_targets(groups, lookup)
        targets = [g.target for g in groups if g.target is not None]
        stored = await store.load(session, run.tenant_id, targets)
        plan = plan_changes(groups, stored, run.touched)
        if run.options.dry_run:
            await session.rollback()
            return plan, []
        try:
            ids = await store.write(session, run.tenant_id, plan, utcnow())
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        return plan, ids


def _bulk_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in _BULK_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


@contextlib.contextmanager
def _rare_collections() -> Iterator[None]:
    """Let the cyclic garbage collector run rarely while importing.

    A million rows allocate tens of millions of short-lived objects; at the default
    thresholds the collector ran thousands of times, each pass scanning every live object
    (the ORM's registries, the number cache), which took a third of the run. Instead, what
    existed before the import is frozen out of its scans and `_write` collects every
    `_COLLECT_EVERY` batches: the few cycles a batch leaves (sessions, results, tasks) would
    otherwise pile up in the oldest generation, and memory would grow with the file.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
