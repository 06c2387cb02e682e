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


def test_every_service_factory_has_its_real_types() -> None:
    """No ``Any`` in the signatures of goldentime/services.py: a caller's mistake shows under mypy."""
    import ast
    from pathlib import Path

    import goldentime.services

    tree = ast.parse(Path(goldentime.services.__file__).read_text(encoding="utf-8"))
    loose = [
        f"{node.name}: {ast.unparse(annotation)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for annotation in [node.returns, *(a.annotation for a in (*node.args.args, *node.args.kwonlyargs))]
        if annotation is not None and "Any" in ast.unparse(annotation)
    ]
    assert loose == []
