"""A revocation made in one process reaches the others through Redis at once.

Two app instances share the database and Redis, as two processes behind a load balancer
do; each trusts a verified key for a minute, so only the announcement can end it in time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from app.cli import cli
from app.main import create_app
from app.screen_pop.broker import INVALIDATE_ALL
from app.screen_pop.redis_broker import RedisBroker
from app.settings import Settings, get_settings
from tests.conftest import TenantCtx, make_tenant
from tests.support.servers import redis_server

pytestmark = pytest.mark.redis
TRUST_SECONDS = 60.0
DEADLINE = 3.0  # pub/sub takes milliseconds; far below the minute a key is trusted


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
async def pair(database_url: str, redis_url: str) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two instances of the app on one database and one Redis."""
    settings = Settings(
        database_url=database_url, redis_url=redis_url, api_key_cache_seconds=TRUST_SECONDS
    )
    first, second = create_app(settings), create_app(settings)
    async with (
        first.router.lifespan_context(first),
        second.router.lifespan_context(second),
    ):
        yield first, second


def client_of(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


async def until_refused(http: httpx.AsyncClient, key: str) -> float:
    """Seconds until `key` is refused by this instance (fails past DEADLINE)."""
    started = time.monotonic()
    while (
        response := await http.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
    ).status_code == 200:
        assert time.monotonic() - started < DEADLINE, "the other process still trusts it"
        await asyncio.sleep(0.02)
    assert response.status_code == 401, response.text
    return time.monotonic() - started


async def accepted(http: httpx.AsyncClient, key: str) -> bool:
    response = await http.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
    return response.status_code == 200


async def test_revocations_reach_the_other_process_at_once(
    pair: tuple[FastAPI, FastAPI],
) -> None:
    first, second = pair
    tenant: TenantCtx = await make_tenant(first)
    async with client_of(first, tenant.headers) as admin, client_of(second) as elsewhere:
        key = (await admin.post("/v1/api-keys", json={"name": "crm", "scopes": ["admin"]})).json()
        assert await accepted(elsewhere, key["key"])  # now cached there for a minute
        assert (await admin.delete(f"/v1/api-keys/{key['id']}")).status_code == 204
        await until_refused(elsewhere, key["key"])

        agent = (await admin.post("/v1/agents", json={"name": "Sanne"})).json()
        tokens = f"/v1/agents/{agent['id']}/tokens"
        one, two = [(await admin.post(tokens, json={})).json() for _ in range(2)]
        assert await accepted(elsewhere, one["token"]) and await accepted(elsewhere, two["token"])
        assert (await admin.delete(f"{tokens}/{one['token_id']}")).status_code == 204
        await until_refused(elsewhere, one["token"])
        assert await accepted(elsewhere, two["token"])  # only the revoked token goes

        assert (await admin.patch(f"/v1/agents/{agent['id']}", json={"active": False})).is_success
        await until_refused(elsewhere, two["token"])


async def test_the_cli_revocation_reaches_running_servers_through_redis(
    pair: tuple[FastAPI, FastAPI],
    database_url: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = pair
    tenant = await make_tenant(first)
    async with client_of(first, tenant.headers) as admin, client_of(second) as server:
        key = (await admin.post("/v1/api-keys", json={"name": "crm", "scopes": ["admin"]})).json()
        assert await accepted(server, key["key"]) and await accepted(admin, key["key"])
        monkeypatch.setenv("STAMGAST_DATABASE_URL", database_url)
        monkeypatch.setenv("STAMGAST_REDIS_URL", redis_url)
        get_settings.cache_clear()
        try:
            runner = CliRunner()
            listed = await asyncio.to_thread(
                runner.invoke, cli, ["list-api-keys", "--tenant", tenant.slug]
            )
            assert listed.exit_code == 0, listed.output
            assert f"sg_{key['prefix']}_…" in listed.output and key["key"] not in listed.output
            result = await asyncio.to_thread(
                runner.invoke,
                cli,
                ["revoke-api-key", "--tenant", tenant.slug, "--id", str(key["id"])],
            )
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert "Servers sharing Redis refuse it at once." in result.output
        await until_refused(server, key["key"])
        await until_refused(admin, key["key"])


async def test_a_listener_that_subscribes_again_drops_everything(redis_url: str) -> None:
    # Pub/sub keeps nothing for a process that was not listening: after any (re)subscribe
    # the handlers are told that invalidations may have been missed.
    broker = RedisBroker(Settings(redis_url=redis_url))
    heard: list[str] = []
    arrived = asyncio.Event()

    def hear(message: str) -> None:
        heard.append(message)
        if message != INVALIDATE_ALL:
            arrived.set()

    broker.on_invalidation(hear)
    await broker.start()
    try:
        assert INVALIDATE_ALL in heard
        heard.clear()
        other = RedisBroker(Settings(redis_url=redis_url))
        await other.invalidate("api_key:1:2")
        await other.stop()
        await asyncio.wait_for(arrived.wait(), DEADLINE)
        assert heard == ["api_key:1:2"]
    finally:
        await broker.stop()
