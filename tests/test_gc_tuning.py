"""app.gc_tuning: tuned while a server runs, CPython's settings again afterwards."""

from __future__ import annotations

import gc
import weakref

from app.gc_tuning import YOUNG_THRESHOLD, server_gc


def test_tuned_inside_and_restored_after_the_last_of_overlapping_servers() -> None:
    before = gc.get_threshold()
    assert before[0] != YOUNG_THRESHOLD
    first, second = server_gc(), server_gc()
    first.__enter__()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0
    second.__enter__()
    first.__exit__(None, None, None)  # the other server still runs: still tuned
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cyclic_garbage_is_still_collected() -> None:
    class Node:
        partner: object = None

    with server_gc():
        a, b = Node(), Node()
        a.partner, b.partner = b, a
        watch = weakref.ref(a)
        del a, b
        gc.collect()
        assert watch() is None
