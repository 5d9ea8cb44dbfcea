"""Contacts over HTTP: numbers normalised at write time, partial updates, erasure, audit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.models import (
    AuditEvent,
    CallbackRequest,
    Case,
    ContactNumber,
    Interaction,
    NumberChoice,
    ServiceProfile,
)
from tests.conftest import TenantCtx

ANNA: dict[str, Any] = {
    "display_name": "Anna de Vries",
    "form_of_address": "Mevrouw De Vries",
    "language": "nl",
    "household": "De Vries, Utrechtseweg 1",
    "external_id": "CRM-1",
    "references": {"zorgdomein": "ZD-123456"},
    "tags": ["client", "amersfoort"],
    "flags": ["attention"],
    "notes": "Prefers to be called in the morning.",
    "numbers": [
        {"number": "06-12345678", "label": "own"},
        {"number": "033 123 4567"},
        {"number": "1234", "kind": "work", "label": "desk"},
    ],
    "service_profile": {
        "preferred_times": "weekday mornings",
        "preferred_channel": "phone",
        "plain_language": True,
        "interpreter": "Turkish",
        "likes": ["a short summary"],
        "dislikes": ["being put on hold"],
        "extra": {"hearing_aid": True},
    },
}


async def create(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """Create a contact (Anna unless overridden) and return its body."""
    response = await api.post("/v1/contacts", json={**ANNA, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def audit_events(app: FastAPI, tenant: TenantCtx) -> list[AuditEvent]:
    """The tenant's audit trail, oldest first."""
    async with app.state.sessionmaker() as session:
        query = select(AuditEvent).where(AuditEvent.tenant_id == tenant.id).order_by(AuditEvent.id)
        return list((await session.scalars(query)).all())


async def test_create_normalises_numbers_and_returns_the_whole_contact(
    api: httpx.AsyncClient,
) -> None:
    body = await create(api)
    assert body["display_name"] == "Anna de Vries"
    assert body["references"] == {"zorgdomein": "ZD-123456"}
    assert body["flags"] == ["attention"]
    mobile, landline, desk = body["numbers"]
    assert mobile | {"id": 0} == {
        "id": 0,
        "e164": "+31612345678",
        "raw": "06-12345678",
        "kind": "mobile",
        "label": "own",
        "display": "06 12345678",
        "region_description": "Netherlands",
    }
    assert (landline["e164"], landline["kind"]) == ("+31331234567", "landline")
    assert (landline["display"], landline["region_description"]) == ("033 123 4567", "Amersfoort")
    assert (desk["e164"], desk["kind"], desk["display"]) == ("1234", "work", "1234")
    profile = body["service_profile"]
    assert profile["plain_language"] is True and profile["extra_explanation"] is False
    assert profile["dislikes"] == ["being put on hold"]
    assert profile["extra"] == {"hearing_aid": True}

    again = await api.get(f"/v1/contacts/{body['id']}")
    assert again.status_code == 200
    assert again.json() == body


async def test_create_minimal_contact_has_empty_defaults(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/contacts", json={"display_name": "Bert"})
    assert response.status_code == 201
    body = response.json()
    assert body["numbers"] == [] and body["service_profile"] is None
    assert body["tags"] == [] and body["references"] == {} and body["external_id"] is None


async def test_foreign_number_is_shown_internationally(api: httpx.AsyncClient) -> None:
    body = await create(api, numbers=[{"number": "+44 20 7946 0958"}], external_id=None)
    (number,) = body["numbers"]
    assert number["display"] == "+44 20 7946 0958"
    assert number["region_description"] == "London"
    assert number["kind"] == "landline"


async def test_bad_number_is_refused_and_creates_nothing(api: httpx.AsyncClient) -> None:
    numbers = [{"number": "0612345678"}, {"number": "12ab"}]
    response = await api.post("/v1/contacts", json={**ANNA, "numbers": numbers})
    assert response.status_code == 422
    assert response.json()["message"] == (
        "numbers[1].number: cannot read '12ab' as a phone number: "
        "give it as +31612345678 or 0612345678."
    )
    assert (await api.get("/v1/contacts", params={"q": "Anna"})).json() == []


async def test_withheld_number_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/contacts", json={"display_name": "X", "numbers": [{"number": "anonymous"}]}
    )
    assert response.status_code == 422
    assert response.json()["message"] == (
        "numbers[0].number: 'anonymous' is a withheld number (anonymous, private, unknown), "
        "not one we can store: give the caller's real number."
    )


