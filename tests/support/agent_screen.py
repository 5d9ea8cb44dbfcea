"""An agent's screen as the widget keeps it (app/static/widget/stamgast-widget-stream.js and
stamgast-widget.js), in Python, for fault tests that run real server processes: resume with
last_seq and epoch, follow a lower `hello`, drop what was sent before, and on `resync`
reload the calls with GET /v1/me/calls."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

RANK = {"ringing": 0, "answered": 1, "ended": 2, "missed": 2, "voicemail": 2}


class AgentScreen:
    """Run `run()` as a task; `calls` is what the agent sees: provider call id → state."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.last_seq: int | None = None
        self.epoch: str | None = None
        self.calls: dict[str, str] = {}
        self.by_pop: set[str] = set()  # calls that reached the screen as a pop
        self.by_reload: set[str] = set()  # calls that reached it by reloading after resync
        self.resyncs = 0
        self.may_connect = asyncio.Event()  # cleared: the widget waits out its backoff
        self.may_connect.set()
        self.connected = asyncio.Event()
        self._seen: set[str] = set()
        self._changed = asyncio.Event()

    async def run(self) -> None:
        ws_base = "ws" + self.base_url.removeprefix("http")
        while True:
            await self.may_connect.wait()
            query: dict[str, Any] = {"token": self.token}
            if self.last_seq is not None:
                query["last_seq"] = self.last_seq
                if self.epoch:
                    query["epoch"] = self.epoch
            try:
                async with connect(f"{ws_base}/v1/stream?{urlencode(query)}", open_timeout=3) as ws:
                    async for text in ws:
                        await self._on_frame(json.loads(text))
            except (OSError, TimeoutError, WebSocketException):
                pass
            self.connected.clear()
            await asyncio.sleep(0.1)

    async def has(self, call_ids: list[str], seconds: float = 30.0) -> None:
        """Wait until every one of the calls is on the screen."""
        async with asyncio.timeout(seconds):
            while not set(call_ids) <= set(self.calls):
                self._changed.clear()
                await self._changed.wait()

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        if "pop" in frame:
            seq = frame["seq"]
            if self.last_seq is not None and seq <= self.last_seq:
                return
            self.last_seq = seq
            pop = frame["pop"]
            if pop["pop_id"] in self._seen:
                return
            self._seen.add(pop["pop_id"])
            self._show(pop["call"], self.by_pop)
        elif frame.get("type") == "hello":
            self.epoch = frame.get("epoch") or self.epoch
            if self.last_seq is not None and frame["seq"] < self.last_seq:
                self.last_seq = frame["seq"]
            self.connected.set()
        elif frame.get("type") == "resync":
            self.resyncs += 1
            async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as http:
                response = await http.get(
                    "/v1/me/calls", headers={"Authorization": f"Bearer {self.token}"}
                )
            response.raise_for_status()
            for pop in response.json():
                self._show(pop["call"], self.by_reload)

    def _show(self, call: dict[str, Any], via: set[str]) -> None:
        call_id, state = call["provider_call_id"], call["state"]
        shown = self.calls.get(call_id)
        if shown is None or RANK[state] >= RANK[shown]:
            self.calls[call_id] = state
        via.add(call_id)
        self._changed.set()
