"""The last bed of a border centre between two regions' dispatchers (issue 26): the bed ledger in the dispatcher.

Two regions (west: gwangju, east: jeonnam; the hand-made scenario of tests/dispatch/test_engine_regions.py) share
the border centre X, the nearest centre from either side. X reports one free bed; each region's own centre (G, J)
one too, farther. In every trial a critical patient in each region asks for advice at the same moment (two
threads released by a barrier), each region's dispatcher on a thread of its own with a ledger connection of its
own, on one in-memory bus: never are both advised to X with a bed promised, and the one that lost the race for the
bed gets one advice only, at its own centre (decided again in the same batch, never first advised to X).

Then the ledger's life around the dispatcher: beds released when the patient is moved, declined or arrives (held
until the centre's next report), kept alive, refreshed by a new leader; an unreachable ledger leaves the region's
own plan standing with an alert in Korean and English, and a stale epoch deposes the leader.

The ledger runs on SQLite and, with GOLDENTIME_TEST_DATABASE_URL, on PostgreSQL (a database of its own). Each
race prints its figures (``FIGURE ...``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

import pytest

from dispatch.decision_state import EngineState, epoch_of
from dispatch.partition import RegionMap
from dispatch.scenario import Prepared, Scenario
from dispatch.service import LEDGER_DOWN, BorderBeds, Dispatcher
from dispatch.severity.model import TrainedSeverity
from goldentime.services import border_centres, region_client_id
from telemetry import schemas, topics
from telemetry.bed_ledger import BedLedger, LedgerUnavailable, StaleLeaderError
from telemetry.memory_bus import MemoryBus
from tests.dispatch.bus import Bus, capacity, critical_vitals, memory_broker
from tests.dispatch.test_engine_regions import EAST, WEST, G, J, X, prepared_of, two_regions
from tests.helpers import wait_until

T = TypeVar("T")

#: Trials of the race per database (each a few tens of milliseconds).
TRIALS = 200
UNITS = {"gwangju": "U01-0", "jeonnam": "U02-0"}  # a fleet ambulance of each (tests/dispatch: fleet names)
WHERE = {"gwangju": WEST, "jeonnam": EAST}
OWN = {"gwangju": G, "jeonnam": J}


class Ledger:
    """A dispatcher's ledger connection (its own, as in its own process) that can be made to fail, and counts."""

    def __init__(self, url: str) -> None:
        self.real = BedLedger(url)
        self.fail: Exception | None = None
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def _call(self, name: str, work: Callable[[], T]) -> T:
        """``work()``, counted once it returned (or as it fails, when made to)."""
        if self.fail is not None:
            with self._lock:
                self.calls.append(name)
            raise self.fail
        result = work()
        with self._lock:
            self.calls.append(name)
        return result

    def reserve(
        self, hpid: str, patient_id: str, *, region: str, epoch: int, free_beds: int, report_at: datetime
    ) -> bool:
        return self._call("reserve", lambda: self.real.reserve(hpid, patient_id, region=region, epoch=epoch,
                                                               free_beds=free_beds, report_at=report_at))  # fmt: skip

    def release(
        self, hpid: str, patient_id: str, *, region: str, epoch: int, arrived_at: datetime | None = None
    ) -> bool:
        return self._call("release", lambda: self.real.release(hpid, patient_id, region=region, epoch=epoch,
                                                               arrived_at=arrived_at))  # fmt: skip

    def rebase(self, hpid: str, free_beds: int, report_at: datetime) -> bool:
        return self._call("rebase", lambda: self.real.rebase(hpid, free_beds, report_at))

    def refresh(self, region: str, epoch: int, patient_ids: Collection[str]) -> frozenset[str]:
        return self._call("refresh", lambda: self.real.refresh(region, epoch, patient_ids))

    def held_at(self, hpids: Collection[str], *, excluding_region: str | None = None) -> dict[str, int]:
        return self._call("held_at", lambda: self.real.held_at(hpids, excluding_region=excluding_region))

    def close(self) -> None:
        self.real.close()


@pytest.fixture(scope="module")
def whole() -> Scenario:
    return two_regions()


