"""deploy/: two app processes behind nginx on PostgreSQL and Redis, migrated once.

The compose file is checked as data (no Docker here); the nginx config is checked as text
and, when nginx is installed, served for real in front of two app processes.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
import yaml

from app.migrate import PROJECT_ROOT, upgrade
from app.settings import Settings
from tests.support.servers import free_port, missing

DEPLOY = PROJECT_ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
NGINX = DEPLOY / "nginx.conf"
SETTING_NAMES = {f"STAMGAST_{name}".upper() for name in Settings.model_fields}
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as a list of KEY=value."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def command_line(service: dict[str, Any]) -> str:
    parts = []
    for key in ("entrypoint", "command"):
        value = service.get(key) or []
        parts.extend(value if isinstance(value, list) else [value])
    return " ".join(str(p) for p in parts)


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that serve the app: our image, running uvicorn."""
    return {
        name: s
        for name, s in services(compose).items()
        if "build" in s and "uvicorn" in command_line(s) and "app.main:app" in command_line(s)
    }


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=value: {line!r}"
            pairs[key.strip()] = value.strip()
    return pairs


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # the short form waits for nothing but the start
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def test_services_two_apps_migrate_postgres_redis_and_proxy(compose: dict[str, Any]) -> None:
    found = services(compose)
    assert len(app_services(compose)) == 2, sorted(found)
    assert found["postgres"]["image"].split(":")[1].startswith("15")
    assert found["redis"]["image"].split(":")[1].startswith("7")
    assert "nginx" in found["proxy"]["image"]
    assert "stamgast migrate" in command_line(found["migrate"])
    assert found["migrate"].get("restart", "no") == "no"
    assert depends_on(found["migrate"]) == {"postgres": "service_healthy"}


def test_every_stamgast_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    used = {
        (where, key)
        for where, service in services(compose).items()
        for key in environment(service)
        if key.upper().startswith("STAMGAST_")
    }
    used |= {(".env.example", k) for k in env_example() if k.upper().startswith("STAMGAST_")}
    unknown = sorted((where, key) for where, key in used if key.upper() not in SETTING_NAMES)
    assert not unknown, f"not fields of app.settings.Settings: {unknown}"
    assert len(used) > 4


def test_apps_depend_on_the_migration_and_healthy_postgres_and_redis(
    compose: dict[str, Any],
) -> None:
    for name, app in app_services(compose).items():
        assert depends_on(app) == {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "redis": "service_healthy",
        }, name
        # The image's own entrypoint would migrate too, in both apps at once.
        assert "entrypoint" in app and "migrate" not in command_line(app), name
        assert "--proxy-headers" in command_line(app), name
        assert "--ws-per-message-deflate false" in command_line(app), name


def test_apps_get_postgres_redis_public_url_and_trust_only_the_proxy(
    compose: dict[str, Any],
) -> None:
    proxy_ip = services(compose)["proxy"]["networks"]["backend"]["ipv4_address"]
    for name, app in app_services(compose).items():
        env = environment(app)
        assert env["STAMGAST_DATABASE_URL"].startswith("postgresql+asyncpg://"), name
        assert "@postgres:5432/" in env["STAMGAST_DATABASE_URL"], name
        assert env["STAMGAST_REDIS_URL"].startswith("redis://redis:6379"), name
        assert env["STAMGAST_PUBLIC_BASE_URL"], name
        assert env["FORWARDED_ALLOW_IPS"] == proxy_ip, name
    # It is uvicorn's variable, not a Stamgast setting: the file says so next to it.
    said = re.compile(r"#[^\n]*uvicorn[^\n]*\n(?:\s*#[^\n]*\n)*\s*FORWARDED_ALLOW_IPS:")
    assert said.search(COMPOSE.read_text(encoding="utf-8"))


def test_healthchecks_liveness_and_readiness(compose: dict[str, Any]) -> None:
    found = services(compose)
    for name, app in app_services(compose).items():
        assert "/readyz" in " ".join(app["healthcheck"]["test"]), name
    assert "/healthz" in " ".join(found["proxy"]["healthcheck"]["test"])
    assert depends_on(found["proxy"]) == dict.fromkeys(app_services(compose), "service_healthy")
    assert "pg_isready" in " ".join(found["postgres"]["healthcheck"]["test"])
    assert "redis-cli ping" in " ".join(found["redis"]["healthcheck"]["test"])
    from app.health import router

    assert {"/healthz", "/readyz"} <= {getattr(r, "path", None) for r in router.routes}


