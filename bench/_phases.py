"""Each event kind on its own: the phases bench/ring_to_pop.py runs after the ringing open loop.

The calls that rang in the open loop (those answered 200) get, one phase after the other and
at the open loop's rate:

  duplicate  the first half's ringing delivery posted again, byte for byte (a vendor's retry)
  answered   the first half answered by an agent of the team that was rung (`answered_by`
             is that agent's extension)
  ended      the same calls hung up after the answer
  missed     the second half: never answered (the `missed` event)

A phase's figures are counted over its window (posting, then SETTLE_SECONDS for the pops
and anything the webhooks left running): server CPU (from /proc) and database round trips
(counted in the servers, bench/_round_trips.py), each divided by the webhooks answered 200.
The ringing open loop is measured the same way. Background work (agents' token rechecks, the
call sweeper) falls in those windows too; `idle` counts it alone, per second, with the
agents connected and no calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from _cluster import Backing, Fleet
from _common import Setup, agent_extension, latency_summary, trips_in
from _loops import Delivery, Post, event_request, open_loop
from _round_trips import wall_percentiles
from _tally import Meter

# The hot path's statements on PostgreSQL (app/calls/hot_pg_sql.py): READ, and CLAIM (a first
# ringing read and recorded at once) begin alike, so both count as the read; then the write.
HOT_STATEMENTS = {"read": "WITH seen AS", "write": "WITH ev AS"}
SETTLE_SECONDS = 0.5
IDLE_SECONDS = 1.0
KINDS = ("duplicate", "answered", "ended", "missed")


class Window:
    """Server CPU and database round trips between `open()` and `close()`."""

    def __init__(self, fleet: Fleet, backing: Backing | None) -> None:
        self._fleet, self._backing = fleet, backing

    async def open(self) -> None:
        # Trips are read first and last: the reads' own CPU stays outside the window.
        self._counts = await self._fleet.counts()
        self._meter = Meter(self._fleet, self._backing)

    async def close(self, webhooks: int) -> dict[str, Any]:
        figures = self._meter.spent()
        after = await self._fleet.counts()
        trips = [_difference(b, a) for b, a in zip(self._counts, after, strict=True)]
        figures["round_trips"] = trips
        figures["postgresql_wall_ms"] = _hot_walls(self._counts, after)
        figures["webhooks_ok"] = webhooks
        cpu = sum(figures["server_cpu_s"])
        figures["cpu_ms_per_webhook"] = round(cpu / webhooks * 1000, 3) if webhooks else None
        counted = None if None in trips else sum(t for t in trips if t is not None)
        figures["round_trips_per_webhook"] = (
            round(counted / webhooks, 2) if webhooks and counted is not None else None
        )
        return figures


def _difference(before: dict[str, Any] | None, after: dict[str, Any] | None) -> int | None:
    """Round trips between two answers; None when not counted (`--round-trips off`)."""
    then = None if before is None else trips_in(before)
    now = None if after is None else trips_in(after)
    return None if then is None or now is None else now - then


def _hot_walls(
    before: list[dict[str, Any] | None], after: list[dict[str, Any] | None]
) -> dict[str, Any]:
    """The hot path's PostgreSQL read and write, wall ms per request over the window, all
    processes together (bench/_round_trips.py)."""
    merged: dict[str, dict[str, list[int]]] = {"before": {}, "after": {}}
    for side, answers in (("before", before), ("after", after)):
        for answer in answers:
            for statement, histogram in ((answer or {}).get("postgresql_wall") or {}).items():
                total = merged[side].setdefault(statement, [0] * len(histogram))
                merged[side][statement] = [a + b for a, b in zip(total, histogram, strict=True)]
    return {
        name: wall_percentiles(merged["before"], merged["after"], statement)
        for name, statement in HOT_STATEMENTS.items()
    }


async def measured(
    fleet: Fleet, backing: Backing | None, work: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """Run `work` (returning at least `webhooks_ok`), settle, and add the window's figures."""
    window = Window(fleet, backing)
    await window.open()
    figures = await work()
    await asyncio.sleep(SETTLE_SECONDS)
    return figures | await window.close(figures.pop("webhooks_ok"))


async def idle(fleet: Fleet, backing: Backing | None) -> dict[str, Any]:
    """Background CPU and round trips per second with the agents connected and no calls."""
    window = Window(fleet, backing)
    await window.open()
    await asyncio.sleep(IDLE_SECONDS)
    figures = await window.close(0)
    trips = figures["round_trips"]
    return {
        "seconds": figures["wall_s"],
        "cpu_ms_per_s": round(sum(figures["server_cpu_s"]) / figures["wall_s"] * 1000, 2),
        "round_trips_per_s": None
        if None in trips
        else round(sum(t for t in trips if t is not None) / figures["wall_s"], 2),
    }


def phase_summary(posts: dict[str, Post], wall: float) -> dict[str, Any]:
    """What the webhooks of one phase answered."""
    ok = [p for p in posts.values() if p.status == 200]
    return {
        "webhooks": len(posts),
        "statuses": dict(Counter(str(p.status) if p.status else p.error for p in posts.values())),
        "degraded": sum(p.degraded for p in ok),
        "webhooks_per_s": round(len(ok) / wall, 2) if wall > 0 else None,
        "webhook_latency": latency_summary([p.answered - p.sent for p in ok if p.answered]),
        "webhooks_ok": len(ok),
    }


def kind_plans(
    ringing: list[Delivery], posts: dict[str, Post], setup: Setup, kinds: tuple[str, ...]
) -> dict[str, list[Delivery]]:
    """The deliveries of each later phase, for the calls whose ringing was answered 200."""
    rung = [d for d in ringing if posts[d.call_id].status == 200 and not posts[d.call_id].degraded]
    half = len(rung) // 2 or len(rung)
    first, second = rung[:half], rung[half:]
    answerer = {team: setup.agent_team.index(team) for team in set(setup.agent_team)}

    def follow(
        kind: str, calls: list[Delivery], **extra: Callable[[Delivery], str]
    ) -> list[Delivery]:
        plan = []
        for d in calls:
            event = json.loads(d.body)
            fields = {name: pick(d) for name, pick in extra.items()}
            body, headers = event_request(d.call_id, kind, event["from"], event["to"], **fields)
            plan.append(Delivery(d.call_id, d.team, d.process, body, headers))
        return plan

    plans = {
        "duplicate": first,  # the same bytes and signature: what a vendor's retry sends
        "answered": follow(
            "answered", first, answered_by=lambda d: agent_extension(answerer[d.team])
        ),
        "ended": follow("ended", first),
        "missed": follow("missed", second),
    }
    return {kind: plans[kind] for kind in kinds if plans[kind]}


async def run_kinds(
    client: aiohttp.ClientSession,
    fleet: Fleet,
    backing: Backing | None,
    urls: list[str],
    plans: dict[str, list[Delivery]],
    rate: float,
) -> dict[str, dict[str, Any]]:
    """One measured open-loop phase per kind, in the order given."""
    results: dict[str, dict[str, Any]] = {}
    for kind, plan in plans.items():

        async def work(plan: list[Delivery] = plan) -> dict[str, Any]:
            started = time.perf_counter()
            posts, wall, _lag = await open_loop(client, urls, plan, rate)
            return phase_summary(posts, wall or time.perf_counter() - started)

        results[kind] = await measured(fleet, backing, work)
    return results
