"""An admin issues, lists and revokes API keys; a revocation (of a key, an agent token or
an agent) takes effect at once in the process that made it, cached or not."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.db import session_scope
from app.models import AuditEvent
from tests.conftest import TenantCtx, make_tenant


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_admin_issues_lists_and_revokes_keys(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    issued = await api.post("/v1/api-keys", json={"name": "crm", "scopes": ["lookup:read"]})
    assert issued.status_code == 201, issued.text
    crm = issued.json()
    key = crm["key"]
    assert key.startswith(f"sg_{crm['prefix']}_") and crm["scopes"] == ["lookup:read"]
    assert crm["revoked_at"] is None
    assert (await client.get("/v1/me", headers=bearer(key))).json()["name"] == "crm"  # cached

    listed = await api.get("/v1/api-keys")
    assert listed.status_code == 200
    assert [(k["name"], k["scopes"]) for k in listed.json()] == [
        ("test-admin", ["admin"]), ("crm", ["lookup:read"]),
    ]  # fmt: skip
    assert set(listed.json()[1]) == {
        "id", "name", "prefix", "scopes", "role", "created_at", "revoked_at",
    }  # fmt: skip
    assert key.split("_", 2)[2] not in listed.text and tenant.admin_key not in listed.text
    refused = await client.get("/v1/api-keys", headers=bearer(key))
    assert refused.status_code == 403 and "admin" in refused.json()["message"]

    revoked = await api.delete(f"/v1/api-keys/{crm['id']}")
    assert revoked.status_code == 204
    after = await client.get("/v1/me", headers=bearer(key))
    assert after.status_code == 401, "a revoked key must not live on in the cache"
    assert [k["revoked_at"] is not None for k in (await api.get("/v1/api-keys")).json()] == [
        False, True,
    ]  # fmt: skip
    assert (await api.delete(f"/v1/api-keys/{crm['id']}")).status_code == 204  # again is fine
    async for session in session_scope(app.state.sessionmaker):
        trail = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.subject_id).where(
                    AuditEvent.tenant_id == tenant.id, AuditEvent.subject_type == "api_key"
                )
            )
        ).all()
    assert {action for action, _ in trail} == {"create", "revoke"}
    assert {subject for _, subject in trail} == {str(crm["id"])}

    other = await make_tenant(app)
    theirs = (await client.get("/v1/api-keys", headers=other.headers)).json()[0]["id"]
    foreign = await api.delete(f"/v1/api-keys/{theirs}")
    assert foreign.status_code == 404
    assert foreign.json()["message"] == f"No API key {theirs} in this tenant: see GET /v1/api-keys."
    assert (await client.get("/v1/me", headers=other.headers)).status_code == 200


async def test_bad_key_requests_are_refused(api: httpx.AsyncClient) -> None:
    cases = [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["superuser"]}, "scopes.0"),
        ({"name": "", "scopes": ["admin"]}, "name"),
        ({"scopes": ["admin"]}, "name"),
    ]
    for body, field in cases:
        response = await api.post("/v1/api-keys", json=body)
        assert response.status_code == 422, body
        assert [f["field"] for f in response.json()["fields"]] == [field], response.text
    assert len((await api.get("/v1/api-keys")).json()) == 1  # only the test's admin key


async def test_revoked_agent_tokens_and_inactive_agents_fail_on_rest_at_once(
    api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    agent = (await api.post("/v1/agents", json={"name": "Sanne", "extension": "201"})).json()
    tokens = f"/v1/agents/{agent['id']}/tokens"
    first = (await api.post(tokens, json={})).json()
    second = (await api.post(tokens, json={})).json()
    for token in (first, second):
        assert (await client.get("/v1/me", headers=bearer(token["token"]))).status_code == 200

    assert (await api.delete(f"{tokens}/{first['token_id']}")).status_code == 204
    assert (await client.get("/v1/me", headers=bearer(first["token"]))).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(second["token"]))).status_code == 200

    off = await api.patch(f"/v1/agents/{agent['id']}", json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await client.get("/v1/me", headers=bearer(second["token"]))).status_code == 401
    assert (await api.patch(f"/v1/agents/{agent['id']}", json={"active": True})).is_success
    assert (await client.get("/v1/me", headers=bearer(second["token"]))).status_code == 200

    assert (await api.delete(f"/v1/agents/{agent['id']}")).status_code == 204
    assert (await client.get("/v1/me", headers=bearer(second["token"]))).status_code == 401
