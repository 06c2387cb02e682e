"""The simulator's ``goldentime`` policy and the live worker are the same code (issue 21).

A short seeded run records the event stream the policy fed its :class:`~dispatch.engine.DispatchEngine` (a list of
(now, events) batches) and the commands it got back. The same stream is then replayed (a) to a fresh engine and
(b) to the MQTT worker (:class:`dispatch.service.Dispatcher`) on the in-memory bus, every event published as its
MQTT payload and read back by :mod:`dispatch.wire`, one worker batch per recorded batch (the worker's loop driven
by hand: no thread, the clock set to the batch's time). All three must give the same advice (per unit, the same
versions, naming the same centres, for the same patients and severities) and recommend the same units for the same
incidents. A different severity changes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import pytest

from dispatch.commands import Advise, AssignUnit, Command
from dispatch.engine import DispatchEngine
from dispatch.events import (
    CapacityReported,
    DecisionMade,
    Event,
    IncidentReported,
    PositionReported,
    StatusChanged,
    VitalsReported,
)
from dispatch.pathways import Pathway
from dispatch.scenario import Centre, Prepared, Scenario, Station
from dispatch.service import Dispatcher
from dispatch.severity.model import Scorer, Severity
from loaders.scenarios import prepare
from simulations.config import SimConfig
from simulations.engine import draw_city, simulate
from simulations.patients import SimPatient
from simulations.policies import GoldenTime
from simulations.records import RunResult
from telemetry import schemas, topics
from telemetry.client import Message
from telemetry.memory_bus import MemoryBroker, MemoryBus

CENTRES = (
    Centre("A0000001", "가까운병원", 3, 35.150, 126.850),  # local institution: no team, few beds
    Centre("A0000002", "먼대학병원", 1, 35.200, 126.850),  # regional centre
    Centre("A0000003", "동쪽병원", 2, 35.160, 126.900),  # local centre
)
STATIONS = (Station("기지119안전센터", 35.140, 126.850, 3), Station("동부119안전센터", 35.165, 126.895, 2))
CONFIG = SimConfig(calls_per_day=160.0, walkin_occupancy=0.8, beds={"A0000001": 3, "A0000002": 4, "A0000003": 3})
DAYS = 0.25
#: (unit, advice version, patient, destination, KTAS, p_critical): what an advice tells a crew, as compared here;
#: (incident, 0, unit, "", None, None): a unit recommended for an incident.
Said = tuple[str, int, str, str, int | None, float | None]


def _patient(row: int, ktas: int, needs: frozenset[Pathway] = frozenset(), p_critical: float = 0.05) -> SimPatient:
    flags = schemas.CrewFlags(
        fast_positive=Pathway.STROKE in needs,
        stemi=Pathway.STEMI in needs,
        cardiac_arrest=Pathway.CARDIAC_ARREST in needs,
    )
    vitals = schemas.Vitals.new(patient_id="P-test", flags=flags, spo2_pct=96, rr_per_min=18, sbp_mmhg=125)
    return SimPatient(row, ktas, ktas, flags, needs, vitals, "", ktas, ktas <= 2, p_critical)


PATIENTS = (
    _patient(0, 4),
    _patient(1, 3, p_critical=0.3),
    _patient(2, 2, frozenset({Pathway.STROKE}), 0.8),
    _patient(3, 2, frozenset({Pathway.STEMI}), 0.9),
    _patient(4, 5, p_critical=0.01),
    _patient(5, 1, frozenset({Pathway.CARDIAC_ARREST}), 0.99),
)


@dataclasses.dataclass(frozen=True)
class Run:
    prepared: Prepared  # the engine's: the simulated centres
    policy: GoldenTime
    result: RunResult


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    where = tmp_path_factory.mktemp("toy")
    scenario = Scenario("toy", "toy city", where, where / "no-graph.graphml", CENTRES, STATIONS)
    prepared = prepare(scenario, cache_dir=None)
    draws = draw_city(prepared, CONFIG, PATIENTS, (0.05, 0.2, 0.4, 0.25, 0.1), seed=7, days=DAYS)
    policy = GoldenTime(record=True)
    result = simulate(prepared, CONFIG, draws, policy, days=DAYS)
    assert policy.engine is not None
    return Run(policy.engine.prepared, policy, result)


def said(commands: Sequence[Command]) -> list[Said]:
    out: list[Said] = []
    for c in commands:
        if isinstance(c, Advise):
            severity = c.severity
            ktas, p = (None, None) if severity is None else (severity.ktas, severity.p_critical)
            out.append((c.unit_id, c.advice_version, c.patient_id, c.destination.hpid, ktas, p))
        elif isinstance(c, AssignUnit):
            out.append((c.incident_id, 0, c.unit_id, "", None, None))
    return out


def on_engine(run: Run, batches: Sequence[tuple[datetime, Sequence[Event]]]) -> list[Said]:
    engine = DispatchEngine(run.prepared, run.policy.scorer, config=run.policy.config)
    out: list[Command] = []
    for now, events in batches:
        out += engine.apply(list(events), now)
    return said(out)


def message(event: Event) -> tuple[topics.Kind, str, schemas.Payload]:
    """The MQTT message a live city sends for ``event``: (kind, key, payload)."""
    match event:
        case PositionReported():
            return topics.Kind.POSITION, event.unit_id, schemas.Position.new(lat=event.lat, lon=event.lon)
        case StatusChanged():
            status = schemas.Status.new(status=event.status, incident_id=event.incident_id)
            return topics.Kind.STATUS, event.unit_id, status
        case VitalsReported():
            return topics.Kind.VITALS, event.unit_id, event.vitals
        case DecisionMade():
            kind = schemas.DecisionKind.ACCEPT if event.accept else schemas.DecisionKind.DECLINE
            decision = schemas.Decision.new(advice_version=event.advice_version, decision=kind, reason="수용 거부")
            return topics.Kind.DECISION, event.unit_id, decision
        case CapacityReported():
            return topics.Kind.CAPACITY, event.hpid, event.capacity
        case IncidentReported():
            i = event.incident
            return (
                topics.Kind.INCIDENT,
                i.id,
                schemas.Incident.new(lat=i.lat, lon=i.lon, priority=i.priority, category=i.category),
            )
    raise AssertionError(f"the simulator does not send {event!r}")


def on_worker(run: Run, scorer: Scorer) -> list[Said]:
    """The recorded stream through the live worker on the in-memory bus: what the crews' tablets read."""
    broker = MemoryBroker()
    clock = [datetime.min]
    worker_bus = MemoryBus(broker, "dispatcher")
    worker = Dispatcher(worker_bus, run.prepared, scorer, config=run.policy.config, clock=lambda: clock[0])
    inbox: list[Message] = []
    worker_bus.on_message = inbox.append  # the loop by hand: one handle_batch per recorded batch
    for kind in (topics.Kind.POSITION, topics.Kind.STATUS, topics.Kind.ADVICE, topics.Kind.CAPACITY):
        worker_bus.subscribe(topics.subscription(kind), qos=topics.CONTRACT[kind].qos)
    for kind in (topics.Kind.VITALS, topics.Kind.DECISION, topics.Kind.INCIDENT):
        worker_bus.subscribe(topics.subscription(kind), qos=topics.CONTRACT[kind].qos)
    worker_bus.start()
    read: list[Message] = []
    tablets = MemoryBus(broker, "tablets", on_message=read.append)
    tablets.subscribe(topics.subscription(topics.Kind.ADVICE), qos=1)
    tablets.subscribe(topics.subscription(topics.Kind.ASSIGNMENT), qos=1)
    tablets.start()
    city = MemoryBus(broker, "city").start()
    for now, events in run.policy.batches:
        for event in events:
            kind, key, payload = message(event)
            route = topics.CONTRACT[kind]
            city.publish(topics.build(kind, key), schemas.encode(payload), qos=route.qos, retain=route.retained)
        clock[0] = now
        batch, inbox[:] = list(inbox), []
        worker.handle_batch(batch)
    out: list[Said] = []
    for m in read:
        if not m.payload:
            continue  # advice withdrawn at the end of a trip
        topic = topics.parse(m.topic)
        if topic.kind is topics.Kind.ASSIGNMENT:
            assignment = schemas.decode(topic.kind, m.payload)
            assert isinstance(assignment, schemas.Assignment)
            out.append((topic.key, 0, assignment.unit_id, "", None, None))
            continue
        advice = schemas.decode(topics.Kind.ADVICE, m.payload)
        assert isinstance(advice, schemas.Advice)
        severity = advice.severity
        ktas, p = (None, None) if severity is None else (severity.ktas, severity.p_critical)
        out.append((topic.key, advice.advice_version, advice.patient_id, advice.destination.hpid, ktas, p))
    assert worker.stats.rejected == 0
    return out


