"""Shared fixtures: migrated databases (SQLite and a real PostgreSQL), the app, a tenant.

Each test gets a tenant of its own, so tests share one migrated database per backend
without seeing each other's rows.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.auth.keys import Scope, issue_key
from app.db import session_scope
from app.main import create_app
from app.migrate import upgrade
from app.models import Tenant
from app.settings import Settings
from tests.support.servers import postgres_server
from tests.support.slugs import letters_only

_tenant_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for the whole run (skips with the install line if absent)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url() -> Iterator[str]:
    """A migrated SQLite file for the whole run."""
    with tempfile.TemporaryDirectory(prefix="stamgast-sqlite-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'test.db'}"
        upgrade(url)
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on SQLite and on PostgreSQL, both migrated by Alembic."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    url = str(request.getfixturevalue("postgres_url"))
    if not getattr(request.config, "_stamgast_pg_migrated", False):
        upgrade(url)
        request.config._stamgast_pg_migrated = True  # type: ignore[attr-defined]
    return url


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    """The application on the backend under test, with its lifespan running."""
    with tempfile.TemporaryDirectory(prefix="stamgast-spool-") as spool_dir:
        settings = Settings(
            database_url=database_url,
            spool_path=Path(spool_dir) / "inbox",
            # Tests escalate overdue callbacks on a clock of their own: a sweep on the real
            # clock would drop notices among the pops other tests read back.
            callback_escalation_interval_seconds=86400,
        )
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            yield application


@dataclass
class TenantCtx:
    """A tenant made for one test, with an admin key."""

    id: int
    slug: str
    admin_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}


async def make_tenant(app: FastAPI, region: str = "NL") -> TenantCtx:
    """A new tenant with an admin API key."""
    # Digits would make seven in a row on a machine up for 12 days (tests/support/slugs.py).
    moment = letters_only(f"{asyncio.get_running_loop().time():.0f}")
    slug = f"t{next(_tenant_numbers)}-{moment}"
    async for session in session_scope(app.state.sessionmaker):
        tenant = Tenant(slug=slug, name=f"Tenant {slug}", default_region=region)
        session.add(tenant)
        await session.flush()
        _row, key = await issue_key(
            session, tenant_id=tenant.id, name="test-admin", scopes=[Scope.ADMIN]
        )
        ctx = TenantCtx(id=tenant.id, slug=slug, admin_key=key)
    return ctx


@pytest.fixture
async def tenant(app: FastAPI) -> TenantCtx:
    """A fresh tenant for this test."""
    return await make_tenant(app)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process, without credentials."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def api(app: FastAPI, tenant: TenantCtx) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client authenticated with the test tenant's admin key."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=tenant.headers
    ) as c:
        yield c
