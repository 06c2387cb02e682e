"""Checks that a broker enforces :mod:`telemetry.access`, run against the embedded broker
(tests/telemetry/test_broker_auth.py) and a Mosquitto started with deploy/mosquitto/
(tests/deploy/test_mosquitto_acl.py).

No check waits for something *not* to happen: each publishes the message that must not arrive
first and one that must arrive after it, from the same client, on a QoS 1 path that keeps order;
once the second is in, the first would be too.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from goldentime.mqtt_users import userinfo
from telemetry import topics
from telemetry.access import Account, Role
from telemetry.client import ConnectError, Message, MqttClient
from tests.helpers import wait_until

U1, U2 = Account(Role.UNIT, "U1"), Account(Role.UNIT, "U2")
H1 = Account(Role.CENTRE, "H1")
SERVICES = [Account(role) for role in Role if role not in (Role.UNIT, Role.CENTRE)]
ACCOUNTS = [U1, U2, H1, *SERVICES]
ADMIN = Account(Role.ADMIN)
#: Every contract topic with ids that belong to an account above and ids that belong to nobody.
CONTRACT_TOPICS = [
    topics.build(kind, key) for kind in topics.Kind for key in ("U1", "U2", "H1", "H2", "dispatcher", "recorder")
]


class Inbox:
    """What a client received, in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)

    def topics(self) -> list[str]:
        with self._lock:
            return [m.topic for m in self.messages]

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [m.payload for m in self.messages]


class Bench:
    """Clients of one broker, logging in with the accounts' passwords; stopped on close."""

    def __init__(self, host: str, port: int, passwords: dict[str, str]) -> None:
        self.host, self.port, self.passwords = host, port, passwords
        self._stack = ExitStack()

    def url(self, username: str, password: str | None = None) -> str:
        secret = self.passwords[username] if password is None else password
        return f"mqtt://{userinfo(username, secret)}@{self.host}:{self.port}"

    def client(
        self,
        account: Account,
        *,
        inbox: Inbox | None = None,
        subscribe: tuple[str, ...] = (),
        client_id: str | None = None,
        will: tuple[str, bytes] | None = None,
        start_timeout_s: float = 10,
    ) -> MqttClient:
        client_id = client_id or f"t-{uuid.uuid4().hex[:10]}"
        client = MqttClient(self.url(account.username), client_id, on_message=inbox, protocol="3.1.1", will=will)
        for topic_filter in subscribe:
            client.subscribe(topic_filter)
        self._stack.callback(client.stop)
        return client.start(start_timeout_s)

    def close(self) -> None:
        self._stack.close()


def connack(
    host: str,
    port: int,
    username: str | None,
    password: str | None,
    client_id: str,
    *,
    clean_session: bool = True,
    will_topic: str | None = None,
) -> int:
    """Connect once with paho and return the CONNACK return code (0 = accepted)."""
    answered = threading.Event()
    code: list[int] = []

    def on_connect(client: paho.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        code.append(int(getattr(reason, "value", reason)))  # type: ignore[call-overload]
        answered.set()

    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session
    )
    if will_topic is not None:
        client.will_set(will_topic, b"planted", qos=1, retain=True)
    if username is not None:
        client.username_pw_set(username, password)
    client.on_connect = on_connect
    client.connect(host, port)
    client.loop_start()
    try:
        assert answered.wait(10), "no CONNACK"
    finally:
        client.loop_stop()
        client.disconnect()
    return code[0]


@contextmanager
def bench(host: str, port: int, passwords: dict[str, str]) -> Iterator[Bench]:
    made = Bench(host, port, passwords)
    try:
        yield made
    finally:
        made.close()


# --- the checks --------------------------------------------------------------------------------


def wrong_password_is_refused(b: Bench) -> None:
    assert connack(b.host, b.port, U1.username, b.passwords[U1.username] + "x", "t-wrong") != 0
    assert connack(b.host, b.port, "units/U9", "whatever", "t-unknown") != 0
    assert connack(b.host, b.port, None, None, "t-anonymous") != 0
    assert connack(b.host, b.port, U1.username, b.passwords[U1.username], "t-right") == 0


def unit_cannot_publish_as_another_unit(b: Bench) -> None:
    inbox = Inbox()
    b.client(ADMIN, inbox=inbox, subscribe=("ems/units/#",))
    unit = b.client(U1)
    forged = unit.publish("ems/units/U2/vitals", b"forged", qos=1)
    own = unit.publish("ems/units/U1/vitals", b"own", qos=1)
    assert forged.wait(10) and own.wait(10)  # both brokers acknowledge the refused publish too
    assert wait_until(lambda: b"own" in inbox.payloads())
    assert inbox.topics() == ["ems/units/U1/vitals"]
    assert unit.connected and unit.reconnects == 0  # refused, not disconnected


