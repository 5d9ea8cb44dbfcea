"""Notices over HTTP: a period that makes sense, and which ones are active now."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.models import AuditEvent
from tests.conftest import TenantCtx

# Lines are unique across tenants, and every test's tenant shares one database.
_line_numbers = itertools.count(3_300_000)


def at(hours: float) -> str:
    """An ISO time `hours` from now, with an offset."""
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def publish(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """Create a notice and return its body."""
    response = await api.post("/v1/notices", json={"title": "Notice", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_publish_with_defaults_and_for_a_line(api: httpx.AsyncClient) -> None:
    before = datetime.now(UTC)
    notice = await publish(api, title="New opening hours")
    assert notice | {"id": 0, "starts_at": ""} == {
        "id": 0,
        "title": "New opening hours",
        "body": "",
        "severity": "info",
        "line_id": None,
        "tag": None,
        "starts_at": "",
        "ends_at": None,
        "active": True,
        "sensitive": False,
    }
    assert datetime.fromisoformat(notice["starts_at"]) >= before - timedelta(seconds=1)
    number = f"033{next(_line_numbers)}"
    line = (await api.post("/v1/lines", json={"number": number, "label": "Main"})).json()
    roadworks = await publish(
        api,
        title="Roadworks",
        body="Use the back entrance",
        severity="warning",
        line_id=line["id"],
        tag="amersfoort",
        starts_at="2026-01-01T00:00:00+01:00",
        ends_at="2099-01-01T00:00:00+01:00",
    )
    assert roadworks["line_id"] == line["id"] and roadworks["tag"] == "amersfoort"
    assert roadworks["starts_at"] == "2025-12-31T23:00:00Z"
    assert (await api.get(f"/v1/notices/{roadworks['id']}")).json() == roadworks


async def test_bad_notices_are_refused(api: httpx.AsyncClient) -> None:
    backwards = await api.post(
        "/v1/notices",
        json={
            "title": "x",
            "starts_at": "2026-12-01T10:00:00+01:00",
            "ends_at": "2026-12-01T09:00:00+01:00",
        },
    )
    assert backwards.status_code == 422
    assert backwards.json() == {
        "code": "invalid_input",
        "message": "ends_at (2026-12-01T08:00:00+00:00) must be after starts_at "
        "(2026-12-01T09:00:00+00:00): move ends_at later, or leave it out for a notice "
        "without an end.",
        "fields": [],
    }
    past = await api.post("/v1/notices", json={"title": "x", "ends_at": at(-1)})
    assert past.status_code == 422 and past.json()["message"].startswith("ends_at (")
    line = await api.post("/v1/notices", json={"title": "x", "line_id": 999999})
    assert line.status_code == 422
    assert line.json()["message"] == "line_id 999999 does not exist in this tenant."
    naive = await api.post("/v1/notices", json={"title": "x", "starts_at": "2026-12-01T10:00:00"})
    assert naive.json()["fields"] == [
        {"field": "starts_at", "message": "give a timezone, e.g. 2026-11-25T10:00:00+01:00"}
    ]
    for body, field in (
        ({"title": ""}, "title"),
        ({"title": "x", "severity": "loud"}, "severity"),
        ({"body": "no title"}, "title"),
    ):
        response = await api.post("/v1/notices", json=body)
        assert response.status_code == 422
        assert response.json()["fields"][0]["field"] == field
    assert (await api.get("/v1/notices")).json() == []


async def test_active_filter(api: httpx.AsyncClient) -> None:
    current = await publish(api, title="current", starts_at=at(-2), ends_at=at(2))
    open_ended = await publish(api, title="open-ended", starts_at=at(-5))
    future = await publish(api, title="future", starts_at=at(3))
    past = await publish(api, title="past", starts_at=at(-10), ends_at=at(-4))

    async def titles(**params: Any) -> list[str]:
        response = await api.get("/v1/notices", params=params)
        assert response.status_code == 200, response.text
        return [n["title"] for n in response.json()]

    assert await titles() == ["future", "current", "open-ended", "past"]
    assert await titles(active="true") == ["current", "open-ended"]
    assert await titles(active="false") == ["future", "past"]
    assert await titles(limit=1, offset=2) == ["open-ended"]
    assert (current["active"], open_ended["active"], future["active"], past["active"]) == (
        True,
        True,
        False,
        False,
    )


async def test_update_checks_the_resulting_period(api: httpx.AsyncClient) -> None:
    notice = await publish(api, starts_at=at(-2), ends_at=at(2))
    url = f"/v1/notices/{notice['id']}"
    moved = await api.patch(url, json={"starts_at": at(5)})
    assert moved.status_code == 422 and moved.json()["message"].startswith("ends_at (")
    assert (await api.get(url)).json() == notice
    changed = await api.patch(url, json={"ends_at": None, "severity": "critical", "title": "New"})
    assert changed.status_code == 200
    assert (changed.json()["ends_at"], changed.json()["severity"]) == (None, "critical")
    null = await api.patch(url, json={"starts_at": None})
    assert null.json()["message"] == (
        "Invalid request: body: starts_at cannot be null: leave it out to keep it as it is"
    )
    line = await api.patch(url, json={"line_id": 999999})
    assert line.json()["message"] == "line_id 999999 does not exist in this tenant."
    missing = await api.patch("/v1/notices/999999", json={"title": "x"})
    assert missing.status_code == 404
    assert missing.json()["message"] == "No notice 999999 in this tenant."


async def test_delete_and_audit(app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx) -> None:
    notice = await publish(api)
    await api.patch(f"/v1/notices/{notice['id']}", json={"body": "more"})
    assert (await api.delete(f"/v1/notices/{notice['id']}")).status_code == 204
    assert (await api.get(f"/v1/notices/{notice['id']}")).status_code == 404
    async with app.state.sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.tenant_id == tenant.id, AuditEvent.subject_type == "notice")
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [(e.action, e.subject_id) for e in events] == [
        ("create", str(notice["id"])),
        ("update", str(notice["id"])),
        ("delete", str(notice["id"])),
    ]
