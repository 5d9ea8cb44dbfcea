"""The broker and its streams when the sequence starts again or Redis goes away: a
restarted Redis (with and without its data), a lost listener, late live copies, epochs."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from redis.asyncio import Redis

from app.screen_pop.broker import Broker, MemoryBroker, delivery_message
from app.screen_pop.hub import ScreenPopHub
from app.screen_pop.redis_broker import EPOCH_KEY, RedisBroker
from app.screen_pop.redis_broker import _keys as _redis_keys
from app.screen_pop.schemas import Delivery
from tests.support.broker_helpers import make_pop, settings
from tests.support.servers import restartable_redis
from tests.test_screen_pop_broker import _events, next_item

pytest_plugins = ["tests.support.broker_fixtures"]


# --- Redis outages -------------------------------------------------------------------


async def _wait_until(condition: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.mark.redis
async def test_listener_survives_a_redis_restart(tenant_id: int) -> None:
    with restartable_redis() as server:
        url = server.url
        receiving, publishing = RedisBroker(settings(url)), RedisBroker(settings(url))
        await receiving.start()
        await publishing.start()
        try:
            async with receiving.subscribe(tenant_id, 1) as subscription:
                await asyncio.to_thread(server.kill)
                await _wait_until(lambda: not receiving.healthy())
                await asyncio.to_thread(server.start)
                await _wait_until(receiving.healthy)
                # The restarted Redis lost the script cache too: publish reloads it.
                await publishing.publish(tenant_id, [1], make_pop(tenant_id))
                assert (await next_item(subscription, seconds=10))[0] == 1
        finally:
            await receiving.stop()
            await publishing.stop()


@pytest.mark.redis
async def test_stream_recovers_pops_published_while_its_listener_was_away(
    redis_url: str, tenant_id: int
) -> None:
    """A killed pub/sub connection loses live messages; the log has them, sent once."""
    receiving, publishing = RedisBroker(settings(redis_url)), RedisBroker(settings(redis_url))
    await receiving.start()
    await publishing.start()
    hub = ScreenPopHub(receiving, settings(redis_url))
    admin = Redis.from_url(redis_url)
    try:
        async with hub.open_stream(tenant_id, 1, after_seq=None) as stream:
            events = stream.events()
            await _events(events, 1)
            await admin.client_kill_filter(_type="pubsub")
            for _ in range(3):
                await publishing.publish(tenant_id, [1], make_pop(tenant_id))
            got = await _events(events, 3)
            assert [e.cursor for e in got] == [1, 2, 3]
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(events), 0.5)
            await _wait_until(receiving.healthy)
    finally:
        await admin.aclose()
        await receiving.stop()
        await publishing.stop()


async def _forget_sequences(broker: Broker, tenant_id: int, agent_id: int) -> None:
    """What a Redis restart without persistence (or a broker restart) does to an agent."""
    if isinstance(broker, MemoryBroker):
        broker._seqs.pop((tenant_id, agent_id), None)
        broker._logs.pop((tenant_id, agent_id), None)
        return
    assert isinstance(broker, RedisBroker)
    await broker._redis.delete(*_redis_keys(tenant_id, agent_id))


async def test_a_live_stream_follows_a_sequence_that_started_again(
    broker: Broker, tenant_id: int
) -> None:
    hub = ScreenPopHub(broker, settings())
    for _ in range(3):
        await hub.publish(tenant_id, [1], make_pop(tenant_id))
    async with hub.open_stream(tenant_id, 1, after_seq=None) as stream:
        events = stream.events()
        (hello,) = await _events(events, 1)
        assert json.loads(hello.data)["seq"] == 3
        await _forget_sequences(broker, tenant_id, 1)
        # A late live copy of seq 3 (published before the stream opened, heard after it
        # did) with the count already gone: a duplicate to drop, not a restart to follow.
        stream.subscription.offer(
            3, delivery_message(3, make_pop(tenant_id).model_dump_json().encode())
        )
        await hub.publish(tenant_id, [1], make_pop(tenant_id))  # seq 1 again
        rebased, pop = await _events(events, 2)
        assert (rebased.kind, json.loads(rebased.data)["seq"]) == ("hello", 0)
        assert (pop.kind, Delivery.model_validate_json(pop.data).seq) == ("pop", 1)
        await hub.publish(tenant_id, [1], make_pop(tenant_id))
        (second,) = await _events(events, 1)
        assert (second.kind, second.cursor) == ("pop", 2)


async def test_the_epoch_names_one_life_of_the_sequences(redis_url: str) -> None:
    """Two embedded brokers (two lives of a process) never share an epoch; two processes on
    one Redis do, until Redis loses its data."""
    assert await MemoryBroker(settings()).epoch() != await MemoryBroker(settings()).epoch()
    one, two = RedisBroker(settings(redis_url)), RedisBroker(settings(redis_url))
    try:
        epoch = await one.epoch()
        assert epoch == await two.epoch() == await one.epoch()
        await one._redis.delete(EPOCH_KEY)  # what a Redis restart without persistence leaves
        renewed = await two.epoch()
        assert renewed != epoch and await one.epoch() == renewed
    finally:
        await one.stop()
        await two.stop()


async def test_a_live_stream_starts_over_when_redis_comes_back_empty(
    redis_url: str, tenant_id: int
) -> None:
    broker = RedisBroker(settings(redis_url))
    await broker.start()
    hub = ScreenPopHub(broker, settings(redis_url))
    try:
        for _ in range(3):
            await hub.publish(tenant_id, [1], make_pop(tenant_id))
        async with hub.open_stream(tenant_id, 1, after_seq=None) as stream:
            events = stream.events()
            (hello,) = await _events(events, 1)
            before = json.loads(hello.data)
            assert before["seq"] == 3
            await broker._redis.delete(EPOCH_KEY, *_redis_keys(tenant_id, 1))
            pops = [make_pop(tenant_id) for _ in range(2)]
            for pop in pops:
                await hub.publish(tenant_id, [1], pop)  # seq 1 and 2 of the new life
            again, resync, first, second = await _events(events, 4)
            after = json.loads(again.data)
            assert (again.kind, after["seq"]) == ("hello", 0) and after["epoch"] != before["epoch"]
            assert resync.kind == "resync"
            delivered = [Delivery.model_validate_json(e.data) for e in (first, second)]
            assert [(d.seq, d.pop.pop_id) for d in delivered] == [
                (1, pops[0].pop_id), (2, pops[1].pop_id),
            ]  # fmt: skip
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(events), 0.3)  # seq 2 arrives live too: sent once
    finally:
        await broker.stop()
