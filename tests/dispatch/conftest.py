"""The bus and the dispatcher worker for the end-to-end tests of this package (test_service*.py): each runs
on the in-memory bus (no broker: the worker alone), on the embedded broker, and on the real broker when one
is configured. A test that needs a socket (a vendor's client, the recorder) is marked
:data:`tests.dispatch.bus.sockets_only`. And the decision engine alone, for the engine's tests (test_engine*.py;
their shared events and places are in tests.dispatch.engine_setup)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dispatch.engine import DispatchEngine
from dispatch.scenario import Prepared
from dispatch.service import Dispatcher
from dispatch.severity.model import TrainedSeverity
from telemetry.broker import EmbeddedBroker
from tests.conftest import EXTERNAL_MQTT, BrokerUnderTest
from tests.dispatch.bus import SOCKETS, Bus, connect, memory_broker
from tests.helpers import unique


@pytest.fixture(params=["memory", *SOCKETS])
def broker(request: pytest.FixtureRequest, embedded_broker: EmbeddedBroker) -> Iterator[BrokerUnderTest]:
    """The bus the worker runs on: in memory (telemetry.memory_bus), or a real broker."""
    if request.param == "memory":
        with memory_broker() as found:
            yield found
    elif request.param == "embedded":
        yield BrokerUnderTest("embedded", embedded_broker.url, "3.1.1")
    else:
        assert EXTERNAL_MQTT is not None
        yield BrokerUnderTest("external", EXTERNAL_MQTT, "5")


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
    d = Dispatcher(connect(broker, unique("dispatcher")), prepared, severity).start()
    yield d
    d.stop()


@pytest.fixture
def engine(prepared: Prepared, severity: TrainedSeverity) -> DispatchEngine:
    """A decision engine on the test scenario, epoch 1, working alone (no share group)."""
    return DispatchEngine(prepared, severity)
