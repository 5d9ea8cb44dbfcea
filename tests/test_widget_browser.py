"""The agent widget in a real browser (Debian's Chromium through Playwright).

Two levels:
- the element against a small fake backend (uvicorn in a thread) that speaks the stream
  and REST contract, so every card state and every request the widget sends is checked;
- end to end: the real app in its own process, a signed Twilio webhook, the card on screen,
  the wrap-up saved into the call's interaction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse

from app.errors import install_error_handlers
from app.widget.router import router as widget_router
from tests.support.servers import free_port, missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "sga_fake0001_widget-test-token"
ME = {
    "agent_id": 7,
    "name": "Sanne Bakker",
    "extension": "101",
    "tenant_id": 1,
    "language": "nl",
    "scopes": ["contacts:write", "lookup:read"],
}
WAIT_MS = 5000  # every browser wait is bounded; none exceeds 10 s
_call_ids = itertools.count(500)


# ---- payloads as the backend sends them -------------------------------------------------


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def now() -> datetime:
    return datetime.now(UTC)


def a_call(call_id: int, state: str = "ringing", **changes: Any) -> dict[str, Any]:
    call: dict[str, Any] = {
        "id": call_id,
        "provider": "twilio",
        "provider_call_id": f"CA{call_id:032d}",
        "state": state,
        "direction": "inbound",
        "from_e164": "+31612345678",
        "from_display": "06 12345678",
        "to_e164": "+31334567890",
        "line_label": "Client line Amersfoort",
        "ringing_extension": None,
        "answered_by_agent_id": None,
        "answered_by_name": None,
        "started_at": iso(now() - timedelta(minutes=4)),
        "answered_at": None,
        "ended_at": None,
        "interaction_id": None,
    }
    call.update(changes)
    return call


def mobile_number(e164: str = "+31612345678", display: str = "06 12345678") -> dict[str, Any]:
    return {
        "raw": e164,
        "e164": e164,
        "kind": "mobile",
        "region": "NL",
        "region_description": "Netherlands",
        "display": display,
    }


def known_card(contact_id: int, name: str, **changes: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "match": "known",
        "number": mobile_number(),
        "contact_id": contact_id,
        "display_name": name,
        "form_of_address": None,
        "language": None,
        "organisation": None,
        "household": None,
        "flags": [],
        "tags": [],
        "notes": None,
        "candidates": [],
        "service_profile": None,
        "interactions": [],
        "callbacks": [],
        "cases": [],
        "notices": [],
    }
    card.update(changes)
    return card


def ada_card() -> dict[str, Any]:
    moment = now()
    return known_card(
        12,
        "Ada de Vries",
        form_of_address="Mrs De Vries",
        language="nl",
        household="De Vries family",
        flags=["attention", "vip"],
        tags=["waiting-list"],
        service_profile={
            "preferred_times": "weekday mornings, not before 10:00",
            "preferred_channel": "phone",
            "preferred_place": "Amersfoort",
            "language": "nl",
            "plain_language": True,
            "extra_explanation": True,
            "interpreter": None,
            "accessibility": "hard of hearing: speak slowly",
            "likes": ["one fixed contact person"],
            "dislikes": ["being transferred"],
            "extra": {},
        },
        interactions=[
            {
                "id": 3,
                "occurred_at": iso(moment - timedelta(days=2, hours=3)),
                "channel": "phone",
                "direction": "inbound",
                "summary": "Asked where her referral stands; explained the intake step.",
                "outcome": "answered",
                "agent_name": "Bram de Boer",
            },
            {
                "id": 2,
                "occurred_at": iso(moment - timedelta(days=9)),
                "channel": "email",
                "direction": "outbound",
                "summary": "Sent the waiting-list confirmation.",
                "outcome": None,
                "agent_name": "Sanne Bakker",
            },
        ],
        callbacks=[
            {
                "id": 31,
                "reason": "Call back about her place on the waiting list",
                "requested_at": iso(moment - timedelta(days=3)),
                "due_by": iso(moment - timedelta(days=1)),
                "overdue": True,
                "attempts": 1,
            },
            {
                "id": 32,
                "reason": "Confirm the intake appointment",
                "requested_at": iso(moment - timedelta(hours=5)),
                "due_by": iso(moment + timedelta(days=2)),
                "overdue": False,
                "attempts": 0,
            },
        ],
        cases=[
            {
                "id": 5,
                "reference": "ZD-123456",
                "kind": "waiting_list",
                "status": "waiting",
                "next_step": "Intake with the care coordinator",
                "position": 4,
                "updated_at": iso(moment - timedelta(days=1)),
            }
        ],
        notices=[
            {
                "id": 2,
                "title": "Roadworks at the Amersfoort location",
                "body": "Entrance via the Stadsring until 1 December.",
                "severity": "warning",
            }
        ],
    )


def household_card() -> dict[str, Any]:
    return {
        **known_card(0, ""),
        "match": "ambiguous",
        "number": {
            "raw": "+31334567890",
            "e164": "+31334567890",
            "kind": "fixed",
            "region": "NL",
            "region_description": "Amersfoort",
            "display": "033 456 7890",
        },
        "contact_id": None,
        "display_name": None,
        "candidates": [
            {
                "contact_id": 13,
                "display_name": "Piet de Vries",
                "form_of_address": "Mr De Vries",
                "household": "De Vries family",
                "last_interaction_at": iso(now() - timedelta(days=20)),
                "chosen_before": True,
            },
            {
                "contact_id": 14,
                "display_name": "Lotte de Vries",
                "form_of_address": None,
                "household": "De Vries family",
                "last_interaction_at": None,
                "chosen_before": False,
            },
        ],
    }


def unknown_card(kind: str = "unknown") -> dict[str, Any]:
    number = None
    if kind == "unknown":
        number = {
            "raw": "0334567890",
            "e164": "+31334567890",
            "kind": "fixed",
            "region": "NL",
            "region_description": "Amersfoort",
            "display": "033 456 7890",
        }
    return {
        **known_card(0, ""),
        "match": kind,
        "number": number,
        "contact_id": None,
        "display_name": None,
    }


# ---- the fake backend ------------------------------------------------------------------


@dataclass
class Recorded:
    """One REST request the widget made."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


