"""Callback requests over HTTP: promised to a contact or a number, overdue ones first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.models import AuditEvent
from tests.conftest import TenantCtx


def at(hours: float) -> str:
    """An ISO time `hours` from now, with an offset."""
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def new_contact(api: httpx.AsyncClient, *numbers: str) -> int:
    """A contact's id."""
    body = {"display_name": "Anna", "numbers": [{"number": n} for n in numbers]}
    response = await api.post("/v1/contacts", json=body)
    assert response.status_code == 201
    contact_id: int = response.json()["id"]
    return contact_id


async def promise(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """Create a callback and return its body."""
    response = await api.post("/v1/callbacks", json={"reason": "call back", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_promise_to_a_contact_or_a_number(api: httpx.AsyncClient) -> None:
    contact_id = await new_contact(api)
    agent = (await api.post("/v1/agents", json={"name": "Sanne"})).json()
    to_contact = await promise(
        api,
        contact_id=contact_id,
        reason="Referral status",
        due_by="2030-01-02T09:00:00+01:00",
        assignee_agent_id=agent["id"],
    )
    assert to_contact | {"id": 0, "requested_at": ""} == {
        "id": 0,
        "contact_id": contact_id,
        "number_e164": None,
        "reason": "Referral status",
        "requested_at": "",
        "due_by": "2030-01-02T08:00:00Z",
        "status": "open",
        "attempts": 0,
        "missed_calls": 1,
        "assignee_agent_id": agent["id"],
        "call_id": None,
        "closed_at": None,
        "overdue": False,
        "escalated_at": None,
    }
    to_number = await promise(api, number="06-12345678")
    assert (to_number["number_e164"], to_number["contact_id"]) == ("+31612345678", None)
    fetched = await api.get(f"/v1/callbacks/{to_number['id']}")
    assert fetched.json() == to_number


async def test_bad_promises_are_refused(api: httpx.AsyncClient) -> None:
    nobody = await api.post("/v1/callbacks", json={"reason": "who?"})
    assert nobody.status_code == 422
    assert nobody.json()["message"] == (
        "Invalid request: body: give contact_id or number: whom should be called back?"
    )
    cases = [
        (
            {"number": "restricted"},
            "number: 'restricted' is a withheld number (anonymous, "
            "private, unknown), not one we can store: give the caller's real number.",
        ),
        (
            {"number": "12ab"},
            "number: cannot read '12ab' as a phone number: give it as +31612345678 or 0612345678.",
        ),
        ({"contact_id": 999999}, "contact_id 999999 does not exist in this tenant."),
        (
            {"number": "0612345678", "assignee_agent_id": 999999},
            "assignee_agent_id 999999 does not exist in this tenant.",
        ),
    ]
    for body, message in cases:
        response = await api.post("/v1/callbacks", json={"reason": "x", **body})
        assert response.status_code == 422
        assert response.json()["message"] == message
    naive = await api.post(
        "/v1/callbacks", json={"reason": "x", "number": "0612345678", "due_by": "2030-01-01T10:00"}
    )
    assert naive.status_code == 422
    assert naive.json()["fields"] == [
        {"field": "due_by", "message": "give a timezone, e.g. 2026-11-25T10:00:00+01:00"}
    ]
    assert (await api.get("/v1/callbacks", params={"status": "all"})).json() == []


async def test_list_puts_overdue_first_then_by_due_time(api: httpx.AsyncClient) -> None:
    later = await promise(api, number="0612345670", due_by=at(5))
    # Without a due time it gets the tenant's policy's, which may fall anywhere among the
    # others depending on the hour the test runs: its place is computed, not fixed.
    by_policy = await promise(api, number="0612345671")
    assert by_policy["due_by"] is not None
    overdue_recent = await promise(api, number="0612345672", due_by=at(-1))
    soon = await promise(api, number="0612345673", due_by=at(1))
    overdue_old = await promise(api, number="0612345674", due_by=at(-10))
    listed = (await api.get("/v1/callbacks")).json()
    made = [later, by_policy, overdue_recent, soon, overdue_old]
    expected = sorted(made, key=lambda c: (datetime.fromisoformat(c["due_by"]), c["id"]))
    assert [c["id"] for c in listed] == [c["id"] for c in expected]
    assert [c["id"] for c in listed][:2] == [overdue_old["id"], overdue_recent["id"]]
    assert [c["overdue"] for c in listed][:2] == [True, True]
    assert not any(c["overdue"] for c in listed[2:])
    page = (await api.get("/v1/callbacks", params={"limit": 2, "offset": 1})).json()
    assert [c["id"] for c in page] == [c["id"] for c in expected[1:3]]


async def test_filters_by_status_contact_and_number(api: httpx.AsyncClient) -> None:
    contact_id = await new_contact(api, "0612345678")
    via_contact = await promise(api, contact_id=contact_id)
    bare = await promise(api, number="+31 6 1234 5678")
    other = await promise(api, number="0201234567")
    done = await promise(api, number="0201234567")
    await api.patch(f"/v1/callbacks/{done['id']}", json={"status": "done"})

    async def ids(**params: Any) -> list[int]:
        response = await api.get("/v1/callbacks", params=params)
        assert response.status_code == 200, response.text
        return sorted(c["id"] for c in response.json())

    assert await ids() == sorted([via_contact["id"], bare["id"], other["id"]])
    assert await ids(status="done") == [done["id"]]
    everything = [via_contact["id"], bare["id"], other["id"], done["id"]]
    assert await ids(status="all") == sorted(everything)
    assert await ids(contact_id=contact_id) == [via_contact["id"]]
    assert await ids(number="0612345678") == sorted([via_contact["id"], bare["id"]])
    assert await ids(number="020 123 4567", status="all") == sorted([other["id"], done["id"]])
    assert (await api.get("/v1/callbacks", params={"status": "pending"})).status_code == 422
    bad = await api.get("/v1/callbacks", params={"number": "anonymous"})
    assert bad.status_code == 422 and bad.json()["message"].startswith("number: 'anonymous'")


async def test_filters_by_assignee_for_an_agents_own_list(api: httpx.AsyncClient) -> None:
    sanne = (await api.post("/v1/agents", json={"name": "Sanne"})).json()["id"]
    bram = (await api.post("/v1/agents", json={"name": "Bram"})).json()["id"]
    mine_late = await promise(api, number="0612345671", assignee_agent_id=sanne, due_by=at(2))
    mine_overdue = await promise(api, number="0612345672", assignee_agent_id=sanne, due_by=at(-3))
    theirs = await promise(api, number="0612345673", assignee_agent_id=bram)
    nobodys = await promise(api, number="0612345674")

    async def ids(**params: Any) -> list[int]:
        response = await api.get("/v1/callbacks", params=params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()]

    assert await ids(assignee_agent_id=sanne) == [mine_overdue["id"], mine_late["id"]]
    assert await ids(assignee_agent_id=bram) == [theirs["id"]]
    assert sorted(await ids()) == sorted(
        [mine_late["id"], mine_overdue["id"], theirs["id"], nobodys["id"]]
    )
    bad = await api.get("/v1/callbacks", params={"assignee_agent_id": "0"})
    assert bad.status_code == 422 and "assignee_agent_id" in bad.json()["message"]


async def test_closing_and_reopening(api: httpx.AsyncClient) -> None:
    callback = await promise(api, number="0612345678", due_by=at(-2))
    assert callback["overdue"] is True
    url = f"/v1/callbacks/{callback['id']}"
    tried = await api.patch(url, json={"attempts": 2, "reason": "second try failed"})
    assert tried.json()["attempts"] == 2 and tried.json()["reason"] == "second try failed"
    assert tried.json()["closed_at"] is None

    done = (await api.patch(url, json={"status": "done"})).json()
    assert done["status"] == "done" and done["closed_at"] is not None
    assert done["overdue"] is False
    assert (await api.get("/v1/callbacks")).json() == []

    reopened = (await api.patch(url, json={"status": "open", "due_by": at(3)})).json()
    assert reopened["status"] == "open" and reopened["closed_at"] is None
    assert reopened["overdue"] is False

    cancelled = (await api.patch(url, json={"status": "cancelled"})).json()
    assert cancelled["closed_at"] is not None
    same = (await api.patch(url, json={"status": "cancelled"})).json()
    assert same["closed_at"] == cancelled["closed_at"]


async def test_bad_changes_are_refused(api: httpx.AsyncClient) -> None:
    callback = await promise(api, number="0612345678")
    url = f"/v1/callbacks/{callback['id']}"
    for body, field in (
        ({"status": "lost"}, "status"),
        ({"attempts": -1}, "attempts"),
        ({"due_by": "2030-01-01T10:00:00"}, "due_by"),
    ):
        response = await api.patch(url, json=body)
        assert response.status_code == 422
        assert response.json()["fields"][0]["field"] == field
    null = await api.patch(url, json={"status": None})
    assert null.json()["message"] == (
        "Invalid request: body: status cannot be null: leave it out to keep it as it is"
    )
    agent = await api.patch(url, json={"assignee_agent_id": 999999})
    assert agent.status_code == 422
    assert agent.json()["message"] == "assignee_agent_id 999999 does not exist in this tenant."
    assert (await api.get(url)).json() == callback
    missing = await api.patch("/v1/callbacks/999999", json={"attempts": 1})
    assert missing.status_code == 404
    assert missing.json()["message"] == "No callback request 999999 in this tenant."


async def test_writes_are_audited_with_masked_numbers(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    callback = await promise(api, number="0612345678")
    await api.patch(f"/v1/callbacks/{callback['id']}", json={"status": "done"})
    async with app.state.sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.tenant_id == tenant.id, AuditEvent.subject_type == "callback")
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [(e.action, e.subject_id, e.number_masked) for e in events] == [
        ("create", str(callback["id"]), "+31 6 **** 5678"),
        ("update", str(callback["id"]), "+31 6 **** 5678"),
    ]
