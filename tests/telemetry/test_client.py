"""The MQTT client wrapper, through the embedded broker (and a real one when configured)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from telemetry import passwords, schemas, topics
from telemetry.broker import EmbeddedBroker, free_port
from telemetry.client import BrokerAddress, BrokerUrlError, ConnectError, Message, MqttClient, PublishError, unit_will
from tests.conftest import BrokerUnderTest
from tests.helpers import unique, wait_until

SECRET = "s3cret-Pa55"


class Inbox:
    """Collects messages a client receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]


@pytest.fixture
def clients(broker: BrokerUnderTest) -> Iterator[list[MqttClient]]:
    """Clients made by a test; stopped afterwards."""
    made: list[MqttClient] = []
    yield made
    for client in made:
        client.stop()


def connect(broker: BrokerUnderTest, made: list[MqttClient], inbox: Inbox | None = None, **kw: object) -> MqttClient:
    client = MqttClient(broker.url, unique("test"), on_message=inbox, protocol=broker.protocol, **kw)  # type: ignore[arg-type]
    made.append(client)
    return client.start(timeout_s=10)


# --- pure ---------------------------------------------------------------------------------


def test_broker_url_parsing() -> None:
    assert BrokerAddress.parse("mqtt://127.0.0.1:1884") == BrokerAddress("127.0.0.1", 1884)
    assert BrokerAddress.parse("mqtt://broker") == BrokerAddress("broker", 1883)
    secure = BrokerAddress.parse("mqtts://unit%2F1:p%40ss@broker.example")
    assert (secure.port, secure.tls, secure.username, secure.password) == (8883, True, "unit/1", "p@ss")
    for bad in ("http://broker", "mqtt://", "mqtt://host:99999", "broker:1883"):
        with pytest.raises(BrokerUrlError):
            BrokerAddress.parse(bad)


def test_unknown_protocol_is_refused() -> None:
    with pytest.raises(BrokerUrlError, match="protocol"):
        MqttClient("mqtt://127.0.0.1:1", "x", protocol="3.1")


def test_connect_error_names_the_broker() -> None:
    port = free_port()
    client = MqttClient(f"mqtt://127.0.0.1:{port}", unique("nobody"))
    with pytest.raises(ConnectError, match=str(port)):
        client.start(timeout_s=0.5)
    assert not client.connected


# --- through a broker -------------------------------------------------------------------


def test_send_uses_the_contract_and_retained_status_reaches_late_subscribers(
    broker: BrokerUnderTest, clients: list[MqttClient]
) -> None:
    unit = unique("u")
    status_topic = topics.Topic(topics.Kind.STATUS, unit)
    publisher = connect(broker, clients)
    assert publisher.send(status_topic, schemas.Status.new(status=schemas.UnitStatus.AVAILABLE)).wait(5)

    inbox = Inbox()
    subscriber = connect(broker, clients, inbox)
    subscriber.subscribe(f"ems/units/{unit}/#", qos=1)
    assert wait_until(lambda: len(inbox.on(str(status_topic))) >= 1), inbox.messages
    retained = inbox.on(str(status_topic))[0]
    assert retained.retained
    decoded = schemas.decode(topics.Kind.STATUS, retained.payload)
    assert isinstance(decoded, schemas.Status) and decoded.status is schemas.UnitStatus.AVAILABLE

    vitals_topic = topics.Topic(topics.Kind.VITALS, unit)
    publisher.send(vitals_topic, schemas.Vitals.new(patient_id="P-0001", hr_bpm=72)).wait(5)
    assert wait_until(lambda: len(inbox.on(str(vitals_topic))) == 1)
    live = inbox.on(str(vitals_topic))[0]
    assert (live.qos, live.retained) == (1, False)
    publisher.clear_retained(str(status_topic)).wait(5)


def test_send_refuses_a_payload_of_the_wrong_kind(broker: BrokerUnderTest, clients: list[MqttClient]) -> None:
    publisher = connect(broker, clients)
    with pytest.raises(PublishError, match="Position"):
        publisher.send(topics.Topic(topics.Kind.VITALS, "u1"), schemas.Position.new(lat=37.5, lon=127.0))


