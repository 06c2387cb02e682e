"""Fault: a region's leader dispatcher is killed (SIGKILL) or frozen (SIGSTOP) while 120 units stream, with a hot
standby waiting (issue 26). The standby takes the region's lease (PostgreSQL advisory lock and lease row; SQLite
file lock), the leader's persistent MQTT session (client id ``dispatcher-{region}``, its queued QoS 1 vitals) and
its stored decision state; no patient is left without advice past the lease time-out plus 5 s, a frozen leader
woken up publishes nothing more, two simultaneous incidents never get the same ambulance, and a crew's decline
handled after the failover keeps the patient's stroke flag and earlier declines.

Real ``goldentime dispatcher --region`` processes, a private Mosquitto from the shipped configuration, and the
database of the test (PostgreSQL with GOLDENTIME_TEST_DATABASE_URL, as in CI; SQLite otherwise, and always for
the SIGKILL stream). Each test prints its figures (``FIGURE ...``)."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from dispatch.decision_state import epoch_of
from dispatch.severity.model import TrainedSeverity
from goldentime.bench.mosquitto import free_port, start_mosquitto
from goldentime.mqtt_users import userinfo, write_broker_files
from goldentime.settings import default_data_dir
from loaders.scenarios import load_scenario, prepare
from loaders.severity import KTAS_FILE, save
from telemetry import schemas, topics
from telemetry.access import Account, Role
from telemetry.client import Message, MqttClient
from tests.conftest import EXTERNAL_DB
from tests.dispatch.bus import CITY_HALL, DONGDAEMUN, DONGNIMMUN, GWANGHWAMUN, JONGNO_3GA, stable_vitals
from tests.helpers import run_cli, unique, wait_until

pytestmark = pytest.mark.integration

#: The lease time-out the processes run with (the default).
TTL_S = 5.0
#: Units streaming in the SIGKILL / SIGSTOP test; each gets a new patient every PATIENT_EVERY_S.
STREAM_UNITS, PATIENT_EVERY_S = 120, 12.0
PLACES = [JONGNO_3GA, GWANGHWAMUN, DONGDAEMUN, CITY_HALL, DONGNIMMUN]
#: The database the tests that do not stream run on: PostgreSQL when there is one (production), else SQLite.
MAIN_DB = "postgresql" if EXTERNAL_DB else "sqlite"


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory, severity: TrainedSeverity) -> Path:
    """A var directory with the severity model saved and the road index cached, shared by the processes (each
    would otherwise train and build its own)."""
    var = tmp_path_factory.mktemp("var")
    data = default_data_dir()
    save(severity, var / "models", data / KTAS_FILE)
    prepare(load_scenario("seoul-central", data), cache_dir=var / "cache")
    return var


class Broker:
    """A private Mosquitto from the shipped configuration, with a dispatcher account and an admin account for the
    test's own client (the units, centres and call takers of the test)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.passwords = write_broker_files(directory, [Account(Role.DISPATCHER), Account(Role.ADMIN)])
        self.process = start_mosquitto(directory, self.port)

    def url(self, username: str) -> str:
        return f"mqtt://{userinfo(username, self.passwords[username])}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "mosquitto")
    yield broker
    broker.stop()


