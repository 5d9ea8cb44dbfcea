"""The directory over HTTP: lines, teams and agents, admin keys only."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.auth.keys import Scope, issue_key
from app.db import session_scope
from app.models import AuditEvent
from tests.conftest import TenantCtx, make_tenant

# Fresh numbers per test keep the line tests independent of each other's rows.
_numbers = itertools.count(2_000_000)


def line_number() -> tuple[str, str]:
    """A fresh Amsterdam number, as dialled and in E.164."""
    digits = next(_numbers)
    return f"020-{digits}", f"+3120{digits}"


async def post(api: httpx.AsyncClient, url: str, **fields: Any) -> dict[str, Any]:
    """POST and return the created body."""
    response = await api.post(url, json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_lines(api: httpx.AsyncClient) -> None:
    team = await post(api, "/v1/teams", name="Front desk")
    dialled, e164 = line_number()
    line = await post(
        api, "/v1/lines", number=dialled, label="General", location="Amsterdam", team_id=team["id"]
    )
    assert line | {"id": 0} == {
        "id": 0,
        "number_e164": e164,
        "display": f"020 {e164[5:8]} {e164[8:]}",
        "label": "General",
        "location": "Amsterdam",
        "team_id": team["id"],
        "callback_policy": None,  # the tenant's applies
    }
    assert (await api.get(f"/v1/lines/{line['id']}")).json() == line

    again = await api.post("/v1/lines", json={"number": e164, "label": "Again"})
    assert again.status_code == 409
    assert again.json()["message"] == f"Line {e164} is already configured (line {line['id']})."

    other_dialled, other_e164 = line_number()
    other = await post(api, "/v1/lines", number=other_dialled, label="Other")
    moved = await api.patch(f"/v1/lines/{other['id']}", json={"number": dialled})
    assert moved.status_code == 409
    changed = await api.patch(
        f"/v1/lines/{other['id']}", json={"label": "Renamed", "team_id": team["id"]}
    )
    assert changed.json()["label"] == "Renamed" and changed.json()["number_e164"] == other_e164
    assert [x["id"] for x in (await api.get("/v1/lines")).json()] == [line["id"], other["id"]]

    assert (await api.delete(f"/v1/lines/{other['id']}")).status_code == 204
    gone = await api.get(f"/v1/lines/{other['id']}")
    assert gone.status_code == 404
    assert gone.json()["message"] == f"No line {other['id']} in this tenant."


async def test_a_number_is_unique_per_tenant_and_another_tenants_line_is_never_revealed(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    dialled, e164 = line_number()
    ours = await post(api, "/v1/lines", number=dialled, label="Ours")
    again = await api.post("/v1/lines", json={"number": e164, "label": "Twice"})
    assert again.status_code == 409
    assert again.json()["message"] == f"Line {e164} is already configured (line {ours['id']})."

    other = await make_tenant(app)
    theirs = await client.post(
        "/v1/lines", json={"number": e164, "label": "Theirs"}, headers=other.headers
    )
    # Answered exactly as for a number nobody has: whether another tenant has it is not
    # this tenant's business, and the number's owner is never locked out by a squatter.
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["number_e164"] == e164
    _, free = line_number()
    moved = await client.patch(
        f"/v1/lines/{theirs.json()['id']}", json={"number": free}, headers=other.headers
    )
    assert moved.status_code == 200
    back = await client.patch(
        f"/v1/lines/{theirs.json()['id']}", json={"number": e164}, headers=other.headers
    )
    assert back.status_code == 200, back.text
    assert [x["label"] for x in (await api.get("/v1/lines")).json()] == ["Ours"]


async def test_bad_lines_are_refused(api: httpx.AsyncClient) -> None:
    cases = [
        (
            {"number": "12ab", "label": "x"},
            "number: cannot read '12ab' as a phone number: give it as +31612345678 or 0612345678.",
        ),
        (
            {"number": "unknown", "label": "x"},
            "number: 'unknown' is a withheld number (anonymous, private, unknown), "
            "not one we can store: give the caller's real number.",
        ),
        (
            {"number": line_number()[0], "label": "x", "team_id": 999999},
            "team_id 999999 does not exist in this tenant.",
        ),
    ]
    for body, message in cases:
        response = await api.post("/v1/lines", json=body)
        assert response.status_code == 422
        assert response.json()["message"] == message
    no_label = await api.post("/v1/lines", json={"number": line_number()[0]})
    assert no_label.json()["fields"] == [{"field": "label", "message": "Field required"}]
    assert (await api.get("/v1/lines")).json() == []


async def test_teams(api: httpx.AsyncClient) -> None:
    team = await post(api, "/v1/teams", name="Front desk")
    assert team | {"id": 0} == {"id": 0, "name": "Front desk", "agent_ids": []}
    again = await api.post("/v1/teams", json={"name": "Front desk"})
    assert again.status_code == 409
    assert again.json()["message"] == f"Team 'Front desk' already exists (team {team['id']})."
    other = await post(api, "/v1/teams", name="Back office")
    clash = await api.patch(f"/v1/teams/{other['id']}", json={"name": "Front desk"})
    assert clash.status_code == 409
    renamed = await api.patch(f"/v1/teams/{other['id']}", json={"name": "Care"})
    assert renamed.json()["name"] == "Care"
    assert [t["name"] for t in (await api.get("/v1/teams")).json()] == ["Care", "Front desk"]
    assert (await api.delete(f"/v1/teams/{other['id']}")).status_code == 204
    missing = await api.get(f"/v1/teams/{other['id']}")
    assert missing.json()["message"] == f"No team {other['id']} in this tenant."


async def test_agents_and_their_teams(api: httpx.AsyncClient) -> None:
    desk = await post(api, "/v1/teams", name="Desk")
    care = await post(api, "/v1/teams", name="Care")
    sanne = await post(
        api,
        "/v1/agents",
        name="Sanne",
        email="sanne@example.org",
        extension="201",
        sip_uri="sip:201@pbx.example",
        language="en-GB",
        team_ids=[care["id"], desk["id"]],
    )
    assert sanne | {"id": 0} == {
        "id": 0,
        "name": "Sanne",
        "email": "sanne@example.org",
        "extension": "201",
        "sip_uri": "sip:201@pbx.example",
        "language": "en-GB",
        "active": True,
        "role": "agent",
        "team_ids": sorted([desk["id"], care["id"]]),
    }
    assert (await api.get(f"/v1/teams/{desk['id']}")).json()["agent_ids"] == [sanne["id"]]

    clash = await api.post("/v1/agents", json={"name": "Piet", "extension": "201"})
    assert clash.status_code == 409
    assert clash.json()["message"] == f"Extension 201 is already used by agent {sanne['id']}."
    unknown = await api.post("/v1/agents", json={"name": "Piet", "team_ids": [desk["id"], 999999]})
    assert unknown.status_code == 422
    assert unknown.json()["message"] == "team_ids: team 999999 does not exist in this tenant."

    piet = await post(api, "/v1/agents", name="Piet", extension="202", team_ids=[desk["id"]])
    changed = await api.patch(
        f"/v1/agents/{sanne['id']}", json={"team_ids": [care["id"]], "active": False}
    )
    assert changed.status_code == 200
    assert (changed.json()["team_ids"], changed.json()["active"]) == ([care["id"]], False)
    taken = await api.patch(f"/v1/agents/{piet['id']}", json={"extension": "201"})
    assert taken.status_code == 409
    members = await api.get("/v1/agents", params={"team_id": desk["id"]})
    assert [a["name"] for a in members.json()] == ["Piet"]
    assert [a["name"] for a in (await api.get("/v1/agents")).json()] == ["Piet", "Sanne"]

    assert (await api.delete(f"/v1/teams/{care['id']}")).status_code == 204
    assert (await api.get(f"/v1/agents/{sanne['id']}")).json()["team_ids"] == []
    assert (await api.delete(f"/v1/agents/{piet['id']}")).status_code == 204
    assert (await api.get(f"/v1/teams/{desk['id']}")).json()["agent_ids"] == []
    null = await api.patch(f"/v1/agents/{sanne['id']}", json={"team_ids": None})
    assert null.json()["message"] == (
        "Invalid request: body: team_ids cannot be null: leave it out to keep it as it is"
    )
    language = await api.post("/v1/agents", json={"name": "X", "language": "nl_NL"})
    assert language.status_code == 422 and language.json()["fields"][0]["field"] == "language"


async def test_directory_needs_an_admin_key(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    async for session in session_scope(app.state.sessionmaker):
        _row, key = await issue_key(
            session,
            tenant_id=tenant.id,
            name="writer",
            scopes=[Scope.LOOKUP_READ, Scope.CONTACTS_WRITE],
        )
    headers = {"Authorization": f"Bearer {key}"}
    for method, url in (("GET", "/v1/lines"), ("POST", "/v1/teams"), ("GET", "/v1/agents")):
        response = await client.request(method, url, headers=headers, json={"name": "x"})
        assert response.status_code == 403
        assert response.json()["message"] == "This key lacks the `admin` scope needed here."


async def test_directory_writes_are_audited(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    team = await post(api, "/v1/teams", name="Desk")
    agent = await post(api, "/v1/agents", name="Sanne", team_ids=[team["id"]])
    line = await post(api, "/v1/lines", number=line_number()[0], label="Main")
    await api.delete(f"/v1/agents/{agent['id']}")
    async with app.state.sessionmaker() as session:
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.tenant_id == tenant.id).order_by(AuditEvent.id)
            )
        ).all()
    assert [(e.action, e.subject_type, e.subject_id) for e in events] == [
        ("create", "team", str(team["id"])),
        ("create", "agent", str(agent["id"])),
        ("create", "line", str(line["id"])),
        ("delete", "agent", str(agent["id"])),
    ]
