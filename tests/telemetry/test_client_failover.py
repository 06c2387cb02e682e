"""The MQTT client on the nodes of a broker cluster (issue 26, item 5): several broker URLs, failover at once to the
next node (back-off only after a full round), refused subscriptions tried again until granted, and no
acknowledgement sent on a connection other than the one its message came on.

Private brokers only: Mosquitto processes started here (killed with SIGKILL), the embedded broker (amqtt), and
small fake brokers written here for what no real broker does on demand (a CONNECT closed or left unanswered, a
subscription refused for good). ``.venv/bin/pytest -s tests/telemetry/test_client_failover.py`` prints the
failover figure (``FIGURE ...``)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from amqtt.contexts import Action

import telemetry.client
from goldentime.bench.mosquitto import free_port, start_mosquitto
from goldentime.mqtt_users import userinfo, write_broker_files
from telemetry import schemas, topics
from telemetry.access import Account, Role
from telemetry.broker import EmbeddedBroker
from telemetry.broker_auth import AccessRulesPlugin
from telemetry.client import BrokerAddress, BrokerUrlError, ConnectError, Message, MqttClient, parse_broker_urls
from tests.helpers import unique, wait_until

pytestmark = pytest.mark.integration

SECRET = "s3cret-Pa55"


class Inbox:
    """What a client received, with the node that delivered each message and when (time.monotonic())."""

    def __init__(self, client: MqttClient | None = None) -> None:
        self.client = client
        self._lock = threading.Lock()
        self.received: list[tuple[float, int, Message]] = []

    def __call__(self, message: Message) -> None:
        port = self.client.address.port if self.client is not None else 0
        with self._lock:
            self.received.append((time.monotonic(), port, message))

    def messages(self) -> list[Message]:
        with self._lock:
            return [m for _, _, m in self.received]

    def payloads(self) -> list[bytes]:
        return [m.payload for m in self.messages()]


def drop_connection(client: MqttClient) -> None:
    """The network drops under ``client``: no DISCONNECT is sent, paho sees its socket closed."""
    sock = client._client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)


# --- several broker URLs --------------------------------------------------------------------------------------


def test_a_list_of_broker_urls_is_read_in_order() -> None:
    one = "mqtts://units%2FU1:p%40ss@broker.example"
    assert parse_broker_urls(one) == (BrokerAddress.parse(one),)  # one URL: as before
    comma = parse_broker_urls(" mqtt://h1:1883, mqtt://h2:1884 ,mqtt://h3 ")
    assert [(n.host, n.port) for n in comma] == [("h1", 1883), ("h2", 1884), ("h3", 1883)]
    assert parse_broker_urls(["mqtt://h1:1883", "mqtt://h2:1884", "mqtt://h3"]) == comma
    # each node has its own account; a comma (or ",mqtt:" short of "//") inside a password does not split the list
    nodes = parse_broker_urls(f"mqtt://dispatcher:{SECRET},x@h1:1883,mqtt://dispatcher:other@h2:1883")
    assert [(n.username, n.password) for n in nodes] == [("dispatcher", f"{SECRET},x"), ("dispatcher", "other")]


@pytest.mark.parametrize(
    ("urls", "said"),
    [
        ("", "no broker URL given"),
        ([], "no broker URL given"),
        ("mqtt://h1:1883,mqtt://h2:99999", "broker URL 'mqtt://h2:99999' has an invalid port (URL 2 of 2 in the list)"),
        (
            "mqtt://h1:1883,http://h2:1883",
            "broker URL 'http://h2:1883' must start with mqtt:// or mqtts:// (URL 2 of 2",
        ),
        (
            "mqtt://h1:1883,h2:1883",
            "broker URL 'mqtt://h1:1883,h2:1883' has an invalid port (for several brokers "
            "give each its URL: mqtt://h1:1883,mqtt://h2:1883)",
        ),
        ("mqtt://h1,h2", "broker URL 'mqtt://h1,h2' has an invalid host (for several brokers give each its URL"),
        (",mqtt://h1:1883", "has an empty entry (URL 1 of 2 in the list)"),
        ("mqtt://h1:1883,mqtt://h1:1883", "broker URL list names mqtt://h1:1883 twice"),
        ("mqtts://h1,mqtt://h2", "broker URL list mixes mqtts:// and mqtt:// (mqtt://h2:1883 without TLS)"),
        (f"mqtt://u:{SECRET}@h1,mqtt://h2", "gives an account on some URLs only (mqtt://h2:1883 without)"),
        (f"mqtt://u:{SECRET}@h1,mqtt://u:{SECRET}@h2:0x1", "broker URL 'mqtt://u:***@h2:0x1' has an invalid port"),
    ],
)
def test_a_bad_list_of_broker_urls_is_one_clear_line_without_the_password(urls: str | list[str], said: str) -> None:
    with pytest.raises(BrokerUrlError) as refused:
        parse_broker_urls(urls)
    text = str(refused.value)
    assert said in text
    assert "\n" not in text and SECRET not in text
    with pytest.raises(BrokerUrlError):
        MqttClient(urls, unique("bad"))


class _ClosesConnect:
    """A 'node' that takes the TCP connection and closes it on the CONNECT, unanswered (as a NATS node does with a
    session it cannot load while its cluster elects a leader). ``connects`` counts the CONNECTs it read."""

    def __init__(self) -> None:
        self.connects = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"mqtt://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._server.accept()
                with conn:
                    if conn.recv(1024):
                        self.connects += 1

    def close(self) -> None:
        self._server.close()


@pytest.mark.parametrize("first", ["refuses", "closes", "never-answers"])
def test_a_failing_first_node_is_left_at_once_for_the_next(
    first: str, embedded_broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first node refuses the TCP connection, closes the CONNECT unanswered, or leaves it unanswered (a hung
    node whose kernel still accepts connections): the client goes on to the second node without a back-off (it
    is 60 s here, past the start's time-out) and says which node it uses."""
    monkeypatch.setattr(telemetry.client, "CONNECT_ANSWER_WAIT_S", 1.0)
    stack = contextlib.ExitStack()
    if first == "refuses":
        dead_url = f"mqtt://127.0.0.1:{free_port()}"
    elif first == "closes":
        closes = _ClosesConnect()
        stack.callback(closes.close)
        dead_url = closes.url
    else:
        silent = stack.enter_context(socket.create_server(("127.0.0.1", 0)))  # nobody accepts: the kernel does
        dead_url = f"mqtt://127.0.0.1:{silent.getsockname()[1]}"
    client_id = unique("tablet")
    client = MqttClient(f"{dead_url},{embedded_broker.url}", client_id, protocol="3.1.1", reconnect_min_s=60,
                        reconnect_max_s=60)  # fmt: skip
    with stack, caplog.at_level(logging.INFO, logger="telemetry.client"):
        try:
            client.start(timeout_s=20)
            assert client.address == BrokerAddress.parse(embedded_broker.url)
            assert client.describe() == f"{embedded_broker.url} (MQTT 3.1.1, node 2 of 2)"
        finally:
            client.stop()
    if first == "closes":
        assert closes.connects == 1
    said = [r.getMessage() for r in caplog.records if r.name == "telemetry.client"]
    assert f"{client_id} connected to {embedded_broker.url} (MQTT 3.1.1, session present: False; node 2 of 2)" in said


