"""How often a caller may knock: per API key or agent token on /v1, per address without one,
and per webhook source for requests whose signature fails.

One fixed-window counter per caller (the `limits` library): one increment per request, in
process memory, or in Redis when STAMGAST_REDIS_URL is set so every process spends the same
budget. The limiter fails open: when Redis is away a request is let through (and logged, at
most once a minute) rather than refused; an outage of the counter must not become an outage
of the API, still less of a ringing phone.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import FixedWindowRateLimiter

from app.errors import StamgastError

log = logging.getLogger("stamgast.rate_limit")

# A Redis that hangs must not hold a request for long: past this the request goes through.
_REDIS_TIMEOUT_SECONDS = 0.25


class RateLimited(StamgastError):
    """429: this caller spent its budget; `retry_after` says in how many seconds it refills."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        """Retry-After, in whole seconds (RFC 9110 §10.2.3)."""
        return {"Retry-After": str(self.retry_after)}


def parse_limit(text: str | None) -> RateLimitItem | None:
    """`"600/minute"` as a limit; None (no limit) for "", "0" or a zero amount."""
    if text is None or text.strip() in ("", "0"):
        return None
    item = parse(text)
    return item if item.amount > 0 else None


@dataclass(frozen=True, slots=True)
class Budget:
    """One limit and what to tell a caller who spent it."""

    item: RateLimitItem | None
    namespace: str  # keeps the API's and the webhooks' counters apart
    setting: str  # the environment variable an operator changes it with


class RateLimiter:
    """Counts requests per caller in a shared storage; one `hit` per request."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._limiter = FixedWindowRateLimiter(storage)
        self._warned_at = -math.inf

    async def hit(self, budget: Budget, caller: str, what: str) -> None:
        """Count one request of `caller`; RateLimited once it is over `budget`."""
        if budget.item is None:
            return
        try:
            if await self._limiter.hit(budget.item, budget.namespace, caller):
                return
            stats = await self._limiter.get_window_stats(budget.item, budget.namespace, caller)
        except Exception as exc:  # the counter's store is away: let the request through
            self._warn(exc)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"Too many requests {what}: at most {budget.item.amount} per "
            f"{_window(budget.item)} ({budget.setting}); retry in {retry_after} s.",
            retry_after=retry_after,
        )

    async def check(self, budget: Budget, caller: str, what: str) -> None:
        """RateLimited if `caller` has spent `budget` already; counts nothing."""
        if budget.item is None:
            return
        try:
            if await self._limiter.test(budget.item, budget.namespace, caller):
                return
        except Exception as exc:
            self._warn(exc)
            return
        await self.hit(budget, caller, what)  # over: answer as a counted request would

    async def close(self) -> None:
        """Release the storage's connections (Redis)."""
        if isinstance(self._storage, RedisStorage) and isinstance(
            self._storage.bridge, RedispyBridge
        ):
            await self._storage.bridge.storage.aclose()

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60:
            self._warned_at = now
            log.warning("rate limits not counted, their storage is unavailable: %s", exc)


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"


def make_storage(redis_url: str | None) -> Storage:
    """Redis (through the `redis` package we use already) when configured, else memory."""
    if not redis_url:
        return MemoryStorage()
    return RedisStorage(
        f"async+{redis_url}",
        implementation="redispy",
        key_prefix="stamgast:limits",
        socket_timeout=_REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
    )