def test_a_failing_handler_does_not_stop_the_loop(broker: BrokerUnderTest, clients: list[MqttClient]) -> None:
    topic = f"ems/incidents/{unique('inc')}"
    seen: list[bytes] = []

    def handler(message: Message) -> None:
        if message.topic != topic:  # amqtt sometimes hands a new subscriber unrelated retained messages
            return
        seen.append(message.payload)
        if message.payload == b"boom":
            raise RuntimeError("handler bug")

    subscriber = MqttClient(broker.url, unique("sub"), on_message=handler, protocol=broker.protocol)
    clients.append(subscriber)
    subscriber.subscribe(topic, qos=1)
    subscriber.start()
    publisher = connect(broker, clients)
    publisher.publish(topic, b"boom", qos=1).wait(5)
    publisher.publish(topic, b"after", qos=1).wait(5)
    assert wait_until(lambda: seen == [b"boom", b"after"]), seen


def test_publishing_from_many_threads_loses_nothing(broker: BrokerUnderTest, clients: list[MqttClient]) -> None:
    topic_filter = f"ems/incidents/{unique('burst')}-+"
    inbox = Inbox()
    subscriber = connect(broker, clients, inbox)
    subscriber.subscribe("ems/incidents/+", qos=1)
    publisher = connect(broker, clients)
    prefix = topic_filter.split("/")[-1][:-2]

    def run(thread: int) -> None:
        for i in range(200):
            publisher.publish(f"ems/incidents/{prefix}-{thread}", f"{thread}:{i}".encode(), qos=1)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def mine() -> list[bytes]:
        return [m.payload for m in inbox.messages if m.topic.startswith(f"ems/incidents/{prefix}-")]

    assert wait_until(lambda: len(mine()) >= 1600, timeout_s=20)
    assert sorted(mine()) == sorted(f"{t}:{i}".encode() for t in range(8) for i in range(200))


def test_last_will_marks_a_dropped_unit_offline(broker: BrokerUnderTest, clients: list[MqttClient]) -> None:
    unit = unique("u")
    status_topic = topics.build(topics.Kind.STATUS, unit)
    inbox = Inbox()
    watcher = connect(broker, clients, inbox)
    watcher.subscribe(status_topic, qos=1)
    tablet = connect(broker, clients, will=unit_will(unit), reconnect_min_s=5, reconnect_max_s=5)
    tablet.send(topics.parse(status_topic), schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING)).wait(5)
    assert wait_until(lambda: len(inbox.on(status_topic)) == 1)

    sock = tablet._client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)  # the network drops, no DISCONNECT is sent

    def offline() -> bool:
        last = inbox.on(status_topic)[-1]
        return last.payload != b"" and schemas.decode(topics.Kind.STATUS, last.payload).status == "offline"  # type: ignore[attr-defined]

    assert wait_until(offline, timeout_s=10)
    watcher.clear_retained(status_topic).wait(5)


def test_reconnects_and_resubscribes_after_the_broker_restarts() -> None:
    port = free_port()
    inbox = Inbox()
    topic = "ems/incidents/restart-1"
    with EmbeddedBroker(port=port) as first:
        subscriber = MqttClient(first.url, unique("sub"), on_message=inbox, reconnect_min_s=1, reconnect_max_s=1)
        subscriber.subscribe(topic, qos=1)
        subscriber.start()
    assert wait_until(lambda: not subscriber.connected, timeout_s=5)
    try:
        with EmbeddedBroker(port=port) as second:
            assert subscriber.wait_connected(15), "did not reconnect"
            publisher = MqttClient(second.url, unique("pub")).start()
            assert wait_until(lambda: publisher.publish(topic, b"again", qos=1).wait(1) and bool(inbox.on(topic)), 15)
            publisher.stop()
        assert subscriber.reconnects >= 1
    finally:
        subscriber.stop()


