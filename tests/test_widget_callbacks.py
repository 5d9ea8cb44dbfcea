"""The widget's callback lists in a real browser, against the fake backend: "my" and "team"
callbacks with counts, oldest overdue first, a tel:/sip: link to call back, and Done."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.fake_widget_backend import FakeBackend, card_of, open_widget
from tests.support.fake_widget_data import ME, TOKEN, a_call, a_callback, call_ids

pytest_plugins = ["tests.support.browser"]

MY_ID = ME["agent_id"]


def callbacks_of_the_day() -> list[dict[str, Any]]:
    """Listed out of order on purpose: the order on screen is the server's."""
    return [
        a_callback(41, "Confirm the intake appointment", due_in_hours=3, assignee_agent_id=MY_ID),
        a_callback(
            42, "Where does the referral stand?", due_in_hours=-2, assignee_agent_id=MY_ID,
            number_e164="+31201234567", attempts=1,
        ),
        a_callback(
            43, "Asked for a call from the front desk", due_in_hours=-26,
            assignee_agent_id=MY_ID, number_e164="101", missed_calls=2,
        ),
        a_callback(44, "Question about an invoice", due_in_hours=-5, assignee_agent_id=99),
        a_callback(45, "Wants to reschedule", due_in_hours=None),
    ]  # fmt: skip


@pytest.mark.browser
def test_my_and_team_callbacks_oldest_overdue_first_call_back_and_done(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    fake.callbacks = callbacks_of_the_day()
    expect = open_widget(page, base_url, query="lang=nl")

    mine = page.get_by_test_id("callbacks-tab-mine")
    team = page.get_by_test_id("callbacks-tab-team")
    expect(page.get_by_test_id("callback-lists")).to_contain_text("Terugbellen")
    expect(mine).to_have_text("Mijn (3)")
    expect(team).to_have_text("Team (5)")
    asked = fake.requests_to("GET", "/v1/callbacks")
    assert {r.query.get("assignee_agent_id") for r in asked} == {str(MY_ID), None}
    assert all(r.query["status"] == "open" for r in asked)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in asked)
    # Closed until asked: the call cards keep their place.
    expect(page.get_by_test_id("listed-callback")).to_have_count(0)

    mine.click()
    expect(mine).to_have_attribute("aria-pressed", "true")
    listed = page.get_by_test_id("listed-callback")
    expect(listed).to_have_count(3)
    assert [listed.nth(i).get_attribute("data-callback-id") for i in range(3)] == ["43", "42", "41"]
    expect(listed.nth(0)).to_have_class(re.compile(r"\boverdue\b"))
    expect(listed.nth(0)).to_contain_text("te laat sinds ")
    expect(listed.nth(0)).to_contain_text("2\u00d7\u00a0gemist")
    expect(listed.nth(2)).not_to_have_class(re.compile(r"\boverdue\b"))
    expect(listed.nth(2)).to_contain_text("uiterlijk ")

    # One click calls back: tel: for a phone number; an internal extension also gets sip:.
    tel = listed.nth(1).get_by_test_id("callback-call-tel")
    expect(tel).to_have_text("Bel terug")
    expect(tel).to_have_attribute("href", "tel:+31201234567")
    expect(listed.nth(1).get_by_test_id("callback-call-sip")).to_have_count(0)
    expect(listed.nth(0).get_by_test_id("callback-call-tel")).to_have_attribute("href", "tel:101")
    expect(listed.nth(0).get_by_test_id("callback-call-sip")).to_have_attribute("href", "sip:101")

    listed.nth(1).get_by_test_id("listed-callback-done").click()
    patch = fake.wait_request("PATCH", "/v1/callbacks/42")
    assert patch.body == {"status": "done"}
    expect(page.get_by_test_id("callbacks-message")).to_have_text("Terugbelverzoek afgehandeld.")
    expect(listed).to_have_count(2)
    expect(mine).to_have_text("Mijn (2)")
    expect(team).to_have_text("Team (4)")
    page.screenshot(path="/tmp/widget-callbacks.png", full_page=True)

    team.click()
    expect(mine).to_have_attribute("aria-pressed", "false")
    ids = [listed.nth(i).get_attribute("data-callback-id") for i in range(4)]
    assert ids == ["43", "44", "41", "45"]
    expect(listed.nth(3)).to_contain_text("niet toegewezen")
    team.click()  # closes again
    expect(listed).to_have_count(0)


