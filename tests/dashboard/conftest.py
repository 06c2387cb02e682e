"""Dashboard fixtures: a dashboard on a real broker — the environment the pages read, the one
live feed they share, and a client that publishes as the units and the dispatcher would."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import streamlit as st

from dashboard import common
from dashboard.feed import LiveFeed
from telemetry import schemas, topics
from telemetry.client import Message, MqttClient
from tests.conftest import BrokerUnderTest
from tests.helpers import unique, wait_until

PAGES = Path(__file__).resolve().parents[2] / "dashboard" / "pages"
SCENARIO = "seoul-central"


@dataclass
class Bus:
    feed: LiveFeed
    client: MqttClient
    retained: list[str] = field(default_factory=list)

    def send(self, kind: topics.Kind, key: str, payload: schemas.Payload) -> None:
        assert self.client.send(topics.Topic(kind, key), payload).wait(5)
        if topics.CONTRACT[kind].retained:
            self.retained.append(topics.build(kind, key))


def _clear_leftover_requests(broker: BrokerUnderTest) -> None:
    """A shared broker keeps the retained transfer requests other tests left (their dispatchers publish after
    their clean-up): the pages would count them as this test's. Clear them first. Retained messages come on
    subscribing, before a message published after it, so a marker published then says all have come."""
    found: set[str] = set()
    marker = topics.build(topics.Kind.INCIDENT, unique("sweep"))

    def seen(message: Message) -> None:
        found.add(message.topic if message.payload else "")

    sweeper = MqttClient(broker.url, unique("sweep"), protocol=broker.protocol, on_message=seen)
    for kind in (topics.Kind.REQUESTS, topics.Kind.REQUEST_STATE):
        sweeper.subscribe(topics.subscription(kind), qos=1)
    sweeper.subscribe(marker, qos=1)
    sweeper.start()
    try:
        incident = schemas.Incident.new(lat=37.57, lon=126.98, category="sweep", priority=5)
        assert sweeper.publish(marker, schemas.encode(incident), qos=1).wait(5)
        assert wait_until(lambda: marker in found)
        for topic in found - {marker, ""}:
            assert sweeper.clear_retained(topic).wait(5)
    finally:
        sweeper.stop()


@pytest.fixture
def bus(broker: BrokerUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    for name, value in {
        "MQTT_URL": broker.url,
        "MQTT_PROTOCOL": broker.protocol,
        "VAR_DIR": str(tmp_path),
        "SCENARIO": SCENARIO,
        "CLOCK_SPEED": "1",
    }.items():
        monkeypatch.setenv(f"GOLDENTIME_{name}", value)
    _clear_leftover_requests(broker)
    st.cache_resource.clear()
    feed = common.feed(broker.url)  # the one the pages will find in the resource cache
    client = MqttClient(broker.url, unique("units"), protocol=broker.protocol).start()
    bus = Bus(feed, client)
    try:
        yield bus
    finally:
        for topic in bus.retained:  # a real broker keeps them across runs
            client.clear_retained(topic).wait(5)
        client.stop()
        feed.stop()
        st.cache_resource.clear()
