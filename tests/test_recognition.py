"""Recognition: known, household, unknown and withheld callers, and the statement budget."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from app.db import session_scope
from app.models import (
    Agent,
    AuditEvent,
    CallbackRequest,
    Case,
    Contact,
    ContactNumber,
    Interaction,
    Line,
    Notice,
    ServiceProfile,
    utcnow,
)
from app.phone import normalise
from app.recognition.service import recognise_number
from tests.conftest import TenantCtx

NOW = utcnow()


@contextmanager
def count_statements(app: FastAPI) -> Iterator[list[str]]:
    """Collect every SQL statement the app's engine sends while the block runs."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The app's background tasks share the engine: the outbound-event worker's claims and
        # the dashboard's ring-to-pop flush are not the request's statements.
        if "event_outbox" not in statement and "ring_to_pop_hours" not in statement:
            seen.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def add_contact(
    app: FastAPI,
    tenant: TenantCtx,
    name: str,
    number: str,
    *,
    interactions: int = 0,
    days_ago: int = 1,
    **fields: Any,
) -> int:
    """Insert a contact with one number and `interactions` past interactions."""
    async for session in session_scope(app.state.sessionmaker):
        contact = Contact(tenant_id=tenant.id, display_name=name, **fields)
        session.add(contact)
        await session.flush()
        key = normalise(number).key
        assert key is not None
        session.add(ContactNumber(tenant_id=tenant.id, contact_id=contact.id, e164=key, raw=number))
        for i in range(interactions):
            session.add(
                Interaction(
                    tenant_id=tenant.id,
                    contact_id=contact.id,
                    occurred_at=NOW - timedelta(days=days_ago + i),
                    summary=f"gesprek {i}",
                    outcome="afgehandeld",
                )
            )
        contact_id = contact.id
    return contact_id


async def test_known_caller_card_holds_everything(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    ada = await add_contact(
        app,
        tenant,
        "Ada de Vries",
        "06-12345678",
        interactions=8,
        form_of_address="mevrouw De Vries",
        language="nl",
        flags=["attention"],
        tags=["wijk-oost"],
    )
    async for session in session_scope(app.state.sessionmaker):
        agent = Agent(tenant_id=tenant.id, name="Sanne Visser", extension="201")
        line = Line(tenant_id=tenant.id, number_e164=f"+3133{tenant.id:07d}", label="Amersfoort")
        session.add_all([agent, line])
        await session.flush()
        session.add_all(
            [
                ServiceProfile(
                    tenant_id=tenant.id,
                    contact_id=ada,
                    preferred_times="ochtend",
                    plain_language=True,
                    extra_explanation=True,
                    dislikes=["in de wacht staan"],
                ),
                Interaction(
                    tenant_id=tenant.id,
                    contact_id=ada,
                    occurred_at=NOW - timedelta(hours=2),
                    summary="Vraag over verwijzing",
                    outcome="teruggebeld",
                    agent_id=agent.id,
                ),
                CallbackRequest(
                    tenant_id=tenant.id,
                    contact_id=ada,
                    reason="Uitslag doorgeven",
                    due_by=NOW - timedelta(days=1),
                ),
                CallbackRequest(
                    tenant_id=tenant.id,
                    contact_id=ada,
                    reason="Al gedaan",
                    status="done",
                ),
                Case(
                    tenant_id=tenant.id,
                    contact_id=ada,
                    reference=f"ZD-{tenant.id}-42",
                    status="waiting",
                    next_step="Intake plannen",
                ),
                Case(
                    tenant_id=tenant.id,
                    contact_id=ada,
                    reference=f"ZD-{tenant.id}-1",
                    status="closed",
                ),
                Notice(tenant_id=tenant.id, title="Nieuwe openingstijden"),
                Notice(tenant_id=tenant.id, title="Verlopen", ends_at=NOW - timedelta(days=1)),
                Notice(tenant_id=tenant.id, title="Wegwerkzaamheden", line_id=line.id),
                Notice(tenant_id=tenant.id, title="Voor de wijk", tag="wijk-oost"),
                Notice(tenant_id=tenant.id, title="Andere wijk", tag="wijk-west"),
            ]
        )
        line_number = line.number_e164

    response = await api.get("/v1/lookup", params={"number": "+31 (0)6 1234 5678"})
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["match"] == "known"
    assert card["display_name"] == "Ada de Vries"
    assert card["form_of_address"] == "mevrouw De Vries"
    assert card["flags"] == ["attention"]
    assert card["number"]["e164"] == "+31612345678"
    assert card["number"]["kind"] == "mobile"
    assert len(card["interactions"]) == 5
    assert card["interactions"][0]["summary"] == "Vraag over verwijzing"
    assert card["interactions"][0]["agent_name"] == "Sanne Visser"
    times = [i["occurred_at"] for i in card["interactions"]]
    assert times == sorted(times, reverse=True)
    assert [c["reason"] for c in card["callbacks"]] == ["Uitslag doorgeven"]
    assert card["callbacks"][0]["overdue"] is True
    assert [c["reference"] for c in card["cases"]] == [f"ZD-{tenant.id}-42"]
    assert card["cases"][0]["next_step"] == "Intake plannen"
    assert card["service_profile"]["plain_language"] is True
    assert card["service_profile"]["dislikes"] == ["in de wacht staan"]
    titles = {n["title"] for n in card["notices"]}
    assert titles == {"Nieuwe openingstijden", "Voor de wijk"}

    with_line = (
        await api.get("/v1/lookup", params={"number": "0612345678", "called": line_number})
    ).json()
    assert {n["title"] for n in with_line["notices"]} == {
        "Nieuwe openingstijden",
        "Voor de wijk",
        "Wegwerkzaamheden",
    }

    by_reference = await api.get("/v1/lookup", params={"reference": f" ZD-{tenant.id}-42 "})
    assert by_reference.status_code == 200, by_reference.text
    assert by_reference.json()["contact_id"] == ada
    assert by_reference.json()["interactions"] == card["interactions"]

    async for session in session_scope(app.state.sessionmaker):
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.tenant_id == tenant.id).order_by(AuditEvent.id)
            )
        ).all()
        lookups = [e for e in events if e.action == "lookup"]
        assert len(lookups) == 3
        assert all(e.contact_id == ada for e in lookups)
        assert lookups[0].number_masked == "+31 6 **** 5678"