async def test_same_number_twice_is_refused(api: httpx.AsyncClient) -> None:
    numbers = [{"number": "0612345678"}, {"number": "+31 6 1234 5678"}]
    response = await api.post("/v1/contacts", json={"display_name": "X", "numbers": numbers})
    assert response.status_code == 422
    assert response.json()["message"] == (
        "numbers[1].number: '+31 6 1234 5678' is +31612345678, already given as numbers[0]: "
        "give each number once."
    )


async def test_duplicate_external_id_conflicts(api: httpx.AsyncClient) -> None:
    first = await create(api)
    response = await api.post(
        "/v1/contacts", json={"display_name": "Other", "external_id": "CRM-1"}
    )
    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "message": f"External id CRM-1 is already used by contact {first['id']}.",
        "fields": [],
    }
    other = await create(api, display_name="Other", external_id="CRM-2", numbers=[])
    patch = await api.patch(f"/v1/contacts/{other['id']}", json={"external_id": "CRM-1"})
    assert patch.status_code == 409
    assert patch.json()["message"] == f"External id CRM-1 is already used by contact {first['id']}."
    same = await api.patch(f"/v1/contacts/{first['id']}", json={"external_id": "CRM-1"})
    assert same.status_code == 200


async def test_invalid_fields_are_named(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/contacts", json={"display_name": "X", "language": "dutch!"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["fields"] == [
        {
            "field": "language",
            "message": "'dutch!' is not a language tag: use a BCP 47 tag such as nl, en or en-GB",
        }
    ]
    missing = await api.post("/v1/contacts", json={"notes": "no name"})
    assert missing.status_code == 422
    assert missing.json()["fields"] == [{"field": "display_name", "message": "Field required"}]
    kind = await api.post(
        "/v1/contacts",
        json={"display_name": "X", "numbers": [{"number": "0612345678", "kind": "pager"}]},
    )
    assert kind.status_code == 422
    assert kind.json()["fields"][0]["field"] == "numbers.0.kind"
    assert "'mobile', 'landline', 'work' or 'fax'" in kind.json()["fields"][0]["message"]


async def test_list_filters_by_name_number_and_tag(api: httpx.AsyncClient) -> None:
    anna = await create(api)
    bert = await create(
        api,
        display_name="Bert 100% Jansen",
        external_id=None,
        tags=["vip"],
        numbers=[{"number": "0612345678"}],
        service_profile=None,
    )
    await create(api, display_name="Carla", external_id=None, tags=[], numbers=[])

    async def names(**params: Any) -> list[str]:
        response = await api.get("/v1/contacts", params=params)
        assert response.status_code == 200, response.text
        return [c["display_name"] for c in response.json()]

    assert await names() == ["Anna de Vries", "Bert 100% Jansen", "Carla"]
    assert await names(q="DE VRIES") == ["Anna de Vries"]
    assert await names(q="0% j") == ["Bert 100% Jansen"]
    assert await names(q="%") == ["Bert 100% Jansen"]
    assert await names(number="+31 6 1234 5678") == ["Anna de Vries", "Bert 100% Jansen"]
    assert await names(number="0331234567") == ["Anna de Vries"]
    assert await names(number="0687654321") == []
    assert await names(tag="vip") == ["Bert 100% Jansen"]
    assert await names(tag="amersfoort", number="0612345678") == ["Anna de Vries"]
    assert await names(tag="vi") == []
    assert await names(limit=1, offset=1) == ["Bert 100% Jansen"]
    assert bert["service_profile"] is None and anna["service_profile"] is not None

    bad = await api.get("/v1/contacts", params={"number": "12ab"})
    assert bad.status_code == 422
    assert bad.json()["message"].startswith("number: cannot read '12ab' as a phone number")
    assert (await api.get("/v1/contacts", params={"limit": 0})).status_code == 422