def test_the_image_is_built_from_the_projects_dockerfile(compose: dict[str, Any]) -> None:
    built = [s for s in services(compose).values() if "build" in s]
    assert len(built) == 3  # migrate, app1, app2: one image
    for service in built:
        build = service["build"]
        context = (DEPLOY / build["context"]).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), dockerfile
        assert dockerfile == PROJECT_ROOT / "Dockerfile"
    assert len({s["image"] for s in built}) == 1


def test_required_variables_are_in_env_example() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    example = env_example()
    for name, default in VARIABLE.findall(text):
        if not default.lstrip(":").startswith("-"):  # ${X} or ${X:?...}: no default
            assert name in example, f"${{{name}}} has no default and is not in .env.example"


def test_proxy_mounts_its_config_from_deploy(compose: dict[str, Any]) -> None:
    volumes = services(compose)["proxy"]["volumes"]
    mounted = [v.split(":")[0] for v in volumes if v.split(":")[1] == "/etc/nginx/nginx.conf"]
    assert mounted and (DEPLOY / mounted[0]).resolve() == NGINX


# ------------------------------------------------------------------------- nginx.conf


def nginx_block(text: str, header: str) -> str:
    """The body of the block opened by `header {` (comments dropped)."""
    text = re.sub(r"#[^\n]*", "", text)
    match = re.search(re.escape(header) + r"\s*\{", text)
    assert match, f"no block {header!r}"
    depth, start = 1, match.end()
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    raise AssertionError(f"unclosed block {header!r}")


def directives(block: str) -> set[str]:
    return {" ".join(d.split()) for d in block.split(";") if d.strip()}


def test_proxy_balances_over_both_apps(compose: dict[str, Any]) -> None:
    upstream = directives(nginx_block(NGINX.read_text(), "upstream stamgast"))
    servers = {d.split()[1] for d in upstream if d.startswith("server ")}
    assert servers == {f"{name}:8000" for name in app_services(compose)}


def test_proxy_upgrades_websockets_on_the_stream() -> None:
    text = NGINX.read_text()
    stream = directives(nginx_block(text, "location = /v1/stream"))
    assert "proxy_pass http://stamgast" in stream
    assert "proxy_http_version 1.1" in stream
    assert "proxy_set_header Upgrade $http_upgrade" in stream
    assert "proxy_set_header Connection $connection_upgrade" in stream
    upgrade_map = nginx_block(text, "map $http_upgrade $connection_upgrade")
    assert "default upgrade" in directives(upgrade_map)


def test_proxy_does_not_buffer_server_sent_events() -> None:
    sse = directives(nginx_block(NGINX.read_text(), "location = /v1/stream/sse"))
    assert "proxy_pass http://stamgast" in sse
    assert "proxy_buffering off" in sse


def test_proxy_logs_no_query_strings() -> None:
    text = re.sub(r"#[^\n]*", "", NGINX.read_text())
    assert "$request " not in text and "$request'" not in text and "$args" not in text
    assert "$query_string" not in text and "$request_uri" not in text


# ------------------------------------------------------------- nginx, for real (optional)


