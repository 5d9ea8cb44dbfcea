"""Where the webhook's hot path keeps its rows: a small repository per database.

`HotStore.record` records one delivery's events and commits, in as few round trips as the
driver allows. On SQLite that is one: `hot_sqlite.record` runs whole in the thread
aiosqlite drives the connection from, through `aiosqlite.Connection._execute(fn, *args)`.
That method is how aiosqlite itself runs every call (`commit` is `_execute(self._conn.commit)`)
and how SQLAlchemy's aiosqlite dialect reaches the thread too; aiosqlite has no public way to
run a function of the sqlite3 connection, and its public cursor API costs a hop per
execute and per fetch. tests/test_hot_path.py counts the hops, so an aiosqlite release that
changed it fails there, not in production.

The connection is the pool's one connection (app/db.py), checked out through the engine
like any session's: the hot path and the REST API take turns on it, never share a
transaction. On PostgreSQL (hot_pg.py) an event costs two round trips on the pool's
asyncpg connection (read everything, write everything), a repeated delivery and a call's
first ringing one (hot_pg_claim.py). Any other
database records through the lifecycle (ORM), with routing from memory all the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from app.calls import hot_sqlite
from app.calls.hot_lifecycle import HotEvent, Tenancy, Written


class HotStore(Protocol):
    """Records a delivery's events and commits; raises if nothing could be written."""

    async def record(self, tenancy: Tenancy, events: Sequence[HotEvent]) -> list[Written]:
        """One `Written` per event, in order (`duplicate` for a repeated delivery)."""
        ...


class SqliteHotStore:
    """One hop into the aiosqlite connection's thread per delivery, whatever it holds."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, tenancy: Tenancy, events: Sequence[HotEvent]) -> list[Written]:
        async with self._engine.connect() as connection:
            pooled = await connection.get_raw_connection()
            driver: Any = pooled.driver_connection  # aiosqlite.Connection
            written: list[Written] = await driver._execute(
                hot_sqlite.record, driver._conn, tenancy, events
            )
            return written


def hot_store_for(engine: AsyncEngine) -> HotStore | None:
    """The engine's hot store, if its database has one."""
    if engine.dialect.name == "sqlite":
        return SqliteHotStore(engine)
    if engine.dialect.name == "postgresql":
        # Imported here: a SQLite deployment never loads asyncpg (memory, start-up).
        from app.calls.hot_pg import PostgresHotStore

        return PostgresHotStore(engine)
    return None
