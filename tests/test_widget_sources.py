"""Provenance in the widget (real Chromium): facts from a lookup source say "from <name>"
and link to the record; a `card.updated` adds a late source; one click saves the caller
as a contact with the source's id kept."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fake_widget_backend import FakeBackend, card_of, open_widget
from tests.support.fake_widget_data import a_call, call_ids, crm_fact, sourced_card, unknown_card

pytest_plugins = ["tests.support.browser"]

STRANGER = {"from_e164": "+31334567890", "from_display": "033 456 7890", "to_e164": "+31333031100"}


@pytest.mark.browser
def test_source_facts_name_their_source_and_save_in_one_click(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url, query="lang=nl")
    call_id = next(call_ids)
    fake.push("call.ringing", a_call(call_id, **STRANGER), unknown_card())
    card = card_of(page, call_id)
    expect(card.get_by_test_id("source-fact")).to_have_count(0)
    # The CRM answered after the deadline: the card is updated in place.
    colleague = crm_fact(
        source="AD", kind="ldap", display_name="Pieter de Vries", external_id="pdevries",
        deep_link="https://intranet.example.org/people/pdevries", fields=[],
        organisation="Wijkteam Noord", language=None, form_of_address=None,
        details={"title": "Teamleider thuiszorg"},
    )  # fmt: skip
    fake.push("card.updated", a_call(call_id, **STRANGER), sourced_card(crm_fact(), colleague))
    expect(card.get_by_test_id("caller-name")).to_have_text("Bakkerij Jansen")
    link = card.get_by_test_id("caller-name-source").get_by_test_id("source-link")
    expect(link).to_have_text("uit CRM")
    expect(link).to_have_attribute("href", "https://crm.example.org/people/4711")
    expect(link).to_have_attribute("target", "_blank")
    facts = card.get_by_test_id("source-fact")
    expect(facts).to_have_count(2)
    expect(facts.nth(1)).to_contain_text("Pieter de Vries")
    expect(facts.nth(1)).to_contain_text("Wijkteam Noord · Teamleider thuiszorg")
    expect(facts.nth(1).get_by_test_id("source-link")).to_have_text("uit AD")
    expect(card.get_by_test_id("create-contact-save")).to_have_count(0)  # the source's button
    page.screenshot(path="/tmp/widget-sources.png", full_page=True)

    facts.nth(0).get_by_test_id("source-save").click()
    created = fake.wait_request("POST", "/v1/contacts")
    assert created.body == {
        "display_name": "Bakkerij Jansen",
        "numbers": [{"number": "+31334567890"}],
        "form_of_address": "Meneer Jansen",
        "organisation": "Bakkerij Jansen B.V.",
        "language": "nl",
        "external_id": "CRM:4711",
        "references": {"CRM": "4711"},
    }
    expect(card.get_by_test_id("message")).to_have_text("Opgeslagen als contact.")
    expect(card.get_by_test_id("match-kind")).to_have_attribute("data-kind", "known")
    expect(card.get_by_test_id("source-save")).to_have_count(0)


@pytest.mark.browser
def test_a_source_link_that_is_not_http_is_not_a_link(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    call_id = next(call_ids)
    fact = crm_fact(deep_link=None)
    fake.push("call.ringing", a_call(call_id, **STRANGER), sourced_card(fact))
    card = card_of(page, call_id)
    expect(card.get_by_test_id("caller-name-source")).to_have_text("from CRM")
    expect(card.get_by_test_id("source-link")).to_have_count(0)
