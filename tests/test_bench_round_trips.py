"""bench/_round_trips.py counts exactly the hops to the driver a known sequence of calls makes.

The benchmark's "database round trips per webhook" are these counts, so each driver call is
checked one by one against a real aiosqlite connection and a real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import httpx
import pytest

from bench._round_trips import (
    PATH,
    WALL_BUCKETS,
    RoundTrips,
    RoundTripsRoute,
    wall_percentiles,
)


@pytest.fixture
def trips() -> Iterator[RoundTrips]:
    counter = RoundTrips.install()
    try:
        yield counter
    finally:
        counter.uninstall()


async def hops(counter: RoundTrips, driver: str, call: Callable[[], Awaitable[Any]]) -> int:
    before = counter.snapshot()[driver]
    await call()
    return counter.snapshot()[driver] - before


async def test_sqlite_one_hop_per_call_into_the_connection_thread(
    trips: RoundTrips, tmp_path: Path
) -> None:
    before = trips.sqlite
    db = await aiosqlite.connect(tmp_path / "count.db")
    assert trips.sqlite - before == 1  # opening the connection, in its thread
    assert await hops(trips, "sqlite", lambda: db.execute("CREATE TABLE t (x INTEGER)")) == 1
    rows, insert = [(1,), (2,), (3,)], "INSERT INTO t VALUES (?)"
    assert await hops(trips, "sqlite", lambda: db.executemany(insert, rows)) == 1
    assert await hops(trips, "sqlite", db.commit) == 1
    assert await hops(trips, "sqlite", lambda: db.execute_fetchall("SELECT x FROM t")) == 1
    cursor = await db.execute("SELECT x FROM t ORDER BY x")
    assert await hops(trips, "sqlite", cursor.fetchone) == 1
    assert await hops(trips, "sqlite", cursor.fetchall) == 1
    assert await hops(trips, "sqlite", cursor.close) == 1
    assert await hops(trips, "sqlite", db.rollback) == 1
    assert await hops(trips, "sqlite", db.close) == 2  # close, then stop the thread
    assert trips.postgresql == 0


@pytest.mark.postgres
async def test_postgresql_one_count_per_request_to_the_server(
    trips: RoundTrips, postgres_url: str
) -> None:
    dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    con = await asyncpg.connect(dsn)
    try:
        create = "CREATE TEMP TABLE t (x int)"
        assert await hops(trips, "postgresql", lambda: con.execute(create)) == 1  # simple query
        query = "SELECT $1::int + 1"
        assert await hops(trips, "postgresql", lambda: con.fetchval(query, 1)) == 2  # prepare
        assert await hops(trips, "postgresql", lambda: con.fetchval(query, 2)) == 1  # cached
        rows = [(1,), (2,), (3,)]
        insert = "INSERT INTO t VALUES ($1)"
        # prepare, then all three rows in one pipelined exchange
        assert await hops(trips, "postgresql", lambda: con.executemany(insert, rows)) == 2

        async def transaction() -> None:
            async with con.transaction():  # BEGIN, the insert, COMMIT
                await con.execute("INSERT INTO t VALUES (4)")

        assert await hops(trips, "postgresql", transaction) == 3
        assert await con.fetchval("SELECT count(*) FROM t") == 4
        assert trips.sqlite == 0
    finally:
        await con.close()


@pytest.mark.postgres
async def test_postgresql_requests_are_timed_per_statement(
    trips: RoundTrips, postgres_url: str
) -> None:
    """Each request's wall time lands in its statement's histogram: a statement that sleeps
    10 ms on the server is seen at 10 ms or more, a trivial one below it."""
    con = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        before = trips.snapshot()["postgresql_wall"]
        for _ in range(5):
            await con.fetchval("SELECT pg_sleep(0.01)::text")
            await con.fetchval("SELECT 1 + $1::int", 1)
        after = trips.snapshot()["postgresql_wall"]
    finally:
        await con.close()
    slow = wall_percentiles(before, after, "SELECT pg_sleep(0.01)::text")
    fast = wall_percentiles(before, after, "SELECT 1 +")
    assert slow is not None and fast is not None
    assert slow["n"] >= 5 and fast["n"] >= 5  # prepare and execute are both requests
    assert slow["p90"] >= 10.0
    assert fast["p50"] < 10.0
    assert wall_percentiles(before, after, "WITH seen AS") is None


async def test_counting_twice_counts_once_and_uninstall_stops_it(tmp_path: Path) -> None:
    first = RoundTrips.install()
    try:
        assert RoundTrips.install() is first
    finally:
        first.uninstall()
    async with aiosqlite.connect(tmp_path / "quiet.db") as db:
        await db.execute("SELECT 1")
    assert first.sqlite == 0


async def test_the_route_answers_the_counts_and_passes_everything_else_on() -> None:
    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    counter = RoundTrips()
    counter.sqlite, counter.postgresql = 7, 3
    counter.observe("WITH seen AS", 0.00012)
    histogram = [0] * WALL_BUCKETS
    histogram[2] = 1  # 0.12 ms: the third bucket of 0.05 ms
    cases: list[tuple[RoundTrips | None, dict[str, Any]]] = [
        (
            counter,
            {"sqlite": 7, "postgresql": 3, "postgresql_wall": {"WITH seen AS": histogram}},
        ),
        (None, {"sqlite": None, "postgresql": None, "postgresql_wall": {}}),
    ]
    for trips, expected in cases:
        transport = httpx.ASGITransport(app=RoundTripsRoute(inner, trips))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            answer = await client.get(PATH)
            assert answer.status_code == 200
            assert answer.json() == expected
            assert (await client.get("/healthz")).status_code == 204
