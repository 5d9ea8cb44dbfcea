"""The agent widget's stream in a real browser: reconnecting with the last seq, `resync`
and `bye`, the Server-Sent Events fallback, and embedding on another origin with one
script tag. Against the fake backend (tests/support/fake_widget_backend.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Response

from tests.support.fake_widget_backend import (
    FakeBackend,
    ThreadedServer,
    card_of,
    open_widget,
    running_fake_backend,
)
from tests.support.fake_widget_data import (
    ME,
    TOKEN,
    a_call,
    a_pop,
    ada_card,
    call_ids,
    known_card,
)

pytest_plugins = ["tests.support.browser"]


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[FakeBackend, str]]:
    with running_fake_backend() as started:
        yield started


@pytest.mark.browser
def test_reconnects_with_last_seq_and_drops_duplicates(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    page.evaluate("""() => {
        window.__states = [];
        document.querySelector('stamgast-widget')
            .addEventListener('stamgast:state', (e) => window.__states.push(e.detail.state));
    }""")
    first = next(call_ids)
    seq = fake.push("call.ringing", a_call(first), ada_card())
    expect(card_of(page, first)).to_be_visible()
    connections = len(fake.stream_queries)

    fake.drop()
    fake.wait_streams(connections + 1)
    # Waited for in the page: "connected" is still showing when the drop has not reached
    # the widget yet, and the new socket's hello may still be on its way (a loaded machine).
    page.wait_for_function("window.__states.includes('connected')")
    assert page.evaluate("window.__states")[:2] == ["reconnecting", "connected"]
    assert fake.stream_queries[-1]["last_seq"] == str(seq)
    assert fake.stream_queries[-1]["transport"] == "ws"

    # A frame delivered twice (replay overlapping live) shows once; a new one shows.
    fake.resend(seq)
    second = next(call_ids)
    fake.push("call.ringing", a_call(second), known_card(40, "Kees Smit"))
    expect(card_of(page, second)).to_be_visible()
    expect(page.get_by_test_id("call-card")).to_have_count(2)
    assert page.evaluate("localStorage.length") >= 1  # the last seq survives a reload

    # resync, and the calls cannot be reloaded: the agent is told calls may be missing.
    fake.failures["GET /v1/me/calls"] = (503, {"code": "unavailable", "message": "Down."})
    fake.notice({"type": "resync", "message": "pops after your last seq are gone"})
    fake.wait_request("GET", "/v1/me/calls")
    expect(page.get_by_test_id("banner")).to_contain_text("may have been missed")
    expect(page.get_by_test_id("call-card")).to_have_count(2)  # nothing closed on a failure

    # bye: reconnect after retry_ms, again resuming after the last seq.
    connections = len(fake.stream_queries)
    fake.notice({"type": "bye", "retry_ms": 200})
    fake.wait_streams(connections + 1)
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")
    assert fake.stream_queries[-1]["last_seq"] == str(fake.seq)

    # A reload resumes from the stored seq too.
    connections = len(fake.stream_queries)
    page.reload()
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")
    fake.wait_streams(connections + 1)
    assert fake.stream_queries[-1]["last_seq"] == str(fake.seq)


@pytest.mark.browser
def test_after_a_server_restart_the_widget_replays_the_new_life_and_reloads_its_calls(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    """The server restarted: the widget's last_seq belongs to the old life. It reconnects
    with its epoch, gets hello 0 + resync + the new life's pops, and reloads its calls:
    a call that rang before the restart and is still open keeps its card (now answered),
    one whose end was lost disappears, one whose ringing pop was lost appears."""
    fake, base_url = backend
    expect = open_widget(page, base_url)
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")
    kept, ended, lost, fresh = (next(call_ids) for _ in range(4))
    fake.push("call.ringing", a_call(kept), ada_card())
    fake.push("call.ringing", a_call(ended), known_card(41, "Kees Smit"))
    expect(page.get_by_test_id("call-card")).to_have_count(2)
    old_epoch, old_seq = fake.epoch, fake.seq
    connections = len(fake.stream_queries)
    reloads = len(fake.requests_to("GET", "/v1/me/calls"))

    answered = a_call(
        kept, "answered", answered_by_agent_id=ME["agent_id"], answered_by_name=ME["name"],
        answered_at=a_call(kept)["started_at"],
    )  # fmt: skip
    fake.my_calls = [
        a_pop("call.ringing", a_call(lost), known_card(42, "Bram Jansen")),
        a_pop("call.answered", answered, ada_card()),
    ]
    fake.restart("0b0b0b0b0b0b", [("call.ringing", a_call(fresh), known_card(43, "Lies Smit"))])

    fake.wait_streams(connections + 1)
    resumed = fake.stream_queries[connections]
    assert (resumed["last_seq"], resumed["epoch"]) == (str(old_seq), old_epoch)
    expect(card_of(page, fresh).get_by_test_id("caller-name")).to_have_text("Lies Smit")
    expect(card_of(page, lost).get_by_test_id("caller-name")).to_have_text("Bram Jansen")
    expect(card_of(page, kept)).to_have_attribute("data-state", "answered")
    expect(card_of(page, ended)).to_have_count(0)
    expect(page.get_by_test_id("banner")).to_contain_text("reloaded")
    assert len(fake.requests_to("GET", "/v1/me/calls")) == reloads + 1

    # The widget follows the new life: the next reconnect resumes after seq 1 of epoch 0b….
    connections = len(fake.stream_queries)
    fake.drop()
    fake.wait_streams(connections + 1)
    resumed = fake.stream_queries[connections]
    assert (resumed["last_seq"], resumed["epoch"]) == ("1", "0b0b0b0b0b0b")


@pytest.mark.browser
def test_sse_transport_and_fallback(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    # WebSocket refused twice in a row: the widget switches to Server-Sent Events.
    fake.refuse_websockets = 2
    connections = len(fake.stream_queries)
    page.goto(f"{base_url}/widget?token={TOKEN}&lang=en")
    from playwright.sync_api import expect

    pill = page.get_by_test_id("connection-state")
    expect(pill).to_have_attribute("data-transport", "sse", timeout=8000)
    expect(pill).to_have_attribute("data-state", "connected")
    kinds = [query["transport"] for query in fake.stream_queries[connections:]]
    assert kinds == ["ws", "ws", "sse"]
    call_id = next(call_ids)
    fake.push("call.ringing", a_call(call_id), ada_card())
    expect(card_of(page, call_id).get_by_test_id("caller-name")).to_have_text("Ada de Vries")
    # transport="sse" goes there directly.
    connections = len(fake.stream_queries)
    page.goto(f"{base_url}/widget?token={TOKEN}&lang=en&transport=sse")
    expect(pill).to_have_attribute("data-state", "connected")
    expect(pill).to_have_attribute("data-transport", "sse")
    assert [q["transport"] for q in fake.stream_queries[connections:]] == ["sse"]
    assert fake.stream_queries[-1]["last_seq"] == str(fake.seq)


@pytest.mark.browser
def test_embedded_with_one_script_tag_on_another_origin(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    html = (
        "<!doctype html><html><head><title>CRM</title>"
        f'<script src="{base_url}/widget/stamgast-widget.js"></script></head>'
        f'<body><h1>CRM</h1><stamgast-widget token="{TOKEN}" lang="en"></stamgast-widget>'
        "</body></html>"
    )
    crm = FastAPI()
    crm.add_api_route("/", lambda: Response(html, media_type="text/html"))
    # Another origin (another port), served for real: Chromium keeps pages it cannot place
    # in an address space away from loopback servers.
    with ThreadedServer(crm) as host:
        assert host.base_url != base_url
        page.goto(f"{host.base_url}/")
        _embedded_card_shows(page, fake)


def _embedded_card_shows(page: Any, fake: FakeBackend) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")
    expect(page.get_by_test_id("agent")).to_contain_text("Sanne Bakker")  # CORS REST works
    call_id = next(call_ids)
    fake.push("call.ringing", a_call(call_id), ada_card())
    expect(card_of(page, call_id).get_by_test_id("caller-name")).to_have_text("Ada de Vries")
    # The host page's styles do not reach into the card, nor ours out.
    assert page.locator("h1").evaluate("e => getComputedStyle(e).fontSize") == "32px"
