"""Provider configuration cached for minutes, and forgotten the moment it changes."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.calls.provider_changes import ConfigChanged, listener
from app.calls.providers import CACHE_SECONDS, ProviderDirectory
from app.screen_pop.broker import INVALIDATE_ALL
from tests.conftest import TenantCtx
from tests.test_webhooks import SECRET, connect, generic_event, post_generic

OTHER_SECRET = "generic-secret-456"


async def ring(client: httpx.AsyncClient, tenant: TenantCtx, secret: str = SECRET) -> int:
    payload = generic_event(f"c-{uuid.uuid4()}", "ringing")
    return (await post_generic(client, tenant, payload, secret=secret)).status_code


def test_the_cache_is_trusted_for_minutes() -> None:
    # Only an announcement can make the tests below pass in time.
    assert CACHE_SECONDS >= 60


async def test_a_new_secret_is_used_by_the_next_webhook(
    api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await connect(api, "generic", SECRET)
    assert await ring(client, tenant) == 200  # cached now
    await connect(api, "generic", OTHER_SECRET)
    assert await ring(client, tenant) == 401
    assert await ring(client, tenant, OTHER_SECRET) == 200


async def test_a_disconnected_provider_is_refused_and_a_connected_one_taken_at_once(
    api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    assert await ring(client, tenant) == 404  # "not connected" is cached too
    await connect(api, "generic", SECRET)
    assert await ring(client, tenant) == 200
    assert (await api.delete("/v1/providers/generic")).status_code == 204
    assert await ring(client, tenant) == 404


async def test_changing_the_tenant_forgets_its_providers(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    directory: ProviderDirectory = app.state.provider_directory
    await connect(api, "generic", SECRET)
    assert await ring(client, tenant) == 200
    assert directory.cached(tenant.slug, "generic")[0]
    response = await api.patch("/v1/tenant", json={"extension_plan": "2xx"})
    assert response.status_code == 200, response.text
    assert directory.cached(tenant.slug, "generic") == (False, None)
    assert await ring(client, tenant) == 200
    found = directory.cached(tenant.slug, "generic")[1]
    assert found is not None and found.extensions is not None


# The listener reads the database as it hears the message: synchronously, so on SQLite
# only (the commit order is the router's, the same on every database).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_change_is_committed_before_it_is_announced(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    # A process that hears the announcement and reads the config at once (its next
    # webhook) must read the new row, or it would trust the old one for minutes.
    url = app.state.engine.url
    assert url.get_backend_name() == "sqlite"
    heard: list[str | None] = []

    def read_back(message: str) -> None:
        if ConfigChanged.parse(message) != ConfigChanged(tenant.slug, "generic"):
            return
        with closing(sqlite3.connect(url.database)) as db:
            row = db.execute(
                "SELECT secret FROM provider_configs JOIN tenants ON tenants.id = tenant_id"
                " WHERE slug = ? AND provider = 'generic'",
                (tenant.slug,),
            ).fetchone()
        heard.append(None if row is None else row[0])

    app.state.hub.broker.on_invalidation(read_back)
    await connect(api, "generic", SECRET)
    await connect(api, "generic", OTHER_SECRET)
    assert (await api.delete("/v1/providers/generic")).status_code == 204
    assert heard == [SECRET, OTHER_SECRET, None]


class ChangedWhileReading:
    """A session whose query is answered after the config was changed and announced."""

    def __init__(self, session: AsyncSession, change: Any) -> None:
        self._session, self._change = session, change

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._session.execute(*args, **kwargs)
        self._change()
        return result


async def test_a_lookup_that_read_before_a_change_does_not_keep_what_it_read(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await connect(api, "generic", SECRET)
    directory = ProviderDirectory()
    for change in (
        lambda: directory.forget(tenant.slug, "generic"),
        lambda: directory.forget_tenant(tenant.slug),
        directory.expire_all,
    ):
        async with app.state.sessionmaker() as session:
            racing: Any = ChangedWhileReading(session, change)
            found = await directory.find(racing, tenant.slug, "generic")
        assert found is not None and found.config.secret == SECRET  # answered
        assert directory.cached(tenant.slug, "generic") == (False, None)  # not kept
    async with app.state.sessionmaker() as session:
        await directory.find(session, tenant.slug, "generic")
    assert directory.cached(tenant.slug, "generic")[0]


async def test_missed_announcements_expire_everything_but_keep_the_outage_fallback(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await connect(api, "generic", SECRET)
    directory = ProviderDirectory()
    async with app.state.sessionmaker() as session:
        await directory.find(session, tenant.slug, "generic")
    listener(directory)(INVALIDATE_ALL)
    assert directory.cached(tenant.slug, "generic") == (False, None)

    class Unreachable:
        async def execute(self, *_args: Any, **_kwargs: Any) -> Any:
            raise ConnectionRefusedError("database down")

    offline: Any = Unreachable()
    found = await directory.find(offline, tenant.slug, "generic")
    assert found is not None and found.config.secret == SECRET


def test_invalidation_messages() -> None:
    directory = ProviderDirectory()
    hear = listener(directory)
    for changed in (ConfigChanged("t1-5", "generic"), ConfigChanged("t1-5")):
        assert ConfigChanged.parse(changed.encode()) == changed
    assert ConfigChanged("acme", "twilio").encode() == "provider:acme:twilio"
    assert ConfigChanged("acme").encode() == "tenant:acme"
    for other in ("api_key:3:17", "agent:1:2", "provider:", "provider:acme", "tenant:", "x"):
        assert ConfigChanged.parse(other) is None
        hear(other)  # ignored, never raises


@pytest.mark.parametrize("message", ["provider:acme:generic", "tenant:acme", INVALIDATE_ALL])
async def test_the_listener_forgets_what_the_message_names(app: FastAPI, message: str) -> None:
    directory = ProviderDirectory()
    hear = listener(directory)
    for key in (("acme", "generic"), ("acme", "twilio"), ("other", "generic")):
        async with app.state.sessionmaker() as session:
            await directory.find(session, *key)  # cached as not connected
    hear(message)
    kept = {
        key: directory.cached(*key)[0]
        for key in (("acme", "generic"), ("acme", "twilio"), ("other", "generic"))
    }
    expected = {
        "provider:acme:generic": {
            ("acme", "generic"): False, ("acme", "twilio"): True, ("other", "generic"): True
        },
        "tenant:acme": {
            ("acme", "generic"): False, ("acme", "twilio"): False, ("other", "generic"): True
        },
        INVALIDATE_ALL: {
            ("acme", "generic"): False, ("acme", "twilio"): False, ("other", "generic"): False
        },
    }  # fmt: skip
    assert kept == expected[message]