def test_the_run_exercises_joint_plans_reroutes_and_declines(run: Run) -> None:
    """The stream is worth comparing: many patients, several on the road at once, reports, declines, re-advice,
    units recommended by the engine and units turned on their way."""
    events = [e for _, batch in run.policy.batches for e in batch]
    advice = said(run.policy.commands)
    assert sum(isinstance(e, VitalsReported) for e in events) >= 20
    assert sum(isinstance(e, IncidentReported) for e in events) == len(run.result.calls)
    assert sum(isinstance(c, AssignUnit) for c in run.policy.commands) >= len(run.result.calls)
    assert sum(r.redirects for r in run.result.calls) >= 1  # a unit turned on the policy's newer advice
    assert sum(isinstance(e, CapacityReported) for e in events) >= 10
    assert any(isinstance(e, DecisionMade) and not e.accept for e in events)  # a crew declined at a closed door
    assert any(version > 1 for _, version, *_ in advice)  # a patient advised again
    assert len({hpid for *_, hpid, _, _ in advice if hpid}) == len(CENTRES)


def test_a_fresh_engine_gives_the_policys_advice(run: Run) -> None:
    assert on_engine(run, run.policy.batches) == said(run.policy.commands)


def test_the_live_worker_on_the_bus_gives_the_policys_advice(run: Run) -> None:
    assert on_worker(run, run.policy.scorer) == said(run.policy.commands)


def test_a_different_severity_gives_different_advice(run: Run) -> None:
    """The comparison can fail: one patient scored otherwise, by the engine or by the worker's model."""
    batches = [(now, list(events)) for now, events in run.policy.batches]
    b, i = next(
        (b, i) for b, (_, events) in enumerate(batches) for i, e in enumerate(events) if isinstance(e, VitalsReported)
    )
    event = batches[b][1][i]
    assert isinstance(event, VitalsReported) and event.severity is not None
    was_critical = event.severity.ktas <= 2
    flipped = Severity(5, 0.01, 0.05, (), False) if was_critical else Severity(1, 0.99, 0.99, (), True)
    batches[b][1][i] = dataclasses.replace(event, severity=flipped)
    assert on_engine(run, batches) != said(run.policy.commands)

    msg_id = event.vitals.msg_id

    class Otherwise:
        def assess_many(self, vitals: Sequence[schemas.Vitals], *, explain_inputs: bool = True) -> list[Severity]:
            found = run.policy.scorer.assess_many(vitals, explain_inputs=explain_inputs)
            return [flipped if v.msg_id == msg_id else s for v, s in zip(vitals, found, strict=True)]

    assert on_worker(run, Otherwise()) != said(run.policy.commands)