async def test_household_ranks_recent_then_remembers_choice(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    shared = "033 456 7890"
    piet = await add_contact(app, tenant, "Piet Bakker", shared, interactions=1, days_ago=30)
    els = await add_contact(app, tenant, "Els Bakker", shared, interactions=1, days_ago=2)
    kim = await add_contact(app, tenant, "Kim Bakker", shared)
    card = (await api.get("/v1/lookup", params={"number": "+31334567890"})).json()
    assert card["match"] == "ambiguous"
    assert [c["contact_id"] for c in card["candidates"]] == [els, piet, kim]
    assert card["contact_id"] == els
    assert card["number"]["region_description"] == "Amersfoort"

    chosen = await api.post("/v1/lookup/choice", json={"number": shared, "contact_id": piet})
    assert chosen.status_code == 204, chosen.text
    card = (await api.get("/v1/lookup", params={"number": shared})).json()
    assert [c["contact_id"] for c in card["candidates"]] == [piet, els, kim]
    assert card["candidates"][0]["chosen_before"] is True
    assert card["display_name"] == "Piet Bakker"

    stranger = await add_contact(app, tenant, "Iemand Anders", "0687654321")
    refused = await api.post("/v1/lookup/choice", json={"number": shared, "contact_id": stranger})
    assert refused.status_code == 422
    assert "has no number" in refused.json()["message"]

    one = (await api.get(f"/v1/cards/{kim}", params={"number": shared})).json()
    assert one["display_name"] == "Kim Bakker"


async def test_unknown_and_withheld_callers(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    async for session in session_scope(app.state.sessionmaker):
        session.add(
            CallbackRequest(
                tenant_id=tenant.id, number_e164="+31201234567", reason="Gemiste oproep"
            )
        )
    card = (await api.get("/v1/lookup", params={"number": "020-1234567"})).json()
    assert card["match"] == "unknown"
    assert card["contact_id"] is None
    assert card["number"]["kind"] == "fixed"
    assert card["number"]["region_description"] == "Amsterdam"
    assert [c["reason"] for c in card["callbacks"]] == ["Gemiste oproep"]

    for withheld in ("anonymous", "Restricted", "sip:anonymous@anonymous.invalid"):
        card = (await api.get("/v1/lookup", params={"number": withheld})).json()
        assert card["match"] == "withheld", withheld
        assert card["candidates"] == []


async def test_lookup_bad_inputs(client: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
    missing_key = await client.get("/v1/lookup", params={"number": "0612345678"})
    assert missing_key.status_code == 401
    assert "Missing API key" in missing_key.json()["message"]
    wrong_key = await client.get(
        "/v1/lookup",
        params={"number": "0612345678"},
        headers={"Authorization": "Bearer sg_abcdef12_nope"},
    )
    assert wrong_key.status_code == 401
    assert wrong_key.json()["message"] == "Unknown or revoked API key."

    neither = await api.get("/v1/lookup")
    assert neither.status_code == 422
    assert neither.json()["message"] == "Pass exactly one of `number` or `reference`."
    both = await api.get("/v1/lookup", params={"number": "0612345678", "reference": "X"})
    assert both.status_code == 422
    garbage = await api.get("/v1/lookup", params={"number": "hello"})
    assert garbage.status_code == 422
    assert "Cannot read number='hello' as a phone number" in garbage.json()["message"]
    unknown_ref = await api.get("/v1/lookup", params={"reference": "NOPE-1"})
    assert unknown_ref.status_code == 404
    assert unknown_ref.json()["message"] == "No case with reference 'NOPE-1' in this tenant."
    unknown_card = await api.get("/v1/cards/999999")
    assert unknown_card.status_code == 404


@pytest.mark.parametrize("history", [1, 60])
async def test_recognition_uses_at_most_three_statements(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, history: int
) -> None:
    number = f"0612{tenant.id % 100:02d}{history:04d}"
    for name in ("Jan Jansen", "Mies Jansen"):
        await add_contact(app, tenant, name, number, interactions=history)
    async for session in session_scope(app.state.sessionmaker):
        with count_statements(app) as service_statements:
            card = await recognise_number(session, tenant_id=tenant.id, number=normalise(number))
    assert card.match == "ambiguous"
    assert len(card.interactions) == min(history, 5)
    assert len(service_statements) == 2, service_statements

    await api.get("/v1/lookup", params={"number": number})  # warms the key cache
    with count_statements(app) as request_statements:
        response = await api.get("/v1/lookup", params={"number": number})
    assert response.status_code == 200
    # The two reads of recognition and the audit insert; nothing grows with history.
    assert len(request_statements) <= 3, request_statements
