"""The dispatcher worker end to end, through a real broker: vitals and position in, advice out,
decline, fallback, arrival, pre-notification, incidents, bad input, restart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from dispatch.scenario import Prepared
from dispatch.service import Dispatcher
from dispatch.severity.model import TrainedSeverity
from goldentime.settings import default_data_dir
from telemetry import schemas, topics
from telemetry.client import Message
from telemetry.memory_bus import Done, MemoryBroker, MemoryBus
from tests.conftest import EXTERNAL_MQTT, BrokerUnderTest
from tests.dispatch.bus import (
    DONGNIMMUN,
    advised,
    by_distance,
    connect,
    critical_vitals,
    memory_broker,
    report,
    sockets_only,
)
from tests.dispatch.bus import JONGNO_3GA as JONGNO_3GA  # re-exported: the reliability tests import them from here
from tests.dispatch.bus import Bus as Bus
from tests.helpers import unique, wait_until

DATA = default_data_dir()


def _stroke_patient(unit: str, bus: Bus) -> None:
    bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
    bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1]))
    vitals = schemas.Vitals.new(
        patient_id=f"P-{uuid.uuid4().hex[:8]}",
        age_years=71,
        sex="male",
        hr_bpm=92,
        sbp_mmhg=178,
        dbp_mmhg=96,
        rr_per_min=20,
        spo2_pct=95,
        avpu="A",
        chief_complaint="right-sided weakness, slurred speech",
        flags=schemas.CrewFlags(fast_positive=True),
    )
    bus.send(topics.Kind.VITALS, unit, vitals)


def test_vitals_in_advice_out_decline_fallback_arrival(bus: Bus, dispatcher: Dispatcher) -> None:
    unit = unique("u")
    _stroke_patient(unit, bus)
    assert wait_until(lambda: bus.advice(unit) is not None, timeout_s=10), "advice after vitals and position"
    first = bus.advice(unit)
    assert first is not None and first.severity is not None
    assert first.severity.ktas <= 2  # FAST+ is a critical call
    assert first.eta_mode is schemas.EtaMode.ROAD and first.destination.eta_s > 0
    assert len(first.alternatives) >= 1 and first.destination.reason.startswith(first.destination.name)

    inbound = topics.build(topics.Kind.INBOUND, first.destination.hpid)
    assert wait_until(lambda: bus.last(inbound) is not None and unit.encode() in (bus.last(inbound) or b""))

    decline = schemas.Decision.new(advice_version=first.advice_version, decision="decline", reason="family request")
    bus.send(topics.Kind.DECISION, unit, decline)

    def moved() -> bool:
        advice = bus.advice(unit)
        return advice is not None and advice.advice_version > first.advice_version

    assert wait_until(moved, timeout_s=10), "a decline moves the patient at once"
    second = bus.advice(unit)
    assert second is not None and second.destination.hpid != first.destination.hpid
    assert first.destination.hpid not in {a.hpid for a in second.alternatives}  # avoided for this patient
    assert wait_until(lambda: unit.encode() not in (bus.last(inbound) or b"")), "no longer inbound to the declined"

    bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.AT_HOSPITAL))
    advice_topic = topics.build(topics.Kind.ADVICE, unit)
    assert wait_until(lambda: bus.last(advice_topic) == b"", timeout_s=10), "arrival closes the trip"


def test_a_critical_patient_passes_nearer_level_3_centres_for_a_regional_or_local_one(
    bus: Bus, dispatcher: Dispatcher
) -> None:
    """R-CRIT through the worker: no crew flag, but the model scores the patient critical; the two nearest
    centres are level 3 (every bed count unknown alike, so without the rule the nearest would win)."""
    levels = {c.hpid: c.level for c in dispatcher.prepared.scenario.centres}
    nearest = by_distance(dispatcher, DONGNIMMUN)
    assert [levels[h] for h in nearest[:2]] == [3, 3], "the trap: level 3 centres nearest"
    unit = unique("u")
    bus.transport(unit, DONGNIMMUN, critical_vitals())
    advice = advised(bus, dispatcher, unit)
    assert advice.severity is not None and advice.severity.ktas <= 2 and advice.severity.p_critical >= 0.5
    assert levels[advice.destination.hpid] <= 2  # a critical patient goes to a level 1-2 centre
    assert advice.destination.hpid == next(h for h in nearest if levels[h] <= 2)  # the nearest of them
    assert advice.pathway == "general_critical" and advice.definitive


def test_a_full_centre_is_avoided_and_a_closed_one_excluded(bus: Bus, dispatcher: Dispatcher) -> None:
    """The full centre is the one a stroke patient here would go to (the nearest: no centre reported
    anything else); the closed one is where the same patient goes once the full one is avoided. The
    other centres are on advisory when it closes: excluded, a closure is more than an advisory's cost."""
    now = datetime.now(UTC)
    nearest = by_distance(dispatcher, JONGNO_3GA)[0]
    first, second = unique("u"), unique("u")
    full = schemas.Capacity.new(
        updated_at=now,
        beds={schemas.BedType.ER_GENERAL: schemas.BedCount(available=0, total=30, overcrowded=True, updated_at=now)},
    )
    report(bus, dispatcher, {nearest: full})
    _stroke_patient(first, bus)
    chosen = advised(bus, dispatcher, first).destination.hpid
    assert chosen != nearest  # the full centre is avoided ...

    closed = schemas.Capacity.new(
        updated_at=now,
        ems_traffic=schemas.EmsTraffic(status=schemas.TrafficStatus.CLOSED, reason="CT down", updated_at=now),
    )
    advisory = schemas.EmsTraffic(status=schemas.TrafficStatus.ADVISORY, updated_at=now)
    others = [h for h in by_distance(dispatcher, JONGNO_3GA) if h not in (nearest, chosen)]
    report(bus, dispatcher, {chosen: closed} | {h: schemas.Capacity.new(updated_at=now, ems_traffic=advisory)
                                                for h in others})  # fmt: skip

    def moved_off() -> bool:
        advice = bus.advice(first)
        return advice is not None and advice.destination.hpid != chosen

    assert wait_until(moved_off), "the patient on the way is moved off the closed centre"
    _stroke_patient(second, bus)
    for unit in (first, second):
        advice = advised(bus, dispatcher, unit)
        assert advice.destination.hpid not in (nearest, chosen), unit  # ... and the closed one excluded
        assert chosen not in {a.hpid for a in advice.alternatives}  # another open centre is minutes away


