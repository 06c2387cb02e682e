"""The bus and the dispatcher worker for the end-to-end tests of this package (test_service*.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dispatch.scenario import Prepared
from dispatch.service import Dispatcher
from dispatch.severity.model import TrainedSeverity
from telemetry.client import MqttClient
from tests.conftest import BrokerUnderTest
from tests.dispatch.bus import Bus
from tests.helpers import unique


@pytest.fixture
def bus(broker: BrokerUnderTest) -> Iterator[Bus]:
    b = Bus(broker)
    yield b
    b.clean()
    b.client.stop()


@pytest.fixture
def dispatcher(
    bus: Bus, broker: BrokerUnderTest, prepared: Prepared, severity: TrainedSeverity
) -> Iterator[Dispatcher]:
    """A dispatcher that starts with no centre having reported: what a test does not report, no earlier test
    (or earlier run against a persistent broker) reported either."""
    bus.forget_capacity([c.hpid for c in prepared.scenario.centres])
    client = MqttClient(broker.url, unique("dispatcher"), protocol=broker.protocol)
    d = Dispatcher(client, prepared, severity).start()
    yield d
    d.stop()
