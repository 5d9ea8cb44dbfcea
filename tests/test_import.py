"""`stamgast import`: the sample files' exact reports, idempotency, merging, vCards, --map.

These run the import service on SQLite and PostgreSQL (the `app` fixture's sessionmaker);
tests/test_import_cli.py covers the command's exit codes and its memory use.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.importer.errors import UnusableInput
from app.importer.report import ImportReport
from app.importer.service import ImportOptions, import_contacts
from app.models import Contact, ContactNumber
from tests.conftest import TenantCtx

FIXTURES = Path(__file__).parent / "fixtures" / "import"
SAMPLE = FIXTURES / "contacts.csv"

SAMPLE_REJECTIONS = [
    (5, "bad language tag 'klingon-1234567890' (use e.g. nl, en or en-GB)"),
    (6, "missing name"),
    (7, "name too long (204 characters, at most 200)"),
    (14, "control character in organisation"),
    (15, "17 fields where the header has 15 (a delimiter inside an unquoted value?)"),
    (16, "external id too long (121 characters, at most 120)"),
    (17, "tag too long (65 characters, at most 64)"),
    (18, "notes too long (10001 characters, at most 10000)"),
    (21, "undecodable characters in name (is the file UTF-8?)"),
    (24, "a quoted value runs over lines 24-25 (an unbalanced quote?)"),
]
SAMPLE_COUNTS = {
    "rows": 20, "imported": 8, "updated": 0, "unchanged": 0, "merged": 2, "rejected": 10,
    "numbers_stored": 10, "numbers_not_normalised": 3,
}  # fmt: skip
SAMPLE_BAD_NUMBERS = [
    (8, "12", "not a phone number"),
    (9, "anoniem", "a withheld-number placeholder"),
    (23, "0" * 65, "longer than 64 characters"),
]


async def run(app: FastAPI, tenant: TenantCtx, path: Path, **options: Any) -> ImportReport:
    """Import in-process on the backend under test."""
    options.setdefault("workers", 0)
    return await import_contacts(
        app.state.sessionmaker, ImportOptions(path=path, tenant=tenant.slug, **options)
    )


def counts(report: ImportReport) -> dict[str, int]:
    """The report's counters."""
    names = ("rows", "imported", "updated", "unchanged", "merged", "rejected", "numbers_stored")
    return {name: getattr(report, name) for name in (*names, "numbers_not_normalised")}


async def contacts(app: FastAPI, tenant: TenantCtx) -> dict[str, Contact]:
    """The tenant's contacts with their numbers, by display name (last one wins)."""
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(
            select(Contact)
            .where(Contact.tenant_id == tenant.id)
            .options(selectinload(Contact.numbers))
            .order_by(Contact.id)
        )
        return {c.display_name: c for c in rows}


def numbers(contact: Contact) -> dict[str, tuple[str, str | None]]:
    """A contact's numbers: e164 -> (kind, label)."""
    return {n.e164: (n.kind, n.label) for n in contact.numbers}


async def table_counts(app: FastAPI, tenant: TenantCtx) -> tuple[int, int]:
    """How many contacts and numbers the tenant has."""
    async with app.state.sessionmaker() as session:
        people = await session.scalar(
            select(func.count()).select_from(Contact).where(Contact.tenant_id == tenant.id)
        )
        phones = await session.scalar(
            select(func.count())
            .select_from(ContactNumber)
            .where(ContactNumber.tenant_id == tenant.id)
        )
    return int(people or 0), int(phones or 0)


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ";") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


