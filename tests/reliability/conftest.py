"""Fixtures of the fault tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import unique
from tests.reliability.fleet import UNITS, Broker


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Broker, list[str]]]:
    """A private Mosquitto from the shipped configuration with accounts for the recorder, the dispatcher and
    UNITS units (their ids)."""
    units = [unique("U") for _ in range(UNITS)]
    broker = Broker(tmp_path, units)
    yield broker, units
    broker.stop()
