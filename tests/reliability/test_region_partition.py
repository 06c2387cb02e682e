"""Two regions' dispatchers on one bus (issue 26): each decides only for its own region's units and incidents.

The ``national`` scenario's Gwangju and Jeonnam dispatchers (each with its region's part, its own client id
``dispatcher-{region}`` and epoch) share one in-memory broker, subscribed alike to every unit's topics. Units of the
fleet (known by the scenario) and tablets it does not know (placed by the nearest 119 station) stream in both
regions: every unit gets advice from exactly one dispatcher, carrying that region's epoch, and the other publishes
nothing about it, not even a refusal; a free tablet crossing the border changes region, one carrying a patient does
not; an incident is recommended a unit by the region it is in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from dispatch.decision_state import epoch_of
from dispatch.partition import RegionMap
from dispatch.scenario import Prepared, Scenario
from dispatch.service import Dispatcher
from dispatch.severity.model import TrainedSeverity
from goldentime.services import region_client_id
from goldentime.settings import default_data_dir
from loaders.scenarios import load_scenario, prepare
from telemetry import schemas, topics
from telemetry.memory_bus import Done, MemoryBroker, MemoryBus
from tests.dispatch.bus import Bus, capacity, critical_vitals, memory_broker, minor_vitals
from tests.helpers import wait_until

Where = tuple[float, float]
GWANGJU_CITY: Where = (35.1601, 126.8514)  # 광주광역시청
GWANGSAN: Where = (35.14, 126.79)  # west Gwangju, near the border
NAJU: Where = (35.016, 126.7108)  # 나주, Jeonnam, across it
MOKPO: Where = (34.8118, 126.3922)  # 목포, Jeonnam
EPOCHS = {"gwangju": 3, "jeonnam": 7}


class Recording(MemoryBus):
    """A dispatcher's connection that remembers every topic it published on."""

    def __init__(self, broker: MemoryBroker, client_id: str) -> None:
        super().__init__(broker, client_id)
        self.published: list[str] = []
        self._lock = threading.Lock()

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> Done:
        with self._lock:
            self.published.append(topic)
        return super().publish(topic, payload, qos=qos, retain=retain)

    def about(self, unit: str) -> list[str]:
        with self._lock:
            return [t for t in self.published if t.startswith(f"ems/units/{unit}/")]


@dataclass
class Regions:
    national: Scenario
    bus: Bus
    dispatchers: dict[str, Dispatcher]
    clients: dict[str, Recording]

    def fleet_unit(self, region: str) -> str:
        """An ambulance of the scenario's fleet based in ``region``."""
        return next(u for u, r in self.dispatchers[region].partition.map.fleet.items() if r == region)  # type: ignore[union-attr]

    def owner(self, version: int) -> str:
        """The region whose epoch the advice version carries."""
        return next(r for r, e in EPOCHS.items() if epoch_of(version) == e)


@pytest.fixture(scope="module")
def national() -> Scenario:
    return load_scenario("national", default_data_dir())


@pytest.fixture(scope="module")
def parts(national: Scenario, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Prepared]:
    cache = tmp_path_factory.mktemp("cache")
    return {r: prepare(national.region(r), cache_dir=cache) for r in EPOCHS}


@pytest.fixture
def regions(national: Scenario, parts: dict[str, Prepared], severity: TrainedSeverity) -> Iterator[Regions]:
    with memory_broker() as broker:
        memory = _memory(broker.url)
        bus = Bus(broker)
        clients = {r: Recording(memory, region_client_id(r)) for r in EPOCHS}
        dispatchers = {
            r: Dispatcher(clients[r], parts[r], severity, epoch=e, regions=RegionMap.of(national, r)).start()
            for r, e in EPOCHS.items()
        }
        try:
            yield Regions(national, bus, dispatchers, clients)
        finally:
            for d in dispatchers.values():
                d.stop()
            bus.client.stop()


