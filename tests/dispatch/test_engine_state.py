"""The engine's decision state as values (dispatch.decision_state): a snapshot restored into a new engine decides
as the engine it was taken from; the state survives its JSON form; advice versions carry the leadership epoch;
a decline handled after a take-over keeps the patient's needs and earlier declines (issue 26)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.commands import Advise, AssignUnit, ClearAdvice, Command, Refuse
from dispatch.decision_state import (
    EPOCH_SPAN,
    EngineState,
    PatientState,
    decode_patient,
    decode_region,
    encode_patient,
    encode_region,
    epoch_of,
)
from dispatch.engine import DispatchEngine
from dispatch.events import (
    AnswerReceived,
    CapacityReported,
    Event,
    IncidentReported,
    PositionReported,
    StatusChanged,
    Tick,
)
from dispatch.handshake import Request
from dispatch.pathways import Pathway
from dispatch.scenario import Prepared
from dispatch.severity.model import TrainedSeverity
from dispatch.units import Incident
from telemetry.schemas import AnswerKind, Condition, RefusalReason, UnitStatus
from tests.dispatch.bus import (
    CITY_HALL,
    DONGDAEMUN,
    DONGNIMMUN,
    GWANGHWAMUN,
    JONGNO_3GA,
    capacity,
    critical_vitals,
    minor_vitals,
)
from tests.dispatch.engine_setup import EAST, NOW, decision, stemi, stroke, transport

PLACES = [JONGNO_3GA, GWANGHWAMUN, DONGDAEMUN, CITY_HALL, DONGNIMMUN, EAST]
UNITS = ["u0", "u1", "u2", "u3"]
PATIENTS = [stroke, stemi, critical_vitals, minor_vitals]


def decisions(commands: Sequence[Command]) -> list[tuple[object, ...]]:
    """What was decided, in a form two engines of different epochs can be compared by: advice (patient,
    destination, alternatives, pathway; not the version), withdrawn advice, unit recommendations and refused
    decisions."""
    out: list[tuple[object, ...]] = []
    for c in commands:
        if isinstance(c, Advise):
            out.append(("advise", c.unit_id, c.patient_id, c.destination.hpid, tuple(a.hpid for a in c.alternatives),
                        c.pathway, c.definitive))  # fmt: skip
        elif isinstance(c, AssignUnit):
            out.append(("assign", c.incident_id, c.unit_id))
        elif isinstance(c, ClearAdvice):
            out.append(("clear", c.unit_id))
        elif isinstance(c, Refuse) and c.decision:
            out.append(("refuse", c.unit_id))
    return sorted(out, key=repr)


def versions(commands: Sequence[Command]) -> list[int]:
    return [c.advice_version for c in commands if isinstance(c, Advise)]


def without_versions(state: EngineState) -> list[PatientState]:
    """The patients' states, the advice versions and request ids (which carry the epoch) left out."""

    def plain(request: Request | None) -> Request | None:
        return None if request is None else replace(request, request_id="", advice_version=0)

    return [replace(p, advice_version=0, versions=tuple((0, hpid) for _, hpid in p.versions),
                    request=plain(p.request), second=plain(p.second)) for p in state.patients]  # fmt: skip


# --- the events of a random shift: units take patients, crews decline, centres report and answer -------------

Action = tuple[str, int, int, int]  # (what, unit or centre index, place or choice, another choice)


@st.composite
def shifts(draw: st.DrawFn) -> tuple[list[list[Action]], int]:
    kinds = st.sampled_from(["transport"] * 4 + ["decline"] * 3 + ["answer"] * 2 + ["move", "accept", "arrive",
                             "capacity", "incident", "tick"])  # fmt: skip
    action = st.tuples(kinds, st.integers(0, 9), st.integers(0, 9), st.integers(0, 9))
    batches = draw(st.lists(st.lists(action, min_size=1, max_size=5), min_size=2, max_size=8))
    return batches, draw(st.integers(1, len(batches) - 1))