@pytest.fixture(scope="module")
def parts(whole: Scenario) -> dict[str, Prepared]:
    return {r: prepared_of(whole.region(r)) for r in UNITS}


@dataclass
class Region:
    name: str
    epoch: int
    ledger: Ledger
    dispatcher: Dispatcher
    stale: list[str] = field(default_factory=list)

    @property
    def beds(self) -> BorderBeds:
        assert self.dispatcher.beds is not None
        return self.dispatcher.beds


@dataclass
class Border:
    bus: Bus
    regions: dict[str, Region]
    url: str
    memory: object = None  # the in-memory broker (a new leader connects to it)

    def report(self, beds: dict[str, int], at: datetime | None = None) -> None:
        """The centres' reports (retained), held by every dispatcher whose part has the centre."""
        at = at or datetime.now(UTC)
        sent = {h: capacity(at, beds=n) for h, n in beds.items()}
        for hpid, payload in sent.items():
            self.bus.send(topics.Kind.CAPACITY, hpid, payload)

        def held() -> bool:
            return all(r.dispatcher.capacity.get(h) is not None and r.dispatcher.capacity[h].msg_id == p.msg_id
                       for r in self.regions.values() for h, p in sent.items()
                       if h in {c.hpid for c in r.dispatcher.prepared.scenario.centres})  # fmt: skip

        assert wait_until(held, timeout_s=10)

    def status(self, unit: str, status: schemas.UnitStatus) -> None:
        self.bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=status))

    def advised(self, unit: str, patient: str) -> bool:
        return bool(self.advice_of(unit, patient))

    def advice_of(self, unit: str, patient: str) -> list[schemas.Advice]:
        """Every advice the unit got for ``patient``, oldest first."""
        with self.bus._lock:
            raws = list(self.bus.messages.get(topics.build(topics.Kind.ADVICE, unit), []))
        found = [schemas.decode(topics.Kind.ADVICE, raw) for raw in raws if raw]
        return [a for a in found if isinstance(a, schemas.Advice) and a.patient_id == patient]


def start_region(
    memory: object, name: str, epoch: int, url: str, prepared: Prepared, severity: TrainedSeverity, whole: Scenario,
    *, restore: EngineState | None = None, refresh_s: float = 60.0, ledger: Ledger | None = None,
) -> Region:  # fmt: skip
    ledger = ledger or Ledger(url)
    stale: list[str] = []
    beds = BorderBeds(ledger, region=name, border=border_centres(prepared, name), refresh_s=refresh_s,
                      on_stale=stale.append)  # fmt: skip
    client = MemoryBus(memory, region_client_id(name))  # type: ignore[arg-type]
    dispatcher = Dispatcher(client, prepared, severity, epoch=epoch, regions=RegionMap.of(whole, name), beds=beds,
                            restore=restore).start()  # fmt: skip
    return Region(name, epoch, ledger, dispatcher, stale)


@pytest.fixture
def border(
    database_url: str, whole: Scenario, parts: dict[str, Prepared], severity: TrainedSeverity
) -> Iterator[Border]:
    from tests.dispatch import bus as bus_module

    with memory_broker() as broker:
        memory = bus_module._MEMORY[broker.url]
        bus = Bus(broker)
        regions = {
            name: start_region(memory, name, epoch, database_url, parts[name], severity, whole)
            for name, epoch in (("gwangju", 2), ("jeonnam", 5))
        }
        made = Border(bus, regions, database_url, memory)
        try:
            yield made
        finally:
            for region in made.regions.values():
                region.dispatcher.stop()
                region.ledger.close()
            bus.client.stop()


def test_border_centres_are_those_serving_a_neighbour_and_the_neighbours_serving_the_region(
    parts: dict[str, Prepared],
) -> None:
    assert border_centres(parts["gwangju"], "gwangju") == {X}  # its own X serves jeonnam; G serves nobody else
    assert border_centres(parts["jeonnam"], "jeonnam") == {X}  # gwangju's X serves it
    assert border_centres(parts["gwangju"], None) == {X}