def test_when_every_node_fails_each_is_tried_once_before_the_back_off_and_named_in_the_error() -> None:
    ports = [free_port() for _ in range(3)]
    urls = ",".join(f"mqtt://units%2FU1:{SECRET}@127.0.0.1:{port}" for port in ports)
    client = MqttClient(urls, unique("nobody"), reconnect_min_s=60, reconnect_max_s=60)
    with pytest.raises(ConnectError) as failed:
        client.start(timeout_s=2)
    refused = "connection refused (nothing listens on that port)"
    assert str(failed.value) == "could not connect to any of 3 brokers within 2 s: " + "; ".join(
        f"mqtt://127.0.0.1:{port}: {refused}" for port in ports
    )
    assert client._client.connection == 3, "one round of the three nodes, then the 60 s back-off"


# --- failover from a killed broker ----------------------------------------------------------------------------


@pytest.fixture
def two_mosquittos(tmp_path: Path) -> Iterator[tuple[list[subprocess.Popen[bytes]], list[int], dict[str, str]]]:
    """Two private Mosquittos from the shipped configuration (accounts and ACL), sharing the accounts: (processes,
    ports, username -> password). Independent brokers: a session lives on the one it was made on."""
    accounts = [Account(Role.DISPATCHER), Account(Role.UNIT, "U1")]
    first, second = tmp_path / "m1", tmp_path / "m2"
    first.mkdir()
    second.mkdir()
    made = write_broker_files(first, accounts)
    for name in ("passwd", "acl"):
        shutil.copy(first / name, second / name)
    ports = [free_port(), free_port()]
    processes = [start_mosquitto(first, ports[0]), start_mosquitto(second, ports[1])]
    yield processes, ports, made
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


