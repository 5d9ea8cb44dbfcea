"""Ring-to-pop benchmark: from a phone system's webhook to the card on N agents' screens.

    .venv/bin/python bench/ring_to_pop.py [--agents 50] [--rate 20] [--seconds 10]
                                          [--contacts 1000] [--json]

1. Seeds a temporary SQLite file: one tenant, --contacts contacts with a mobile number each,
   --agents agents in one team answering one line, the `generic` provider.
2. Starts ONE `python -m uvicorn app.main:app` process on 127.0.0.1 and connects every agent
   by WebSocket (`/v1/stream`).
3. Open loop: posts signed `ringing` events at --rate per second for --seconds, each from a
   random known contact, and times the webhook answer and every agent's pop.
4. Ceiling: with the agents still connected, 16 concurrent closed-loop clients post ringing
   events for 5 s; then the same against `bench/bare_app.py` (one `POST /bare`) served by
   the same uvicorn command. The ratio is what the webhook's work costs.

The client runs on the same machine as the server and competes with it for CPU; the CPU
time each used is reported so a saturated machine is visible.
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
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _common import (
    GENERIC_SECRET,
    LINE_NUMBER,
    TENANT_SLUG,
    Agents,
    Recorder,
    ServerProcess,
    Setup,
    build_database,
    latency_summary,
    summarise_log,
)
from _report import render

from telephony_adapters.generic import sign_generic

STRAGGLER_WAIT = 2.0
CEILING_CONCURRENCY = 16
CEILING_SECONDS = 5.0
REQUEST_TIMEOUT = 10.0
WARMUP_CALLS = 5


@dataclass
class Post:
    sent: float
    answered: float | None = None
    status: int | None = None
    degraded: bool = False
    error: str | None = None


def ringing_request(call_id: str, number: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"call_id": call_id, "event": "ringing", "from": number, "to": LINE_NUMBER}
    ).encode()
    headers = {
        "Content-Type": "application/json",
        **sign_generic(GENERIC_SECRET, body, int(time.time())),
    }
    return body, headers


async def post_ringing(client: httpx.AsyncClient, url: str, call_id: str, number: str) -> Post:
    body, headers = ringing_request(call_id, number)
    post = Post(sent=time.perf_counter())
    try:
        response = await client.post(url, content=body, headers=headers)
        post.answered = time.perf_counter()
        post.status = response.status_code
        post.degraded = b'"degraded":true' in response.content
    except httpx.HTTPError as exc:
        post.error = type(exc).__name__
    return post


async def open_loop(
    client: httpx.AsyncClient, url: str, numbers: list[str], rate: float, seconds: float
) -> tuple[dict[str, Post], float, float]:
    """Post at fixed times whatever the answers take; (posts, wall seconds, worst lag)."""
    total = max(1, round(rate * seconds))
    rng = random.Random(7)
    tasks: dict[str, asyncio.Task[Post]] = {}
    worst_lag = 0.0
    start = time.perf_counter() + 0.05
    for i in range(total):
        target = start + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        worst_lag = max(worst_lag, time.perf_counter() - target)
        call_id = f"open-{i:06d}"
        tasks[call_id] = asyncio.create_task(
            post_ringing(client, url, call_id, rng.choice(numbers))
        )
    await asyncio.wait(tasks.values(), timeout=REQUEST_TIMEOUT + 5)
    posts = {
        cid: t.result() if t.done() else Post(start, error="unfinished") for cid, t in tasks.items()
    }
    for task in tasks.values():
        task.cancel()
    answered = [p.answered for p in posts.values() if p.answered is not None]
    wall = (max(answered) if answered else time.perf_counter()) - start
    return posts, wall, worst_lag


async def closed_loop(
    client: httpx.AsyncClient, url: str, make: Any, concurrency: int, seconds: float
) -> dict[str, Any]:
    """`concurrency` workers each posting back to back until `seconds` have passed."""
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    degraded = 0
    deadline = time.perf_counter() + seconds
    sequence = iter(range(10**9))

    async def worker() -> None:
        nonlocal degraded
        while time.perf_counter() < deadline:
            body, headers = make(next(sequence))
            sent = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                continue
            latencies.append(time.perf_counter() - sent)
            statuses[str(response.status_code)] += 1
            degraded += b'"degraded":true' in response.content

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ok = statuses.get("200", 0)
    return {
        "requests_ok": ok,
        "req_per_s": round(ok / elapsed, 1),
        "seconds": round(elapsed, 2),
        "statuses": dict(statuses),
        "degraded": degraded,
        "latency": latency_summary(latencies),
    }


def _client(concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT)


async def run(args: argparse.Namespace, setup: Setup) -> dict[str, Any]:
    server = ServerProcess("app.main:app", {"STAMGAST_DATABASE_URL": setup.database_url})
    bare = ServerProcess("bench.bare_app:app")
    recorder = Recorder()
    agents = Agents(f"ws://127.0.0.1:{server.port}", setup.tokens, recorder)
    webhook = f"{server.base_url}/webhooks/generic/{TENANT_SLUG}"
    result: dict[str, Any] = {}
    load_before = _load()
    try:
        await server.start()
        await agents.connect()
        progress(f"server pid {server.pid}, {len(setup.tokens)} agents connected")
        async with _client(64) as client:
            for i in range(WARMUP_CALLS):  # first-call costs (imports, caches) are not the subject
                await post_ringing(
                    client, webhook, f"warmup-{i}", setup.numbers[i % len(setup.numbers)]
                )
            cpu_before, self_before = server.cpu_seconds(), _self_cpu()
            progress(f"open loop: {args.rate}/s for {args.seconds} s")
            posts, wall, lag = await open_loop(
                client, webhook, setup.numbers, args.rate, args.seconds
            )
            await asyncio.sleep(STRAGGLER_WAIT)
            result["open_loop"] = _open_loop_report(args, posts, recorder, wall, lag)
            result["open_loop"]["server_cpu_s"] = round(server.cpu_seconds() - cpu_before, 2)
            result["open_loop"]["client_cpu_s"] = round(_self_cpu() - self_before, 2)
        progress(f"ceiling: {CEILING_CONCURRENCY} concurrent, {CEILING_SECONDS:.0f} s per server")
        rng = random.Random(11)
        async with _client(CEILING_CONCURRENCY) as client:
            cpu_before = server.cpu_seconds()
            hook = await closed_loop(
                client,
                webhook,
                lambda n: ringing_request(f"ceil-{n:07d}", rng.choice(setup.numbers)),
                CEILING_CONCURRENCY,
                CEILING_SECONDS,
            )
            hook["server_cpu_s"] = round(server.cpu_seconds() - cpu_before, 2)
            await asyncio.sleep(STRAGGLER_WAIT)
            ceil_calls = [c for c in recorder.ringing if c.startswith("ceil-")]
            hook["pops_expected"] = hook["requests_ok"] * len(setup.tokens)
            hook["pops_received"] = sum(len(recorder.ringing[c]) for c in ceil_calls)
            await bare.start()
            cpu_before = bare.cpu_seconds()
            body = b'{"call_id":"x","event":"ringing","from":"+31612345678"}'
            flat = await closed_loop(
                client,
                f"{bare.base_url}/bare",
                lambda n: (body, {"Content-Type": "application/json"}),
                CEILING_CONCURRENCY,
                CEILING_SECONDS,
            )
            flat["server_cpu_s"] = round(bare.cpu_seconds() - cpu_before, 2)
            flat["peak_rss_mib"] = bare.peak_rss_mib()
        ratio = hook["req_per_s"] / flat["req_per_s"] if flat["req_per_s"] else None
        result["ceiling"] = {
            "concurrency": CEILING_CONCURRENCY,
            "seconds": CEILING_SECONDS,
            "webhook": hook,
            "bare": flat,
            "webhook_to_bare": round(ratio, 3) if ratio else None,
        }
        result["server"] = {
            "peak_rss_mib": server.peak_rss_mib(),
            "rss_mib_at_end": server.rss_mib(),
            "agent_disconnects": dict(recorder.disconnects),
            "byes": recorder.byes,
        }
        result["server"]["log"] = summarise_log(server.log_tail(limit=10**7))
        result["machine_load"] = {"before": load_before, "after": _load()}
    finally:
        await agents.stop()
        server.stop()
        bare.stop()
    return result


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _open_loop_report(
    args: argparse.Namespace, posts: dict[str, Post], rec: Recorder, wall: float, lag: float
) -> dict[str, Any]:
    statuses = Counter(str(p.status) if p.status else p.error for p in posts.values())
    ok = [p for p in posts.values() if p.status == 200]
    deliveries = [
        at - posts[call].sent
        for call, by_agent in rec.ringing.items()
        if call in posts
        for at in by_agent.values()
    ]
    expected = len(posts) * args.agents
    return {
        "offered_rate": args.rate,
        "calls_posted": len(posts),
        "statuses": dict(statuses),
        "degraded": sum(p.degraded for p in ok),
        "calls_per_s": round(len(ok) / wall, 2),
        "webhook_latency": latency_summary([p.answered - p.sent for p in ok if p.answered]),
        "ring_to_pop": latency_summary(deliveries),
        "pops_expected": expected,
        "pops_received": len(deliveries),
        "pops_lost": expected - len(deliveries),
        "scheduler_worst_lag_ms": round(lag * 1000, 2),
    }


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second (open loop)")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    if args.agents < 1 or args.rate <= 0 or args.seconds <= 0 or not 1 <= args.contacts <= 10**7:
        parser.error("--agents, --rate, --seconds and --contacts must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="stamgast-bench-"))
    try:
        progress(f"seeding {args.contacts} contacts and {args.agents} agents in {workdir}")
        setup = build_database(workdir / "bench.db", contacts=args.contacts, agents=args.agents)
        budget = setup.seconds + args.seconds + 4 * CEILING_SECONDS + 120
        result = asyncio.run(asyncio.wait_for(run(args, setup), budget))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["machine"] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    result["parameters"] = vars(args) | {
        "ceiling_concurrency": CEILING_CONCURRENCY,
        "ceiling_seconds": CEILING_SECONDS,
        "warmup_calls": WARMUP_CALLS,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render(args, setup, result))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
