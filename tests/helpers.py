"""Small helpers shared by the tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable


def unique(prefix: str) -> str:
    """An identifier no other test (or earlier run against a persistent broker) has used."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, every_s: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passed; return its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return predicate()