class Dispatcher:
    """``goldentime dispatcher --region REGION`` in a process of its own."""

    def __init__(self, name: str, env: dict[str, str], region: str, log: Path) -> None:
        self.name, self.log = name, log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "goldentime"), "dispatcher", "--region", region, "--lease-ttl",
                 str(TTL_S)], env=env, stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self) -> bool:
        """Leading or standing by (the scenario and model loaded)."""
        text = self.text()
        return " leader (epoch " in text or "dispatcher: standby for region" in text

    def settled(self) -> bool:
        """Ready, or ended."""
        return self.ready() or self.process.poll() is not None

    def epoch(self) -> int:
        """The epoch it took the lease with last (0: never)."""
        led = self.led()
        return led[-1][0] if led else 0

    def led(self) -> list[tuple[int, float]]:
        """(epoch, when) of each time it took the lease."""
        return [(int(e), float(t)) for e, t in re.findall(r"leader \(epoch (\d+), at ([\d.]+)\)", self.text())]

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.process.pid, sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class Region:
    """The dispatcher processes of one region."""

    def __init__(self, broker: Broker, database_url: str, var: Path, logs: Path) -> None:
        self.region, self.log_dir = unique("seoul"), logs
        self.env = {**os.environ, "GOLDENTIME_MQTT_URL": broker.url("dispatcher"), "GOLDENTIME_DATABASE_URL":
                    database_url, "GOLDENTIME_VAR_DIR": str(var), "GOLDENTIME_DATA_DIR": str(default_data_dir()),
                    "GOLDENTIME_SCENARIO": "seoul-central"}  # fmt: skip
        self.processes: list[Dispatcher] = []

    def start(self, *names: str) -> list[Dispatcher]:
        """Start processes at once; returns them once each leads or stands by."""
        started = [Dispatcher(n, self.env, self.region, self.log_dir / f"{n}.log") for n in names]
        self.processes += started
        for process in started:
            ok = wait_until(partial(Dispatcher.settled, process), timeout_s=240, every_s=0.1)
            assert ok and process.process.poll() is None, process.text()[-3000:]
        return started

    def leader(self) -> Dispatcher:
        """The process leading now (the newest epoch of the processes alive)."""
        alive = [p for p in self.processes if p.process.poll() is None and p.epoch()]
        assert alive, "no leader"
        return max(alive, key=Dispatcher.epoch)

    def epoch(self) -> int:
        """The newest epoch a process of the region took the lease with."""
        return max(p.epoch() for p in self.processes)

    def logs(self) -> list[str]:
        return [p.text()[-1500:] for p in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def region_of() -> Iterator[list[Region]]:
    made: list[Region] = []
    yield made
    for region in made:
        region.stop()


def new_region(made: list[Region], broker: Broker, database_url: str, var: Path, logs: Path) -> Region:
    region = Region(broker, database_url, var, logs)
    made.append(region)
    return region


@dataclass
class Seen:
    """An advice message as a unit's tablet received it."""

    at: float  # time.time()
    unit: str
    patient: str
    version: int
    destination: str
    pathway: str | None


@dataclass
class Fleet:
    """The units (and call takers) of a test: one client publishing for every unit, reading their advice and the
    incidents' assignments."""

    broker: Broker
    units: list[str]
    advice: list[Seen] = field(default_factory=list)
    assignments: dict[str, str] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)  # patient -> when their first vitals were sent
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = MqttClient(self.broker.url("admin"), unique("fleet"), on_message=self._on, keepalive_s=5)
        self.client.subscribe(topics.subscription(topics.Kind.ADVICE), qos=1)
        self.client.subscribe(topics.subscription(topics.Kind.ASSIGNMENT), qos=1)
        self.client.start()
        self.where = {u: PLACES[i % len(PLACES)] for i, u in enumerate(self.units)}

    def _on(self, message: Message) -> None:
        if not message.payload:
            return
        parsed = topics.parse(message.topic)
        payload = schemas.decode(parsed.kind, message.payload)
        with self.lock:
            if isinstance(payload, schemas.Advice):
                self.advice.append(Seen(time.time(), parsed.key, payload.patient_id, payload.advice_version,
                                        payload.destination.hpid, payload.pathway))  # fmt: skip
            elif isinstance(payload, schemas.Assignment):
                self.assignments[parsed.key] = payload.unit_id

    def send(self, kind: topics.Kind, key: str, payload: schemas.Payload, *, wait: bool = False) -> None:
        sent = self.client.send(topics.Topic(kind, key), payload)
        if wait:
            assert sent.wait(5)

    def on_duty(self, status: schemas.UnitStatus) -> None:
        for unit in self.units:
            self.send(topics.Kind.STATUS, unit, schemas.Status.new(status=status))
            self.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=self.where[unit][0],
                                                                       lon=self.where[unit][1]))  # fmt: skip

    def patient(self, unit: str, patient: str, vitals: schemas.Vitals | None = None) -> None:
        vitals = (vitals or schemas.Vitals.new(patient_id=patient, hr_bpm=112, sbp_mmhg=100, rr_per_min=22,
                                               spo2_pct=95, chief_complaint="abdominal pain"))  # fmt: skip
        with self.lock:
            self.sent[patient] = time.time()
        self.send(topics.Kind.VITALS, unit, vitals.model_copy(update={"patient_id": patient}), wait=True)

    def advised(self) -> dict[str, Seen]:
        """Each patient's first advice."""
        with self.lock:
            first: dict[str, Seen] = {}
            for seen in self.advice:
                first.setdefault(seen.patient, seen)
            return first

    def assigned(self, incidents: list[str]) -> bool:
        with self.lock:
            return all(i in self.assignments for i in incidents)

    def latest(self, unit: str) -> Seen | None:
        with self.lock:
            return next((s for s in reversed(self.advice) if s.unit == unit), None)

    def heartbeat(self) -> threading.Event:
        """Every unit reports where it is every second, as a tablet does (positions are not retained: a new leader
        learns them from the next ones); set the event returned to stop."""
        stopped = threading.Event()

        def beat() -> None:
            while not stopped.wait(1.0):
                for unit in self.units:
                    lat, lon = self.where[unit]
                    self.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=lat, lon=lon))

        threading.Thread(target=beat, name="heartbeat", daemon=True).start()
        return stopped

    def stop(self) -> None:
        self.client.stop()


