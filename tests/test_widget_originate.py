"""The widget's "Bel terug" through the phone system, in a real browser against the fake
backend: offered only when GET /v1/originate says yes; a click rings the agent's phone
(POST /v1/callbacks/{id}/call) and counts the attempt; a refusal says why, links stay."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fake_originate import FakeOriginate
from tests.support.fake_widget_backend import FakeBackend, open_widget
from tests.support.fake_widget_data import ME, TOKEN, a_callback

pytest_plugins = ["tests.support.browser"]

MY_ID = ME["agent_id"]


def my_callbacks() -> list[dict[str, Any]]:
    return [
        a_callback(
            42, "Where does the referral stand?", due_in_hours=-2, assignee_agent_id=MY_ID,
            number_e164="+31201234567", attempts=1,
        ),
        a_callback(41, "No number yet", due_in_hours=3, assignee_agent_id=MY_ID, number_e164=None),
    ]  # fmt: skip


@pytest.mark.browser
def test_bel_terug_rings_my_phone_then_the_caller(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    fake.callbacks = my_callbacks()
    fake.originate = FakeOriginate()  # the backend is shared by the module's tests
    asked = len(fake.requests_to("GET", "/v1/originate"))
    fake.originate.providers = ["twilio"]
    expect = open_widget(page, base_url, query="lang=nl")
    page.get_by_test_id("callbacks-tab-mine").click()
    listed = page.get_by_test_id("listed-callback")
    expect(listed).to_have_count(2)
    button = listed.nth(0).get_by_test_id("callback-originate")
    expect(button).to_have_text("Bel terug")
    # The tel: link stays, named for what it does beside the button.
    expect(listed.nth(0).get_by_test_id("callback-call-tel")).to_have_text("Zelf bellen")
    expect(listed.nth(0).get_by_test_id("callback-call-tel")).to_have_attribute(
        "href", "tel:+31201234567"
    )
    expect(listed.nth(1).get_by_test_id("callback-originate")).to_have_count(0)  # no number
    expect(listed.nth(0)).to_contain_text("1\u00d7\u00a0geprobeerd")

    button.click()
    placed = fake.wait_request("POST", "/v1/callbacks/42/call")
    assert placed.authorization == f"Bearer {TOKEN}"
    expect(page.get_by_test_id("callbacks-message")).to_have_text(
        "Uw toestel gaat over: neem op om +31201234567 te bellen."
    )
    expect(listed.nth(0)).to_contain_text("2\u00d7\u00a0geprobeerd")
    assert fake.originate.placed == [42]
    assert len(fake.requests_to("GET", "/v1/originate")) == asked + 1  # once per sign-in
    page.screenshot(path="/tmp/widget-originate.png", full_page=True)


@pytest.mark.browser
def test_without_originate_only_the_links(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    fake.callbacks = my_callbacks()
    fake.originate = FakeOriginate()  # the backend is shared by the module's tests
    asked = len(fake.requests_to("GET", "/v1/originate"))
    expect = open_widget(page, base_url, query="lang=en")
    page.get_by_test_id("callbacks-tab-mine").click()
    listed = page.get_by_test_id("listed-callback")
    expect(listed).to_have_count(2)
    expect(page.get_by_test_id("callback-originate")).to_have_count(0)
    expect(listed.nth(0).get_by_test_id("callback-call-tel")).to_have_text("Call back")
    assert len(fake.requests_to("GET", "/v1/originate")) == asked + 1  # once per sign-in


@pytest.mark.browser
def test_a_phone_system_failure_says_why_and_counts_nothing(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    fake.callbacks = my_callbacks()
    fake.originate = FakeOriginate()  # the backend is shared by the module's tests
    fake.originate.providers = ["vonage"]
    fake.failures["POST /v1/callbacks/42/call"] = (
        502,
        {
            "code": "phone_system_failed",
            "message": "Vonage refused the call (HTTP 401): Unauthorized",
        },
    )
    expect = open_widget(page, base_url, query="lang=en")
    page.get_by_test_id("callbacks-tab-mine").click()
    listed = page.get_by_test_id("listed-callback")
    listed.nth(0).get_by_test_id("callback-originate").click()
    expect(page.get_by_test_id("callbacks-message")).to_have_text(
        "Vonage refused the call (HTTP 401): Unauthorized"
    )
    expect(listed.nth(0)).to_contain_text("tried\u00a01\u00d7")
    expect(listed.nth(0).get_by_test_id("callback-originate")).to_be_enabled()
    assert fake.originate.placed == []
