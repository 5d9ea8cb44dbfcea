"""HL7's own FHIR R4 example resources served over HTTP with a `telecom` token search.

No complete FHIR server runs offline here (HAPI needs Maven Central; the npm servers need
MongoDB), so this serves the official examples (tests/fixtures/fhir/, each naming its
source) with the search semantics our source relies on, as the R4 spec defines them
(http://hl7.org/fhir/R4/search.html#token): `telecom=[system|]value[,…]`, values matched
exactly, a comma meaning OR; the answer a `searchset` Bundle.

  GET /fhir/{type}?telecom=…     Patient, RelatedPerson, Practitioner
  GET /fhir/{type}/{id}          one resource
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.vendor_fixtures import all_fixtures

RESOURCES: dict[tuple[str, str], dict[str, Any]] = {}
for fixture in all_fixtures("fhir"):
    resource = json.loads(fixture.body)
    RESOURCES[(resource["resourceType"], resource["id"])] = resource

FHIR_JSON = "application/fhir+json"


def _matches(resource: dict[str, Any], tokens: list[tuple[str | None, str]]) -> bool:
    for point in resource.get("telecom", []):
        for system, value in tokens:
            if point.get("value") == value and system in (None, point.get("system")):
                return True
    return False


async def search(request: Request) -> JSONResponse:
    kind = request.path_params["type"]
    raw = request.query_params.get("telecom")
    if raw is None:
        return _outcome(400, "this server searches by telecom only")
    tokens: list[tuple[str | None, str]] = []
    for part in raw.split(","):
        system, bar, value = part.partition("|")
        tokens.append((system or None, value) if bar else (None, part))
    base = str(request.base_url).rstrip("/") + "/fhir"
    found = [r for (k, _), r in RESOURCES.items() if k == kind and _matches(r, tokens)]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "entry": [
            {"fullUrl": f"{base}/{kind}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in found
        ],
    }
    return JSONResponse(bundle, media_type=FHIR_JSON)


async def read(request: Request) -> JSONResponse:
    found = RESOURCES.get((request.path_params["type"], request.path_params["id"]))
    if found is None:
        return _outcome(404, "no such resource")
    return JSONResponse(found, media_type=FHIR_JSON)


def _outcome(status: int, text: str) -> JSONResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": text}],
    }
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


app = Starlette(routes=[Route("/fhir/{type}", search), Route("/fhir/{type}/{id}", read)])