class Stream:
    """Every unit reports its position every second and takes a new patient every PATIENT_EVERY_S (10 vitals a
    second for 120 units), spread evenly over each second: a fault at any moment finds vitals just sent, being
    decided, and sent while no leader holds the lease."""

    TICK_S = 0.1

    def __init__(self, fleet: Fleet) -> None:
        self.fleet, self.stopped, self.count = fleet, threading.Event(), itertools.count(1)
        self.thread = threading.Thread(target=self._run, name="stream", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        fleet, ticks = self.fleet, round(1 / self.TICK_S)
        moving = itertools.cycle(fleet.units)
        admitting = itertools.cycle(fleet.units)
        per_tick = len(fleet.units) / ticks
        patients_per_tick = len(fleet.units) / PATIENT_EVERY_S / ticks
        moved = admitted = 0.0
        while not self.stopped.wait(self.TICK_S):
            moved += per_tick
            while moved >= 1:
                unit = next(moving)
                lat, lon = fleet.where[unit]
                fleet.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=lat, lon=lon))
                moved -= 1
            admitted += patients_per_tick
            while admitted >= 1:
                unit = next(admitting)
                fleet.patient(unit, f"P-{unit[-6:]}-{next(self.count)}")
                admitted -= 1

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)


def first_advice_of(fleet: Fleet, epoch: int) -> float | None:
    with fleet.lock:
        return next((s.at for s in fleet.advice if epoch_of(s.version) >= epoch), None)


def advised_in(fleet: Fleet, epoch: int) -> bool:
    return first_advice_of(fleet, epoch) is not None


def moved_on(region: Region, epoch: int) -> bool:
    return region.epoch() > epoch


def lost(process: Dispatcher) -> bool:
    return "lost the lease" in process.text()


FAULTS: list[tuple[str, tuple[str, ...]]] = [("postgresql", ("SIGKILL", "SIGSTOP"))] if EXTERNAL_DB else []
FAULTS.append(("sqlite", ("SIGKILL",)))  # a SIGSTOP mid-write holds SQLite's lock: see telemetry/leader.py