def _memory(url: str) -> MemoryBroker:
    from tests.dispatch import bus as bus_module

    return bus_module._MEMORY[url]


def advised(regions: Regions, unit: str, patient: str) -> schemas.Advice:
    def found() -> bool:
        advice = regions.bus.advice(unit)
        return advice is not None and advice.patient_id == patient

    assert wait_until(found, timeout_s=10), f"advice for {unit}"
    advice = regions.bus.advice(unit)
    assert advice is not None
    return advice


def quiet(regions: Regions) -> None:
    """Until both dispatchers have decided everything sent so far."""
    assert wait_until(lambda: all(d._queue.empty() for d in regions.dispatchers.values()), timeout_s=10)
    wait_until(lambda: False, timeout_s=0.3)  # the batch taken last is decided and published


def test_each_unit_is_advised_by_its_own_region_only(regions: Regions) -> None:
    bus, clients = regions.bus, regions.clients
    units = {
        regions.fleet_unit("gwangju"): ("gwangju", GWANGJU_CITY),
        regions.fleet_unit("jeonnam"): ("jeonnam", MOKPO),
        "tablet-gj": ("gwangju", GWANGJU_CITY),  # not in the fleet: the nearest station decides
        "tablet-jn": ("jeonnam", NAJU),
    }
    # a gwangju ambulance on a call in Jeonnam is still gwangju's (its headquarters dispatches it)
    away = regions.fleet_unit("gwangju").replace("-0", "-9")
    assert away not in regions.dispatchers["gwangju"].partition.map.fleet  # type: ignore[union-attr]
    home = next(u for u, r in regions.dispatchers["gwangju"].partition.map.fleet.items()  # type: ignore[union-attr]
                if r == "gwangju" and u != regions.fleet_unit("gwangju"))  # fmt: skip
    units[home] = ("gwangju", NAJU)
    patients = {}
    for unit, (_, where) in units.items():
        vitals = critical_vitals()
        patients[unit] = vitals.patient_id
        bus.transport(unit, where, vitals)
    for unit, (region, _) in units.items():
        advice = advised(regions, unit, patients[unit])
        assert regions.owner(advice.advice_version) == region, unit
        other = next(r for r in EPOCHS if r != region)
        assert clients[other].about(unit) == [], f"{other} published about {unit}"
        assert f"ems/units/{unit}/advice" in clients[region].about(unit)
        centre = regions.national.centre(advice.destination.hpid)
        assert centre.serves(region)
    # a malformed message of a jeonnam unit: refused by jeonnam alone, on the unit's own topic and to operators
    jn = regions.fleet_unit("jeonnam")
    assert bus.client.publish(f"ems/units/{jn}/vitals", b"{not json", qos=1).wait(5)
    assert wait_until(lambda: len(bus.refusals(jn)) == 1, timeout_s=10)
    quiet(regions)
    assert len(bus.refusals(jn)) == 1
    assert clients["gwangju"].about(jn) == [] and f"ems/units/{jn}/rejected" in clients["jeonnam"].about(jn)
    # a decision on advice that changed, from a gwangju unit: gwangju refuses it, jeonnam says nothing
    gj = regions.fleet_unit("gwangju")
    bus.send(topics.Kind.DECISION, gj, schemas.Decision.new(advice_version=1, decision="accept"))
    assert wait_until(lambda: len(bus.refusals(gj)) == 1, timeout_s=10)
    quiet(regions)
    assert clients["jeonnam"].about(gj) == []
    for d in regions.dispatchers.values():
        assert not d.deposed
    assert regions.dispatchers["gwangju"].stats.foreign > 0 and regions.dispatchers["jeonnam"].stats.foreign > 0


