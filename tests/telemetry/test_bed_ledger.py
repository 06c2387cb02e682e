"""The bed ledger (telemetry/bed_ledger.py): two regions' dispatchers never book the same last bed of a
border centre. Unit behaviour on SQLite and PostgreSQL, a forced interleaving of two transactions, and
the race itself: long-lived worker processes, one connection each, released together by a barrier,
1,000 trials per series. A control series with a check-then-act reservation shows the harness does
catch double bookings.

PostgreSQL runs when ``GOLDENTIME_TEST_DATABASE_URL`` is set (``.ci/run`` sets it), in a schema of
its own dropped afterwards.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection as Pipe
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from telemetry import decision_store
from telemetry.bed_ledger import (
    BedLedger,
    LedgerInputError,
    LedgerUnavailable,
    StaleLeaderError,
    centres,
    regions,
    reservations,
)
from telemetry.errors import TelemetryError
from telemetry.store import TelemetryStore, make_engine, metadata, migrate, normalise_url

EXTERNAL_DB = os.environ.get("GOLDENTIME_TEST_DATABASE_URL") or None

GWANGJU, JEONNAM, JEONBUK = "gwangju", "jeonnam", "jeonbuk"  # dispatch.regions codes
REPORT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the centre's capacity report
NOW = REPORT + timedelta(minutes=2)


class Clock:
    """The ledger's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def postgresql_schema_url() -> Iterator[str]:
    """The test database with a fresh schema first on the search path; the schema is dropped afterwards."""
    assert EXTERNAL_DB is not None
    schema = f"bed_ledger_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(EXTERNAL_DB))
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.make_url(normalise_url(EXTERNAL_DB)).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", *(["postgresql"] if EXTERNAL_DB else [])])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    url: str = request.getfixturevalue("postgresql_schema_url")
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def ledger(ledger_url: str, clock: Clock) -> Iterator[BedLedger]:
    with BedLedger(ledger_url, ttl_s=300, arrived_hold_s=1800, clock=clock) as opened:
        yield opened


def reserve(
    ledger: BedLedger,
    patient: str,
    *,
    hpid: str = "A1100001",
    region: str = GWANGJU,
    epoch: int = 1,
    free: int = 1,
    at: datetime = REPORT,
) -> bool:
    return ledger.reserve(hpid, patient, region=region, epoch=epoch, free_beds=free, report_at=at)


# --- behaviour ----------------------------------------------------------------------------------------


def test_beds_are_reserved_up_to_the_reports_free_count_and_no_further(ledger: BedLedger) -> None:
    assert reserve(ledger, "P-0001", free=2)
    assert reserve(ledger, "P-0002", free=2, region=JEONNAM)
    assert not reserve(ledger, "P-0003", free=2)
    assert not reserve(ledger, "P-0004", free=2, region=JEONNAM)
    state = ledger.centre("A1100001")
    assert state is not None and (state.free_beds, state.held, state.remaining) == (2, 2, 0)
    assert not reserve(ledger, "P-0001", hpid="A1100002", free=0)  # a full centre takes nobody
    assert ledger.held("A1100002") == 0 and ledger.centre("A1100003") is None and ledger.held("A1100003") == 0


def test_what_the_other_regions_hold_is_read_for_many_centres_at_once(ledger: BedLedger, clock: Clock) -> None:
    assert reserve(ledger, "P-0001", free=3) and reserve(ledger, "P-0002", free=3)
    assert reserve(ledger, "P-0003", free=3, region=JEONNAM)
    assert reserve(ledger, "P-0004", hpid="A1100002", region=JEONNAM)
    assert ledger.release("A1100002", "P-0004", region=JEONNAM, epoch=1, arrived_at=NOW)  # not counted yet
    centres_ = ["A1100001", "A1100002", "A1100009"]
    assert ledger.held_at(centres_) == {"A1100001": 3, "A1100002": 1, "A1100009": 0}
    assert ledger.held_at(centres_, excluding_region=GWANGJU) == {"A1100001": 1, "A1100002": 1, "A1100009": 0}
    assert ledger.held("A1100001", excluding_region=JEONNAM) == 2
    assert ledger.rebase("A1100002", 0, NOW + timedelta(seconds=1))  # the report counts the arrival
    clock.advance(301)  # and the others expired
    assert ledger.held_at(centres_) == dict.fromkeys(centres_, 0) and ledger.held_at([]) == {}