def at_once(bus: Bus, vitals: dict[str, schemas.Vitals]) -> None:
    """Each unit's vitals sent at the same moment, from threads of their own released together."""
    gate = threading.Barrier(len(vitals))

    def send(unit: str) -> None:
        gate.wait(5)
        bus.send(topics.Kind.VITALS, unit, vitals[unit])

    threads = [threading.Thread(target=send, args=(unit,)) for unit in vitals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)


@dataclass
class Race:
    trials: int = 0
    both_promised: int = 0  # both regions' patients advised to X with a bed promised
    loser_advised_x_first: int = 0  # the loser got advice naming X before its own centre's
    loser_advised_twice: int = 0  # the loser got more than one advice (not decided again in the same batch)
    winners: dict[str, int] = field(default_factory=dict)


def race(border: Border, trials: int) -> Race:
    """``trials`` races for X's last bed (see the module docstring); each trip is then cancelled."""
    bus, found = border.bus, Race()
    ledgers = [r for r in border.regions.values() if r.dispatcher.beds is not None]
    for name, unit in UNITS.items():
        border.status(unit, schemas.UnitStatus.TRANSPORTING)
        bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=WHERE[name][0], lon=WHERE[name][1]))
    for trial in range(trials):
        border.report({X: 1, G: 1, J: 1})
        patients = {name: critical_vitals() for name in UNITS}
        at_once(bus, {UNITS[name]: vitals for name, vitals in patients.items()})
        got = {}
        for name, unit in UNITS.items():
            pid = patients[name].patient_id
            assert wait_until(partial(border.advised, unit, pid), timeout_s=10), (trial, name)
            got[name] = border.advice_of(unit, pid)
        first = {name: advice[0] for name, advice in got.items()}
        at_x = [n for n, a in first.items() if a.destination.hpid == X and (a.destination.beds_on_arrival or 0) >= 1]
        found.trials += 1
        found.both_promised += len(at_x) == 2
        for name in at_x[:1]:
            found.winners[name] = found.winners.get(name, 0) + 1
        for name, advice in got.items():
            if name not in at_x:  # the loser: decided again in the same batch, its first advice its own centre
                found.loser_advised_x_first += advice[0].destination.hpid != OWN[name]
                found.loser_advised_twice += len(advice) > 1
        # the trip ends (cancelled): the bed is given up at once; then the next patient
        for unit in UNITS.values():
            border.status(unit, schemas.UnitStatus.AVAILABLE)
        assert wait_until(lambda: all(not r.beds.held for r in ledgers), timeout_s=10)
        assert not ledgers or wait_until(lambda: ledgers[0].ledger.real.held(X) == 0, timeout_s=10), trial
        for unit in UNITS.values():
            border.status(unit, schemas.UnitStatus.TRANSPORTING)
    return found


def test_two_regions_never_promise_the_last_bed_of_their_border_centre(border: Border) -> None:
    regions = border.regions
    started = time.monotonic()
    found = race(border, TRIALS)
    elapsed = time.monotonic() - started
    refused = sum(r.beds.stats.refused for r in regions.values())
    rounds = sum(r.beds.stats.rounds for r in regions.values())
    deferred = sum(r.beds.stats.deferred for r in regions.values())
    assert found.both_promised == 0 and sum(found.winners.values()) == TRIALS
    assert found.loser_advised_x_first == 0 and found.loser_advised_twice == 0 and deferred == 0
    assert all(r.beds.alert is None and not r.dispatcher.deposed for r in regions.values())
    backend = "postgresql" if border.url.startswith("postgresql") else "sqlite"
    print(f"\nFIGURE border bed race ({backend}): {TRIALS} trials, 2 regions x 1 critical patient at once, 1 free bed "
          f"at the shared border centre: both promised it in {found.both_promised}; the ledger refused the loser in "
          f"{refused} (decided again in the same batch: {rounds} extra rounds, {deferred} deferred), the others "
          f"avoided it from the held counts; winners {found.winners}; loser advised to X first "
          f"{found.loser_advised_x_first}, twice {found.loser_advised_twice}; {elapsed:.1f} s "
          f"({elapsed / TRIALS * 1000:.0f} ms a trial)")  # fmt: skip


