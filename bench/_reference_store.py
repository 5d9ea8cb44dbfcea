"""The reference path's database work (bench/reference_path.py), straight on the driver.

`open_store(url, slug)` reads the tenant's routing once and returns a Store for SQLite
(aiosqlite) or PostgreSQL (asyncpg). `Store.ring` is a ringing webhook's database work:
one indexed statement for the caller's contact(s) and their last five interactions, then the
call and its event inserted and committed; a call id already known (a vendor's retry)
inserts nothing and returns None as the call id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Contact(s) by number plus each one's last five interactions, in one indexed statement
# (ix_contact_numbers_lookup, then ix_interactions_contact_time per contact).
LOOKUP = """
SELECT c.id, c.display_name, c.form_of_address, c.language,
       i.occurred_at, i.channel, i.direction, i.summary, i.outcome
FROM contact_numbers n
JOIN contacts c ON c.id = n.contact_id
LEFT JOIN interactions i ON i.id IN (
    SELECT id FROM interactions WHERE contact_id = c.id ORDER BY occurred_at DESC LIMIT 5)
WHERE n.tenant_id = {0} AND n.e164 = {1}
ORDER BY c.id, i.occurred_at DESC
"""
CALL_COLUMNS = (
    "tenant_id, provider, provider_call_id, from_e164, from_masked, to_e164, direction, "
    "state, line_id, contact_id, match, started_at"
)
INSERT_CALL_SQLITE = f"""
INSERT INTO calls ({CALL_COLUMNS})
VALUES (?, 'generic', ?, ?, ?, ?, 'inbound', 'ringing', ?, ?, ?, ?)
ON CONFLICT (tenant_id, provider, provider_call_id) DO NOTHING RETURNING id
"""
INSERT_EVENT_SQLITE = """
INSERT INTO call_events (tenant_id, provider, provider_call_id, kind, received_at, call_id)
VALUES (?, 'generic', ?, 'ringing', ?, ?)
"""
# PostgreSQL: call and event in one statement, committed on its own (autocommit).
INSERT_CALL_AND_EVENT_POSTGRES = f"""
WITH call AS (
    INSERT INTO calls ({CALL_COLUMNS})
    VALUES ($1, 'generic', $2, $3, $4, $5, 'inbound', 'ringing', $6, $7, $8, $9)
    ON CONFLICT (tenant_id, provider, provider_call_id) DO NOTHING RETURNING id)
