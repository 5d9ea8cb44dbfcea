"""Rate limits: per API key on /v1, per address without a valid key, per webhook source for
requests with a wrong signature; shared by processes through Redis."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from app.api.rate_limit import Budget, RateLimiter, make_storage, parse_limit
from app.main import create_app
from app.settings import Settings
from telephony_adapters.generic import sign_generic
from tests.conftest import TenantCtx, make_tenant
from tests.support.servers import free_port, redis_server

SECRET = "generic-secret-123"


@asynccontextmanager
async def running(database_url: str, **limits: Any) -> AsyncIterator[FastAPI]:
    """An app with its own limits (and its own counters), lifespan running."""
    with tempfile.TemporaryDirectory(prefix="stamgast-spool-") as spool_dir:
        settings = Settings(
            database_url=database_url, spool_path=Path(spool_dir) / "inbox", **limits
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            yield app


@asynccontextmanager
async def http(
    app: FastAPI, *, key: str | None = None, address: str = "10.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        yield client


def assert_limited(response: httpx.Response, setting: str) -> int:
    """A 429 in our error shape, naming the setting; returns its Retry-After."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["code"] == "rate_limited"
    assert setting in body["message"] and "retry in" in body["message"]
    assert body["fields"] == []
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


async def test_a_key_over_its_limit_gets_429_and_other_keys_do_not(sqlite_url: str) -> None:
    async with running(sqlite_url, api_rate_limit="3/minute") as app:
        first, second = await make_tenant(app), await make_tenant(app)
        async with http(app, key=first.admin_key) as api, http(app, key=second.admin_key) as other:
            for _ in range(3):
                assert (await api.get("/v1/contacts")).status_code == 200
            assert_limited(await api.get("/v1/contacts"), "STAMGAST_API_RATE_LIMIT")
            # A body is not read once the key is over its limit.
            assert_limited(await api.post("/v1/contacts", json={}), "STAMGAST_API_RATE_LIMIT")
            assert (await other.get("/v1/contacts")).status_code == 200


async def test_an_agent_token_has_its_own_budget(sqlite_url: str) -> None:
    async with running(sqlite_url, api_rate_limit="3/minute") as app:
        tenant = await make_tenant(app)
        async with http(app, key=tenant.admin_key) as api:
            agent = await api.post("/v1/agents", json={"name": "Sanne Visser", "extension": "201"})
            assert agent.status_code == 201, agent.text
            made = await api.post(f"/v1/agents/{agent.json()['id']}/tokens", json={"name": "pc"})
            assert made.status_code == 201, made.text
            assert (await api.get("/v1/contacts")).status_code == 200
        async with http(app, key=made.json()["token"]) as widget:
            for _ in range(3):
                assert (await widget.get("/v1/me")).status_code == 200
            assert_limited(await widget.get("/v1/me"), "STAMGAST_API_RATE_LIMIT")


async def test_the_limit_refills_after_its_window(sqlite_url: str) -> None:
    async with running(sqlite_url, api_rate_limit="2/second") as app:
        tenant = await make_tenant(app)
        async with http(app, key=tenant.admin_key) as api:
            for _ in range(3):  # two in this second, or in this one and the next
                response = await api.get("/v1/contacts")
                if response.status_code != 200:
                    break
            await asyncio.sleep(assert_limited(response, "STAMGAST_API_RATE_LIMIT"))
            assert (await api.get("/v1/contacts")).status_code == 200


