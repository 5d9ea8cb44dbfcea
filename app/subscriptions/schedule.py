"""When a failed delivery is tried again: exponential backoff with jitter, for over 24 hours.

The delays follow the schedule Standard Webhooks recommends (Svix's): 5 s, 5 min, 30 min,
2 h, 5 h, 10 h, 10 h. Jitter only ever adds (up to 25 %), so receivers that all failed at
once do not all return at once, and the whole schedule is never shorter than its sum,
27 h 35 min 5 s after the first try. The eighth failed try makes the event dead.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
ATTEMPTS = len(DELAYS) + 1
JITTER = 0.25


def next_delay(
    attempts: int, uniform: Callable[[float, float], float] = random.uniform
) -> timedelta | None:
    """The wait after `attempts` failed tries; None when the schedule is over (dead)."""
    if attempts >= ATTEMPTS:
        return None
    return DELAYS[attempts - 1] * (1 + uniform(0.0, JITTER))
