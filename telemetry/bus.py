"""What a service needs of the bus: :class:`Bus`, a protocol that :class:`telemetry.client.MqttClient`
(paho, a real broker) and :class:`telemetry.memory_bus.MemoryBus` (in-process, for tests) both satisfy.

Messages are delivered to ``on_message`` (set before :meth:`Bus.start`), on the bus's own thread;
a service that acknowledges by hand (``manual_ack``) calls :meth:`Bus.ack` once a message is handled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from telemetry import schemas, topics
from telemetry.client import Message

MessageHandler = Callable[[Message], None]


class Sent(Protocol):
    """Handle of one published message."""

    def wait(self, timeout_s: float = 10.0) -> bool:
        """Block until the bus took the message; False on timeout."""
        ...


class Bus(Protocol):
    """A connection to the bus."""

    on_message: MessageHandler | None

    def start(self, timeout_s: float = 10.0) -> object:
        """Connect (and subscribe); raise when that fails."""
        ...

    def stop(self) -> None: ...

    @property
    def connection(self) -> int | None:
        """The number of the current connection (a new one after each reconnect); None while not connected."""
        ...

    def subscribe(self, topic_filter: str, qos: int = 1, timeout_s: float = 10.0) -> None: ...

    def ack(self, message: Message) -> None: ...

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> Sent: ...

    def send(self, topic: topics.Topic, payload: schemas.Payload) -> Sent: ...

    def clear_retained(self, topic: str) -> Sent: ...


__all__ = ["Bus", "Message", "MessageHandler", "Sent"]
