"""The load bench/ring_to_pop.py offers: signed `generic` webhooks, open loop and closed loop.

With several servers, request n goes to urls[n % len(urls)], as a round-robin load
balancer would send it.

The client is aiohttp, not httpx: httpx spends about 1.1 ms of CPU per request on this
machine, aiohttp about 0.07 ms (measured against bench/bare_app.py), so with httpx the bare
endpoint's ceiling was the client's, not the server's, and the client took CPU the servers
need at 200 calls/s.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from _common import GENERIC_SECRET, Setup, latency_summary

from telephony_adapters.generic import sign_generic

REQUEST_TIMEOUT = 10.0
ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)

Make = Callable[[int], tuple[bytes, dict[str, str]]]


@dataclass
class Post:
    """One open-loop webhook: where it went and what became of it."""

    sent: float
    team: int
    process: int
    answered: float | None = None
    status: int | None = None
    degraded: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One signed webhook to post: a call's event, the team its line rings, its process."""

    call_id: str
    team: int
    process: int
    body: bytes
    headers: dict[str, str]


def event_request(
    call_id: str, kind: str, number: str, line: str, **extra: str
) -> tuple[bytes, dict[str, str]]:
    """A signed `generic` event (telephony_adapters/generic.py) of `kind` for `call_id`."""
    event = {"call_id": call_id, "event": kind, "from": number, "to": line, **extra}
    body = json.dumps(event).encode()
    headers = {
        "Content-Type": "application/json",
        **sign_generic(GENERIC_SECRET, body, int(time.time())),
    }
    return body, headers


def ringing_request(call_id: str, number: str, line: str) -> tuple[bytes, dict[str, str]]:
    return event_request(call_id, "ringing", number, line)


async def post_event(
    client: aiohttp.ClientSession, url: str, request: tuple[bytes, dict[str, str]], post: Post
) -> Post:
    body, headers = request
    post.sent = time.perf_counter()  # ring-to-pop starts just before the request is written
    try:
        async with client.post(url, data=body, headers=headers) as response:
            content = await response.read()
        post.answered = time.perf_counter()
        post.status = response.status
        post.degraded = b'"degraded":true' in content
    except ERRORS as exc:
        post.error = type(exc).__name__
    return post


async def warm_up(
    client: aiohttp.ClientSession, urls: list[str], setup: Setup, calls: int, prefix: str = ""
) -> None:
    """`calls` calls per server: first-call costs (imports, caches) are not the subject."""
    for i in range(calls * len(urls)):
        team = i % len(setup.lines)
        request = ringing_request(
            f"{prefix}warmup-{i}", setup.numbers[i % len(setup.numbers)], setup.lines[team]
        )
        await post_event(client, urls[i % len(urls)], request, Post(0.0, team, i % len(urls)))


def ringing_plan(
    setup: Setup, rate: float, seconds: float, processes: int, prefix: str = ""
) -> list[Delivery]:
    """rate x seconds ringing calls, each from a random known caller to a random line; the
    same calls for every line-up (one seed), under each line-up's own call ids."""
    rng = random.Random(7)
    plan = []
    for i in range(max(1, round(rate * seconds))):
        call_id = f"{prefix}open-{i:06d}"
        team = rng.randrange(len(setup.lines))
        body, headers = ringing_request(call_id, rng.choice(setup.numbers), setup.lines[team])
        plan.append(Delivery(call_id, team, i % processes, body, headers))
    return plan


async def open_loop(
    client: aiohttp.ClientSession, urls: list[str], plan: list[Delivery], rate: float
) -> tuple[dict[str, Post], float, float]:
    """Post the plan at fixed times whatever the answers take; (posts, wall s, worst lag).

    Delivery d goes to urls[d.process]. Keyed by call id: one delivery per call per plan.
    """
    posts: dict[str, Post] = {}
    tasks: list[asyncio.Task[Post]] = []
    worst_lag = 0.0
    start = time.perf_counter() + 0.05
    for i, delivery in enumerate(plan):
        target = start + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        worst_lag = max(worst_lag, time.perf_counter() - target)
        post = posts[delivery.call_id] = Post(target, delivery.team, delivery.process)
        request = (delivery.body, delivery.headers)
        tasks.append(asyncio.create_task(post_event(client, urls[delivery.process], request, post)))
    await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 5)
    for task in tasks:
        task.cancel()
    for post in posts.values():
        if post.status is None and post.error is None:
            post.error = "unfinished"
    answered = [p.answered for p in posts.values() if p.answered is not None]
    wall = (max(answered) if answered else time.perf_counter()) - start
    return posts, wall, worst_lag


async def closed_loop(
    client: aiohttp.ClientSession, urls: list[str], make: Make, concurrency: int, seconds: float
) -> tuple[dict[str, Any], list[int]]:
    """`concurrency` workers each posting back to back until `seconds` have passed.

    Returns the figures and the sequence numbers (the `n` given to `make`) answered 200.
    """
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    ok: list[int] = []
    degraded = 0
    deadline = time.perf_counter() + seconds
    sequence = iter(range(10**9))

    async def worker() -> None:
        nonlocal degraded
        while time.perf_counter() < deadline:
            n = next(sequence)
            body, headers = make(n)
            sent = time.perf_counter()
            try:
                async with client.post(urls[n % len(urls)], data=body, headers=headers) as resp:
                    content = await resp.read()
            except ERRORS as exc:
                statuses[type(exc).__name__] += 1
                continue
            latencies.append(time.perf_counter() - sent)
            statuses[str(resp.status)] += 1
            if resp.status == 200:
                ok.append(n)
            degraded += b'"degraded":true' in content

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    summary = {
        "requests_ok": len(ok),
        "req_per_s": round(len(ok) / elapsed, 1),
        "seconds": round(elapsed, 2),
        "statuses": dict(statuses),
        "degraded": degraded,
        "latency": latency_summary(latencies),
    }
    return summary, ok


def make_client(concurrency: int) -> aiohttp.ClientSession:
    """Keep-alive connections, at most `concurrency` of them (as a proxy's upstream pool)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
    )