def test_failover_from_a_killed_broker_to_the_next_loses_no_qos1_message(
    two_mosquittos: tuple[list[subprocess.Popen[bytes]], list[int], dict[str, str]],
) -> None:
    """A dispatcher (persistent session, all broker URLs) and a tablet stream QoS 1 vitals through broker 1; broker 1
    is killed (SIGKILL) mid-stream. Both move to broker 2 by themselves, where the dispatcher's session was made
    beforehand (two independent Mosquittos share no sessions; a cluster does, tests/cluster): every vitals set the
    tablet sent arrives, and the figure is the time from the kill to the first message through broker 2."""
    processes, ports, made = two_mosquittos
    unit, client_id = "U1", unique("dispatcher")

    def urls(username: str) -> str:
        return ",".join(f"mqtt://{userinfo(username, made[username])}@127.0.0.1:{port}" for port in ports)

    vitals_filter = topics.subscription(topics.Kind.VITALS)
    on_second = MqttClient(urls("dispatcher").split(",")[1], client_id, clean_session=False, protocol=None)
    on_second.subscribe(vitals_filter, qos=1)
    on_second.start().stop()  # the session, subscribed, waits on broker 2

    inbox = Inbox()
    dispatcher = MqttClient(urls("dispatcher"), client_id, on_message=inbox, clean_session=False, protocol=None)
    inbox.client = dispatcher
    dispatcher.subscribe(vitals_filter, qos=1)
    tablet = MqttClient(urls(f"units/{unit}"), unique("tablet"), protocol=None)
    sent = [schemas.Vitals.new(patient_id=f"P-{n:04d}", hr_bpm=60 + n % 90) for n in range(300)]
    try:
        dispatcher.start()
        tablet.start()
        assert dispatcher.address.port == ports[0] and tablet.address.port == ports[0]
        assert f"mqtt://127.0.0.1:{ports[0]} (MQTT 5, node 1 of 2)" == dispatcher.describe()
        deliveries, killed_at = [], 0.0
        started = time.monotonic()
        for n, vitals in enumerate(sent):
            if n == len(sent) // 2:
                killed_at = time.monotonic()
                processes[0].send_signal(signal.SIGKILL)
            deliveries.append(tablet.send(topics.Topic(topics.Kind.VITALS, unit), vitals))
            time.sleep(max(0.0, started + (n + 1) / 100 - time.monotonic()))  # 100 a second
        deadline = time.monotonic() + 30
        unacknowledged = sum(not d.wait(max(0.0, deadline - time.monotonic())) for d in deliveries)
        everyone = {v.msg_id for v in sent}

        def got() -> set[str]:
            decoded = [schemas.decode(topics.Kind.VITALS, m.payload) for m in inbox.messages()]
            return {v.msg_id for v in decoded if isinstance(v, schemas.Vitals)}

        wait_until(lambda: everyone <= got(), timeout_s=20)
    finally:
        tablet.stop()
        dispatcher.stop()
    received = inbox.received
    via_second = [at for at, port, _ in received if port == ports[1]]
    lost = everyone - got()
    duplicates = len(received) - len(got())
    first_s = f"{via_second[0] - killed_at:.3f} s" if via_second else "never"
    print(f"\nFIGURE broker 1 of 2 killed (SIGKILL) after 150 of 300 QoS 1 vitals at 100/s: the dispatcher (persistent "
          f"session, both URLs) got its first message through broker 2 {first_s} after the kill; "
          f"{len(received) - len(via_second)} received through broker 1, {len(via_second)} through broker 2, lost "
          f"{len(lost)}, duplicates {duplicates}, {unacknowledged} not acknowledged to the tablet; reconnects: "
          f"dispatcher {dispatcher.reconnects}, tablet {tablet.reconnects}", flush=True)  # fmt: skip
    assert dispatcher.address.port == ports[1] and tablet.address.port == ports[1], "both moved to broker 2"
    assert dispatcher.reconnects == 1 and tablet.reconnects == 1
    assert via_second, "messages came through broker 2"
    assert unacknowledged == 0
    assert not lost, f"{len(lost)} vitals lost"


