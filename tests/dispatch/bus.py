"""The dispatcher's side of the bus for the end-to-end tests: a tablet-like client (:class:`Bus`), the
capacity reports that set up a situation, patients of every kind and the advice that comes back."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime

import pytest

from dispatch.service import Dispatcher
from telemetry import bus, schemas, topics
from telemetry.client import Message, MqttClient
from telemetry.memory_bus import MemoryBroker, MemoryBus
from tests.conftest import EXTERNAL_MQTT, BrokerUnderTest
from tests.helpers import unique, wait_until

Where = tuple[float, float]

JONGNO_3GA: Where = (37.5704, 126.9921)  # a street corner in central Seoul
#: 국립중앙의료원 is the nearest centre, 서울대학교병원 second (the tests check it, on the real roads).
DONGDAEMUN: Where = (37.5711, 127.0095)
#: 서울적십자병원 (level 3) is the nearest, then 강북삼성병원 (level 2, no trauma centre).
CITY_HALL: Where = (37.5663, 126.9779)
#: 강북삼성병원 is the nearest, then 서울적십자병원 (level 3).
GWANGHWAMUN: Where = (37.5716, 126.9769)
#: 세란병원 and 서울적십자병원 (both level 3) are nearer than any level 1-2 centre.
DONGNIMMUN: Where = (37.5742, 126.9600)


#: The real brokers: the embedded one, and the one configured (Mosquitto in CI).
SOCKETS = ["embedded", *(["external"] if EXTERNAL_MQTT else [])]
#: For a test that needs a broker on a socket (a vendor's client, the recorder's): not the in-memory bus.
sockets_only = pytest.mark.parametrize("broker", SOCKETS, indirect=True)

#: The in-memory brokers of the tests running now, by their ``memory://`` URL.
_MEMORY: dict[str, MemoryBroker] = {}


@contextlib.contextmanager
def memory_broker() -> Iterator[BrokerUnderTest]:
    """An in-memory broker of its own for one test, named by a ``memory://`` URL that :func:`connect` knows."""
    url = f"memory://{uuid.uuid4().hex}"
    _MEMORY[url] = MemoryBroker()
    try:
        yield BrokerUnderTest("memory", url, "5")
    finally:
        del _MEMORY[url]


def connect(broker: BrokerUnderTest, client_id: str, on_message: bus.MessageHandler | None = None) -> bus.Bus:
    """A client of ``broker``: of the in-memory bus, or MQTT on a real broker."""
    if broker.name == "memory":
        return MemoryBus(_MEMORY[broker.url], client_id, on_message=on_message)
    return MqttClient(broker.url, client_id, on_message=on_message, protocol=broker.protocol)