@pytest.mark.parametrize(("backend", "faults"), FAULTS, ids=[f"{b}-{'-'.join(f)}" for b, f in FAULTS])
def test_a_leader_killed_or_frozen_while_units_stream_leaves_no_patient_without_advice(
    backend: str, faults: tuple[str, ...], request: pytest.FixtureRequest, broker: Broker, var_dir: Path,
    region_of: list[Region], tmp_path: Path,
) -> None:  # fmt: skip
    url: str = request.getfixturevalue(f"{backend}_url")
    region = new_region(region_of, broker, url, var_dir, tmp_path)
    region.start("a", "b")
    fleet = Fleet(broker, [unique("U") for _ in range(STREAM_UNITS)])
    fleet.on_duty(schemas.UnitStatus.TRANSPORTING)
    stream = Stream(fleet)
    figures, spare = [], iter("cdefg")
    try:
        assert wait_until(lambda: len(fleet.advised()) >= 20, timeout_s=30), "no advice before the fault"
        for number, fault in enumerate(faults):
            if number:  # a new standby for the next fault (started while the units stream)
                region.start(next(spare))
            leader = region.leader()
            epoch = leader.led()[-1][0]
            faulted = time.time()
            leader.signal(signal.SIGKILL if fault == "SIGKILL" else signal.SIGSTOP)
            assert wait_until(partial(moved_on, region, epoch), timeout_s=TTL_S + 20, every_s=0.05), region.logs()
            successor = region.leader()
            new_epoch, took = successor.led()[-1]
            assert wait_until(partial(advised_in, fleet, new_epoch), timeout_s=15)
            advised_at = first_advice_of(fleet, new_epoch)
            assert advised_at is not None
            time.sleep(TTL_S + 5)  # the units go on streaming, decided by the successor
            figures.append((fault, took - faulted, advised_at - faulted))
            if fault == "SIGSTOP":
                woken = time.time()
                leader.signal(signal.SIGCONT)
                assert wait_until(partial(lost, leader), timeout_s=15), leader.text()[-2000:]
                time.sleep(3)
                with fleet.lock:
                    late = [s for s in fleet.advice if epoch_of(s.version) <= epoch and s.at > took + 1.0]
                assert not late, f"a deposed leader published after the take-over: {late[:3]}"
                assert successor.process.poll() is None and not re.search("lost the lease", successor.text())
                assert woken > took
            else:
                leader.process.wait(10)
    finally:
        stream.stop()
    # every patient sent gets advice, within the lease time-out + 5 s of their vitals, the faults included
    limit = TTL_S + 5
    assert wait_until(lambda: set(fleet.advised()) >= set(fleet.sent), timeout_s=limit)
    advised, sent = fleet.advised(), dict(fleet.sent)
    fleet.stop()
    missing = sorted(set(sent) - set(advised))
    delays = {p: advised[p].at - t for p, t in sent.items() if p in advised}
    slow = sorted((round(d, 1), p) for p, d in delays.items() if d > limit)
    assert not missing and not slow, f"{len(missing)} patients without advice, {len(slow)} advised late: {slow[:5]}"
    epochs = sorted({epoch_of(s.version) for s in fleet.advice})
    assert len(epochs) == len(faults) + 1  # each leader advised with its own epoch
    worst = max(delays.values())
    for fault, lease_s, advice_s in figures:
        print(f"\nFIGURE failover ({backend}, lease time-out {TTL_S:g} s, {STREAM_UNITS} units streaming, "
              f"{STREAM_UNITS / PATIENT_EVERY_S:.0f} new patients/s): leader {fault}: standby took the lease "
              f"{lease_s:.2f} s after the fault, first advice of the new epoch {advice_s:.2f} s after it")  # fmt: skip
    print(f"FIGURE failover ({backend}): {len(sent)} patients sent, {len(missing)} without advice, slowest advised "
          f"{worst:.1f} s after their vitals (limit {limit:g} s); advice epochs {epochs}")  # fmt: skip


@pytest.fixture
def main_db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{MAIN_DB}_url")
    return url


def test_two_simultaneous_incidents_never_get_the_same_ambulance(
    broker: Broker, var_dir: Path, region_of: list[Region], tmp_path: Path, main_db_url: str
) -> None:
    """20 trials with a leader and a standby; the leader is killed after the 10th, its standby decides the rest."""
    region = new_region(region_of, broker, main_db_url, var_dir, tmp_path)
    region.start("a", "b")
    fleet = Fleet(broker, [unique("A") for _ in range(6)])
    heartbeat = fleet.heartbeat()
    try:
        fleet.on_duty(schemas.UnitStatus.AVAILABLE)
        same, trials = 0, 20
        for trial in range(trials):
            if trial == trials // 2:
                region.leader().signal(signal.SIGKILL)
            pair = [unique(f"INC{trial}") for _ in range(2)]
            call = schemas.Incident.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1], category="cardiac", priority=1)
            for incident in pair:
                fleet.send(topics.Kind.INCIDENT, incident, call)
            assert wait_until(partial(fleet.assigned, pair), timeout_s=TTL_S + 20), (trial, region.logs())
            units = [fleet.assignments[i] for i in pair]
            same += units[0] == units[1]
            for incident, unit in zip(pair, units, strict=True):  # the crews go, then are free again
                fleet.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.DISPATCHED,
                                                                        incident_id=incident), wait=True)  # fmt: skip
                fleet.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.AVAILABLE), wait=True)
        assert region.epoch() == 2  # the standby did take over
    finally:
        heartbeat.set()
        fleet.stop()
    assert same == 0, f"the same ambulance for two simultaneous incidents in {same} of {trials} trials"
    print(f"\nFIGURE two simultaneous incidents, leader + standby ({MAIN_DB}), leader killed after trial "
          f"{trials // 2}: the same ambulance in {same} of {trials} trials")  # fmt: skip