def test_without_the_ledger_both_regions_promise_the_same_bed(
    whole: Scenario, parts: dict[str, Prepared], severity: TrainedSeverity
) -> None:
    """The control: the same race with dispatchers that reserve nothing; the harness sees the double promise."""
    from tests.dispatch import bus as bus_module

    with memory_broker() as broker:
        memory = bus_module._MEMORY[broker.url]
        bus = Bus(broker)
        regions = {}
        for name, epoch in (("gwangju", 2), ("jeonnam", 5)):
            client = MemoryBus(memory, region_client_id(name))
            dispatcher = Dispatcher(client, parts[name], severity, epoch=epoch, regions=RegionMap.of(whole, name))
            regions[name] = Region(name, epoch, None, dispatcher.start())  # type: ignore[arg-type]
        border = Border(bus, regions, "", memory)
        try:
            found = race(border, 5)
        finally:
            for region in regions.values():
                region.dispatcher.stop()
            bus.client.stop()
    assert found.both_promised == 5
    print(f"\nFIGURE border bed race without the ledger (control): both promised the last bed in "
          f"{found.both_promised} of {found.trials} trials")  # fmt: skip


def test_beds_are_released_when_the_patient_moves_declines_or_arrives(border: Border) -> None:
    bus, west = border.bus, border.regions["gwangju"]
    ledger, unit = west.ledger.real, UNITS["gwangju"]
    border.report({X: 1, G: 1, J: 1})
    border.status(unit, schemas.UnitStatus.TRANSPORTING)
    bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=WEST[0], lon=WEST[1]))
    vitals = critical_vitals()
    bus.send(topics.Kind.VITALS, unit, vitals)
    assert wait_until(lambda: bool(border.advice_of(unit, vitals.patient_id)))
    first = border.advice_of(unit, vitals.patient_id)[-1]
    assert first.destination.hpid == X
    held = ledger.reservation("gwangju", vitals.patient_id)
    assert held is not None and held.hpid == X and held.epoch == west.epoch
    # the crew declines X: the bed is given up at once (and X is the crew's decline, not the ledger's)
    bus.send(topics.Kind.DECISION, unit, schemas.Decision.new(advice_version=first.advice_version,
                                                              decision="decline", reason="family"))  # fmt: skip
    assert wait_until(lambda: ledger.reservation("gwangju", vitals.patient_id) is None, timeout_s=10)
    assert ledger.held(X) == 0 and not west.beds.held
    # the next patient goes to X, arrives: the bed stays taken until X's next report counts them
    border.status(unit, schemas.UnitStatus.AVAILABLE)
    border.status(unit, schemas.UnitStatus.TRANSPORTING)
    second = critical_vitals()
    bus.send(topics.Kind.VITALS, unit, second)
    assert wait_until(lambda: bool(border.advice_of(unit, second.patient_id)))
    assert border.advice_of(unit, second.patient_id)[-1].destination.hpid == X
    assert wait_until(lambda: ledger.held(X) == 1)
    border.status(unit, schemas.UnitStatus.AT_HOSPITAL)
    assert wait_until(lambda: (r := ledger.reservation("gwangju", second.patient_id)) is not None
                      and r.arrived_at is not None, timeout_s=10)  # fmt: skip
    assert ledger.held(X) == 1  # arrived, not yet counted by a report
    border.report({X: 0}, at=datetime.now(UTC) + timedelta(seconds=1))  # X's report counts them
    assert wait_until(lambda: ledger.held(X) == 0, timeout_s=10)
    assert ledger.reservation("gwangju", second.patient_id) is None