class Shift:
    """Turns actions into the events of a batch for each engine: the same units, patients, centres' reports and
    incidents; a crew's decision on, and a centre's answer to, what that engine advised and asked (a new leader
    numbers its advice in its own epoch)."""

    def __init__(self, centres: list[str]) -> None:
        self.centres, self.patients = centres, 0

    def events(self, batch: list[Action], at: datetime, engines: Sequence[DispatchEngine]) -> list[list[Event]]:
        out: list[list[Event]] = [[] for _ in engines]
        for what, a, b, c in batch:
            unit = UNITS[a % len(UNITS)]
            shared: list[Event] = []
            if what == "transport":
                self.patients += 1
                vitals = PATIENTS[b % len(PATIENTS)]().model_copy(update={"patient_id": f"P-{self.patients:04d}"})
                shared = transport(unit, PLACES[c % len(PLACES)], vitals)
            elif what == "move":
                shared = [PositionReported(unit, *PLACES[b % len(PLACES)])]
            elif what == "arrive":
                shared = [StatusChanged(unit, UnitStatus.AT_HOSPITAL), StatusChanged(unit, UnitStatus.AVAILABLE),
                          PositionReported(unit, *PLACES[b % len(PLACES)])]  # fmt: skip
            elif what == "capacity":
                conditions = {Condition.STROKE_THROMBECTOMY: bool(c % 2), Condition.STEMI_PCI: bool(c % 3)}
                shared = [CapacityReported(self.centres[a % len(self.centres)],
                                           capacity(at, beds=b % 4, conditions=conditions))]  # fmt: skip
            elif what == "incident":
                shared = [IncidentReported(Incident(f"INC-{at:%H%M%S}-{a}", *PLACES[b % len(PLACES)], 1 + c % 5))]
            elif what == "tick":
                shared = [Tick()]
            for engine, events in zip(engines, out, strict=True):
                events += shared or self._own(engine, what, unit, b)
        return out

    @staticmethod
    def _own(engine: DispatchEngine, what: str, unit: str, choice: int) -> list[Event]:
        state = engine.units.get(unit)
        if state is None or not state.has_patient or state.destination is None:
            return []
        if what in ("decline", "accept"):
            return [decision(unit, state.advice_version, accept=what == "accept")]
        request = engine.requests.current(unit)
        if what == "answer" and request is not None and request.open:
            kind = [AnswerKind.ACCEPT, AnswerKind.DECLINE, AnswerKind.SEEN][choice % 3]
            reason = RefusalReason.NO_BED if kind is AnswerKind.DECLINE else None
            return [AnswerReceived(request.hpid, request.request_id, kind, reason)]
        return []


def taken_over(engine: DispatchEngine) -> list[Event]:
    """What the bus gives a new leader at once: the retained capacity and statuses, and every unit's position."""
    out: list[Event] = [CapacityReported(h, c) for h, c in sorted(engine.capacity.items())]
    for unit in engine.units.values():
        if unit.status is not None:
            out.append(StatusChanged(unit.unit_id, unit.status))
        if unit.lat is not None and unit.lon is not None:
            out.append(PositionReported(unit.unit_id, unit.lat, unit.lon))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shift=shifts())
def test_a_restored_snapshot_decides_as_the_engine_it_was_taken_from(
    prepared: Prepared, severity: TrainedSeverity, shift: tuple[list[list[Action]], int]
) -> None:
    """A random shift; at a random batch the state is snapshot, through its JSON form, and restored into an engine
    of the next epoch (a take-over). Given what the bus gives a new leader and then the same batches, both decide
    the same, the successor numbering its advice in its own epoch."""
    batches, split = shift
    original = DispatchEngine(prepared, severity)
    shift_events = Shift(sorted(c.hpid for c in prepared.scenario.centres))
    times = [NOW + timedelta(seconds=20 * i) for i in range(len(batches) + 1)]
    for batch, at in zip(batches[:split], times, strict=False):
        (events,) = shift_events.events(batch, at, [original])
        original.apply(events, at)

    snapshot = original.snapshot()
    stored = [json.loads(json.dumps(encode_patient(p))) for p in snapshot.patients]
    region = json.loads(json.dumps(encode_region(snapshot.region)))
    successor = DispatchEngine(prepared, severity, epoch=2)
    successor.restore(EngineState(1, tuple(decode_patient(d) for d in stored), decode_region(region)))
    assert successor.snapshot() == replace(snapshot, epoch=2)

    at = times[split]
    first = taken_over(original)
    issued = successor.apply(first, at)
    assert decisions(issued) == decisions(original.apply(first, at))
    for batch, at in zip(batches[split:], times[split + 1 :], strict=True):
        mine, theirs = shift_events.events(batch, at, [original, successor])
        commands = successor.apply(theirs, at)
        assert decisions(commands) == decisions(original.apply(mine, at))
        issued += commands
    assert all(epoch_of(v) == 2 for v in versions(issued))  # every advice of the successor is of its epoch
    assert without_versions(successor.snapshot()) == without_versions(original.snapshot())


# --- epochs in advice versions ---------------------------------------------------------------------------------


def test_advice_versions_carry_the_epoch_and_a_new_leader_advises_every_restored_patient_again(
    prepared: Prepared, severity: TrainedSeverity
) -> None:
    first = DispatchEngine(prepared, severity)  # epoch 1: versions 1, 2, ... as before leases
    (advice,) = [c for c in first.apply(transport("u1", JONGNO_3GA, stroke()), NOW) if isinstance(c, Advise)]
    assert advice.advice_version == 1 and epoch_of(advice.advice_version) == 1

    second = DispatchEngine(prepared, severity, epoch=3)
    second.restore(first.snapshot(), advise_again=True)
    assert second.resuming
    (again,) = [c for c in second.apply([Tick()], NOW + timedelta(seconds=1)) if isinstance(c, Advise)]
    assert not second.resuming
    assert again.advice_version == 2 * EPOCH_SPAN + 1 and epoch_of(again.advice_version) == 3
    assert again.destination.hpid == advice.destination.hpid and again.patient_id == advice.patient_id
    # the crew still looks at version 1 (same centre): their decline applies
    out = second.apply([decision("u1", 1)], NOW + timedelta(seconds=5))
    (moved,) = [c for c in out if isinstance(c, Advise)]
    assert not [c for c in out if isinstance(c, Refuse)]
    assert moved.advice_version == 2 * EPOCH_SPAN + 2 and moved.destination.hpid != advice.destination.hpid


