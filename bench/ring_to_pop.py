"""Ring-to-pop benchmark: from a phone system's webhook to the card on N agents' screens.

    .venv/bin/python bench/ring_to_pop.py [--setup sqlite|cluster|both] [--agents 50]
                                          [--teams 1] [--rate 20] [--seconds 10]
                                          [--contacts 1000] [--json]

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

For each setup:
1. Seeds the database: one tenant, --contacts contacts with a mobile number each, --agents
   agents spread round-robin over --teams teams, each team answering its own line, and the
   `generic` provider.
2. Starts the server(s) and connects every agent by WebSocket (`/v1/stream`).
3. Open loop: posts signed `ringing` events at --rate per second for --seconds, each from a
   random known contact to a random line, and times the webhook answer and every agent's
   pop (from just before the POST is written to the frame's arrival at that agent's socket).
4. Ceiling: with the agents still connected, 16 concurrent closed-loop clients post ringing
   events for 5 s (alternating over the processes); then the same against
   `bench/bare_app.py` (one `POST /bare`), as many processes as the setup has, started by
   the same uvicorn command. The ratio is what the webhook's work costs.

Why teams: a call rings the team of the number dialled, not the whole contact centre. At
200 calls/s with 1,000 agents, ringing everyone would be 200,000 WebSocket messages a
second, which is not what a contact centre does; with 100 teams of 10 it is 2,000. A
call's expected pops are therefore the size of its line's team.

The client (webhooks and agents, one Python process) runs on the same machine as the
servers and competes with them for CPU; the CPU time each used is reported, PostgreSQL's and
Redis's included, so a saturated machine is visible. The webhooks go out through aiohttp
(about 0.07 ms of client CPU per request; see bench/_loops.py); a closed loop whose client
CPU still nears its wall time is marked CLIENT-BOUND, and its req/s is then the client's
limit, not the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import uvloop
from _cluster import Backing, Fleet, backing_services
from _common import TENANT_SLUG, Agents, Recorder, Setup, build_database
from _loops import closed_loop, make_client, open_loop, ringing_request, warm_up
from _report import render
from _seed import seed_database
from _tally import CallMeta, Meter, load_average, open_loop_report, tally_pops

SETUPS = ("sqlite", "cluster")
STRAGGLER_WAIT = 2.0
CEILING_CONCURRENCY = 16
CEILING_SECONDS = 5.0
WARMUP_CALLS = 5  # per process
OPEN_LOOP_CONNECTIONS = 64


async def run(
    args: argparse.Namespace, setup: Setup, env: dict[str, str], backing: Backing | None
) -> dict[str, Any]:
    processes = 2 if backing else 1
    app = Fleet("app.main:app", processes, env)
    bare = Fleet("bench.bare_app:app", processes)
    recorder = Recorder()
    agents = Agents(app.ws_bases(), setup.tokens, recorder)
    hooks = app.urls(f"/webhooks/generic/{TENANT_SLUG}")
    result: dict[str, Any] = {"processes": processes}
    load_before = load_average()
    try:
        await app.start()
        await agents.connect()
        progress(f"server pids {app.pids()}, {len(setup.tokens)} agents connected")
        async with make_client(OPEN_LOOP_CONNECTIONS) as client:
            await warm_up(client, hooks, setup, WARMUP_CALLS)
            meter = Meter(app, backing)
            progress(f"open loop: {args.rate}/s for {args.seconds} s")
            # The client's own garbage-collector pauses (a thousand connections' objects)
            # would show up as late pops; its memory can grow for a minute instead.
            gc.collect()
            gc.freeze()
            gc.disable()
            try:
                posts, wall, lag = await open_loop(client, hooks, setup, args.rate, args.seconds)
                await asyncio.sleep(STRAGGLER_WAIT)
            finally:
                gc.enable()
                gc.unfreeze()
            spent = meter.spent()
        result["open_loop"] = open_loop_report(
            args.rate, posts, recorder, setup, processes, wall, lag
        )
        result["open_loop"].update(spent)
        progress(f"ceiling: {CEILING_CONCURRENCY} concurrent, {CEILING_SECONDS:.0f} s per app")
        result["ceiling"] = await ceiling(app, bare, setup, recorder, backing)
        result["server"] = {
            "peak_rss_mib": app.peak_rss_mib(),
            "rss_mib_at_end": app.rss_mib(),
            "agent_disconnects": dict(recorder.disconnects),
            "byes": recorder.byes,
            "other_pops": dict(recorder.other_pops),
        }
        result["machine_load"] = {"before": load_before, "after": load_average()}
    finally:
        await agents.stop()
        app.stop()
        bare.stop()
    # Read after stopping: shutdown warnings belong in the report too.
    result["server"]["log"] = app.logs()
    return result


async def ceiling(
    app: Fleet, bare: Fleet, setup: Setup, recorder: Recorder, backing: Backing | None
) -> dict[str, Any]:
    """Closed-loop req/s of the webhook, then of the bare endpoint on as many processes."""
    rng = random.Random(11)
    teams: dict[int, int] = {}

    def make_ringing(n: int) -> tuple[bytes, dict[str, str]]:
        team = teams[n] = rng.randrange(len(setup.lines))
        return ringing_request(f"ceil-{n:07d}", rng.choice(setup.numbers), setup.lines[team])

    async with make_client(CEILING_CONCURRENCY) as client:
        meter = Meter(app, backing)
        hook, ok = await closed_loop(
            client,
            app.urls(f"/webhooks/generic/{TENANT_SLUG}"),
            make_ringing,
            CEILING_CONCURRENCY,
            CEILING_SECONDS,
        )
        hook.update(meter.spent())
        await asyncio.sleep(STRAGGLER_WAIT)
        # Only the pops' count matters here: at saturation their latency is queueing.
        answered = {f"ceil-{n:07d}": CallMeta(0.0, teams[n], n % len(app)) for n in ok}
        pops = tally_pops(answered, recorder, setup, len(app))
        hook.update({k: v for k, v in pops.items() if not k.startswith("ring_to_pop")})
        await bare.start()
        meter = Meter(bare)
        body = b'{"call_id":"x","event":"ringing","from":"+31612345678"}'
        flat, _ok = await closed_loop(
            client,
            bare.urls("/bare"),
            lambda n: (body, {"Content-Type": "application/json"}),
            CEILING_CONCURRENCY,
            CEILING_SECONDS,
        )
        flat.update(meter.spent())
        flat["peak_rss_mib"] = bare.peak_rss_mib()
    ratio = hook["req_per_s"] / flat["req_per_s"] if flat["req_per_s"] else None
    return {
        "concurrency": CEILING_CONCURRENCY,
        "seconds": CEILING_SECONDS,
        "webhook": hook,
        "bare": flat,
        "webhook_to_bare": round(ratio, 3) if ratio else None,
    }


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
        budget = args.seconds + 4 * CEILING_SECONDS + 120
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


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", choices=[*SETUPS, "both"], default="both")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--teams", type=int, default=1, help="teams, each with its own line")
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second (open loop)")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
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
            "ceiling_seconds": CEILING_SECONDS,
            "warmup_calls_per_process": WARMUP_CALLS,
        },
        "setups": results,
    }
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
