"""The widget's words in the agent's language, and whom the card is about on an outbound
call, in Debian's Chromium against the fake backend."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

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
    iso,
    now,
    unknown_card,
)

pytest_plugins = ["tests.support.browser"]


@pytest.mark.browser
def test_dutch_strings_and_dates(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    page.goto(f"{base_url}/widget?token={TOKEN}&lang=nl")
    from playwright.sync_api import expect

    expect(page.get_by_test_id("connection-state")).to_have_text("Verbonden")
    call_id = next(call_ids)
    fake.push("call.ringing", a_call(call_id), ada_card())
    card = card_of(page, call_id)
    expect(card.get_by_test_id("match-kind")).to_have_text("Bekende beller")
    expect(card.get_by_test_id("callback").first).to_contain_text("te laat sinds")
    expect(card.get_by_test_id("call-status")).to_contain_text("Gaat over")
    # The day as the browser sees it: its context runs in Europe/Amsterdam (support/browser.py),
    # not in this machine's zone, so near midnight UTC the two dates differ.
    due = datetime.fromisoformat(ada_card()["callbacks"][1]["due_by"]).astimezone(
        ZoneInfo("Europe/Amsterdam")
    )
    months = ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"]
    expect(card.get_by_test_id("callback").nth(1)).to_contain_text(
        re.compile(rf"{due.day} {months[due.month - 1]}")
    )
    # The wrap-up asks "geholpen?" in Dutch and sends the code of the choice.
    fake.push("call.ended", a_call(call_id, "ended", ended_at=iso(now())))
    helped = card.get_by_test_id("wrapup-helped")
    expect(helped).to_contain_text("Geholpen?")
    expect(helped.locator("label")).to_have_text(["Opgelost", "Deels", "Niet"])
    helped.get_by_label("Niet").check()
    card.get_by_test_id("wrapup-save").click()
    wrap = fake.wait_request("POST", f"/v1/calls/{call_id}/wrap-up")
    assert wrap.body["helped"] == "not"


@pytest.mark.browser
def test_outbound_call_shows_the_person_called(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    call_id = next(call_ids)
    # We ring a number nobody knows yet, from our own line: the card is about them.
    outbound = a_call(
        call_id,
        direction="outbound",
        from_e164="+31201234567",
        from_display="020 123 4567",
        to_e164="+31334567890",
        party_e164="+31334567890",
        party_display="033 456 7890",
    )
    fake.push("call.ringing", outbound, {**unknown_card(), "number": None})
    card = card_of(page, call_id)
    expect(card.get_by_test_id("caller-name")).to_have_text("033 456 7890")
    card.get_by_test_id("create-contact-name").fill("Jan Jansen")
    card.get_by_test_id("create-contact-save").click()
    created = fake.wait_request("POST", "/v1/contacts")
    assert created.body["numbers"] == [{"number": "+31334567890"}]


@pytest.mark.browser
def test_dutch_card_translates_what_the_server_sends_in_codes_and_english(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url, query="lang=nl")
    call_id = next(call_ids)
    ada = ada_card()
    ada["service_profile"]["extra"] = {"tip": "Vat de afspraken kort samen."}
    fake.push("call.ringing", a_call(call_id), ada)
    card = card_of(page, call_id)
    # A mobile number's place is its country: named in the agent's language.
    expect(card.get_by_test_id("caller-number")).to_have_text("06 12345678 · Nederland · mobiel")
    expect(card.get_by_test_id("case-kind")).to_have_text("Wachtlijst")
    expect(card.get_by_test_id("case-status")).to_have_text("wachtend")
    expect(card.locator("dt", has_text="Gesprekstip")).to_have_count(1)

    # An unknown caller: the phone system's name for them, marked as such; a town stays.
    stranger = next(call_ids)
    odd = {"from_e164": "+31334567890", "from_display": "033 456 7890"}
    fake.push(
        "call.ringing", a_call(stranger, caller_name="BAKKERIJ JANSEN", **odd), unknown_card()
    )
    unknown = card_of(page, stranger)
    expect(unknown.get_by_test_id("caller-name")).to_have_text("BAKKERIJ JANSEN")
    expect(unknown.get_by_test_id("caller-name-source")).to_have_text(
        "(naam volgens de telefooncentrale)"
    )
    expect(unknown.get_by_test_id("caller-number")).to_have_text(
        "033 456 7890 · Amersfoort · vast nummer"
    )
    language = unknown.get_by_test_id("create-contact-language")
    expect(language.locator("option[value=pap]")).to_have_text("Papiaments")
    # A later event without the name keeps it on the card.
    fake.push("call.answered", a_call(stranger, "answered", answered_at=iso(now()), **odd))
    expect(unknown.get_by_test_id("caller-name")).to_have_text("BAKKERIJ JANSEN")
    # A Turkish mobile: the server's (phone library's) English name differs from the browser's.
    turkish = next(call_ids)
    number = {
        **unknown_card()["number"],
        "e164": "+905321234567",
        "kind": "mobile",
        "region": "TR",
        "region_description": "Turkey",
        "display": "+90 532 123 45 67",
    }
    fake.push("call.ringing", a_call(turkish), {**unknown_card(), "number": number})
    expect(card_of(page, turkish).get_by_test_id("caller-number")).to_have_text(
        "+90 532 123 45 67 · Turkije · mobiel"
    )