def test_qos1_published_while_disconnected_is_sent_after_reconnect() -> None:
    port = free_port()
    inbox = Inbox()
    topic = "ems/incidents/queued-1"
    with EmbeddedBroker(port=port) as first:
        # It retries every 3 s, so the subscriber below is there before it comes back.
        publisher = MqttClient(first.url, unique("pub"), reconnect_min_s=3, reconnect_max_s=3).start()
    assert wait_until(lambda: not publisher.connected, timeout_s=5)
    delivery = publisher.publish(topic, b"kept", qos=1)
    try:
        with EmbeddedBroker(port=port) as second:
            subscriber = MqttClient(second.url, unique("sub"), on_message=inbox)
            subscriber.subscribe(topic, qos=1)
            subscriber.start()
            assert delivery.wait(15)
            assert wait_until(lambda: [m.payload for m in inbox.on(topic)] == [b"kept"])
            subscriber.stop()
    finally:
        publisher.stop()


def test_read_ahead_serves_small_reads_and_forgets_an_old_socket() -> None:
    """paho's reads of one packet (its type, length, body) are served from one read of the socket; bytes read
    ahead on a connection are never handed out on the next one."""
    from telemetry.client import _Paho

    client = _Paho(CallbackAPIVersion.VERSION2, client_id=unique("ahead"))
    old, old_peer = socket.socketpair()
    new, new_peer = socket.socketpair()
    with old, old_peer, new, new_peer:
        old.setblocking(False)
        new.setblocking(False)
        client._sock = old
        old_peer.sendall(b"\x30\x05hello\x30\x03bye")
        assert [client._sock_recv(1), client._sock_recv(1), client._sock_recv(5)] == [b"\x30", b"\x05", b"hello"]
        assert client._sock_recv(1) == b"\x30"  # the rest waits in the read-ahead
        client._sock = new
        new_peer.sendall(b"\x40\x02")
        assert client._sock_recv(1) == b"\x40"  # not the old connection's b"\x03"
        assert client._sock_recv(8) == b"\x02"
        with pytest.raises(BlockingIOError):
            client._sock_recv(1)


def _publish_packet(
    topic: bytes, payload: bytes, *, qos: int, retain: bool, v5: bool, properties: bytes = b""
) -> bytes:
    """An MQTT PUBLISH packet as a broker sends it (packet id 7 at QoS > 0)."""
    body = len(topic).to_bytes(2, "big") + topic + (b"\x00\x07" if qos else b"")
    body += (bytes([len(properties)]) + properties if v5 else b"") + payload
    return bytes([0x30 | qos << 1 | retain, len(body)]) + body


def _received(packet: bytes, *, v5: bool, fast: bool) -> list[tuple[str, Message]]:
    """What an MqttClient's paho client hands on for ``packet``, and which decoded it: our fast path ("fast", when
    ``fast``) or paho."""
    from telemetry.client import _Paho

    got: list[tuple[str, Message]] = []
    client = _Paho(CallbackAPIVersion.VERSION2, client_id=unique("decode"),
                   protocol=paho.MQTTv5 if v5 else paho.MQTTv311, manual_ack=True)  # fmt: skip
    client.on_message = lambda c, userdata, m: got.append(
        ("paho", Message(m.topic, bytes(m.payload), m.qos, bool(m.retain), m.mid))
    )
    client.deliver = (lambda m: got.append(("fast", m))) if fast else None
    ours, peer = socket.socketpair()
    with ours, peer:
        ours.setblocking(False)
        client._sock = ours
        peer.sendall(packet)
        client.loop_read()
    return got


def test_one_read_delivers_every_packet_it_read_ahead() -> None:
    """``select`` cannot see bytes already read ahead: a read goes on until they are handled."""
    packets = b"".join(_publish_packet(b"ems/incidents/x", f"m{i}".encode(), qos=0, retain=False, v5=False)
                       for i in range(50))  # fmt: skip
    got = _received(packets, v5=False, fast=False)
    assert [m.payload for _, m in got] == [f"m{i}".encode() for i in range(50)]


@pytest.mark.parametrize("v5", [False, True], ids=["3.1.1", "5"])
@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("retain", [False, True], ids=["live", "retained"])
def test_a_message_decoded_by_the_fast_path_is_what_paho_decodes(v5: bool, qos: int, retain: bool) -> None:
    packet = _publish_packet("ems/units/119-서울-01/vitals".encode(), b'{"hr": 88}', qos=qos, retain=retain, v5=v5)
    expected = Message("ems/units/119-서울-01/vitals", b'{"hr": 88}', qos, retain, 7 if qos else 0)
    assert _received(packet, v5=v5, fast=False) == [("paho", expected)]
    assert _received(packet, v5=v5, fast=True) == [("fast", expected)]