def test_an_unreachable_ledger_leaves_the_regions_own_plan_with_an_alert_and_is_tried_again(border: Border) -> None:
    bus, west = border.bus, border.regions["gwangju"]
    unit = UNITS["gwangju"]
    border.report({X: 1, G: 1, J: 1})
    border.status(unit, schemas.UnitStatus.TRANSPORTING)
    bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=WEST[0], lon=WEST[1]))
    west.ledger.fail = LedgerUnavailable("bed ledger at sqlite:///x: unable to open database file")
    vitals = critical_vitals()
    bus.send(topics.Kind.VITALS, unit, vitals)
    assert wait_until(lambda: bool(border.advice_of(unit, vitals.patient_id)))
    assert border.advice_of(unit, vitals.patient_id)[-1].destination.hpid == X  # its own plan stands
    alert = west.beds.alert
    assert alert is not None and alert[0].startswith("경계 응급센터 병상 장부") and "border-bed ledger" in alert[1]
    assert alert[0] == LEDGER_DOWN[0].format(why="bed ledger at sqlite:///x: unable to open database file")
    assert west.ledger.real.reservation("gwangju", vitals.patient_id) is None
    west.ledger.fail = None  # back: the bed promised meanwhile is reserved at the next batch
    bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=WEST[0], lon=WEST[1] + 0.0001))
    assert wait_until(lambda: west.ledger.real.reservation("gwangju", vitals.patient_id) is not None, timeout_s=10)
    assert west.beds.alert is None and west.beds.stats.failures >= 1


def test_a_stale_epoch_deposes_the_leader_without_publishing(border: Border) -> None:
    bus, west = border.bus, border.regions["gwangju"]
    unit = UNITS["gwangju"]
    border.report({X: 1, G: 1, J: 1})
    border.status(unit, schemas.UnitStatus.TRANSPORTING)
    bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=WEST[0], lon=WEST[1]))
    newer = west.ledger.real.refresh("gwangju", west.epoch + 1, [])  # a successor wrote with a newer epoch
    assert newer == frozenset()
    vitals = critical_vitals()
    bus.send(topics.Kind.VITALS, unit, vitals)
    assert wait_until(lambda: west.dispatcher.deposed, timeout_s=10)
    assert west.stale and "stale" in west.stale[0]
    time.sleep(0.3)
    assert border.advice_of(unit, vitals.patient_id) == []  # nothing published by the deposed leader


def test_beds_are_kept_alive_and_a_new_leader_keeps_its_predecessors(
    border: Border, database_url: str, severity: TrainedSeverity, whole: Scenario, parts: dict[str, Prepared]
) -> None:
    bus, west = border.bus, border.regions["gwangju"]
    unit = UNITS["gwangju"]
    border.report({X: 1, G: 1, J: 1})
    border.status(unit, schemas.UnitStatus.TRANSPORTING)
    bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=WEST[0], lon=WEST[1]))
    vitals = critical_vitals()
    bus.send(topics.Kind.VITALS, unit, vitals)
    assert wait_until(lambda: vitals.patient_id in west.beds.held, timeout_s=10)
    before = west.ledger.real.reservation("gwangju", vitals.patient_id)
    assert before is not None
    west.beds.refresh_s = 0.2  # keep-alive every 0.2 s from now on
    west.beds._next_refresh = 0.0
    assert wait_until(lambda: "refresh" in west.ledger.calls, timeout_s=5)
    after = west.ledger.real.reservation("gwangju", vitals.patient_id)
    assert after is not None and after.expires_at > before.expires_at
    # the leader stops; a new one (epoch + 1) restores the state and refreshes the bed before anything else
    state = west.dispatcher.engine.snapshot()
    west.dispatcher.stop()
    successor = start_region(border.memory, "gwangju", west.epoch + 1, database_url, parts["gwangju"], severity,
                             whole, restore=state)  # fmt: skip
    border.regions["gwangju"] = successor
    assert wait_until(lambda: "refresh" in successor.ledger.calls, timeout_s=5)
    assert successor.ledger.calls[0] == "refresh"
    taken = successor.ledger.real.reservation("gwangju", vitals.patient_id)
    assert taken is not None and taken.epoch == west.epoch + 1 and taken.hpid == X
    # advised again under the new epoch (its first batch), the bed at X reserved again (the same one, refreshed)
    assert wait_until(lambda: epoch_of(border.advice_of(unit, vitals.patient_id)[-1].advice_version) == west.epoch + 1)
    assert border.advice_of(unit, vitals.patient_id)[-1].destination.hpid == X
    assert vitals.patient_id in successor.beds.held and successor.ledger.real.held(X) == 1
    west.ledger.close()
    with pytest.raises(StaleLeaderError):  # the old epoch is fenced off in the ledger
        west.ledger.real.release(X, vitals.patient_id, region="gwangju", epoch=west.epoch)
