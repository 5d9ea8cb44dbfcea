"""The agent widget in a real browser (Debian's Chromium through Playwright): every card
state and every request the widget sends, against a small fake backend
(tests/support/fake_widget_backend.py) that speaks the stream and REST contract.

Reconnecting, transports and embedding are in test_widget_reconnect.py; the real app end to
end in test_widget_end_to_end.py.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.errors import install_error_handlers
from app.recognition.schemas import Card
from app.widget.router import router as widget_router
from tests.support.fake_widget_backend import (
    FakeBackend,
    card_of,
    open_widget,
)
from tests.support.fake_widget_data import (
    TOKEN,
    a_call,
    ada_card,
    call_ids,
    checked,
    household_card,
    iso,
    known_card,
    now,
    unknown_card,
)

pytest_plugins = ["tests.support.browser"]


# ---- the element against the fake backend ---------------------------------------------


async def test_widget_files_are_served_with_types_and_no_cache() -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(widget_router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await _check_widget_files(client)


async def _check_widget_files(client: httpx.AsyncClient) -> None:
    page = await client.get("/widget")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Stamgast</title>" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-cache"
    for name in (
        "stamgast-widget.js",
        "stamgast-widget-i18n.js",
        "stamgast-widget-card.js",
        "stamgast-widget-callbacks.js",
        "stamgast-widget-originate.js",
        "stamgast-widget-stream.js",
        "stamgast-widget-styles.js",
        "stamgast-page.js",
    ):
        response = await client.get(f"/widget/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
    assert (
        (await client.get("/widget/stamgast-page.css"))
        .headers["content-type"]
        .startswith("text/css")
    )
    slash = await client.get("/widget/")
    assert slash.status_code in (307, 308)  # the page's relative URLs need /widget itself
    assert slash.headers["location"].endswith("/widget")
    for bad in ("nope.js", "..%2Frouter.py", "index.html", "%2e%2e%2f%2e%2e%2fmain.py"):
        assert (await client.get(f"/widget/{bad}")).status_code == 404, bad


def test_the_fake_backends_payloads_are_checked_against_the_servers_models() -> None:
    from pydantic import ValidationError

    from app.recognition.schemas import Card
    from app.screen_pop.schemas import PopCall

    call = a_call(1)
    assert call["party_e164"] == call["from_e164"]  # filled in as the server does
    with pytest.raises(AssertionError, match=r"PopCall\.callback_id"):
        checked(PopCall, {**call, "callback_id": 3})  # a field the server does not have
    with pytest.raises(AssertionError, match=r"Card\.cases\.kinds"):
        checked(Card, {**ada_card(), "cases": [{**ada_card()["cases"][0], "kinds": "x"}]})
    with pytest.raises(ValidationError):
        checked(PopCall, {k: v for k, v in call.items() if k != "started_at"})
    with pytest.raises(ValidationError):
        checked(Card, {**ada_card(), "match": "maybe"})


@pytest.mark.browser
def test_known_caller_card_callback_note_and_wrap_up(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    assert "token=" not in page.url  # taken out of the address bar, kept in localStorage
    call_id = next(call_ids)
    fake.push("call.ringing", a_call(call_id), ada_card())

    card = card_of(page, call_id)
    expect(card).to_have_attribute("data-state", "ringing")
    expect(card.get_by_test_id("caller-name")).to_have_text("Ada de Vries")
    expect(card.get_by_test_id("form-of-address")).to_have_text("Mrs De Vries")
    expect(card.get_by_test_id("match-kind")).to_have_text("Known caller")
    expect(card.get_by_test_id("call-status")).to_contain_text("on Client line Amersfoort")
    callbacks = card.get_by_test_id("callback")
    expect(callbacks).to_have_count(2)
    expect(callbacks.nth(0)).to_have_class(re.compile(r"\boverdue\b"))
    expect(callbacks.nth(1)).not_to_have_class(re.compile(r"\boverdue\b"))
    assert callbacks.nth(0).evaluate("e => getComputedStyle(e).color") == "rgb(180, 35, 24)"
    expect(callbacks.nth(0)).to_contain_text("overdue since")
    expect(card.get_by_test_id("case")).to_contain_text("ZD-123456")
    expect(card.get_by_test_id("case")).to_contain_text("position 4")
    expect(card.get_by_test_id("notice")).to_contain_text("Roadworks")
    expect(card.get_by_test_id("flag")).to_have_text(["Attention", "VIP"])
    expect(card).to_contain_text("Plain language")
    expect(card).to_contain_text("being transferred")
    expect(card.get_by_test_id("interaction")).to_have_count(2)
    page.screenshot(path="/tmp/widget.png", full_page=True)

    card.get_by_test_id("callback-done").first.click()
    done = fake.wait_request("PATCH", "/v1/callbacks/31")
    assert done.body == {"status": "done"}
    assert done.authorization == f"Bearer {TOKEN}"
    expect(callbacks).to_have_count(1)

    expect(card.get_by_test_id("note-save")).to_be_disabled()
    card.get_by_test_id("note-input").press_sequentially("Asked to be called after 10:00")
    expect(card.get_by_test_id("note-input")).to_be_focused()  # typing is never interrupted
    card.get_by_test_id("note-save").click()
    note = fake.wait_request("POST", "/v1/interactions")
    assert note.body == {
        "contact_id": 12,
        "channel": "phone",
        "direction": "inbound",
        "summary": "Asked to be called after 10:00",
        "agent_id": 7,
    }
    expect(card.get_by_test_id("interaction")).to_have_count(3)
    expect(card.get_by_test_id("note-input")).to_have_value("")

    answered = a_call(
        call_id,
        "answered",
        answered_by_agent_id=7,
        answered_by_name="Sanne Bakker",
        answered_at=iso(now()),
    )
    fake.push("call.answered", answered)
    expect(card.get_by_test_id("answered-by")).to_have_text("Answered by you")
    expect(card.get_by_test_id("caller-name")).to_have_text("Ada de Vries")  # card kept

    fake.push(
        "call.ended", {**answered, "state": "ended", "ended_at": iso(now()), "interaction_id": 77}
    )
    expect(card).to_have_attribute("data-state", "ended")
    card.get_by_test_id("wrapup-outcome").select_option("callback_planned")
    helped = card.get_by_test_id("wrapup-helped")
    expect(helped).to_contain_text("Helped?")
    expect(helped.get_by_role("radio")).to_have_count(3)
    helped.get_by_label("Partly").check()
    card.get_by_test_id("wrapup-note").fill("Will call back Thursday about the intake")
    expect(card.get_by_test_id("wrapup-helped-partly")).to_be_checked()  # typing keeps it
    page.screenshot(path="/tmp/widget-wrapup.png", full_page=True)
    card.get_by_test_id("wrapup-save").click()
    wrap = fake.wait_request("POST", f"/v1/calls/{call_id}/wrap-up")
    assert wrap.body == {
        "outcome": "callback_planned",
        "note": "Will call back Thursday about the intake",
        "helped": "partly",
        "contact_id": 12,
    }
    expect(card.get_by_test_id("wrapup-saved")).to_have_text("Saved")
    expect(card).to_have_count(0)  # closes by itself
    expect(page.get_by_test_id("empty")).to_be_visible()


@pytest.mark.browser
def test_household_candidates_pick_one(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    fake.cards[14] = known_card(14, "Lotte de Vries", household="De Vries family")
    call_id = next(call_ids)
    household = {"from_e164": "+31334567890", "to_e164": "+31333031100"}
    fake.push("call.ringing", a_call(call_id, **household), household_card())

    card = card_of(page, call_id)
    expect(card.get_by_test_id("match-kind")).to_have_text("Shared number")
    candidates = card.get_by_test_id("candidate")
    expect(candidates).to_have_count(2)
    expect(candidates.nth(0)).to_contain_text("picked last time")
    candidates.nth(1).click()

    choice = fake.wait_request("POST", "/v1/lookup/choice")
    assert choice.body == {"number": "+31334567890", "contact_id": 14, "agent_id": 7}
    fetched = fake.wait_request("GET", "/v1/cards/14")
    # The line called: the picked contact's card keeps the line's notices.
    assert fetched.query == {"number": "+31334567890", "called": "+31333031100"}
    expect(card.get_by_test_id("caller-name")).to_have_text("Lotte de Vries")
    expect(card.get_by_test_id("match-kind")).to_have_text("Known caller")
    expect(card.get_by_test_id("candidate")).to_have_count(0)
    # A later pop without a card keeps the chosen one.
    fake.push("call.answered", a_call(call_id, "answered", **household))
    expect(card.get_by_test_id("caller-name")).to_have_text("Lotte de Vries")
    # The wrap-up goes on Lotte's record, not on the number's first match.
    fake.push("call.ended", a_call(call_id, "ended", ended_at=iso(now()), **household))
    card.get_by_test_id("wrapup-save").click()
    wrap = fake.wait_request("POST", f"/v1/calls/{call_id}/wrap-up")
    # No "geholpen?" picked: none is sent, so the server keeps whatever it had.
    assert wrap.body == {"outcome": "resolved", "note": "", "contact_id": 14}


@pytest.mark.browser
def test_unknown_caller_create_contact(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    call_id = next(call_ids)
    stranger = {
        "from_e164": "+31334567890",
        "from_display": "033 456 7890",
        "to_e164": "+31333031100",
    }
    fake.push("call.ringing", a_call(call_id, **stranger), unknown_card())

    card = card_of(page, call_id)
    expect(card.get_by_test_id("match-kind")).to_have_text("Unknown number")
    expect(card.get_by_test_id("caller-number")).to_have_text(
        "033 456 7890 · Amersfoort · landline"
    )
    expect(card.get_by_test_id("create-contact-save")).to_be_disabled()
    card.get_by_test_id("create-contact-name").fill("Jan Jansen")
    card.get_by_test_id("create-contact-address").fill("Mr Jansen")
    card.get_by_test_id("create-contact-language").select_option("nl")
    # The first read of the new contact misses (its commit still in flight): retried.
    fake.failures["GET /v1/cards/55"] = (404, {"code": "not_found", "message": "No contact 55."})
    card.get_by_test_id("create-contact-save").click()

    created = fake.wait_request("POST", "/v1/contacts")
    assert created.body == {
        "display_name": "Jan Jansen",
        "numbers": [{"number": "+31334567890"}],
        "form_of_address": "Mr Jansen",
        "language": "nl",
    }
    expect(card.get_by_test_id("caller-name")).to_have_text("Jan Jansen")
    reads = fake.requests_to("GET", "/v1/cards/55")
    assert [r.query for r in reads] == [{"number": "+31334567890", "called": "+31333031100"}] * 2
    expect(card.get_by_test_id("message")).to_have_text("Contact created.")
    expect(card.get_by_test_id("note-input")).to_be_visible()  # now a known caller
    fake.push("call.ended", a_call(call_id, "ended", ended_at=iso(now()), **stranger))
    card.get_by_test_id("wrapup-outcome").select_option("information_given")
    card.get_by_test_id("wrapup-save").click()
    wrap = fake.wait_request("POST", f"/v1/calls/{call_id}/wrap-up")
    assert wrap.body == {"outcome": "information_given", "note": "", "contact_id": 55}


@pytest.mark.browser
def test_answered_by_colleague_closes_the_card(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    call_id = next(call_ids)
    fake.push("call.ringing", a_call(call_id), ada_card())
    card = card_of(page, call_id)
    expect(card).to_be_visible()

    answered = a_call(
        call_id,
        "answered",
        answered_by_agent_id=8,
        answered_by_name="Bram de Boer",
        answered_at=iso(now()),
    )
    fake.push("call.answered", answered)
    expect(card.get_by_test_id("answered-by")).to_have_text("Answered by Bram de Boer")
    expect(card).to_have_count(0, timeout=8000)
    # The end of a colleague's call does not bring the card back (and asks no wrap-up).
    fake.push("call.ended", {**answered, "state": "ended", "ended_at": iso(now())})
    page.wait_for_timeout(300)
    expect(card).to_have_count(0)


@pytest.mark.browser
def test_withheld_missed_and_errors(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    withheld = next(call_ids)
    fake.push(
        "call.ringing",
        a_call(withheld, from_e164=None, from_display=None),
        unknown_card("withheld"),
    )
    card = card_of(page, withheld)
    expect(card.get_by_test_id("match-kind")).to_have_text("Number withheld")
    expect(card.get_by_test_id("caller-name")).to_have_text("Withheld number")
    expect(card.get_by_test_id("create-contact-name")).to_have_count(0)
    fake.push("call.missed", a_call(withheld, "missed", from_e164=None, ended_at=iso(now())))
    expect(card.get_by_test_id("call-status")).to_have_text("Missed call (number withheld)")

    missed = next(call_ids)
    fake.push("call.ringing", a_call(missed), ada_card())
    fake.push("call.missed", a_call(missed, "missed", ended_at=iso(now()), callback_request_id=31))
    expect(card_of(page, missed).get_by_test_id("call-status")).to_have_text(
        "Missed call, callback request created"
    )
    expect(card_of(page, missed).get_by_test_id("wrapup-save")).to_have_count(0)
    # A number nobody can call back (the server opened no request): no promise of one.
    unreadable = next(call_ids)
    odd = {"from_e164": None, "from_display": None, "party_e164": None, "party_display": None}
    unreadable_card = {
        **unknown_card(),
        "number": {"raw": "+999123456", "e164": None, "kind": "invalid", "region": None,
                   "region_description": None, "display": "+999123456"},
    }  # fmt: skip
    fake.push("call.ringing", a_call(unreadable, **odd), unreadable_card)
    fake.push("call.missed", a_call(unreadable, "missed", ended_at=iso(now()), **odd))
    expect(card_of(page, unreadable).get_by_test_id("call-status")).to_have_text(
        "Missed call (no number to call back)"
    )
    voicemail = next(call_ids)
    fake.push("call.ringing", a_call(voicemail, **odd), unreadable_card)
    fake.push("call.voicemail", a_call(voicemail, "voicemail", ended_at=iso(now()), **odd))
    expect(card_of(page, voicemail).get_by_test_id("call-status")).to_have_text(
        "Voicemail left (no number to call back)"
    )

    # The server's own message reaches the agent.
    ended = next(call_ids)
    fake.failures[f"POST /v1/calls/{ended}/wrap-up"] = (
        409,
        {"code": "conflict", "message": f"Call {ended} has not ended yet.", "fields": []},
    )
    fake.push("call.ringing", a_call(ended), ada_card())
    fake.push("call.ended", a_call(ended, "ended", answered_at=iso(now()), ended_at=iso(now())))
    card_of(page, ended).get_by_test_id("wrapup-save").click()
    expect(card_of(page, ended).get_by_test_id("error")).to_have_text(
        f"Call {ended} has not ended yet."
    )
    expect(card_of(page, ended).get_by_test_id("wrapup-save")).to_be_enabled()
    card_of(page, ended).get_by_test_id("call-close").click()
    expect(card_of(page, ended)).to_have_count(0)


@pytest.mark.browser
@pytest.mark.parametrize(
    ("lang", "notes_hidden", "notice_hidden"),
    [
        ("en", "Hidden: notes are for supervisors.", "Hidden: a notice for supervisors."),
        ("nl", "Verborgen: notities zijn voor leidinggevenden.",
         "Verborgen: een mededeling voor leidinggevenden."),
    ],
)  # fmt: skip
def test_a_masked_card_says_what_is_hidden_without_showing_it(
    page: Any, backend: tuple[FakeBackend, str], lang: str, notes_hidden: str, notice_hidden: str
) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url, query=f"lang={lang}")
    call_id = next(call_ids)
    # Role `agent`'s view (app/recognition/masking.py): notes null, the sensitive notice left
    # out, both named in `masked`; the other notice shows as always.
    masked = ada_card() | {"notes": None, "masked": ["notes", "notices"]}
    fake.push("call.ringing", a_call(call_id), checked_card(masked))
    card = card_of(page, call_id)
    expect(card.get_by_test_id("masked-notes")).to_have_text(notes_hidden)
    expect(card.get_by_test_id("masked-notices")).to_have_text(notice_hidden)
    expect(card.get_by_test_id("notice")).to_have_count(len(masked["notices"]))

    # A supervisor's card of the same caller names nothing as hidden.
    other = next(call_ids)
    fake.push("call.ringing", a_call(other), ada_card() | {"notes": "Slechthorend."})
    full = card_of(page, other)
    expect(full.locator("section.notes")).to_contain_text("Slechthorend.")
    expect(full.get_by_test_id("masked-notes")).to_have_count(0)
    expect(full.get_by_test_id("masked-notices")).to_have_count(0)


def checked_card(card: dict[str, Any]) -> dict[str, Any]:
    """A card the server's model accepts (the fake backend must speak the real contract)."""
    return checked(Card, card)
