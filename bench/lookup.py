"""Lookup benchmark: does recognising a caller cost the same with 1 M contacts as with 10 k?

    .venv/bin/python bench/lookup.py [--small 10000] [--large 1000000]
                                     [--database sqlite|postgres] [--seconds 10]
                                     [--concurrency 16] [--unknown 0.1] [--seed 1]
                                     [--sqlite-analyze] [--profile DIR] [--json]

1. Two databases from bench/dataset.py: --small and --large contacts. SQLite files are built
   once per (N, seed) under /tmp and copied for the run (lookups write audit events);
   PostgreSQL gets a throwaway server (tests/support/servers.py) with one database each,
   ANALYZEd as autovacuum would. Each SQLite copy is migrated as `stamgast serve` and
   `stamgast migrate` do at start, which gathers SQLite's planner statistics when they are
   missing; --sqlite-analyze runs a plain ANALYZE instead.
2. One `python -m uvicorn app.main:app` per database, same flags; an API key for each
   (`issue_key` straight into the database).
3. Closed loop: --concurrency clients call `GET /v1/lookup?number=…` back to back, with a
   random known number (--unknown of them a valid number nobody has). Each server gets
   --seconds in total, in the same run, as two halves in the order small, large, large,
   small, so a drift in the machine's speed hits both alike. Warm-up requests come first.
4. Prints throughput and p50/p95/p99 for both, and the ratios large/small (target:
   p99 ratio <= 1.3).

The client runs on this machine too and competes with the servers for CPU; the CPU time
each used is printed so a saturated machine is visible. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import ServerProcess, latency_summary
from _lookup_report import TARGET_P99_RATIO, profile_summary, render
from dataset import build, cached_sqlite, is_sqlite, unknown_numbers
from sqlalchemy import func, select

SAMPLE_NUMBERS = 20_000
UNKNOWN_POOL = 500
WARMUP_SECONDS = 2.0
REQUEST_TIMEOUT = 10.0


@dataclass
class Target:
    """One database and the server in front of it."""

    label: str
    contacts: int
    database_url: str
    dataset: str = ""  # how the dataset came about (built in n s / cached)
    key: str = ""
    known: list[str] = field(default_factory=list)
    server: ServerProcess | None = None
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    wrong_match: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    segments: list[dict[str, Any]] = field(default_factory=list)


class ProfiledServer(ServerProcess):
    """The same server run under cProfile (the main thread: the event loop)."""

    def __init__(self, app: str, env: dict[str, str], output: Path) -> None:
        super().__init__(app, env)
        self.output = output

    @property
    def command(self) -> list[str]:
        base = super().command
        return [base[0], "-m", "cProfile", "-o", str(self.output), *base[1:]]

    def stop(self) -> None:
        """SIGINT: uvicorn re-raises the signal after shutting down, and SIGTERM's default
        action would end the process before cProfile writes its file; KeyboardInterrupt
        lets it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        super().stop()


# ------------------------------------------------------------------------ databases


def sqlite_targets(args: argparse.Namespace, workdir: Path) -> list[Target]:
    """Cached dataset files, copied into the work directory."""
    targets = []
    for label, contacts in (("small", args.small), ("large", args.large)):
        progress(f"{label}: dataset of {contacts:,} contacts (SQLite)")
        cached, report = cached_sqlite(contacts, args.seed)
        how = "cached file" if report.cached else f"built in {report.total_seconds:.1f} s"
        if not report.cached:
            print("\n".join(report.lines()), file=sys.stderr)
        began = time.perf_counter()
        copy = workdir / f"{label}.db"
        shutil.copyfile(cached, copy)
        size = copy.stat().st_size / 2**20
        how += f"; {size:,.0f} MiB, copied in {time.perf_counter() - began:.1f} s"
        if args.sqlite_analyze:
            began = time.perf_counter()
            with contextlib.closing(sqlite3.connect(copy)) as connection:
                connection.execute("ANALYZE")
                connection.commit()
            how += f"; ANALYZE {time.perf_counter() - began:.1f} s"
        else:
            began = time.perf_counter()
            from app.migrate import upgrade

            upgrade(f"sqlite+aiosqlite:///{copy}")
            how += f"; migrated as at start {time.perf_counter() - began:.1f} s"
        targets.append(Target(label, contacts, f"sqlite+aiosqlite:///{copy}", how))
    return targets


