"""Interactions over HTTP: recording contact moments and reading a contact's history."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.models import AuditEvent
from tests.conftest import TenantCtx


async def new_contact(api: httpx.AsyncClient, name: str = "Anna") -> int:
    """A contact's id."""
    response = await api.post("/v1/contacts", json={"display_name": name})
    assert response.status_code == 201
    contact_id: int = response.json()["id"]
    return contact_id


async def record(api: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    """POST an interaction."""
    return await api.post("/v1/interactions", json=fields)


async def test_record_with_defaults(api: httpx.AsyncClient) -> None:
    contact_id = await new_contact(api)
    response = await record(api, contact_id=contact_id)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body | {"id": 0, "occurred_at": ""} == {
        "id": 0,
        "contact_id": contact_id,
        "occurred_at": "",
        "channel": "phone",
        "direction": "inbound",
        "summary": "",
        "outcome": None,
        "agent_id": None,
        "call_id": None,
        "satisfaction": None,
        "helped": None,
        "survey_score": None,
    }
    assert body["occurred_at"].endswith("Z") or body["occurred_at"].endswith("+00:00")


async def test_history_is_newest_first_with_paging(api: httpx.AsyncClient) -> None:
    contact_id = await new_contact(api)
    other_id = await new_contact(api, "Bert")
    agent = await api.post("/v1/agents", json={"name": "Sanne", "extension": "201"})
    for day, summary in ((3, "middle"), (1, "oldest"), (5, "newest")):
        response = await record(
            api,
            contact_id=contact_id,
            occurred_at=f"2026-11-0{day}T10:00:00+01:00",
            summary=summary,
            channel="email",
            direction="outbound",
            outcome="answered",
            agent_id=agent.json()["id"],
            satisfaction=4,
        )
        assert response.status_code == 201, response.text
    await record(api, contact_id=other_id, summary="not Anna's")

    url = f"/v1/contacts/{contact_id}/interactions"
    history = (await api.get(url)).json()
    assert [i["summary"] for i in history] == ["newest", "middle", "oldest"]
    assert history[0]["occurred_at"] == "2026-11-05T09:00:00Z"
    assert history[0]["agent_id"] == agent.json()["id"] and history[0]["satisfaction"] == 4
    page = (await api.get(url, params={"limit": 1, "offset": 1})).json()
    assert [i["summary"] for i in page] == ["middle"]


async def test_history_of_unknown_contact_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/contacts/999999/interactions")
    assert response.status_code == 404
    assert response.json()["message"] == "No contact 999999 in this tenant."


async def test_references_must_exist_in_the_tenant(api: httpx.AsyncClient) -> None:
    contact_id = await new_contact(api)
    cases = [
        ({"contact_id": 999999}, "contact_id 999999 does not exist in this tenant."),
        (
            {"contact_id": contact_id, "agent_id": 999999},
            "agent_id 999999 does not exist in this tenant.",
        ),
        (
            {"contact_id": contact_id, "call_id": 999999},
            "call_id 999999 does not exist in this tenant.",
        ),
    ]
    for body, message in cases:
        response = await record(api, **body)
        assert response.status_code == 422
        assert response.json() == {"code": "invalid_input", "message": message, "fields": []}
    assert (await api.get(f"/v1/contacts/{contact_id}/interactions")).json() == []


async def test_invalid_fields_are_refused(api: httpx.AsyncClient) -> None:
    contact_id = await new_contact(api)
    naive = await record(api, contact_id=contact_id, occurred_at="2026-11-25T10:00:00")
    assert naive.status_code == 422
    assert naive.json()["fields"] == [
        {"field": "occurred_at", "message": "give a timezone, e.g. 2026-11-25T10:00:00+01:00"}
    ]
    assert naive.json()["message"] == (
        "Invalid request: occurred_at: give a timezone, e.g. 2026-11-25T10:00:00+01:00"
    )
    for field, value in (
        ("satisfaction", 6),
        ("satisfaction", 0),
        ("channel", "fax"),
        ("direction", "sideways"),
        ("occurred_at", "yesterday"),
    ):
        response = await record(api, contact_id=contact_id, **{field: value})
        assert response.status_code == 422, (field, value)
        assert response.json()["fields"][0]["field"] == field
    missing = await record(api, summary="whose?")
    assert missing.json()["fields"] == [{"field": "contact_id", "message": "Field required"}]
    assert (await api.get(f"/v1/contacts/{contact_id}/interactions")).json() == []


async def test_recording_is_audited(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    contact_id = await new_contact(api)
    interaction = (await record(api, contact_id=contact_id)).json()
    async with app.state.sessionmaker() as session:
        event = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.tenant_id == tenant.id, AuditEvent.subject_type == "interaction"
            )
        )
    assert event is not None
    assert (event.action, event.subject_id, event.contact_id) == (
        "create",
        str(interaction["id"]),
        contact_id,
    )