class Bus:
    """A tablet-like client that publishes for units and records what the dispatcher sends."""

    def __init__(self, broker: BrokerUnderTest) -> None:
        self.messages: dict[str, list[bytes]] = {}
        self.used: set[tuple[topics.Kind, str]] = set()
        self._lock = threading.Lock()
        self.client = connect(broker, unique("bus"), on_message=self._on)
        for kind in (topics.Kind.ADVICE, topics.Kind.INBOUND, topics.Kind.ASSIGNMENT, topics.Kind.REQUESTS,
                     topics.Kind.REQUEST_STATE):  # fmt: skip
            self.client.subscribe(topics.subscription(kind), qos=1)
        self.client.subscribe("ems/rejected/dispatcher", qos=1)
        self.client.subscribe(topics.subscription(topics.Kind.UNIT_REJECTED), qos=1)  # what a unit is told
        self.client.start()

    def _on(self, message: Message) -> None:
        with self._lock:
            self.messages.setdefault(message.topic, []).append(message.payload)

    def last(self, topic: str) -> bytes | None:
        with self._lock:
            found = self.messages.get(topic)
            return found[-1] if found else None

    def advice(self, unit: str) -> schemas.Advice | None:
        raw = self.last(topics.build(topics.Kind.ADVICE, unit))
        if not raw:
            return None
        payload = schemas.decode(topics.Kind.ADVICE, raw)
        assert isinstance(payload, schemas.Advice)
        return payload

    def refusals(self, unit: str) -> list[schemas.Rejected]:
        """What the dispatcher told ``unit`` on its own refusal topic, oldest first."""
        with self._lock:
            raws = list(self.messages.get(topics.build(topics.Kind.UNIT_REJECTED, unit), []))
        found = [schemas.decode(topics.Kind.UNIT_REJECTED, raw) for raw in raws]
        return [r for r in found if isinstance(r, schemas.Rejected)]

    def reports(self) -> list[schemas.Rejected]:
        """The operators' reports on ``ems/rejected/dispatcher``, oldest first."""
        with self._lock:
            raws = list(self.messages.get("ems/rejected/dispatcher", []))
        found = [schemas.decode(topics.Kind.REJECTED, raw) for raw in raws]
        return [r for r in found if isinstance(r, schemas.Rejected)]

    def send(self, kind: topics.Kind, key: str, payload: schemas.Payload) -> None:
        self.used.add((kind, key))
        assert self.client.send(topics.Topic(kind, key), payload).wait(5)

    def transport(self, unit: str, where: Where, vitals: schemas.Vitals) -> None:
        """A unit taking its patient to hospital: status, position, then the vitals that ask for advice."""
        self.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
        self.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=where[0], lon=where[1]))
        self.send(topics.Kind.VITALS, unit, vitals)

    def forget_capacity(self, hpids: list[str]) -> None:
        """Clear the retained capacity of these centres, whoever sent it: they have never reported."""
        for hpid in hpids:
            assert self.client.clear_retained(topics.build(topics.Kind.CAPACITY, hpid)).wait(5)

    def clean(self) -> None:
        """Clear the retained messages of this test (a real broker keeps them across runs), and the
        pre-notification lists the dispatchers left (a stopped dispatcher does not send their last change)."""
        with self._lock:
            inbound = [
                t for t in self.messages if t.startswith("ems/hospitals/") and t.endswith(("/inbound", "/requests"))
            ]
        for topic in inbound:
            self.client.clear_retained(topic).wait(5)
        for kind, key in self.used:
            related = {
                topics.Kind.STATUS: (topics.Kind.STATUS, topics.Kind.ADVICE, topics.Kind.REQUEST_STATE),
                topics.Kind.INCIDENT: (topics.Kind.ASSIGNMENT,),
                topics.Kind.CAPACITY: (topics.Kind.CAPACITY,),
            }.get(kind, ())
            for retained in related:
                self.client.clear_retained(topics.build(retained, key)).wait(5)


# --- situations ------------------------------------------------------------------------------------


def capacity(
    now: datetime,
    *,
    beds: int | None = 10,
    overcrowded: bool = False,
    conditions: Mapping[schemas.Condition, bool] | None = None,
    equipment: Mapping[schemas.Equipment, bool] | None = None,
    traffic: schemas.TrafficStatus = schemas.TrafficStatus.NORMAL,
) -> schemas.Capacity:
    """A centre's report, every datum of it taken ``now``: ER general beds (None: not reported; overcrowded
    reads 0), the severe-illness conditions and equipment it declares, its EMS traffic status."""
    er = schemas.BedCount(available=0 if overcrowded else beds, total=30, overcrowded=overcrowded, updated_at=now)
    return schemas.Capacity.new(
        updated_at=now,
        beds={schemas.BedType.ER_GENERAL: er} if beds is not None or overcrowded else {},
        conditions={k: schemas.Capability(available=v, updated_at=now) for k, v in (conditions or {}).items()},
        equipment={k: schemas.Capability(available=v, updated_at=now) for k, v in (equipment or {}).items()},
        ems_traffic=schemas.EmsTraffic(
            status=traffic, reason="test" if traffic is not schemas.TrafficStatus.NORMAL else None, updated_at=now
        ),
    )