def test_a_decline_handled_after_a_failover_keeps_the_stroke_flag_and_the_earlier_declines(
    broker: Broker, var_dir: Path, region_of: list[Region], tmp_path: Path, main_db_url: str
) -> None:
    """The failure of issue 26 (a decline reaching the worker that had not seen the vitals lost the stroke flag and
    the declines), with the leader killed between the two declines. No recorder runs: the needs come back from the
    decision store alone."""
    region = new_region(region_of, broker, main_db_url, var_dir, tmp_path)
    region.start("a", "b")
    unit = unique("S")
    fleet = Fleet(broker, [unit])
    try:
        fleet.on_duty(schemas.UnitStatus.TRANSPORTING)
        fleet.patient(unit, "P-stroke-1", stable_vitals("right-sided weakness, slurred speech", fast_positive=True))
        assert wait_until(lambda: fleet.latest(unit) is not None, timeout_s=20)
        first = fleet.latest(unit)
        assert first is not None and first.pathway == "stroke"
        decline = schemas.Decision.new(advice_version=first.version, decision=schemas.DecisionKind.DECLINE,
                                       reason="no CT")  # fmt: skip
        fleet.send(topics.Kind.DECISION, unit, decline, wait=True)
        assert wait_until(lambda: fleet.latest(unit).version > first.version, timeout_s=20)  # type: ignore[union-attr]
        second = fleet.latest(unit)
        assert second is not None and second.destination != first.destination

        leader = region.leader()
        epoch = leader.led()[-1][0]
        leader.signal(signal.SIGKILL)
        assert wait_until(lambda: region.epoch() > epoch, timeout_s=30), region.logs()
        # the new leader advises the patient again under its epoch (same centre), then gets the crew's decline
        assert wait_until(lambda: epoch_of(fleet.latest(unit).version) > epoch, timeout_s=20)  # type: ignore[union-attr]
        again = fleet.latest(unit)
        assert again is not None and again.destination == second.destination
        decline = schemas.Decision.new(advice_version=second.version, decision=schemas.DecisionKind.DECLINE,
                                       reason="no thrombectomy")  # fmt: skip
        fleet.send(topics.Kind.DECISION, unit, decline, wait=True)
        assert wait_until(lambda: fleet.latest(unit).destination != second.destination, timeout_s=20)  # type: ignore[union-attr]
        third = fleet.latest(unit)
    finally:
        fleet.stop()
    assert third is not None and third.pathway == "stroke", third
    assert third.destination not in {first.destination, second.destination}
    print(f"\nFIGURE decline after failover ({MAIN_DB}): stroke patient declined at {first.destination}, then at "
          f"{second.destination} after the leader was killed: advised {third.destination}, pathway {third.pathway}, "
          f"version {third.version} (epoch {epoch_of(third.version)})")  # fmt: skip


def test_the_dispatcher_command_refuses_a_share_group_and_a_bad_region_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, "dispatcher", "--share-group", "dispatch", "--worker", "2")
    assert code == 2 and not out and err.count("\n") == 1
    assert "--share-group is no longer offered" in err and "--region NAME" in err
    code, _, err = run_cli(capsys, "dispatcher", "--region", "seoul central")
    assert code == 2 and err.startswith("goldentime: error: --region: region 'seoul central' must be")
    code, _, err = run_cli(capsys, "dispatcher", "--lease-ttl", "1")
    assert code == 2 and "--lease-ttl" in err and err.count("\n") == 1
    # a scenario of several regions: --region names one of them
    for name, value in (("SCENARIO", "national"), ("MQTT_URL", "mqtt://127.0.0.1:9"), ("VAR_DIR", str(tmp_path))):
        monkeypatch.setenv(f"GOLDENTIME_{name}", value)
    code, _, err = run_cli(capsys, "dispatcher", "--region", "atlantis")
    assert code == 2 and err.count("\n") == 1 and "unknown region 'atlantis'" in err and "gwangju" in err
