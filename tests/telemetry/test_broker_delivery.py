"""A QoS 1 message stays the broker's until the client acknowledges it: when the client takes
longer than amqtt's five seconds, and when its connection ends first (telemetry/broker_delivery.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler

from telemetry.broker import EmbeddedBroker
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


def comes_no_more(broker: BrokerUnderTest, client_id: str, topic: str, wait_s: float) -> bool:
    """Whether the session's next connection gets nothing within ``wait_s``."""
    done = Held(broker, client_id, topic)
    try:
        return not wait_until(lambda: bool(done.payloads()), timeout_s=wait_s)
    finally:
        done.client.stop()


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
    assert comes_no_more(broker, client_id, topic, wait_s=1.5)


@pytest.fixture
def late_to_notice(embedded_broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch) -> BrokerUnderTest:
    """The embedded broker, ending a closed connection's wait for PUBACKs two seconds late, so that
    the client is back while its message is still in flight on the old connection."""
    cancel = BrokerProtocolHandler._stop_waiters

    def two_seconds_late(self: BrokerProtocolHandler) -> None:
        asyncio.get_running_loop().call_later(2.0, cancel, self)

    monkeypatch.setattr(BrokerProtocolHandler, "_stop_waiters", two_seconds_late)
    return BrokerUnderTest("embedded", embedded_broker.url, "3.1.1")


def test_a_message_in_flight_when_the_client_comes_back_comes_again_once_and_holds_nothing_up(
    late_to_notice: BrokerUnderTest,
) -> None:
    """amqtt sent such a message again before it read anything from the new connection and waited
    up to 10 s for its PUBACK, so the client's SUBSCRIBE went unanswered (a client that acknowledges
    only once subscribed never got an answer) and the message was then dropped."""
    broker, topic = late_to_notice, f"ems/test/{unique('t')}"
    client_id = unique("back")
    publisher = MqttClient(broker.url, unique("pub"), protocol=broker.protocol).start()
    try:
        first = Held(broker, client_id, topic)
        publisher.publish(topic, b"in flight", qos=1).wait()
        assert wait_until(lambda: first.payloads() == [b"in flight"])
        first.client.stop()
        assert comes_again(broker, client_id, topic, b"in flight"), "the message in flight was lost"
        # past the old connection's end, which must not send the acknowledged message a third time
        assert comes_no_more(broker, client_id, topic, wait_s=3)
    finally:
        publisher.stop()