def report(bus: Bus, dispatcher: Dispatcher, reports: Mapping[str, schemas.Capacity]) -> None:
    """Publish the centres' reports (retained) and wait until the dispatcher holds every one of them."""
    for hpid, payload in reports.items():
        bus.send(topics.Kind.CAPACITY, hpid, payload)

    def held() -> bool:
        found = {h: dispatcher.capacity.get(h) for h in reports}
        return all(c is not None and c.msg_id == reports[h].msg_id for h, c in found.items())

    assert wait_until(held, timeout_s=10), "the dispatcher got every capacity report"
    # Everything the broker had retained for the dispatcher came before these reports: no patient of an
    # earlier test (retained advice) may hold a bed of this one.
    ours = {key for _, key in bus.used}
    others = [u.unit_id for u in list(dispatcher.units.values()) if u.destination and u.unit_id not in ours]
    assert not others, f"retained advice of other tests on the broker: {others}"


def etas(dispatcher: Dispatcher, where: Where) -> dict[str, float]:
    """Road ETA in seconds from ``where`` to every centre, as the dispatcher computes it."""
    found = dispatcher.prepared.index.etas(*where)
    return dict(zip(found.target_ids, found.seconds.tolist(), strict=True))


def by_distance(dispatcher: Dispatcher, where: Where) -> list[str]:
    """The centres, nearest first."""
    eta = etas(dispatcher, where)
    return sorted(eta, key=lambda h: (eta[h], h))


def advised(bus: Bus, dispatcher: Dispatcher, unit: str, timeout_s: float = 10.0) -> schemas.Advice:
    """The unit's advice once the bus has the newest version the dispatcher sent."""

    def current() -> bool:
        state = dispatcher.units.get(unit)
        advice = bus.advice(unit)
        return state is not None and advice is not None and advice.advice_version == state.advice_version

    assert wait_until(current, timeout_s=timeout_s), f"advice for {unit}"
    advice = bus.advice(unit)
    assert advice is not None
    return advice


# --- patients ----------------------------------------------------------------------------------------


def _patient_id() -> str:
    return f"P-{uuid.uuid4().hex[:8]}"


def stable_vitals(complaint: str, **flags: bool) -> schemas.Vitals:
    """A patient the crew has flagged, with vitals that do not call for stabilising first."""
    return schemas.Vitals.new(
        patient_id=_patient_id(), age_years=58, sex="male", hr_bpm=104, sbp_mmhg=128, dbp_mmhg=80, rr_per_min=20,
        spo2_pct=95, avpu="A", pain_nrs=7, chief_complaint=complaint, flags=schemas.CrewFlags(**flags),
    )  # fmt: skip


def critical_vitals() -> schemas.Vitals:
    """No crew flag, but vitals the model scores critical (KTAS 1-2, p_critical near 1), still stable enough
    to travel (SpO2, breathing and systolic pressure above the StabiliseRule)."""
    return schemas.Vitals.new(
        patient_id=_patient_id(), age_years=78, sex="male", hr_bpm=138, sbp_mmhg=82, dbp_mmhg=50, rr_per_min=32,
        spo2_pct=86, temp_c=38.9, avpu="V", gcs=10, pain_nrs=8, chief_complaint="dyspnea, chest pain",
    )  # fmt: skip


def minor_vitals() -> schemas.Vitals:
    """A KTAS 4-5 patient: normal vitals, a minor complaint."""
    return schemas.Vitals.new(
        patient_id=_patient_id(), age_years=30, sex="female", hr_bpm=76, sbp_mmhg=122, dbp_mmhg=78, rr_per_min=16,
        spo2_pct=99, temp_c=36.6, avpu="A", gcs=15, pain_nrs=2, chief_complaint="minor finger laceration",
    )  # fmt: skip
