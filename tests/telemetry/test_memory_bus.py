"""The in-memory bus: MQTT's topic filters, retained messages, shared subscriptions and QoS, with no socket;
and both it and the MQTT client are a :class:`telemetry.bus.Bus` (mypy checks :func:`_as_bus`)."""

from __future__ import annotations

import pytest

from telemetry import schemas, topics
from telemetry.bus import Bus
from telemetry.client import Message, MqttClient, PublishError
from telemetry.memory_bus import MemoryBroker, MemoryBus


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def topics(self) -> list[str]:
        return [m.topic for m in self.messages]


def _as_bus(client: MqttClient | MemoryBus) -> Bus:
    """Both clients satisfy the protocol (a type error here otherwise)."""
    return client


def client(broker: MemoryBroker, *filters: str, qos: int = 1, start: bool = True) -> tuple[MemoryBus, Inbox]:
    inbox = Inbox()
    bus = MemoryBus(broker, f"c{len(filters)}", on_message=inbox)
    for topic_filter in filters:
        bus.subscribe(topic_filter, qos=qos)
    return (bus.start() if start else bus), inbox


def test_topic_filters_with_plus_and_hash() -> None:
    broker = MemoryBroker()
    _, vitals = client(broker, "ems/units/+/vitals")
    _, everything = client(broker, "ems/#")
    _, everyone = client(broker, "#")
    sender = MemoryBus(broker, "sender").start()
    for topic in ("ems/units/u1/vitals", "ems/units/u1/position", "ems/units/u1/vitals/extra", "ems", "$SYS/load"):
        sender.publish(topic, b"x", qos=1)
    assert vitals.topics == ["ems/units/u1/vitals"]
    assert everything.topics == ["ems/units/u1/vitals", "ems/units/u1/position", "ems/units/u1/vitals/extra", "ems"]
    assert "$SYS/load" not in everyone.topics and len(everyone.topics) == 4  # "#" never matches a $ topic
    with pytest.raises(PublishError):
        sender.publish("ems/units/+/vitals", b"x", qos=1)


def test_retained_messages_are_kept_delivered_on_subscribing_and_cleared_by_an_empty_one() -> None:
    broker = MemoryBroker()
    _, live = client(broker, "ems/units/+/advice")
    sender = MemoryBus(broker, "sender").start()
    sender.publish("ems/units/u1/advice", b"v1", qos=1, retain=True)
    sender.publish("ems/units/u2/advice", b"v1", qos=1, retain=True)
    sender.publish("ems/units/u1/advice", b"v2", qos=1, retain=True)
    assert [(m.payload, m.retained) for m in live.messages] == [(b"v1", False)] * 2 + [(b"v2", False)]
    _, late = client(broker, "ems/units/+/advice")
    assert sorted((m.topic, m.payload, m.retained) for m in late.messages) == [
        ("ems/units/u1/advice", b"v2", True),
        ("ems/units/u2/advice", b"v1", True),
    ]
    sender.clear_retained("ems/units/u1/advice")
    assert live.messages[-1].payload == b""  # subscribers of the moment see the clearing message
    assert broker.retained("ems/units/u1/advice") is None and broker.retained("ems/units/u2/advice") == b"v1"
    _, later = client(broker, "ems/units/u1/advice")
    assert later.messages == []


def test_nothing_arrives_before_start_and_the_retained_come_first_on_start() -> None:
    broker = MemoryBroker()
    sender = MemoryBus(broker, "sender").start()
    sender.publish("ems/hospitals/h1/capacity", b"kept", qos=1, retain=True)
    bus, inbox = client(broker, "ems/hospitals/+/capacity", start=False)
    sender.publish("ems/hospitals/h2/capacity", b"live", qos=1)
    assert inbox.messages == []
    bus.start()
    assert [(m.payload, m.retained) for m in inbox.messages] == [(b"kept", True)]
    bus.stop()
    sender.publish("ems/hospitals/h3/capacity", b"after", qos=1)
    assert len(inbox.messages) == 1 and not bus.connected


def test_a_shared_subscription_gives_each_message_to_one_member_in_turn() -> None:
    broker = MemoryBroker()
    sender = MemoryBus(broker, "sender").start()
    sender.publish("ems/units/u0/vitals", b"retained", qos=1, retain=True)
    members = [client(broker, "$share/workers/ems/units/+/vitals") for _ in range(2)]
    _, plain = client(broker, "ems/units/+/vitals")
    plain.messages.clear()
    for i in range(6):
        sender.publish(f"ems/units/u{i}/vitals", str(i).encode(), qos=1)
    got = [[m.payload for m in inbox.messages] for _, inbox in members]
    assert got == [[b"0", b"2", b"4"], [b"1", b"3", b"5"]]  # no retained message for a shared subscription
    assert len(plain.messages) == 6  # an ordinary subscription still gets every one


def test_qos_is_the_lower_of_the_publication_and_the_subscription() -> None:
    broker = MemoryBroker()
    _, zero = client(broker, "ems/#", qos=0)
    _, one = client(broker, "ems/#", qos=1)
    sender = MemoryBus(broker, "sender").start()
    sender.publish("ems/a", b"x", qos=1)
    sender.publish("ems/b", b"x", qos=0)
    assert [m.qos for m in zero.messages] == [0, 0] and [m.qos for m in one.messages] == [1, 0]


def test_send_follows_the_contract_and_a_failing_handler_acknowledges_and_others_still_receive() -> None:
    broker = MemoryBroker()

    def fail(message: Message) -> None:
        raise RuntimeError(f"cannot handle {message.topic}")

    failing = MemoryBus(broker, "failing", on_message=fail)
    failing.subscribe("ems/units/+/status")
    failing.start()
    _, inbox = client(broker, "ems/units/+/status")
    sender = MemoryBus(broker, "sender").start()
    status = schemas.Status.new(status=schemas.UnitStatus.AVAILABLE)
    assert sender.send(topics.Topic(topics.Kind.STATUS, "u1"), status).wait(0)
    (received,) = inbox.messages
    assert (received.qos, schemas.decode(topics.Kind.STATUS, received.payload)) == (1, status)
    assert broker.retained("ems/units/u1/status") == received.payload  # status is retained by the contract
    assert [m.topic for m in failing.acked] == ["ems/units/u1/status"]
    with pytest.raises(PublishError):
        sender.send(topics.Topic(topics.Kind.VITALS, "u1"), status)
    assert _as_bus(sender) is sender
