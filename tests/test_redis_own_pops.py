"""The Redis broker hands its own process's subscriptions a pop when its publish script
replies, not when its own pub/sub copy comes back; whichever arrives first delivers it,
and each pop still arrives once and in order, beside pops of other processes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.screen_pop.broker import delivery_message
from app.screen_pop.hub import ScreenPopHub
from app.screen_pop.redis_broker import RedisBroker
from app.screen_pop.subscribers import Subscription
from tests.support.broker_helpers import _tenants, make_pop, settings

pytest_plugins = ["tests.support.broker_fixtures"]
pytestmark = pytest.mark.redis

PUBS = 20


def _drain(subscription: Subscription) -> list[int]:
    """The seqs waiting in a subscription (a catch-up marker shows as 0)."""
    seqs = []
    while subscription.pending:
        item = subscription.get_nowait()
        assert item is not None
        seqs.append(item[0])
    return seqs


async def test_the_reply_delivers_without_the_listener(redis_url: str) -> None:
    """No listener at all (never started): the pop is there when publish returns."""
    tenant_id = next(_tenants)
    broker = RedisBroker(settings(redis_url))
    try:
        pop = make_pop(tenant_id)
        async with broker.subscribe(tenant_id, 1) as subscription:
            await broker.publish(tenant_id, [1, 2], pop)
            assert subscription.get_nowait() == (
                1, delivery_message(1, pop.model_dump_json().encode())
            )  # fmt: skip
            assert not subscription.pending
    finally:
        await broker.stop()


async def test_own_pops_arrive_once_though_the_listener_hears_them_too(redis_url: str) -> None:
    tenant_id = next(_tenants)
    broker = RedisBroker(settings(redis_url, queue=4 * PUBS))
    await broker.start()
    try:
        async with broker.subscribe(tenant_id, 1) as one, broker.subscribe(tenant_id, 2) as two:
            for _ in range(PUBS):
                await broker.publish(tenant_id, [1, 2], make_pop(tenant_id))
            await asyncio.sleep(0.3)  # every pub/sub copy is back by now
            assert _drain(one) == _drain(two) == list(range(1, PUBS + 1))
        assert not broker._own  # each publish forgotten once its copy came
    finally:
        await broker.stop()


async def test_a_copy_that_beats_the_reply_delivers_and_the_reply_does_not(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant_id = next(_tenants)
    broker = RedisBroker(settings(redis_url, queue=4 * PUBS))
    await broker.start()
    run = broker._run_scripts

    async def slow_reply(calls: Any) -> Any:
        replies = await run(calls)
        await asyncio.sleep(0.1)  # the listener hears the copy meanwhile
        return replies

    monkeypatch.setattr(broker, "_run_scripts", slow_reply)
    try:
        async with broker.subscribe(tenant_id, 1) as one:
            for _ in range(5):
                await broker.publish(tenant_id, [1], make_pop(tenant_id))
            await asyncio.sleep(0.2)
            assert _drain(one) == [1, 2, 3, 4, 5]
        assert not broker._own
    finally:
        await broker.stop()


async def test_two_processes_publishing_to_one_agent_keep_its_order(redis_url: str) -> None:
    """Our pops come by reply, the other's by pub/sub: the stream still gets each seq once,
    in order, however they race."""
    tenant_id = next(_tenants)
    here = RedisBroker(settings(redis_url, queue=4 * PUBS))
    there = RedisBroker(settings(redis_url))
    await here.start()
    await there.start()
    hub = ScreenPopHub(here, settings(redis_url))
    try:
        async with hub.open_stream(tenant_id, 7, after_seq=0) as stream:
            events = stream.events()
            assert (await anext(events)).kind == "hello"
            await asyncio.gather(*(
                (here if n % 2 else there).publish(tenant_id, [7], make_pop(tenant_id))
                for n in range(PUBS)
            ))  # fmt: skip
            got = [await asyncio.wait_for(anext(events), 5) for _ in range(PUBS)]
            assert [(e.kind, e.cursor) for e in got] == [("pop", n) for n in range(1, PUBS + 1)]
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(events), 0.5)
    finally:
        await here.stop()
        await there.stop()
