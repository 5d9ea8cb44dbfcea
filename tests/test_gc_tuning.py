"""app.gc_tuning: tuned while a server runs, the previous settings again afterwards."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app import gc_tuning
from app.gc_tuning import YOUNG_THRESHOLD, server_gc

CPYTHON_DEFAULT = (700, 10, 10)


@pytest.fixture
def pristine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As if no server ran in this process (other tests' apps may be running their lifespan)."""
    saved = gc.get_threshold()
    monkeypatch.setattr(gc_tuning, "_active", 0)
    monkeypatch.setattr(gc_tuning, "_before", ())
    gc.set_threshold(*CPYTHON_DEFAULT)
    yield
    gc.set_threshold(*saved)


def test_tuned_inside_and_restored_after_the_last_of_overlapping_servers(pristine: None) -> None:
    first, second = server_gc(), server_gc()
    first.__enter__()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0
    second.__enter__()
    first.__exit__(None, None, None)  # the other server still runs: still tuned
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    second.__exit__(None, None, None)
    assert gc.get_threshold() == CPYTHON_DEFAULT
    assert gc.get_freeze_count() == 0


def test_cyclic_garbage_is_still_collected(pristine: None) -> None:
    class Node:
        partner: object = None

    with server_gc():
        a, b = Node(), Node()
        a.partner, b.partner = b, a
        watch = weakref.ref(a)
        del a, b
        gc.collect()
        assert watch() is None