async def test_sample_csv_gives_the_exact_report(app: FastAPI, tenant: TenantCtx) -> None:
    report = await run(app, tenant, SAMPLE)

    assert counts(report) == SAMPLE_COUNTS
    assert [(r.line, r.reason) for r in report.rejections] == SAMPLE_REJECTIONS
    assert [(b.line, b.raw, b.reason) for b in report.bad_numbers] == SAMPLE_BAD_NUMBERS
    # Marie Claes's only number is "anoniem": she is imported, and named as unrecognisable.
    assert [(n.line, n.reason) for n in report.numberless] == [(9, "no number could be normalised")]
    assert report.without_number == 1
    assert report.merges == [
        (10, "same external id as line 2"),
        (12, "same name and number as line 11"),
    ]
    assert report.ignored == ["Geboortedatum"]
    assert (report.format, report.delimiter, report.encoding) == ("csv", ";", "UTF-8")

    stored = await contacts(app, tenant)
    assert sorted(stored) == [
        "Anna de Vries", "Jan Smit", "Kees Bakker", "Lang Raw", "Marie Claes", "Piet Jansen",
        "Truus Smit", "Zoë Meer",
    ]  # fmt: skip
    anna = stored["Anna de Vries"]
    assert (anna.external_id, anna.form_of_address) == ("K001", "Mevrouw De Vries")
    assert (anna.language, anna.organisation) == ("nl", "Zorg & Co")
    assert (anna.tags, anna.references) == (["vip"], {"zorgdomein": "ZD-1001"})
    assert anna.notes == "Belt graag \u2019s ochtends, één keer"
    # Telefoon -> decided by the number; Mobiel and (from the merged line 10) Werk -> their kind.
    assert numbers(anna) == {
        "+31331234567": ("landline", None),
        "+31612345678": ("mobile", None),
        "+31207654321": ("work", None),
    }
    piet = stored["Piet Jansen"]
    assert (piet.language, piet.notes) == ("en", "Notitie met\ntwee regels")
    assert stored["Jan Smit"].tags == ["klant"]  # filled in from the merged line 12
    assert numbers(stored["Kees Bakker"]) == {"+31687654321": ("mobile", None)}
    assert numbers(stored["Marie Claes"]) == {}
    zoe = stored["Zoë Meer"]
    assert zoe.language == "nl-BE"
    assert set(numbers(zoe)) == {"+31611111111", "+31102222222"}
    # A household: two people, one number.
    assert (
        set(numbers(stored["Jan Smit"])) == set(numbers(stored["Truus Smit"])) == {"+31301234567"}
    )


async def test_re_running_the_sample_changes_nothing(app: FastAPI, tenant: TenantCtx) -> None:
    first = await run(app, tenant, SAMPLE)
    before = await contacts(app, tenant)
    stamps = {name: c.updated_at for name, c in before.items()}
    tables = await table_counts(app, tenant)

    second = await run(app, tenant, SAMPLE)

    assert counts(second) == counts(first) | {
        "imported": 0, "unchanged": first.imported, "numbers_stored": 0,
    }  # fmt: skip
    assert [(r.line, r.reason) for r in second.rejections] == SAMPLE_REJECTIONS
    assert await table_counts(app, tenant) == tables == (8, 10)
    after = await contacts(app, tenant)
    assert {name: c.updated_at for name, c in after.items()} == stamps


async def test_small_batches_merge_across_batches_alike(app: FastAPI, tenant: TenantCtx) -> None:
    report = await run(app, tenant, SAMPLE, batch_size=1)
    again = await run(app, tenant, SAMPLE, batch_size=3)

    assert counts(report) == SAMPLE_COUNTS
    assert report.merges == [
        (10, "same external id as an earlier row"),
        (12, "same name and number as an earlier row"),
    ]
    assert (again.imported, again.updated, again.unchanged, again.merged) == (0, 0, 8, 2)
    assert await table_counts(app, tenant) == (8, 10)


async def test_worker_processes_give_the_same_report(app: FastAPI, tenant: TenantCtx) -> None:
    report = await run(app, tenant, SAMPLE, workers=2)
    assert counts(report) == SAMPLE_COUNTS
    assert [(b.line, b.raw, b.reason) for b in report.bad_numbers] == SAMPLE_BAD_NUMBERS