async def test_callers_without_a_valid_key_are_limited_per_address(sqlite_url: str) -> None:
    async with running(sqlite_url, api_anonymous_rate_limit="3/minute") as app:
        tenant = await make_tenant(app)
        async with (
            http(app, key=tenant.admin_key) as api,
            http(app) as nobody,
            http(app, key="sg_guessed_0123456789abcdef") as guesser,
            http(app, address="10.0.0.2") as elsewhere,
        ):
            assert (await api.get("/v1/contacts")).status_code == 200
            assert (await nobody.get("/v1/contacts")).status_code == 401
            assert (await guesser.get("/v1/contacts")).status_code == 401
            assert (await guesser.post("/v1/contacts", json={})).status_code == 401
            # Missing and unknown keys share the address's budget, spent now.
            assert_limited(await guesser.get("/v1/contacts"), "API_ANONYMOUS_RATE_LIMIT")
            assert_limited(await nobody.get("/v1/contacts"), "API_ANONYMOUS_RATE_LIMIT")
            # A valid key from the same address is counted on its own budget only.
            for _ in range(5):
                assert (await api.get("/v1/contacts")).status_code == 200
            assert (await elsewhere.get("/v1/contacts")).status_code == 401


async def post_generic(
    client: httpx.AsyncClient, tenant: TenantCtx, *, call_id: str, secret: str = SECRET
) -> httpx.Response:
    payload = {"call_id": call_id, "event": "ringing", "from": "+31612345678", "to": "+3133123"}
    body = json.dumps(payload).encode()
    headers = {**sign_generic(secret, body, int(time.time())), "Content-Type": "application/json"}
    return await client.post(f"/webhooks/generic/{tenant.slug}", content=body, headers=headers)


async def test_a_forged_webhook_flood_gets_429_while_signed_ones_are_answered(
    sqlite_url: str,
) -> None:
    async with running(sqlite_url, webhook_rate_limit="5/minute") as app:
        tenant = await make_tenant(app)
        async with http(app, key=tenant.admin_key) as api:
            connected = await api.put("/v1/providers/generic", json={"secret": SECRET})
            assert connected.status_code == 200, connected.text
        async with http(app, address="192.0.2.7") as pbx, http(app, address="192.0.2.8") as other:
            statuses = []
            for n in range(12):
                forged = await post_generic(pbx, tenant, call_id=f"f{n}", secret="wrong")
                statuses.append(forged.status_code)
                signed = await post_generic(pbx, tenant, call_id=f"c{n}")
                assert signed.status_code == 200, signed.text
            assert statuses == [401] * 5 + [429] * 7
            assert_limited(
                await pbx.post(f"/webhooks/generic/{tenant.slug}", content=b"{}"),
                "STAMGAST_WEBHOOK_RATE_LIMIT",
            )
            # Another address has its own budget.
            forged = await post_generic(other, tenant, call_id="x", secret="wrong")
            assert forged.status_code == 401


async def test_processes_share_the_budget_through_redis(sqlite_url: str, redis_url: str) -> None:
    limits = {"redis_url": redis_url, "api_rate_limit": "4/minute"}
    async with running(sqlite_url, **limits) as one, running(sqlite_url, **limits) as two:
        tenant = await make_tenant(one)
        async with http(one, key=tenant.admin_key) as a, http(two, key=tenant.admin_key) as b:
            for client in (a, b, a, b):
                assert (await client.get("/v1/contacts")).status_code == 200
            assert_limited(await b.get("/v1/contacts"), "STAMGAST_API_RATE_LIMIT")
            assert_limited(await a.get("/v1/contacts"), "STAMGAST_API_RATE_LIMIT")


async def test_an_unreachable_redis_lets_requests_through() -> None:
    limiter = RateLimiter(make_storage(f"redis://127.0.0.1:{free_port()}/0"))
    budget = Budget(parse_limit("1/minute"), "key", "STAMGAST_API_RATE_LIMIT")
    for _ in range(3):
        await limiter.hit(budget, "1:1", "with this key")
    await limiter.close()


def test_limits_are_read_from_settings() -> None:
    for off in ("", "0", "0/minute"):
        assert parse_limit(off) is None
    limit = parse_limit("600/minute")
    assert limit is not None and limit.amount == 600
    with pytest.raises(ValidationError, match="600/minute"):
        Settings(api_rate_limit="600 a minute")
