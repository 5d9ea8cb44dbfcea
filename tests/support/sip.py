"""Real SIP for tests: Kamailio with our shipped config, sipp as callers and a phone, and
our server seeded for them.

Everything listens on 127.0.0.1, on ports picked here; every process is stopped when its
block ends, whatever happened inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from app.auth.keys import Scope, issue_key
from app.db import create_engine, create_sessionmaker, session_scope
from app.models import Agent, CallEventRecord, Contact, ContactNumber, Tenant
from app.screen_pop.tokens import issue_agent_token
from tests.support.servers import missing
from tests.support.slugs import letters_only

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
def sipp_phone(workdir: Path, calls: int, scenario: str = "uas_phone.xml") -> Iterator[Phone]:
    """`scenario` (a phone) listening for `calls` calls; killed when the block ends.

    `uas_phone.xml` answers after a second unless cancelled; `uas_answer.xml` at once.
    """
    port = free_udp_port()
    log = workdir / "phone.log"
    # Headroom over `calls`: sipp counts a call it aborted, and a phone that stopped
    # listening one call early fails the last caller with a 408 that is no proxy's fault.
    with log.open("wb") as out:
        process = subprocess.Popen(
            _sipp(scenario, port, calls + 10), stdout=out, stderr=subprocess.STDOUT, cwd=workdir
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
    rate: int = 20,
) -> list[str]:
    """Run one call per caller through Kamailio, `rate` new calls a second; the SIP
    Call-IDs, in caller order. Response times go to `response_times(workdir)`."""
    injection = workdir / f"{prefix}.csv"
    rows = [f"{c.user};{c.host};{c.display};{c.header}" for c in callers]
    injection.write_text("SEQUENTIAL\n" + "\n".join(rows) + "\n")
    args = _sipp(scenario, free_udp_port(), len(callers))
    args += ["-inf", str(injection), "-s", dialled, "-cid_str", f"{prefix}-%u@%s"]
    args += ["-trace_rtt", "-rtt_freq", "1", "-r", str(rate), f"127.0.0.1:{kamailio_port}"]
    result = subprocess.run(args, capture_output=True, cwd=workdir, timeout=60)
    if result.returncode != 0:
        errors = "".join(p.read_text(errors="replace") for p in workdir.glob("*_errors.log"))
        raise AssertionError(
            f"sipp {scenario} exited {result.returncode}:\n"
            f"{result.stdout.decode(errors='replace')[-3000:]}\n{errors[-3000:]}"
        )
    return [f"{prefix}-{number}@127.0.0.1" for number in range(1, len(callers) + 1)]


def response_times(workdir: Path) -> dict[str, list[float]]:
    """Each rtd timer's samples (ms) from every sipp caller run in `workdir` (-trace_rtt).

    A scenario names its timers (`start_rtd="setup"` … `rtd="setup"`); sipp writes one row
    per measurement to `<scenario>_<pid>_rtt.csv`: `Date_ms;response_time_ms;rtd_no`.
    """
    samples: dict[str, list[float]] = defaultdict(list)
    for path in sorted(workdir.glob("*_rtt.csv")):
        with path.open(newline="") as rows:
            for row in csv.DictReader(rows, delimiter=";"):
                samples[row["rtd_no"]].append(float(row["response_time_ms"]))
    return dict(samples)


def percentile(samples: Sequence[float], share: float) -> float:
    """The smallest sample that at least `share` (0..1) of the samples do not exceed."""
    if not samples:
        raise ValueError("no samples: did sipp write its -trace_rtt file?")
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil, at least the first sample
    return ordered[int(rank) - 1]


@contextmanager
def stamgast_process(database_url: str, port: int, workdir: Path) -> Iterator[int]:
    """`python -m uvicorn app.main:app` on 127.0.0.1:`port` (which Kamailio may already
    be posting to); yields its PID, for signals. Stopped when the block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAMGAST_")}
    env["STAMGAST_DATABASE_URL"] = database_url
    log = workdir / f"stamgast-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"Stamgast on port {port} did not start:\n{text}")
            time.sleep(0.1)
        yield process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)  # a stopped process would not stop
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


# --- our server, seeded for the SIP tests ------------------------------------------------

SECRET = "kamailio-e2e-shared-secret"
T = TypeVar("T")


@dataclass(frozen=True)
class SeededTenant:
    """What was seeded: the tenant's slug, an admin key, agent Sanne's widget token, Ada."""

    slug: str
    admin_key: str
    agent_token: str
    ada_id: int


def run_db(work: Callable[[Any], Awaitable[T]], url: str) -> T:
    """Run `work(session)` in one committed transaction on the database at `url`."""

    async def go() -> T:
        engine = create_engine(url)
        scope = contextlib.asynccontextmanager(session_scope)
        try:
            async with scope(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def _seed(session: Any) -> SeededTenant:
    slug = f"kamailio-{letters_only(uuid.uuid4().hex[:8])}"
    tenant = Tenant(slug=slug, name="Huisartsenpost Kamailio", default_region="NL")
    session.add(tenant)
    await session.flush()
    _key_row, admin_key = await issue_key(
        session, tenant_id=tenant.id, name="kamailio-e2e", scopes=[Scope.ADMIN]
    )
    sanne = Agent(tenant_id=tenant.id, name="Sanne Visser", extension="201")
    ada = Contact(tenant_id=tenant.id, display_name="Ada de Vries")
    session.add_all([sanne, ada])
    await session.flush()
    session.add(
        ContactNumber(
            tenant_id=tenant.id, contact_id=ada.id, e164="+31612345678", raw="06-12345678"
        )
    )
    _token_row, token = await issue_agent_token(
        session, tenant_id=tenant.id, agent_id=sanne.id, label="kamailio-e2e"
    )
    return SeededTenant(slug, admin_key, token, ada.id)


def seed_tenant(database_url: str) -> SeededTenant:
    """A tenant with agent Sanne (extension 201, the phone every call rings) and contact
    Ada on +31612345678; connect the kamailio provider with `connect_kamailio`."""
    return run_db(_seed, database_url)


def connect_kamailio(base_url: str, tenant: SeededTenant) -> str:
    """PUT /v1/providers/kamailio with SECRET; the tenant's webhook URL."""
    connected = httpx.put(
        f"{base_url}/v1/providers/kamailio",
        headers={"Authorization": f"Bearer {tenant.admin_key}"},
        json={"secret": SECRET},
        timeout=10,
    )
    assert connected.status_code == 200, connected.text
    url = str(connected.json()["webhook_url"])
    assert url.endswith(f"/webhooks/kamailio/{tenant.slug}"), url
    return f"{base_url}/webhooks/kamailio/{tenant.slug}"


def recorded_events(database_url: str, slug: str, call_ids: Sequence[str]) -> set[tuple[str, str]]:
    """The (SIP Call-ID, event kind) pairs Stamgast has stored for these calls."""

    async def query(session: Any) -> set[tuple[str, str]]:
        rows = await session.execute(
            select(CallEventRecord.provider_call_id, CallEventRecord.kind)
            .join(Tenant, Tenant.id == CallEventRecord.tenant_id)
            .where(Tenant.slug == slug, CallEventRecord.provider_call_id.in_(call_ids))
        )
        return {(str(call_id), str(kind)) for call_id, kind in rows}

    return run_db(query, database_url)
