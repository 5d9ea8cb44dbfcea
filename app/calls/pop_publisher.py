"""Publishing a recorded call's pops: counted for the metrics, and held while the broker is
down, then published oldest first once it answers again (the events are recorded by then:
what waits here is only the pop)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any

from app.calls.hot_path import PreparedPop
from app.metrics import timing as webhook_timing
from app.metrics.registry import LATE_SOURCE_CARDS, RECOGNITION
from app.screen_pop.hub import ScreenPopHub
from app.screen_pop.schemas import Pop

log = logging.getLogger("stamgast.webhooks")


class PopPublisher:
    """Hands pops to the hub; keeps at most `held_limit` while the broker is unavailable."""

    def __init__(self, hub: ScreenPopHub, held_limit: int) -> None:
        self._hub = hub
        self._held: deque[tuple[int, list[int], Pop]] = deque(maxlen=held_limit)
        self._retry_task: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        """How many pops wait for the broker to come back."""
        return len(self._held)

    async def publish(self, tenant_id: int, agent_ids: list[int], pop: Pop) -> None:
        """Publish a pop; when the broker is down it is held and published once it is back."""
        _count(pop)
        try:
            await self._hub.publish(tenant_id, agent_ids, pop)
        except Exception as exc:
            log.warning("pop %s held, broker unavailable: %s", pop.pop_id, exc)
            self._held.append((tenant_id, agent_ids, pop))
            if self._retry_task is None or self._retry_task.done():
                self._retry_task = detached(self._retry())

    async def _retry(self) -> None:
        delay = 0.2
        while self._held:
            tenant_id, agent_ids, pop = self._held[0]
            try:
                await self._hub.publish(tenant_id, agent_ids, pop)
            except Exception:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._held.popleft()
            delay = 0.2

    def stop(self) -> None:
        """Stop retrying (what is held is lost with the process: the events are recorded)."""
        if self._retry_task is not None:
            self._retry_task.cancel()


def detached(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A task outliving the request that started it: its log lines, about other
    deliveries, must not carry that request's id (nor its span as their parent)."""
    return asyncio.create_task(work, context=contextvars.Context())


def _count(pop: Pop) -> None:
    """Metrics of a pop about to be published: recognition, and its ring time to carry."""
    if pop.type == "call.ringing":
        webhook_timing.mark(pop.pop_id)
        RECOGNITION.labels(_recognition(pop)).inc()
    elif pop.type == "card.updated" and _recognition(pop) == "source":
        LATE_SOURCE_CARDS.inc()


def _recognition(pop: Pop) -> str:
    if isinstance(pop, PreparedPop):
        return pop.recognition
    card = pop.card
    if card is None:
        return "unknown"
    return "source" if card.sources else card.match