@pytest.mark.browser
def test_a_missed_call_reloads_the_lists_without_touching_the_cards(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    fake.callbacks = []
    expect = open_widget(page, base_url)
    mine = page.get_by_test_id("callbacks-tab-mine")
    expect(mine).to_have_text("Mine (0)")
    loaded = len(fake.requests_to("GET", "/v1/callbacks"))
    mine.click()
    expect(page.get_by_test_id("callbacks-empty")).to_have_text(
        "No open callbacks assigned to you."
    )
    call_id = next(call_ids)
    fake.push("call.ringing", a_call(call_id))
    expect(card_of(page, call_id)).to_have_attribute("data-state", "ringing")
    before = len(fake.requests_to("GET", "/v1/callbacks"))
    assert before == loaded  # a ringing call asks for nothing

    # The server promised a callback for the missed call; its pop makes the widget ask again.
    fake.callbacks = [
        a_callback(51, "Missed call", due_in_hours=1, assignee_agent_id=MY_ID, call_id=call_id)
    ]
    fake.push("call.missed", a_call(call_id, "missed", ended_at=a_call(call_id)["started_at"]))
    expect(mine).to_have_text("Mine (1)")
    expect(page.get_by_test_id("callbacks-tab-team")).to_have_text("Team (1)")
    expect(page.get_by_test_id("listed-callback")).to_have_count(1)
    expect(card_of(page, call_id)).to_have_attribute("data-state", "missed")
    assert len(fake.requests_to("GET", "/v1/callbacks")) == before + 2

    # A failed Done says why and keeps the callback listed.
    fake.failures["PATCH /v1/callbacks/51"] = (
        404,
        {"code": "not_found", "message": "No callback request 51 in this tenant."},
    )
    page.get_by_test_id("listed-callback-done").click()
    expect(page.get_by_test_id("callbacks-message")).to_have_text(
        "No callback request 51 in this tenant."
    )
    expect(page.get_by_test_id("listed-callback")).to_have_count(1)


@pytest.mark.browser
def test_back_after_a_dropped_stream_the_lists_are_asked_again(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    fake.callbacks = []
    expect = open_widget(page, base_url)
    mine = page.get_by_test_id("callbacks-tab-mine")
    expect(mine).to_have_text("Mine (0)")
    # Kept by a colleague's promise while this widget was cut off.
    fake.callbacks = [
        a_callback(61, "Promised meanwhile", due_in_hours=-1, assignee_agent_id=MY_ID)
    ]
    fake.drop()
    expect(mine).to_have_text("Mine (1)", timeout=9000)
    expect(mine).to_have_class(re.compile(r"\bhas-overdue\b"))
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")


@pytest.mark.browser
def test_no_answer_counts_an_attempt_and_an_overdue_notice_warns_the_team(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    fake.callbacks = [
        a_callback(61, "Uitslag bespreken", due_in_hours=2, assignee_agent_id=MY_ID),
        a_callback(62, "Vraag over rekening", due_in_hours=5, assignee_agent_id=MY_ID),
    ]
    expect = open_widget(page, base_url, query="lang=nl")
    mine = page.get_by_test_id("callbacks-tab-mine")
    expect(mine).to_have_text("Mijn (2)")
    mine.click()
    listed = page.get_by_test_id("listed-callback")
    expect(listed).to_have_count(2)

    # "Geen gehoor" records an attempt; the callback stays open and shows the count.
    no_answer = listed.nth(0).get_by_test_id("listed-callback-no-answer")
    expect(no_answer).to_have_text("Geen gehoor")
    no_answer.click()
    posted = fake.wait_request("POST", "/v1/callbacks/61/attempts")
    assert posted.body == {"outcome": "no_answer"}
    expect(page.get_by_test_id("callbacks-message")).to_have_text(
        "Poging genoteerd: geen gehoor (1\u00d7\u00a0geprobeerd)."
    )
    expect(listed).to_have_count(2)
    expect(listed.nth(0)).to_contain_text("1\u00d7\u00a0geprobeerd")

    # The server escalates the other one: the team is warned and the lists reload, the
    # overdue one on top.
    loaded = len(fake.requests_to("GET", "/v1/callbacks"))
    overdue = a_callback(62, "Vraag over rekening", due_in_hours=-1, assignee_agent_id=MY_ID)
    fake.callbacks = [fake.callbacks[0], overdue]
    fake.push_frame(
        {
            "pop_id": "overdue-62",
            "type": "callback.overdue",
            "tenant_id": 1,
            "call": None,
            "card": None,
            "callback": {**overdue, "line_label": "Zorglijn"},
            "at": overdue["due_by"],
        }
    )
    expect(page.get_by_test_id("callbacks-message")).to_have_text(
        "Terugbelverzoek te laat op Zorglijn: Vraag over rekening (+31612345678)."
    )
    expect(listed.nth(0)).to_have_attribute("data-callback-id", "62")
    expect(listed.nth(0)).to_have_class(re.compile(r"\boverdue\b"))
    assert len(fake.requests_to("GET", "/v1/callbacks")) == loaded + 2
    expect(page.get_by_test_id("call-card")).to_have_count(0)  # no call was shown for it

    # In English too.
    page.evaluate("document.querySelector('stamgast-widget').setAttribute('lang', 'en')")
    expect(listed.nth(1).get_by_test_id("listed-callback-no-answer")).to_have_text("No answer")
