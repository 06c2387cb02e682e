"""Fault: the broker restarts mid-stream. A private Mosquitto from the shipped configuration
(deploy/mosquitto/, persistence on) is stopped and started again while ten units stream QoS 1
vitals. Every vitals message is stored exactly once, advice resumes for the patients who came
after the restart, and the units reconnect and resubscribe (their retained advice comes back).
Needs the ``mosquitto`` binary (Mosquitto 2), as CI has."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from dispatch.scenario import Prepared
from goldentime.services import start_dispatcher, start_recorder
from goldentime.settings import Settings
from telemetry import schemas, topics
from telemetry.store import messages
from tests.dispatch.test_service import JONGNO_3GA
from tests.helpers import unique, wait_until
from tests.reliability.fleet import UNITS, Broker, Tablet

pytestmark = pytest.mark.integration

PERIOD_S = 0.05  # one vitals from the fleet this often (a unit: every 0.5 s)


def test_a_broker_restart_mid_stream_loses_nothing(
    fleet: tuple[Broker, list[str]], prepared: Prepared, tmp_path: Path
) -> None:
    mosquitto, units = fleet
    settings = Settings(var_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'gt.sqlite3'}",
                        recorder_client_id=unique("recorder"), recorder_flush_interval_s=0.05)  # fmt: skip
    recorder = start_recorder(settings, mosquitto.url("recorder"))
    dispatcher = start_dispatcher(settings, mosquitto.url("dispatcher"), client_id=unique("dispatcher"),
                                  prepared=prepared)  # fmt: skip
    tablets = [Tablet(mosquitto, u) for u in units]
    sent: list[str] = []
    stop = threading.Event()

    def stored_vitals() -> list[str]:
        with recorder.store.engine.connect() as connection:
            query = sa.select(messages.c.msg_id).where(messages.c.kind == "vitals", messages.c.key.in_(units))
            return list(connection.execute(query).scalars())

    def stream(phase: str) -> None:
        """Each unit carries one patient of the phase and sends their vitals every UNITS × PERIOD_S."""
        k = 0
        while not stop.is_set():
            tablet = tablets[k % UNITS]
            vitals = schemas.Vitals.new(patient_id=f"P-{phase}-{k % UNITS}", hr_bpm=110 + k % 30, sbp_mmhg=95)
            tablet.send(topics.Kind.VITALS, vitals)
            sent.append(vitals.msg_id)
            k += 1
            time.sleep(PERIOD_S)

    try:
        for tablet in tablets:
            tablet.send(topics.Kind.STATUS, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
            tablet.send(topics.Kind.POSITION, schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1]))
        before = threading.Thread(target=stream, args=("a",))
        before.start()
        assert wait_until(lambda: all(t.advised(f"P-a-{i}") for i, t in enumerate(tablets)), timeout_s=20)
        reconnects = [t.client.reconnects for t in tablets]
        up_at = mosquitto.restart(down_s=1.0)  # the stream goes on: QoS 1 vitals wait in the tablets
        stop.set()
        before.join()
        stop.clear()
        after = threading.Thread(target=stream, args=("b",))
        after.start()
        for tablet in tablets:  # the ambulance moved while the broker was away
            tablet.send(topics.Kind.POSITION, schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1] + 0.001))

        assert wait_until(lambda: all(t.client.connected for t in tablets), timeout_s=40)
        reconnected_s = time.monotonic() - up_at
        assert wait_until(lambda: all(t.advised(f"P-b-{i}") for i, t in enumerate(tablets)), timeout_s=30), \
            "advice resumes for the patients after the restart, and reaches the tablets: they resubscribed"  # fmt: skip
        advised_s = time.monotonic() - up_at
        time.sleep(1.0)
        stop.set()
        after.join()
        # counted in the database: a message sent again after the restart is accepted twice
        assert wait_until(lambda: recorder.drained() and len(stored_vitals()) >= len(sent), timeout_s=30, every_s=0.1)
    finally:
        stop.set()
        for tablet in tablets:
            tablet.client.stop()
        dispatcher.stop()
        recorder.stop()
    assert all(t.client.reconnects > r for t, r in zip(tablets, reconnects, strict=True)), "every tablet reconnected"
    stored = stored_vitals()
    assert len(stored) == len(set(stored)) == len(sent) and set(stored) == set(sent), "every vitals stored once"
    print(f"\nFIGURE broker restart (Mosquitto, shipped config, down 1 s): {len(sent)} vitals sent, {len(stored)} "
          f"stored once each; {UNITS} of {UNITS} tablets reconnected within {reconnected_s:.1f} s of the broker's "
          f"return; advice for every new patient within {advised_s:.1f} s")  # fmt: skip
