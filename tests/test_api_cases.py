"""Cases over HTTP: unique references, found by id or by reference."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.models import AuditEvent
from tests.conftest import TenantCtx


async def new_contact(api: httpx.AsyncClient) -> int:
    """A contact's id."""
    response = await api.post("/v1/contacts", json={"display_name": "Anna"})
    contact_id: int = response.json()["id"]
    return contact_id


async def open_case(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """Create a case and return its body."""
    response = await api.post("/v1/cases", json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_open_and_read_a_case(api: httpx.AsyncClient) -> None:
    contact_id = await new_contact(api)
    case = await open_case(
        api,
        contact_id=contact_id,
        reference="  ZD-123456 ",
        kind="waiting_list",
        position=14,
        next_step="Intake on 3 December",
        owner="Team Noord",
    )
    assert case | {"id": 0, "created_at": "", "updated_at": ""} == {
        "id": 0,
        "contact_id": contact_id,
        "reference": "ZD-123456",
        "kind": "waiting_list",
        "status": "open",
        "next_step": "Intake on 3 December",
        "position": 14,
        "owner": "Team Noord",
        "created_at": "",
        "updated_at": "",
    }
    assert (await api.get(f"/v1/cases/{case['id']}")).json() == case
    found = await api.get("/v1/cases/by-reference/ZD-123456")
    assert found.status_code == 200 and found.json() == case
    assert (await api.get("/v1/cases/by-reference/%20ZD-123456%20")).json() == case
    without_contact = await open_case(api, reference="APP/2026/7")
    assert without_contact["contact_id"] is None and without_contact["kind"] == "referral"
    assert (await api.get("/v1/cases/by-reference/APP/2026/7")).json() == without_contact


async def test_reference_lookup_is_exact(api: httpx.AsyncClient) -> None:
    await open_case(api, reference="ZD-1")
    response = await api.get("/v1/cases/by-reference/zd-1")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "No case with reference zd-1 in this tenant.",
        "fields": [],
    }
    # Exact match: a reference differing only in case is another case.
    assert (await api.post("/v1/cases", json={"reference": "zd-1"})).status_code == 201


async def test_duplicate_reference_conflicts(api: httpx.AsyncClient) -> None:
    first = await open_case(api, reference="ZD-123")
    again = await api.post("/v1/cases", json={"reference": " ZD-123"})
    assert again.status_code == 409
    used = f"Case reference ZD-123 is already used by case {first['id']}."
    assert again.json()["message"] == used
    second = await open_case(api, reference="ZD-124")
    moved = await api.patch(f"/v1/cases/{second['id']}", json={"reference": "ZD-123"})
    assert moved.status_code == 409
    assert moved.json()["message"] == used
    assert (await api.get(f"/v1/cases/{second['id']}")).json() == second
    same = await api.patch(f"/v1/cases/{first['id']}", json={"reference": "ZD-123"})
    assert same.status_code == 200


async def test_update_and_filter(api: httpx.AsyncClient) -> None:
    contact_id = await new_contact(api)
    referral = await open_case(api, contact_id=contact_id, reference="R-1")
    application = await open_case(api, reference="A-1", kind="application")
    changed = await api.patch(
        f"/v1/cases/{referral['id']}",
        json={"status": "in_progress", "next_step": "Waiting for GP letter", "position": None},
    )
    assert changed.status_code == 200
    body = changed.json()
    assert (body["status"], body["next_step"], body["reference"]) == (
        "in_progress",
        "Waiting for GP letter",
        "R-1",
    )
    assert body["updated_at"] > referral["updated_at"]

    async def refs(**params: Any) -> list[str]:
        response = await api.get("/v1/cases", params=params)
        assert response.status_code == 200, response.text
        return [c["reference"] for c in response.json()]

    assert await refs() == ["R-1", "A-1"]
    assert await refs(contact_id=contact_id) == ["R-1"]
    assert await refs(status="in_progress") == ["R-1"]
    assert await refs(kind="application") == ["A-1"]
    assert await refs(limit=1, offset=1) == ["A-1"]
    assert (await api.get("/v1/cases", params={"status": "done"})).status_code == 422
    assert application["status"] == "open"


async def test_bad_cases_are_refused(api: httpx.AsyncClient) -> None:
    missing = await api.post("/v1/cases", json={"reference": "X-1", "contact_id": 999999})
    assert missing.status_code == 422
    assert missing.json()["message"] == "contact_id 999999 does not exist in this tenant."
    for body, field in (
        ({"reference": "   "}, "reference"),
        ({"reference": "X" * 65}, "reference"),
        ({"reference": "X-1", "kind": "lawsuit"}, "kind"),
        ({"reference": "X-1", "status": "done"}, "status"),
        ({"reference": "X-1", "position": -1}, "position"),
    ):
        response = await api.post("/v1/cases", json=body)
        assert response.status_code == 422, body
        assert response.json()["fields"][0]["field"] == field
    assert (await api.get("/v1/cases")).json() == []
    case = await open_case(api, reference="X-1")
    null = await api.patch(f"/v1/cases/{case['id']}", json={"reference": None})
    assert null.status_code == 422
    assert null.json()["message"] == (
        "Invalid request: body: reference cannot be null: leave it out to keep it as it is"
    )
    contact = await api.patch(f"/v1/cases/{case['id']}", json={"contact_id": 999999})
    assert contact.json()["message"] == "contact_id 999999 does not exist in this tenant."


async def test_delete_and_audit(app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx) -> None:
    contact_id = await new_contact(api)
    case = await open_case(api, reference="D-1", contact_id=contact_id)
    await api.patch(f"/v1/cases/{case['id']}", json={"status": "closed"})
    assert (await api.delete(f"/v1/cases/{case['id']}")).status_code == 204
    gone = await api.get(f"/v1/cases/{case['id']}")
    assert gone.status_code == 404
    assert gone.json()["message"] == f"No case {case['id']} in this tenant."
    assert (await api.delete(f"/v1/cases/{case['id']}")).status_code == 404
    async with app.state.sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.tenant_id == tenant.id, AuditEvent.subject_type == "case")
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [(e.action, e.contact_id) for e in events] == [
        ("create", contact_id),
        ("update", contact_id),
        ("delete", contact_id),
    ]
