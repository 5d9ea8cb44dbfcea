"""Ring-to-pop: the webhook's received time, carried to each frame that shows its pop.

The Pop JSON stays as it is. The router starts a `WebhookTiming` in a context variable;
the receiver's tasks inherit it, and every pop published under it is remembered here by
`pop_id` (a bounded map, no I/O). A frame written to an agent (WebSocket or SSE) looks its
pop up by the `pop_id` at the start of the Delivery JSON and observes the histogram. Across
processes the Redis broker carries the received time in its channel message and marks it
here on arrival (app/screen_pop/redis_broker.py). Times are wall-clock (`time.time()`), so
processes on several hosts need synchronised clocks (NTP) for the cross-process figure.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass

from app.metrics.registry import POPS, RING_TO_POP
from app.stats.ring_to_pop import TALLY as RING_TO_POP_TALLY

# Enough for every pop of a few minutes at hundreds of calls per second; older ones are
# forgotten (a frame written that late is a replay anyway, and is not observed).
REMEMBERED_POPS = 20_000
_MARKER = '"pop_id":"'


@dataclass(slots=True)
class WebhookTiming:
    """One webhook's received time, and whether it was answered fail-open."""

    received: float
    fail_open: bool = False


CURRENT: ContextVar[WebhookTiming | None] = ContextVar("stamgast_webhook_timing", default=None)
_received: dict[str, float] = {}

_DELIVERED = POPS.labels("delivered")
_REPLAYED = POPS.labels("replayed")
_DROPPED = POPS.labels("dropped")
_ON_TRANSPORT = {t: RING_TO_POP.labels(t) for t in ("websocket", "sse")}


def start() -> WebhookTiming:
    """Begin timing a webhook in this context (the router's first line)."""
    timing = WebhookTiming(time.time())
    CURRENT.set(timing)
    return timing


def ensure_started() -> WebhookTiming:
    """The current webhook's timing; started now for a delivery that did not pass the router."""
    timing = CURRENT.get()
    return timing if timing is not None else start()


def mark(pop_id: str, received: float | None = None) -> None:
    """Remember when the webhook behind this pop was received (the current one by default)."""
    if received is None:
        timing = CURRENT.get()
        if timing is None:
            return
        received = timing.received
    _received[pop_id] = received
    if len(_received) > REMEMBERED_POPS:
        del _received[next(iter(_received))]  # the oldest: dicts keep insertion order


def received_of(pop_id: str) -> float | None:
    """When the webhook behind this pop was received, if this process knows."""
    return _received.get(pop_id)


def pop_id_of(frame: str) -> str | None:
    """The pop_id of a Delivery's JSON (it comes first in the pop), without parsing it."""
    start_at = frame.find(_MARKER, 0, 64)
    if start_at < 0:
        return None
    start_at += len(_MARKER)
    end = frame.find('"', start_at)
    return frame[start_at:end] if end > 0 else None


def written(frame: str, transport: str) -> None:
    """A live pop's frame was written to an agent: count it and observe ring-to-pop."""
    _DELIVERED.inc()
    pop_id = pop_id_of(frame)
    received = None if pop_id is None else _received.get(pop_id)
    if received is not None:
        seconds = max(0.0, time.time() - received)
        _ON_TRANSPORT[transport].observe(seconds)
        RING_TO_POP_TALLY.observe(frame, received, seconds)  # per line, for the dashboard


def replayed() -> None:
    """A pop was written again from the replay log (reconnect, gap)."""
    _REPLAYED.inc()


def dropped(count: int) -> None:
    """Pops an agent's connection could not take (it fell behind and must replay)."""
    _DROPPED.inc(count)
