"""A QoS 1 message stays the broker's until the client acknowledges it: when the client takes
longer than amqtt's five seconds, and when its connection ends first (telemetry/broker_delivery.py)."""

from __future__ import annotations

import threading

import pytest

from telemetry.client import MqttClient
from tests.conftest import BrokerUnderTest
from tests.helpers import unique, wait_until
from tests.telemetry.broker_checks import Inbox

pytestmark = pytest.mark.integration


class Held:
    """A persistent-session subscriber that acknowledges nothing until told to."""

    def __init__(self, broker: BrokerUnderTest, client_id: str, topic: str) -> None:
        self.inbox = Inbox()
        self.client = MqttClient(broker.url, client_id, protocol=broker.protocol, clean_session=False,
                                 manual_ack=True, on_message=self.inbox)  # fmt: skip
        self.client.start()
        self.client.subscribe(topic, qos=1)

    def payloads(self) -> list[bytes]:
        return self.inbox.payloads()

    def ack_all(self) -> None:
        for m in list(self.inbox.messages):
            self.client.ack(m)


def comes_again(broker: BrokerUnderTest, client_id: str, topic: str, payload: bytes) -> bool:
    """Whether the session's next connection gets ``payload`` again; it is acknowledged then."""
    again = Held(broker, client_id, topic)
    try:
        came = wait_until(lambda: payload in again.payloads(), timeout_s=10)
        again.ack_all()
        return came
    finally:
        again.client.stop()


def test_a_message_unacknowledged_when_the_connection_ends_comes_again_on_the_next(
    broker: BrokerUnderTest, publisher: MqttClient
) -> None:
    client_id, topic = unique("held"), f"ems/test/{unique('t')}"
    first = Held(broker, client_id, topic)
    publisher.publish(topic, b"kept", qos=1).wait()
    assert wait_until(lambda: first.payloads() == [b"kept"])
    first.client.stop()  # disconnects without acknowledging
    assert comes_again(broker, client_id, topic, b"kept"), "the unacknowledged message was lost"


def test_a_consumer_slower_than_five_seconds_loses_nothing(broker: BrokerUnderTest, publisher: MqttClient) -> None:
    """amqtt dropped a message whose PUBACK took more than 5 s; the message must still be there when the
    slow consumer comes back, and, acknowledged then, not come a third time."""
    client_id, topic = unique("slow"), f"ems/test/{unique('t')}"
    slow = Held(broker, client_id, topic)
    publisher.publish(topic, b"slow", qos=1).wait()
    assert wait_until(lambda: slow.payloads()[:1] == [b"slow"])
    threading.Event().wait(6.5)  # past amqtt's five seconds, still unacknowledged
    slow.client.stop()
    assert comes_again(broker, client_id, topic, b"slow"), "the broker gave up on the message"
    done = Held(broker, client_id, topic)
    try:
        assert not wait_until(lambda: bool(done.payloads()), timeout_s=1.5)
    finally:
        done.client.stop()