def postgres_targets(args: argparse.Namespace, server_url: str) -> list[Target]:
    """Two databases on one throwaway PostgreSQL, built now."""
    targets = []
    for label, contacts in (("small", args.small), ("large", args.large)):
        url = asyncio.run(_create_database(server_url, f"bench_{label}"))
        progress(f"{label}: dataset of {contacts:,} contacts (PostgreSQL)")
        report = build(url, contacts, seed=args.seed)
        print("\n".join(report.lines()), file=sys.stderr)
        targets.append(Target(label, contacts, url, f"built in {report.total_seconds:.1f} s"))
    return targets


async def _create_database(server_url: str, name: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def prepare(target: Target, seed: int) -> None:
    """An API key for the bench tenant, and a random sample of its known numbers."""
    from app.auth.keys import Scope, issue_key
    from app.db import create_engine, create_sessionmaker
    from app.models import ContactNumber, Tenant

    engine = create_engine(target.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == "bench"))
            if tenant_id is None:
                raise RuntimeError(f"{target.label}: no tenant 'bench' in the dataset")
            _row, target.key = await issue_key(
                session, tenant_id=tenant_id, name="bench-lookup", scopes=[Scope.LOOKUP_READ]
            )
            await session.commit()
            low, high = (
                await session.execute(
                    select(func.min(ContactNumber.id), func.max(ContactNumber.id))
                )
            ).one()
            rng = random.Random(f"{seed}:{target.label}")
            ids = sorted({rng.randint(low, high) for _ in range(SAMPLE_NUMBERS)})
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                rows = await session.scalars(
                    select(ContactNumber.e164).where(
                        ContactNumber.tenant_id == tenant_id, ContactNumber.id.in_(chunk)
                    )
                )
                target.known.extend(rows)
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------- the load


def requests_for(target: Target, unknown: list[str], share: float, seed: int) -> Iterator[str]:
    """An endless, seeded stream of numbers to look up: known ones and a few unknown."""
    rng = random.Random(seed)
    while True:
        if rng.random() < share:
            yield rng.choice(unknown)
        else:
            yield rng.choice(target.known)


async def closed_loop(
    client: httpx.AsyncClient,
    target: Target,
    numbers: Iterator[str],
    unknown: set[str],
    concurrency: int,
    seconds: float,
    record: bool = True,
) -> None:
    """`concurrency` workers each looking up back to back until `seconds` have passed."""
    assert target.server is not None
    url = f"{target.server.base_url}/v1/lookup"
    headers = {"Authorization": f"Bearer {target.key}"}
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    wrong = 0

    async def worker() -> None:
        nonlocal wrong
        while time.perf_counter() < deadline:
            number = next(numbers)
            sent = time.perf_counter()
            try:
                response = await client.get(url, params={"number": number}, headers=headers)
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                continue
            latencies.append(time.perf_counter() - sent)
            statuses[str(response.status_code)] += 1
            if response.status_code == 200:
                said_unknown = b'"match":"unknown"' in response.content
                wrong += said_unknown != (number in unknown)

    cpu_before = target.server.cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if not record:
        return
    cpu = target.server.cpu_seconds() - cpu_before
    target.latencies += latencies
    target.statuses += statuses
    target.wrong_match += wrong
    target.seconds += elapsed
    target.server_cpu += cpu
    target.segments.append(
        {
            "requests": len(latencies),
            "req_per_s": round(statuses.get("200", 0) / elapsed, 1),
            "p99_ms": latency_summary(latencies)["p99_ms"],
            "server_cpu_per_s": round(cpu / elapsed, 2),
        }
    )


