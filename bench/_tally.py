"""The figures of bench/ring_to_pop.py: pops counted against what each call should ring, CPU.

A call rings the team whose line was dialled, so the pops a call should give are that
team's size; a pop to anyone else is misrouted and does not count as received. With two
processes, a pop to an agent connected to the other process than the one the webhook
reached went through Redis: a cross-process pop.
"""

from __future__ import annotations

import os
import resource
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from _cluster import Backing, Fleet
from _common import Recorder, Setup, latency_summary
from _loops import Post


@dataclass(frozen=True)
class CallMeta:
    """Where a call went: the team whose line it rang, and the process its webhook reached."""

    sent: float
    team: int
    process: int


def tally_pops(
    calls: dict[str, CallMeta], rec: Recorder, setup: Setup, processes: int
) -> dict[str, Any]:
    """Pops expected, received, lost, misrouted and crossing processes, and their latency."""
    sizes = setup.team_sizes()
    expected = sum(sizes[c.team] for c in calls.values() if c.team >= 0)
    latencies: list[float] = []
    crossed: list[float] = []
    stayed: list[float] = []  # published and delivered by the same process
    directions: Counter[str] = Counter()
    misrouted = 0
    for call_id, by_agent in rec.ringing.items():
        call = calls.get(call_id)
        if call is None:
            continue
        for agent, at in by_agent.items():
            if setup.agent_team[agent] != call.team:
                misrouted += 1
                continue
            latencies.append(at - call.sent)
            if agent % processes != call.process:
                crossed.append(at - call.sent)
                directions[f"{call.process}->{agent % processes}"] += 1
            else:
                stayed.append(at - call.sent)
    figures: dict[str, Any] = {
        "ring_to_pop": latency_summary(latencies),
        "pops_expected": expected,
        "pops_received": len(latencies),
        "pops_lost": expected - len(latencies),
        "pops_misrouted": misrouted,
    }
    if processes > 1:
        figures["cross_process_pops"] = len(crossed)
        figures["cross_process_by_direction"] = dict(sorted(directions.items()))
        figures["ring_to_pop_cross_process"] = latency_summary(crossed)
        figures["ring_to_pop_same_process"] = latency_summary(stayed)
    return figures


def open_loop_report(
    rate: float,
    posts: dict[str, Post],
    rec: Recorder,
    setup: Setup,
    processes: int,
    wall: float,
    lag: float,
) -> dict[str, Any]:
    statuses = Counter(str(p.status) if p.status else p.error for p in posts.values())
    ok = [p for p in posts.values() if p.status == 200]
    calls = {cid: CallMeta(p.sent, p.team, p.process) for cid, p in posts.items()}
    return {
        "offered_rate": rate,
        "calls_posted": len(posts),
        "calls_per_process": dict(sorted(Counter(p.process for p in posts.values()).items())),
        "statuses": dict(statuses),
        "degraded": sum(p.degraded for p in ok),
        "calls_per_s": round(len(ok) / wall, 2),
        "webhook_latency": latency_summary([p.answered - p.sent for p in ok if p.answered]),
        **tally_pops(calls, rec, setup, processes),
        "scheduler_worst_lag_ms": round(lag * 1000, 2),
    }


def self_cpu() -> float:
    """User + system CPU this process (the client: webhooks and agents) has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Meter:
    """CPU spent between construction and `spent()`: servers, client, PostgreSQL and Redis."""

    def __init__(self, fleet: Fleet, backing: Backing | None = None) -> None:
        self._fleet, self._backing = fleet, backing
        self._wall = time.perf_counter()
        self._servers = fleet.cpu_seconds()
        self._client = self_cpu()
        self._services = backing.cpu_seconds() if backing else {}

    def spent(self) -> dict[str, Any]:
        figures: dict[str, Any] = {
            "wall_s": round(time.perf_counter() - self._wall, 2),
            "server_cpu_s": [
                round(after - before, 2)
                for before, after in zip(self._servers, self._fleet.cpu_seconds(), strict=True)
            ],
            "client_cpu_s": round(self_cpu() - self._client, 2),
        }
        if self._backing is not None:
            now = self._backing.cpu_seconds()
            figures["services_cpu_s"] = {
                name: _delta(before, now.get(name)) for name, before in self._services.items()
            }
        return figures


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 2)
