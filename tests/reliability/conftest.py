"""Fixtures of the fault tests: private Mosquittos (tests.reliability.fleet.Broker), for units with their own
accounts (`fleet`) or for a region's dispatcher processes and the test's own client (`region_broker`); the var
directory those processes share; the regions a test started, stopped after it.

The broker of a region is not called `broker`: that name is tests/conftest.py's broker under test, which other
modules of this package run on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch.severity.model import TrainedSeverity
from goldentime.settings import default_data_dir
from loaders.scenarios import load_scenario, prepare
from loaders.severity import KTAS_FILE, save
from telemetry.access import Account, Role
from tests.helpers import unique
from tests.reliability.fleet import UNITS, Broker, Region


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Broker, list[str]]]:
    """A private Mosquitto from the shipped configuration with accounts for the recorder, the dispatcher and
    UNITS units (their ids)."""
    units = [unique("U") for _ in range(UNITS)]
    broker = Broker(tmp_path, [Account(Role.RECORDER), Account(Role.DISPATCHER),
                               *(Account(Role.UNIT, u) for u in units)])  # fmt: skip
    yield broker, units
    broker.stop()


@pytest.fixture
def region_broker(tmp_path: Path) -> Iterator[Broker]:
    """A private Mosquitto from the shipped configuration with a dispatcher account (a region's processes) and an
    admin account for the test's own client (the units, centres and call takers of the test: a Fleet)."""
    broker = Broker(tmp_path / "mosquitto", [Account(Role.DISPATCHER), Account(Role.ADMIN)])
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory, severity: TrainedSeverity) -> Path:
    """A var directory with the severity model saved and the road index cached, shared by the processes (each
    would otherwise train and build its own)."""
    var = tmp_path_factory.mktemp("var")
    data = default_data_dir()
    save(severity, var / "models", data / KTAS_FILE)
    prepare(load_scenario("seoul-central", data), cache_dir=var / "cache")
    return var


@pytest.fixture
def region_of() -> Iterator[list[Region]]:
    """The regions a test made (tests.reliability.fleet.new_region), stopped after it."""
    made: list[Region] = []
    yield made
    for region in made:
        region.stop()