def test_bad_input_is_rejected_and_the_loop_goes_on(bus: Bus, dispatcher: Dispatcher) -> None:
    unit = unique("u")
    bus.client.publish(topics.build(topics.Kind.VITALS, unit), b'{"schema": "ems.vitals/1", "hr_bpm": 999}', qos=1)
    assert wait_until(lambda: bus.last("ems/rejected/dispatcher") is not None)
    report = schemas.decode(topics.Kind.REJECTED, bus.last("ems/rejected/dispatcher") or b"")
    assert isinstance(report, schemas.Rejected) and unit in report.topic
    _stroke_patient(unit, bus)
    assert wait_until(lambda: bus.advice(unit) is not None, timeout_s=10)


def test_an_incident_gets_the_nearest_available_unit(bus: Bus, dispatcher: Dispatcher) -> None:
    near, far = unique("near"), unique("far")
    for unit, (lat, lon) in ((near, (37.5712, 126.9930)), (far, (37.5800, 126.9600))):
        bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.AVAILABLE))
        bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=lat, lon=lon))
    incident = unique("inc")
    bus.send(topics.Kind.INCIDENT, incident, schemas.Incident.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1],
                                                                   category="stroke", priority=1))  # fmt: skip
    topic = topics.build(topics.Kind.ASSIGNMENT, incident)
    assert wait_until(lambda: bus.last(topic) is not None, timeout_s=10)
    assignment = schemas.decode(topics.Kind.ASSIGNMENT, bus.last(topic) or b"")
    assert isinstance(assignment, schemas.Assignment) and assignment.unit_id == near


