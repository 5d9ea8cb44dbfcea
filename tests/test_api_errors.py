"""What callers get wrong: keys, scopes, other tenants' ids, malformed requests."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.auth.keys import Scope, issue_key
from app.db import session_scope
from tests.conftest import TenantCtx, make_tenant


async def key_with(app: FastAPI, tenant: TenantCtx, *scopes: Scope) -> dict[str, str]:
    """Headers with a new key of `tenant` carrying only `scopes`."""
    async for session in session_scope(app.state.sessionmaker):
        _row, key = await issue_key(
            session, tenant_id=tenant.id, name="limited", scopes=list(scopes)
        )
    return {"Authorization": f"Bearer {key}"}


async def test_missing_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/contacts")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "code": "unauthorized",
        "message": "Missing API key: send it as `Authorization: Bearer sg_…` "
        "(create one with `stamgast create-api-key`).",
        "fields": [],
    }


async def test_wrong_key_is_401(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    for key in ("sg_00000000_nope", tenant.admin_key[:-2] + "xx", "not-a-key"):
        response = await client.post(
            "/v1/contacts", json={"display_name": "x"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 401
        assert response.json()["message"] == "Unknown or revoked API key."


async def test_read_only_key_cannot_write(
    app: FastAPI, client: httpx.AsyncClient, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    headers = await key_with(app, tenant, Scope.LOOKUP_READ)
    contact = (await api.post("/v1/contacts", json={"display_name": "Anna"})).json()
    assert (await client.get(f"/v1/contacts/{contact['id']}", headers=headers)).status_code == 200
    assert (await client.get("/v1/callbacks", headers=headers)).status_code == 200
    writes = [
        ("POST", "/v1/contacts", {"display_name": "x"}),
        ("PATCH", f"/v1/contacts/{contact['id']}", {"display_name": "x"}),
        ("POST", "/v1/interactions", {"contact_id": contact["id"]}),
        ("POST", "/v1/cases", {"reference": "R-1"}),
        ("POST", "/v1/notices", {"title": "x"}),
    ]
    for method, url, body in writes:
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code == 403, url
        assert response.json() == {
            "code": "forbidden",
            "message": "This key lacks the `contacts:write` scope needed here.",
            "fields": [],
        }
    assert (await api.get(f"/v1/contacts/{contact['id']}")).json()["display_name"] == "Anna"
    assert (await api.get("/v1/cases")).json() == []


async def test_erasure_needs_admin(
    app: FastAPI, client: httpx.AsyncClient, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    headers = await key_with(app, tenant, Scope.LOOKUP_READ, Scope.CONTACTS_WRITE)
    contact = (await api.post("/v1/contacts", json={"display_name": "Anna"})).json()
    response = await client.delete(f"/v1/contacts/{contact['id']}", headers=headers)
    assert response.status_code == 403
    assert response.json()["message"] == "This key lacks the `admin` scope needed here."
    assert (await api.get(f"/v1/contacts/{contact['id']}")).status_code == 200


async def test_other_tenants_ids_are_not_found(
    app: FastAPI, client: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    contact = (
        await api.post(
            "/v1/contacts", json={"display_name": "Anna", "numbers": [{"number": "0612345678"}]}
        )
    ).json()
    number_id = contact["numbers"][0]["id"]
    case = (await api.post("/v1/cases", json={"reference": "ISO-1"})).json()
    callback = (
        await api.post("/v1/callbacks", json={"contact_id": contact["id"], "reason": "x"})
    ).json()
    notice = (await api.post("/v1/notices", json={"title": "x"})).json()
    team = (await api.post("/v1/teams", json={"name": "Desk"})).json()

    other = await make_tenant(app)
    cid = contact["id"]
    not_found = [
        ("GET", f"/v1/contacts/{cid}", None, f"No contact {cid} in this tenant."),
        ("PATCH", f"/v1/contacts/{cid}", {"notes": "x"}, f"No contact {cid} in this tenant."),
        ("DELETE", f"/v1/contacts/{cid}", None, f"No contact {cid} in this tenant."),
        (
            "DELETE",
            f"/v1/contacts/{cid}/numbers/{number_id}",
            None,
            f"No contact {cid} in this tenant.",
        ),
        ("PUT", f"/v1/contacts/{cid}/service-profile", {}, f"No contact {cid} in this tenant."),
        ("GET", f"/v1/contacts/{cid}/interactions", None, f"No contact {cid} in this tenant."),
        ("GET", f"/v1/cases/{case['id']}", None, f"No case {case['id']} in this tenant."),
        (
            "GET",
            "/v1/cases/by-reference/ISO-1",
            None,
            "No case with reference ISO-1 in this tenant.",
        ),
        (
            "PATCH",
            f"/v1/callbacks/{callback['id']}",
            {"attempts": 3},
            f"No callback request {callback['id']} in this tenant.",
        ),
        (
            "DELETE",
            f"/v1/notices/{notice['id']}",
            None,
            f"No notice {notice['id']} in this tenant.",
        ),
        ("GET", f"/v1/teams/{team['id']}", None, f"No team {team['id']} in this tenant."),
    ]
    for method, url, body, message in not_found:
        response = await client.request(method, url, json=body, headers=other.headers)
        assert response.status_code == 404, url
        assert response.json()["message"] == message

    as_reference = await client.post(
        "/v1/interactions", json={"contact_id": cid}, headers=other.headers
    )
    assert as_reference.status_code == 422
    assert as_reference.json()["message"] == f"contact_id {cid} does not exist in this tenant."
    agent = await client.post(
        "/v1/agents", json={"name": "x", "team_ids": [team["id"]]}, headers=other.headers
    )
    assert agent.status_code == 422
    for url in ("/v1/contacts", "/v1/cases", "/v1/notices", "/v1/teams"):
        assert (await client.get(url, headers=other.headers)).json() == [], url
    lookup = await client.get(
        "/v1/contacts", params={"number": "0612345678"}, headers=other.headers
    )
    assert lookup.json() == []

    mine = await api.get(f"/v1/contacts/{cid}")
    assert mine.status_code == 200 and mine.json()["notes"] is None
    assert (await api.get(f"/v1/callbacks/{callback['id']}")).json()["attempts"] == 0


async def test_malformed_requests_are_422_with_fields(api: httpx.AsyncClient) -> None:
    broken = await api.post(
        "/v1/contacts", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json() == {
        "code": "validation_failed",
        "message": "Invalid request: body: not valid JSON at line 1, column 2 (Expecting "
        "property name enclosed in double quotes): the body must be a JSON document, sent "
        "with Content-Type: application/json",
        "fields": [
            {
                "field": "body",
                "message": "not valid JSON at line 1, column 2 (Expecting property name "
                "enclosed in double quotes): the body must be a JSON document, sent with "
                "Content-Type: application/json",
            }
        ],
    }
    unknown = await api.post("/v1/contacts", json={"display_name": "x", "nickname": "y"})
    assert unknown.status_code == 422
    assert unknown.json()["fields"] == [
        {"field": "nickname", "message": "Extra inputs are not permitted"}
    ]
    for url in ("/v1/contacts/abc", "/v1/contacts/0", "/v1/cases/99999999999"):
        response = await api.get(url)
        assert response.status_code == 422, url
        assert response.json()["fields"][0]["field"].endswith("_id")
    paging = await api.get("/v1/contacts", params={"limit": 501})
    assert paging.status_code == 422 and paging.json()["fields"][0]["field"] == "limit"


async def test_openapi_documents_every_route(app: FastAPI, client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    ours = ("contacts", "interactions", "callbacks", "cases", "notices", "lines", "teams", "agents")
    for path, operations in spec["paths"].items():
        if path.split("/")[2:3] not in ([name] for name in ours):
            continue
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            assert operation.get("tags"), (method, path)
            assert {"401", "403", "422"} <= set(operation["responses"]), (method, path)
    kinds = spec["components"]["schemas"]["NumberIn"]["properties"]["kind"]["anyOf"][0]["enum"]
    assert kinds == ["mobile", "landline", "work", "fax"]


async def test_a_body_must_be_sent_as_json(api: httpx.AsyncClient) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = await api.post("/v1/contacts", content=b'{"display_name": "x"}', headers=headers)
        assert response.status_code == 415, content_type
        assert response.json() == {
            "code": "unsupported_media_type",
            "message": "Content-Type must be application/json: every /v1 body is a JSON "
            f"document (got {content_type or 'no Content-Type'}).",
            "fields": [],
        }
    typed = await api.post(
        "/v1/contacts",
        content=b'{"display_name": "x"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert typed.status_code == 201
    assert [c["display_name"] for c in (await api.get("/v1/contacts")).json()] == ["x"]


async def test_deep_nesting_is_refused_before_it_is_stored(api: httpx.AsyncClient) -> None:
    # 500 levels were stored, then failed to serialise: a 500 for a committed row.
    for depth in (40, 500, 100_000):
        nested = "[" * depth + "]" * depth
        body = f'{{"display_name": "x", "service_profile": {{"extra": {{"a": {nested}}}}}}}'
        response = await api.post(
            "/v1/contacts", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, depth
        problem = response.json()["fields"][0]
        assert problem["message"] == (
            "nests deeper than 32 levels of objects and arrays: flatten it"
        )
        assert problem["field"].startswith("service_profile.extra.a") or depth == 100_000
    assert (await api.get("/v1/contacts")).json() == []


async def test_wrong_method_names_the_allowed_ones(api: httpx.AsyncClient) -> None:
    contact = (await api.post("/v1/contacts", json={"display_name": "Anna"})).json()
    for url, allowed in (
        ("/v1/contacts", "GET, POST"),
        (f"/v1/contacts/{contact['id']}", "DELETE, GET, PATCH"),
    ):
        response = await api.put(url, json={})
        assert response.status_code == 405, url
        assert response.headers["allow"] == allowed
        assert response.json() == {
            "code": "method_not_allowed",
            "message": f"PUT {url} is not allowed: this path takes {allowed}.",
            "fields": [],
        }
    unknown = await api.get("/v1/nowhere")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "code": "not_found",
        "message": "No route GET /v1/nowhere: see /docs for the API's routes.",
        "fields": [],
    }


async def test_lookup_of_an_empty_number_says_so(api: httpx.AsyncClient) -> None:
    for empty in ("", "  "):
        response = await api.get("/v1/lookup", params={"number": empty})
        assert response.status_code == 422
        assert response.json()["message"] == (
            "`number` is empty: give the calling number, e.g. number=0612345678 "
            "(for a withheld caller pass number=anonymous)."
        )
    withheld = await api.get("/v1/lookup", params={"number": "anonymous"})
    assert withheld.status_code == 200 and withheld.json()["match"] == "withheld"


NUL = "a\u0000b"
NUL_PROBLEM = "contains a NUL character (\\u0000), which cannot be stored: remove it"


def nul_refused(response: httpx.Response, field: str, problem: str = NUL_PROBLEM) -> None:
    """The response is our 422 naming `field` as holding a NUL character."""
    assert response.status_code == 422, (field, response.text)
    assert response.json() == {
        "code": "validation_failed",
        "message": f"Invalid request: {field}: {problem}",
        "fields": [{"field": field, "message": problem}],
    }


async def test_nul_characters_are_refused_before_the_database(api: httpx.AsyncClient) -> None:
    """On PostgreSQL each of these was a plain-text 500 (text and jsonb cannot hold U+0000)."""
    contact = (await api.post("/v1/contacts", json={"display_name": "Anna"})).json()
    agent = (await api.post("/v1/agents", json={"name": "Sanne"})).json()
    cid = contact["id"]
    bodies = [
        ("POST", "/v1/contacts", {"display_name": NUL}, "display_name"),
        ("POST", "/v1/contacts", {"display_name": "x", "notes": NUL}, "notes"),
        ("POST", "/v1/contacts", {"display_name": "x", "tags": ["ok", NUL]}, "tags.1"),
        (
            "POST",
            "/v1/contacts",
            {"display_name": "x", "numbers": [{"number": "0612345678", "label": NUL}]},
            "numbers.0.label",
        ),
        ("PATCH", f"/v1/contacts/{cid}", {"notes": NUL}, "notes"),
        ("POST", "/v1/interactions", {"contact_id": cid, "summary": NUL}, "summary"),
        ("POST", "/v1/callbacks", {"contact_id": cid, "reason": NUL}, "reason"),
        ("POST", "/v1/cases", {"reference": NUL}, "reference"),
        ("POST", "/v1/notices", {"title": "x", "body": NUL}, "body"),
        ("POST", "/v1/lines", {"number": "0331234567", "label": NUL}, "label"),
        ("POST", "/v1/teams", {"name": NUL}, "name"),
        ("PATCH", f"/v1/agents/{agent['id']}", {"sip_uri": NUL}, "sip_uri"),
        ("POST", f"/v1/agents/{agent['id']}/tokens", {"label": NUL}, "label"),
    ]
    for method, url, body, field in bodies:
        nul_refused(await api.request(method, url, json=body), field)
    profile = {"extra": {NUL: True}}
    key = await api.put(f"/v1/contacts/{cid}/service-profile", json=profile)
    nul_refused(key, "extra", f"a key {NUL_PROBLEM}")
    queries = [
        ("/v1/contacts", "q"),
        ("/v1/contacts", "tag"),
        ("/v1/lookup", "reference"),
        ("/v1/callbacks", "number"),
    ]
    for url, name in queries:
        nul_refused(await api.get(url, params={name: NUL}), name)
    nul_refused(await api.get("/v1/cases/by-reference/a%00b"), "reference")
    nul_refused(await api.delete("/v1/providers/a%00b"), "provider")

    assert [c["display_name"] for c in (await api.get("/v1/contacts")).json()] == ["Anna"]
    stored = (await api.get(f"/v1/contacts/{cid}")).json()
    assert stored["notes"] is None and stored["service_profile"] is None
    for url in ("/v1/cases", "/v1/callbacks", "/v1/notices", "/v1/lines", "/v1/teams"):
        assert (await api.get(url)).json() == [], url
    assert (await api.get(f"/v1/contacts/{cid}/interactions")).json() == []


async def test_every_string_parameter_refuses_nul(app: FastAPI, api: httpx.AsyncClient) -> None:
    """One gate covers every /v1 route: each string query or path parameter, each body."""
    spec = app.openapi()
    checked = 0
    for template, operations in spec["paths"].items():
        if not template.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            ids = {p["name"]: "1" for p in parameters if p["in"] == "path"}
            for parameter in parameters:
                schema = parameter["schema"]
                types = {s.get("type") for s in schema.get("anyOf", [schema])}
                if parameter["in"] not in ("query", "path") or "string" not in types:
                    continue
                url = template.format(**{**ids, parameter["name"]: "a%00b"})
                params = {parameter["name"]: NUL} if parameter["in"] == "query" else None
                nul_refused(await api.request(method, url, params=params), parameter["name"])
                checked += 1
            if "requestBody" in operation:
                url = template.format(**ids)
                nul_refused(await api.request(method, url, json={"note": NUL}), "note")
                checked += 1
    assert checked > 30
