"""What the broker tests share: a moving clock, pops as the lifecycle builds them, settings,
one throwaway Redis for the run, a tenant id per test, and the broker fixture that runs each
contract test on the in-process broker and on Redis. Load with
`pytest_plugins = ["tests.support.broker_fixtures"]`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from app.screen_pop.broker import Broker, MemoryBroker
from app.screen_pop.redis_broker import RedisBroker
from tests.support.broker_helpers import Clock, _tenants, settings
from tests.support.servers import redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One throwaway redis-server for the run."""
    with redis_server() as url:
        yield url


@pytest.fixture
def tenant_id() -> int:
    """A tenant id no other test uses (the Redis keys outlive a test)."""
    return next(_tenants)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def broker(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[Broker]:
    """Each contract test runs on both brokers."""
    made: Broker
    if request.param == "memory":
        made = MemoryBroker(settings(), clock=clock)
    else:
        made = RedisBroker(settings(request.getfixturevalue("redis_url")), clock=clock)
    await made.start()
    yield made
    await made.stop()
