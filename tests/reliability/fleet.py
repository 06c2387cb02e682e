"""Private Mosquittos from the shipped configuration, and what the fault tests run on them: units' tablets, the
units of a test on one client (:class:`Fleet`, with :class:`Stream` to keep them busy) and ``goldentime dispatcher
--region`` processes (:class:`Region`). The fixtures that start them are in this package's conftest.py."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from dispatch.decision_state import epoch_of
from goldentime.bench.mosquitto import free_port, start_mosquitto
from goldentime.mqtt_users import userinfo, write_broker_files
from goldentime.settings import default_data_dir
from telemetry import schemas, topics
from telemetry.access import Account
from telemetry.client import Delivery, Message, MqttClient, unit_will
from tests.dispatch.bus import CITY_HALL, DONGDAEMUN, DONGNIMMUN, GWANGHWAMUN, JONGNO_3GA
from tests.helpers import unique, wait_until

UNITS = 10  # units of a fault test's fleet (the `fleet` fixture)
#: The lease time-out the region's dispatcher processes run with (the default).
TTL_S = 5.0
#: Units of a :class:`Stream`; each gets a new patient every PATIENT_EVERY_S.
STREAM_UNITS, PATIENT_EVERY_S = 120, 12.0
#: Where the units of a :class:`Fleet` stand, in turn.
PLACES = [JONGNO_3GA, GWANGHWAMUN, DONGDAEMUN, CITY_HALL, DONGNIMMUN]


class Broker:
    """A private Mosquitto from the shipped configuration with ``accounts`` (their passwords in
    :attr:`passwords`), in ``directory``; it can be restarted on the same port and directory."""

    def __init__(self, directory: Path, accounts: Iterable[Account]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.port = directory, free_port()
        self.passwords = write_broker_files(directory, accounts)
        self.process = start_mosquitto(directory, self.port)

    def url(self, username: str) -> str:
        return f"mqtt://{userinfo(username, self.passwords[username])}@127.0.0.1:{self.port}"

    def restart(self, down_s: float) -> float:
        """Stop (SIGTERM: Mosquitto writes its persistence file), wait, start again; returns when it is up."""
        self.process.terminate()
        self.process.wait(10)
        time.sleep(down_s)
        self.process = start_mosquitto(self.directory, self.port)
        return time.monotonic()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Tablet:
    """A unit's tablet: its own account, Last Will, and its advice topic subscribed."""

    def __init__(self, broker: Broker, unit: str) -> None:
        self.unit, self.advice, self.connects = unit, list[schemas.Advice](), 0
        self.client = MqttClient(broker.url(f"units/{unit}"), unique("tablet"), on_message=self._on_message,
                                 will=unit_will(unit), keepalive_s=5)  # fmt: skip
        self.client.subscribe(topics.build(topics.Kind.ADVICE, unit), qos=1)
        self.client.start()

    def _on_message(self, message: Message) -> None:
        if message.payload:
            payload = schemas.decode(topics.Kind.ADVICE, message.payload)
            assert isinstance(payload, schemas.Advice)
            self.advice.append(payload)

    def send(self, kind: topics.Kind, payload: schemas.Payload) -> Delivery:
        return self.client.send(topics.Topic(kind, self.unit), payload)

    def advised(self, patient: str) -> bool:
        return any(a.patient_id == patient for a in self.advice)


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