# --- refused subscriptions ------------------------------------------------------------------------------------


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[tuple[EmbeddedBroker, dict[str, str]]]:
    """A private embedded broker holding each account to telemetry/access.py (it refuses a subscription with the
    SUBACK failure code 0x80)."""
    made = write_broker_files(tmp_path, [Account(Role.DISPATCHER), Account(Role.UNIT, "U1")])
    with EmbeddedBroker(password_file=tmp_path / "passwd") as broker:
        yield broker, made


def test_a_refused_subscription_is_tried_again_until_granted_also_after_a_reconnect(
    secured_broker: tuple[EmbeddedBroker, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The broker refuses a tablet's subscription to its advice twice (as a NATS node does while its cluster elects
    a leader): start() returns only once it is granted, with the retained advice; after a dropped connection the
    tablet (a clean session) subscribes again, is refused twice again, and hears the next advice; a subscribe()
    refused once returns when granted. One log line per refusal."""
    broker, made = secured_broker
    advice, rejected = topics.build(topics.Kind.ADVICE, "U1"), topics.build(topics.Kind.UNIT_REJECTED, "U1")
    refusals = {advice: 2, rejected: 0}
    rules = AccessRulesPlugin.topic_filtering

    async def refusing(self: AccessRulesPlugin, *, session: Any, topic: str, action: Any) -> bool:
        if action == Action.SUBSCRIBE and refusals.get(topic, 0) > 0:
            refusals[topic] -= 1
            return False
        return await rules(self, session=session, topic=topic, action=action)

    monkeypatch.setattr(AccessRulesPlugin, "topic_filtering", refusing)
    url = f"mqtt://{{}}@{broker.host}:{broker.port}"
    dispatcher = MqttClient(url.format(userinfo("dispatcher", made["dispatcher"])), unique("dispatcher")).start()
    assert dispatcher.publish(advice, b"retained advice", qos=1, retain=True).wait(5)
    inbox = Inbox()
    tablet = MqttClient(url.format(userinfo("units/U1", made["units/U1"])), unique("tablet"), on_message=inbox)
    tablet.subscribe(advice, qos=1)
    try:
        with caplog.at_level(logging.INFO, logger="telemetry.client"):
            tablet.start(timeout_s=20)
            assert refusals[advice] == 0 and tablet.subscription_retries == 2
            assert wait_until(lambda: inbox.payloads() == [b"retained advice"]), inbox.payloads()

            refusals[advice] = 2
            drop_connection(tablet)
            assert wait_until(lambda: tablet.reconnects == 1 and tablet.connected, timeout_s=20)
            assert refusals[advice] == 0 and tablet.subscription_retries == 4
            assert dispatcher.publish(advice, b"next advice", qos=1, retain=True).wait(5)
            assert wait_until(lambda: inbox.payloads()[-1:] == [b"next advice"]), inbox.payloads()

            refusals[rejected] = 1
            tablet.subscribe(rejected, qos=1, timeout_s=20)
            assert refusals[rejected] == 0 and tablet.subscription_retries == 5 and tablet.connected
    finally:
        tablet.stop()
        dispatcher.clear_retained(advice).wait(5)
        dispatcher.stop()
    refused_lines = [r for r in caplog.records if "refused a subscription of" in r.getMessage()]
    assert len(refused_lines) == 5 and all(r.levelno == logging.WARNING for r in refused_lines)
    assert refused_lines[0].getMessage() == (
        f"broker {broker.url} refused a subscription of {tablet.client_id}: {advice} (Unspecified error; refusal 1, "
        "next try in 1 s)"
    )
    assert "refusal 2, next try in 2 s" in refused_lines[1].getMessage()
    granted = [r.getMessage() for r in caplog.records if "granted a subscription" in r.getMessage()]
    assert (
        granted[0] == f"broker {broker.url} granted a subscription of {tablet.client_id}: {advice} (after 2 refusals)"
    )


def test_a_subscription_refused_every_time_fails_the_start_with_the_reason(
    secured_broker: tuple[EmbeddedBroker, dict[str, str]],
) -> None:
    """A unit may not read another unit's advice: MQTT 3.1.1 cannot say that a refusal is final (its one code is
    0x80), so the client tries again until start() gives up, and says why."""
    broker, made = secured_broker
    other = topics.build(topics.Kind.ADVICE, "U2")
    tablet = MqttClient(f"mqtt://{userinfo('units/U1', made['units/U1'])}@{broker.host}:{broker.port}",
                        unique("tablet"))  # fmt: skip
    tablet.subscribe(other, qos=1)
    with pytest.raises(ConnectError) as failed:
        tablet.start(timeout_s=2.5)
    said = f"could not subscribe on {broker.url} within 2.5 s: the broker refused {other} (Unspecified error, "
    assert str(failed.value).startswith(said) and str(failed.value).endswith(" times)"), str(failed.value)
    assert tablet.subscription_retries >= 1 and not tablet.connected


class _Mqtt5Broker:
    """A fake MQTT 5 broker: it accepts every CONNECT and answers every SUBSCRIBE with ``code`` for each filter
    (0x87: not authorised, a refusal no retry changes). ``subscribes`` counts the SUBSCRIBEs."""

    def __init__(self, code: int) -> None:
        self.code, self.subscribes = code, 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"mqtt://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._server.accept()
                threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError), conn.makefile("rb") as stream:
            while header := stream.read(1):
                length, shift = 0, 0
                while True:  # the remaining length, a variable byte integer
                    byte = stream.read(1)[0]
                    length += (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                body = stream.read(length)
                kind = header[0] >> 4
                if kind == 1:  # CONNECT -> CONNACK accepted, no properties
                    conn.sendall(b"\x20\x03\x00\x00\x00")
                elif kind == 8:  # SUBSCRIBE: packet id, properties, then (filter, options) pairs
                    self.subscribes += 1
                    at, filters = 3 + body[2], 0
                    while at < len(body):
                        at += 2 + int.from_bytes(body[at : at + 2], "big") + 1
                        filters += 1
                    answer = body[:2] + b"\x00" + bytes([self.code]) * filters
                    conn.sendall(bytes([0x90, len(answer)]) + answer)
                elif kind == 12:  # PINGREQ
                    conn.sendall(b"\xd0\x00")
                elif kind == 14:  # DISCONNECT
                    return

    def close(self) -> None:
        self._server.close()


def test_a_subscription_refused_for_good_ends_start_and_subscribe_at_once() -> None:
    fake = _Mqtt5Broker(0x87)
    client = MqttClient(fake.url, unique("tablet"), protocol="5")
    client.subscribe("ems/units/U2/advice", qos=1)
    try:
        with pytest.raises(ConnectError) as failed:
            client.start(timeout_s=60)
        assert str(failed.value) == (
            f"could not subscribe on {fake.url}: the broker refused ems/units/U2/advice (Not authorized)"
        )
        assert fake.subscribes == 1, "not tried again"
        client._subscriptions.clear()  # (what a caller would do: drop the filter it may not have)
        client.start(timeout_s=10)
        with pytest.raises(ConnectError, match="refused the subscription to ems/hospitals/#: not authorized"):
            client.subscribe("ems/hospitals/#", qos=1, timeout_s=60)
        assert fake.subscribes == 2
    finally:
        client.stop()
        fake.close()


# --- acknowledgements belong to a connection --------------------------------------------------------------------


@pytest.fixture
def open_mosquitto(tmp_path: Path) -> Iterator[str]:
    """A private Mosquitto open to anyone, keeping sessions in memory; yields its URL."""
    config = tmp_path / "open.conf"
    config.write_text("allow_anonymous true\npersistence false\n")
    port = free_port()
    process = start_mosquitto(tmp_path, port, config=config)
    yield f"mqtt://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_an_ack_of_a_message_from_an_earlier_connection_is_dropped(open_mosquitto: str, protocol: str) -> None:
    """A consumer with a persistent session acknowledging by hand gets a message, loses its connection, and only
    then acknowledges that first delivery: the acknowledgement is not sent on the new connection (its packet id
    belongs to the old one); the broker still counts the message unacknowledged and sends it again. The
    acknowledgement of the copy that came on the current connection is sent and ends the redeliveries.

    Each check that an acknowledgement was or was not taken waits for a marker the consumer publishes after it on
    the same connection: once the marker is back, the broker has read what the consumer sent before it."""
    topic = f"ems/incidents/{unique('ack')}"
    inbox = Inbox()
    consumer = MqttClient(open_mosquitto, unique("recorder"), on_message=inbox, clean_session=False, manual_ack=True,
                          protocol=protocol, session_expiry_s=60)  # fmt: skip
    consumer.subscribe(topic, qos=1)
    publisher = MqttClient(open_mosquitto, unique("pub"), protocol=protocol)

    def count(payload: bytes) -> int:
        return inbox.payloads().count(payload)

    def marker(payload: bytes) -> None:
        assert consumer.publish(topic, payload, qos=1).wait(5)
        assert wait_until(lambda: count(payload) == 1), inbox.payloads()

    try:
        consumer.start()
        publisher.start()
        assert publisher.publish(topic, b"first", qos=1).wait(5)
        assert wait_until(lambda: count(b"first") == 1)
        drop_connection(consumer)
        assert wait_until(lambda: count(b"first") == 2, timeout_s=15), "sent again: not acknowledged"
        old, again = inbox.messages()
        assert again.connection > old.connection

        consumer.ack(old)  # late: its connection has gone
        assert consumer.stale_acks == 1
        marker(b"marker-1")
        drop_connection(consumer)
        assert wait_until(lambda: count(b"marker-1") == 2, timeout_s=15), inbox.payloads()
        assert count(b"first") == 3, "the broker sent it again: the late acknowledgement was not sent"

        for message in inbox.messages()[-2:]:  # the copies of this connection
            consumer.ack(message)
        assert consumer.stale_acks == 1
        marker(b"marker-2")
        drop_connection(consumer)
        assert wait_until(lambda: count(b"marker-2") == 2, timeout_s=15), inbox.payloads()
        assert (count(b"first"), count(b"marker-1")) == (3, 2), "the acknowledged messages are not sent again"
    finally:
        publisher.stop()
        consumer.stop()
