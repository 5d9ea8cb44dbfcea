"""`fhir`: a FHIR R4 server, Patient, RelatedPerson and Practitioner searched by telecom.

FHIR matches a token exactly, so the number is asked in the two forms records keep it in
(`+31612345678` and `0612345678`, OR-ed with a comma) in one search per resource type, all
types at once. A Patient gives name, preferred language (`communication`), managing
organisation and general practitioner; a RelatedPerson whose relative they are.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import httpx

from app.phone import PhoneNumber
from app.sources.base import SourceRecord, SourceRefused, SourceUnreachable, number_forms, text
from app.sources.schemas import FhirConfig

MAX_RECORDS = 5


class FhirSource:
    """Searches a FHIR R4 server (see FhirConfig); the secret, if any, is a bearer token."""

    def __init__(self, config: FhirConfig, secret: str | None, timeout: float) -> None:
        self._config = config
        self._base = config.base_url.rstrip("/")
        headers = {"Accept": "application/fhir+json"}
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout, follow_redirects=False)

    async def lookup(self, number: PhoneNumber) -> list[SourceRecord]:
        """Every resource type searched at once; their matches, Patients first."""
        forms = number_forms(number)
        values = ",".join(dict.fromkeys(f"phone|{forms[k]}" for k in ("e164", "national")))
        found = await asyncio.gather(
            *(self._search(kind, values) for kind in self._config.resources)
        )
        return [record for records in found for record in records][:MAX_RECORDS]

    async def _search(self, kind: str, telecom: str) -> list[SourceRecord]:
        try:
            response = await self._client.get(
                f"{self._base}/{kind}", params={"telecom": telecom, "_count": MAX_RECORDS}
            )
        except httpx.TimeoutException as exc:
            raise SourceUnreachable(f"no answer in time ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise SourceUnreachable(f"cannot reach it ({type(exc).__name__})") from None
        if response.status_code >= 400:
            raise SourceRefused(f"answered HTTP {response.status_code} to a {kind} search")
        try:
            bundle = response.json()
        except ValueError:
            raise SourceRefused("answered something that is not JSON") from None
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise SourceRefused(f"answered a {kind} search without a Bundle")
        return [
            self._record(entry["resource"])
            for entry in bundle.get("entry") or []
            if isinstance(entry, dict)
            and isinstance(entry.get("resource"), dict)
            and entry["resource"].get("resourceType") == kind
            and entry.get("search", {}).get("mode", "match") == "match"
        ]

    def _record(self, resource: dict[str, Any]) -> SourceRecord:
        kind, rid = resource["resourceType"], str(resource.get("id", ""))
        name = _name(resource.get("name"))
        details = {"resource": kind}
        gp = [_reference(r) for r in resource.get("generalPractitioner") or []]
        if any(gp):
            details["general_practitioner"] = ", ".join(g for g in gp if g)
        if kind == "RelatedPerson":
            patient = _reference(resource.get("patient"))
            relation = _concept((resource.get("relationship") or [None])[0])
            if patient:
                details["related_to"] = patient
            if relation:
                details["relationship"] = relation
        if self._config.deep_link:
            link = self._config.deep_link.format(type=kind, id=quote(rid, safe=""))
        else:
            link = f"{self._base}/{kind}/{quote(rid, safe='')}"
        return SourceRecord(
            display_name=name[0],
            form_of_address=name[1],
            external_id=f"{kind}/{rid}"[:120],
            deep_link=link,
            organisation=_reference(resource.get("managingOrganization")),
            language=_language(resource.get("communication")),
            details=details,
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _name(names: Any) -> tuple[str | None, str | None]:
    """(display name, form of address) from a HumanName list: official, else usual, else first."""
    if not isinstance(names, list) or not names:
        return None, None
    ranked = sorted(
        (n for n in names if isinstance(n, dict)),
        key=lambda n: {"official": 0, "usual": 1}.get(n.get("use", ""), 2),
    )
    if not ranked:
        return None, None
    best = ranked[0]
    given = " ".join(best.get("given") or [])
    family = best.get("family")
    shown = text(" ".join(p for p in (given, family) if p)) or text(best.get("text"))
    prefix = " ".join(best.get("prefix") or [])
    form = text(f"{prefix} {family}") if prefix and family else None
    return shown, form


def _reference(reference: Any) -> str | None:
    if not isinstance(reference, dict):
        return None
    return text(reference.get("display")) or text(reference.get("reference"))


def _concept(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or []:
        shown = text(coding.get("display")) or text(coding.get("code"))
        if shown:
            return shown
    return text(concept.get("text"))


def _language(communication: Any) -> str | None:
    """The preferred language's BCP 47 code (Patient/RelatedPerson.communication)."""
    if not isinstance(communication, list):
        return None
    ranked = sorted(
        (c for c in communication if isinstance(c, dict)),
        key=lambda c: not c.get("preferred", False),
    )
    for item in ranked:
        concept = item.get("language") if "language" in item else item  # Practitioner's form
        for coding in (concept or {}).get("coding") or []:
            if coding.get("system") == "urn:ietf:bcp:47" and coding.get("code"):
                return text(coding["code"], 35)
    return None
