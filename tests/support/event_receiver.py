"""A real receiver of our outbound events: an aiohttp server on 127.0.0.1 that verifies
every delivery's signatures with the `standardwebhooks` library, as a subscriber would.

A test switches what it does: answer 204, answer 500, answer too late, or be down (its
socket closed, so connections are refused).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.servers import free_port


@dataclass
class Received:
    """One request as the receiver saw it."""

    message_id: str
    body: dict[str, Any]
    signatures: int  # how many `v1,` signatures the header carried
    verified_by: list[str]  # which of the receiver's secrets verify it
    answered: int


@dataclass
class EventReceiver:
    """Answers `mode`: "ok", "fail" (500) or "slow" (waits `slow_seconds`, then 204)."""

    secrets: list[str] = field(default_factory=list)
    mode: str = "ok"
    slow_seconds: float = 5.0
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def delivered(self) -> list[Received]:
        """The requests answered with a 2xx, in arrival order."""
        return [r for r in self.received if 200 <= r.answered < 300]

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        headers = dict(request.headers)
        verified = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(raw, headers)
                verified.append(secret)
            except WebhookVerificationError:
                pass
        answered = {"ok": 204, "fail": 500, "slow": 204}[self.mode]
        record = Received(
            message_id=request.headers.get("webhook-id", ""),
            body=json.loads(raw),
            signatures=len(request.headers.get("webhook-signature", "").split()),
            verified_by=verified,
            answered=answered,
        )
        if self.mode == "slow":
            record.answered = 0  # the sender gives up before we answer
            self.received.append(record)
            await asyncio.sleep(self.slow_seconds)
            return web.Response(status=204)
        self.received.append(record)
        if not verified:
            record.answered = 401
            return web.Response(status=401, text="bad signature")
        return web.Response(status=answered, text="" if answered == 204 else "boom")

    async def start(self) -> None:
        """Listen (again, on the same port)."""
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Go down: the port refuses connections until `start`."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