INSERT INTO call_events (tenant_id, provider, provider_call_id, kind, received_at, call_id)
SELECT $1, 'generic', $2, 'ringing', $9, id FROM call
RETURNING call_id
"""
TOKEN = """
SELECT t.token_hash, t.agent_id FROM agent_tokens t
JOIN agents a ON a.id = t.agent_id AND a.tenant_id = t.tenant_id
WHERE t.prefix = {0} AND t.revoked_at IS NULL AND a.active
"""
TENANT = "SELECT id, default_region FROM tenants WHERE slug = {0}"
SECRET = "SELECT secret FROM provider_configs WHERE tenant_id = {0} AND provider = 'generic'"
LINES = "SELECT number_e164, id, team_id FROM lines WHERE tenant_id = {0}"
TEAMS = "SELECT agent_id, team_id FROM agent_teams"
POSTGRES_CONNECTIONS = 4


@dataclass
class Store(ABC):
    """Routing read at start-up, and the statements of a ringing webhook."""

    tenant_id: int = 0
    region: str = "NL"
    secret: bytes = b""
    lines: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # E.164 → line, team
    teams_of: dict[int, list[int]] = field(default_factory=dict)  # agent → teams

    @abstractmethod
    async def ring(
        self, call_id: str, caller: str | None, line: str | None, line_id: int | None
    ) -> tuple[dict[str, Any] | None, int | None]:
        """(the card, the new call's id) or (card, None) for a call id seen before."""

    async def agent_for(self, token: str) -> tuple[int, list[int]] | None:
        """(agent id, its teams) for a valid agent token, else None."""
        prefix, sep, secret = token.removeprefix("sga_").partition("_")
        if not token.startswith("sga_") or not sep or len(prefix) != 8 or not secret:
            return None
        row = await self._token(prefix)
        if row is None:
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        if not hmac.compare_digest(row[0], digest):
            return None
        return row[1], self.teams_of.get(row[1], [])

    @abstractmethod
    async def _token(self, prefix: str) -> tuple[str, int] | None:
        """(token hash, agent id) of the live token with this prefix."""

    @abstractmethod
    async def close(self) -> None:
        """Close the connection(s)."""

    def _routing(self, tenant: Any, secret: Any, lines: Any, teams: Any) -> None:
        self.tenant_id, self.region = tenant[0], tenant[1] or "NL"
        self.secret = str(secret[0]).encode()
        self.lines = {number: (line_id, team) for number, line_id, team in lines}
        for agent_id, team in teams:
            self.teams_of.setdefault(agent_id, []).append(team)


def card_of(rows: Any) -> dict[str, Any] | None:
    """The card: the first contact and its interactions (the others counted as candidates)."""
    if not rows:
        return None
    first = rows[0]
    return {
        "contact": {"id": first[0], "display_name": first[1], "form_of_address": first[2],
                    "language": first[3]},
        "interactions": [
            {"occurred_at": str(r[4]), "channel": r[5], "direction": r[6], "summary": r[7],
             "outcome": r[8]}
            for r in rows if r[0] == first[0] and r[4] is not None
        ],
        "candidates": len({r[0] for r in rows}),
    }  # fmt: skip


def masked(number: str | None) -> str:
    return (number[:-4] + "****") if number else ""


class SqliteStore(Store):
    """One aiosqlite connection; a webhook's statements under a lock, as one transaction."""

    def __init__(self, connection: Any) -> None:
        super().__init__()
        self.db = connection
        self.lock = asyncio.Lock()

    async def ring(
        self, call_id: str, caller: str | None, line: str | None, line_id: int | None
    ) -> tuple[dict[str, Any] | None, int | None]:
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")  # how the app stores it
        async with self.lock:
            rows = await self.db.execute_fetchall(LOOKUP.format("?", "?"), (self.tenant_id, caller))
            card = card_of(rows)
            contact = card["contact"]["id"] if card else None
            inserted = await self.db.execute_fetchall(
                INSERT_CALL_SQLITE,
                (self.tenant_id, call_id, caller, masked(caller), line, line_id, contact,
                 "single" if card else "unknown", now),
            )  # fmt: skip
            new_id = inserted[0][0] if inserted else None
            if new_id is not None:
                await self.db.execute(INSERT_EVENT_SQLITE, (self.tenant_id, call_id, now, new_id))
            await self.db.commit()
        return card, new_id

    async def _token(self, prefix: str) -> tuple[str, int] | None:
        async with self.lock:
            rows = await self.db.execute_fetchall(TOKEN.format("?"), (prefix,))
            await self.db.commit()
        return (rows[0][0], rows[0][1]) if rows else None

    async def close(self) -> None:
        await self.db.close()


class PostgresStore(Store):
    """A few asyncpg connections handed out by a queue (no reset query on release)."""

    def __init__(self, connections: list[Any]) -> None:
        super().__init__()
        self.all = connections
        self.idle: asyncio.Queue[Any] = asyncio.Queue()
        for connection in connections:
            self.idle.put_nowait(connection)

    async def ring(
        self, call_id: str, caller: str | None, line: str | None, line_id: int | None
    ) -> tuple[dict[str, Any] | None, int | None]:
        connection = await self.idle.get()
        try:
            rows = await connection.fetch(LOOKUP.format("$1", "$2"), self.tenant_id, caller)
            card = card_of(rows)
            new_id = await connection.fetchval(
                INSERT_CALL_AND_EVENT_POSTGRES,
                self.tenant_id, call_id, caller, masked(caller), line, line_id,
                card["contact"]["id"] if card else None, "single" if card else "unknown",
                datetime.now(UTC),
            )  # fmt: skip
        finally:
            self.idle.put_nowait(connection)
        return card, new_id

    async def _token(self, prefix: str) -> tuple[str, int] | None:
        connection = await self.idle.get()
        try:
            row = await connection.fetchrow(TOKEN.format("$1"), prefix)
        finally:
            self.idle.put_nowait(connection)
        return (row[0], row[1]) if row else None

    async def close(self) -> None:
        await asyncio.gather(*(connection.close() for connection in self.all))


async def open_store(url: str, slug: str) -> Store:
    """Connect to the database at the app's URL and read the tenant's routing."""
    store: Store
    if url.startswith("sqlite"):
        import aiosqlite

        db = await aiosqlite.connect(url.split(":///", 1)[1])
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL",
                       "busy_timeout=5000"):  # fmt: skip
            await db.execute(f"PRAGMA {pragma}")  # the app's (app/db.py)
        store = SqliteStore(db)

        async def fetch(sql: str, *args: Any) -> Any:
            return await db.execute_fetchall(sql.format("?"), args)
    else:
        import asyncpg

        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        connections = [await asyncpg.connect(dsn) for _ in range(POSTGRES_CONNECTIONS)]
        store = PostgresStore(connections)

        async def fetch(sql: str, *args: Any) -> Any:
            return await connections[0].fetch(sql.format("$1"), *args)

    tenant = (await fetch(TENANT, slug))[0]
    secret = (await fetch(SECRET, tenant[0]))[0]
    lines = await fetch(LINES, tenant[0])
    teams = await fetch(TEAMS)
    store._routing(tenant, secret, lines, teams)
    if isinstance(store, SqliteStore):
        await db.commit()  # end the read transaction the start-up queries opened
    return store
