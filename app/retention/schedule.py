"""The purge in-process: once a day (STAMGAST_RETENTION_PURGE, on by default).

Every process may run it: a second purge of the same day finds nothing left to delete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import session_scope
from app.models import utcnow
from app.retention.service import TenantPurge, purge

log = logging.getLogger("stamgast.retention")


async def purge_once(
    sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime
) -> list[TenantPurge]:
    """One purge of every tenant, committed; each tenant's counts logged."""
    async for session in session_scope(sessionmaker):
        reports = await purge(session, now=now)
    for report in reports:
        if report.total:
            log.info("retention purge, tenant %s: %s", report.slug, report.counts)
    return reports


async def purge_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    interval: float,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Purge every `interval` seconds until cancelled, the first soon after start; never raises."""
    delay = min(interval, 60.0)  # not during start-up, but not a day after a restart either
    while True:
        await sleep(delay)
        delay = interval
        try:
            await purge_once(sessionmaker, now=clock())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: the next run tries again
            log.warning("retention purge failed: %s", type(exc).__name__)
