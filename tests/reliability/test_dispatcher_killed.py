"""Fault: the dispatcher process is killed (SIGKILL, no goodbye) while new patients' vitals are arriving,
then started again. No patient loses their advice: the dispatcher acknowledges a vitals message only once its
batch is decided and advised, on a persistent session, so the broker hands what the dead process had not
finished (and what came while it was down) to the new one; the rest of the state is rebuilt from retained
messages and the recorder's store. `goldentime dispatcher` runs as a real process against a private
Mosquitto from the shipped configuration (needs the ``mosquitto`` binary, as CI has)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from goldentime.services import start_recorder
from goldentime.settings import Settings, default_data_dir
from telemetry import schemas, topics
from tests.dispatch.test_service import JONGNO_3GA
from tests.helpers import unique, wait_until
from tests.reliability.fleet import UNITS, Broker, Tablet

pytestmark = pytest.mark.integration


class DispatcherProcess:
    """`goldentime dispatcher` in a process of its own, with the settings of ``env``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it; returns (time.monotonic()) once it is subscribed and deciding."""
        before = self.log.read_text() if self.log.exists() else ""
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen([str(Path(sys.executable).parent / "goldentime"), "dispatcher"],
                                            env=self.env, stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
        started = wait_until(lambda: self.log.read_text().count("dispatcher: scenario") > before.count(
            "dispatcher: scenario") or self.process.poll() is not None, timeout_s=180, every_s=0.05)  # type: ignore[union-attr]  # fmt: skip
        assert started and self.process.poll() is None, self.log.read_text()[-2000:]
        return time.monotonic()

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


def test_a_dispatcher_killed_mid_batch_and_restarted_leaves_no_patient_without_advice(
    fleet: tuple[Broker, list[str]], tmp_path: Path
) -> None:
    broker, units = fleet
    var, database = tmp_path / "var", f"sqlite:///{tmp_path / 'gt.sqlite3'}"
    settings = Settings(var_dir=var, database_url=database, recorder_client_id=unique("recorder"))
    recorder = start_recorder(settings, broker.url("recorder"))
    env = {**os.environ, "GOLDENTIME_MQTT_URL": broker.url("dispatcher"), "GOLDENTIME_DATABASE_URL": database,
           "GOLDENTIME_VAR_DIR": str(var), "GOLDENTIME_DATA_DIR": str(default_data_dir()),
           "GOLDENTIME_SCENARIO": "seoul-central"}  # fmt: skip
    dispatcher = DispatcherProcess(env, tmp_path / "dispatcher.log")
    tablets = [Tablet(broker, u) for u in units]
    moving = threading.Event()

    def positions() -> None:  # each tablet reports where it is every second, as a real one does
        while not moving.wait(1.0):
            for tablet in tablets:
                tablet.send(topics.Kind.POSITION, schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1]))

    heartbeat = threading.Thread(target=positions, daemon=True)
    try:
        dispatcher.start()
        for tablet in tablets:
            tablet.send(topics.Kind.STATUS, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
            tablet.send(topics.Kind.POSITION, schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1]))
            tablet.send(topics.Kind.VITALS, schemas.Vitals.new(patient_id=f"P-a-{tablet.unit[-6:]}", hr_bpm=100))
        heartbeat.start()
        assert wait_until(lambda: all(t.advised(f"P-a-{t.unit[-6:]}") for t in tablets), timeout_s=30)

        # New patients: half sent just before the kill (in the batch being decided, or on their way to it),
        # half while the dispatcher is dead.
        for tablet in tablets[: UNITS // 2]:
            tablet.send(topics.Kind.VITALS, schemas.Vitals.new(patient_id=f"P-b-{tablet.unit[-6:]}", hr_bpm=130,
                                                               sbp_mmhg=85)).wait(5)  # fmt: skip
        dispatcher.kill()
        for tablet in tablets[UNITS // 2 :]:
            tablet.send(topics.Kind.VITALS, schemas.Vitals.new(patient_id=f"P-b-{tablet.unit[-6:]}", hr_bpm=130,
                                                               sbp_mmhg=85)).wait(5)  # fmt: skip
        restarted = dispatcher.start()
        everyone = wait_until(lambda: all(t.advised(f"P-b-{t.unit[-6:]}") for t in tablets), timeout_s=30)
        recovered_s = time.monotonic() - restarted
        without = [t.unit for t in tablets if not t.advised(f"P-b-{t.unit[-6:]}")]
    finally:
        moving.set()
        for tablet in tablets:
            tablet.client.stop()
        dispatcher.stop()
        recorder.stop()
    assert everyone and not without, f"patients without advice after the restart: {without}"
    print(f"\nFIGURE dispatcher killed (SIGKILL) with {UNITS // 2} new patients' vitals just delivered and "
          f"{UNITS - UNITS // 2} more sent while it was down: {len(without)} of {UNITS} patients without advice; "
          f"all advised {recovered_s:.1f} s after the new process was subscribed")  # fmt: skip
