"""Helpers for the benchmarks: what the seeded database holds, the servers, the agents, numbers.

Seeding itself is in _seed.py (build_database here is its SQLite entry point).

Nothing here listens anywhere but 127.0.0.1, and every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/ring_to_pop.py`: make `app` importable
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
TENANT_SLUG = "bench"
GENERIC_SECRET = "bench-generic-secret"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Setup:
    """What the seeded database holds that the benchmark needs to drive it."""

    database_url: str
    numbers: list[str]  # the callers' numbers
    tokens: list[str]  # one per agent
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)  # team t answers lines[t]
    agent_team: list[int] = field(default_factory=list)  # agent i is in team agent_team[i]

    def team_sizes(self) -> list[int]:
        sizes = [0] * len(self.lines)
        for team in self.agent_team:
            sizes[team] += 1
        return sizes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def contact_number(index: int) -> str:
    """A distinct valid Dutch mobile number (E.164) for each index below 10 million."""
    return f"+3162{index:07d}"


def agent_extension(index: int) -> str:
    """The extension of agent `index` (what an `answered` event names as `answered_by`)."""
    return str(1000 + index)


def build_database(path: Path, *, contacts: int, agents: int, teams: int = 1) -> Setup:
    """Migrate a new SQLite file and seed the bench tenant (blocking; not inside a loop)."""
    from _seed import seed_database  # _seed builds on this module: imported when needed

    url = f"sqlite+aiosqlite:///{path}"
    return seed_database(url, contacts=contacts, agents=agents, teams=teams)


class ServerProcess:
    """`python -m uvicorn <app> --host 127.0.0.1 --port P --log-level warning`, run from ROOT.

    `counted`: the same uvicorn command line through bench/_counted_server.py, which counts
    database round trips and answers them at GET /_bench/round-trips.
    """

    def __init__(
        self, app: str, env: dict[str, str] | None = None, *, counted: bool = False
    ) -> None:
        self.app, self.counted = app, counted
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STAMGAST_")}
        # A benchmark is one client at full speed: the per-key rate limit would measure itself.
        self.env.update({"STAMGAST_API_RATE_LIMIT": "0", "STAMGAST_API_ANONYMOUS_RATE_LIMIT": "0"})
        self.env.update(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self._final_log = b""  # what it wrote up to stop(), for reports made after it

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def command(self) -> list[str]:
        wrapper = str(ROOT / "bench" / "_counted_server.py")
        launcher = [wrapper] if self.counted else ["-m", "uvicorn"]
        return [
            sys.executable, *launcher, self.app,
            "--host", HOST, "--port", str(self.port), "--log-level", "warning",
            # as `stamgast serve`, the image and deploy/ run it
            "--ws-per-message-deflate", "false",
        ]  # fmt: skip

    def launch(self) -> None:
        """Start the process (see `ready` for when it serves)."""
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )

    async def start(self, within: float = 30.0) -> None:
        """Start and wait until GET /healthz answers 200."""
        self.launch()
        assert self.process is not None
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.app} exited early:\n{self.log_tail()}")
                try:
                    if (await client.get(f"{self.base_url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.app} not ready within {within} s:\n{self.log_tail()}")

    async def round_trips(self) -> int | None:
        """Database round trips the server has made so far (None when not counted)."""
        counts = await self.counts()
        return None if counts is None else trips_in(counts)

    async def counts(self) -> dict[str, Any] | None:
        """What GET /_bench/round-trips answers (bench/_round_trips.py), when counted."""
        if not self.counted:
            return None
        async with httpx.AsyncClient(timeout=5.0) as client:
            answer = await client.get(f"{self.base_url}/_bench/round-trips")
        counts: dict[str, Any] = answer.json()
        return counts

    def log_tail(self, limit: int = 4000) -> str:
        """The end of what the server wrote (warnings, tracebacks), also after stop()."""
        if self._log.closed:
            return self._final_log.decode(errors="replace")[-limit:]
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-limit:]

    def peak_rss_mib(self) -> float | None:
        """VmHWM of the server process: the most resident memory it has had."""
        return _status_kib(self.pid, "VmHWM")

    def rss_mib(self) -> float | None:
        return _status_kib(self.pid, "VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within 15 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if not self._log.closed:
            self._log.seek(0)
            self._final_log = self._log.read()
            self._log.close()


def trips_in(counts: dict[str, Any]) -> int | None:
    """Round trips in a GET /_bench/round-trips answer (None when not counted)."""
    if counts["sqlite"] is None:
        return None
    return int(counts["sqlite"]) + int(counts["postgresql"])


def summarise_log(text: str, limit: int = 12) -> list[str]:
    """Distinct log lines, most frequent first, with how often each occurred."""
    counts = Counter(line.rstrip() for line in text.splitlines() if line.strip())
    return [f"{n:>6} x {line[:200]}" for line, n in counts.most_common(limit)]


def _status_kib(pid: int, key: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks."""
    if not sorted_values:
        return math.nan
    rank = (len(sorted_values) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def latency_summary(seconds: list[float]) -> dict[str, Any]:
    """count, p50, p95, p99 and max in milliseconds."""
    values = sorted(s * 1000 for s in seconds)
    summary: dict[str, Any] = {"count": len(values)}
    for p in (50, 95, 99):
        summary[f"p{p}_ms"] = round(percentile(values, p), 2)
    summary["max_ms"] = round(values[-1], 2) if values else math.nan
    return summary


@dataclass
class Recorder:
    """What the agents received, keyed by provider call id."""

    ringing: dict[str, dict[int, float]] = field(default_factory=dict)  # call → agent → t
    other_pops: Counter[str] = field(default_factory=Counter)
    connected: set[int] = field(default_factory=set)
    disconnects: Counter[str] = field(default_factory=Counter)
    byes: int = 0

    def pop(self, agent: int, message: dict[str, Any], at: float) -> None:
        pop = message["pop"]
        if pop["type"] != "call.ringing":
            self.other_pops[pop["type"]] += 1
            return
        # A replay after a reconnect may send it again: the first arrival counts.
        self.ringing.setdefault(pop["call"]["provider_call_id"], {}).setdefault(agent, at)


class Agents:
    """N widgets on /v1/stream that reconnect with last_seq, as the real widget does.

    Given several servers, agent i connects to ws_base[i % len(ws_base)], as a load
    balancer would spread them.
    """

    def __init__(self, ws_base: str | Sequence[str], tokens: list[str], recorder: Recorder) -> None:
        self._ws_bases = [ws_base] if isinstance(ws_base, str) else list(ws_base)
        self._tokens, self._rec = tokens, recorder
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def connect(self, within: float = 30.0) -> None:
        self._tasks = [asyncio.create_task(self._run(i, t)) for i, t in enumerate(self._tokens)]
        deadline = time.monotonic() + within
        while len(self._rec.connected) < len(self._tokens):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"only {len(self._rec.connected)}/{len(self._tokens)} agents connected"
                )
            await asyncio.sleep(0.05)

    async def _run(self, index: int, token: str) -> None:
        last_seq: int | None = None
        while not self._stopping:
            ws_base = self._ws_bases[index % len(self._ws_bases)]
            url = f"{ws_base}/v1/stream?token={token}"
            if last_seq is not None:
                url += f"&last_seq={last_seq}"
            try:
                async with websockets.connect(url, open_timeout=10, max_size=2**22) as ws:
                    async for frame in ws:
                        at = time.perf_counter()
                        message = json.loads(frame)
                        if "pop" in message:
                            last_seq = message["seq"]
                            self._rec.pop(index, message, at)
                        elif message.get("type") == "hello":
                            self._rec.connected.add(index)
                        elif message.get("type") == "bye":
                            self._rec.byes += 1
                    reason = f"closed {ws.close_code}"
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                reason = type(exc).__name__
            if self._stopping:
                return
            self._rec.disconnects[reason] += 1
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def proc_status(pid: int, key: str) -> int | None:
    """The number on a /proc/PID/status line (`VmRSS: 1234 kB` → 1234), None if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None
