"""How much the API reads, and from whom: body limits, the key before the body, field limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.settings import Settings

LIMIT = Settings().api_max_body_bytes
JSON = {"Content-Type": "application/json"}
MUST_AUTHENTICATE = (
    "Missing API key: send it as `Authorization: Bearer sg_…` "
    "(create one with `stamgast create-api-key`)."
)


class CountingBody:
    """A streamed (chunked) body that counts how much of it the server pulled."""

    def __init__(self, chunks: int, size: int = 64 * 1024) -> None:
        self.chunks, self.size, self.pulled = chunks, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b" " * self.size


def too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.json() == {
        "code": "body_too_large",
        "message": f"The request body is over {LIMIT} bytes, the most this API accepts "
        "(STAMGAST_API_MAX_BODY_BYTES): send less, e.g. a shorter note.",
        "fields": [],
    }


def test_the_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LIMIT == 1024 * 1024
    monkeypatch.setenv("STAMGAST_API_MAX_BODY_BYTES", "2048")
    assert Settings().api_max_body_bytes == 2048


async def test_no_body_is_read_without_a_valid_key(client: httpx.AsyncClient) -> None:
    # 200 MB sent without a key grew the process by 606 MB: FastAPI read it all first.
    for headers, message in (
        ({}, MUST_AUTHENTICATE),
        ({"Authorization": "Basic dXNlcjpwdw=="}, MUST_AUTHENTICATE),
        ({"Authorization": "Bearer sg_00000000_nope"}, "Unknown or revoked API key."),
    ):
        body = CountingBody(chunks=3200)
        response = await client.post("/v1/contacts", content=body, headers={**JSON, **headers})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"code": "unauthorized", "message": message, "fields": []}
        assert body.pulled == 0, headers


async def test_a_declared_length_over_the_limit_is_refused_unread(
    api: httpx.AsyncClient,
) -> None:
    body = CountingBody(chunks=3200)
    headers = {**JSON, "Content-Length": str(3200 * 64 * 1024)}
    too_large(await api.post("/v1/contacts", content=body, headers=headers))
    assert body.pulled == 0


async def test_a_chunked_body_is_counted_and_cut_off(api: httpx.AsyncClient) -> None:
    body = CountingBody(chunks=3200)
    too_large(await api.post("/v1/contacts", content=body, headers=JSON))
    assert body.pulled <= LIMIT // body.size + 1


async def test_the_limit_is_inclusive(api: httpx.AsyncClient) -> None:
    document = b'{"display_name": "Anna"}'
    padded = document + b" " * (LIMIT - len(document))
    assert (await api.post("/v1/contacts", content=padded, headers=JSON)).status_code == 201
    too_large(await api.post("/v1/contacts", content=padded + b" ", headers=JSON))
    too_large(await api.put("/v1/tenant", content=padded + b" ", headers=JSON))
    assert [c["display_name"] for c in (await api.get("/v1/contacts")).json()] == ["Anna"]


def largest_contact() -> dict[str, Any]:
    """A contact with every field at its limit."""
    return {
        "display_name": "d" * 200,
        "form_of_address": "f" * 200,
        "language": "nl",
        "organisation": "o" * 200,
        "household": "h" * 200,
        "external_id": "e" * 120,
        "notes": "n" * 10_000,
        "references": {f"{i:02}".ljust(64, "r"): "v" * 200 for i in range(50)},
        "tags": [f"{i:02}".ljust(64, "t") for i in range(50)],
        "flags": [f"{i:02}".ljust(64, "f") for i in range(50)],
        "numbers": [{"number": f"06123{i:05}", "label": "l" * 64} for i in range(100)],
        "service_profile": {
            "preferred_times": "t" * 200,
            "preferred_place": "p" * 200,
            "interpreter": "i" * 64,
            "accessibility": "a" * 200,
            "likes": ["l" * 200] * 50,
            "dislikes": ["d" * 200] * 50,
            "extra": {f"{i:02}".ljust(64, "k"): "x" * 1_000 for i in range(50)},
        },
    }


async def test_the_largest_valid_contact_fits_the_body_limit(api: httpx.AsyncClient) -> None:
    contact = largest_contact()
    response = await api.post("/v1/contacts", json=contact)
    assert response.status_code == 201, response.text
    assert len(response.request.content) < LIMIT / 4
    assert response.json()["notes"] == contact["notes"]


async def test_free_text_fields_have_limits(api: httpx.AsyncClient) -> None:
    # A 10 MB note was stored and then rode on every pop of the caller's card.
    cid = (await api.post("/v1/contacts", json={"display_name": "Anna"})).json()["id"]
    contact = largest_contact()
    too_long: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/v1/contacts", {**contact, "notes": "n" * 10_001}, "notes"),
        ("POST", "/v1/contacts", {**contact, "tags": [*contact["tags"], "t"]}, "tags"),
        ("PATCH", f"/v1/contacts/{cid}", {"tags": ["t" * 65]}, "tags.0"),
        ("PATCH", f"/v1/contacts/{cid}", {"flags": ["f"] * 51}, "flags"),
        ("PATCH", f"/v1/contacts/{cid}", {"references": {"crm": "v" * 201}}, "references.crm"),
        ("PUT", f"/v1/contacts/{cid}/service-profile", {"likes": ["l" * 201]}, "likes.0"),
        ("PUT", f"/v1/contacts/{cid}/service-profile", {"extra": {"a": "x" * 1_001}}, "extra.a"),
        ("POST", "/v1/interactions", {"contact_id": cid, "summary": "s" * 10_001}, "summary"),
        ("POST", "/v1/callbacks", {"contact_id": cid, "reason": "r" * 2_001}, "reason"),
        ("POST", "/v1/cases", {"reference": "R-1", "next_step": "n" * 2_001}, "next_step"),
        ("POST", "/v1/notices", {"title": "t", "body": "b" * 4_001}, "body"),
    ]
    for method, url, body, field in too_long:
        response = await api.request(method, url, json=body)
        assert response.status_code == 422, (url, field)
        assert response.json()["fields"][0]["field"] == field, (url, response.json())
    nested = await api.put(f"/v1/contacts/{cid}/service-profile", json={"extra": {"a": {"b": "c"}}})
    assert nested.status_code == 422
    assert nested.json()["fields"] == [
        {
            "field": "extra.a",
            "message": "should be a string, number, boolean or null (one line on the card), "
            "not a list or an object",
        }
    ]

    assert [c["display_name"] for c in (await api.get("/v1/contacts")).json()] == ["Anna"]
    assert (await api.get(f"/v1/contacts/{cid}")).json()["service_profile"] is None
    for url in ("/v1/cases", "/v1/callbacks", "/v1/notices"):
        assert (await api.get(url)).json() == [], url


# Not ours to bound here: the provider settings of the calls domain (admin only; bounded
# by the body limit).
UNBOUNDED = {("ProviderConfigIn", "events"), ("ProviderConfigIn", "options")}


def unbounded(schema: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """What in `schema` has no size limit: strings without maxLength, arrays, objects."""
    if "$ref" in schema:
        return []  # checked as its own input schema
    if "anyOf" in schema:
        return [p for option in schema["anyOf"] for p in unbounded(option, spec)]
    kind = schema.get("type")
    problems = []
    bounded = {"maxLength", "enum", "format"} & set(schema)  # format: date-time
    if kind == "string" and not bounded:
        problems.append("string without maxLength")
    if kind == "array":
        if "maxItems" not in schema:
            problems.append("array without maxItems")
        problems += unbounded(schema.get("items", {}), spec)
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        if "maxProperties" not in schema:
            problems.append("object without maxProperties")
        problems += unbounded(schema.get("propertyNames", {}), spec)
        problems += unbounded(schema["additionalProperties"], spec)
    return problems


def test_every_input_field_is_bounded_in_openapi(app: FastAPI) -> None:
    spec = app.openapi()
    inputs: set[str] = set()
    for operations in spec["paths"].values():
        for operation in operations.values():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                schema = content["schema"]
                for ref in [schema, *schema.get("anyOf", [])]:
                    if "$ref" in ref:
                        inputs.add(ref["$ref"].rsplit("/", 1)[1])
    inputs |= {"NumberIn", "ServiceProfileIn"}  # nested in the contact's bodies
    assert "ContactCreate" in inputs
    problems = []
    for name in sorted(inputs):
        for field, schema in spec["components"]["schemas"][name]["properties"].items():
            if (name, field) in UNBOUNDED:
                continue
            problems += [f"{name}.{field}: {p}" for p in unbounded(schema, spec)]
    assert problems == []
    notes = spec["components"]["schemas"]["ContactCreate"]["properties"]["notes"]
    assert notes["anyOf"][0]["maxLength"] == 10_000
