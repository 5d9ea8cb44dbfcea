"""Ring-to-pop per line and hour, kept for the dashboard without a write per pop.

Prometheus' histogram (app/metrics) lives in the process and has no line. Here every frame
written to an agent is tallied in memory by (tenant, call, UTC hour, latency bucket), read
from the frame's first bytes like its pop_id (app/metrics/timing.py): no parsing, no I/O on
the delivery path. Every `stats_flush_seconds` the tally is added to `ring_to_pop_hours` in
one statement that finds each call's line itself (a join on the calls' primary key), so the
process that writes the frame needs to know nothing but the pop, also across processes.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import session_scope
from app.metrics.registry import LATENCY_BUCKETS

log = logging.getLogger("stamgast.stats")

# (tenant_id, call_id, hour since 1970 UTC, bucket index) -> frames
Tally = dict[tuple[int, int, int, int], int]

# A few minutes of a busy centre between flushes; past it (the database away for long)
# new frames are not tallied rather than growing memory without bound.
MAX_ENTRIES = 100_000
# Rows per statement: 5 parameters each stays under SQLite's and asyncpg's 32767.
ROWS_PER_STATEMENT = 4_000

_TENANT = '"tenant_id":'
_CALL = '"call":{"id":'


def _number_after(frame: str, marker: str, start: int) -> tuple[int, int] | None:
    """The integer right after `marker` (searched from `start`) and where it ends."""
    at = frame.find(marker, start, start + 200)
    if at < 0:
        return None
    at += len(marker)
    end = at
    while end < len(frame) and frame[end].isdigit():
        end += 1
    return (int(frame[at:end]), end) if end > at else None


class RingToPopTally:
    """This process's frames since the last flush."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._counts: Tally = {}
        self._max = max_entries
        self.lost = 0

    def observe(self, frame: str, received: float, seconds: float) -> None:
        """A live pop frame (a Delivery's JSON) was written `seconds` after its webhook."""
        tenant = _number_after(frame, _TENANT, 0)
        call = None if tenant is None else _number_after(frame, _CALL, tenant[1])
        if tenant is None or call is None:
            return
        key = (tenant[0], call[0], int(received // 3600), bisect_left(LATENCY_BUCKETS, seconds))
        if key in self._counts:
            self._counts[key] += 1
        elif len(self._counts) < self._max:
            self._counts[key] = 1
        else:
            self.lost += 1

    def take(self) -> Tally:
        """Everything tallied so far; the tally starts again empty."""
        counts, self._counts = self._counts, {}
        return counts

    def give_back(self, counts: Tally) -> None:
        """A flush failed: keep its counts for the next one (within the bound)."""
        for key, frames in counts.items():
            if key in self._counts or len(self._counts) < self._max:
                self._counts[key] = self._counts.get(key, 0) + frames
            else:
                self.lost += frames


TALLY = RingToPopTally()


def _statement(rows: int) -> str:
    values = ", ".join(
        f"(CAST(:t{i} AS INTEGER), CAST(:c{i} AS INTEGER), CAST(:h{i} AS INTEGER), "
        f"CAST(:b{i} AS INTEGER), CAST(:n{i} AS INTEGER))"
        for i in range(rows)
    )
    # `WHERE true` before GROUP BY: SQLite's upsert needs it to tell the join's ON from
    # ON CONFLICT. GROUP BY: two calls of one line in one flush must be one row, since
    # PostgreSQL refuses to update a row twice in one statement.
    return (
        f"WITH tally (tenant_id, call_id, hour, bucket, frames) AS (VALUES {values}) "
        "INSERT INTO ring_to_pop_hours (tenant_id, line_id, hour, bucket, frames) "
        "SELECT tally.tenant_id, COALESCE(calls.line_id, 0), tally.hour, tally.bucket, "
        "SUM(tally.frames) FROM tally JOIN calls "
        "ON calls.id = tally.call_id AND calls.tenant_id = tally.tenant_id WHERE true "
        "GROUP BY tally.tenant_id, COALESCE(calls.line_id, 0), tally.hour, tally.bucket "
        "ON CONFLICT (tenant_id, line_id, hour, bucket) "
        "DO UPDATE SET frames = ring_to_pop_hours.frames + excluded.frames"
    )


async def store(session: AsyncSession, counts: Tally) -> None:
    """Add `counts` to ring_to_pop_hours: one statement per ROWS_PER_STATEMENT entries."""
    entries = list(counts.items())
    for start in range(0, len(entries), ROWS_PER_STATEMENT):
        chunk = entries[start : start + ROWS_PER_STATEMENT]
        params: dict[str, int] = {}
        for i, ((tenant_id, call_id, hour, bucket), frames) in enumerate(chunk):
            params |= {f"t{i}": tenant_id, f"c{i}": call_id, f"h{i}": hour}
            params |= {f"b{i}": bucket, f"n{i}": frames}
        await session.execute(text(_statement(len(chunk))), params)


async def flush(
    sessionmaker: async_sessionmaker[AsyncSession], tally: RingToPopTally = TALLY
) -> int:
    """Store what was tallied, committed; on failure it is kept for the next flush."""
    counts = tally.take()
    if not counts:
        return 0
    try:
        async for session in session_scope(sessionmaker):
            await store(session, counts)
    except BaseException:
        tally.give_back(counts)
        raise
    return len(counts)


async def flush_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    interval: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Flush every `interval` seconds until cancelled; never raises (the next one retries)."""
    while True:
        await sleep(interval)
        try:
            await flush(sessionmaker)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: the counts wait for the next run
            log.warning("ring-to-pop flush failed: %s", type(exc).__name__)
