"""`stamgast import` writes the same contacts and reports on PostgreSQL as on SQLite.

PostgreSQL applies each batch's plan set-based through a staging table (COPY, then one
INSERT ... SELECT / UPDATE ... FROM statement: app/importer/staging.py); SQLite keeps its
executemany writes. One generated file with every kind of row (new, duplicate by external
id, duplicate by name and number, a shared household number, bad numbers, rows without a
number, name-only rows, rejected rows), then a second file that changes, extends and
re-kinds stored contacts, then that second file again, go into both databases in small
batches; the stored rows and the reports must be identical at every step, and the last run
must change nothing.
"""

from __future__ import annotations

import csv
import random
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.db import create_engine, create_sessionmaker
from app.importer.report import ImportReport
from app.importer.service import ImportOptions, import_contacts
from app.migrate import upgrade
from app.models import Contact, ContactNumber, Tenant

HEADER = [
    "Klantnummer", "Naam", "Taal", "Organisatie", "Tags", "Mobiel", "Telefoon", "Werk",
    "Thuis", "ref:zorgdomein", "Opmerkingen",
]  # fmt: skip
ROWS = 3_000
BATCH = 400  # several batches: matches across batches and the staging table reused
FIRST = ["Anna", "Piet", "Jan", "Els", "Kees", "Fatima", "Sanne", "Daan", "Noor", "Bram"]
LAST = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Bos", "Vos"]


def _mobile(k: int) -> str:
    return f"06-{12_000_000 + k:08d}"


def _landline(k: int) -> str:
    return f"033-4{k % 1_000_000:06d}"