class FakeBackend:
    """The stream and REST contract, scripted by the test; records what the widget sends."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.stream_queries: list[dict[str, str | None]] = []
        self.sockets: list[WebSocket] = []
        self.sse_queues: list[asyncio.Queue[tuple[str, int | None, str] | None]] = []
        self.frames: list[tuple[int, str]] = []
        self.seq = 0
        self.cards: dict[int, dict[str, Any]] = {}
        self.failures: dict[str, tuple[int, dict[str, Any]]] = {}
        self.refuse_websockets = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app = self._build()

    # What the test does.

    def push(
        self,
        kind: str,
        call: dict[str, Any],
        card: dict[str, Any] | None = None,
        seq: int | None = None,
    ) -> int:
        """Deliver a pop to every open stream; returns its seq."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        pop = {
            "pop_id": uuid.uuid4().hex,
            "type": kind,
            "tenant_id": 1,
            "call": call,
            "card": card,
            "at": iso(now()),
        }
        text = json.dumps({"seq": seq, "pop": pop})
        self.frames.append((seq, text))
        self._run(self._broadcast("pop", seq, text))
        return seq

    def resend(self, seq: int) -> None:
        """Deliver an already delivered frame again (as a replay overlapping live may)."""
        text = next(text for number, text in self.frames if number == seq)
        self._run(self._broadcast("pop", seq, text))

    def notice(self, notice: dict[str, Any]) -> None:
        full = {"seq": self.seq, "message": None, "retry_ms": None, **notice}
        self._run(self._broadcast(full["type"], None, json.dumps(full)))

    def drop(self, code: int = 1012) -> None:
        """Close every WebSocket from the server side, without a `bye`."""
        self._run(self._close_sockets(code))

    def requests_to(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def wait_request(self, method: str, pattern: str, timeout: float = 5.0) -> Recorded:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.requests_to(method, pattern)
            if found:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"no {method} {pattern} within {timeout}s: {self.requests}")

    def wait_streams(self, count: int, timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.stream_queries) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.stream_queries)} stream connections, not {count}")
            time.sleep(0.02)

    def _run(self, coroutine: Any) -> None:
        assert self.loop is not None, "no stream connected yet"
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(5)

    async def _broadcast(self, event: str, seq: int | None, text: str) -> None:
        for socket in list(self.sockets):
            try:
                await socket.send_text(text)
            except Exception:
                self.sockets.remove(socket)
        for queue in self.sse_queues:
            queue.put_nowait((event, seq, text))

    async def _close_sockets(self, code: int) -> None:
        for socket in list(self.sockets):
            self.sockets.remove(socket)
            await socket.close(code)

    def shutdown_streams(self) -> None:
        if self.loop is not None:
            for queue in self.sse_queues:
                self.loop.call_soon_threadsafe(queue.put_nowait, None)

    # The app.

    def _build(self) -> FastAPI:
        app = FastAPI()
        install_error_handlers(app)
        app.include_router(widget_router)
        # An embedding page on another origin calls the REST API from the browser.
        app.add_middleware(
            CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"]
        )

        @app.websocket("/v1/stream")
        async def stream(websocket: WebSocket) -> None:
            self.loop = asyncio.get_running_loop()
            self.stream_queries.append({"transport": "ws", **websocket.query_params})
            if self.refuse_websockets > 0:
                self.refuse_websockets -= 1
                await websocket.close()  # before accept: the handshake fails
                return
            await websocket.accept()
            if websocket.query_params.get("token") != TOKEN:
                await websocket.close(4401)
                return
            raw = websocket.query_params.get("last_seq")
            hello = {"type": "hello", "seq": self.seq, "message": None, "retry_ms": None}
            await websocket.send_text(json.dumps(hello))
            if raw is not None:
                for seq, text in list(self.frames):
                    if seq > int(raw):
                        await websocket.send_text(text)
            self.sockets.append(websocket)
            try:
                while True:
                    if json.loads(await websocket.receive_text()) == {"type": "ping"}:
                        await websocket.send_text('{"type":"pong"}')
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                if websocket in self.sockets:
                    self.sockets.remove(websocket)

        @app.get("/v1/stream/sse")
        async def sse(request: Request) -> StreamingResponse:
            self.loop = asyncio.get_running_loop()
            self.stream_queries.append(
                {
                    "transport": "sse",
                    **request.query_params,
                    "last_event_id": request.headers.get("last-event-id"),
                }
            )
            queue: asyncio.Queue[tuple[str, int | None, str] | None] = asyncio.Queue()
            self.sse_queues.append(queue)
            hello = {"type": "hello", "seq": self.seq, "message": None, "retry_ms": None}

            async def frames() -> AsyncIterator[str]:
                try:
                    yield f"retry: 1000\n\nevent: hello\ndata: {json.dumps(hello)}\n\n"
                    while True:
                        try:
                            item = await asyncio.wait_for(queue.get(), 0.5)
                        except TimeoutError:
                            if await request.is_disconnected():
                                return
                            yield ": keepalive\n\n"
                            continue
                        if item is None:
                            return
                        event, seq, text = item
                        ident = f"id: {seq}\n" if seq is not None else ""
                        yield f"{ident}event: {event}\ndata: {text}\n\n"
                finally:
                    self.sse_queues.remove(queue)

            return StreamingResponse(
                frames(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
            )

        @app.api_route("/v1/{path:path}", methods=["GET", "POST", "PATCH"])
        async def rest(path: str, request: Request) -> Response:
            raw = await request.body()
            body = json.loads(raw) if raw else None
            full = f"/v1/{path}"
            self.requests.append(
                Recorded(
                    request.method,
                    full,
                    dict(request.query_params),
                    body,
                    request.headers.get("authorization"),
                )
            )
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"code": "unauthorized", "message": "Unknown token."}, 401)
            failure = self.failures.pop(f"{request.method} {full}", None)
            if failure is not None:
                return JSONResponse(failure[1], failure[0])
            return self._answer(request.method, path, body)

        return app

    def _answer(self, method: str, path: str, body: Any) -> Response:
        if (method, path) == ("GET", "me"):
            return JSONResponse(ME)
        if method == "GET" and (match := re.fullmatch(r"cards/(\d+)", path)):
            card = self.cards.get(int(match[1]))
            if card is None:
                return JSONResponse({"code": "not_found", "message": "No such contact."}, 404)
            return JSONResponse(card)
        if (method, path) == ("POST", "lookup/choice"):
            return Response(status_code=204)
        if method == "PATCH" and (match := re.fullmatch(r"callbacks/(\d+)", path)):
            return JSONResponse({"id": int(match[1]), **body})
        if (method, path) == ("POST", "interactions"):
            return JSONResponse(
                {
                    "id": 900,
                    "occurred_at": iso(now()),
                    "outcome": None,
                    "call_id": None,
                    "satisfaction": None,
                    **body,
                },
                201,
            )
        if method == "POST" and re.fullmatch(r"calls/\d+/wrap-up", path):
            return JSONResponse(
                {"interaction_id": 77, "contact_id": 12, "summary": "…", "outcome": body["outcome"]}
            )
        if (method, path) == ("POST", "contacts"):
            self.cards[55] = known_card(
                55, body["display_name"], form_of_address=body.get("form_of_address")
            )
            return JSONResponse({"id": 55, **body}, 201)
        return JSONResponse({"code": "not_found", "message": f"No {method} /v1/{path}."}, 404)


