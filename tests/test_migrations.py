"""The schema comes only from Alembic: an empty database upgraded to head matches the models."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
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
    name = f"migtest_{id(server_url) % 100000}_{asyncio.get_running_loop().time():.0f}"
    engine = create_engine(server_url)
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    await engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
