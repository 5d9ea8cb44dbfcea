"""Idle agents benchmark: what N widgets connected by WebSocket cost one server in memory.

    .venv/bin/python bench/agents.py [--agents 1000] [--idle 10] [--ws auto]
                                     [--ws-per-message-deflate true|false] [--reference]
                                     [--json]

1. Seeds a temporary SQLite file with --agents agents (+1 for the warm-up) and a token each
   (bench/_common.py).
2. Starts ONE `stamgast serve --host 127.0.0.1 --port P` (`python -m app.cli serve`: it
   migrates, then execs the server, app/serving.py; the process measured is the one serving)
   and reads its VmRSS; then one agent connects and leaves (imports and caches of the first
   stream are not per-connection cost) and VmRSS is read again. To compare uvicorn's
   WebSocket implementations or compression, `--ws`/`--ws-per-message-deflate` other than
   the defaults run `python -m uvicorn app.main:app` with those options instead (the client
   offers compression as browsers do).
3. Connects every agent to `/v1/stream`; they stay idle for --idle seconds while VmRSS is
   sampled each second; then VmRSS and VmHWM, and (VmRSS with all - VmRSS after the
   warm-up agent) / agents as the cost of one connection. Target: <= 100 MB in total (issue
   11), i.e. 95.4 MiB (VmRSS is in KiB: the figures here are MiB).
4. Disconnects everyone and reads VmRSS once more (what the process keeps).

--reference serves bench/reference_stream.py instead: the same libraries and only the
essential work of an agent's stream, written as leanly as ASGI allows. Its figures are the
floor of this stack: what 1,000 idle agents cost before anything of Stamgast's.

Both sides need a file descriptor per connection: this process raises its RLIMIT_NOFILE
soft limit (up to the hard limit; as root also the hard limit), and the server, started
from here, inherits it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets
from _common import Agents, Recorder, ServerProcess, Setup, build_database, proc_status
from _report import Table

REFERENCE_APP = "bench.reference_stream:app"  # the floor: only the essential work
TARGET_MIB = 100e6 / 2**20  # issue 11: 1,000 idle agents <= 100 MB (95.4 MiB) per server
FD_MARGIN = 256


class StreamServer(ServerProcess):
    """`stamgast serve`, or app.main:app under uvicorn with an explicit WebSocket
    implementation and compression (to compare them)."""

    def __init__(
        self, env: dict[str, str], ws: str, deflate: str, *, reference: bool = False
    ) -> None:
        app = REFERENCE_APP if reference else "app.main:app"
        super().__init__(app, {"STAMGAST_LOG_LEVEL": "WARNING", **env})
        self.ws, self.deflate, self.reference = ws, deflate, reference

    @property
    def as_served(self) -> bool:
        """True when this is `stamgast serve` itself (uvicorn's defaults but no compression)."""
        return self.ws == "auto" and self.deflate == "false" and not self.reference

    @property
    def label(self) -> str:
        if self.as_served:
            return "`stamgast serve`"
        return f"uvicorn {self.app} --ws {self.ws} --ws-per-message-deflate {self.deflate}"

    @property
    def command(self) -> list[str]:
        if self.as_served:
            return [
                sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
                "--port", str(self.port),
            ]  # fmt: skip
        return [*super().command, "--ws", self.ws, "--ws-per-message-deflate", self.deflate]


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """Raise this process's (and so the server's) open-file limit to `needed` if allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft, hard
    if hard != resource.RLIM_INFINITY and hard < needed:
        with contextlib.suppress(ValueError, OSError):  # only root may raise the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return needed, needed
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard, hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed, hard


def fd_count(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


async def one_agent(ws_base: str, token: str) -> None:
    """Connect, wait for hello, leave: the first stream's one-off costs."""
    async with websockets.connect(f"{ws_base}/v1/stream?token={token}", open_timeout=10) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if hello.get("type") != "hello":
            raise RuntimeError(f"expected hello, got {hello}")


async def run(args: argparse.Namespace, setup: Setup) -> dict[str, Any]:
    server = StreamServer(
        {"STAMGAST_DATABASE_URL": setup.database_url},
        args.ws,
        args.ws_per_message_deflate,
        reference=args.reference,
    )
    recorder = Recorder()
    ws_base = f"ws://127.0.0.1:{server.port}"
    agents = Agents(ws_base, setup.tokens[1:], recorder)
    result: dict[str, Any] = {"load_before": _load(), "server": server.label}
    try:
        await server.start()
        await asyncio.sleep(1.0)  # let start-up allocations settle
        result["rss_started_mib"] = server.rss_mib()
        await one_agent(ws_base, setup.tokens[0])
        await asyncio.sleep(0.5)
        result["rss_before_mib"] = server.rss_mib()
        result["fds_before"] = fd_count(server.pid)
        progress(f"server pid {server.pid}: connecting {args.agents} agents")
        began = time.perf_counter()
        await agents.connect(within=args.connect_within)
        result["connect_seconds"] = round(time.perf_counter() - began, 2)
        result["rss_connected_mib"] = server.rss_mib()
        progress(f"all connected in {result['connect_seconds']} s; idle for {args.idle:.0f} s")
        samples = []
        cpu_before = server.cpu_seconds()
        deadline = time.monotonic() + args.idle
        while time.monotonic() < deadline:
            await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            samples.append(server.rss_mib())
        result["idle_server_cpu_s"] = round(server.cpu_seconds() - cpu_before, 3)
        result["rss_idle_samples_mib"] = [round(s or 0, 1) for s in samples]
        result["rss_after_idle_mib"] = server.rss_mib()
        result["hwm_mib"] = server.peak_rss_mib()
        result["fds_connected"] = fd_count(server.pid)
        result["threads"] = proc_status(server.pid, "Threads")
        result["still_connected"] = len(recorder.connected)
        result["disconnects"] = dict(recorder.disconnects)
        result["client_rss_mib"] = (proc_status(os.getpid(), "VmRSS") or 0) / 1024
        await agents.stop()
        await asyncio.sleep(2.0)
        result["rss_after_disconnect_mib"] = server.rss_mib()
        result["fds_after_disconnect"] = fd_count(server.pid)
        result["log"] = server.log_tail(2000).strip().splitlines()[-5:]
    finally:
        await agents.stop()
        server.stop()
    result["load_after"] = _load()
    connected = args.agents
    grown = (result["rss_connected_mib"] or 0) - (result["rss_before_mib"] or 0)
    result["per_connection_kib"] = round(grown * 1024 / connected, 1)
    held = (result["rss_after_idle_mib"] or 0) - (result["rss_before_mib"] or 0)
    result["per_connection_after_idle_kib"] = round(held * 1024 / connected, 1)
    return result


def render(args: argparse.Namespace, result: dict[str, Any]) -> str:
    m = result["machine"]
    t = Table()
    t.section(
        "Machine",
        [
            ("CPUs", m["cpu_count"]),
            ("platform", m["platform"]),
            ("python", m["python"]),
            ("load avg before/after", f"{result['load_before']} / {result['load_after']}"),
            ("open-file limit", f"{m['nofile'][0]} soft / {m['nofile'][1]} hard"),
        ],
    )
    hwm = result["hwm_mib"] or 0.0
    t.section(
        f"Server: 1 process, {result['server']}, {args.agents} agents",
        [
            ("RSS after start", f"{result['rss_started_mib']:.1f} MiB"),
            ("RSS after 1 agent came and went", f"{result['rss_before_mib']:.1f} MiB"),
            ("RSS with all connected", f"{result['rss_connected_mib']:.1f} MiB"),
            ("RSS after idle", f"{result['rss_after_idle_mib']:.1f} MiB"),
            ("VmHWM (peak)", f"{hwm:.1f} MiB ({'within' if hwm <= TARGET_MIB else 'OVER'} "
             f"the 100 MB = {TARGET_MIB:.1f} MiB target)"),
            ("per connection", f"{result['per_connection_kib']} KiB "
             f"({result['per_connection_after_idle_kib']} KiB after idle)"),
            ("RSS after all left", f"{result['rss_after_disconnect_mib']:.1f} MiB"),
            ("connect time", f"{result['connect_seconds']} s for {args.agents} agents"),
            ("idle RSS samples", result["rss_idle_samples_mib"]),
            ("server CPU while idle", f"{result['idle_server_cpu_s']} s in {args.idle:.0f} s"),
            ("fds before/connected/after", f"{result['fds_before']} / "
             f"{result['fds_connected']} / {result['fds_after_disconnect']}"),
            ("threads", result["threads"]),
            ("still connected", f"{result['still_connected']} (drops: {result['disconnects']})"),
            ("client RSS", f"{result['client_rss_mib']:.1f} MiB (this process)"),
            ("server log tail", result["log"] or "(empty)"),
        ],
    )  # fmt: skip
    return t.render()


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def progress(message: str) -> None:
    print(f"[agents] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds all stay connected")
    parser.add_argument(
        "--ws",
        default="auto",
        choices=("auto", "websockets", "websockets-sansio", "wsproto"),
        help="uvicorn's WebSocket implementation",
    )
    parser.add_argument(
        "--ws-per-message-deflate",
        default="false",
        choices=("true", "false"),
        help="uvicorn's WebSocket compression (uvicorn's default: true; ours: false)",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help=f"serve {REFERENCE_APP} (the same stack, only the essential work) instead",
    )
    parser.add_argument("--connect-within", type=float, default=120.0)
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    if not 1 <= args.agents <= 20_000 or not 0 < args.idle <= 600:
        parser.error("--agents between 1 and 20,000 and --idle between 0 and 600 s")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nofile = raise_fd_limit(args.agents + FD_MARGIN)
    if nofile[0] < args.agents + FD_MARGIN:
        progress(f"open-file limit {nofile[0]} is below {args.agents + FD_MARGIN}: expect errors")
    workdir = Path(tempfile.mkdtemp(prefix="stamgast-agents-"))
    try:
        progress(f"seeding {args.agents} agents with a token each in {workdir}")
        setup = build_database(workdir / "agents.db", contacts=10, agents=args.agents + 1)
        budget = args.connect_within + args.idle + 90
        result = asyncio.run(asyncio.wait_for(run(args, setup), budget))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["machine"] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "nofile": nofile,
    }
    result["parameters"] = vars(args)
    print(json.dumps(result, indent=2) if args.json else render(args, result))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