def test_a_replan_that_keeps_its_destination_takes_no_second_bed(ledger: BedLedger, clock: Clock) -> None:
    assert reserve(ledger, "P-0001", free=2)
    first = ledger.reservation(GWANGJU, "P-0001")
    clock.advance(60)
    assert reserve(ledger, "P-0001", free=2) and reserve(ledger, "P-0001", free=2)
    assert ledger.held("A1100001") == 1
    again = ledger.reservation(GWANGJU, "P-0001")
    assert first is not None and again is not None
    assert again.expires_at - first.expires_at == timedelta(seconds=60)  # refreshed, not re-taken
    assert reserve(ledger, "P-0002", free=2, region=JEONNAM)  # the second bed is still there for another


def test_the_same_patient_id_in_two_regions_is_two_patients(ledger: BedLedger) -> None:
    assert reserve(ledger, "sim-000001", free=2) and reserve(ledger, "sim-000001", free=2, region=JEONNAM)
    assert ledger.held("A1100001") == 2


def test_a_patient_moved_to_another_centre_gives_up_the_first_bed(ledger: BedLedger) -> None:
    assert reserve(ledger, "P-0001", hpid="A1100001")
    assert reserve(ledger, "P-0001", hpid="A1100002")
    assert (ledger.held("A1100001"), ledger.held("A1100002")) == (0, 1)
    assert reserve(ledger, "P-0002", hpid="A1100001", region=JEONNAM)
    # refused at a full centre: the patient keeps the bed they had
    assert not reserve(ledger, "P-0001", hpid="A1100001")
    held = ledger.reservation(GWANGJU, "P-0001")
    assert held is not None and held.hpid == "A1100002"


def test_release_frees_the_bed_at_once_for_a_declined_or_diverted_patient(ledger: BedLedger) -> None:
    assert reserve(ledger, "P-0001")
    assert not ledger.release("A1100002", "P-0001", region=GWANGJU, epoch=1)  # not held there: kept
    assert not ledger.release("A1100001", "P-0001", region=JEONNAM, epoch=1)  # another region's patient
    assert ledger.held("A1100001") == 1
    assert ledger.release("A1100001", "P-0001", region=GWANGJU, epoch=1)
    assert ledger.held("A1100001") == 0 and ledger.reservation(GWANGJU, "P-0001") is None
    assert not ledger.release("A1100001", "P-0001", region=GWANGJU, epoch=1)
    assert reserve(ledger, "P-0002", region=JEONNAM)


def test_an_arrived_patients_bed_stays_taken_until_a_report_made_after_the_arrival(
    ledger: BedLedger, clock: Clock
) -> None:
    assert reserve(ledger, "P-0001")
    arrived = NOW + timedelta(minutes=10)
    clock.now = arrived
    assert ledger.release("A1100001", "P-0001", region=GWANGJU, epoch=1, arrived_at=arrived)
    assert ledger.held("A1100001") == 1  # the report of 09:00 does not know the patient took the bed
    assert not reserve(ledger, "P-0002", region=JEONNAM)
    assert ledger.rebase("A1100001", 1, REPORT + timedelta(minutes=1))  # still before the arrival
    assert not reserve(ledger, "P-0002", region=JEONNAM)
    # a report after the arrival counts the patient in its figure: one bed freed since, say
    assert ledger.rebase("A1100001", 1, arrived + timedelta(minutes=1))
    assert ledger.held("A1100001") == 0 and ledger.reservation(GWANGJU, "P-0001") is None
    assert reserve(ledger, "P-0002", region=JEONNAM)


def test_an_arrival_a_stored_report_already_counts_is_dropped_at_once(ledger: BedLedger) -> None:
    assert reserve(ledger, "P-0001", free=2)
    assert ledger.rebase("A1100001", 1, NOW + timedelta(minutes=5))
    assert ledger.release("A1100001", "P-0001", region=GWANGJU, epoch=1, arrived_at=NOW + timedelta(minutes=3))
    assert ledger.held("A1100001") == 0


def test_an_arrival_no_report_ever_counts_ends_after_the_hold(ledger: BedLedger, clock: Clock) -> None:
    assert reserve(ledger, "P-0001")
    assert ledger.release("A1100001", "P-0001", region=GWANGJU, epoch=1, arrived_at=NOW)
    clock.advance(1799)
    assert ledger.held("A1100001") == 1 and not reserve(ledger, "P-0002", region=JEONNAM)
    clock.advance(2)
    assert ledger.held("A1100001") == 0 and reserve(ledger, "P-0002", region=JEONNAM)