def test_a_message_with_properties_goes_through_paho() -> None:
    """MQTT 5 properties (here a message expiry of 60 s) are paho's to read: the message still arrives whole."""
    packet = _publish_packet(b"ems/incidents/x", b"payload", qos=1, retain=False, v5=True,
                             properties=b"\x02\x00\x00\x00\x3c")  # fmt: skip
    assert _received(packet, v5=True, fast=True) == [("paho", Message("ems/incidents/x", b"payload", 1, False, 7))]


def test_a_backlog_and_a_message_larger_than_the_read_ahead_arrive_whole_in_order(
    broker: BrokerUnderTest, clients: list[MqttClient]
) -> None:
    """Messages that pile up in the socket while the handler is busy are read many at a time: each arrives
    once, whole and in order, also one larger than a read."""
    from telemetry.client import READ_AHEAD

    topic = f"ems/incidents/{unique('backlog')}"
    inbox, release = Inbox(), threading.Event()

    def slow_then_fast(message: Message) -> None:
        release.wait(10)  # the first message blocks the network thread while the rest queue up
        inbox(message)

    subscriber = connect(broker, clients, slow_then_fast)  # type: ignore[arg-type]
    subscriber.subscribe(topic, qos=1)
    publisher = connect(broker, clients)
    # 900 (about 90 KB, beyond one read-ahead) stay below a stock Mosquitto's 1,000 queued per client,
    # past which it drops QoS 1 messages for a subscriber this slow
    payloads = [f"{i:05d}".encode() * 20 for i in range(900)]
    payloads.insert(450, b"x" * (3 * READ_AHEAD + 17))
    deliveries = [publisher.publish(topic, p, qos=1) for p in payloads]
    assert all(d.wait(20) for d in deliveries[:50])
    release.set()
    assert all(d.wait(20) for d in deliveries)
    assert wait_until(lambda: len(inbox.on(topic)) >= len(payloads), timeout_s=30)
    assert [m.payload for m in inbox.on(topic)] == payloads


# --- the protocol: negotiated, or as asked; a failed connection names its cause ----------


def test_an_unset_protocol_is_negotiated_and_said(
    broker: BrokerUnderTest, clients: list[MqttClient], caplog: pytest.LogCaptureFixture
) -> None:
    """Not told which, a client tries MQTT 5 and speaks 3.1.1 when the broker refuses it: the embedded broker
    (amqtt, reached by its URL) speaks 3.1.1 only, Mosquitto 5. It says which (attribute and log line) and works
    with it: a subscription made before the start, and a persistent session that keeps what came while away."""
    expected = "3.1.1" if broker.name == "embedded" else "5"
    topic, client_id, inbox = f"ems/incidents/{unique('nego')}", unique("nego"), Inbox()
    with caplog.at_level(logging.INFO, logger="telemetry.client"):
        client = MqttClient(broker.url, client_id, on_message=inbox, protocol=None, clean_session=False,
                            session_expiry_s=60)  # fmt: skip
        clients.append(client)
        client.subscribe(topic, qos=1)
        client.start()
    assert client.protocol == expected
    assert client.describe() == f"{BrokerAddress.parse(broker.url)} (MQTT {expected})"
    said = [r.getMessage() for r in caplog.records if r.name == "telemetry.client"]
    assert any(f"{client_id} connected to {BrokerAddress.parse(broker.url)} (MQTT {expected}," in m for m in said)
    assert any("does not speak MQTT 5" in m for m in said) == (expected == "3.1.1"), said

    client.stop()
    publisher = connect(broker, clients)
    assert publisher.publish(topic, b"kept", qos=1).wait(5)
    again = MqttClient(broker.url, client_id, on_message=inbox, protocol=None, clean_session=False,
                       session_expiry_s=60)  # fmt: skip
    clients.append(again)
    again.start()
    assert again.protocol == expected
    assert wait_until(lambda: [m.payload for m in inbox.on(topic)] == [b"kept"]), inbox.messages
    again.subscribe(topic, qos=1)
    assert publisher.publish(topic, b"live", qos=1).wait(5)
    assert wait_until(lambda: [m.payload for m in inbox.on(topic)] == [b"kept", b"live"]), inbox.messages


