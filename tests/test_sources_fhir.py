"""The `fhir` source against HL7's own R4 example resources, served over HTTP with the
spec's token search (tests/support/fhir_server.py; no full FHIR server runs offline here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.crm_server import running_asgi
from tests.support.servers import free_port
from tests.test_sources import add_source, try_number


@pytest.fixture(scope="module")
def fhir() -> Iterator[str]:
    with running_asgi("tests.support.fhir_server:app", free_port()) as url:
        yield f"{url}/fhir"


def fhir_source(base: str, **config: Any) -> dict[str, Any]:
    return {"name": "ECD", "kind": "fhir", "config": {"base_url": base, **config}}


async def test_a_patient_becomes_a_card_with_language_and_a_deep_link(
    api: httpx.AsyncClient, fhir: str
) -> None:
    created = await add_source(api, fhir_source(fhir))
    body = (await try_number(api, created["id"], "06 12345678")).json()
    assert body["ok"] is True, body
    [patient] = body["records"]  # Patient-f201: Roel Bor, Dutch, managed by AUMC
    assert patient["display_name"] == "Roelof Olaf Bor"
    assert patient["form_of_address"] == "Drs. Bor"
    assert patient["language"] == "nl-NL" and patient["organisation"] == "AUMC"
    assert patient["external_id"] == "Patient/f201"
    assert patient["deep_link"] == f"{fhir}/Patient/f201"
    card = (await api.get("/v1/lookup", params={"number": "+31612345678"})).json()
    assert card["display_name"] == "Roelof Olaf Bor" and card["language"] == "nl-NL"
    assert card["sources"][0]["source"] == "ECD" and card["sources"][0]["kind"] == "fhir"


async def test_a_shared_number_gives_the_patient_and_their_related_person(
    api: httpx.AsyncClient, fhir: str
) -> None:
    created = await add_source(
        api, fhir_source(fhir, deep_link="https://ecd.example.org/{type}/{id}")
    )
    body = (await try_number(api, created["id"], "020 123 4567")).json()
    patient, related = body["records"]
    assert patient["display_name"] == "Roelof Olaf Bor"
    assert related["display_name"] == "Ariadne Bor-Jansma"  # RelatedPerson-f002
    assert related["details"]["related_to"] == "Patient/f201"
    assert related["details"]["relationship"] == "SIGOTHR"
    assert related["deep_link"] == "https://ecd.example.org/RelatedPerson/f002"


async def test_national_notation_and_general_practitioner(
    api: httpx.AsyncClient, fhir: str
) -> None:
    created = await add_source(api, fhir_source(fhir, resources=["Patient"]))
    # Patient-f001 keeps its number as 0648352638: found by the national form.
    [pieter] = (await try_number(api, created["id"], "+31648352638")).json()["records"]
    assert pieter["display_name"] == "Pieter van de Heuvel" and pieter["language"] == "nl"
    [with_gp] = (await try_number(api, created["id"], "+31612340001")).json()["records"]
    assert with_gp["details"]["general_practitioner"] == "Dokter Bronsig"


async def test_practitioners_and_a_bad_config(api: httpx.AsyncClient, fhir: str) -> None:
    created = await add_source(api, fhir_source(fhir, resources=["Practitioner"]))
    body = (await try_number(api, created["id"], "071 526 9111")).json()
    [doctor] = body["records"]  # Practitioner-f201
    assert doctor["display_name"] == "Arend Bronsig" and doctor["form_of_address"] == "Dr. Bronsig"
    assert doctor["details"] == {"resource": "Practitioner"}
    bad = await api.post(
        "/v1/sources", json=fhir_source(fhir, resources=["Observation"], deep_link="{patient}")
    )
    assert bad.status_code == 422
    fields = {f["field"].split(".")[-1] for f in bad.json()["fields"]}
    assert {"deep_link"} <= fields and any("resources" in f["field"] for f in bad.json()["fields"])