def test_an_epoch_must_be_a_positive_integer(prepared: Prepared, severity: TrainedSeverity) -> None:
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="epoch"):
            DispatchEngine(prepared, severity, epoch=bad)


def test_epoch_of_a_version() -> None:
    assert [epoch_of(v) for v in (1, EPOCH_SPAN, EPOCH_SPAN + 1, 3 * EPOCH_SPAN + 7)] == [1, 1, 2, 4]


# --- changes: what a store writes after each batch --------------------------------------------------------------


def test_changes_name_the_patients_a_batch_touched_and_the_trips_that_ended(engine: DispatchEngine) -> None:
    engine.apply([*transport("u1", JONGNO_3GA, stroke()), *transport("u2", CITY_HALL, minor_vitals())], NOW)
    changed = engine.changes()
    assert {p.unit_id for p in changed.patients} == {"u1", "u2"} and changed.gone == ()
    assert engine.changes().patients == ()  # nothing since
    engine.apply([PositionReported("u2", *CITY_HALL)], NOW + timedelta(seconds=1))  # the same place: no decision
    assert engine.changes().patients == ()
    engine.apply([StatusChanged("u1", UnitStatus.AT_HOSPITAL)], NOW + timedelta(seconds=2))
    assert engine.changes().gone == ("u1",)
    engine.apply([IncidentReported(Incident("INC-1", *GWANGHWAMUN, 1))], NOW + timedelta(seconds=3))
    assert [i.id for i in engine.changes().region.incidents] == ["INC-1"]


# --- the failure of issue 26, on the engine: a decline handled by another engine --------------------------------


def test_a_decline_handled_after_a_take_over_keeps_the_needs_and_earlier_declines(
    prepared: Prepared, severity: TrainedSeverity
) -> None:
    leader = DispatchEngine(prepared, severity)
    (first,) = [c for c in leader.apply(transport("u1", JONGNO_3GA, stroke()), NOW) if isinstance(c, Advise)]
    (second,) = [c for c in leader.apply([decision("u1", first.advice_version)], NOW + timedelta(seconds=5))
                 if isinstance(c, Advise)]  # fmt: skip
    stored = [json.dumps(encode_patient(p)) for p in leader.changes().patients]

    successor = DispatchEngine(prepared, severity, epoch=2)
    successor.restore(EngineState(1, tuple(decode_patient(json.loads(s)) for s in stored), leader.snapshot().region),
                      advise_again=True)  # fmt: skip
    successor.apply([Tick()], NOW + timedelta(seconds=6))
    out = successor.apply([decision("u1", second.advice_version)], NOW + timedelta(seconds=10))
    (third,) = [c for c in out if isinstance(c, Advise)]
    assert third.pathway is Pathway.STROKE  # the stroke flag was not lost
    assert third.destination.hpid not in {first.destination.hpid, second.destination.hpid}
    assert successor.units["u1"].declined == {first.destination.hpid, second.destination.hpid}
    assert successor.units["u1"].needs == frozenset({Pathway.STROKE})

    # without the stored state (the failure of issue 26): the same decline reaches an engine that knows nothing
    blank = DispatchEngine(prepared, severity, epoch=2)
    refused = blank.apply([decision("u1", second.advice_version)], NOW + timedelta(seconds=10))
    assert [c for c in refused if isinstance(c, Refuse)] and not [c for c in refused if isinstance(c, Advise)]


def test_the_state_survives_its_json_form_with_requests_and_refusals(engine: DispatchEngine) -> None:
    engine.apply([*transport("u1", JONGNO_3GA, stemi()), IncidentReported(Incident("INC-9", *DONGDAEMUN, 2))], NOW)
    request = engine.requests.current("u1")
    assert request is not None
    engine.apply([AnswerReceived(request.hpid, request.request_id, AnswerKind.DECLINE, RefusalReason.NO_BED)],
                 NOW + timedelta(seconds=3))  # fmt: skip
    snapshot = engine.snapshot()
    (patient,) = snapshot.patients
    assert patient.request is not None and patient.declined == {request.hpid}
    assert snapshot.region.refusals and snapshot.region.incidents
    again = [decode_patient(json.loads(json.dumps(encode_patient(p)))) for p in snapshot.patients]
    assert again == list(snapshot.patients)
    assert decode_region(json.loads(json.dumps(encode_region(snapshot.region)))) == snapshot.region
    assert replace(patient, declined=frozenset()) != patient  # equality sees every field
