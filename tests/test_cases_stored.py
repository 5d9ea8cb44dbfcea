"""Cases as stored: the API writes only its own vocabulary, yet reads back any row it finds."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from app.db import session_scope
from app.models import Case
from tests.conftest import TenantCtx


async def test_in_review_is_a_status_an_application_can_have(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/v1/cases", json={"reference": "AV-1", "kind": "application", "status": "in_review"}
    )
    assert created.status_code == 201, created.text
    listed = await api.get("/v1/cases", params={"status": "in_review"})
    assert [case["reference"] for case in listed.json()] == ["AV-1"]


async def test_a_row_written_around_the_api_reads_back_as_stored(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    """A status or kind from an SQL import or another version is shown, never a 500."""
    created = await api.post("/v1/cases", json={"reference": "SQL-1"})
    case_id = created.json()["id"]
    async for session in session_scope(app.state.sessionmaker):
        await session.execute(
            update(Case)
            .where(Case.tenant_id == tenant.id, Case.id == case_id)
            .values(status="on_hold", kind="legacy")
        )
    for response in (
        await api.get("/v1/cases"),
        await api.get(f"/v1/cases/{case_id}"),
        await api.get("/v1/cases/by-reference/SQL-1"),
        await api.patch(f"/v1/cases/{case_id}", json={"next_step": "Call back"}),
    ):
        assert response.status_code == 200, response.text
        body = response.json()
        case = body[0] if isinstance(body, list) else body
        assert (case["status"], case["kind"]) == ("on_hold", "legacy")
    # Writing it through the API still takes only the known words.
    refused = await api.patch(f"/v1/cases/{case_id}", json={"status": "on_hold"})
    assert refused.status_code == 422
    assert refused.json()["fields"][0]["field"] == "status"


async def test_a_reference_read_with_surrounding_line_breaks_is_found(
    api: httpx.AsyncClient,
) -> None:
    """Surrounding whitespace is ignored, line breaks too (they once missed the route)."""
    await api.post("/v1/cases", json={"reference": "ZD-77"})
    found = await api.get("/v1/cases/by-reference/%0AZD-77%0D%0A")
    assert found.status_code == 200, found.text
    assert found.json()["reference"] == "ZD-77"
    missing = await api.get("/v1/cases/by-reference/%0AZD-78")
    assert missing.status_code == 404
    assert missing.json()["message"] == "No case with reference ZD-78 in this tenant."
