"""The floor for bench/agents.py: idle agents on our stack doing only the essential work.

    STAMGAST_DATABASE_URL=sqlite+aiosqlite:///… python -m uvicorn bench.reference_stream:app \\
        --ws-per-message-deflate false

The libraries Stamgast cannot serve without, loaded as the app loads them (FastAPI,
SQLAlchemy's async engine and ORM, aiosqlite, uvicorn), and one WebSocket endpoint,
`/v1/stream?token=…`, written as leanly as ASGI allows: reached before FastAPI's routing
and middleware, no Starlette WebSocket object, one task per connection (the ASGI one). It
looks the token's SHA-256 up with one indexed statement, accepts, sends `hello`, registers
the connection under its agent (what a pop would be delivered through) and answers pings
until the client leaves. Everything else goes to a FastAPI app with `/healthz`.

What `bench/agents.py --reference` measures of it is what 1,000 idle agents cost on this
stack before anything of Stamgast's is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any
from urllib.parse import parse_qs

import sqlalchemy.orm  # noqa: F401  # the ORM: the REST API needs it, so the app loads it
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine(os.environ["STAMGAST_DATABASE_URL"], pool_size=1, max_overflow=0)
api = FastAPI(title="reference stream")
connected: dict[int, set[Any]] = {}

_TOKEN = text(
    "SELECT t.agent_id, a.tenant_id FROM agent_tokens t JOIN agents a ON a.id = t.agent_id "
    "WHERE t.prefix = :prefix AND t.token_hash = :hash AND t.revoked_at IS NULL"
)


@api.get("/healthz")
async def healthz() -> dict[str, str]:
    """Up (bench/_common.py waits for it)."""
    return {"status": "ok"}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The stream, raw; anything else to FastAPI."""
    if scope["type"] != "websocket" or scope["path"] != "/v1/stream":
        await api(scope, receive, send)
        return
    token = parse_qs(scope["query_string"].decode()).get("token", [""])[0]
    await receive()  # websocket.connect
    digest = hashlib.sha256(token.encode()).hexdigest()
    async with engine.connect() as connection:
        found = await connection.execute(_TOKEN, {"prefix": token[4:12], "hash": digest})
        row = found.first()
    if row is None:
        await send({"type": "websocket.close", "code": 4401})
        return
    await send({"type": "websocket.accept"})
    hello = json.dumps({"type": "hello", "agent_id": row.agent_id})
    await send({"type": "websocket.send", "text": hello})
    mine = connected.setdefault(row.agent_id, set())
    mine.add(send)
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == '{"type":"ping"}':
                await send({"type": "websocket.send", "text": '{"type":"pong"}'})
    finally:
        mine.discard(send)
