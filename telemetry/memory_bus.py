"""An in-process bus for tests and benchmarks, like httpx's ``MockTransport``: :class:`MemoryBroker` keeps
the retained messages and the subscriptions, :class:`MemoryBus` is one client of it and satisfies
:class:`telemetry.bus.Bus`, so a service written against the bus runs on it unchanged, with no socket.

MQTT's rules as far as a service can tell: topic filters with ``+`` and ``#`` (``$`` topics only for
filters naming their first level), retained messages (an empty retained payload clears one, and is
delivered to the subscribers of the moment), retained messages delivered on subscribing, shared
subscriptions (``$share/{group}/{filter}``: each message to one member of the group, in turn), QoS
downgraded to the subscription's. A message is delivered at once, on the publisher's thread, to each
client started and subscribed; :meth:`MemoryBus.ack` records what was acknowledged.
"""

from __future__ import annotations

import itertools
import logging
import threading

from telemetry import schemas, topics
from telemetry.access import matches
from telemetry.bus import MessageHandler
from telemetry.client import Message, PublishError

log = logging.getLogger(__name__)

_SHARE = "$share/"


class Done:
    """A published message: the in-memory broker took it at once."""

    __slots__ = ()

    def wait(self, timeout_s: float = 10.0) -> bool:
        return True


_DONE = Done()


class MemoryBroker:
    """The broker: retained messages and the subscriptions of its clients."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: list[MemoryBus] = []
        self._retained: dict[str, tuple[bytes, int]] = {}
        self._mids = itertools.count(1)
        self._turns: dict[tuple[str, str], int] = {}  # shared subscription -> messages delivered to it

    def retained(self, topic: str) -> bytes | None:
        """The retained payload of ``topic``, or None."""
        with self._lock:
            kept = self._retained.get(topic)
        return None if kept is None else kept[0]

    def _connect(self, client: MemoryBus) -> None:
        with self._lock:
            if client not in self._clients:
                self._clients.append(client)

    def _disconnect(self, client: MemoryBus) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)

    def _kept_for(self, topic_filter: str, qos: int) -> list[Message]:
        """The retained messages a new subscription gets (none for a shared subscription)."""
        if topic_filter.startswith(_SHARE):
            return []
        with self._lock:
            return [
                Message(topic, payload, min(kept_qos, qos), True, next(self._mids))
                for topic, (payload, kept_qos) in self._retained.items()
                if matches(topic_filter, topic)
            ]

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if not topic or "+" in topic or "#" in topic:
            raise PublishError(f"publish to {topic!r} failed: not a topic name")
        deliveries: list[tuple[MemoryBus, Message]] = []
        with self._lock:
            if retain and payload:
                self._retained[topic] = (payload, qos)
            elif retain:
                self._retained.pop(topic, None)
            groups: dict[tuple[str, str], list[MemoryBus]] = {}  # shared subscription -> its members
            for client in self._clients:
                best: int | None = None
                for topic_filter, granted in client.subscriptions.items():
                    if topic_filter.startswith(_SHARE):
                        name, _, plain = topic_filter[len(_SHARE) :].partition("/")
                        if matches(plain, topic):
                            groups.setdefault((name, plain), []).append(client)
                    elif matches(topic_filter, topic):
                        best = granted if best is None else max(best, granted)
                if best is not None:
                    deliveries.append((client, Message(topic, payload, min(qos, best), False, next(self._mids))))
            for key, members in groups.items():
                turn = self._turns.get(key, 0)
                self._turns[key] = turn + 1
                member = members[turn % len(members)]
                granted = member.subscriptions[f"{_SHARE}{key[0]}/{key[1]}"]
                deliveries.append((member, Message(topic, payload, min(qos, granted), False, next(self._mids))))
        for client, message in deliveries:
            client._deliver(message)


class MemoryBus:
    """One client of a :class:`MemoryBroker`, with :class:`telemetry.client.MqttClient`'s interface."""

    def __init__(self, broker: MemoryBroker, client_id: str, *, on_message: MessageHandler | None = None) -> None:
        self.broker = broker
        self.client_id = client_id
        #: Called on the publisher's thread for every message; may be replaced before start().
        self.on_message = on_message
        self.subscriptions: dict[str, int] = {}
        self.acked: list[Message] = []
        self._started = False
        self._lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> MemoryBus:
        """Connect: from now on, messages are delivered; the retained ones of every subscription come first."""
        if not self._started:
            self._started = True
            self.broker._connect(self)
            for topic_filter, qos in list(self.subscriptions.items()):
                for message in self.broker._kept_for(topic_filter, qos):
                    self._deliver(message)
        return self

    def stop(self) -> None:
        self._started = False
        self.broker._disconnect(self)

    def __enter__(self) -> MemoryBus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._started

    @property
    def connection(self) -> int | None:
        """One connection for as long as it is started (an in-process bus never drops it)."""
        return 1 if self._started else None

    def describe(self) -> str:
        return f"memory bus ({self.client_id})"

    # --- subscribing and receiving -----------------------------------------------------------------

    def subscribe(self, topic_filter: str, qos: int = 1, timeout_s: float = 10.0) -> None:
        """Subscribe; when connected, the retained messages the filter matches are delivered at once."""
        self.subscriptions[topic_filter] = qos
        if self._started:
            for message in self.broker._kept_for(topic_filter, qos):
                self._deliver(message)

    def ack(self, message: Message) -> None:
        with self._lock:
            self.acked.append(message)

    def _deliver(self, message: Message) -> None:
        handler = self.on_message
        if handler is None:
            return
        try:
            handler(message)
        except Exception:
            log.exception(
                "handler of %s failed on a message on %s; message acknowledged", self.client_id, message.topic
            )
            self.ack(message)

    # --- publishing --------------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> Done:
        self.broker._publish(topic, payload, qos, retain)
        return _DONE

    def send(self, topic: topics.Topic, payload: schemas.Payload) -> Done:
        """Publish a payload on a contract topic with the contract's QoS and retain flag."""
        if not isinstance(payload, schemas.MODELS[topic.kind]):
            raise PublishError(f"a {type(payload).__name__} cannot be published on {topic}")
        route = topic.route
        return self.publish(str(topic), schemas.encode(payload), qos=route.qos, retain=route.retained)

    def clear_retained(self, topic: str) -> Done:
        """Remove a retained message (an empty retained payload)."""
        return self.publish(topic, b"", qos=1, retain=True)
