"""Capacity publishing through a real broker: retained state on start, every update, broker outages; and the
centres' answers to transfer requests, on their own topic, kept until the broker has them."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hospital_capacity.publisher import CapacityPublisher
from hospital_capacity.schemas import AnswerCreate, HospitalCreate, StatusUpdate
from hospital_capacity.service import Caller, CapacityService
from hospital_capacity.store import CapacityStore
from telemetry import schemas, topics
from telemetry.broker import EmbeddedBroker, free_port
from telemetry.client import Message, MqttClient
from tests.conftest import BrokerUnderTest
from tests.helpers import wait_until

CONTROL = Caller(label="control room", hpid=None)


def centres(n: int) -> list[HospitalCreate]:
    """Centres with hpids no other run has used (a real broker keeps retained messages)."""
    prefix = "T" + uuid.uuid4().hex[:8].upper()
    return [HospitalCreate(hpid=f"{prefix}{i}", name=f"Test {i}", level=2, lat=35.15, lon=126.85) for i in range(n)]


class Watcher:
    def __init__(self, url: str, protocol: str) -> None:
        self.latest: dict[str, schemas.Capacity] = {}
        self.count = 0
        self._lock = threading.Lock()
        self.client = MqttClient(url, f"watch-{uuid.uuid4().hex[:8]}", on_message=self._on, protocol=protocol)
        self.client.subscribe(topics.subscription(topics.Kind.CAPACITY), qos=1)
        self.client.start()

    def _on(self, message: Message) -> None:
        if not message.payload:
            return
        payload = schemas.decode(topics.Kind.CAPACITY, message.payload)
        assert isinstance(payload, schemas.Capacity)
        with self._lock:
            self.latest[topics.parse(message.topic).key] = payload
            self.count += 1

    def clear(self, hpids: list[str]) -> None:
        for hpid in hpids:
            self.client.clear_retained(topics.build(topics.Kind.CAPACITY, hpid)).wait(5)
        self.client.stop()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[CapacityService]:
    store = CapacityStore.open(f"sqlite:///{tmp_path / 'capacity.sqlite3'}")
    yield CapacityService(store)
    store.close()


def test_every_reported_centre_on_start_then_every_update(broker: BrokerUnderTest, service: CapacityService) -> None:
    """On start, every centre with a report is put on the bus again (retained state may be gone); a centre never
    reported is not: an empty report, retained, would replace what another writer said of it (issue 25)."""
    seeded = centres(5)
    service.seed(seeded)
    hpids = [h.hpid for h in seeded]
    reported = hpids[:2]
    for hpid in reported:
        service.update(hpid, StatusUpdate.model_validate({"beds": {"er_general": {"available": 2, "total": 9}}}),
                       caller=CONTROL)  # fmt: skip
    watcher = Watcher(broker.url, broker.protocol)
    publisher = CapacityPublisher(
        service, lambda: MqttClient(broker.url, f"cap-{uuid.uuid4().hex[:8]}", protocol=broker.protocol)
    ).start()
    late: Watcher | None = None
    try:
        assert wait_until(lambda: set(reported) <= set(watcher.latest), timeout_s=15), "every reported centre on start"
        assert wait_until(lambda: service.store.unpublished() == [], timeout_s=5)
        assert not set(hpids[2:]) & set(watcher.latest), "a centre never reported is not published"
        late = Watcher(broker.url, broker.protocol)  # starts after publishing: gets the retained state
        assert wait_until(lambda: set(reported) <= set(late.latest), timeout_s=10), "retained state for latecomers"
        update = StatusUpdate.model_validate({"beds": {"er_general": {"available": 4, "total": 20}}})
        service.update(hpids[2], update, caller=CONTROL)

        def updated() -> bool:
            beds = watcher.latest[hpids[2]].beds if hpids[2] in watcher.latest else {}
            return schemas.BedType.ER_GENERAL in beds and beds[schemas.BedType.ER_GENERAL].available == 4

        assert wait_until(updated, timeout_s=10)
        assert watcher.latest[hpids[2]].updated_by == "control room"
        # marked published once the broker acknowledged it, which may come after the watcher has it
        assert wait_until(lambda: service.store.unpublished() == [], timeout_s=5)
    finally:
        publisher.stop()
        if late is not None:
            late.client.stop()
        watcher.clear([h for h in hpids if h in watcher.latest])


def test_updates_during_a_broker_outage_go_out_when_it_returns(service: CapacityService) -> None:
    seeded = centres(2)
    service.seed(seeded)
    hpid = seeded[0].hpid
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    publisher = CapacityPublisher(service, lambda: MqttClient(url, "cap-outage"), retry_s=0.5)
    with EmbeddedBroker(port=port):
        publisher.start()
        assert wait_until(lambda: service.store.unpublished() == [], timeout_s=10)
    update = StatusUpdate.model_validate({"ems_traffic": {"status": "closed", "reason": "power failure"}})
    service.update(hpid, update, caller=CONTROL)  # the broker is down: stored, not lost
    assert [row["hpid"] for row in service.store.unpublished()] == [hpid]
    try:
        with EmbeddedBroker(port=port) as returned:
            assert wait_until(lambda: service.store.unpublished() == [], timeout_s=20), "published on return"
            watcher = Watcher(returned.url, "3.1.1")
            assert wait_until(lambda: hpid in watcher.latest, timeout_s=10)
            assert watcher.latest[hpid].ems_traffic.status is schemas.TrafficStatus.CLOSED
            assert watcher.latest[hpid].ems_traffic.reason == "power failure"
            watcher.client.stop()
    finally:
        publisher.stop()


# --- answers to transfer requests -----------------------------------------------------------------


class AnswerWatcher:
    """What the dispatcher would receive on ``ems/hospitals/+/answer``: (hpid, answer), in order."""

    def __init__(self, url: str, protocol: str) -> None:
        self.received: list[tuple[str, schemas.Answer]] = []
        self._lock = threading.Lock()
        self.client = MqttClient(url, f"answers-{uuid.uuid4().hex[:8]}", on_message=self._on, protocol=protocol)
        self.client.subscribe(topics.subscription(topics.Kind.ANSWER), qos=1)
        self.client.start()

    def _on(self, message: Message) -> None:
        answer = schemas.decode(topics.Kind.ANSWER, message.payload)
        assert isinstance(answer, schemas.Answer) and not message.retained
        with self._lock:
            self.received.append((topics.parse(message.topic).key, answer))


def test_answers_go_out_on_the_centres_answer_topic(broker: BrokerUnderTest, service: CapacityService) -> None:
    seeded = centres(2)
    service.seed(seeded)
    first, second = seeded[0].hpid, seeded[1].hpid
    watcher = AnswerWatcher(broker.url, broker.protocol)
    publisher = CapacityPublisher(
        service, lambda: MqttClient(broker.url, f"cap-{uuid.uuid4().hex[:8]}", protocol=broker.protocol)
    ).start()
    try:
        nurse = Caller(label="charge nurse", hpid=first)
        accept = service.answer(first, "R-1", AnswerCreate(answer=schemas.AnswerKind.ACCEPT), caller=nurse)
        decline = AnswerCreate.model_validate({"answer": "decline", "reason": "no_bed", "text": "과밀"})
        declined = service.answer(second, "R-2", decline, caller=CONTROL)
        assert wait_until(lambda: len(watcher.received) >= 2, timeout_s=10)
        assert watcher.received[:2] == [(first, accept), (second, declined)]  # each on its centre's topic
        assert declined.reason is schemas.RefusalReason.NO_BED and declined.answered_by == "control room"
        assert wait_until(lambda: service.answers_waiting() == [], timeout_s=5)  # acknowledged: forgotten
        assert publisher.answers_published == 2
    finally:
        publisher.stop()
        for hpid in (first, second):  # the centres' retained capacity: a real broker keeps it
            watcher.client.clear_retained(topics.build(topics.Kind.CAPACITY, hpid)).wait(5)
        watcher.client.stop()


def test_answers_made_while_the_broker_is_down_go_out_when_it_returns(service: CapacityService) -> None:
    seeded = centres(1)
    service.seed(seeded)
    hpid = seeded[0].hpid
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    publisher = CapacityPublisher(
        service, lambda: MqttClient(url, "cap-answers-outage"), retry_s=0.5, ack_timeout_s=0.5
    )
    publisher.start()  # no broker yet: it keeps trying
    try:
        answer = service.answer(hpid, "R-9", AnswerCreate(answer=schemas.AnswerKind.ACCEPT), caller=CONTROL)
        disconnected = MqttClient(url, "cap-answers-never-connected")
        assert publisher.publish_answers(disconnected) == 0  # nobody acknowledged it: still waiting
        assert service.answers_waiting() == [(hpid, answer)]
        with EmbeddedBroker(port=port):
            assert wait_until(lambda: service.answers_waiting() == [], timeout_s=20), "sent on the broker's return"
        assert publisher.answers_published == 1
    finally:
        publisher.stop()
