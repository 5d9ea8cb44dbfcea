"""Sources on the screen-pop: merged into the card before it is published, and late
answers published as `card.updated` to the same agents.

The receiver calls `enrich` after the events are recorded (the database work is done)
and before it publishes: only a card whose number is not known here waits, and at most
the deadline (default 300 ms). What comes later is published on its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from app.calls.hot_path import PreparedPop
from app.models import utcnow
from app.phone import normalise
from app.screen_pop.schemas import Pop
from app.sources.lookup import Found, SourceLookups
from app.sources.merge import merge

log = logging.getLogger("stamgast.sources")

Publish = Callable[[int, list[int], Pop], Awaitable[None]]
ASKED_FOR = ("unknown", "ambiguous")


class PopEnricher:
    """Adds source answers to pops; owns the tasks that publish late answers."""

    def __init__(self, lookups: SourceLookups) -> None:
        self.lookups = lookups
        self._late: set[asyncio.Task[None]] = set()
        self._late_calls: set[int] = set()  # one card.updated per call is enough

    async def enrich(
        self, tenant_id: int, pops: list[tuple[list[int], Pop]], publish: Publish
    ) -> list[tuple[list[int], Pop]]:
        """The pops with what the sources answered in time; schedules the late answers."""
        try:
            if not await self.lookups.configured(tenant_id):
                return pops  # most tenants have none: nothing to parse
        except Exception:  # the list could not be read: publish the pops as recorded
            log.exception("sources: tenant %s's sources could not be read", tenant_id)
            return pops
        enriched = []
        for agent_ids, pop in pops:
            try:
                enriched.append((agent_ids, await self._enrich(tenant_id, agent_ids, pop, publish)))
            except Exception:  # never a failed pop: publish it as recorded
                log.exception("sources: pop %s published without them", pop.pop_id)
                enriched.append((agent_ids, pop))
        return enriched

    async def _enrich(
        self, tenant_id: int, agent_ids: list[int], pop: Pop, publish: Publish
    ) -> Pop:
        # A prepared pop (the hot path's) has its card in its JSON only.
        if not isinstance(pop, PreparedPop) and pop.card is None:
            return pop
        data: dict[str, Any] = json.loads(pop.model_dump_json())
        card = data.get("card")
        e164 = ((card or {}).get("number") or {}).get("e164")
        if card is None or card.get("match") not in ASKED_FOR or not e164:
            return pop
        asked = await self.lookups.ask(tenant_id, normalise(e164))
        if asked.found:
            data["card"] = merge(card, asked.found)
        call_id = data["call"]["id"]
        if asked.later and call_id not in self._late_calls:
            self._late_calls.add(call_id)
            task = asyncio.create_task(
                self._publish_later(tenant_id, agent_ids, data, asked.later, publish)
            )
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            task.add_done_callback(lambda _t: self._late_calls.discard(call_id))
        return PreparedPop.of(data) if asked.found else pop

    async def _publish_later(
        self,
        tenant_id: int,
        agent_ids: list[int],
        data: dict[str, Any],
        later: list[asyncio.Future[Found | None]],
        publish: Publish,
    ) -> None:
        found = [f for f in await asyncio.gather(*later) if f is not None and f.records]
        if not found:
            return
        update = {
            **data,
            "pop_id": uuid.uuid4().hex,
            "type": "card.updated",
            "at": utcnow().isoformat(),
            "card": merge(data["card"], found),
        }
        await publish(tenant_id, agent_ids, PreparedPop.of(update))

    async def stop(self) -> None:
        """Drop late answers still awaited (the process is stopping)."""
        for task in list(self._late):
            task.cancel()
        if self._late:
            await asyncio.wait(self._late, timeout=1)
        await self.lookups.close()
