"""Roles through Redis: a pop for a front-desk agent and a supervisor at once is published as
two views in one script call, and each agent's log holds its own view (the in-process broker
is tests/test_roles.py; the same test runs here on an app whose broker is a real Redis)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.main import create_app
from app.screen_pop.redis_broker import RedisBroker
from app.settings import Settings
from tests.support.servers import redis_server
from tests.test_roles import (
    test_the_stream_masks_per_role_and_a_role_change_applies_to_the_next_pop as on_redis,
)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis of this module's own: its keys are named by tenant and agent ids that other
    tests' databases reuse."""
    with redis_server() as url:
        yield url


@pytest.fixture
async def app(database_url: str, redis_url: str) -> AsyncIterator[FastAPI]:
    with tempfile.TemporaryDirectory(prefix="stamgast-spool-") as spool_dir:
        settings = Settings(
            database_url=database_url,
            redis_url=redis_url,
            spool_path=Path(spool_dir) / "inbox",
            callback_escalation_interval_seconds=86400,
        )
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            assert isinstance(application.state.hub.broker, RedisBroker)
            yield application


test_the_stream_masks_per_role_on_redis = on_redis