class ThreadedServer:
    """uvicorn on 127.0.0.1 in a thread."""

    def __init__(self, app: FastAPI) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("fake backend did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def chromium() -> Iterator[Any]:
    # One Chromium per test: sync Playwright runs an event loop on this thread while it is
    # open, and session fixtures (the migrated database) and async tests need it closed.
    if not CHROMIUM.exists():
        missing("Chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[FakeBackend, str]]:
    fake = FakeBackend()
    with ThreadedServer(fake.app) as server:
        try:
            yield fake, server.base_url
        finally:
            fake.shutdown_streams()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(
        viewport={"width": 400, "height": 900}, locale="en-GB", timezone_id="Europe/Amsterdam"
    )
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_widget(page: Any, base_url: str, *, query: str = "lang=en", token: str = TOKEN) -> Any:
    """The stand-alone page, connected and knowing who the agent is."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/widget?token={token}&{query}")
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")
    expect(page.get_by_test_id("agent")).to_contain_text("Sanne Bakker")
    return expect


def card_of(page: Any, call_id: int) -> Any:
    return page.locator(f'[data-testid="call-card"][data-call-id="{call_id}"]')


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


@pytest.mark.browser
def test_known_caller_card_callback_note_and_wrap_up(
    page: Any, backend: tuple[FakeBackend, str]
) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    assert "token=" not in page.url  # taken out of the address bar, kept in localStorage
    call_id = next(_call_ids)
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
    card.get_by_test_id("wrapup-note").fill("Will call back Thursday about the intake")
    card.get_by_test_id("wrapup-save").click()
    wrap = fake.wait_request("POST", f"/v1/calls/{call_id}/wrap-up")
    assert wrap.body == {
        "outcome": "callback_planned",
        "note": "Will call back Thursday about the intake",
    }
    expect(card.get_by_test_id("wrapup-saved")).to_have_text("Saved")
    expect(card).to_have_count(0)  # closes by itself
    expect(page.get_by_test_id("empty")).to_be_visible()


@pytest.mark.browser
def test_household_candidates_pick_one(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    fake.cards[14] = known_card(14, "Lotte de Vries", household="De Vries family")
    call_id = next(_call_ids)
    fake.push("call.ringing", a_call(call_id, from_e164="+31334567890"), household_card())

    card = card_of(page, call_id)
    expect(card.get_by_test_id("match-kind")).to_have_text("Shared number")
    candidates = card.get_by_test_id("candidate")
    expect(candidates).to_have_count(2)
    expect(candidates.nth(0)).to_contain_text("picked last time")
    candidates.nth(1).click()

    choice = fake.wait_request("POST", "/v1/lookup/choice")
    assert choice.body == {"number": "+31334567890", "contact_id": 14, "agent_id": 7}
    fetched = fake.wait_request("GET", "/v1/cards/14")
    assert fetched.query == {"number": "+31334567890"}
    expect(card.get_by_test_id("caller-name")).to_have_text("Lotte de Vries")
    expect(card.get_by_test_id("match-kind")).to_have_text("Known caller")
    expect(card.get_by_test_id("candidate")).to_have_count(0)
    # A later pop without a card keeps the chosen one.
    fake.push("call.answered", a_call(call_id, "answered", from_e164="+31334567890"))
    expect(card.get_by_test_id("caller-name")).to_have_text("Lotte de Vries")


@pytest.mark.browser
def test_unknown_caller_create_contact(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    call_id = next(_call_ids)
    fake.push(
        "call.ringing",
        a_call(call_id, from_e164="+31334567890", from_display="033 456 7890"),
        unknown_card(),
    )

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
    assert [r.query for r in reads] == [{"number": "+31334567890"}] * 2
    expect(card.get_by_test_id("message")).to_have_text("Contact created.")
    expect(card.get_by_test_id("note-input")).to_be_visible()  # now a known caller


@pytest.mark.browser
def test_answered_by_colleague_closes_the_card(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    expect = open_widget(page, base_url)
    call_id = next(_call_ids)
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
    withheld = next(_call_ids)
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

    missed = next(_call_ids)
    fake.push("call.ringing", a_call(missed), ada_card())
    fake.push("call.missed", a_call(missed, "missed", ended_at=iso(now())))
    expect(card_of(page, missed).get_by_test_id("call-status")).to_have_text(
        "Missed call, callback request created"
    )
    expect(card_of(page, missed).get_by_test_id("wrapup-save")).to_have_count(0)

    # The server's own message reaches the agent.
    ended = next(_call_ids)
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
    first = next(_call_ids)
    seq = fake.push("call.ringing", a_call(first), ada_card())
    expect(card_of(page, first)).to_be_visible()
    connections = len(fake.stream_queries)

    fake.drop()
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")
    fake.wait_streams(connections + 1)
    assert page.evaluate("window.__states")[:2] == ["reconnecting", "connected"]
    assert fake.stream_queries[-1]["last_seq"] == str(seq)
    assert fake.stream_queries[-1]["transport"] == "ws"

    # A frame delivered twice (replay overlapping live) shows once; a new one shows.
    fake.resend(seq)
    second = next(_call_ids)
    fake.push("call.ringing", a_call(second), known_card(40, "Kees Smit"))
    expect(card_of(page, second)).to_be_visible()
    expect(page.get_by_test_id("call-card")).to_have_count(2)
    assert page.evaluate("localStorage.length") >= 1  # the last seq survives a reload

    fake.notice({"type": "resync", "message": "pops after your last seq are gone"})
    expect(page.get_by_test_id("banner")).to_contain_text("may have been missed")

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
    call_id = next(_call_ids)
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
def test_dutch_strings_and_dates(page: Any, backend: tuple[FakeBackend, str]) -> None:
    fake, base_url = backend
    page.goto(f"{base_url}/widget?token={TOKEN}&lang=nl")
    from playwright.sync_api import expect

    expect(page.get_by_test_id("connection-state")).to_have_text("Verbonden")
    call_id = next(_call_ids)
    fake.push("call.ringing", a_call(call_id), ada_card())
    card = card_of(page, call_id)
    expect(card.get_by_test_id("match-kind")).to_have_text("Bekende beller")
    expect(card.get_by_test_id("callback").first).to_contain_text("te laat sinds")
    expect(card.get_by_test_id("call-status")).to_contain_text("Gaat over")
    due = datetime.fromisoformat(ada_card()["callbacks"][1]["due_by"])
    months = ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"]
    expect(card.get_by_test_id("callback").nth(1)).to_contain_text(
        re.compile(rf"{due.astimezone().day} {months[due.month - 1]}")
    )


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
    call_id = next(_call_ids)
    fake.push("call.ringing", a_call(call_id), ada_card())
    expect(card_of(page, call_id).get_by_test_id("caller-name")).to_have_text("Ada de Vries")
    # The host page's styles do not reach into the card, nor ours out.
    assert page.locator("h1").evaluate("e => getComputedStyle(e).fontSize") == "32px"


# ---- end to end against the real app ------------------------------------------------------

TWILIO_AUTH_TOKEN = "twilio-auth-token-widget-e2e"


def _in_own_loop(make: Callable[[], Any]) -> Any:
    """Run a coroutine on a private loop in a thread (the tests' own loop stays untouched)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result(30)


@dataclass
class Seeded:
    """What the end-to-end test put in the database before the server started."""

    slug: str
    admin_key: str
    agent_id: int
    ada_id: int


async def _seed(database_url: str, slug: str) -> Seeded:
    """A tenant with an admin key, an agent, and Ada with an overdue callback."""
    from app.auth.keys import Scope, issue_key
    from app.db import create_engine, create_sessionmaker, session_scope
    from app.models import Agent, CallbackRequest, Contact, ContactNumber, Tenant

    engine = create_engine(database_url)
    try:
        async for session in session_scope(create_sessionmaker(engine)):
            tenant = Tenant(slug=slug, name="Zorg Amersfoort", default_region="NL")
            session.add(tenant)
            await session.flush()
            _row, key = await issue_key(
                session, tenant_id=tenant.id, name="widget-e2e", scopes=[Scope.ADMIN]
            )
            agent = Agent(tenant_id=tenant.id, name="Sanne Bakker", extension="101")
            ada = Contact(
                tenant_id=tenant.id,
                display_name="Ada de Vries",
                form_of_address="Mevrouw De Vries",
                language="nl",
            )
            session.add_all([agent, ada])
            await session.flush()
            session.add_all(
                [
                    ContactNumber(
                        tenant_id=tenant.id,
                        contact_id=ada.id,
                        e164="+31612345678",
                        raw="06-12345678",
                        kind="mobile",
                    ),
                    CallbackRequest(
                        tenant_id=tenant.id,
                        contact_id=ada.id,
                        reason="Bellen over de wachtlijst",
                        due_by=now() - timedelta(days=1),
                    ),
                ]
            )
            seeded = Seeded(slug=slug, admin_key=key, agent_id=agent.id, ada_id=ada.id)
    finally:
        await engine.dispose()
    return seeded


def _until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait for a write to be visible: the API answers before its transaction commits."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not visible within {timeout}s")
        time.sleep(0.05)


def _post_twilio(base_url: str, slug: str, params: dict[str, str]) -> None:
    from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

    url = f"{base_url}/webhooks/twilio/{slug}"
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, params)
    response = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=5)
    assert response.status_code == 200, response.text