def test_a_newer_report_rebases_the_count_and_an_older_one_is_ignored(ledger: BedLedger) -> None:
    assert reserve(ledger, "P-0001", free=1)
    assert ledger.rebase("A1100001", 3, REPORT + timedelta(minutes=5))
    assert reserve(ledger, "P-0002") and reserve(ledger, "P-0003")  # they carry the old report: the newer wins
    assert not reserve(ledger, "P-0004", free=10)
    assert not ledger.rebase("A1100001", 10, REPORT)  # late delivery of an old report
    state = ledger.centre("A1100001")
    assert state is not None and (state.free_beds, state.report_at) == (3, REPORT + timedelta(minutes=5))
    # a dispatcher that saw a newer report than the ledger's moves the base forward as it reserves
    assert reserve(ledger, "P-0004", region=JEONNAM, free=5, at=REPORT + timedelta(minutes=9))
    state = ledger.centre("A1100001")
    assert state is not None and (state.free_beds, state.held) == (5, 4)
    # a report below what is held refuses newcomers and keeps the promises already made
    assert ledger.rebase("A1100001", 2, REPORT + timedelta(minutes=12))
    assert not reserve(ledger, "P-0005", region=JEONNAM)
    assert reserve(ledger, "P-0001")  # already held: still held
    state = ledger.centre("A1100001")
    assert state is not None and (state.held, state.remaining) == (4, 0)


def test_reservations_expire_unless_their_owner_refreshes_them(ledger: BedLedger, clock: Clock) -> None:
    assert reserve(ledger, "P-0001")
    clock.advance(200)
    assert ledger.refresh(GWANGJU, 1, ["P-0001", "P-0404"]) == {"P-0001"}  # P-0404 holds nothing
    clock.advance(250)  # 450 s after the reserve, 250 s after the refresh: still held
    assert ledger.held("A1100001") == 1 and not reserve(ledger, "P-0002", region=JEONNAM)
    clock.advance(51)  # the dispatcher died: nobody refreshed
    assert ledger.held("A1100001") == 0
    assert reserve(ledger, "P-0002", region=JEONNAM)
    assert ledger.refresh(GWANGJU, 1, ["P-0001"]) == frozenset()  # lost: to be reserved again, or not
    assert not reserve(ledger, "P-0001")
    assert ledger.refresh(GWANGJU, 1, []) == frozenset()


def test_a_deposed_leader_is_fenced_and_its_successor_takes_its_patients_over(ledger: BedLedger) -> None:
    assert reserve(ledger, "P-0001", free=2, epoch=7)
    assert reserve(ledger, "P-0001", free=2, epoch=8)  # the standby, now leader, keeps the patient's bed
    held = ledger.reservation(GWANGJU, "P-0001")
    assert held is not None and held.epoch == 8 and ledger.held("A1100001") == 1
    with pytest.raises(StaleLeaderError, match="epoch 7 is stale, the ledger has seen epoch 8") as caught:
        reserve(ledger, "P-0009", free=2, epoch=7)
    assert (caught.value.region, caught.value.epoch, caught.value.current) == (GWANGJU, 7, 8)
    with pytest.raises(StaleLeaderError):
        ledger.release("A1100001", "P-0001", region=GWANGJU, epoch=7)
    with pytest.raises(StaleLeaderError):
        ledger.refresh(GWANGJU, 7, ["P-0001"])
    assert ledger.held("A1100001") == 1 and ledger.reservation(GWANGJU, "P-0009") is None
    assert reserve(ledger, "P-0002", free=2, region=JEONNAM, epoch=1)  # epochs are per region
    assert ledger.refresh(GWANGJU, 8, ["P-0001"]) == {"P-0001"}