def _name(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]} {LAST[i // len(FIRST) % len(LAST)]} {i}"


def _first_file(rng: random.Random) -> Iterator[list[str]]:
    """Every kind of row, interleaved so that batches hold a mix."""
    for i in range(ROWS):
        tag = rng.choice(["vip", "tolk", ""])
        row = [f"K{i}", _name(i), rng.choice(["nl", "EN", "Duits", ""]), "", tag,
               _mobile(i), "", "", "", "", ""]  # fmt: skip
        kind = i % 12
        if kind == 1 and i >= 12:  # the same external id as an earlier row: fills its gaps
            row = [f"K{i - 12}", _name(i - 12), "", "Zorg & Co", "mantelzorg", "",
                   _landline(i), "", "", f"ZD-{i}", ""]  # fmt: skip
        elif kind == 2:  # no external id; the next line repeats name and number
            row[0] = ""
        elif kind == 3:  # the same name and number as the line before, with more to say
            row = ["", _name(i - 1), "", "", "wachtlijst", _mobile(i - 1), _landline(i), "",
                   "", "", "Belt 's ochtends"]  # fmt: skip
        elif kind == 4:  # a household: a landline shared with the next line's person
            row[6] = _landline(10_000 + i)
        elif kind == 5:
            row = ["", f"Partner {i}", "", "", "", "", _landline(10_000 + i - 1), "", "", "",
                   ""]  # fmt: skip
        elif kind == 6:  # numbers that cannot be normalised, half with a usable one
            row[5], row[6] = ("12", "anoniem") if i % 24 == 6 else ("12", _landline(i))
        elif kind == 7:  # no number and no external id: matched on its name alone
            row[0], row[5] = "", ""
            row[1] = f"Alleen Naam {i % 48}"
        elif kind == 8:  # rejected: a bad language tag, or no name
            if i % 24 == 8:
                row[2] = "klingon-1234567890"
            else:
                row[1] = ""
        elif kind == 9:  # numbers whose column gives a kind and a label
            row[7], row[8] = _landline(20_000 + i), _landline(30_000 + i)
        yield row


def _second_file(first: list[list[str]]) -> Iterator[list[str]]:
    """Changes to stored contacts: new values, tags, numbers and kinds; some rows as before."""
    for i, row in enumerate(first):
        kind = i % 12
        changed = list(row)
        if kind == 0:
            changed[3], changed[4] = "Nieuwe Org", "vip;nieuw"
        elif kind == 2:  # a stored contact without external id gets one (name and number)
            changed[0] = f"N{i}"
        elif kind == 4:  # a number becomes "work", explicitly
            changed[6], changed[7] = "", row[6]
        elif kind == 9:  # a label and a new number
            changed[8], changed[6] = row[8], _landline(40_000 + i)
        elif kind == 10:
            changed[9] = f"ZD-{i}"
        yield changed


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=";").writerows([HEADER, *rows])
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    first = list(_first_file(random.Random(11)))
    second = list(_second_file(first))
    return _write(tmp_path / "first.csv", first), _write(tmp_path / "second.csv", second)


@pytest.fixture(scope="session")
def migrated_postgres_url(request: pytest.FixtureRequest, postgres_url: str) -> str:
    if not getattr(request.config, "_stamgast_pg_migrated", False):
        upgrade(postgres_url)
        request.config._stamgast_pg_migrated = True  # type: ignore[attr-defined]
    return postgres_url


async def _import_all(url: str, slug: str, paths: list[Path]) -> list[dict[str, Any]]:
    """Each file imported in turn: the report and the tenant's rows after each."""
    engine = create_engine(url)
    try:
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            tenant = Tenant(slug=slug, name="Backends", default_region="NL")
            session.add(tenant)
            await session.commit()
            tenant_id = tenant.id
        steps = []
        for path in paths:
            options = ImportOptions(path=path, tenant=slug, batch_size=BATCH, workers=0)
            report = await import_contacts(sessionmaker, options)
            steps.append(await _snapshot(sessionmaker, tenant_id, report))
        return steps
    finally:
        await engine.dispose()


async def _snapshot(
    sessionmaker: async_sessionmaker[Any], tenant_id: int, report: ImportReport
) -> dict[str, Any]:
    """The report and rows, with ids as ranks (the two databases number rows apart)."""
    async with sessionmaker() as session:
        people = (
            await session.scalars(
                select(Contact).where(Contact.tenant_id == tenant_id).order_by(Contact.id)
            )
        ).all()
        phones = (
            await session.scalars(
                select(ContactNumber)
                .where(ContactNumber.tenant_id == tenant_id)
                .order_by(ContactNumber.id)
            )
        ).all()
    rank = {c.id: index for index, c in enumerate(people)}
    skip = {"id", "tenant_id", "created_at", "updated_at"}
    contacts = [
        {k: v for k, v in c.__dict__.items() if not k.startswith("_") and k not in skip}
        for c in people
    ]
    numbers = [(rank[n.contact_id], n.e164, n.raw, n.kind, n.label) for n in phones]
    stamps = [(c.created_at == c.updated_at) for c in people]
    summary = asdict(report)
    del summary["seconds"], summary["file"]
    summary["numberless"] = [
        (n["line"], n["reason"], rank.get(n["contact_id"])) for n in summary["numberless"]
    ]
    return {"report": summary, "contacts": contacts, "numbers": numbers, "stamps": stamps}


async def test_postgres_staging_writes_what_sqlite_writes(
    sqlite_url: str, migrated_postgres_url: str, files: tuple[Path, Path]
) -> None:
    first, second = files
    slug = f"backends-{uuid.uuid4().hex[:8]}"
    paths = [first, second, second]

    on_sqlite = await _import_all(sqlite_url, slug, paths)
    on_postgres = await _import_all(migrated_postgres_url, slug, paths)

    for step, (lite, pg) in enumerate(zip(on_sqlite, on_postgres, strict=True)):
        assert pg["report"] == lite["report"], f"report of run {step + 1}"
        assert pg["contacts"] == lite["contacts"], f"contacts after run {step + 1}"
        assert pg["numbers"] == lite["numbers"], f"numbers after run {step + 1}"
        assert pg["stamps"] == lite["stamps"], f"which contacts changed after run {step + 1}"
    # The file has every kind of row, so every branch of the plan was compared.
    imported, changed, again = (step["report"] for step in on_postgres)
    assert imported["imported"] and imported["merged"] and imported["rejected"]
    assert imported["numbers_not_normalised"] and imported["without_number"]
    assert any("same name and number" in why for _line, why in imported["merges"])
    assert any("same external id" in why for _line, why in imported["merges"])
    assert changed["updated"] and changed["numbers_stored"] and not changed["imported"]
    assert again["updated"] == again["imported"] == again["numbers_stored"] == 0
    assert on_postgres[2]["contacts"] == on_postgres[1]["contacts"]
    assert on_postgres[2]["numbers"] == on_postgres[1]["numbers"]
    kinds = {(kind, label) for *_rest, kind, label in on_postgres[1]["numbers"]}
    assert {("work", None), ("landline", "home")} <= kinds
