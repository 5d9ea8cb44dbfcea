"""A provider-config change made in one process reaches the others through Redis at once.

Two app instances share the database and Redis, as two processes behind a load balancer
do; each trusts a cached config for minutes (providers.CACHE_SECONDS), so only the
announcement can make the other process see a change in time.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from typer.testing import CliRunner

from app.cli import cli
from app.db import session_scope
from app.demo import DEMO_GENERIC_SECRET, DEMO_SLUG
from app.main import create_app
from app.models import ProviderConfig
from app.settings import Settings, get_settings
from telephony_adapters.generic import sign_generic
from tests.conftest import make_tenant
from tests.support.servers import redis_server
from tests.test_webhooks import SECRET, connect, generic_event

pytestmark = pytest.mark.redis
OTHER_SECRET = "generic-secret-456"
DEADLINE = 3.0  # pub/sub takes milliseconds; far below the minutes a config is trusted


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


def client_of(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def two_apps(database_url: str, redis_url: str) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    settings = Settings(database_url=database_url, redis_url=redis_url)
    first, second = create_app(settings), create_app(settings)
    async with (
        first.router.lifespan_context(first),
        second.router.lifespan_context(second),
    ):
        yield first, second


@pytest.fixture
async def pair(database_url: str, redis_url: str) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two instances of the app on one database and one Redis."""
    async for apps in two_apps(database_url, redis_url):
        yield apps


async def ring(http: httpx.AsyncClient, slug: str, secret: str) -> int:
    body = json.dumps(generic_event(f"c-{uuid.uuid4()}", "ringing")).encode()
    headers = {**sign_generic(secret, body, int(time.time())), "content-type": "application/json"}
    return (await http.post(f"/webhooks/generic/{slug}", content=body, headers=headers)).status_code


async def until(http: httpx.AsyncClient, slug: str, secret: str, status: int) -> None:
    """Ring until this instance answers `status` (fails past DEADLINE)."""
    started = time.monotonic()
    while (answered := await ring(http, slug, secret)) != status:
        assert time.monotonic() - started < DEADLINE, f"still {answered}, not {status}"
        await asyncio.sleep(0.02)


async def test_provider_changes_reach_the_other_process_at_once(
    pair: tuple[FastAPI, FastAPI],
) -> None:
    first, second = pair
    tenant = await make_tenant(first)
    async with client_of(first, tenant.headers) as admin, client_of(second) as elsewhere:
        assert await ring(elsewhere, tenant.slug, SECRET) == 404  # cached: not connected
        await connect(admin, "generic", SECRET)
        await until(elsewhere, tenant.slug, SECRET, 200)  # now cached there for minutes

        await connect(admin, "generic", OTHER_SECRET)
        await until(elsewhere, tenant.slug, SECRET, 401)
        assert await ring(elsewhere, tenant.slug, OTHER_SECRET) == 200

        directory = second.state.provider_directory
        assert directory.cached(tenant.slug, "generic")[0]
        response = await admin.patch("/v1/tenant", json={"extension_plan": "2xx"})
        assert response.status_code == 200, response.text
        started = time.monotonic()
        while directory.cached(tenant.slug, "generic")[0]:
            assert time.monotonic() - started < DEADLINE, "the other process kept the old plan"
            await asyncio.sleep(0.02)

        assert (await admin.delete("/v1/providers/generic")).status_code == 204
        await until(elsewhere, tenant.slug, OTHER_SECRET, 404)


async def test_the_demo_seed_reaches_running_servers_through_redis(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("STAMGAST_DATABASE_URL", database_url)
    monkeypatch.setenv("STAMGAST_REDIS_URL", redis_url)
    runner = CliRunner()

    def seed() -> str:
        get_settings.cache_clear()
        try:
            result = runner.invoke(cli, ["seed-demo"])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        return result.output

    await asyncio.to_thread(seed)
    async for first, second in two_apps(database_url, redis_url):
        async for session in session_scope(first.state.sessionmaker):
            await session.execute(delete(ProviderConfig))  # as seeded before it existed
        async with client_of(second) as server:
            assert await ring(server, DEMO_SLUG, DEMO_GENERIC_SECRET) == 404  # cached
            output = await asyncio.to_thread(seed)
            assert "Connected the demo's 'generic' phone system" in output
            await until(server, DEMO_SLUG, DEMO_GENERIC_SECRET, 200)
