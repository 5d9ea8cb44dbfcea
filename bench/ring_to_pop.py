"""Ring-to-pop benchmark: from a phone system's webhook to the card on N agents' screens.

    .venv/bin/python bench/ring_to_pop.py [--setup sqlite|cluster|both] [--agents 50]
                                          [--teams 1] [--rate 20] [--seconds 10]
                                          [--contacts 1000] [--ceiling-seconds 5]
                                          [--round-trips on|off] [--no-reference] [--json]

At full scale (the issue's 200 calls/s and 1,000 agents):

    .venv/bin/python bench/ring_to_pop.py --agents 1000 --teams 100 --rate 200 --seconds 60 \\
        --contacts 10000

Two setups, measured one after the other in one run (never at the same time), each
tearing its servers down before the next starts:

  sqlite   ONE `python -m uvicorn app.main:app` process on a SQLite file.
  cluster  TWO such processes on one PostgreSQL and one Redis (throwaway servers from
           tests/support/servers.py). Agent i connects to process i % 2 and call n is
           posted to process n % 2, so about half the pops are published by one process
           and delivered by the other through Redis ("cross-process pops"). With an even
           --teams, team t's agents are all on process t % 2 (both assignments are
           round-robin): a call's pops then either all cross or none do.

Every server is started by the same uvicorn command line through bench/_counted_server.py,
which counts each hop to the database driver (bench/_round_trips.py: every call into the
aiosqlite connection's thread, every asyncpg request) and answers the counts at
GET /_bench/round-trips; --round-trips off serves without counting.

For each setup:
1. Seeds the database: one tenant, --contacts contacts with a mobile number each, --agents
   agents spread round-robin over --teams teams, each team answering its own line, and the
   `generic` provider.
2. Line-up `stamgast` (bench/_lineup.py): starts the server(s), connects every agent by
   WebSocket (`/v1/stream`), warms up, counts one idle second (background work), then:
   a. Open loop: posts signed `ringing` events at --rate per second for --seconds, each from
      a random known contact to a random line, and times the webhook answer and every
      agent's pop (from just before the POST is written to the frame's arrival at that
      agent's socket).
   b. Event kinds (bench/_phases.py), each in a phase of its own at the same rate, for the
      calls that rang: `duplicate` (the same ringing delivery again: a vendor's retry) and
      `answered` then `ended` for the first half, `missed` for the second.
   c. Ceiling: with the agents still connected, 16 concurrent closed-loop clients post
      ringing events for --ceiling-seconds (alternating over the processes).
   For the open loop, each phase and the ceiling: server CPU (from /proc) and database round
   trips (counted), each divided by the webhooks answered 200 in that window; on PostgreSQL
   also the wall time of the hot path's read and write requests (p50/p90, timed in the
   server from the call to the answer: what the webhook, and its pop, wait for).
3. Line-up `reference` (bench/reference_path.py, unless --no-reference): a minimal program
   doing only the essential ringing work on the same stack and the same database, measured
   by the same steps (ringing and duplicate only); printed next to Stamgast with the ratio.
4. The same ceiling against `bench/bare_app.py` (one `POST /bare`), as many processes as
   the setup has. The ratio is what the webhook's work costs.

Why teams: a call rings the team of the number dialled, not the whole contact centre. At
200 calls/s with 1,000 agents, ringing everyone would be 200,000 WebSocket messages a
second, which is not what a contact centre does; with 100 teams of 10 it is 2,000. A
call's expected pops are therefore the size of its line's team.

The client (webhooks and agents, one Python process) runs on the same machine as the
servers and competes with them for CPU; the CPU time each used is reported, PostgreSQL's and
Redis's included, so a saturated machine is visible. The webhooks go out through aiohttp
(about 0.07 ms of client CPU per request; see bench/_loops.py); a closed loop whose client
CPU still nears its wall time is marked CLIENT-BOUND, and its req/s is then the client's
limit, not the server's. Latency is only meaningful on a quiet machine; CPU per webhook is
robust to other load (it is the servers' own CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import uvloop
from _cluster import Backing, Fleet, backing_services
from _common import Setup, build_database
from _lineup import (
    CEILING_CONCURRENCY,
    WARMUP_CALLS,
    bare_ceiling,
    measure_lineup,
    progress,
)
from _report import render
from _seed import seed_database
from _tally import load_average

SETUPS = ("sqlite", "cluster")
CEILING_SECONDS = 5.0


async def run(
    args: argparse.Namespace, setup: Setup, env: dict[str, str], backing: Backing | None
) -> dict[str, Any]:
    """The line-ups one after the other: stamgast, reference, bare."""
    processes = 2 if backing else 1
    counting = {"BENCH_ROUND_TRIPS": args.round_trips}
    load_before = load_average()
    app = Fleet("app.main:app", processes, env | counting)
    result: dict[str, Any] = {"processes": processes}
    result.update(await measure_lineup("stamgast", app, setup, backing, args))
    if args.reference:
        reference = Fleet("bench.reference_path:app", processes, env | counting)
        result["reference"] = await measure_lineup(
            "reference", reference, setup, backing, args, kinds=("duplicate",)
        )
    progress(f"bare: ceiling, {CEILING_CONCURRENCY} concurrent, {args.ceiling_seconds} s")
    bare = await bare_ceiling(Fleet("bench.bare_app:app", processes, counting), args)
    hook = result.pop("ceiling")
    result["ceiling"] = {
        "concurrency": CEILING_CONCURRENCY,
        "seconds": args.ceiling_seconds,
        "webhook": hook,
        "bare": bare,
        "webhook_to_bare": _ratio(hook["req_per_s"], bare["req_per_s"]),
    }
    if "reference" in result:
        ref = result["reference"]["ceiling"]
        result["ceiling"]["reference_to_bare"] = _ratio(ref["req_per_s"], bare["req_per_s"])
    result["machine_load"] = {"before": load_before, "after": load_average()}
    return result


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def run_setup(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Seed, serve, measure and tear down one setup."""
    with ExitStack() as stack:
        backing: Backing | None = None
        if name == "sqlite":
            progress(f"[sqlite] seeding {args.contacts} contacts, {args.agents} agents")
            setup = build_database(
                workdir / "bench.db", contacts=args.contacts, agents=args.agents, teams=args.teams
            )
            env = {"STAMGAST_DATABASE_URL": setup.database_url}
        else:
            progress("[cluster] starting PostgreSQL and Redis")
            backing = stack.enter_context(backing_services())
            progress(f"[cluster] seeding {args.contacts} contacts, {args.agents} agents")
            setup = seed_database(
                backing.database_url, contacts=args.contacts, agents=args.agents, teams=args.teams
            )
            env = {
                "STAMGAST_DATABASE_URL": backing.database_url,
                "STAMGAST_REDIS_URL": backing.redis_url,
            }
        budget = 4 * args.seconds + 6 * args.ceiling_seconds + 180
        # uvloop, as the servers use: the client's own overhead is not the subject.
        result = uvloop.run(asyncio.wait_for(run(args, setup, env, backing), budget))
    sizes = setup.team_sizes()
    result["seed_seconds"] = round(setup.seconds, 1)
    result["team_size"] = {"min": min(sizes), "max": max(sizes), "teams": len(sizes)}
    return result


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", choices=[*SETUPS, "both"], default="both")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--teams", type=int, default=1, help="teams, each with its own line")
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second (open loop)")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument(
        "--ceiling-seconds", type=float, default=CEILING_SECONDS, help="closed loop, per line-up"
    )
    parser.add_argument(
        "--round-trips",
        choices=("on", "off"),
        default="on",
        help="count database round trips (off: to see that counting costs no CPU)",
    )
    parser.add_argument(
        "--no-reference", dest="reference", action="store_false", help="skip the reference path"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    if args.ceiling_seconds <= 0:
        parser.error("--ceiling-seconds must be positive")
    if args.agents < 1 or args.rate <= 0 or args.seconds <= 0 or not 1 <= args.contacts <= 10**7:
        parser.error("--agents, --rate, --seconds and --contacts must be positive")
    if not 1 <= args.teams <= min(args.agents, 68_900):
        parser.error("--teams must be between 1 and --agents")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = SETUPS if args.setup == "both" else (args.setup,)
    results: dict[str, Any] = {}
    for name in names:
        workdir = Path(tempfile.mkdtemp(prefix="stamgast-bench-"))
        try:
            results[name] = run_setup(name, args, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    report = {
        "machine": machine() | {"load_avg_at_end": load_average()},
        "parameters": vars(args)
        | {
            "ceiling_concurrency": CEILING_CONCURRENCY,
            "warmup_calls_per_process": WARMUP_CALLS,
        },
        "setups": results,
    }
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
