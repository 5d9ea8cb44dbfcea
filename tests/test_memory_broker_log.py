"""The embedded broker's replay log is bounded per agent, whatever the traffic: a client
resuming from before what is kept gets `resync`, and a pop's bytes are kept once."""

from __future__ import annotations

import gc
import json
import tracemalloc

from app.screen_pop import broker as broker_module
from app.screen_pop.broker import MEMORY_LOG_ENTRIES, MemoryBroker
from app.screen_pop.hub import GONE, ScreenPopHub
from app.screen_pop.schemas import Pop
from tests.support.broker_helpers import _tenants, make_pop, settings

KEPT = MEMORY_LOG_ENTRIES
MORE = 5  # pops beyond what an agent's log keeps


async def test_an_agents_log_keeps_the_newest_pops_only() -> None:
    tenant_id, broker = next(_tenants), MemoryBroker(settings())
    for _ in range(KEPT + MORE):
        await broker.publish(tenant_id, [1], make_pop(tenant_id))
    entries, complete = await broker.replay(tenant_id, 1, 0)
    assert [seq for seq, _ in entries] == list(range(MORE + 1, KEPT + MORE + 1))
    assert not complete  # pops 1..MORE are gone: the client must be told
    entries, complete = await broker.replay(tenant_id, 1, MORE)
    assert len(entries) == KEPT and complete
    assert json.loads(entries[-1][1])["seq"] == KEPT + MORE


async def test_a_client_resuming_before_the_kept_log_gets_resync() -> None:
    tenant_id, broker = next(_tenants), MemoryBroker(settings())
    hub = ScreenPopHub(broker, settings())
    for _ in range(KEPT + MORE):
        await hub.publish(tenant_id, [1], make_pop(tenant_id))
    async with hub.open_stream(tenant_id, 1, after_seq=2, after_epoch=await broker.epoch()) as s:
        opening = [event async for event in s.opening()]
    hello, resync, *pops = opening
    assert (hello.kind, json.loads(hello.data)["seq"]) == ("hello", KEPT + MORE)
    assert (resync.kind, json.loads(resync.data)["message"]) == ("resync", GONE)
    assert [(e.kind, e.cursor) for e in pops] == [
        ("pop", seq) for seq in range(MORE + 1, KEPT + MORE + 1)
    ]


async def test_a_teams_log_takes_one_copy_of_each_pop_and_stops_growing() -> None:
    """1,000 pops to a team of 10: the log holds the newest 100, each pop's bytes once."""
    tenant_id, broker = next(_tenants), MemoryBroker(settings())
    team = list(range(1, 11))
    pops = [make_pop(tenant_id) for _ in range(1000)]
    pop_size = len(pops[0].model_dump_json())
    await broker.publish(tenant_id, team, make_pop(tenant_id))  # first-use caches, not the log

    async def growth(batch: list[Pop]) -> int:
        gc.collect()
        before = tracemalloc.take_snapshot()
        for pop in batch:
            await broker.publish(tenant_id, team, pop)
        gc.collect()
        after = tracemalloc.take_snapshot()
        # What the broker's own lines hold (the pop's bytes are made there too); the rest of
        # the process (other tests' leftovers, caches) is not this test's business.
        return sum(
            stat.size_diff
            for stat in after.compare_to(before, "filename")
            if stat.traceback[0].filename == broker_module.__file__
        )

    tracemalloc.start()
    try:
        filling = await growth(pops[:KEPT])  # the log fills up
        steady = await growth(pops[KEPT:])  # 900 more replace the oldest
    finally:
        tracemalloc.stop()
    # A copy of each pop per agent would take at least KEPT x team x pop bytes; one copy,
    # with a (seq, time, pop) tuple per agent and entry, well under half of that.
    assert filling < KEPT * len(team) * pop_size / 2, (filling, pop_size)
    # Full: what comes in replaces what goes out. An unbounded log grows by about `filling`
    # per 100 pops, nine times that over these 900; a few KiB of bookkeeping elsewhere is noise.
    assert steady < filling / 2, (steady, filling)
