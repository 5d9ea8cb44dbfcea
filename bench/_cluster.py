"""The servers one benchmark setup runs: N copies of one uvicorn command, and PostgreSQL + Redis.

PostgreSQL and Redis come from tests/support/servers.py (throwaway, on 127.0.0.1, from
Debian's packages). Their CPU time is read from /proc, because on a 2-core machine they
compete with the app processes and the client for the same cores.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from _common import CLOCK_TICKS, ServerProcess, summarise_log

from tests.support.servers import postgres_server, redis_server


class Fleet:
    """`count` processes of the same `python -m uvicorn <app>` command with the same env."""

    def __init__(self, app: str, count: int, env: dict[str, str] | None = None) -> None:
        # Counted: each serves GET /_bench/round-trips (bench/_counted_server.py).
        self.servers = [ServerProcess(app, env, counted=True) for _ in range(count)]

    def __len__(self) -> int:
        return len(self.servers)

    async def start(self) -> None:
        await asyncio.gather(*(server.start() for server in self.servers))

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def urls(self, path: str) -> list[str]:
        return [f"{server.base_url}{path}" for server in self.servers]

    def ws_bases(self) -> list[str]:
        return [f"ws://127.0.0.1:{server.port}" for server in self.servers]

    def cpu_seconds(self) -> list[float]:
        return [server.cpu_seconds() for server in self.servers]

    async def round_trips(self) -> list[int | None]:
        """Database round trips each process has made so far."""
        return list(await asyncio.gather(*(server.round_trips() for server in self.servers)))

    async def counts(self) -> list[dict[str, Any] | None]:
        """Each process's GET /_bench/round-trips answer (None when not counted)."""
        return list(await asyncio.gather(*(server.counts() for server in self.servers)))

    def peak_rss_mib(self) -> list[float | None]:
        return [server.peak_rss_mib() for server in self.servers]

    def rss_mib(self) -> list[float | None]:
        return [server.rss_mib() for server in self.servers]

    def pids(self) -> list[int]:
        return [server.pid for server in self.servers]

    def logs(self) -> list[list[str]]:
        """Per process: distinct log lines, most frequent first."""
        return [summarise_log(server.log_tail(limit=10**7)) for server in self.servers]


@dataclass(frozen=True)
class Backing:
    """A running PostgreSQL and Redis."""

    database_url: str
    redis_url: str

    def cpu_seconds(self) -> dict[str, float | None]:
        """CPU time used so far: PostgreSQL with all its backends, and Redis."""
        redis_port = urlsplit(self.redis_url).port
        redis = _find_process(lambda argv: _is_redis(argv, redis_port))
        return {
            "postgresql": postgres_cpu_seconds(self.database_url),
            "redis": _tree_cpu(redis) if redis else None,
        }


def postgres_cpu_seconds(database_url: str) -> float | None:
    """CPU time the PostgreSQL server at this URL has used so far, all its backends included."""
    port = urlsplit(database_url).port
    postmaster = _find_process(lambda argv: _is_postmaster(argv, port))
    return _tree_cpu(postmaster) if postmaster else None


@contextmanager
def backing_services() -> Iterator[Backing]:
    """A throwaway PostgreSQL and Redis for the block's duration."""
    with ExitStack() as stack:
        try:
            database_url = stack.enter_context(postgres_server())
            redis_url = stack.enter_context(redis_server())
        except pytest.skip.Exception as exc:  # servers.py skips a test when a binary is absent
            raise SystemExit(f"the cluster setup needs them: {exc}") from None
        yield Backing(database_url, redis_url)


def _is_postmaster(argv: list[str], port: int | None) -> bool:
    # pg_ctl passes `-p PORT` on the postmaster's command line; backends retitle themselves.
    return bool(argv) and argv[0].endswith("/postgres") and str(port) in argv


def _is_redis(argv: list[str], port: int | None) -> bool:
    # redis-server retitles itself `redis-server 127.0.0.1:PORT`.
    return bool(argv) and "redis-server" in argv[0] and any(f":{port}" in a for a in argv)


def _find_process(match: Callable[[list[str]], bool]) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
        if len(argv) == 1:  # a retitled process may put everything in argv[0]
            argv = argv[0].split()
        if match(argv):
            return int(entry.name)
    return None


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _tree_cpu(root: int) -> float | None:
    """User + system CPU of `root`, its reaped children and its live children, in seconds."""
    fields = _stat(root)
    if fields is None:
        return None
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(root):
            child = _stat(int(entry.name))
            if child is not None and child[1] == str(root):  # field 4, ppid
                ticks += sum(int(f) for f in child[11:15])
    return round(ticks / CLOCK_TICKS, 2)
