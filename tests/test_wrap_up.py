"""What the widget asks of the API after a call: the wrap-up on the right person's record,
kept when wrapped up again, and the card of a picked or created contact with its line's
notices."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.db import session_scope
from app.models import Call, Contact, ContactNumber, Interaction
from telephony_adapters.base import EventKind
from tests.conftest import TenantCtx
from tests.test_call_lifecycle import LINE, deliver, event, setup

HOUSEHOLD = "+31334567890"
_line_numbers = itertools.count(3_310_000)


async def _household(app: FastAPI, tenant: TenantCtx) -> tuple[int, int]:
    """Piet and Lotte share the landline; Piet was picked for it last time (ranked first)."""
    async for session in session_scope(app.state.sessionmaker):
        piet = Contact(tenant_id=tenant.id, display_name="Piet de Vries")
        lotte = Contact(tenant_id=tenant.id, display_name="Lotte de Vries")
        session.add_all([piet, lotte])
        await session.flush()
        for person in (piet, lotte):
            session.add(
                ContactNumber(
                    tenant_id=tenant.id, contact_id=person.id, e164=HOUSEHOLD, raw=HOUSEHOLD
                )
            )
        ids = (piet.id, lotte.id)
    return ids


@dataclass(frozen=True)
class CallRow:
    """A call as stored, read out of its session (rows do not outlive theirs)."""

    id: int
    provider_call_id: str
    contact_id: int | None
    match: str


async def _call(app: FastAPI, tenant: TenantCtx, provider_call_id: str) -> CallRow:
    found: CallRow | None = None
    async for session in session_scope(app.state.sessionmaker):
        call = await session.scalar(
            select(Call).where(
                Call.tenant_id == tenant.id, Call.provider_call_id == provider_call_id
            )
        )
        assert call is not None
        found = CallRow(call.id, provider_call_id, call.contact_id, call.match)
    assert found is not None
    return found


async def _interactions(
    app: FastAPI, tenant: TenantCtx, call_id: int
) -> list[tuple[int | None, str | None]]:
    """(contact, outcome) of the call's interactions."""
    found: list[tuple[int | None, str | None]] = []
    async for session in session_scope(app.state.sessionmaker):
        rows = await session.scalars(
            select(Interaction).where(
                Interaction.tenant_id == tenant.id, Interaction.call_id == call_id
            )
        )
        found = [(i.contact_id, i.outcome) for i in rows]
    return found


async def _finished_call(app: FastAPI, tenant: TenantCtx, number: str) -> CallRow:
    call_id = uuid.uuid4().hex
    await deliver(
        app, tenant,
        event(call_id, EventKind.RINGING, from_raw=number),
        event(call_id, EventKind.ANSWERED, from_raw=number, answered_by="201"),
        event(call_id, EventKind.ENDED, from_raw=number),
    )  # fmt: skip
    return await _call(app, tenant, call_id)


async def test_the_wrap_up_goes_on_the_household_member_the_agent_picked(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    piet, lotte = await _household(app, tenant)
    call = await _finished_call(app, tenant, HOUSEHOLD)
    assert call.match == "ambiguous"
    wrapped = await api.post(
        f"/v1/calls/{call.id}/wrap-up",
        json={"outcome": "resolved", "note": "Lotte's intake moved", "contact_id": lotte},
    )
    assert wrapped.status_code == 200, wrapped.text
    assert wrapped.json()["contact_id"] == lotte
    assert await _interactions(app, tenant, call.id) == [(lotte, "resolved")]
    stored = await _call(app, tenant, call.provider_call_id)
    assert (stored.contact_id, stored.match) == (lotte, "known")
    assert (await api.get(f"/v1/contacts/{piet}/interactions")).json() == []


async def test_the_wrap_up_goes_on_the_contact_created_during_the_call(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    call = await _finished_call(app, tenant, "+31201234567")
    assert (call.contact_id, call.match) == (None, "unknown")
    created = await api.post(
        "/v1/contacts", json={"display_name": "Jan Jansen", "numbers": [{"number": "020 1234567"}]}
    )
    assert created.status_code == 201, created.text
    jan = created.json()["id"]
    wrapped = await api.post(
        f"/v1/calls/{call.id}/wrap-up", json={"outcome": "other", "contact_id": jan}
    )
    assert wrapped.status_code == 200, wrapped.text
    history = (await api.get(f"/v1/contacts/{jan}/interactions")).json()
    assert [(i["call_id"], i["outcome"]) for i in history] == [(call.id, "other")]


async def test_a_second_wrap_up_keeps_the_first_note(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    call = await _finished_call(app, tenant, "+31612345678")
    url = f"/v1/calls/{call.id}/wrap-up"
    first = {"outcome": "callback_planned", "note": "Calls back Thursday"}
    assert (await api.post(url, json=first)).status_code == 200
    again = await api.post(url, json=first)  # a retry whose answer was lost
    assert again.json()["summary"].count("Calls back Thursday") == 1
    second = await api.post(url, json={"outcome": "resolved", "note": "Sorted out after all"})
    assert second.status_code == 200, second.text
    summary = second.json()["summary"]
    assert summary.startswith("Inkomend gesprek, 1 min, aangenomen door Sanne Visser")
    assert summary.endswith(" — Calls back Thursday — Sorted out after all")
    assert second.json()["outcome"] == "resolved"
    without_note = await api.post(url, json={"outcome": "referred"})
    assert without_note.json()["summary"] == summary


async def test_a_wrap_up_outcome_is_one_of_the_documented_ones(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await setup(app, api, tenant)
    call = await _finished_call(app, tenant, "+31612345678")
    for bad in ("x", "answered", "", "Resolved"):
        refused = await api.post(f"/v1/calls/{call.id}/wrap-up", json={"outcome": bad})
        assert refused.status_code == 422, bad
        body = refused.json()
        assert body["code"] == "validation_failed"
        assert "outcome" in body["message"]
        for allowed in ("resolved", "information_given", "callback_planned", "other"):
            assert allowed in body["message"], body["message"]
    assert [outcome for _, outcome in await _interactions(app, tenant, call.id)] == ["answered"]


async def test_a_picked_contacts_card_shows_the_lines_notices(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    _piet, lotte = await _household(app, tenant)
    number = f"033{next(_line_numbers)}"
    line = (await api.post("/v1/lines", json={"number": number, "label": "Amersfoort"})).json()
    published = await api.post(
        "/v1/notices", json={"title": "Roadworks at Amersfoort", "line_id": line["id"]}
    )
    assert published.status_code == 201, published.text
    url = f"/v1/cards/{lotte}"
    on_line = await api.get(url, params={"number": HOUSEHOLD, "called": number})
    assert on_line.status_code == 200, on_line.text
    assert [n["title"] for n in on_line.json()["notices"]] == ["Roadworks at Amersfoort"]
    elsewhere = await api.get(url, params={"number": HOUSEHOLD, "called": LINE})
    assert elsewhere.json()["notices"] == []
    unreadable = await api.get(url, params={"called": "not a number"})
    assert unreadable.status_code == 422
    assert "called='not a number'" in unreadable.json()["message"]
