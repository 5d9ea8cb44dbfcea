"""Statement floor: what one database round trip costs at each layer of our stack.

    .venv/bin/python bench/statement_floor.py [--statements 2000] [--database sqlite|postgres|both]

A webhook runs five statements and a commit; this measures what a trivial statement
(`SELECT 1`) costs, sequentially, through each layer the app uses, on the same event loop as
uvicorn (uvloop):

  driver      aiosqlite / asyncpg directly (SQLite: a thread hop there and back per call)
  core        SQLAlchemy AsyncConnection.execute(select(1))
  session     SQLAlchemy AsyncSession.execute(select(1)), what services use
  transaction a session opened, one statement, commit, closed (a request's minimum)

It prints p50 / p99 in microseconds and each layer's ratio to the driver, so the part of
a webhook's time that is per-statement overhead (and not our code) can be read off. PostgreSQL
is a throwaway server from tests/support/servers.py.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/statement_floor.py`: make `app` importable
    sys.path.insert(0, str(ROOT))

from sqlalchemy import literal, select  # noqa: E402

from app.db import create_engine, create_sessionmaker  # noqa: E402


async def _time(count: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    for _ in range(min(100, count)):  # warm caches (compiled statements, the pool)
        await call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return sorted(samples)


async def measure(url: str, count: int) -> dict[str, list[float]]:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    statement = select(literal(1))
    results: dict[str, list[float]] = {}
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            if url.startswith("sqlite"):

                async def driver() -> object:
                    cursor = await raw.execute("SELECT 1")
                    return await cursor.fetchall()
            else:

                async def driver() -> object:
                    return await raw.fetch("SELECT 1")

            results["driver"] = await _time(count, driver)
            results["core"] = await _time(count, lambda: connection.execute(statement))
        async with sessions() as session:
            results["session"] = await _time(count, lambda: session.execute(statement))

        async def transaction() -> object:
            async with sessions() as session:
                await session.execute(statement)
                await session.commit()
            return None

        results["transaction"] = await _time(count, transaction)
    finally:
        await engine.dispose()
    return results


def _report(name: str, results: dict[str, list[float]]) -> None:
    def pct(samples: list[float], p: float) -> float:
        return samples[min(len(samples) - 1, int(p * len(samples)))] * 1e6

    base = pct(results["driver"], 0.5)
    print(f"\n{name}")
    print(f"  {'layer':<12} {'p50 µs':>8} {'p99 µs':>8} {'x driver':>9}")
    for layer, samples in results.items():
        p50 = pct(samples, 0.5)
        print(f"  {layer:<12} {p50:>8.0f} {pct(samples, 0.99):>8.0f} {p50 / base:>9.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    if not 1 <= args.statements <= 1_000_000:
        parser.error("--statements must be between 1 and 1000000")
    print(
        f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}, "
        f"load {[round(x, 2) for x in os.getloadavg()]}; {args.statements} statements per layer"
    )
    with ExitStack() as stack:
        if args.database in ("sqlite", "both"):
            path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "floor.db"
            _report(
                "SQLite (aiosqlite)",
                uvloop.run(measure(f"sqlite+aiosqlite:///{path}", args.statements)),
            )
        if args.database in ("postgres", "both"):
            from tests.support.servers import postgres_server

            url = stack.enter_context(postgres_server())
            _report("PostgreSQL (asyncpg)", uvloop.run(measure(url, args.statements)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
