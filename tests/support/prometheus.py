"""A real Prometheus server (Debian's `prometheus` package) scraping test targets."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import free_port, missing


class Prometheus:
    """The HTTP API of a running Prometheus."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def query(self, expression: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        response = httpx.get(f"{self.base_url}/api/v1/query", params={"query": expression})
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def targets_up(self) -> int:
        """How many scrape targets answered their last scrape."""
        response = httpx.get(f"{self.base_url}/api/v1/targets")
        return sum(t["health"] == "up" for t in response.json()["data"]["activeTargets"])


@contextmanager
def prometheus_server(targets: Sequence[str], interval: str = "1s") -> Iterator[Prometheus]:
    """Prometheus on 127.0.0.1 scraping `targets` (host:port) every `interval`."""
    binary = shutil.which("prometheus")
    if binary is None:
        missing("prometheus", "--no-install-recommends prometheus")
        raise AssertionError("unreachable")
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        config = Path(work) / "prometheus.yml"
        quoted = ", ".join(f'"{t}"' for t in targets)
        config.write_text(
            f"global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n"
            f"scrape_configs:\n  - job_name: stamgast\n"
            f"    static_configs:\n      - targets: [{quoted}]\n"
        )
        with open(Path(work) / "log", "wb") as log:
            process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                 f"--storage.tsdb.path={work}/data"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            base_url = f"http://127.0.0.1:{port}"
            try:
                deadline = time.monotonic() + 30
                while True:
                    assert process.poll() is None, (Path(work) / "log").read_text()[-2000:]
                    try:
                        if httpx.get(f"{base_url}/-/ready", timeout=1).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "prometheus not ready"
                    time.sleep(0.1)
                yield Prometheus(base_url)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