def test_a_free_unit_crossing_the_border_changes_region_one_with_a_patient_does_not(regions: Regions) -> None:
    bus, clients, gwangju, jeonnam = regions.bus, regions.clients, *regions.dispatchers.values()
    free = "tablet-free"
    bus.send(topics.Kind.STATUS, free, schemas.Status.new(status=schemas.UnitStatus.AVAILABLE))
    bus.send(topics.Kind.POSITION, free, schemas.Position.new(lat=GWANGSAN[0], lon=GWANGSAN[1]))
    assert wait_until(lambda: free in gwangju.units, timeout_s=10) and free not in jeonnam.units
    bus.send(topics.Kind.POSITION, free, schemas.Position.new(lat=NAJU[0], lon=NAJU[1]))  # crosses, free
    assert wait_until(lambda: free in jeonnam.units and free not in gwangju.units, timeout_s=10)
    assert jeonnam.units[free].status is schemas.UnitStatus.AVAILABLE  # told its status when it joined
    # a call in Jeonnam near it: jeonnam recommends it; gwangju recommends nothing (the call is not its)
    call = schemas.Incident.new(lat=NAJU[0] + 0.002, lon=NAJU[1], category="cardiac", priority=1)
    bus.send(topics.Kind.INCIDENT, "INC-naju", call)
    topic = topics.build(topics.Kind.ASSIGNMENT, "INC-naju")
    assert wait_until(lambda: bus.last(topic) is not None, timeout_s=10)
    assignment = schemas.decode(topics.Kind.ASSIGNMENT, bus.last(topic) or b"")
    assert isinstance(assignment, schemas.Assignment) and assignment.unit_id == free
    quiet(regions)
    assert topic in clients["jeonnam"].published and topic not in clients["gwangju"].published

    carrying = "tablet-carrying"  # picks up a patient in Gwangju, then drives into Jeonnam
    first = minor_vitals()
    bus.transport(carrying, GWANGSAN, first)
    advice = advised(regions, carrying, first.patient_id)
    assert epoch_of(advice.advice_version) == EPOCHS["gwangju"]
    bus.send(topics.Kind.POSITION, carrying, schemas.Position.new(lat=NAJU[0], lon=NAJU[1]))
    worse = critical_vitals().model_copy(update={"patient_id": first.patient_id})
    bus.send(topics.Kind.VITALS, carrying, worse)  # worse in Jeonnam: still gwangju's patient
    assert wait_until(lambda: bool((a := bus.advice(carrying)) and a.severity and a.severity.critical), timeout_s=10)
    quiet(regions)
    latest = bus.advice(carrying)
    assert latest is not None and epoch_of(latest.advice_version) == EPOCHS["gwangju"]
    assert clients["jeonnam"].about(carrying) == [] and carrying not in jeonnam.units
    # at hospital, then free in Jeonnam: now jeonnam's
    bus.send(topics.Kind.STATUS, carrying, schemas.Status.new(status=schemas.UnitStatus.AT_HOSPITAL))
    bus.send(topics.Kind.STATUS, carrying, schemas.Status.new(status=schemas.UnitStatus.AVAILABLE))
    bus.send(topics.Kind.POSITION, carrying, schemas.Position.new(lat=NAJU[0], lon=NAJU[1] + 0.001))
    assert wait_until(lambda: carrying in jeonnam.units and carrying not in gwangju.units, timeout_s=10)
    assert bus.last(topics.build(topics.Kind.ADVICE, carrying)) == b""  # gwangju closed its trip


def test_capacity_of_centres_outside_a_regions_part_is_left_alone(regions: Regions, national: Scenario) -> None:
    """A report from Busan reaches both dispatchers and re-plans neither; a border centre's reaches both."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    busan = next(c.hpid for c in national.centres if c.region == "busan")
    border = next(c.hpid for c in national.centres if c.region == "gwangju" and "jeonnam" in c.also_serves)
    regions.bus.send(topics.Kind.CAPACITY, busan, capacity(now))
    regions.bus.send(topics.Kind.CAPACITY, border, capacity(now))
    assert wait_until(lambda: all(border in d.capacity for d in regions.dispatchers.values()), timeout_s=10)
    assert all(busan not in d.capacity for d in regions.dispatchers.values())