@pytest.mark.browser
@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_end_to_end_twilio_call_to_wrap_up(page: Any, sqlite_url: str, transport: str) -> None:
    from playwright.sync_api import expect

    from tests.support.live_server import live_server

    slug = f"widget-{uuid.uuid4().hex[:10]}"
    seeded: Seeded = _in_own_loop(lambda: _seed(sqlite_url, slug))
    with (
        live_server(sqlite_url) as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {seeded.admin_key}"}, timeout=5
        ) as admin,
    ):
        issued = admin.post(f"/v1/agents/{seeded.agent_id}/tokens", json={"label": "e2e"})
        assert issued.status_code == 201, issued.text
        token = issued.json()["token"]
        connected = admin.put("/v1/providers/twilio", json={"secret": TWILIO_AUTH_TOKEN})
        assert connected.status_code == 200, connected.text
        as_agent = {"Authorization": f"Bearer {token}"}
        _until(lambda: admin.get("/v1/me", headers=as_agent).status_code == 200, "the token")
        _until(lambda: len(admin.get("/v1/providers").json()) == 1, "the twilio connection")

        page.goto(f"{base_url}/widget?token={token}&lang=en&transport={transport}")
        pill = page.get_by_test_id("connection-state")
        expect(pill).to_have_attribute("data-state", "connected")
        expect(pill).to_have_attribute("data-transport", transport)
        expect(page.get_by_test_id("agent")).to_contain_text("Sanne Bakker")

        sid = f"CA{uuid.uuid4().hex}"
        leg = {"From": "+31612345678", "To": "+31334567890", "Direction": "inbound"}
        _post_twilio(base_url, slug, {"CallSid": sid, "CallStatus": "ringing", **leg})
        card = page.get_by_test_id("call-card")
        expect(card.get_by_test_id("caller-name")).to_have_text("Ada de Vries", timeout=2000)
        overdue = card.get_by_test_id("callback")
        expect(overdue).to_have_class(re.compile(r"\boverdue\b"), timeout=2000)
        expect(overdue).to_contain_text("Bellen over de wachtlijst")
        expect(card.get_by_test_id("form-of-address")).to_have_text("Mevrouw De Vries")

        # The dialled agent's leg answers (To = client:<extension>), then the call completes.
        _post_twilio(
            base_url,
            slug,
            {
                "CallSid": f"CA{uuid.uuid4().hex}",
                "ParentCallSid": sid,
                "CallStatus": "in-progress",
                "From": "+31612345678",
                "To": "client:101",
                "Direction": "outbound-dial",
            },
        )
        expect(card.get_by_test_id("answered-by")).to_have_text("Answered by you")
        _post_twilio(base_url, slug, {"CallSid": sid, "CallStatus": "completed", **leg})
        expect(card).to_have_attribute("data-state", "ended")

        card.get_by_test_id("wrapup-outcome").select_option("information_given")
        card.get_by_test_id("wrapup-note").fill("Explained the waiting list; position 4")
        card.get_by_test_id("wrapup-save").click()
        expect(card.get_by_test_id("wrapup-saved")).to_be_visible()
        expect(card).to_have_count(0)

        history = admin.get(f"/v1/contacts/{seeded.ada_id}/interactions")
        assert history.status_code == 200, history.text
        wrapped = [i for i in history.json() if i["outcome"] == "information_given"]
        assert len(wrapped) == 1, history.json()
        assert "Explained the waiting list; position 4" in wrapped[0]["summary"]
        assert wrapped[0]["call_id"] is not None
        assert wrapped[0]["agent_id"] == seeded.agent_id