def test_a_restarted_dispatcher_keeps_the_patients_advice(
    broker: BrokerUnderTest, bus: Bus, prepared: Prepared, severity: TrainedSeverity
) -> None:
    first = Dispatcher(connect(broker, unique("d1")), prepared, severity).start()
    unit = unique("u")
    try:
        _stroke_patient(unit, bus)
        assert wait_until(lambda: bus.advice(unit) is not None, timeout_s=10)
    finally:
        first.stop()
    before = bus.advice(unit)
    assert before is not None
    second = Dispatcher(connect(broker, unique("d2")), prepared, severity).start()
    try:
        assert wait_until(lambda: unit in second.units and second.units[unit].destination is not None, timeout_s=10)
        state = second.units[unit]
        assert state.destination == before.destination.hpid and state.advice_version >= before.advice_version
        bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.AT_HOSPITAL))
        assert wait_until(lambda: bus.last(topics.build(topics.Kind.ADVICE, unit)) == b"", timeout_s=10)
    finally:
        second.stop()


def _two_workers_share_the_load(broker: BrokerUnderTest, prepared: Prepared, severity: TrainedSeverity) -> None:
    group = unique("share")
    workers = [
        Dispatcher(connect(broker, unique("w")), prepared, severity, share_group=group).start() for _ in range(2)
    ]
    bus = Bus(broker)
    units = [unique("u") for _ in range(20)]
    try:
        for unit in units:
            _stroke_patient(unit, bus)
        assert wait_until(lambda: all(bus.advice(u) is not None for u in units), timeout_s=20)
        assert sum(w.stats.vitals for w in workers) == len(units)  # each vitals message handled once
        assert all(w.stats.vitals > 0 for w in workers)  # and both workers took a share
        owners = {u: [w for w in workers if w.units.get(u) and w.units[u].owned] for u in units}
        assert all(len(found) == 1 for found in owners.values()), {u: len(f) for u, f in owners.items()}
        for unit in units:
            bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.AT_HOSPITAL))
        assert wait_until(lambda: all(bus.last(topics.build(topics.Kind.ADVICE, u)) == b"" for u in units), 20)
    finally:
        for worker in workers:
            worker.stop()
        bus.clean()
        bus.client.stop()


def test_two_workers_share_the_load_each_message_once_in_memory(prepared: Prepared, severity: TrainedSeverity) -> None:
    """Shared subscriptions on the in-memory bus (the embedded broker has none)."""
    with memory_broker() as broker:
        _two_workers_share_the_load(broker, prepared, severity)


def _two_workers_share_the_load_each_message_once(prepared: Prepared, severity: TrainedSeverity) -> None:
    """MQTT shared subscriptions need a real broker: this runs against GOLDENTIME_TEST_MQTT_URL (Mosquitto in CI)."""
    assert EXTERNAL_MQTT is not None
    _two_workers_share_the_load(BrokerUnderTest("external", EXTERNAL_MQTT, "5"), prepared, severity)


if EXTERNAL_MQTT:  # collected only where a real broker is configured (CI), never skipped
    test_two_workers_share_the_load_each_message_once = _two_workers_share_the_load_each_message_once