async def test_a_changed_row_is_updated_and_empty_cells_keep_values(
    app: FastAPI, tenant: TenantCtx, tmp_path: Path
) -> None:
    header = ["Klantnummer", "Naam", "Organisatie", "Taal", "Mobiel", "Tags", "ref:crm"]
    rows = [
        ["C1", "Ada Jansen", "Zorg BV", "nl", "0612340001", "vip", "A-1"],
        ["C2", "Bob Visser", "", "en", "0612340002", "", ""],
        ["C3", "Cor de Wit", "Gemeente", "nl", "0612340003", "", ""],
    ]
    await run(app, tenant, write_csv(tmp_path / "v1.csv", [header, *rows]))
    changed = [
        ["C1", "Ada Jansen", "Zorg Groep", "", "0612340001", "mantelzorg", ""],  # org; +tag
        ["C2", "Bob Visser", "", "en", "0612340002; 0301230002", "", ""],  # another number
        ["C3", "Cor de Wit", "Gemeente", "nl", "0612340003", "", ""],  # the same
    ]

    report = await run(app, tenant, write_csv(tmp_path / "v2.csv", [header, *changed]))

    assert (report.imported, report.updated, report.unchanged) == (0, 2, 1)
    stored = await contacts(app, tenant)
    ada = stored["Ada Jansen"]
    assert ada.organisation == "Zorg Groep"
    assert ada.language == "nl"  # an empty cell does not clear
    assert ada.tags == ["vip", "mantelzorg"]  # tags are added, never removed
    assert ada.references == {"crm": "A-1"}
    assert set(numbers(stored["Bob Visser"])) == {"+31612340002", "+31301230002"}
    assert await table_counts(app, tenant) == (3, 4)
    assert (await run(app, tenant, tmp_path / "v2.csv")).unchanged == 3


async def test_a_row_matches_a_contact_entered_by_hand(
    app: FastAPI, tenant: TenantCtx, tmp_path: Path
) -> None:
    async with app.state.sessionmaker() as session:
        contact = Contact(tenant_id=tenant.id, display_name="Dirk Bos")
        session.add(contact)
        await session.flush()
        session.add(
            ContactNumber(
                tenant_id=tenant.id, contact_id=contact.id, e164="+31612349999", raw="06-12349999"
            )
        )
        await session.commit()
    rows = [["ID", "Name", "Phone"], ["X9", "dirk bos", "+31 6 12349999"]]
    path = write_csv(tmp_path / "crm.csv", rows, delimiter=",")

    report = await run(app, tenant, path)

    assert (report.imported, report.updated) == (0, 1)
    stored = await contacts(app, tenant)
    assert stored["dirk bos"].external_id == "X9"  # the file's spelling and id win
    assert await table_counts(app, tenant) == (1, 1)


async def test_vcard_3_several_numbers_per_card(app: FastAPI, tenant: TenantCtx) -> None:
    report = await run(app, tenant, FIXTURES / "contacts-v3.vcf", maps=("ref:crm=X-CRM-ID",))

    assert counts(report) == {
        "rows": 5, "imported": 4, "updated": 0, "unchanged": 0, "merged": 0, "rejected": 1,
        "numbers_stored": 6, "numbers_not_normalised": 1,
    }  # fmt: skip
    assert [(r.line, r.reason) for r in report.rejections] == [(32, "missing name")]
    assert [(b.line, b.raw, b.reason) for b in report.bad_numbers] == [
        (37, "anonymous", "a withheld-number placeholder")
    ]
    assert [(n.line, n.reason) for n in report.numberless] == [(27, "no phone number given")]
    assert report.ignored == []  # X-ABUID is presentation; X-CRM-ID is mapped
    stored = await contacts(app, tenant)
    anna = stored["Anna de Vries"]
    assert anna.external_id == "urn:uuid:9b1c3e2a-0001"
    assert anna.organisation == "Zorg & Co, Afdeling Thuiszorg"
    assert anna.notes == "Belt graag 's ochtends, liefst voor tienen.\nTweede regel"
    assert (anna.tags, anna.references) == (["vip", "mantelzorg"], {"zorgdomein": "ZD-1001"})
    assert numbers(anna) == {
        "+31612345678": ("mobile", None),
        "+31331234567": ("landline", "home"),
        "+31337654321": ("fax", None),
    }
    piet = stored["Piet Jansen"]  # from N, without FN
    assert numbers(piet) == {"+31201234567": ("work", None), "+31687654321": ("mobile", "Dochter")}
    assert piet.notes == (
        "Een lange notitie die over meerdere regels is gevouwen zoals RFC 2425 het voorschrijft."
    )
    assert piet.references == {"crm": "C-77"}
    muller = stored["Jürgen Müller"]  # vCard 2.1, quoted-printable
    assert muller.notes == "Spricht Deutsch, versteht ein bisschen Niederländisch."
    assert numbers(muller) == {"+4915112345678": ("mobile", None)}
    assert numbers(stored["Geen Nummer"]) == {}
    assert (await run(app, tenant, FIXTURES / "contacts-v3.vcf")).unchanged == 4