def test_an_explicit_protocol_is_spoken_with_no_fallback(embedded_broker: EmbeddedBroker) -> None:
    """MQTT 5 asked of the embedded broker: one clear error, at once (not after the timeout), and no 3.1.1."""
    client = MqttClient(embedded_broker.url, unique("v5"), protocol="5")
    with pytest.raises(ConnectError) as refused:
        client.start(timeout_s=60)
    assert str(refused.value) == (
        f"could not connect to {embedded_broker.url}: the broker does not speak MQTT 5 (unsupported protocol version)"
    )
    assert client.protocol == "5" and not client.connected


class _V311OnlyBroker:
    """A broker that accepts MQTT 3.1.1 and, on an MQTT 5 CONNECT, closes the connection unanswered
    (``silent=False``) or leaves it open unanswered (``silent=True``, as stock amqtt does with a CONNECT that
    carries properties). The protocol levels it was asked for are in ``levels`` (4: 3.1.1, 5: MQTT 5)."""

    def __init__(self, *, silent: bool) -> None:
        self.levels: list[int] = []
        self.silent = silent
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"mqtt://127.0.0.1:{self._server.getsockname()[1]}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._server.accept()
                packet = conn.recv(1024)  # CONNECT: 0x10, remaining length (1 byte here), 00 04 "MQTT", level
                self.levels.append(packet[8])
                if packet[8] != 5:
                    conn.sendall(b"\x20\x02\x00\x00")  # CONNACK: accepted
                if packet[8] != 5 or self.silent:
                    self._open.append(conn)
                else:
                    conn.close()

    def close(self) -> None:
        self._server.close()
        for conn in self._open:
            conn.close()


@pytest.mark.parametrize("silent", [False, True], ids=["closes", "never-answers"])
def test_a_broker_that_does_not_answer_an_mqtt5_connect_gets_311(silent: bool) -> None:
    fake = _V311OnlyBroker(silent=silent)
    client = MqttClient(fake.url, unique("nego"), protocol=None, clean_session=False)
    try:
        client.start(timeout_s=30)
        assert (client.protocol, fake.levels) == ("3.1.1", [5, 4])
    finally:
        client.stop()
        fake.close()


def test_a_closed_port_is_said_to_refuse() -> None:
    port = free_port()
    with pytest.raises(ConnectError) as failed:
        MqttClient(f"mqtt://units%2FU1:{SECRET}@127.0.0.1:{port}", unique("nobody"), protocol=None).start(0.5)
    assert str(failed.value) == (
        f"could not connect to mqtt://127.0.0.1:{port} within 0.5 s: connection refused (nothing listens on that port)"
    )


def test_a_broker_that_never_answers_is_said_to_time_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts connections; nobody answers
        port = silent.getsockname()[1]
        with pytest.raises(ConnectError) as failed:
            MqttClient(f"mqtt://127.0.0.1:{port}", unique("nobody")).start(0.5)
    assert str(failed.value) == f"could not connect to mqtt://127.0.0.1:{port} within 0.5 s: no answer from the broker"


def test_a_host_name_that_does_not_resolve_is_said() -> None:
    with pytest.raises(ConnectError) as failed:
        MqttClient("mqtt://broker.invalid:1883", unique("nobody")).start(5)
    assert "could not connect to mqtt://broker.invalid:1883 within 5 s: host name 'broker.invalid' not resolved" in str(
        failed.value
    )


def test_a_wrong_password_is_said_at_once_without_the_password(tmp_path: Path) -> None:
    password_file = tmp_path / "passwd"
    passwords.store(password_file, "units/U1", passwords.hash_password("the-right-one"))
    with EmbeddedBroker(password_file=password_file) as secured:
        url = f"mqtt://units%2FU1:{SECRET}@{secured.host}:{secured.port}"
        with pytest.raises(ConnectError) as refused:
            MqttClient(url, unique("tablet"), protocol=None).start(timeout_s=60)
    assert str(refused.value) == f"could not connect to {secured.url}: not authorised"
