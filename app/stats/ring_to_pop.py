"""Ring-to-pop per line and hour, kept for the dashboard without a write per pop.

Prometheus' histogram (app/metrics) lives in the process and has no line. Here every frame
written to an agent is tallied in memory by (tenant, the number called, UTC hour, latency
bucket), read from the frame's first bytes like its pop_id (app/metrics/timing.py): no
parsing, no I/O on the delivery path, and a tally that grows with the lines and hours seen,
not with the calls. Every `stats_flush_seconds` it is added to `ring_to_pop_hours` with one
statement executed per entry in a single round trip (the same statement every time, so it is
compiled once), each finding the line by its number (`to_e164` of an inbound call).
Numbers that are no line of the tenant (an outbound call's callee) count under line 0.
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

# (tenant_id, number called, hour since 1970 UTC, bucket index) -> frames
Tally = dict[tuple[int, str, int, int], int]

# A few minutes of a busy centre between flushes; past it (the database away for long)
# new frames are not tallied rather than growing memory without bound.
MAX_ENTRIES = 100_000
_TENANT = '"tenant_id":'
_TO = '"to_e164":'
# The call's number comes after its id, provider, provider_call_id (up to 128 characters),
# state, direction and the caller's number and display: well within this.
_TO_WITHIN = 1_000


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


def _text_after(frame: str, marker: str, start: int) -> str | None:
    """The JSON string right after `marker` ("" for null), None when it is not there."""
    at = frame.find(marker, start, start + _TO_WITHIN)
    if at < 0:
        return None
    at += len(marker)
    if frame.startswith("null", at):
        return ""
    if not frame.startswith('"', at):
        return None
    end = frame.find('"', at + 1)
    return frame[at + 1 : end] if end > at else None


class RingToPopTally:
    """This process's frames since the last flush."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._counts: Tally = {}
        self._max = max_entries
        self.lost = 0

    def observe(self, frame: str, received: float, seconds: float) -> None:
        """A live pop frame (a Delivery's JSON) was written `seconds` after its webhook."""
        tenant = _number_after(frame, _TENANT, 0)
        called = None if tenant is None else _text_after(frame, _TO, tenant[1])
        if tenant is None or called is None:
            return
        key = (tenant[0], called, int(received // 3600), bisect_left(LATENCY_BUCKETS, seconds))
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


# One entry per execution, all in one round trip: the same text every time (compiled and
# prepared once), and two entries of one line never meet in one statement (PostgreSQL
# refuses to update a row twice in one). `WHERE true`: SQLite's upsert needs it to tell a
# SELECT's end from ON CONFLICT.
_UPSERT = text(
    "INSERT INTO ring_to_pop_hours (tenant_id, line_id, hour, bucket, frames) "
    "SELECT CAST(:tenant AS INTEGER), COALESCE((SELECT lines.id FROM lines "
    "WHERE lines.tenant_id = CAST(:tenant AS INTEGER) AND lines.number_e164 = :called), 0), "
    "CAST(:hour AS INTEGER), CAST(:bucket AS INTEGER), CAST(:frames AS INTEGER) WHERE true "
    "ON CONFLICT (tenant_id, line_id, hour, bucket) "
    "DO UPDATE SET frames = ring_to_pop_hours.frames + excluded.frames"
)


async def store(session: AsyncSession, counts: Tally) -> None:
    """Add `counts` to ring_to_pop_hours."""
    rows = [
        {"tenant": tenant, "called": called, "hour": hour, "bucket": bucket, "frames": frames}
        for (tenant, called, hour, bucket), frames in counts.items()
    ]
    if rows:
        await session.execute(_UPSERT, rows)


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
