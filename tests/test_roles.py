"""Roles (app/auth/roles.py): role `agent` gets no contact notes and no sensitive notice, in
the stream, on cards, in the contacts and notices API, and is told what was left out
(`masked`); supervisors and admins see everything; a role change reaches the next pop."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from app.models import utcnow
from tests.conftest import TenantCtx
from tests.support.hot_callers import ADA, LINE, Callers, seed
from tests.test_hot_path import SECRET, _post

Json = dict[str, Any]


async def _setup(app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx) -> Callers:
    callers = await seed(app, tenant.id, utcnow())
    assert (await api.put("/v1/providers/generic", json={"secret": SECRET})).status_code == 200
    # Youssef supervises; Sanne is at the front desk (the default role).
    changed = await api.patch(f"/v1/agents/{callers.youssef}", json={"role": "supervisor"})
    assert changed.status_code == 200 and changed.json()["role"] == "supervisor"
    assert (await api.get(f"/v1/agents/{callers.sanne}")).json()["role"] == "agent"
    return callers


async def _delivered(app: FastAPI, tenant_id: int, agent_id: int) -> list[Json]:
    """Every pop the agent's stream was given (the broker's log, as a reconnect replays it
    and as the live frames carry it: the same bytes)."""
    entries, _complete = await app.state.hub.broker.replay(tenant_id, agent_id, 0)
    return [json.loads(message)["pop"] for _seq, message in entries]


def _notice_titles(card: Json) -> list[str]:
    return sorted(notice["title"] for notice in card["notices"])


async def _ring(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    await _post(client, tenant.slug, call_id=uuid.uuid4().hex, event="ringing")


async def test_the_stream_masks_per_role_and_a_role_change_applies_to_the_next_pop(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    callers = await _setup(app, api, tenant)
    await _ring(client, tenant)
    [sanne_pop] = await _delivered(app, tenant.id, callers.sanne)
    [youssef_pop] = await _delivered(app, tenant.id, callers.youssef)
    assert sanne_pop["pop_id"] == youssef_pop["pop_id"]  # one pop, two views of it

    front_desk, supervisor = sanne_pop["card"], youssef_pop["card"]
    assert front_desk["display_name"] == supervisor["display_name"] == "Ada de Vries"
    assert front_desk["notes"] is None
    assert front_desk["masked"] == ["notes", "notices"]
    assert "Zorg" not in _notice_titles(front_desk)
    assert all(not notice["sensitive"] for notice in front_desk["notices"])
    assert supervisor["notes"] == "Slechthorend: spreek langzaam."
    assert supervisor["masked"] == []
    assert _notice_titles(supervisor) == sorted([*_notice_titles(front_desk), "Zorg"])
    assert [n["sensitive"] for n in supervisor["notices"] if n["title"] == "Zorg"] == [True]
    # Everything but the masked fields is the same for both.
    same = {k: v for k, v in front_desk.items() if k not in ("notes", "notices", "masked")}
    assert same == {k: v for k, v in supervisor.items() if k not in ("notes", "notices", "masked")}

    # Sanne is made a supervisor, Youssef an agent: their next pops follow, the earlier stay.
    for agent_id, role in ((callers.sanne, "supervisor"), (callers.youssef, "agent")):
        changed = await api.patch(f"/v1/agents/{agent_id}", json={"role": role})
        assert changed.status_code == 200, changed.text
    await _ring(client, tenant)
    sanne_pops = await _delivered(app, tenant.id, callers.sanne)
    youssef_pops = await _delivered(app, tenant.id, callers.youssef)
    assert sanne_pops[0]["card"]["masked"] == ["notes", "notices"]
    assert sanne_pops[1]["card"]["notes"] == "Slechthorend: spreek langzaam."
    assert sanne_pops[1]["card"]["masked"] == []
    assert youssef_pops[1]["card"]["notes"] is None
    assert youssef_pops[1]["card"]["masked"] == ["notes", "notices"]


async def test_a_pop_with_nothing_to_mask_is_one_body_for_every_role(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    callers = await _setup(app, api, tenant)
    # A caller nobody knows: no notes, no tag (so no sensitive notice) on the card.
    await _post(client, tenant.slug, call_id=uuid.uuid4().hex, event="ringing", **{
        "from": "+31687650000",
    })  # fmt: skip
    [sanne_pop] = await _delivered(app, tenant.id, callers.sanne)
    [youssef_pop] = await _delivered(app, tenant.id, callers.youssef)
    assert sanne_pop == youssef_pop
    assert sanne_pop["card"]["masked"] == []


async def _credentials(api: httpx.AsyncClient, agent_id: int) -> dict[str, Json]:
    """Headers of: Sanne's widget token (role agent), a key of role agent, a key of role
    supervisor."""
    token = await api.post(f"/v1/agents/{agent_id}/tokens", json={"label": "desk"})
    assert token.status_code == 201, token.text
    headers = {"agent token": {"Authorization": f"Bearer {token.json()['token']}"}}
    for role in ("agent", "supervisor"):
        scopes = ["lookup:read", "contacts:write"]
        body = {"name": f"desk-{role}", "scopes": scopes, "role": role}
        issued = await api.post("/v1/api-keys", json=body)
        assert issued.status_code == 201, issued.text
        assert issued.json()["role"] == role
        headers[f"{role} key"] = {"Authorization": f"Bearer {issued.json()['key']}"}
    return headers


async def test_the_api_masks_for_role_agent_and_not_for_supervisors(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    callers = await _setup(app, api, tenant)
    notices = (await api.get("/v1/notices")).json()
    [zorg] = [n["id"] for n in notices if n["title"] == "Zorg"]
    for name, headers in (await _credentials(api, callers.sanne)).items():
        sees_all = name == "supervisor key"

        async def get(path: str, headers: Json = headers, **params: Any) -> httpx.Response:
            return await api.get(path, params=params, headers=headers)

        me = (await get("/v1/me")).json()
        assert me["role"] == ("supervisor" if sees_all else "agent"), name

        contact = (await get(f"/v1/contacts/{callers.ada}")).json()
        [listed] = (await get("/v1/contacts", q="Ada")).json()
        for view in (contact, listed):
            if sees_all:
                assert view["notes"] == "Slechthorend: spreek langzaam." and view["masked"] == []
            else:
                assert view["notes"] is None and view["masked"] == ["notes"], name

        lookup = (await get("/v1/lookup", number=ADA, called=LINE)).json()
        card = (await get(f"/v1/cards/{callers.ada}", number=ADA, called=LINE)).json()
        for view in (lookup, card):
            if sees_all:
                assert view["notes"] and "Zorg" in _notice_titles(view) and view["masked"] == []
            else:
                assert view["notes"] is None and "Zorg" not in _notice_titles(view), name
                assert view["masked"] == ["notes", "notices"], name
                assert _notice_titles(view), "the other notices stay"

        titles = [n["title"] for n in (await get("/v1/notices")).json()]
        assert ("Zorg" in titles) is sees_all, name
        assert (await get(f"/v1/notices/{zorg}")).status_code == (200 if sees_all else 404)
        assert (await get("/v1/stats/fcr")).status_code == (200 if sees_all else 403), name

        if not sees_all:
            # What it cannot read it may not change or create.
            patch = await api.patch(
                f"/v1/contacts/{callers.ada}", json={"notes": "weg"}, headers=headers
            )
            assert patch.status_code == 403 and "notes" in patch.json()["message"]
            secret = await api.post(
                "/v1/notices", json={"title": "x", "sensitive": True}, headers=headers
            )
            assert secret.status_code == 403
            hide = await api.patch(f"/v1/notices/{zorg}", json={"body": "x"}, headers=headers)
            assert hide.status_code == 404
            # Other fields it may change, and the answer stays masked.
            renamed = await api.patch(
                f"/v1/contacts/{callers.ada}", json={"household": "De Vries"}, headers=headers
            )
            assert renamed.status_code == 200 and renamed.json()["notes"] is None
    # Nothing was lost on the way.
    assert (await api.get(f"/v1/contacts/{callers.ada}")).json()["notes"].startswith("Slecht")


async def test_an_agent_reloading_its_calls_gets_its_roles_view(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    callers = await _setup(app, api, tenant)
    await _ring(client, tenant)
    headers = (await _credentials(api, callers.sanne))["agent token"]
    [pop] = (await api.get("/v1/me/calls", headers=headers)).json()
    assert pop["card"]["notes"] is None and pop["card"]["masked"] == ["notes", "notices"]


async def test_key_roles_default_and_admin_scope(api: httpx.AsyncClient) -> None:
    plain = await api.post("/v1/api-keys", json={"name": "crm", "scopes": ["lookup:read"]})
    assert plain.status_code == 201 and plain.json()["role"] == "agent"
    admin = await api.post("/v1/api-keys", json={"name": "ops", "scopes": ["admin"]})
    assert admin.status_code == 201 and admin.json()["role"] == "admin"
    listed = {k["name"]: k["role"] for k in (await api.get("/v1/api-keys")).json()}
    assert listed == {"test-admin": "admin", "crm": "agent", "ops": "admin"}
    # An admin-scoped key could issue itself any role: it is admin or nothing.
    clash = await api.post("/v1/api-keys", json={"name": "x", "scopes": ["admin"], "role": "agent"})
    assert clash.status_code == 422
    assert clash.json()["fields"][0]["field"] == "role"
    assert "admin" in clash.json()["message"]
    unknown = await api.post(
        "/v1/api-keys", json={"name": "x", "scopes": ["lookup:read"], "role": "boss"}
    )
    assert unknown.status_code == 422
    bad_agent = await api.post("/v1/agents", json={"name": "Piet", "role": "boss"})
    assert bad_agent.status_code == 422
    null_role = await api.post("/v1/agents", json={"name": "Piet"})
    agent_id = null_role.json()["id"]
    assert (await api.patch(f"/v1/agents/{agent_id}", json={"role": None})).status_code == 422
