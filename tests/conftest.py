"""Shared fixtures: the brokers and databases the integration tests run against.

The embedded broker and SQLite are always used. Setting ``GOLDENTIME_TEST_MQTT_URL`` (for
example ``mqtt://127.0.0.1:1883``) adds a real broker, and ``GOLDENTIME_TEST_DATABASE_URL``
(for example ``postgresql://postgres@127.0.0.1:5432/test``) adds a real PostgreSQL, on
which each test gets a database of its own. ``.ci/run`` sets both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from dispatch.scenario import Prepared
from dispatch.severity.model import TrainedSeverity
from goldentime.settings import default_data_dir
from loaders.scenarios import load_scenario, prepare
from loaders.severity import KTAS_FILE, train_from_file
from telemetry.broker import EmbeddedBroker
from telemetry.client import MqttClient
from telemetry.store import normalise_url
from tests.helpers import unique

EXTERNAL_MQTT = os.environ.get("GOLDENTIME_TEST_MQTT_URL") or None
EXTERNAL_DB = os.environ.get("GOLDENTIME_TEST_DATABASE_URL") or None


@dataclass(frozen=True)
class BrokerUnderTest:
    name: str
    url: str
    protocol: str


@pytest.fixture(scope="session")
def embedded_broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as broker:
        yield broker


@pytest.fixture(params=["embedded", *(["external"] if EXTERNAL_MQTT else [])])
def broker(request: pytest.FixtureRequest, embedded_broker: EmbeddedBroker) -> BrokerUnderTest:
    if request.param == "embedded":
        return BrokerUnderTest("embedded", embedded_broker.url, "3.1.1")
    assert EXTERNAL_MQTT is not None
    return BrokerUnderTest("external", EXTERNAL_MQTT, "5")


@pytest.fixture
def publisher(broker: BrokerUnderTest) -> Iterator[MqttClient]:
    """A plain client on ``broker``, for a test to publish with."""
    client = MqttClient(broker.url, unique("pub"), protocol=broker.protocol).start()
    yield client
    client.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'telemetry.sqlite3'}"


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the server of GOLDENTIME_TEST_DATABASE_URL, dropped afterwards."""
    assert EXTERNAL_DB is not None
    admin = sa.create_engine(normalise_url(EXTERNAL_DB), isolation_level="AUTOCOMMIT")
    name = f"goldentime_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(normalise_url(EXTERNAL_DB)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", *(["postgresql"] if EXTERNAL_DB else [])])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """Central Seoul on its real roads, prepared once per run (a module may define its own city)."""
    return prepare(load_scenario("seoul-central", default_data_dir()), cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def severity() -> TrainedSeverity:
    """The severity model, trained once per run from the KTAS data (fixed seeds)."""
    return train_from_file(default_data_dir() / KTAS_FILE)