@pytest.mark.parametrize(
    ("change", "field_name"),
    [
        ({"hpid": ""}, "hpid"),
        ({"hpid": "A" * 17}, "hpid"),
        ({"patient_id": " "}, "patient_id"),
        ({"region": None}, "region"),
        ({"epoch": -1}, "epoch"),
        ({"epoch": True}, "epoch"),
        ({"free_beds": -1}, "free_beds"),
        ({"free_beds": 2.0}, "free_beds"),
        ({"report_at": datetime(2026, 12, 1, 9, 0)}, "report_at"),  # a naive time
    ],
)
def test_bad_arguments_are_refused_with_one_clear_line(
    ledger: BedLedger, change: dict[str, object], field_name: str
) -> None:
    arguments: dict[str, object] = {
        "hpid": "A1100001",
        "patient_id": "P-0001",
        "region": GWANGJU,
        "epoch": 1,
        "free_beds": 1,
        "report_at": REPORT,
    }
    arguments.update(change)
    with pytest.raises(LedgerInputError) as caught:
        ledger.reserve(**arguments)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(field_name) and "\n" not in message
    assert isinstance(caught.value, TelemetryError) and isinstance(caught.value, ValueError)
    assert ledger.held("A1100001") == 0


def test_an_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(LedgerUnavailable) as caught:
        BedLedger("postgresql://goldentime:secret@127.0.0.1:1/none")
    message = str(caught.value)
    assert message.startswith("bed ledger at postgresql://goldentime:***@127.0.0.1:1/none: connection failed")
    assert "\n" not in message and "secret" not in message


def test_a_url_that_is_no_database_url_is_one_clear_error() -> None:
    with pytest.raises(LedgerInputError, match=r"^bed ledger: 'no-such://' is not a database URL"):
        BedLedger("no-such://")


def test_the_ledger_lives_beside_the_recorders_tables(ledger_url: str) -> None:
    store = TelemetryStore.open(ledger_url)  # the recorder first: the ledger's migration follows its own
    try:
        with BedLedger(ledger_url) as ledger:
            assert reserve(ledger, "P-0001")
        with BedLedger(ledger_url) as ledger:  # opened again: nothing to migrate, nothing lost
            assert ledger.held("A1100001") == 1
        assert store.count() == 0
    finally:
        store.close()