async def test_vcard_4_and_a_shared_household_number(app: FastAPI, tenant: TenantCtx) -> None:
    report = await run(app, tenant, FIXTURES / "contacts-v4.vcf")

    assert (report.rows, report.imported, report.rejected) == (5, 3, 2)
    assert [(r.line, r.reason) for r in report.rejections] == [
        (26, "card has no END:VCARD"),
        (31, "bad language tag '123' (use e.g. nl, en or en-GB)"),
    ]
    assert [(n.line, n.reason) for n in report.numberless] == [(22, "no phone number given")]
    stored = await contacts(app, tenant)
    zoe = stored["Zoë Janssens"]
    assert zoe.language == "nl-BE"  # LANG;PREF=1 wins over PREF=2
    assert zoe.organisation == "Gemeente Utrecht"
    assert numbers(zoe) == {
        "+32470123456": ("mobile", None),
        "+3225551212": ("work", None),  # tel: URI with ;ext=102
        "+31301234567": ("landline", "home"),
    }
    truus = stored["Truus Smit"]
    assert truus.references == {"crm": "C-900"}
    assert numbers(truus) == {
        "+31301234567": ("landline", "home"),
        "+31628765432": ("mobile", None),
    }
    async with app.state.sessionmaker() as session:
        sharing = await session.scalar(
            select(func.count())
            .select_from(ContactNumber)
            .where(ContactNumber.tenant_id == tenant.id, ContactNumber.e164 == "+31301234567")
        )
    assert sharing == 2
    again = await run(app, tenant, FIXTURES / "contacts-v4.vcf")
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 3)


async def test_map_overrides_header_names(app: FastAPI, tenant: TenantCtx, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "odd.csv",
        [["Naam", "Roepnaam", "Bel", "Dossier"], ["J. Jansen", "Jan Jansen", "0612347777", "D-7"]],
    )
    with pytest.raises(UnusableInput, match="no name column"):
        await run(app, tenant, write_csv(tmp_path / "none.csv", [["Wie", "Bel"], ["Jan", "06"]]))
    with pytest.raises(UnusableInput, match="unknown field 'nickname'"):
        await run(app, tenant, path, maps=("nickname=Roepnaam",))
    with pytest.raises(UnusableInput, match="no column 'Gsm'"):
        await run(app, tenant, path, maps=("mobile=Gsm",))

    report = await run(
        app, tenant, path, maps=("display_name=Roepnaam", "work=Bel", "ref:dossier=Dossier")
    )

    assert report.imported == 1
    assert report.ignored == ["Naam"]  # the override replaces the alias match
    jan = (await contacts(app, tenant))["Jan Jansen"]
    assert numbers(jan) == {"+31612347777": ("work", None)}
    assert jan.references == {"dossier": "D-7"}


async def test_windows_1252_and_comma_files(
    app: FastAPI, tenant: TenantCtx, tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "Naam,Mobiel nummer,Taal\r\nZoë Één,06 1234 6666,Nederlands\r\n".encode("cp1252")
    )

    report = await run(app, tenant, path)

    assert (report.encoding, report.delimiter, report.imported) == ("Windows-1252", ",", 1)
    zoe = (await contacts(app, tenant))["Zoë Één"]
    assert (zoe.language, numbers(zoe)) == ("nl", {"+31612346666": ("mobile", None)})


async def test_dry_run_writes_nothing(app: FastAPI, tenant: TenantCtx) -> None:
    report = await run(app, tenant, SAMPLE, dry_run=True)
    assert (report.imported, report.merged, report.rejected, report.dry_run) == (8, 2, 10, True)
    assert await table_counts(app, tenant) == (0, 0)


async def test_unusable_input(app: FastAPI, tenant: TenantCtx, tmp_path: Path) -> None:
    with pytest.raises(UnusableInput, match="tenant 'nobody' does not exist"):
        await import_contacts(app.state.sessionmaker, ImportOptions(SAMPLE, "nobody"))
    with pytest.raises(UnusableInput, match="not found"):
        await run(app, tenant, tmp_path / "missing.csv")
    with pytest.raises(UnusableInput, match="not a vCard file"):
        await run(app, tenant, SAMPLE, format="vcard")
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(UnusableInput, match="save it as CSV"):
        await run(app, tenant, tmp_path / "book.xlsx", format="csv")
    with pytest.raises(UnusableInput, match="unknown region 'XX'"):
        await run(app, tenant, SAMPLE, region="XX")
