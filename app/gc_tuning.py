"""The garbage collector's settings while a server runs.

With a thousand agents connected a process holds a few hundred thousand long-lived objects,
and CPython's full collections walk all of them: at 100 calls/s that showed up as pops
40-150 ms late now and then (bench/ring_to_pop.py, one process on SQLite: p99 42 ms,
max 146 ms; with the collector off p99 8 ms). Freezing what startup built and collecting
the young generation less often keeps the pauses short (p99 8 ms, max 15 ms) while cyclic
garbage is still collected.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Objects allocated (minus freed) between young collections; CPython's default is 700,
# which a single webhook with its SQL and JSON passes several times over.
YOUNG_THRESHOLD = 50_000
OLDER_THRESHOLDS = (20, 20)


_active = 0  # apps whose lifespan is running in this process (tests run several)
_before: tuple[int, ...] = ()


@contextmanager
def server_gc() -> Iterator[None]:
    """Tuned collection for the block (a server's lifespan); the previous settings after
    the last such block in the process ends."""
    global _active, _before
    if _active == 0:
        _before = gc.get_threshold()
        gc.collect()
        gc.freeze()  # startup's modules, metadata and caches stay for the process's life
        gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    _active += 1
    try:
        yield
    finally:
        _active -= 1
        if _active == 0:
            gc.set_threshold(*_before)
            gc.unfreeze()