def every_publish_follows_the_rules(b: Bench) -> None:
    """Every account publishes on every contract topic; the admin sees exactly what the rules allow.

    Each batch ends with an allowed "end" message from the same client, which arrives after the
    rest of that batch (amqtt acknowledges a publish before it passes it on, so an admin's marker
    alone would not do). The dashboard may publish nothing: the admin's own marker closes its
    batch, which Mosquitto (it passes a publish on before acknowledging it) makes exact."""
    inbox = Inbox()
    admin = b.client(ADMIN, inbox=inbox, subscribe=("#",))
    ends = set()
    for account in ACCOUNTS:
        if account == ADMIN:
            continue
        client = b.client(account)
        sent = [client.publish(t, account.username.encode(), qos=1) for t in CONTRACT_TOPICS]
        allowed = [t for t in CONTRACT_TOPICS if account.may_publish(t)]
        if allowed:
            ends.add(f"end {account.username}".encode())
            sent.append(client.publish(allowed[0], f"end {account.username}".encode(), qos=1))
        assert all(delivery.wait(10) for delivery in sent)
    assert admin.publish("done", b"done", qos=1).wait(10)
    assert wait_until(lambda: {b"done", *ends} <= set(inbox.payloads()))
    received = {(m.payload.decode(), m.topic) for m in inbox.messages if m.payload not in {b"done", *ends}}
    expected = {(a.username, t) for a in ACCOUNTS if a != ADMIN for t in CONTRACT_TOPICS if a.may_publish(t)}
    assert received == expected, sorted(received ^ expected)


def _received_all(inbox: Inbox, count: int) -> Callable[[], bool]:
    return lambda: len(inbox.topics()) >= count


def every_delivery_follows_the_rules(b: Bench) -> None:
    """Every account but capacity-api (which reads nothing) subscribes to everything; each receives
    exactly what the rules let it read."""
    readers = [a for a in ACCOUNTS if a != ADMIN and a.reads()]
    assert len(readers) == len(ACCOUNTS) - 2
    inboxes = {account: Inbox() for account in readers}
    for account, inbox in inboxes.items():
        b.client(account, inbox=inbox, subscribe=("#",))
    admin = b.client(ADMIN)
    for _ in range(2):  # the second round tells when the first one is complete
        assert all(d.wait(10) for d in [admin.publish(t, b"x", qos=1) for t in CONTRACT_TOPICS])
    for account, inbox in inboxes.items():
        expected = [t for t in CONTRACT_TOPICS if account.may_read(t)]
        assert expected, account.username
        assert wait_until(_received_all(inbox, 2 * len(expected))), account.username
        assert inbox.topics()[: len(expected)] == expected, account.username


def unit_gets_only_its_own_retained_advice(b: Bench) -> None:
    """Retained advice for U1 and then U2; U2, subscribing to every unit's advice, gets only its own
    (U1's, if leaked, would come first)."""
    seen = Inbox()
    dispatcher = b.client(Account(Role.DISPATCHER), inbox=seen, subscribe=(topics.subscription(topics.Kind.ADVICE),))
    advice = [topics.build(topics.Kind.ADVICE, unit) for unit in ("U1", "U2")]
    for topic in advice:
        assert dispatcher.publish(topic, f"retained {topic}".encode(), qos=1, retain=True).wait(10)
    # amqtt acknowledges before it delivers: once the dispatcher has its own two back, they are
    # only retained messages, and U2 cannot also get them live
    assert wait_until(lambda: len(seen.topics()) == 2)
    try:
        inbox = Inbox()
        b.client(U2, inbox=inbox, subscribe=(topics.subscription(topics.Kind.ADVICE),))
        assert wait_until(lambda: len(inbox.payloads()) >= 1)
        assert inbox.topics() == [advice[1]], inbox.topics()
    finally:
        for topic in advice:
            assert dispatcher.clear_retained(topic).wait(10)


def unit_reads_only_its_own_refusals(b: Bench) -> None:
    """The dispatcher reports a refusal for the operators and then one to U1 and one to U2 on
    ``ems/units/{unit}/rejected``; each unit, subscribed to every unit's refusals and to the operators'
    ``ems/rejected/#``, gets exactly its own (the operators' report, and U1's, would reach U2 first).
    That a unit cannot write there is part of :func:`every_publish_follows_the_rules`."""
    inboxes = {unit: Inbox() for unit in (U1, U2)}
    for unit, inbox in inboxes.items():
        b.client(unit, inbox=inbox, subscribe=(topics.subscription(topics.Kind.UNIT_REJECTED),))
        # The operators' refusals: the embedded broker refuses the subscription (the client tries again in the
        # background and its start says so), Mosquitto grants it and delivers nothing; either way nothing arrives.
        with contextlib.suppress(ConnectError):
            b.client(unit, inbox=inbox, subscribe=("ems/rejected/#",), start_timeout_s=3)
    dispatcher = b.client(Account(Role.DISPATCHER))
    own = {unit: topics.build(topics.Kind.UNIT_REJECTED, unit.id or "") for unit in inboxes}
    sent = [dispatcher.publish("ems/rejected/dispatcher", b"for operators", qos=1)]
    sent += [dispatcher.publish(topic, f"for {topic}".encode(), qos=1) for topic in own.values()]
    assert all(delivery.wait(10) for delivery in sent)
    for unit, inbox in inboxes.items():
        assert wait_until(_received_all(inbox, 1)), unit.username
        assert inbox.topics() == [own[unit]], (unit.username, inbox.topics())
        assert inbox.payloads() == [f"for {own[unit]}".encode()]


def stranger_cannot_take_a_session_over(b: Bench) -> None:
    """A wrong password with a service's client id, clean or persistent, neither disconnects the
    service nor changes what it receives."""
    inbox = Inbox()
    service = b.client(Account(Role.DISPATCHER), inbox=inbox, subscribe=("ems/incidents/+",), client_id="t-service")
    for clean in (True, False):
        code = connack(b.host, b.port, "dispatcher", "wrong", "t-service", clean_session=clean, will_topic="ems/x")
        assert code != 0
    assert b.client(ADMIN).publish("ems/incidents/I1", b"after", qos=1).wait(10)
    assert wait_until(lambda: b"after" in inbox.payloads())
    assert service.reconnects == 0