async def measure(args: argparse.Namespace, targets: list[Target]) -> dict[str, Any]:
    small, large = targets
    unknown_list = unknown_numbers(UNKNOWN_POOL, args.seed)
    unknown = set(unknown_list)
    streams = {t.label: requests_for(t, unknown_list, args.unknown, args.seed) for t in targets}
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    load_before = _load()
    self_before = _self_cpu()
    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT) as client:
        for target in targets:  # first-request costs (imports, key check, caches) excluded
            progress(f"warm-up {target.label}: {WARMUP_SECONDS:.0f} s")
            await closed_loop(
                client, target, streams[target.label], unknown, args.concurrency,
                WARMUP_SECONDS, record=False,
            )  # fmt: skip
        half = args.seconds / 2
        for target in (small, large, large, small):
            progress(f"measuring {target.label}: {half:.1f} s at concurrency {args.concurrency}")
            await closed_loop(
                client, target, streams[target.label], unknown, args.concurrency, half
            )
    client_cpu = _self_cpu() - self_before
    results: dict[str, Any] = {}
    for t in targets:
        assert t.server is not None
        ok = t.statuses.get("200", 0)
        results[t.label] = {
            "contacts": t.contacts,
            "dataset": t.dataset,
            "known_numbers_sampled": len(t.known),
            "requests_ok": ok,
            "req_per_s": round(ok / t.seconds, 1) if t.seconds else 0.0,
            "latency": latency_summary(t.latencies),
            "statuses": dict(t.statuses),
            "wrong_match": t.wrong_match,
            "server_cpu_per_s": round(t.server_cpu / t.seconds, 2) if t.seconds else None,
            "server_peak_rss_mib": t.server.peak_rss_mib(),
            "segments": t.segments,
        }
    p99_small = results["small"]["latency"]["p99_ms"]
    p99_large = results["large"]["latency"]["p99_ms"]
    rps_small, rps_large = results["small"]["req_per_s"], results["large"]["req_per_s"]
    results["ratios"] = {
        "p99_large_over_small": round(p99_large / p99_small, 3) if p99_small else None,
        "p50_large_over_small": round(
            results["large"]["latency"]["p50_ms"] / results["small"]["latency"]["p50_ms"], 3
        )
        if results["small"]["latency"]["p50_ms"]
        else None,
        "throughput_large_over_small": round(rps_large / rps_small, 3) if rps_small else None,
        "target_p99_ratio": TARGET_P99_RATIO,
    }
    results["client"] = {
        "cpu_s": round(client_cpu, 2),
        "wall_s": round(args.seconds * 2 + WARMUP_SECONDS * 2, 1),
    }
    results["machine_load"] = {"before": load_before, "after": _load()}
    return results


async def serve_and_measure(
    args: argparse.Namespace, targets: list[Target], profile_dir: Path | None
) -> dict[str, Any]:
    for target in targets:
        await prepare(target, args.seed)
        env = {"STAMGAST_DATABASE_URL": target.database_url}
        if profile_dir is not None:
            target.server = ProfiledServer(
                "app.main:app", env, profile_dir / f"{target.label}.prof"
            )
        else:
            target.server = ServerProcess("app.main:app", env)
    try:
        for target in targets:
            assert target.server is not None
            await target.server.start(within=60)
            progress(f"{target.label}: server pid {target.server.pid} on {target.server.base_url}")
        return await measure(args, targets)
    finally:
        for target in targets:
            if target.server is not None:
                target.server.stop()


def normalise_cost_us(seed: int) -> float:
    """What one app.phone.normalise() cache miss costs here (the server pays it per new number)."""
    from app.phone import cache_clear, normalise

    numbers = unknown_numbers(2000, seed + 1)
    cache_clear()
    began = time.perf_counter()
    for number in numbers:
        normalise(number, "NL")
    return (time.perf_counter() - began) / len(numbers) * 1e6


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def progress(message: str) -> None:
    print(f"[lookup] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10_000, help="contacts in the small one")
    parser.add_argument("--large", type=int, default=1_000_000, help="contacts in the large one")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per server")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--unknown", type=float, default=0.1, help="share of unknown numbers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--sqlite-analyze",
        action="store_true",
        help="ANALYZE the SQLite copies instead of migrating them as a server start does",
    )
    parser.add_argument("--profile", type=Path, help="run the servers under cProfile into DIR")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    if not 1 <= args.small <= args.large <= 10_000_000:
        parser.error("need 1 <= --small <= --large <= 10,000,000")
    if args.seconds <= 0 or not 1 <= args.concurrency <= 1000 or not 0 <= args.unknown < 1:
        parser.error("--seconds > 0, 1 <= --concurrency <= 1000, 0 <= --unknown < 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="stamgast-lookup-"))
    profile_dir = args.profile.resolve() if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    budget = 2 * args.seconds + 2 * WARMUP_SECONDS + 180
    try:
        if args.database == "sqlite":
            targets = sqlite_targets(args, workdir)
            result = asyncio.run(
                asyncio.wait_for(serve_and_measure(args, targets, profile_dir), budget)
            )
        else:
            from tests.support.servers import postgres_server

            with postgres_server() as server_url:
                targets = postgres_targets(args, server_url)
                result = asyncio.run(
                    asyncio.wait_for(serve_and_measure(args, targets, profile_dir), budget)
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert all(is_sqlite(t.database_url) == (args.database == "sqlite") for t in targets)
    result["normalise_miss_us"] = round(normalise_cost_us(args.seed), 1)
    result["machine"] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    result["parameters"] = vars(args) | {"profile": str(profile_dir) if profile_dir else None}
    if profile_dir is not None:
        result["profile"] = profile_summary(profile_dir / "large.prof")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(render(args, result))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
