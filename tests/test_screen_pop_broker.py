"""The broker contract, on the in-process broker and on a real Redis, and the hub's streams."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from app.screen_pop.broker import Broker, MemoryBroker, delivery_message
from app.screen_pop.hub import ScreenPopHub, StreamEvent
from app.screen_pop.redis_broker import RedisBroker
from app.screen_pop.schemas import Delivery
from tests.support.broker_helpers import QUEUE, WINDOW, Clock, _tenants, make_pop, settings

pytest_plugins = ["tests.support.broker_fixtures"]


async def next_item(subscription: object, seconds: float = 5.0) -> tuple[int, bytes]:
    """The next real message (catch-up markers skipped), within `seconds`."""
    while True:
        item = await asyncio.wait_for(subscription.get(), seconds)  # type: ignore[attr-defined]
        assert item is not None, "subscription closed"
        if item[0] != 0:
            return item  # type: ignore[no-any-return]


async def test_seq_counts_per_agent(broker: Broker, tenant_id: int) -> None:
    first, second = make_pop(tenant_id), make_pop(tenant_id)
    await broker.publish(tenant_id, [11, 12], first)
    await broker.publish(tenant_id, [11], second)
    assert await broker.last_seq(tenant_id, 11) == 2
    assert await broker.last_seq(tenant_id, 12) == 1
    assert await broker.last_seq(tenant_id, 13) == 0
    entries, complete = await broker.replay(tenant_id, 11, 0)
    assert complete
    deliveries = [Delivery.model_validate_json(message) for _seq, message in entries]
    assert [(d.seq, d.pop.pop_id) for d in deliveries] == [(1, first.pop_id), (2, second.pop_id)]


async def test_messages_are_the_pop_spliced_with_its_seq(broker: Broker, tenant_id: int) -> None:
    """Logged and live bytes are exactly `delivery_message` (the Lua script splices too)."""
    pop = make_pop(tenant_id)
    async with broker.subscribe(tenant_id, 5) as subscription:
        await broker.publish(tenant_id, [4, 5], pop)
        live = await next_item(subscription)
    expected = delivery_message(1, pop.model_dump_json().encode())
    assert live == (1, expected)
    assert await broker.replay(tenant_id, 5, 0) == ([(1, expected)], True)
    assert json.loads(expected)["pop"]["pop_id"] == pop.pop_id


async def test_an_agent_named_twice_gets_the_pop_once(broker: Broker, tenant_id: int) -> None:
    await broker.publish(tenant_id, [7, 7, 8, 7], make_pop(tenant_id))
    assert await broker.last_seq(tenant_id, 7) == 1
    assert await broker.last_seq(tenant_id, 8) == 1


async def test_replay_after_n_returns_the_rest_in_order(broker: Broker, tenant_id: int) -> None:
    for _ in range(5):
        await broker.publish(tenant_id, [1], make_pop(tenant_id))
    entries, complete = await broker.replay(tenant_id, 1, 2)
    assert [seq for seq, _ in entries] == [3, 4, 5] and complete
    assert await broker.replay(tenant_id, 1, 5) == ([], True)
    # A cursor beyond the last seq (the log was reset) cannot be trusted: resync.
    assert await broker.replay(tenant_id, 1, 9) == ([], False)


async def test_expired_pops_make_replay_incomplete(
    broker: Broker, tenant_id: int, clock: Clock
) -> None:
    await broker.publish(tenant_id, [1], make_pop(tenant_id))
    await broker.publish(tenant_id, [1], make_pop(tenant_id))
    clock.now += WINDOW + 1
    # Expired before any further publish trims them: still not replayed.
    assert await broker.replay(tenant_id, 1, 0) == ([], False)
    assert await broker.replay(tenant_id, 1, 2) == ([], True)
    await broker.publish(tenant_id, [1], make_pop(tenant_id))
    entries, complete = await broker.replay(tenant_id, 1, 0)
    assert [seq for seq, _ in entries] == [3] and not complete
    entries, complete = await broker.replay(tenant_id, 1, 2)
    assert [seq for seq, _ in entries] == [3] and complete


async def test_publish_without_subscribers_is_kept_for_replay(
    broker: Broker, tenant_id: int
) -> None:
    pop = make_pop(tenant_id)
    await broker.publish(tenant_id, [3], pop)
    async with broker.subscribe(tenant_id, 3):
        entries, complete = await broker.replay(tenant_id, 3, 0)
    assert complete and Delivery.model_validate_json(entries[0][1]).pop.pop_id == pop.pop_id


async def test_overflow_closes_the_slow_subscriber_only(broker: Broker, tenant_id: int) -> None:
    async with broker.subscribe(tenant_id, 1) as slow, broker.subscribe(tenant_id, 1) as fast:
        received = []
        for _ in range(QUEUE * 3):
            await broker.publish(tenant_id, [1], make_pop(tenant_id))
            received.append((await next_item(fast))[0])
        assert received == list(range(1, QUEUE * 3 + 1))
        assert slow.overflowed
        # Closed at once: the backlog is dropped (the client replays), not delivered.
        assert await asyncio.wait_for(slow.get(), 1) is None
        assert not fast.overflowed


async def test_tenants_do_not_share_agents(broker: Broker, tenant_id: int) -> None:
    other = next(_tenants)
    async with broker.subscribe(other, 1) as theirs, broker.subscribe(tenant_id, 1) as ours:
        await broker.publish(tenant_id, [1], make_pop(tenant_id))
        assert (await next_item(ours))[0] == 1
        await asyncio.sleep(0.1)
        with pytest.raises(TimeoutError):
            await next_item(theirs, seconds=0.2)
    assert await broker.last_seq(other, 1) == 0


@pytest.mark.redis
async def test_two_processes_share_pops_through_redis(redis_url: str, tenant_id: int) -> None:
    """Subscribe through one broker, publish through another: as two app processes would."""
    receiving, publishing = RedisBroker(settings(redis_url)), RedisBroker(settings(redis_url))
    await receiving.start()
    await publishing.start()
    try:
        assert receiving.healthy() and publishing.healthy()
        latencies = []
        async with receiving.subscribe(tenant_id, 1) as subscription:
            for expected in range(1, 21):
                started = time.perf_counter()
                await publishing.publish(tenant_id, [1, 2], make_pop(tenant_id))
                seq, _message = await next_item(subscription)
                latencies.append(time.perf_counter() - started)
                assert seq == expected
        latencies.sort()
        print(f"\nredis publish->receive: median {latencies[10] * 1000:.2f} ms")
        assert await receiving.last_seq(tenant_id, 2) == 20
    finally:
        await receiving.stop()
        await publishing.stop()


async def _events(stream_events: AsyncIterator[StreamEvent], n: int) -> list[StreamEvent]:
    return [await asyncio.wait_for(anext(stream_events), 5) for _ in range(n)]


async def test_stream_replays_then_goes_live_without_duplicates(
    broker: Broker, tenant_id: int
) -> None:
    hub = ScreenPopHub(broker, settings())
    for _ in range(3):
        await hub.publish(tenant_id, [1], make_pop(tenant_id))
    async with hub.open_stream(tenant_id, 1, after_seq=1) as stream:
        assert hub.connections == 1
        events = stream.events()
        hello, second, third = await _events(events, 3)
        assert (hello.kind, json.loads(hello.data)["seq"]) == ("hello", 3)
        assert [second.cursor, third.cursor] == [2, 3]
        # Seq 2 and 3 also sit in the live queue if published after subscribing; here the
        # next live pop must be 4, and nothing may repeat.
        await hub.publish(tenant_id, [1], make_pop(tenant_id))
        (fourth,) = await _events(events, 1)
        assert (fourth.kind, Delivery.model_validate_json(fourth.data).seq) == ("pop", 4)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(events), 0.3)
    assert hub.connections == 0


async def test_stream_says_resync_once_then_continues(
    broker: Broker, tenant_id: int, clock: Clock
) -> None:
    hub = ScreenPopHub(broker, settings())
    await hub.publish(tenant_id, [1], make_pop(tenant_id))
    clock.now += WINDOW + 1
    async with hub.open_stream(tenant_id, 1, after_seq=0) as stream:
        events = stream.events()
        hello, resync = await _events(events, 2)
        assert (hello.kind, resync.kind, json.loads(resync.data)["seq"]) == ("hello", "resync", 1)
        await hub.publish(tenant_id, [1], make_pop(tenant_id))
        (pop,) = await _events(events, 1)
        assert (pop.kind, pop.cursor) == ("pop", 2)  # not mistaken for a gap: no 2nd resync


async def test_a_slow_stream_is_told_to_come_back(tenant_id: int) -> None:
    hub = ScreenPopHub(MemoryBroker(settings()), settings())
    async with hub.open_stream(tenant_id, 1, after_seq=None) as stream:
        events = stream.events()
        await _events(events, 1)  # hello: the stream is subscribed and live
        for _ in range(QUEUE + 1):
            await hub.publish(tenant_id, [1], make_pop(tenant_id))
        (bye,) = await _events(events, 1)
        notice = json.loads(bye.data)
        assert stream.end_reason == "overflow"
        assert (bye.kind, notice["seq"]) == ("bye", 0) and notice["retry_ms"] > 0


async def test_hub_stop_says_bye_to_every_stream(tenant_id: int) -> None:
    hub = ScreenPopHub(MemoryBroker(settings()), settings())
    await hub.start()
    async with (
        hub.open_stream(tenant_id, 1, None) as first,
        hub.open_stream(tenant_id, 2, None) as second,
    ):
        streams = [first.events(), second.events()]
        for events in streams:
            await _events(events, 1)
        stopping = asyncio.create_task(hub.stop(grace_seconds=5))
        for events in streams:
            (bye,) = await _events(events, 1)
            assert bye.kind == "bye" and 1000 <= json.loads(bye.data)["retry_ms"] <= 5000
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(events), 1)
    await asyncio.wait_for(stopping, 5)
    assert hub.connections == 0 and not hub.healthy()
