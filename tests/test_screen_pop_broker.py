"""The broker contract, on the in-process broker and on a real Redis, and the hub's streams."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis.asyncio import Redis

from app.models import utcnow
from app.screen_pop.broker import Broker, MemoryBroker, delivery_message
from app.screen_pop.hub import ScreenPopHub, StreamEvent
from app.screen_pop.redis_broker import EPOCH_KEY, RedisBroker
from app.screen_pop.redis_broker import _keys as _redis_keys
from app.screen_pop.schemas import Delivery, Pop, PopCall, PopType
from app.settings import Settings
from tests.support.servers import free_port, missing, redis_server

WINDOW = 60
QUEUE = 4
_tenants = itertools.count(int(time.time()) % 100_000 * 1000)


class Clock:
    """A clock the test moves: the replay window passes without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make_pop(tenant_id: int, kind: PopType = "call.ringing", call_id: int = 1) -> Pop:
    """A pop as the call lifecycle would publish it."""
    now = utcnow()
    call = PopCall(
        id=call_id, provider="fake", provider_call_id=f"c{call_id}", state="ringing",
        direction="inbound", from_e164="+31612345678", from_display="06 12345678",
        to_e164="+31201234567", line_label="Zorgloket", ringing_extension="201",
        answered_by_agent_id=None, answered_by_name=None, started_at=now, answered_at=None,
        ended_at=None,
    )  # fmt: skip
    return Pop(
        pop_id=uuid.uuid4().hex, type=kind, tenant_id=tenant_id, call=call, card=None, at=now
    )


def settings(redis_url: str | None = None, queue: int = QUEUE) -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        redis_url=redis_url,
        replay_window_seconds=WINDOW,
        stream_queue_size=queue,
    )


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


# --- Redis outages -------------------------------------------------------------------


@contextmanager
def restartable_redis() -> Iterator[tuple[str, object]]:
    """A redis-server on a fixed port that the test can stop and start again."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("Redis", "redis-server")
    workdir, port = Path(tempfile.mkdtemp(prefix="stamgast-redis-")), free_port()
    argv = [binary or "", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir)]  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        processes.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop() -> None:
        processes[-1].terminate()
        processes[-1].wait(timeout=10)

    start()
    try:
        yield f"redis://127.0.0.1:{port}/0", type("Ctl", (), {"start": start, "stop": stop})
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


async def _wait_until(condition: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.mark.redis
async def test_listener_survives_a_redis_restart(tenant_id: int) -> None:
    if shutil.which("redis-cli") is None:
        missing("redis-cli", "redis-tools")
    with restartable_redis() as (url, server):
        receiving, publishing = RedisBroker(settings(url)), RedisBroker(settings(url))
        await receiving.start()
        await publishing.start()
        try:
            async with receiving.subscribe(tenant_id, 1) as subscription:
                await asyncio.to_thread(server.stop)  # type: ignore[attr-defined]
                await _wait_until(lambda: not receiving.healthy())
                await asyncio.to_thread(server.start)  # type: ignore[attr-defined]
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
