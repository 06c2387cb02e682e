"""The tablets' MQTT 3.1.1 on a real multi-node bus: a 3-node NATS cluster (JetStream and its MQTT listener,
tests/cluster/conftest.py), with nodes killed under it (SIGKILL). QoS 1 messages cross nodes; retained advice,
persistent sessions and their queued messages outlive the node they went through; a subscriber whose node dies
mid-stream takes its session to another node and loses no vitals; the dispatcher moved to another node goes on
advising.

``.venv/bin/pytest -s tests/cluster`` prints the measured figures (lines starting ``FIGURE``).

:class:`telemetry.client.MqttClient` takes one broker URL, and keeps reconnecting to it: here a client whose node
died is moved by hand, by connecting again with the same client id (hence the same persistent session) to a
live node."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dispatch.scenario import Prepared
from dispatch.service import Dispatcher
from dispatch.severity.model import TrainedSeverity
from goldentime.services import dispatcher_client
from goldentime.settings import Settings
from telemetry import schemas, topics
from telemetry.bus import MessageHandler
from telemetry.client import Delivery, Message, MqttClient
from tests.cluster.conftest import TEMPLATE, NatsCluster
from tests.dispatch.bus import JONGNO_3GA
from tests.helpers import unique, wait_until

pytestmark = pytest.mark.integration

#: The vitals of the mid-stream test, and how many a second the tablet sends.
STREAM_N = 500
STREAM_RATE_PER_S = 100.0
#: How long a client may take to connect to a live node after another died (elections included).
TAKEOVER_S = 30.0


class Inbox:
    """One MQTT 3.1.1 connection and what it received, with when (time.monotonic())."""

    def __init__(self, url: str, client_id: str, *filters: str, clean_session: bool = True) -> None:
        self._lock = threading.Lock()
        self._received: list[tuple[float, Message]] = []
        self.client = MqttClient(url, client_id, on_message=self._on, clean_session=clean_session, protocol="3.1.1")
        for topic_filter in filters:
            self.client.subscribe(topic_filter, qos=1)

    def _on(self, message: Message) -> None:
        with self._lock:
            self._received.append((time.monotonic(), message))

    def start(self, timeout_s: float = 10.0) -> Inbox:
        self.client.start(timeout_s)
        return self

    def messages(self) -> list[Message]:
        with self._lock:
            return [m for _, m in self._received]

    def wait_any(self, timeout_s: float) -> bool:
        """Wait until something was received."""
        return wait_until(lambda: bool(self.messages()), timeout_s=timeout_s)

    def first_at(self) -> float | None:
        with self._lock:
            return self._received[0][0] if self._received else None

    def msg_ids(self) -> list[str]:
        """The message ids of the vitals received, in order, duplicates included."""
        return [vitals(m).msg_id for m in self.messages()]

    def advice(self) -> list[schemas.Advice]:
        found = [schemas.decode(topics.Kind.ADVICE, m.payload) for m in self.messages() if m.payload]
        return [a for a in found if isinstance(a, schemas.Advice)]


def vitals(message: Message) -> schemas.Vitals:
    payload = schemas.decode(topics.Kind.VITALS, message.payload)
    assert isinstance(payload, schemas.Vitals)
    return payload


def a_vitals_set(n: int) -> schemas.Vitals:
    return schemas.Vitals.new(patient_id=f"P-{n:05d}", hr_bpm=60 + n % 90, sbp_mmhg=120, spo2_pct=97, rr_per_min=16)


def an_advice(version: int, patient: str) -> schemas.Advice:
    destination = schemas.Option(hpid="A1100017", name="서울대학교병원", eta_s=412.0, beds_on_arrival=3,
                                 reason="서울대학교병원: 혈전제거술 가능, 가장 빠른 도착",
                                 reason_en="Seoul National University Hospital: thrombectomy, fastest")  # fmt: skip
    return schemas.Advice.new(advice_version=version, patient_id=patient, destination=destination,
                              severity=schemas.Severity(ktas=2, p_critical=0.71), pathway="stroke")  # fmt: skip


def figure(line: str) -> None:
    print(f"\nFIGURE {line}", flush=True)


def test_the_shipped_node_template_is_a_valid_nats_server_configuration(nats_server: Path) -> None:
    checked = subprocess.run([str(nats_server), "-c", str(TEMPLATE), "-t"], capture_output=True, text=True,
                             timeout=30, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "is valid" in checked.stderr + checked.stdout


# --- across nodes ------------------------------------------------------------------------------------------


def test_qos1_vitals_published_on_one_node_reach_a_subscriber_on_another(nats_cluster: NatsCluster) -> None:
    a, _, c = nats_cluster.nodes
    unit = unique("U")
    inbox = Inbox(c.url, unique("dispatcher"), topics.build(topics.Kind.VITALS, unit)).start()
    tablet = MqttClient(a.url, unique("tablet"), protocol="3.1.1").start()
    sent = a_vitals_set(7)
    try:
        assert tablet.send(topics.Topic(topics.Kind.VITALS, unit), sent).wait(5), "node A acknowledged the vitals"
        assert inbox.wait_any(10), "the vitals reached the subscriber on C"
    finally:
        tablet.stop()
        inbox.client.stop()
    [message] = inbox.messages()
    assert message.topic == topics.build(topics.Kind.VITALS, unit)
    assert message.qos == 1 and not message.retained
    assert vitals(message) == sent


def test_retained_advice_survives_the_death_of_the_node_it_was_published_on(nats_cluster: NatsCluster) -> None:
    """Node A (the leader of the retained messages' stream) takes the advice and dies: new tablets on B and C
    get it, and so does one on A started again on its store."""
    a = nats_cluster.leader_of("$MQTT_rmsgs")
    b, c = nats_cluster.others(a)
    unit = unique("U")
    topic = topics.build(topics.Kind.ADVICE, unit)
    sent = an_advice(3, "P-stroke-1")
    dispatcher = MqttClient(a.url, unique("dispatcher"), protocol="3.1.1").start()
    assert dispatcher.send(topics.Topic(topics.Kind.ADVICE, unit), sent).wait(5)
    dispatcher.stop()

    def retained_for_a_new_tablet(url: str) -> tuple[list[Message], int]:
        """What a new tablet subscribed to the advice gets; it tries again (a new connection) while nothing comes,
        as the cluster may refuse a QoS 1 subscription while it elects a leader. (messages, tries)"""
        deadline, tries = time.monotonic() + TAKEOVER_S, 0
        while True:
            tries += 1
            inbox = Inbox(url, unique("tablet"), topic).start(TAKEOVER_S)
            inbox.wait_any(1)  # a retained message comes with the subscription's acknowledgement
            inbox.client.stop()
            if inbox.messages() or time.monotonic() >= deadline:
                return inbox.messages(), tries

    before, _ = retained_for_a_new_tablet(b.url)
    killed = nats_cluster.kill(a)
    on_b, tries_b = retained_for_a_new_tablet(b.url)
    on_b_s = time.monotonic() - killed
    on_c, tries_c = retained_for_a_new_tablet(c.url)
    nats_cluster.start(a)  # A comes back on its store; it must serve the advice too
    back_on_a, _ = retained_for_a_new_tablet(a.url)
    for where, found in (("B before", before), ("B after A died", on_b), ("C after A died", on_c),
                         ("A restarted", back_on_a)):  # fmt: skip
        assert len(found) == 1, f"{where}: {found}"
        assert found[0].retained and found[0].qos == 1, where
        assert schemas.decode(topics.Kind.ADVICE, found[0].payload) == sent, where
    figure(f"retained advice published through node A (leader of the retained stream), A killed (SIGKILL): a new "
           f"tablet on B had it {on_b_s:.2f} s after the kill ({tries_b} connection(s)), one on C next "
           f"({tries_c} connection(s)); A restarted on its store served it too")  # fmt: skip


def test_a_persistent_session_and_its_queued_messages_move_to_another_node(nats_cluster: NatsCluster) -> None:
    b = nats_cluster.leader_of("$MQTT_sess")  # the node that dies leads the sessions' stream
    a, c = nats_cluster.others(b)
    unit = unique("U")
    client_id = unique("dispatcher-seoul")
    first = Inbox(b.url, client_id, topics.subscription(topics.Kind.VITALS), clean_session=False).start()
    first.client.stop()  # gone for now: the session stays, subscribed, on the cluster
    tablet = MqttClient(a.url, unique("tablet"), protocol="3.1.1").start()
    sent = [a_vitals_set(n) for n in range(20)]
    for one in sent:
        assert tablet.send(topics.Topic(topics.Kind.VITALS, unit), one).wait(5)
    tablet.stop()
    killed = nats_cluster.kill(b)

    # The same client id on C, subscribing to nothing: whatever arrives comes from the session kept since B.
    again = Inbox(c.url, client_id, clean_session=False)
    again.start(TAKEOVER_S)
    connected_s = time.monotonic() - killed
    try:
        assert wait_until(lambda: len(set(again.msg_ids())) >= len(sent), timeout_s=15), again.msg_ids()
    finally:
        again.client.stop()
    assert set(again.msg_ids()) == {v.msg_id for v in sent}
    assert {m.topic for m in again.messages()} == {topics.build(topics.Kind.VITALS, unit)}
    figure(f"persistent session made on B, 20 QoS 1 vitals queued, B killed: the same client id connected to C "
           f"{connected_s:.2f} s after the kill and got {len(again.msg_ids())} messages "
           f"({len(set(again.msg_ids()))} distinct)")  # fmt: skip


# --- a node killed mid-stream ----------------------------------------------------------------------------------


def test_a_node_killed_mid_stream_loses_no_qos1_vitals(nats_cluster: NatsCluster) -> None:
    """A tablet sends STREAM_N vitals through node A at a steady rate; the subscriber's node B is killed half way;
    the subscriber connects to C with the same client id (persistent session) and must get every one."""
    b = nats_cluster.leader_of("$MQTT_msgs")  # the node that dies leads the stream of the QoS 1 messages
    a, c = nats_cluster.others(b)
    unit = unique("U")
    client_id = unique("dispatcher-seoul")
    topic_filter = topics.subscription(topics.Kind.VITALS)
    on_b = Inbox(b.url, client_id, topic_filter, clean_session=False).start()
    tablet = MqttClient(a.url, unique("tablet"), protocol="3.1.1").start()
    sent = [a_vitals_set(n) for n in range(STREAM_N)]
    deliveries: list[Delivery] = []
    killed = threading.Event()
    killed_at: list[float] = []

    def stream() -> None:
        started = time.monotonic()
        for n, one in enumerate(sent):
            if n == STREAM_N // 2:
                killed_at.append(nats_cluster.kill(b))
                killed.set()
            deliveries.append(tablet.send(topics.Topic(topics.Kind.VITALS, unit), one))
            time.sleep(max(0.0, started + (n + 1) / STREAM_RATE_PER_S - time.monotonic()))

    sender = threading.Thread(target=stream, name="tablet", daemon=True)
    sender.start()
    on_c: Inbox | None = None
    try:
        assert killed.wait(STREAM_N / STREAM_RATE_PER_S + 10)
        on_c = Inbox(c.url, client_id, topic_filter, clean_session=False)  # what a reconnecting client does
        on_c.start(TAKEOVER_S)
        connected_s = time.monotonic() - killed_at[0]
        on_b.client.stop()
        sender.join(STREAM_N / STREAM_RATE_PER_S + 30)
        unacknowledged = sum(not d.wait(10) for d in deliveries)
        everyone = {v.msg_id for v in sent}
        got = on_c  # (for the closure)
        wait_until(lambda: everyone <= set(on_b.msg_ids()) | set(got.msg_ids()), timeout_s=30, every_s=0.1)
    finally:
        tablet.stop()
        on_b.client.stop()
        if on_c is not None:
            on_c.client.stop()
    received = on_b.msg_ids() + on_c.msg_ids()
    lost = everyone - set(received)
    duplicates = len(received) - len(set(received))
    first_on_c = on_c.first_at()
    gap = f"{first_on_c - killed_at[0]:.2f} s" if first_on_c is not None else "never"
    figure(f"node B killed (SIGKILL) after {STREAM_N // 2} of {STREAM_N} QoS 1 vitals at {STREAM_RATE_PER_S:g}/s "
           f"through A: {len(on_b.msg_ids())} received on B, {len(on_c.msg_ids())} on C; lost {len(lost)}, "
           f"duplicates {duplicates}; subscriber connected to C {connected_s:.2f} s and got its first message there "
           f"{gap} after the kill; {unacknowledged} publishes not acknowledged to the tablet, "
           f"{tablet.reconnects} tablet reconnects")  # fmt: skip
    assert sender.is_alive() is False
    assert 0 < len(on_b.msg_ids()) < STREAM_N, "B died mid-stream"
    assert on_c.msg_ids(), "the subscriber took its session to C"
    assert not lost, f"{len(lost)} vitals lost"


# --- the dispatcher moved to another node ----------------------------------------------------------------------


class MovableBus:
    """The dispatcher's connection (:func:`goldentime.services.dispatcher_client`: persistent session, manual
    acknowledgement), which the test moves from a dead node to a live one by connecting again with the same client
    id: what :class:`telemetry.client.MqttClient` would do by itself if it took several broker URLs.

    A message delivered by the connection that died is never acknowledged on the new one (its packet id would
    acknowledge another message there): the session sends it again."""

    def __init__(self, connect: Callable[[str], MqttClient], url: str) -> None:
        self.on_message: MessageHandler | None = None
        self._connect = connect
        self._lock = threading.Lock()
        self._filters: dict[str, int] = {}
        self._from: dict[int, tuple[Message, MqttClient]] = {}  # id(message) -> (message, connection)
        self.client = self._connection(url)

    def _connection(self, url: str) -> MqttClient:
        client = self._connect(url)

        def on(message: Message) -> None:
            with self._lock:
                self._from[id(message)] = (message, client)
            if self.on_message is not None:
                self.on_message(message)

        client.on_message = on
        return client

    def move_to(self, url: str, timeout_s: float = TAKEOVER_S) -> float:
        """Connect to ``url`` with the same client id and subscriptions, then drop the old connection; returns
        time.monotonic() when the new one was connected and subscribed."""
        old, new = self.client, self._connection(url)
        for topic_filter, qos in self._filters.items():
            new.subscribe(topic_filter, qos)
        self.client = new
        new.start(timeout_s)
        connected = time.monotonic()
        old.stop()  # (it was trying again and again to reach the dead node)
        return connected

    def start(self, timeout_s: float = 10.0) -> MovableBus:
        self.client.start(timeout_s)
        return self

    def stop(self) -> None:
        self.client.stop()

    def subscribe(self, topic_filter: str, qos: int = 1, timeout_s: float = 10.0) -> None:
        self._filters[topic_filter] = qos
        self.client.subscribe(topic_filter, qos, timeout_s)

    def ack(self, message: Message) -> None:
        with self._lock:
            found = self._from.pop(id(message), None)
        if found is not None and found[0] is message and found[1] is self.client:
            self.client.ack(message)

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> Delivery:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def send(self, topic: topics.Topic, payload: schemas.Payload) -> Delivery:
        return self.client.send(topic, payload)

    def clear_retained(self, topic: str) -> Delivery:
        return self.client.clear_retained(topic)


def test_advice_resumes_after_the_dispatchers_node_dies(
    nats_cluster: NatsCluster, prepared: Prepared, severity: TrainedSeverity, tmp_path: Path
) -> None:
    a = nats_cluster.leader_of("$MQTT_msgs")  # the dispatcher's node leads the stream of the QoS 1 messages
    b, c = nats_cluster.others(a)
    settings = Settings(mqtt_url=a.url, var_dir=tmp_path / "var")  # the shipped client: it negotiates 3.1.1 here
    bus = MovableBus(lambda url: dispatcher_client(settings, url, "dispatcher-seoul"), a.url)
    dispatcher = Dispatcher(bus, prepared, severity)
    unit = unique("U")
    # A persistent session: when B closes the tablet's connection (it could not store a QoS 1 message while the
    # stream elected a leader), a clean session's subscription made again on reconnecting may be refused (SUBACK
    # 0x80) during that election, and MqttClient only logs that: the tablet would hear no more advice.
    tablet = Inbox(b.url, unique("tablet"), topics.build(topics.Kind.ADVICE, unit), clean_session=False)

    def send(payload: schemas.Payload) -> None:
        kind = {schemas.Status: topics.Kind.STATUS, schemas.Position: topics.Kind.POSITION,
                schemas.Vitals: topics.Kind.VITALS}[type(payload)]  # fmt: skip
        delivery = tablet.client.send(topics.Topic(kind, unit), payload)
        assert kind is topics.Kind.POSITION or delivery.wait(TAKEOVER_S), f"node B acknowledged the {kind.value}"

    def advised(patient: str) -> schemas.Advice | None:
        return next((x for x in tablet.advice() if x.patient_id == patient), None)

    try:
        dispatcher.start(TAKEOVER_S)
        tablet.start()
        send(schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
        send(schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1]))
        send(schemas.Vitals.new(patient_id="P-before-1", hr_bpm=128, sbp_mmhg=86, spo2_pct=90, rr_per_min=26))
        assert wait_until(lambda: advised("P-before-1") is not None, timeout_s=20), "advice before the failure"
        first = advised("P-before-1")
        assert first is not None

        killed = nats_cluster.kill(a)
        # A new patient's vitals while the dispatcher has no connection: kept in its session (QoS 1).
        send(schemas.Vitals.new(patient_id="P-after-1", hr_bpm=54, sbp_mmhg=82, spo2_pct=88, rr_per_min=30,
                                chief_complaint="chest pain"))  # fmt: skip
        stored_s = time.monotonic() - killed
        moved_s = bus.move_to(c.url) - killed
        send(schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1]))
        assert wait_until(lambda: advised("P-after-1") is not None, timeout_s=30), "advice after the failure"
        resumed_s = time.monotonic() - killed
        second = advised("P-after-1")
    finally:
        dispatcher.stop()
        tablet.client.stop()
    assert second is not None
    assert second.advice_version > first.advice_version, "the same engine went on: a newer advice version"
    assert bus.client.address.port == c.mqtt_port
    figure(f"dispatcher's node A (leader of the QoS 1 messages' stream) killed (SIGKILL), tablet on B: the tablet's "
           f"new vitals acknowledged {stored_s:.2f} s after the kill ({tablet.client.reconnects} tablet reconnects), "
           f"the dispatcher's session moved to C at {moved_s:.2f} s, "
           f"advice for those vitals at {resumed_s:.2f} s")  # fmt: skip
