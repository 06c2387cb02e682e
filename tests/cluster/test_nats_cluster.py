"""The tablets' MQTT 3.1.1 on a real multi-node bus: a 3-node NATS cluster (JetStream and its MQTT listener,
tests/cluster/conftest.py), with nodes killed under it (SIGKILL). QoS 1 messages cross nodes; retained advice,
persistent sessions and their queued messages outlive the node they went through; a subscriber whose node dies
mid-stream takes its session to another node and loses no vitals; the dispatcher moved to another node goes on
advising.

``.venv/bin/pytest -s tests/cluster`` prints the measured figures (lines starting ``FIGURE``).

A client given every node's URL (its own node first: ``NatsCluster.urls``) fails over by itself
(:class:`telemetry.client.MqttClient`): when its node dies it connects at once to the next one, with the same client
id, hence the same persistent session; a subscription the cluster refuses while it elects a leader is tried again
until granted; an acknowledgement of a message from the dead node's connection is not sent on the new one. A client
given one node's URL stays with that node, reconnecting to it with back-off."""

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
from telemetry.client import Delivery, Message, MqttClient
from tests.cluster.conftest import TEMPLATE, NatsCluster, Node
from tests.dispatch.bus import JONGNO_3GA
from tests.helpers import unique, wait_until

pytestmark = pytest.mark.integration

#: The vitals of the mid-stream test, and how many a second the tablet sends.
STREAM_N = 500
STREAM_RATE_PER_S = 100.0
#: How long a client may take to connect to a live node after another died (elections included).
TAKEOVER_S = 30.0


class Inbox:
    """One MQTT 3.1.1 client (one node's URL, or several to fail over between) and what it received, with when
    (time.monotonic()) and through which node (its MQTT port)."""

    def __init__(self, url: str, client_id: str, *filters: str, clean_session: bool = True) -> None:
        self._lock = threading.Lock()
        self._received: list[tuple[float, int, Message]] = []
        self.client = MqttClient(url, client_id, on_message=self._on, clean_session=clean_session, protocol="3.1.1")
        for topic_filter in filters:
            self.client.subscribe(topic_filter, qos=1)

    def _on(self, message: Message) -> None:
        with self._lock:
            self._received.append((time.monotonic(), self.client.address.port, message))

    def start(self, timeout_s: float = 10.0) -> Inbox:
        self.client.start(timeout_s)
        return self

    def messages(self, *, via: Node | None = None, not_via: Node | None = None) -> list[Message]:
        """What was received (through node ``via`` only, or through any node but ``not_via``)."""
        with self._lock:
            received = list(self._received)
        return [m for _, port, m in received if (via is None or port == via.mqtt_port)
                and (not_via is None or port != not_via.mqtt_port)]  # fmt: skip

    def wait_any(self, timeout_s: float) -> bool:
        """Wait until something was received."""
        return wait_until(lambda: bool(self.messages()), timeout_s=timeout_s)

    def first_at(self, *, not_via: Node | None = None) -> float | None:
        """When the first message came (through any node but ``not_via``)."""
        with self._lock:
            return next((at for at, port, _ in self._received if not_via is None or port != not_via.mqtt_port), None)

    def msg_ids(self, *, via: Node | None = None, not_via: Node | None = None) -> list[str]:
        """The message ids of the vitals received, in order, duplicates included."""
        return [vitals(m).msg_id for m in self.messages(via=via, not_via=not_via)]

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


def when(predicate: Callable[[], bool], timeout_s: float = TAKEOVER_S) -> list[float]:
    """Watch ``predicate`` on a thread of its own (every 20 ms, at most ``timeout_s``); the list gets the
    time.monotonic() at which it first held."""
    seen: list[float] = []

    def watch() -> None:
        if wait_until(predicate, timeout_s=timeout_s):
            seen.append(time.monotonic())

    threading.Thread(target=watch, name="watch", daemon=True).start()
    return seen


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

    def retained_for_a_new_tablet(node: Node) -> tuple[list[Message], int]:
        """What a new tablet on ``node`` alone, subscribed to the advice, gets. While the cluster elects a leader the
        node may close its CONNECT (the client reconnects with back-off) or refuse its QoS 1 subscription (the
        client subscribes again until it is granted: start() returns then). (messages, subscriptions refused)"""
        inbox = Inbox(node.url, unique("tablet"), topic).start(TAKEOVER_S)
        inbox.wait_any(10)  # a retained message comes with the subscription's acknowledgement
        inbox.client.stop()
        return inbox.messages(), inbox.client.subscription_retries

    before, _ = retained_for_a_new_tablet(b)
    killed = nats_cluster.kill(a)
    on_b, refused_b = retained_for_a_new_tablet(b)
    on_b_s = time.monotonic() - killed
    on_c, refused_c = retained_for_a_new_tablet(c)
    nats_cluster.start(a)  # A comes back on its store; it must serve the advice too
    back_on_a, _ = retained_for_a_new_tablet(a)
    for where, found in (("B before", before), ("B after A died", on_b), ("C after A died", on_c),
                         ("A restarted", back_on_a)):  # fmt: skip
        assert len(found) == 1, f"{where}: {found}"
        assert found[0].retained and found[0].qos == 1, where
        assert schemas.decode(topics.Kind.ADVICE, found[0].payload) == sent, where
    figure(f"retained advice published through node A (leader of the retained stream), A killed (SIGKILL): a new "
           f"tablet on B had it {on_b_s:.2f} s after the kill (its subscription refused {refused_b} time(s) first), "
           f"one on C next (refused {refused_c} time(s)); A restarted on its store served it too")  # fmt: skip