def test_the_tables_are_declared_once_and_are_what_the_migrations_make(ledger_url: str) -> None:
    """The ledger's tables, the decision store's and the recorder's are declared in one place, the telemetry
    migrations' target metadata, and a migrated database does not differ from it (an autogenerated next
    revision would otherwise drop the tables it does not know)."""
    used = {centres, reservations, regions, decision_store.leases, decision_store.patients, decision_store.regions}
    assert used <= set(metadata.tables.values())
    engine = make_engine(ledger_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_a_reserve_waits_for_a_competing_transaction_and_then_counts_its_bed(ledger: BedLedger) -> None:
    """The race, forced: another region's reserve is between taking the centre and committing its bed
    when ours starts. Ours must wait for it, then count its bed, and be refused."""
    assert ledger.rebase("A1100001", 1, REPORT)
    taken: list[bool] = []
    with ledger.engine.connect() as other:
        other.execute(centres.update().where(centres.c.hpid == "A1100001").values(free_beds=centres.c.free_beds))
        bed = {"hpid": "A1100001", "epoch": 1, "reserved_at": NOW, "expires_at": NOW + timedelta(minutes=5)}
        other.execute(reservations.insert().values(region=JEONNAM, patient_id="P-0002", **bed))
        ours = threading.Thread(target=lambda: taken.append(reserve(ledger, "P-0001")))
        ours.start()
        ours.join(0.5)
        waited = ours.is_alive()
        other.commit()
    ours.join(10)
    assert waited, "the reserve did not wait for the transaction holding the centre"
    assert taken == [False] and ledger.held("A1100001") == 1


# --- the race: long-lived processes, one connection each, released together ------------------------------


def _contender(pipe: Pipe, barrier: Barrier, url: str, region: str, mode: str) -> None:
    """One region's dispatcher: for each trial (centre, patient, free beds) wait for the others at the
    barrier, then reserve; answer (won, start, end, error) on monotonic clocks, shared by the processes."""
    ledger = BedLedger(url, upgrade=False)
    try:
        while (trial := pipe.recv()) is not None:
            hpid, patient, free = trial
            barrier.wait(timeout=60)
            start = time.monotonic()
            try:
                if mode == "ledger":
                    won = ledger.reserve(hpid, patient, region=region, epoch=1, free_beds=free, report_at=REPORT)
                else:
                    won = _check_then_act(ledger, hpid, patient, region, free)
            except Exception as exc:  # told to the test, which fails on it
                pipe.send((False, start, time.monotonic(), f"{type(exc).__name__}: {exc}"))
                continue
            pipe.send((won, start, time.monotonic(), None))
    finally:
        ledger.close()


def _check_then_act(ledger: BedLedger, hpid: str, patient: str, region: str, free: int) -> bool:
    """The control: count, then insert, in two transactions (what the ledger must not do)."""
    with ledger.engine.begin() as connection:
        taken = connection.execute(
            sa.select(sa.func.count()).select_from(reservations).where(reservations.c.hpid == hpid)
        ).scalar_one()
    time.sleep(0.02)
    if taken >= free:
        return False
    with ledger.engine.begin() as connection:
        bed = {"hpid": hpid, "epoch": 1, "reserved_at": NOW, "expires_at": NOW + timedelta(days=1)}
        connection.execute(reservations.insert().values(region=region, patient_id=patient, **bed))
    return True


@dataclass
class Series:
    trials: int = 0
    double_bookings: int = 0  # trials with more beds promised than the centre had
    wrong_winners: int = 0  # trials whose number of winners was not min(free beds, contenders)
    overlapping: int = 0  # trials where every contender's reserve was in flight at one moment
    latencies_ms: list[float] = field(default_factory=list)

    def summary(self, name: str) -> str:
        cut = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
        p50, p99, worst = statistics.median(self.latencies_ms), cut[98], max(self.latencies_ms)
        return (
            f"{name}: {self.trials} trials, {self.double_bookings} double bookings, {self.wrong_winners} "
            f"with the wrong number of winners, {self.overlapping} fully overlapping; reserve latency "
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {worst:.2f} ms"
        )


def _race(url: str, *, contenders: int, free: int, trials: int, mode: str = "ledger") -> Series:
    BedLedger(url).close()  # migrated once, before the contenders start
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(contenders)
    pipes: list[Pipe] = []
    workers = []
    for region in (GWANGJU, JEONNAM, JEONBUK)[:contenders]:
        ours, theirs = context.Pipe()
        worker = context.Process(target=_contender, args=(theirs, barrier, url, region, mode), daemon=True)
        worker.start()
        pipes.append(ours)
        workers.append(worker)
    series = Series()
    winners: dict[str, int] = {}
    try:
        for trial in range(trials):
            hpid = f"B{trial:06d}"
            for index, pipe in enumerate(pipes):
                pipe.send((hpid, f"P-{trial:06d}-{index}", free))
            answers = []
            for pipe in pipes:
                assert pipe.poll(60), "a contender stopped answering"
                answers.append(pipe.recv())
            errors = [answer[3] for answer in answers if answer[3] is not None]
            assert not errors, f"trial {trial}: {errors}"
            won = sum(answer[0] for answer in answers)
            winners[hpid] = won
            series.trials += 1
            series.double_bookings += won > free
            series.wrong_winners += won != min(free, contenders)
            series.overlapping += max(a[1] for a in answers) < min(a[2] for a in answers)
            series.latencies_ms += [(a[2] - a[1]) * 1000 for a in answers]
    finally:
        for pipe in pipes:
            pipe.send(None)
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.terminate()
    # what the database holds, independently of what the contenders said
    with BedLedger(url, upgrade=False) as ledger, ledger.engine.connect() as connection:
        rows = connection.execute(sa.select(reservations.c.hpid, sa.func.count()).group_by(reservations.c.hpid))
        counts: dict[str, int] = {hpid: int(n) for hpid, n in rows}
    assert {hpid: n for hpid, n in counts.items() if n} == {hpid: n for hpid, n in winners.items() if n}
    return series


@pytest.mark.integration
@pytest.mark.parametrize(("contenders", "free"), [(2, 1), (3, 2)], ids=["last-bed-2-regions", "2-beds-3-regions"])
def test_regions_racing_for_the_last_beds_never_book_one_twice(ledger_url: str, contenders: int, free: int) -> None:
    series = _race(ledger_url, contenders=contenders, free=free, trials=1000)
    print(series.summary(f"{sa.make_url(ledger_url).get_backend_name()} {contenders} regions, {free} free"))
    assert series.trials == 1000
    assert series.double_bookings == 0
    assert series.wrong_winners == 0  # exactly min(free, contenders) winners: nobody refused a free bed
    assert series.overlapping > 0  # the race did happen


@pytest.mark.integration
def test_the_race_harness_catches_a_check_then_act_reservation(ledger_url: str) -> None:
    series = _race(ledger_url, contenders=2, free=1, trials=30, mode="check-then-act")
    print(series.summary(f"{sa.make_url(ledger_url).get_backend_name()} check-then-act control"))
    assert series.double_bookings > 0
