"""Real SIP for tests: Kamailio with our shipped config, and sipp as callers and a phone.

Everything listens on 127.0.0.1, on ports picked here; every process is stopped when its
block ends, whatever happened inside it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import missing

ROOT = Path(__file__).resolve().parents[2]
KAMAILIO_CFG = ROOT / "docs" / "kamailio" / "kamailio.cfg"
SCENARIOS = ROOT / "tests" / "fixtures" / "kamailio" / "sipp"
PACKAGES = "kamailio kamailio-utils-modules kamailio-extra-modules sip-tester"
SIPP_TIMEOUT = "20s"  # sipp gives up on its own after this; our wait is a little longer
STOP_GRACE = 2.0  # Kamailio stops in milliseconds when it stops at all


def require_sip_tools() -> None:
    """Skip (or fail under STAMGAST_REQUIRE_ALL=1) without kamailio, its modules or sipp."""
    modules = ("http_client.so", "jansson.so")
    found = all(glob.glob(f"/usr/lib/*/kamailio/modules/{name}") for name in modules)
    if shutil.which("kamailio") is None or shutil.which("sipp") is None or not found:
        missing("Kamailio (with http_client and jansson) and sipp", PACKAGES)


def free_udp_port() -> int:
    """A UDP port nobody is bound to right now (SIP here is UDP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return int(udp.getsockname()[1])


def _define(name: str, value: str | int) -> list[str]:
    text = str(value) if isinstance(value, int) else f'"{value}"'
    return ["-A", f"{name}={text}"]


def options_ping(port: int, timeout: float = 0.5) -> bool:
    """True when a SIP server answers an OPTIONS on 127.0.0.1:`port` with 200."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(timeout)
        local = udp.getsockname()[1]
        tag = uuid.uuid4().hex[:12]
        message = (
            f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{tag}\r\n"
            f"From: <sip:probe@127.0.0.1>;tag={tag}\r\n"
            f"To: <sip:127.0.0.1:{port}>\r\n"
            f"Call-ID: probe-{tag}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        udp.sendto(message.encode(), ("127.0.0.1", port))
        try:
            return udp.recv(4096).startswith(b"SIP/2.0 200")
        except OSError:
            return False


@dataclass
class Kamailio:
    """A running Kamailio: its SIP port and its log (stderr)."""

    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextmanager
def kamailio(
    workdir: Path, defines: Mapping[str, str | int], timeout: float = 10.0
) -> Iterator[Kamailio]:
    """docs/kamailio/kamailio.cfg on a free port with `defines` (-A); stopped by its pidfile."""
    port = free_udp_port()
    rundir = workdir / "kamailio-run"
    rundir.mkdir(exist_ok=True)
    pidfile, log = workdir / "kamailio.pid", workdir / "kamailio.log"
    args = ["kamailio", "-f", str(KAMAILIO_CFG), "-P", str(pidfile), "-DD", "-E"]
    args += _define("SIP_PORT", port) + _define("RUN_DIR", str(rundir))
    for name, value in defines.items():
        args += _define(name, value)
    with log.open("wb") as stderr:
        # A session of its own: the stop below can reach every child it forks, by group id.
        process = subprocess.Popen(
            args, stdout=stderr, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
        )
    server = Kamailio(port=port, log=log)
    try:
        deadline = time.monotonic() + timeout
        while not options_ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kamailio did not start:\n{server.log_text()[-4000:]}")
        yield server
    finally:
        _stop_kamailio(process, pidfile)


def _stop_kamailio(process: subprocess.Popen[bytes], pidfile: Path) -> None:
    """SIGTERM to the PID in the pidfile; SIGKILL to its process group if it hangs.

    Kamailio 5.6 now and then deadlocks on shutdown (a child's signal handler waits on a
    lock the interrupted code held) and would wait `exit_timeout` (60 s) for it.
    """
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        pid = process.pid  # it died (or never wrote the file) before we asked
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_GRACE)
    # Also when the main process is gone: no child may outlive the test.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=5)


@dataclass
class Phone:
    """A sipp UAS standing in for the agent's desk phone."""

    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _sipp(scenario: str, port: int, calls: int) -> list[str]:
    return [
        "sipp", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(port),
        "-m", str(calls), "-nostdin", "-timeout", SIPP_TIMEOUT,
        "-ci", "127.0.0.1", "-cp", str(free_udp_port()), "-trace_err",
    ]  # fmt: skip


@contextmanager
def sipp_phone(workdir: Path, calls: int) -> Iterator[Phone]:
    """`uas_phone.xml` listening for `calls` calls; killed when the block ends."""
    port = free_udp_port()
    log = workdir / "phone.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            _sipp("uas_phone.xml", port, calls), stdout=out, stderr=subprocess.STDOUT, cwd=workdir
        )
    try:
        time.sleep(0.2)  # sipp binds at once; this only catches a failed start early
        if process.poll() is not None:
            raise RuntimeError(f"sipp phone exited at start:\n{log.read_text(errors='replace')}")
        yield Phone(port=port, log=log)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)


@dataclass(frozen=True)
class Caller:
    """One row of the injection file: who calls and how they present themselves."""

    user: str  # the From user: "+31612345678", "0612345678", "anonymous"
    host: str = "127.0.0.1"
    display: str = ""
    header: str = "X-Stamgast-Test: plain"  # one extra header line, e.g. a P-Asserted-Identity


def run_callers(
    workdir: Path,
    scenario: str,
    kamailio_port: int,
    dialled: str,
    callers: Sequence[Caller],
    prefix: str,
) -> list[str]:
    """Run one call per caller through Kamailio; the SIP Call-IDs, in caller order."""
    csv = workdir / f"{prefix}.csv"
    rows = [f"{c.user};{c.host};{c.display};{c.header}" for c in callers]
    csv.write_text("SEQUENTIAL\n" + "\n".join(rows) + "\n")
    args = _sipp(scenario, free_udp_port(), len(callers))
    args += ["-inf", str(csv), "-s", dialled, "-cid_str", f"{prefix}-%u@%s"]
    args += ["-r", "20", f"127.0.0.1:{kamailio_port}"]
    result = subprocess.run(args, capture_output=True, cwd=workdir, timeout=40)
    if result.returncode != 0:
        errors = "".join(p.read_text(errors="replace") for p in workdir.glob("*_errors.log"))
        raise AssertionError(
            f"sipp {scenario} exited {result.returncode}:\n"
            f"{result.stdout.decode(errors='replace')[-3000:]}\n{errors[-3000:]}"
        )
    return [f"{prefix}-{number}@127.0.0.1" for number in range(1, len(callers) + 1)]
