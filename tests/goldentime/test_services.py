"""Service start-up helpers that are not about a connection."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from goldentime.services import freeze_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as before


def test_freeze_heap_frees_garbage_then_takes_what_is_alive_out_of_collections(unfrozen: None) -> None:
    class Cycle:
        partner: object = None

    alive, garbage = Cycle(), Cycle()
    garbage.partner = garbage  # a cycle nothing refers to: only a collection frees it
    freed = weakref.ref(garbage)
    del garbage
    freeze_heap()
    assert freed() is None  # freed, not frozen
    assert not any(o is alive for generation in range(3) for o in gc.get_objects(generation=generation))
    assert gc.get_freeze_count() > 0
