"""One line-up of bench/ring_to_pop.py: a server fleet started, measured, stopped.

`stamgast` (app.main:app) and `reference` (bench/reference_path.py) go through the same
steps, one after the other, never at the same time: start the processes (through
bench/_counted_server.py), connect every agent, warm up, count one idle second, the ringing
open loop, the later event kinds (bench/_phases.py; the reference handles `ringing` only, so
it gets the duplicate phase alone), then the ceiling: CEILING_CONCURRENCY closed-loop
clients posting ringing events for --ceiling-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sys
from typing import Any

from _cluster import Backing, Fleet
from _common import TENANT_SLUG, Agents, Recorder, Setup
from _loops import closed_loop, make_client, open_loop, ringing_plan, ringing_request, warm_up
from _phases import KINDS, idle, kind_plans, measured, run_kinds
from _tally import CallMeta, Meter, open_loop_report, tally_pops

STRAGGLER_WAIT = 2.0  # for late pops; never longer than the run itself (a smoke test's 0.5 s)
CEILING_CONCURRENCY = 16
WARMUP_CALLS = 5  # per process
OPEN_LOOP_CONNECTIONS = 64


def straggler_wait(args: argparse.Namespace) -> float:
    return min(STRAGGLER_WAIT, args.seconds)


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def measure_lineup(
    name: str,
    fleet: Fleet,
    setup: Setup,
    backing: Backing | None,
    args: argparse.Namespace,
    kinds: tuple[str, ...] = KINDS,
) -> dict[str, Any]:
    """Everything one line-up is measured on; its processes are stopped on return."""
    prefix = "" if name == "stamgast" else f"{name}-"
    recorder = Recorder()
    agents = Agents(fleet.ws_bases(), setup.tokens, recorder)
    hooks = fleet.urls(f"/webhooks/generic/{TENANT_SLUG}")
    processes = len(fleet)
    result: dict[str, Any] = {}
    try:
        await fleet.start()
        await agents.connect()
        progress(f"{name}: pids {fleet.pids()}, {len(setup.tokens)} agents connected")
        async with make_client(OPEN_LOOP_CONNECTIONS) as client:
            await warm_up(client, hooks, setup, WARMUP_CALLS, prefix)
            result["idle"] = await idle(fleet, backing)
            plan = ringing_plan(setup, args.rate, args.seconds, processes, prefix)
            progress(f"{name}: open loop, {args.rate}/s for {args.seconds} s")
            posts: dict[str, Any] = {}

            async def ringing() -> dict[str, Any]:
                # The client's own garbage-collector pauses (a thousand connections' objects)
                # would show up as late pops; its memory can grow for a minute instead.
                gc.collect()
                gc.freeze()
                gc.disable()
                try:
                    sent, wall, lag = await open_loop(client, hooks, plan, args.rate)
                    await asyncio.sleep(straggler_wait(args))
                finally:
                    gc.enable()
                    gc.unfreeze()
                posts.update(sent)
                figures = open_loop_report(args.rate, sent, recorder, setup, processes, wall, lag)
                return figures | {"webhooks_ok": figures["statuses"].get("200", 0)}

            result["open_loop"] = await measured(fleet, backing, ringing)
            plans = kind_plans(plan, posts, setup, kinds)
            progress(f"{name}: event kinds {', '.join(plans)}")
            result["kinds"] = await run_kinds(client, fleet, backing, hooks, plans, args.rate)
        progress(f"{name}: ceiling, {CEILING_CONCURRENCY} concurrent, {args.ceiling_seconds} s")
        result["ceiling"] = await ceiling(fleet, setup, recorder, backing, args, prefix)
        result["server"] = {
            "peak_rss_mib": fleet.peak_rss_mib(),
            "rss_mib_at_end": fleet.rss_mib(),
            "agent_disconnects": dict(recorder.disconnects),
            "byes": recorder.byes,
            "other_pops": dict(recorder.other_pops),
        }
    finally:
        await agents.stop()
        fleet.stop()
    # Read after stopping: shutdown warnings belong in the report too.
    result.setdefault("server", {})["log"] = fleet.logs()
    return result


async def ceiling(
    fleet: Fleet,
    setup: Setup,
    recorder: Recorder,
    backing: Backing | None,
    args: argparse.Namespace,
    prefix: str,
) -> dict[str, Any]:
    """Closed-loop req/s of the ringing webhook, its CPU and round trips, and its pops."""
    rng = random.Random(11)
    teams: dict[int, int] = {}

    def make_ringing(n: int) -> tuple[bytes, dict[str, str]]:
        team = teams[n] = rng.randrange(len(setup.lines))
        call_id = f"{prefix}ceil-{n:07d}"
        return ringing_request(call_id, rng.choice(setup.numbers), setup.lines[team])

    ok: list[int] = []
    async with make_client(CEILING_CONCURRENCY) as client:

        async def work() -> dict[str, Any]:
            hook, answered = await closed_loop(
                client,
                fleet.urls(f"/webhooks/generic/{TENANT_SLUG}"),
                make_ringing,
                CEILING_CONCURRENCY,
                args.ceiling_seconds,
            )
            ok.extend(answered)
            return hook | {"webhooks_ok": len(answered)}

        hook = await measured(fleet, backing, work)
    await asyncio.sleep(straggler_wait(args))
    # Only the pops' count matters here: at saturation their latency is queueing.
    answered = {f"{prefix}ceil-{n:07d}": CallMeta(0.0, teams[n], n % len(fleet)) for n in ok}
    pops = tally_pops(answered, recorder, setup, len(fleet))
    hook.update({k: v for k, v in pops.items() if not k.startswith("ring_to_pop")})
    return hook


async def bare_ceiling(bare: Fleet, args: argparse.Namespace) -> dict[str, Any]:
    """The same closed loop against bench/bare_app.py: FastAPI and uvicorn doing nothing."""
    body = b'{"call_id":"x","event":"ringing","from":"+31612345678"}'
    try:
        await bare.start()
        async with make_client(CEILING_CONCURRENCY) as client:
            meter = Meter(bare)
            flat, _ok = await closed_loop(
                client,
                bare.urls("/bare"),
                lambda n: (body, {"Content-Type": "application/json"}),
                CEILING_CONCURRENCY,
                args.ceiling_seconds,
            )
            flat.update(meter.spent())
        flat["peak_rss_mib"] = bare.peak_rss_mib()
    finally:
        bare.stop()
    return flat
