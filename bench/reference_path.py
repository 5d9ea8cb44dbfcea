"""The reference path: only the essential work of a ringing webhook, on the same stack.

bench/ring_to_pop.py serves this next to Stamgast, by the same uvicorn command (through
bench/_counted_server.py, so its database round trips are counted the same way), on the
same seeded database, with the agents connected the same way, and drives it with the same
open loop and ceiling. What Stamgast costs beyond it is what our path adds to the work
any implementation must do:

    POST /webhooks/generic/bench   the `generic` provider's format (telephony_adapters/generic.py)
      1. HMAC-SHA256 check of X-Stamgast-Signature over "<timestamp>.<body>", timestamp window
      2. JSON parse of one event object
      3. the caller's and the line's numbers parsed with phonenumbers (cached)
      4. one indexed statement: contact(s) by (tenant, E.164) + their last five interactions
      5. insert the call (ON CONFLICT DO NOTHING: a vendor's retry stops here) and its event,
         commit
      6. one frame to each agent of the line's team, written to their WebSocket
    GET /v1/stream?token=…         token checked against agent_tokens (prefix + SHA-256), then
                                   `hello` and the pops, as the app's stream sends them
    GET /healthz

Tenant, provider secret, lines, teams and their agents are read once at start-up (routing
held in memory). On SQLite: one aiosqlite connection with the app's pragmas, a webhook's
statements serialised by a lock (the app's pool holds one connection too): 4 hops to the
connection's thread for a new call (lookup, insert call, insert event, commit), 3 for a
retry. On PostgreSQL: a few asyncpg connections; the call and its event are inserted by one
statement (a CTE) in autocommit: 2 round trips, the same for a retry. With
STAMGAST_REDIS_URL (the cluster setup) the pop is published once on a Redis channel and
every process writes it to its own agents of that team.

Only `ringing` events are handled (other kinds answer 422): this is the yardstick for the
ringing path, not a second implementation. It reads STAMGAST_DATABASE_URL and
STAMGAST_REDIS_URL like the app, and imports nothing from app/.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import phonenumbers
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

if os.path.dirname(__file__) not in sys.path:  # served as bench.reference_path
    sys.path.insert(0, os.path.dirname(__file__))

from _reference_store import Store, open_store

TENANT_SLUG = "bench"
MAX_SKEW_SECONDS = 300
CHANNEL = "bench-reference:pops"
OK = b'{"ok":true,"events":1}'


@lru_cache(maxsize=65536)
def e164(raw: str, region: str) -> str | None:
    """The E.164 form of a number as dialled, None when it is not a number."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def signature_ok(secret: bytes, body: bytes, stamp: str | None, header: str | None) -> bool:
    """The generic provider's v1 signature and timestamp window."""
    if not stamp or not header or not stamp.isdigit():
        return False
    if abs(time.time() - int(stamp)) > MAX_SKEW_SECONDS:
        return False
    expected = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    offered = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


class Agents:
    """This process's open agent sockets by team, and each agent's last seq."""

    def __init__(self) -> None:
        self.by_team: dict[int, dict[int, WebSocket]] = {}
        self.seq: dict[int, int] = {}

    async def deliver(self, team: int, pop: str) -> None:
        """Write the pop to every agent of `team` connected here, each with its next seq."""
        for agent_id, socket in list(self.by_team.get(team, {}).items()):
            seq = self.seq[agent_id] = self.seq.get(agent_id, 0) + 1
            with contextlib.suppress(Exception):  # a socket gone mid-write: its loop cleans up
                await socket.send_text(f'{{"seq":{seq},"pop":{pop}}}')


class Reference:
    """The state one process holds: the store, the routing, the agents, Redis if any."""

    def __init__(self) -> None:
        self.store: Store
        self.agents = Agents()
        self.redis: Any = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self.store = await open_store(os.environ["STAMGAST_DATABASE_URL"], TENANT_SLUG)
        redis_url = os.environ.get("STAMGAST_REDIS_URL")
        listener = None
        if redis_url:
            from redis.asyncio import Redis

            self.redis = Redis.from_url(redis_url)
            pubsub = self.redis.pubsub()
            await pubsub.subscribe(CHANNEL)
            listener = asyncio.create_task(self._listen(pubsub))
        try:
            yield
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
                await self.redis.aclose()
            await self.store.close()

    async def _listen(self, pubsub: Any) -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                team, _sep, pop = message["data"].decode().partition("|")
                await self.agents.deliver(int(team), pop)

    async def webhook(self, request: Request) -> Response:
        store = self.store
        if request.path_params["tenant"] != TENANT_SLUG:
            return Response(status_code=404)
        body = await request.body()
        headers = request.headers
        if not signature_ok(
            store.secret, body, headers.get("x-stamgast-timestamp"),
            headers.get("x-stamgast-signature"),
        ):  # fmt: skip
            return Response(status_code=401)
        event = json.loads(body)
        if event.get("event") != "ringing":
            return Response(status_code=422)
        caller = e164(event["from"], store.region)
        line = e164(event.get("to") or "", store.region)
        line_id, team = store.lines.get(line or "", (None, None))
        card, call_id = await store.ring(event["call_id"], caller, line, line_id)
        if call_id is not None and team is not None:  # a retry pops nothing new
            pop = json.dumps(
                {
                    "pop_id": uuid.uuid4().hex,
                    "type": "call.ringing",
                    "tenant_id": store.tenant_id,
                    "call": {"id": call_id, "provider_call_id": event["call_id"],
                             "from": caller, "to": line},
                    "card": card,
                    "at": datetime.now(UTC).isoformat(),
                },
                separators=(",", ":"),
            )  # fmt: skip
            if self.redis is not None:
                await self.redis.publish(CHANNEL, f"{team}|{pop}")
            else:
                await self.agents.deliver(team, pop)
        return Response(OK, media_type="application/json")

    async def stream(self, socket: WebSocket) -> None:
        agent = await self.store.agent_for(socket.query_params.get("token") or "")
        if agent is None:
            await socket.close(code=4401)
            return
        agent_id, teams = agent
        await socket.accept()
        seq = self.agents.seq.get(agent_id, 0)
        await socket.send_text(json.dumps({"type": "hello", "seq": seq}))
        for team in teams:
            self.agents.by_team.setdefault(team, {})[agent_id] = socket
        try:
            while True:  # the widget's pings; the pops are written by `deliver`
                await socket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            for team in teams:
                if self.agents.by_team.get(team, {}).get(agent_id) is socket:
                    del self.agents.by_team[team][agent_id]


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


reference = Reference()
app = Starlette(
    routes=[
        Route("/webhooks/generic/{tenant}", reference.webhook, methods=["POST"]),
        WebSocketRoute("/v1/stream", reference.stream),
        Route("/healthz", healthz),
    ],
    lifespan=reference.lifespan,
)