def test_a_persistent_session_and_its_queued_messages_move_to_another_node(nats_cluster: NatsCluster) -> None:
    b = nats_cluster.leader_of("$MQTT_sess")  # the node that dies leads the sessions' stream
    a, c = nats_cluster.others(b)
    unit = unique("U")
    client_id = unique("dispatcher-seoul")
    urls = nats_cluster.urls(b, c)  # its own node B first, then C, then A
    first = Inbox(urls, client_id, topics.subscription(topics.Kind.VITALS), clean_session=False).start()
    assert first.client.address.port == b.mqtt_port
    first.client.stop()  # gone for now: the session stays, subscribed, on the cluster
    tablet = MqttClient(a.url, unique("tablet"), protocol="3.1.1").start()
    sent = [a_vitals_set(n) for n in range(20)]
    for one in sent:
        assert tablet.send(topics.Topic(topics.Kind.VITALS, unit), one).wait(5)
    tablet.stop()
    killed = nats_cluster.kill(b)

    # The same client id with the same URLs, subscribing to nothing: B refuses the connection, the client goes on to
    # the next node by itself; whatever arrives comes from the session kept since B.
    again = Inbox(urls, client_id, clean_session=False)
    again.start(TAKEOVER_S)
    connected_s = time.monotonic() - killed
    on = nats_cluster.node_at(again.client.address.port)
    try:
        assert wait_until(lambda: len(set(again.msg_ids())) >= len(sent), timeout_s=15), again.msg_ids()
    finally:
        again.client.stop()
    assert on is not b
    assert set(again.msg_ids()) == {v.msg_id for v in sent}
    assert {m.topic for m in again.messages()} == {topics.build(topics.Kind.VITALS, unit)}
    figure(f"persistent session made on B, 20 QoS 1 vitals queued, B killed: the same client id, given every node's "
           f"URL, connected to {on.name} by itself {connected_s:.2f} s after the kill "
           f"({again.client.describe()}) and got {len(again.msg_ids())} messages "
           f"({len(set(again.msg_ids()))} distinct)")  # fmt: skip


# --- a node killed mid-stream ----------------------------------------------------------------------------------


def test_a_node_killed_mid_stream_loses_no_qos1_vitals(nats_cluster: NatsCluster) -> None:
    """A tablet sends STREAM_N vitals through node A at a steady rate; the subscriber's node B is killed half way;
    the subscriber (persistent session, every node's URL) moves to another node by itself and must get every
    one."""
    b = nats_cluster.leader_of("$MQTT_msgs")  # the node that dies leads the stream of the QoS 1 messages
    a, c = nats_cluster.others(b)
    unit = unique("U")
    client_id = unique("dispatcher-seoul")
    topic_filter = topics.subscription(topics.Kind.VITALS)
    subscriber = Inbox(nats_cluster.urls(b, c), client_id, topic_filter, clean_session=False).start()
    assert subscriber.client.address.port == b.mqtt_port
    tablet = MqttClient(nats_cluster.urls(a), unique("tablet"), protocol="3.1.1").start()
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
    try:
        assert killed.wait(STREAM_N / STREAM_RATE_PER_S + 10)
        client = subscriber.client
        moved = when(lambda: client.reconnects >= 1 and client.connected and client.address.port != b.mqtt_port)
        sender.join(STREAM_N / STREAM_RATE_PER_S + 30)
        assert wait_until(lambda: bool(moved), timeout_s=TAKEOVER_S), "the subscriber moved to a live node"
        connected_s = moved[0] - killed_at[0]
        deadline = time.monotonic() + 30
        unacknowledged = sum(not d.wait(max(0.0, deadline - time.monotonic())) for d in deliveries)
        everyone = {v.msg_id for v in sent}
        wait_until(lambda: everyone <= set(subscriber.msg_ids()), timeout_s=30, every_s=0.1)
    finally:
        tablet.stop()
        subscriber.client.stop()
    on_b, elsewhere = subscriber.msg_ids(via=b), subscriber.msg_ids(not_via=b)
    received = subscriber.msg_ids()
    lost = everyone - set(received)
    duplicates = len(received) - len(set(received))
    first_elsewhere = subscriber.first_at(not_via=b)
    gap = f"{first_elsewhere - killed_at[0]:.2f} s" if first_elsewhere is not None else "never"
    on = nats_cluster.node_at(subscriber.client.address.port).name
    figure(f"node B killed (SIGKILL) after {STREAM_N // 2} of {STREAM_N} QoS 1 vitals at {STREAM_RATE_PER_S:g}/s "
           f"through A: {len(on_b)} received on B, {len(elsewhere)} on {on}; lost {len(lost)}, duplicates "
           f"{duplicates}; the subscriber (every node's URL) failed over to {on} by itself, connected there "
           f"{connected_s:.2f} s and got its first message there {gap} after the kill; {unacknowledged} publishes not "
           f"acknowledged to the tablet, {tablet.reconnects} tablet reconnects, {subscriber.client.reconnects} "
           f"subscriber reconnects, {subscriber.client.subscription_retries} subscriptions tried again")  # fmt: skip
    assert sender.is_alive() is False
    assert 0 < len(on_b) < STREAM_N, "B died mid-stream"
    assert elsewhere, "the subscriber took its session to another node"
    assert not lost, f"{len(lost)} vitals lost"


