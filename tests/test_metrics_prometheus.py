"""/metrics scraped by a real Prometheus from two live server processes sharing
PROMETHEUS_MULTIPROC_DIR: each process serves the sum over both."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx

from app.migrate import upgrade
from telephony_adapters.generic import sign_generic
from tests.support.live_server import live_server_process
from tests.support.prometheus import prometheus_server
from tests.support.sip import seed_tenant

SECRET = "generic-secret-123"


def _post(base_url: str, slug: str, call_id: str, event: str) -> None:
    body = json.dumps(
        {"call_id": call_id, "event": event, "from": "+31612345678", "to": "+31331234567"}
    ).encode()
    headers = sign_generic(SECRET, body, int(time.time()))
    headers["Content-Type"] = "application/json"
    response = httpx.post(
        f"{base_url}/webhooks/generic/{slug}", content=body, headers=headers, timeout=10
    )
    assert response.status_code == 200, response.text


def _count(text: str, name: str) -> float:
    """The value of one sample line (name with labels) in an exposition."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_prometheus_scrapes_both_processes_and_sees_their_sum(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'stamgast.db'}"
    shared = tmp_path / "prometheus"
    shared.mkdir()
    upgrade(database_url)
    tenant = seed_tenant(database_url)
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    with (
        live_server_process(database_url, extra_env=env) as (first, _one),
        live_server_process(database_url, extra_env=env) as (second, _two),
    ):
        connected = httpx.put(
            f"{first}/v1/providers/generic",
            headers={"Authorization": f"Bearer {tenant.admin_key}"},
            json={"secret": SECRET},
            timeout=10,
        )
        assert connected.status_code == 200, connected.text
        for base_url, calls in ((first, 3), (second, 2)):
            for _ in range(calls):
                _post(base_url, tenant.slug, uuid.uuid4().hex, "ringing")
        ok = 'stamgast_webhook_seconds_count{outcome="ok",provider="generic"}'
        known = 'stamgast_recognitions_total{outcome="known"}'
        for base_url in (first, second):  # either process answers for both
            text = httpx.get(f"{base_url}/metrics", timeout=10).text
            assert _count(text, ok) == 5
            assert _count(text, known) == 5
        targets = [url.removeprefix("http://") for url in (first, second)]
        with prometheus_server(targets) as prometheus:
            deadline = time.monotonic() + 30
            query = 'stamgast_webhook_seconds_count{provider="generic",outcome="ok"}'
            while len(result := prometheus.query(query)) < 2:
                assert time.monotonic() < deadline, f"not scraped: {result}"
                time.sleep(0.5)
            assert prometheus.targets_up() == 2
            assert {float(r["value"][1]) for r in result} == {5.0}
            recognised = prometheus.query('max(stamgast_recognitions_total{outcome="known"})')
            assert float(recognised[0]["value"][1]) == 5.0
