"""The decision store (telemetry.decision_store): each patient's decision state and each region's, written only
under the lease's current epoch, read back whole by the next leader; and the dispatcher's persister, which
writes only what changed and stands down when the store holds a newer epoch. SQLite always; PostgreSQL with
GOLDENTIME_TEST_DATABASE_URL (a database of the test's own)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from dispatch.decision_state import EngineState, PatientState, RegionState, StateChanges, encode_patient
from dispatch.pathways import Pathway
from dispatch.units import Incident
from goldentime.services import StatePersister, load_decisions
from telemetry.decision_store import DecisionStore, PatientRow, StaleEpoch
from telemetry.leader import Lease, LeaseLost
from telemetry.schemas import UnitStatus
from tests.helpers import unique

pytestmark = pytest.mark.integration


@pytest.fixture
def region() -> str:
    return unique("region")


@pytest.fixture
def lease(database_url: str, region: str) -> Iterator[Lease]:
    lease = Lease(database_url, region)
    assert lease.try_acquire()
    yield lease
    lease.close()


@pytest.fixture
def store(lease: Lease, region: str) -> DecisionStore:
    return DecisionStore(lease.engine, region)


def row(unit: str, version: int = 1, **state: object) -> PatientRow:
    return PatientRow(unit, f"P-{unit}", version, True, {"unit_id": unit, "advice_version": version, **state})


def test_what_a_leader_writes_its_successor_reads(lease: Lease, store: DecisionStore) -> None:
    epoch = lease.check()
    store.save(epoch, upsert=[row("u1", declined=["A1"]), row("u2")], region={"incidents": []})
    store.save(epoch, upsert=[row("u1", 2, declined=["A1", "A2"])], gone=["u2"])
    lease.release()
    successor = Lease(lease.engine.url.render_as_string(hide_password=False), store.region)
    try:
        assert successor.try_acquire() and successor.epoch == epoch + 1
        loaded = DecisionStore(successor.engine, store.region).load()
        assert loaded.patients == {"u1": {"unit_id": "u1", "advice_version": 2, "declined": ["A1", "A2"]}}
        assert loaded.region == {"incidents": []}
    finally:
        successor.close()


def test_a_deposed_leader_cannot_write(lease: Lease, store: DecisionStore, database_url: str) -> None:
    """The lease moved on (here: given up and taken by another process): a write under the old epoch is refused
    whole, and what the new leader reads is what the old one wrote before it lost the lease."""
    old = lease.check()
    store.save(old, upsert=[row("u1")])
    lease.release()
    successor = Lease(database_url, store.region)
    try:
        assert successor.try_acquire()
        with pytest.raises(StaleEpoch, match=f"no longer at epoch {old}"):
            store.save(old, upsert=[row("u1", 9), row("u9")], gone=["u1"], region={"x": 1})
        loaded = store.load()
        assert loaded.patients == {"u1": {"unit_id": "u1", "advice_version": 1}} and loaded.region is None
        store.save(successor.check(), upsert=[row("u1", 1_000_001)])
        assert store.load().patients["u1"]["advice_version"] == 1_000_001
    finally:
        successor.close()


def test_regions_are_kept_apart(lease: Lease, store: DecisionStore, database_url: str) -> None:
    other_lease = Lease(database_url, unique("region"))
    try:
        assert other_lease.try_acquire()
        other = DecisionStore(other_lease.engine, other_lease.region)
        store.save(lease.check(), upsert=[row("u1")])
        other.save(other_lease.check(), upsert=[row("u1", 5), row("u2")])
        with pytest.raises(StaleEpoch):  # the epoch of one region's lease does not fence another's
            other.save(lease.check() + 7, upsert=[row("u3")])
        assert set(store.load().patients) == {"u1"} and store.count() == 1
        assert set(other.load().patients) == {"u1", "u2"}
        other.clear()
        assert other.load().patients == {} and store.count() == 1
    finally:
        other_lease.close()


def test_saves_racing_a_take_over_are_either_read_by_the_successor_or_refused(
    lease: Lease, store: DecisionStore, database_url: str
) -> None:
    """The old leader keeps saving while its lease is handed over (released here, taken by a successor that
    reads at once): every save the old leader was told succeeded is in what the successor read."""
    epoch, written, done = lease.check(), list[int](), threading.Event()

    def keep_saving() -> None:
        for version in range(1, 10_000):
            try:
                store.save(epoch, upsert=[row("u1", version)])
            except StaleEpoch:
                break
            written.append(version)
        done.set()

    saver = threading.Thread(target=keep_saving)
    saver.start()
    while len(written) < 5:
        threading.Event().wait(0.01)
    lease.release()  # the row says the lease is free: the successor may take it while the saves go on
    successor = Lease(database_url, store.region)
    try:
        assert successor.try_acquire()
        seen = store.load().patients["u1"]["advice_version"]
        assert done.wait(30)
        saver.join(30)
        assert seen == written[-1]  # nothing the old leader wrote after the successor read it
    finally:
        successor.close()


def patient(unit: str, version: int = 1, **changes: object) -> PatientState:
    state = PatientState(
        unit_id=unit, patient_id=f"P-{unit}", advice_version=version, owned=True, severity=None, vitals=None,
        vitals_ts=None, needs=frozenset({Pathway.STROKE}), critical=True, unstable=False, declined=frozenset({"A1"}),
        destination="A2", definitive=True, bed=True, team=Pathway.STROKE, holds_bed=True,
        versions=((version, "A2"),), advised_eta_s=600.0, advised_road_s=580.0, eta_mode="road", request=None,
        second=None, status=UnitStatus.TRANSPORTING, lat=37.57, lon=126.99,
    )  # fmt: skip
    return replace(state, **changes)  # type: ignore[arg-type]


class Counting(DecisionStore):
    """The store, counting the rows each save writes."""

    saves: list[tuple[int, int, bool]]

    def save(self, epoch: int, *, upsert=(), gone=(), region=None) -> None:  # type: ignore[no-untyped-def]
        self.saves.append((len(upsert), len(gone), region is not None))
        super().save(epoch, upsert=upsert, gone=gone, region=region)


def test_the_persister_writes_what_changed_and_the_next_leader_restores_it(
    lease: Lease, store: DecisionStore, database_url: str
) -> None:
    counting = Counting(store.engine, store.region)
    counting.saves = []
    persist = StatePersister(counting, lease)
    region = RegionState(incidents=(Incident("INC-1", 37.57, 126.99, 1),))
    persist(StateChanges((patient("u1"), patient("u2")), (), region))
    persist(StateChanges((patient("u1"), patient("u2", 2)), ("u3",), region))  # u1 unchanged, u3 never stored
    persist(StateChanges((patient("u1"),), ("u2",), region))
    persist(StateChanges((), (), region))
    assert counting.saves == [(2, 0, True), (1, 0, False), (0, 1, False)]

    lease.release()
    successor = Lease(database_url, store.region)
    try:
        assert successor.try_acquire()
        restored = load_decisions(DecisionStore(successor.engine, store.region), successor.check())
        assert restored == EngineState(successor.check(), (patient("u1"),), region)
        with pytest.raises(LeaseLost):  # the old leader's persister: its lease is gone
            persist(StateChanges((patient("u1", 3),), (), region))
    finally:
        successor.close()


def test_the_persister_gives_up_the_lease_when_the_store_holds_a_newer_epoch(
    lease: Lease, store: DecisionStore
) -> None:
    persist = StatePersister(store, lease)
    with store.engine.begin() as connection:  # another process took the region over behind this one's back
        connection.exec_driver_sql("UPDATE dispatch_leases SET epoch = epoch + 1")
    with pytest.raises(StaleEpoch):
        persist(StateChanges((patient("u1"),), (), RegionState()))
    assert not lease.valid()


def test_a_stored_document_that_cannot_be_read_is_left_out_and_said(
    lease: Lease, store: DecisionStore, caplog: pytest.LogCaptureFixture
) -> None:
    good = patient("u1")
    bad = PatientRow("u2", "P-u2", 1, True, {"unit_id": "u2", "garbage": True})
    store.save(lease.check(), upsert=[PatientRow("u1", "P-u1", 1, True, encode_patient(good)), bad])
    restored = load_decisions(store, lease.check())
    assert restored.patients == (good,)
    assert "stored decision state of unit u2 cannot be read" in caplog.text