async def test_patch_changes_only_what_is_given(api: httpx.AsyncClient) -> None:
    anna = await create(api)
    kept_id = anna["numbers"][0]["id"]
    response = await api.patch(
        f"/v1/contacts/{anna['id']}",
        json={
            "display_name": "Anna Jansen-de Vries",
            "flags": ["attention", "vip"],
            "numbers": [{"number": "+31612345678", "label": "mobile"}, {"number": "0201234567"}],
            "service_profile": {"interpreter": None, "extra_explanation": True},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["display_name"] == "Anna Jansen-de Vries"
    assert body["form_of_address"] == "Mevrouw De Vries"
    assert body["tags"] == ["client", "amersfoort"]
    assert body["flags"] == ["attention", "vip"]
    assert [(n["e164"], n["label"]) for n in body["numbers"]] == [
        ("+31612345678", "mobile"),
        ("+31201234567", None),
    ]
    assert body["numbers"][0]["id"] == kept_id
    profile = body["service_profile"]
    assert profile["interpreter"] is None and profile["extra_explanation"] is True
    assert profile["plain_language"] is True and profile["preferred_times"] == "weekday mornings"
    assert body["updated_at"] > anna["updated_at"]
    assert (await api.get(f"/v1/contacts/{anna['id']}")).json() == body


async def test_patch_creates_a_missing_profile(api: httpx.AsyncClient) -> None:
    bert = await create(api, external_id=None, service_profile=None, numbers=[])
    response = await api.patch(
        f"/v1/contacts/{bert['id']}", json={"service_profile": {"preferred_channel": "email"}}
    )
    assert response.status_code == 200
    profile = response.json()["service_profile"]
    assert profile["preferred_channel"] == "email" and profile["likes"] == []


async def test_failed_patch_leaves_everything_as_it_was(api: httpx.AsyncClient) -> None:
    anna = await create(api)
    response = await api.patch(
        f"/v1/contacts/{anna['id']}",
        json={"display_name": "Changed", "numbers": [{"number": "0612345679"}, {"number": "x"}]},
    )
    assert response.status_code == 422
    assert response.json()["message"] == (
        "numbers[1].number: cannot read 'x' as a phone number: "
        "give it as +31612345678 or 0612345678."
    )
    assert (await api.get(f"/v1/contacts/{anna['id']}")).json() == anna
    null = await api.patch(f"/v1/contacts/{anna['id']}", json={"display_name": None})
    assert null.status_code == 422
    assert null.json()["message"] == (
        "Invalid request: body: display_name cannot be null: leave it out to keep it as it is"
    )


async def test_add_and_remove_numbers(api: httpx.AsyncClient) -> None:
    anna = await create(api)
    url = f"/v1/contacts/{anna['id']}/numbers"
    added = await api.post(url, json={"number": "0031 20 123 4567", "kind": "fax"})
    assert added.status_code == 201
    number = added.json()
    assert (number["e164"], number["kind"], number["raw"]) == (
        "+31201234567",
        "fax",
        "0031 20 123 4567",
    )

    again = await api.post(url, json={"number": "020-1234567"})
    assert again.status_code == 409
    assert again.json()["message"] == (
        f"Contact {anna['id']} already has number +31201234567 (number {number['id']})."
    )
    bad = await api.post(url, json={"number": "private"})
    assert bad.status_code == 422
    assert bad.json()["message"].startswith("number: 'private' is a withheld number")

    assert (await api.delete(f"{url}/{number['id']}")).status_code == 204
    gone = await api.delete(f"{url}/{number['id']}")
    assert gone.status_code == 404
    assert gone.json()["message"] == f"Contact {anna['id']} has no number {number['id']}."
    numbers = (await api.get(f"/v1/contacts/{anna['id']}")).json()["numbers"]
    assert [n["e164"] for n in numbers] == ["+31612345678", "+31331234567", "1234"]
    missing = await api.post("/v1/contacts/999999/numbers", json={"number": "0612345678"})
    assert missing.status_code == 404
    assert missing.json()["message"] == "No contact 999999 in this tenant."


async def test_put_service_profile_replaces_it(api: httpx.AsyncClient) -> None:
    bert = await create(api, external_id=None, service_profile=None, numbers=[])
    url = f"/v1/contacts/{bert['id']}/service-profile"
    first = await api.put(url, json={"language": "en-GB", "likes": ["email summaries"]})
    assert first.status_code == 200
    assert first.json()["language"] == "en-GB" and first.json()["likes"] == ["email summaries"]
    second = await api.put(url, json={"accessibility": "wheelchair"})
    assert second.json()["likes"] == [] and second.json()["language"] is None
    assert second.json()["accessibility"] == "wheelchair"
    stored = (await api.get(f"/v1/contacts/{bert['id']}")).json()["service_profile"]
    assert stored == second.json()
    bad = await api.put(url, json={"preferred_channel": "pigeon"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "preferred_channel"


async def test_unknown_contact_is_404(api: httpx.AsyncClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = await api.request(method, "/v1/contacts/424242", json={})
        assert response.status_code == 404
        assert response.json() == {
            "code": "not_found",
            "message": "No contact 424242 in this tenant.",
            "fields": [],
        }


async def test_reads_and_writes_are_audited(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    anna = await create(api)
    await api.get(f"/v1/contacts/{anna['id']}")
    await api.patch(f"/v1/contacts/{anna['id']}", json={"notes": "x"})
    number = await api.post(f"/v1/contacts/{anna['id']}/numbers", json={"number": "0201234567"})
    await api.put(f"/v1/contacts/{anna['id']}/service-profile", json={})
    await api.delete(f"/v1/contacts/{anna['id']}/numbers/{number.json()['id']}")
    events = [
        (e.action, e.subject_type, e.contact_id, e.number_masked, e.actor)
        for e in await audit_events(app, tenant)
    ]
    actor = "api-key:test-admin"
    assert events == [
        ("create", "contact", anna["id"], None, actor),
        ("view", "contact", anna["id"], None, actor),
        ("update", "contact", anna["id"], None, actor),
        ("create", "contact_number", anna["id"], "+31 20 **** 4567", actor),
        ("update", "service_profile", anna["id"], None, actor),
        ("delete", "contact_number", anna["id"], "+31 20 **** 4567", actor),
    ]


async def test_erasure_removes_everything_pointing_at_the_contact(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    anna = await create(api)
    bert = await create(
        api, display_name="Bert", external_id=None, numbers=[{"number": "0612345678"}]
    )
    contact_id = anna["id"]
    assert (await api.post("/v1/interactions", json={"contact_id": contact_id})).status_code == 201
    callback = await api.post("/v1/callbacks", json={"contact_id": contact_id, "reason": "x"})
    assert callback.status_code == 201
    case = await api.post("/v1/cases", json={"contact_id": contact_id, "reference": "ZD-1"})
    assert case.status_code == 201
    async with app.state.sessionmaker() as session, session.begin():
        session.add(
            NumberChoice(
                tenant_id=tenant.id,
                e164="+31612345678",
                contact_id=contact_id,
                chosen_at=datetime.now(UTC),
            )
        )

    response = await api.delete(f"/v1/contacts/{contact_id}")
    assert response.status_code == 204 and response.content == b""

    assert (await api.get(f"/v1/contacts/{contact_id}")).status_code == 404
    assert (await api.get(f"/v1/cases/{case.json()['id']}")).status_code == 404
    assert (await api.get(f"/v1/callbacks/{callback.json()['id']}")).status_code == 404
    async with app.state.sessionmaker() as session:
        for model in (Interaction, CallbackRequest, Case, ContactNumber):
            left = await session.scalars(
                select(model.id).where(model.tenant_id == tenant.id, model.contact_id == contact_id)
            )
            assert left.all() == [], model
        assert await session.get(ServiceProfile, contact_id) is None
        assert await session.get(NumberChoice, (tenant.id, "+31612345678")) is None
    assert (await api.get(f"/v1/contacts/{bert['id']}")).status_code == 200

    events = await audit_events(app, tenant)
    assert all(e.contact_id != contact_id for e in events)
    erased = [
        (e.subject_type, e.subject_id, e.number_masked) for e in events if e.action == "erase"
    ]
    number_ids = [str(n["id"]) for n in anna["numbers"]]
    assert erased == [
        ("contact", str(contact_id), None),
        ("contact_number", number_ids[0], "+31 6 **** 5678"),
        ("contact_number", number_ids[1], "+31 33 **** 4567"),
        ("contact_number", number_ids[2], "1234"),
    ]
    # The trail of what happened before the erasure stays, without the contact.
    assert any(e.action == "create" and e.subject_id == str(contact_id) for e in events)
