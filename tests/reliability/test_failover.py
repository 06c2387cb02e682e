"""Fault: a region's leader dispatcher is killed (SIGKILL) or frozen (SIGSTOP) while 120 units stream, with a hot
standby waiting (issue 26). The standby takes the region's lease (PostgreSQL advisory lock and lease row; SQLite
file lock), the leader's persistent MQTT session (client id ``dispatcher-{region}``, its queued QoS 1 vitals) and
its stored decision state; no patient is left without advice past the lease time-out plus 5 s, a frozen leader
woken up publishes nothing more, two simultaneous incidents never get the same ambulance, and a crew's decline
handled after the failover keeps the patient's stroke flag and earlier declines.

Real ``goldentime dispatcher --region`` processes, a private Mosquitto from the shipped configuration (both as
tests/reliability/fleet.py starts them), and the database of the test (PostgreSQL with GOLDENTIME_TEST_DATABASE_URL,
as in CI; SQLite otherwise, and always for the SIGKILL stream). Each test prints its figures (``FIGURE ...``)."""

from __future__ import annotations

import re
import signal
import time
from functools import partial
from pathlib import Path

import pytest

from dispatch.decision_state import epoch_of
from telemetry import schemas, topics
from tests.conftest import EXTERNAL_DB
from tests.dispatch.bus import JONGNO_3GA, stable_vitals
from tests.helpers import run_cli, unique, wait_until
from tests.reliability.fleet import (
    PATIENT_EVERY_S,
    STREAM_UNITS,
    TTL_S,
    Broker,
    Dispatcher,
    Fleet,
    Region,
    Stream,
    advised_in,
    first_advice_of,
    new_region,
)

pytestmark = pytest.mark.integration

#: The database the tests that do not stream run on: PostgreSQL when there is one (production), else SQLite.
MAIN_DB = "postgresql" if EXTERNAL_DB else "sqlite"


def moved_on(region: Region, epoch: int) -> bool:
    return region.epoch() > epoch


def lost(process: Dispatcher) -> bool:
    return "lost the lease" in process.text()


FAULTS: list[tuple[str, tuple[str, ...]]] = [("postgresql", ("SIGKILL", "SIGSTOP"))] if EXTERNAL_DB else []
FAULTS.append(("sqlite", ("SIGKILL",)))  # a SIGSTOP mid-write holds SQLite's lock: see telemetry/leader.py


@pytest.mark.parametrize(("backend", "faults"), FAULTS, ids=[f"{b}-{'-'.join(f)}" for b, f in FAULTS])
def test_a_leader_killed_or_frozen_while_units_stream_leaves_no_patient_without_advice(
    backend: str, faults: tuple[str, ...], request: pytest.FixtureRequest, region_broker: Broker, var_dir: Path,
    region_of: list[Region], tmp_path: Path,
) -> None:  # fmt: skip
    url: str = request.getfixturevalue(f"{backend}_url")
    region = new_region(region_of, region_broker, url, var_dir, tmp_path)
    region.start("a", "b")
    fleet = Fleet(region_broker, [unique("U") for _ in range(STREAM_UNITS)])
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
    region_broker: Broker, var_dir: Path, region_of: list[Region], tmp_path: Path, main_db_url: str
) -> None:
    """20 trials with a leader and a standby; the leader is killed after the 10th, its standby decides the rest."""
    region = new_region(region_of, region_broker, main_db_url, var_dir, tmp_path)
    region.start("a", "b")
    fleet = Fleet(region_broker, [unique("A") for _ in range(6)])
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
    region_broker: Broker, var_dir: Path, region_of: list[Region], tmp_path: Path, main_db_url: str
) -> None:
    """The failure of issue 26 (a decline reaching the worker that had not seen the vitals lost the stroke flag and
    the declines), with the leader killed between the two declines. No recorder runs: the needs come back from the
    decision store alone."""
    region = new_region(region_of, region_broker, main_db_url, var_dir, tmp_path)
    region.start("a", "b")
    unit = unique("S")
    fleet = Fleet(region_broker, [unit])
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
