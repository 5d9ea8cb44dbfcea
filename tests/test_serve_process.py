"""`stamgast serve` migrates, then the same process serves from a fresh interpreter.

What migrating imported (Alembic, the CLI) must not stay in the server for its life
(app/serving.py); the process id stays, so signals still reach the server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_serve_migrates_then_the_same_process_serves_from_a_fresh_interpreter(
    tmp_path: Path,
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAMGAST_", "OTEL_"))}
    env.update(
        STAMGAST_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        STAMGAST_SPOOL_PATH=str(tmp_path / "spool.db"),
        STAMGAST_LOG_FORMAT="text",
        PYTHONPATH=str(ROOT),
    )
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[1:3] == [b"-m", b"app.serving"], cmdline
        printed = log.read_text()
        assert "(revision " in printed  # migrated first, and said so before handing over
        assert f"API docs: http://127.0.0.1:{port}/docs" in printed
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    # uvicorn shuts down cleanly, then re-raises the signal it caught (so -SIGTERM).
    assert code in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()
