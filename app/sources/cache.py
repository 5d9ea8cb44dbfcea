"""Answers kept per (source, number) for the source's TTL, and queries shared while in flight.

Two events of one call (ringing, then answered a second later) and two agents' lookups of
the same number ask a source once. Bounded: the oldest answers go first.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from app.sources.base import SourceRecord

Key = tuple[int, str, str]  # source id, its version (updated_at), E.164
MAX_ENTRIES = 20_000


class ResultCache:
    """TTL cache of source answers with single flight per key."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._answers: OrderedDict[Key, tuple[float, list[SourceRecord]]] = OrderedDict()
        self._flying: dict[Key, asyncio.Task[list[SourceRecord]]] = {}

    def get(self, key: Key) -> list[SourceRecord] | None:
        """A kept answer still within its TTL, else None."""
        kept = self._answers.get(key)
        if kept is None:
            return None
        if kept[0] < self._clock():
            del self._answers[key]
            return None
        return kept[1]

    def task(
        self, key: Key, ttl: float, ask: Callable[[], Awaitable[list[SourceRecord]]]
    ) -> asyncio.Task[list[SourceRecord]]:
        """The query in flight for `key`, started now if there is none; kept when it answers."""
        flying = self._flying.get(key)
        if flying is not None:
            return flying

        async def run() -> list[SourceRecord]:
            try:
                records = await ask()
            finally:
                self._flying.pop(key, None)
            if ttl > 0:
                self._answers[key] = (self._clock() + ttl, records)
                self._answers.move_to_end(key)
                while len(self._answers) > MAX_ENTRIES:
                    self._answers.popitem(last=False)
            return records

        task = asyncio.ensure_future(run())
        self._flying[key] = task
        return task

    def forget_source(self, source_id: int) -> None:
        """Drop what a changed or removed source answered."""
        for key in [key for key in self._answers if key[0] == source_id]:
            del self._answers[key]
