"""A small fake Stamgast backend for the widget's browser tests.

uvicorn in a thread, speaking the stream (WebSocket and SSE) and REST contract the widget
uses; each test scripts what it sends and checks what the widget asked for. Also the
helpers that open the widget page against it and find a call's card.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse

from app.auth.router import Me
from app.callbacks.schemas import AttemptRecorded, CallbackOut
from app.errors import install_error_handlers
from app.recognition.schemas import Card
from app.screen_pop.schemas import Pop, StreamNotice
from app.widget.router import router as widget_router
from tests.support.fake_originate import FakeOriginate
from tests.support.fake_widget_data import ME, TOKEN, a_pop, checked, iso, known_card, now
from tests.support.servers import free_port

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
        self.epoch = "0a0a0a0a0a0a"  # the life of `seq`, named in every hello
        self.my_calls: list[dict[str, Any]] = []  # pops GET /v1/me/calls answers with
        self.callbacks: list[dict[str, Any]] = []  # what GET /v1/callbacks lists from
        self.originate = FakeOriginate()  # calling back through the phone system
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
        text = json.dumps({"seq": seq, "pop": a_pop(kind, call, card)})
        self.frames.append((seq, text))
        self._run(self._broadcast("pop", seq, text))
        return seq

    def push_frame(self, pop: dict[str, Any]) -> int:
        """Deliver a frame that is no call's pop (e.g. `callback.overdue`); returns its seq."""
        self.seq += 1
        text = json.dumps({"seq": self.seq, "pop": pop})
        self.frames.append((self.seq, text))
        self._run(self._broadcast("pop", self.seq, text))
        return self.seq

    def resend(self, seq: int) -> None:
        """Deliver an already delivered frame again (as a replay overlapping live may)."""
        text = next(text for number, text in self.frames if number == seq)
        self._run(self._broadcast("pop", seq, text))

    def notice(self, notice: dict[str, Any]) -> None:
        full = {"seq": self.seq, "message": None, "retry_ms": None, **notice}
        self._run(self._broadcast(full["type"], None, json.dumps(full)))

    def restart(self, epoch: str, pops: list[tuple[str, dict[str, Any], Any]]) -> None:
        """The server's pop log starts again (a restart of the embedded broker): a new epoch,
        seq from 1, these pops published while no widget was connected; then every
        WebSocket is cut, as a dying process does."""
        self.epoch, self.seq, self.frames = epoch, 0, []
        for kind, call, card in pops:
            self.seq += 1
            frame = {"seq": self.seq, "pop": a_pop(kind, call, card)}
            self.frames.append((self.seq, json.dumps(frame)))
        self.drop()

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
            # As the server does: a cursor of another life is worth nothing; say so, then
            # replay everything of this one.
            stale = raw is not None and websocket.query_params.get("epoch") != self.epoch
            hello = {
                "type": "hello", "seq": 0 if stale else self.seq, "message": None,
                "retry_ms": None, "epoch": self.epoch,
            }  # fmt: skip
            await websocket.send_text(json.dumps(checked(StreamNotice, hello)))
            if stale:
                resync = {"type": "resync", "seq": self.seq, "message": "started again"}
                await websocket.send_text(json.dumps(checked(StreamNotice, resync)))
                raw = "0"
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
            hello = {
                "type": "hello", "seq": self.seq, "message": None, "retry_ms": None,
                "epoch": self.epoch,
            }  # fmt: skip

            async def frames() -> AsyncIterator[str]:
                try:
                    notice = json.dumps(checked(StreamNotice, hello))
                    yield f"retry: 1000\n\nevent: hello\ndata: {notice}\n\n"
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
            return self._answer(request.method, path, body, dict(request.query_params))

        return app

    def _list_callbacks(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """As app/callbacks/service.py lists them: the filters the widget uses, overdue
        first, then by due time (none last), then by id."""
        status = query.get("status", "open")
        assignee = query.get("assignee_agent_id")
        found = [
            cb
            for cb in self.callbacks
            if status in ("all", cb["status"])
            and (assignee is None or cb["assignee_agent_id"] == int(assignee))
        ]
        found.sort(
            key=lambda cb: (not cb["overdue"], cb["due_by"] is None, cb["due_by"] or "", cb["id"])
        )
        return [checked(CallbackOut, cb) for cb in found[: int(query.get("limit", "50"))]]

    def _answer(
        self, method: str, path: str, body: Any, query: dict[str, str] | None = None
    ) -> Response:
        if (method, path) == ("GET", "me"):
            return JSONResponse(checked(Me, ME))
        if (method, path) == ("GET", "me/calls"):
            return JSONResponse([checked(Pop, pop) for pop in self.my_calls])
        if method == "GET" and (match := re.fullmatch(r"cards/(\d+)", path)):
            card = self.cards.get(int(match[1]))
            if card is None:
                return JSONResponse({"code": "not_found", "message": "No such contact."}, 404)
            return JSONResponse(checked(Card, card))
        if (method, path) == ("POST", "lookup/choice"):
            return Response(status_code=204)
        if (method, path) == ("GET", "callbacks"):
            return JSONResponse(self._list_callbacks(query or {}))
        if (originated := self.originate.answer(method, path, self.callbacks)) is not None:
            return originated
        if method == "PATCH" and (match := re.fullmatch(r"callbacks/(\d+)", path)):
            stored = next((cb for cb in self.callbacks if cb["id"] == int(match[1])), None)
            if stored is None:  # one of a card's callbacks, not in the list
                return JSONResponse({"id": int(match[1]), **body})
            stored.update(body, overdue=False, closed_at=iso(now()))
            return JSONResponse(checked(CallbackOut, stored))
        if method == "POST" and (match := re.fullmatch(r"callbacks/(\d+)/attempts", path)):
            stored = next(cb for cb in self.callbacks if cb["id"] == int(match[1]))
            stored["attempts"] += 1
            attempt = {
                "id": 500 + stored["attempts"],
                "callback_request_id": stored["id"],
                "outcome": body["outcome"],
                "note": body.get("note", ""),
                "agent_id": ME["agent_id"],
                "attempted_at": iso(now()),
            }
            recorded = {"attempt": attempt, "callback": stored}
            return JSONResponse(checked(AttemptRecorded, recorded), 201)
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
                {
                    "interaction_id": 77,
                    "contact_id": 12,
                    "summary": "…",
                    "outcome": body["outcome"],
                    "helped": body.get("helped"),
                }
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


@contextmanager
def running_fake_backend() -> Iterator[tuple[FakeBackend, str]]:
    """A fake backend served on 127.0.0.1: (the fake, its base URL)."""
    fake = FakeBackend()
    with ThreadedServer(fake.app) as server:
        try:
            yield fake, server.base_url
        finally:
            fake.shutdown_streams()


def open_widget(page: Any, base_url: str, *, query: str = "lang=en", token: str = TOKEN) -> Any:
    """The stand-alone page, connected and knowing who the agent is."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/widget?token={token}&{query}")
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")
    expect(page.get_by_test_id("agent")).to_contain_text("Sanne Bakker")
    return expect


def card_of(page: Any, call_id: int) -> Any:
    return page.locator(f'[data-testid="call-card"][data-call-id="{call_id}"]')
