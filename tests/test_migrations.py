"""The schema comes only from Alembic: an empty database upgraded to head matches the models."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from app.db import create_engine
from app.migrate import upgrade
from app.models import Base


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _check(url: str) -> tuple[list[Any], set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_diff), await connection.run_sync(_tables)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_upgrade_head_on_empty_database_matches_models(
    backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        tmp = Path(tempfile.mkdtemp(prefix="stamgast-mig-"))
        url = f"sqlite+aiosqlite:///{tmp / 'empty.db'}"
    else:
        server_url = str(request.getfixturevalue("postgres_url"))
        url = await _fresh_postgres_database(server_url)
    await asyncio.to_thread(upgrade, url)
    diff, tables = await _check(url)
    assert diff == [], f"models and migrations disagree: {diff}"
    assert set(Base.metadata.tables) | {"alembic_version"} == tables


async def _fresh_postgres_database(server_url: str) -> str:
    """A new, empty database on the test server, so this test sees no other test's schema."""
    name = f"migtest_{uuid.uuid4().hex[:12]}"  # two tests may ask within one second
    engine = create_engine(server_url)
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    await engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_keys_written_before_roles_keep_what_they_saw(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """0009: an admin-scoped key becomes admin, every other existing key supervisor (an
    integration does not silently lose notes on upgrade); agents become `agent`."""
    if backend == "sqlite":
        tmp = Path(tempfile.mkdtemp(prefix="stamgast-mig-"))
        url = f"sqlite+aiosqlite:///{tmp / 'roles.db'}"
    else:
        url = await _fresh_postgres_database(str(request.getfixturevalue("postgres_url")))
    await asyncio.to_thread(upgrade, url, "0008")
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO tenants (slug, name, default_region, timezone, created_at) "
                     "VALUES ('old', 'Old', 'NL', 'Europe/Amsterdam', :at)"), {"at": _AT},
            )  # fmt: skip
            tenant_id = (await connection.execute(text("SELECT id FROM tenants"))).scalar_one()
            for prefix, scopes in (("a0000001", '["admin"]'), ("b0000002", '["lookup:read"]'),
                                   ("c0000003", '["contacts:write", "lookup:read"]')):  # fmt: skip
                await connection.execute(
                    text("INSERT INTO api_keys (tenant_id, name, prefix, key_hash, scopes, "
                         "created_at) VALUES (:t, :p, :p, :h, :s, :at)"),
                    {"t": tenant_id, "p": prefix, "h": "0" * 64, "s": scopes, "at": _AT},
                )  # fmt: skip
            await connection.execute(
                text("INSERT INTO agents (tenant_id, name, language, active) "
                     "VALUES (:t, 'Sanne', 'nl', :yes)"), {"t": tenant_id, "yes": True},
            )  # fmt: skip
            await connection.execute(
                text("INSERT INTO notices (tenant_id, title, body, severity, starts_at) "
                     "VALUES (:t, 'Old', '', 'info', :at)"), {"t": tenant_id, "at": _AT},
            )  # fmt: skip
        await asyncio.to_thread(upgrade, url)
        async with engine.connect() as connection:
            keys = dict((await connection.execute(text("SELECT prefix, role FROM api_keys"))).all())
            roles = (await connection.execute(text("SELECT role FROM agents"))).scalars().all()
            flags = (await connection.execute(text("SELECT sensitive FROM notices"))).scalars()
            sensitive = [bool(flag) for flag in flags]
    finally:
        await engine.dispose()
    assert keys == {"a0000001": "admin", "b0000002": "supervisor", "c0000003": "supervisor"}
    assert roles == ["agent"] and sensitive == [False]


_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