@pytest.fixture(scope="module")
def nginx_in_front() -> Iterator[tuple[str, str]]:
    """deploy/nginx.conf on 127.0.0.1 in front of two app processes on one SQLite file."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        missing("nginx", "nginx-light")  # skips, or fails under STAMGAST_REQUIRE_ALL=1
    from tests.support.live_server import live_server

    with tempfile.TemporaryDirectory(prefix="stamgast-nginx-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'deploy.db'}"
        upgrade(url)
        token = asyncio.run(_agent_token(url))
        with live_server(url) as app1, live_server(url) as app2:
            port = free_port()
            conf = NGINX.read_text()
            conf = conf.replace("app1:8000", app1.removeprefix("http://"))
            conf = conf.replace("app2:8000", app2.removeprefix("http://"))
            conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};")
            conf = conf.replace("worker_processes auto;", "worker_processes 1;")
            (Path(tmp) / "nginx.conf").write_text(conf)
            process = subprocess.Popen(
                [binary, "-p", tmp, "-c", f"{tmp}/nginx.conf",
                 "-g", f"daemon off; pid {tmp}/nginx.pid;"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                base = f"http://127.0.0.1:{port}"
                _wait_for(base, process)
                yield base, token
            finally:
                process.terminate()
                process.wait(timeout=10)


async def _agent_token(url: str) -> str:
    from sqlalchemy import insert

    from app.db import create_engine, create_sessionmaker
    from app.models import Agent, Tenant
    from app.screen_pop.tokens import issue_agent_token

    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            tenant = await session.scalar(
                insert(Tenant).values(slug="deploy", name="Deploy").returning(Tenant.id)
            )
            agent = await session.scalar(
                insert(Agent).values(tenant_id=tenant, name="Sanne").returning(Agent.id)
            )
            assert tenant is not None and agent is not None
            _row, token = await issue_agent_token(
                session, tenant_id=tenant, agent_id=agent, label="deploy"
            )
            await session.commit()
            return token
    finally:
        await engine.dispose()


def _wait_for(base: str, process: subprocess.Popen[bytes], seconds: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            assert process.stderr is not None
            raise RuntimeError(f"nginx exited: {process.stderr.read().decode()}")
        try:
            httpx.get(f"{base}/healthz", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


def test_real_nginx_balances_http(nginx_in_front: tuple[str, str]) -> None:
    base, _token = nginx_in_front
    answers = [httpx.get(f"{base}/readyz", timeout=5.0) for _ in range(4)]
    assert [a.status_code for a in answers] == [200] * 4
    assert all(a.json()["status"] == "ok" for a in answers)


async def test_real_nginx_upgrades_the_websocket(nginx_in_front: tuple[str, str]) -> None:
    base, token = nginx_in_front
    url = f"ws://{base.removeprefix('http://')}/v1/stream?token={token}"
    async with websockets.connect(url, open_timeout=5) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert hello["type"] == "hello"


async def test_real_nginx_passes_sse_unbuffered(nginx_in_front: tuple[str, str]) -> None:
    base, token = nginx_in_front
    async with (
        httpx.AsyncClient(timeout=5.0) as client,
        client.stream("GET", f"{base}/v1/stream/sse", params={"token": token}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        # The first events arrive at once (the app also sends X-Accel-Buffering: no, so
        # this shows the route works; the static test above checks proxy_buffering off).
        received = await asyncio.wait_for(_until(response, "event: hello"), 3)
    assert "event: hello" in received


async def _until(response: httpx.Response, marker: str) -> str:
    received = ""
    async for chunk in response.aiter_text():
        received += chunk
        if marker in received:
            break
    return received


def test_prometheus_scrapes_both_apps_and_grafana_shows_the_dashboard(
    compose: dict[str, Any],
) -> None:
    found = services(compose)
    assert "prometheus" in found["prometheus"]["image"]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in found["prometheus"]["volumes"]
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {
        target
        for job in scrape["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert targets == {f"{name}:8000" for name in app_services(compose)}
    assert "grafana" in found["grafana"]["image"]
    mounted = {v.split(":")[0] for v in found["grafana"]["volumes"]}
    assert {"./grafana/provisioning", "./grafana/dashboards"} <= mounted
    dashboard = json.loads((DEPLOY / "grafana/dashboards/stamgast.json").read_text())
    expressions = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in (
        "stamgast_ring_to_pop_seconds_bucket", "stamgast_webhook_seconds_count",
        "stamgast_recognitions_total", "stamgast_connected_agents", "stamgast_pops_total",
        "stamgast_webhook_events_held_now", "stamgast_webhook_events_dead_lettered_total",
        "stamgast_callbacks", "stamgast_callbacks_overdue",
        "stamgast_source_lookup_seconds_bucket", "stamgast_source_failures_total",
    ):  # fmt: skip
        assert metric in expressions, metric
    source = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text(encoding="utf-8")
    )
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    assert {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]} == {
        source["datasources"][0]["uid"]
    }
