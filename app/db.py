"""The database engine and the per-request session that owns the transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolResetState


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the widget read while a webhook writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _rollback_if_open(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
    # What the pool's rollback-on-return does, minus the hop into aiosqlite's thread when
    # there is nothing to roll back: the webhook's hot path commits in that thread itself
    # (app/calls/hot_store.py) and returns a connection with no transaction open.
    if state.transaction_was_reset or not state.asyncio_safe:
        return
    try:
        idle = not dbapi_connection.driver_connection.in_transaction
    except ValueError:  # aiosqlite's connection is closed: nothing to roll back
        return
    if not idle:
        dbapi_connection.rollback()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for a SQLite or PostgreSQL URL, with SQLite tuned for concurrent reads."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": False}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 5}
        # SQLite has one writer, and aiosqlite runs each connection's statements in one thread
        # under our one GIL: a second connection adds no throughput, only lock waits in
        # SQLite's sleeping busy handler. With one connection requests queue fairly in the
        # pool instead (bench/lookup.py, 16 clients: p99 769 -> 89 ms at the same 240/s).
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=30)
        kwargs["pool_reset_on_return"] = None  # _rollback_if_open does it, when needed
    else:
        kwargs.update(pool_size=10, max_overflow=20)
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "reset", _rollback_if_open)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (responses are built after it)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Commit when the block succeeds, roll back when it raises: the one place that commits."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def refresh_sqlite_statistics(connection: Connection) -> None:
    """Gather SQLite's planner statistics until the tables they matter for have rows.

    SQLite never gathers them by itself; without them it reaches a caller's cases and
    callbacks through the tenant index, scanning a whole tenant per lookup at scale.
    Statistics taken once the tables hold data keep their proportions as they grow.
    """
    if connection.dialect.name != "sqlite":
        return  # PostgreSQL's autovacuum keeps its statistics current
    analysed = (
        connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).first()
        and connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_stat1 WHERE tbl = 'interactions' LIMIT 1"
        ).first()
    )
    if not analysed:
        connection.exec_driver_sql("ANALYZE")