# --- the dispatcher moved to another node ----------------------------------------------------------------------


def test_advice_resumes_after_the_dispatchers_node_dies(
    nats_cluster: NatsCluster, prepared: Prepared, severity: TrainedSeverity, tmp_path: Path
) -> None:
    """The dispatcher's connection (:func:`goldentime.services.dispatcher_client`: persistent session, manual
    acknowledgement) given every node's URL, as ``GOLDENTIME_MQTT_URL`` takes them: its node dies and it moves by
    itself. A message delivered by the connection that died is never acknowledged on the new one (its packet id
    would acknowledge another message there): the session sends it again."""
    a = nats_cluster.leader_of("$MQTT_msgs")  # the dispatcher's node leads the stream of the QoS 1 messages
    b, c = nats_cluster.others(a)
    settings = Settings(mqtt_url=nats_cluster.urls(a, c), var_dir=tmp_path / "var")  # it negotiates 3.1.1 here
    bus = dispatcher_client(settings, settings.mqtt_url or "", "dispatcher-seoul")
    dispatcher = Dispatcher(bus, prepared, severity)
    unit = unique("U")
    # A clean session, as a tablet has: when B closes the tablet's connection (it could not store a QoS 1 message
    # while the stream elected a leader), its subscription made again on reconnecting may be refused (SUBACK 0x80)
    # during that election; the client subscribes again until it is granted, and gets the retained advice then.
    tablet = Inbox(nats_cluster.urls(b, c), unique("tablet"), topics.build(topics.Kind.ADVICE, unit))

    def send(payload: schemas.Payload) -> None:
        kind = {schemas.Status: topics.Kind.STATUS, schemas.Position: topics.Kind.POSITION,
                schemas.Vitals: topics.Kind.VITALS}[type(payload)]  # fmt: skip
        delivery = tablet.client.send(topics.Topic(kind, unit), payload)
        assert kind is topics.Kind.POSITION or delivery.wait(TAKEOVER_S), f"node B acknowledged the {kind.value}"

    def advised(patient: str) -> schemas.Advice | None:
        return next((x for x in tablet.advice() if x.patient_id == patient), None)

    try:
        dispatcher.start(TAKEOVER_S)
        assert bus.address.port == a.mqtt_port
        tablet.start()
        send(schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
        send(schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1]))
        send(schemas.Vitals.new(patient_id="P-before-1", hr_bpm=128, sbp_mmhg=86, spo2_pct=90, rr_per_min=26))
        assert wait_until(lambda: advised("P-before-1") is not None, timeout_s=20), "advice before the failure"
        first = advised("P-before-1")
        assert first is not None

        killed = nats_cluster.kill(a)
        moved = when(lambda: bus.reconnects >= 1 and bus.connected and bus.address.port != a.mqtt_port)
        # A new patient's vitals while the dispatcher has no connection: kept in its session (QoS 1).
        send(schemas.Vitals.new(patient_id="P-after-1", hr_bpm=54, sbp_mmhg=82, spo2_pct=88, rr_per_min=30,
                                chief_complaint="chest pain"))  # fmt: skip
        stored_s = time.monotonic() - killed
        assert wait_until(lambda: bool(moved), timeout_s=TAKEOVER_S), "the dispatcher moved to a live node"
        moved_s = moved[0] - killed
        send(schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1]))
        assert wait_until(lambda: advised("P-after-1") is not None, timeout_s=30), "advice after the failure"
        resumed_s = time.monotonic() - killed
        second = advised("P-after-1")
    finally:
        dispatcher.stop()
        tablet.client.stop()
    assert second is not None
    assert second.advice_version > first.advice_version, "the same engine went on: a newer advice version"
    on = nats_cluster.node_at(bus.address.port)
    assert on in (b, c), "the dispatcher is on a live node"
    figure(f"dispatcher's node A (leader of the QoS 1 messages' stream) killed (SIGKILL), tablet on B: the tablet's "
           f"new vitals acknowledged {stored_s:.2f} s after the kill ({tablet.client.reconnects} tablet reconnects, "
           f"{tablet.client.subscription_retries} of its subscriptions tried again), the dispatcher (every node's URL) "
           f"failed over to {on.name} by itself at {moved_s:.2f} s ({bus.stale_acks} acknowledgements of the dead "
           f"connection's messages dropped), advice for those vitals at {resumed_s:.2f} s")  # fmt: skip
