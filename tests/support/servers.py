"""Throwaway PostgreSQL and Redis servers for tests, from Debian's packages."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REQUIRE_ALL = os.environ.get("STAMGAST_REQUIRE_ALL") == "1"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing(what: str, install: str) -> None:
    """Skip (or fail under STAMGAST_REQUIRE_ALL=1) when a server binary is absent."""
    message = f"{what} not installed: apt-get update && apt-get install -y {install}"
    if REQUIRE_ALL:
        pytest.fail(message + " (STAMGAST_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(message)


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start in {timeout}s")


class PostgresServer:
    """A throwaway PostgreSQL that a test may stop and start again (an outage)."""

    def __init__(self, bin_dir: Path) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="stamgast-pg-"))
        as_root = os.geteuid() == 0
        # initdb refuses to run as root: hand the directory to the postgres user.
        self._prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        if as_root:
            shutil.chown(self.workdir, "postgres")
        self.port = free_port()
        data = self.workdir / "data"
        subprocess.run(
            [*self._prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust",
             "-U", "stamgast"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        self._options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1"
        self._options += " -c fsync=off -c max_connections=200 -c synchronous_commit=off"
        self._ctl = [*self._prefix, str(bin_dir / "pg_ctl"), "-D", str(data)]
        self._psql = str(bin_dir / "psql")
        self.url = f"postgresql+asyncpg://stamgast@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start (again) and wait until it accepts connections."""
        subprocess.run(
            [*self._ctl, "-l", str(self.workdir / "log"), "-o", self._options, "-w", "start"],
            check=True,
            capture_output=True,
        )
        _wait_port(self.port)

    def checkpoint(self) -> None:
        """Put every committed row on disk: the test server runs with fsync and synchronous
        commit off, so an immediate stop may otherwise lose what was committed just before."""
        subprocess.run(
            [self._psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "stamgast",
             "-d", "postgres", "-c", "CHECKPOINT"],
            check=True,
            capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop at once, as a crash or a network cut would look to clients."""
        subprocess.run([*self._ctl, "stop", "-m", "immediate"], capture_output=True)

    def remove(self) -> None:
        """Stop and delete its files."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def restartable_postgres() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL on a random port that the test can stop and start."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        missing("PostgreSQL", "postgresql")
        raise AssertionError("unreachable")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh PostgreSQL on a random port; yields an asyncpg URL for database `postgres`."""
    with restartable_postgres() as server:
        yield server.url


class RedisServer:
    """A throwaway redis-server without persistence that a test may kill and start again:
    it comes back empty, as a Redis run as a pure cache does after a crash or restart."""

    def __init__(self, binary: str) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="stamgast-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.workdir),
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (again) and wait until it accepts connections."""
        self._process = subprocess.Popen(
            self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_port(self.port)

    def kill(self) -> None:
        """SIGKILL: everything it held is gone."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def remove(self) -> None:
        """Stop and delete its files."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def restartable_redis() -> Iterator[RedisServer]:
    """A fresh redis-server on a random port that the test can kill and start again."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("Redis", "redis-server")
        raise AssertionError("unreachable")
    server = RedisServer(binary)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@contextmanager
def redis_server() -> Iterator[str]:
    """A fresh redis-server on a random port; yields its URL."""
    with restartable_redis() as server:
        yield server.url
