"""A burst ten times Mosquitto's default per-client queue, to a subscriber that falls behind:
lost on Mosquitto's defaults, delivered whole with the shipped queue settings
(deploy/mosquitto/mosquitto.conf, "Queues and limits") and the client's flow control (a
publisher that waits when its 1,000 in-flight messages are unacknowledged)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from goldentime.bench.mosquitto import private_mosquitto
from goldentime.mqtt_users import DEPLOY
from telemetry.client import Message, MqttClient
from tests.helpers import unique

pytestmark = pytest.mark.integration
BURST = 10_000  # ten times Mosquitto's default max_queued_messages (1,000)
QUEUE_SETTINGS = ("max_queued_messages", "max_queued_bytes", "max_inflight_messages")


def _burst_through(url: str) -> int:
    """Publish BURST QoS 1 messages as fast as the client's flow control lets it, to a subscriber
    that takes 0.5 ms a message; return how many it received."""
    received: set[bytes] = set()
    lock = threading.Lock()

    def slow(message: Message) -> None:
        time.sleep(0.0005)  # a consumer doing real work per message
        with lock:
            received.add(message.payload)

    topic = f"ems/units/{unique('U')}/vitals"
    subscriber = MqttClient(url, unique("slow"), on_message=slow, protocol="5")
    subscriber.subscribe(topic, qos=1)
    with subscriber, MqttClient(url, unique("burst"), protocol="5") as publisher:
        deliveries = [publisher.publish(topic, f"{n:06d}".encode(), qos=1) for n in range(BURST)]
        assert all(d.wait(60) for d in deliveries)  # the broker took every one
        count, changed = -1, time.monotonic()
        while len(received) < BURST and time.monotonic() - changed < 3.0:  # until all came, or nothing more does
            time.sleep(0.1)
            if len(received) != count:
                count, changed = len(received), time.monotonic()
    return len(received)


def test_a_burst_lost_on_mosquittos_defaults_arrives_whole_with_the_shipped_settings(tmp_path: Path) -> None:
    shipped = DEPLOY / "mosquitto.conf"
    defaults = tmp_path / "defaults.conf"
    lines = shipped.read_text().splitlines()
    defaults.write_text("\n".join(line for line in lines if not line.startswith(QUEUE_SETTINGS)) + "\n")

    with private_mosquitto(defaults) as url:
        on_defaults = _burst_through(url)
    with private_mosquitto(shipped) as url:
        on_shipped = _burst_through(url)
    print(f"\nburst of {BURST:,} QoS 1 messages to a slow subscriber: {on_defaults:,} delivered on Mosquitto's "
          f"defaults, {on_shipped:,} with the shipped settings")  # fmt: skip
    assert on_defaults < BURST  # the defaults do drop: the test would notice if they stopped to
    assert on_shipped == BURST