@sockets_only
def test_a_restart_restores_needs_from_the_recorders_store(
    broker: BrokerUnderTest, bus: Bus, prepared: Prepared, severity: TrainedSeverity, sqlite_url: str
) -> None:
    from dispatch.pathways import Pathway
    from telemetry.recorder import run_recorder

    recorder = run_recorder(broker.url, sqlite_url, client_id=unique("rec"), batch_size=100, flush_interval_s=0.05,
                            protocol=broker.protocol, session_expiry_s=60)  # fmt: skip
    first = Dispatcher(connect(broker, unique("d1")), prepared, severity).start()
    unit = unique("u")
    try:
        _stroke_patient(unit, bus)
        assert wait_until(lambda: bus.advice(unit) is not None and recorder.store.latest("vitals", unit) is not None)
    finally:
        first.stop()

    def last_vitals(unit_id: str) -> schemas.Vitals | None:
        payload = recorder.store.latest("vitals", unit_id)
        return None if payload is None else schemas.Vitals.model_validate(payload)

    second = Dispatcher(connect(broker, unique("d2")), prepared, severity, last_vitals=last_vitals).start()
    try:
        # the FAST+ flag (not part of the advice) came back from the store
        assert wait_until(lambda: unit in second.units and Pathway.STROKE in second.units[unit].needs, timeout_s=10)
        assert second.units[unit].destination is not None
        bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.AT_HOSPITAL))
    finally:
        second.stop()
        recorder.stop()
        recorder.store.close()


class Recording(MemoryBus):
    """The dispatcher's client on an in-memory bus of its own, keeping what it publishes: the decision thread
    without a broker."""

    def __init__(self) -> None:
        super().__init__(MemoryBroker(), unique("dispatcher"))
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> Done:
        self.sent.append((topic, payload))
        return super().publish(topic, payload, qos=qos, retain=retain)

    def advice(self, unit: str) -> list[schemas.Advice]:
        """The advice published for ``unit``, oldest first."""
        topic = topics.build(topics.Kind.ADVICE, unit)
        found = [schemas.decode(topics.Kind.ADVICE, p) for t, p in self.sent if t == topic and p]
        return [a for a in found if isinstance(a, schemas.Advice)]


def _message(kind: topics.Kind, unit: str, payload: schemas.Payload, mid: int = 0) -> Message:
    return Message(topics.build(kind, unit), schemas.encode(payload), topics.CONTRACT[kind].qos, False, mid)


@pytest.mark.parametrize("newer", ["vitals", "advice"])
def test_after_a_restart_the_newer_of_kept_vitals_and_retained_advice_decides_the_patient(
    newer: str, prepared: Prepared, severity: TrainedSeverity
) -> None:
    """A restarted worker on a persistent session gets the vitals the broker kept for it before the retained
    advice it re-subscribes to: vitals taken after that advice are a new patient and must not be overwritten
    by the advice of the one before; advice newer than the vitals (another worker took over) still wins."""
    unit, earlier = unique("u"), datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    later = datetime(2026, 11, 25, 7, 5, tzinfo=UTC)
    position = schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1])
    state = [_message(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING)),
             _message(topics.Kind.POSITION, unit, position)]  # fmt: skip
    before = Recording()
    first = Dispatcher(before, prepared, severity)
    old_vitals = schemas.Vitals.new(patient_id="P-old", hr_bpm=90)
    first.handle_batch([*state, _message(topics.Kind.VITALS, unit, old_vitals)])
    retained = before.advice(unit)[-1].model_copy(update={"ts": later if newer == "advice" else earlier})
    new_vitals = schemas.Vitals.new(patient_id="P-new", hr_bpm=135, sbp_mmhg=80).model_copy(
        update={"ts": earlier if newer == "advice" else later}
    )
    after = Recording()
    second = Dispatcher(after, prepared, severity)
    second.handle_batch([_message(topics.Kind.VITALS, unit, new_vitals, mid=7), *state,
                         _message(topics.Kind.ADVICE, unit, retained)])  # fmt: skip
    expected = "P-new" if newer == "vitals" else "P-old"
    assert second.units[unit].patient_id == expected
    if newer == "vitals":
        advised = after.advice(unit)[-1]
        assert advised.patient_id == "P-new" and advised.advice_version > retained.advice_version
