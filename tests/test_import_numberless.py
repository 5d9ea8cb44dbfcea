"""`stamgast import`: a contact left without any phone number is imported and named in the report.

Such a contact is legitimate (the API creates one; it is found by name, reference or case),
but a call can never recognise it, so the report lists its line and why, in CSV and vCard.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.conftest import TenantCtx
from tests.test_import import contacts, numbers, run, write_csv

HEADER = ["Klantnummer", "Naam", "Mobiel", "Telefoon"]
ROWS = [
    ["K1", "Alleen Naam", "", ""],  # line 2: no number at all
    ["K2", "Anoniem Nummer", "anoniem", "12"],  # line 3: numbers, none usable
    ["K4", "Eerst Zonder", "", ""],  # line 4: line 6 (same id) gives it a number
    ["", "Met Nummer", "0612340011", ""],  # line 5
    ["K4", "Eerst Zonder", "0612340012", ""],  # line 6
    ["", "Met Nummer", "", ""],  # line 7: the same name without number: line 5's contact
]


@pytest.mark.parametrize("batch_size", [2_000, 1])
async def test_contacts_without_a_number_are_imported_and_reported(
    app: FastAPI, tenant: TenantCtx, tmp_path: Path, batch_size: int
) -> None:
    path = write_csv(tmp_path / "crm.csv", [HEADER, *ROWS])

    report = await run(app, tenant, path, batch_size=batch_size)

    assert report.rejected == 0
    assert [(n.line, n.reason) for n in report.numberless] == [
        (2, "no phone number given"),
        (3, "no number could be normalised"),
    ]
    assert report.without_number == 2
    stored = await contacts(app, tenant)
    assert numbers(stored["Alleen Naam"]) == numbers(stored["Anoniem Nummer"]) == {}
    assert set(numbers(stored["Met Nummer"])) == {"+31612340011"}
    assert set(numbers(stored["Eerst Zonder"])) == {"+31612340012"}

    # A re-run still says so: the contacts are still unrecognisable.
    again = await run(app, tenant, path, batch_size=batch_size)
    assert [n.line for n in again.numberless] == [2, 3]
    assert again.imported == 0


async def test_a_numberless_row_for_a_contact_with_numbers_is_not_reported(
    app: FastAPI, tenant: TenantCtx, tmp_path: Path
) -> None:
    await run(
        app, tenant, write_csv(tmp_path / "v1.csv", [HEADER, ["K9", "Bo Ek", "0612340099", ""]])
    )

    update = await run(
        app, tenant, write_csv(tmp_path / "v2.csv", [HEADER, ["K9", "Bo Ek", "", ""]])
    )

    assert (update.unchanged, update.without_number, update.numberless) == (1, 0, [])
