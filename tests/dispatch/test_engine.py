"""The decision engine alone: events in, commands out, no broker, no thread, no clock (``now`` is given).

The pathway scenarios of test_service_pathways.py and the crew's decisions of test_service_refusals.py,
replayed as events: advice, decline, a stale decision refused, the ETA followed on positions, the last bed
given way to the sickest, pre-notification lists at their pace, incidents, a restart from the advice seen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from dispatch.commands import Advise, AssignUnit, ClearAdvice, Command, NoticeToUnit, NotifyInbound, Refuse
from dispatch.engine import ETA_REPUBLISH_S, INBOUND_INTERVAL_S, DispatchEngine
from dispatch.events import (
    AdviceSeen,
    CapacityReported,
    Event,
    IncidentReported,
    Origin,
    PositionReported,
    StatusChanged,
    Tick,
    VitalsReported,
)
from dispatch.pathways import Pathway
from dispatch.scenario import Prepared
from dispatch.severity.model import Severity, TrainedSeverity
from dispatch.units import Incident
from telemetry import schemas
from telemetry.schemas import Condition, UnitStatus
from tests.dispatch.bus import (
    GWANGHWAMUN,
    JONGNO_3GA,
    capacity,
    critical_vitals,
    minor_vitals,
    stable_vitals,
)
from tests.dispatch.engine_setup import (
    EAST,
    NEARBY,
    NOW,
    advice,
    by_distance_from,
    decision,
    of,
    stemi,
    stroke,
    transport,
)


def refusal(commands: Sequence[Command]) -> Refuse:
    """The one command of a batch, a refusal."""
    (found,) = commands
    assert isinstance(found, Refuse), found
    return found


def test_vitals_and_a_position_give_advice_and_pre_notification(engine: DispatchEngine) -> None:
    out = engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW)
    first = advice(out, "u1")
    assert (first.advice_version, first.pathway, first.definitive) == (1, Pathway.STROKE, True)
    assert first.severity is not None and first.severity.ktas <= 2 and first.eta_mode == "road"
    (inbound,) = of(NotifyInbound, out)
    assert inbound.hpid == first.destination.hpid
    assert [(p.unit_id, p.advice_version, p.severity) for p in inbound.patients] == [("u1", 1, first.severity)]
    assert engine.units["u1"].owned and engine.plans == 1


def test_a_decline_moves_the_patient_and_a_decision_on_the_old_advice_is_refused(engine: DispatchEngine) -> None:
    first = advice(engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW), "u1")
    out = engine.apply([decision("u1", 1)], NOW + timedelta(seconds=5))
    second = advice(out, "u1")
    assert second.advice_version == 2 and second.destination.hpid != first.destination.hpid
    assert first.destination.hpid not in {a.hpid for a in second.alternatives}  # avoided for this patient
    lists = {n.hpid: n.patients for n in of(NotifyInbound, out)}
    assert lists[first.destination.hpid] == () and [p.unit_id for p in lists[second.destination.hpid]] == ["u1"]

    stale = refusal(engine.apply([decision("u1", 1, accept=True)], NOW + timedelta(seconds=6)))
    assert stale.decision and stale.unit_id == "u1"
    assert stale.reason[0].startswith("결정 거부: 권고가 바뀌었습니다")
    assert stale.reason[1].startswith("decision refused: the advice changed")
    assert "was never issued" in refusal(engine.apply([decision("u1", 9)], NOW + timedelta(seconds=7))).reason[1]
    nothing = refusal(engine.apply([decision("idle", 1)], NOW + timedelta(seconds=8)))
    assert nothing.reason[1].startswith("decision refused: there is no advice")
    assert engine.units["u1"].advice_version == 2  # none of them changed the advice


def test_an_older_version_naming_the_advised_centre_is_still_applied(engine: DispatchEngine) -> None:
    """Re-advised for a new ETA to the same centre: the crew's decline of the version before applies."""
    first = advice(engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW), "u1")
    moved = advice(engine.apply([PositionReported("u1", *EAST)], NOW + timedelta(seconds=30)), "u1")
    assert moved.destination.hpid == first.destination.hpid and moved.advice_version == 2
    out = engine.apply([decision("u1", 1)], NOW + timedelta(seconds=40))
    assert not of(Refuse, out) and advice(out, "u1").destination.hpid != first.destination.hpid


def test_a_position_re_advises_only_when_it_moves_the_eta_a_minute(engine: DispatchEngine, prepared: Prepared) -> None:
    first = advice(engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW), "u1")
    hpid, plans = first.destination.hpid, engine.plans
    road = {where: prepared.index.etas(*where) for where in (NEARBY, EAST)}
    eta = {w: dict(zip(r.target_ids, r.seconds.tolist(), strict=True))[hpid] for w, r in road.items()}
    assert abs(eta[NEARBY] - first.destination.eta_s) < ETA_REPUBLISH_S <= abs(eta[EAST] - first.destination.eta_s)
    assert not of(Advise, engine.apply([PositionReported("u1", *NEARBY)], NOW + timedelta(seconds=1)))
    assert engine.plans == plans  # a look-up, not a plan
    second = advice(engine.apply([PositionReported("u1", *EAST)], NOW + timedelta(seconds=2)), "u1")
    assert engine.plans == plans + 1 and second.advice_version == 2 and second.patient_id == first.patient_id
    assert abs(second.destination.eta_s - eta[EAST]) < 1.0


def test_vitals_before_any_position_are_held_and_decided_on_the_first_position(engine: DispatchEngine) -> None:
    vitals = stroke()
    origin = Origin("ems/units/u1/vitals", schemas.encode(vitals))
    held = engine.apply(
        [StatusChanged("u1", UnitStatus.TRANSPORTING), VitalsReported("u1", vitals, origin=origin)], NOW
    )
    (notice,) = held
    assert isinstance(notice, NoticeToUnit) and notice.origin == origin and notice.reason[0].startswith("보류")
    out = engine.apply([PositionReported("u1", *JONGNO_3GA)], NOW + timedelta(seconds=1))
    assert advice(out, "u1").patient_id == vitals.patient_id


def test_the_last_bed_goes_to_the_sickest_and_the_other_is_told_there_is_none(engine: DispatchEngine) -> None:
    """R-PRIORITY across batches: the minor patient holding the last bed gives way to a critical one."""
    levels = {c.hpid: c.level for c in engine.prepared.scenario.centres}
    centres = by_distance_from(engine, JONGNO_3GA)
    last = next(h for h in centres[1:] if levels[h] <= 2)
    reports = [
        CapacityReported(h, capacity(NOW, beds=1) if h == last else capacity(NOW, overcrowded=True)) for h in centres
    ]
    engine.apply(reports, NOW)
    mild = advice(engine.apply(transport("a-mild", JONGNO_3GA, minor_vitals()), NOW), "a-mild")
    assert mild.destination.hpid == last, "the trap: alone, the minor patient takes the last bed"
    out = engine.apply(transport("b-sick", JONGNO_3GA, critical_vitals()), NOW + timedelta(seconds=1))
    sick, moved = advice(out, "b-sick"), advice(out, "a-mild")
    assert sick.destination.hpid == last and sick.destination.beds_on_arrival == 1
    assert moved.destination.beds_on_arrival == 0 and moved.advice_version == 2


def test_a_closed_centre_moves_the_patient_on_the_way(engine: DispatchEngine) -> None:
    first = advice(engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW), "u1")
    closed = capacity(NOW, traffic=schemas.TrafficStatus.CLOSED)
    out = engine.apply([CapacityReported(first.destination.hpid, closed)], NOW + timedelta(seconds=3))
    assert advice(out, "u1").destination.hpid != first.destination.hpid


def test_a_stemi_patient_goes_to_a_centre_declaring_pci(engine: DispatchEngine) -> None:
    nearest, *others = by_distance_from(engine, JONGNO_3GA)
    pci = others[1]
    reports = [
        CapacityReported(h, capacity(NOW, conditions={Condition.STEMI_PCI: h == pci})) for h in [nearest, *others]
    ]
    engine.apply(reports, NOW)
    out = engine.apply(transport("u1", JONGNO_3GA, stemi()), NOW)
    advised = advice(out, "u1")
    assert advised.destination.hpid == pci and advised.pathway is Pathway.STEMI and advised.definitive
    assert "PCI 가능" in advised.destination.reason and "PCI available" in advised.destination.reason_en


def test_cardiac_arrest_goes_to_the_nearest_open_er_even_full(engine: DispatchEngine) -> None:
    """R-ARREST: time wins; the nearest ER that says it is shut is excluded, the next is taken though full."""
    shut, nearest, *others = by_distance_from(engine, GWANGHWAMUN)
    reports = [CapacityReported(h, capacity(NOW, beds=20)) for h in others]
    reports += [CapacityReported(shut, capacity(NOW, conditions={Condition.ER_OPEN: False})),
                CapacityReported(nearest, capacity(NOW, overcrowded=True))]  # fmt: skip
    engine.apply(reports, NOW)
    arrest = schemas.Vitals.new(
        patient_id="P-arrest", age_years=66, sex="male", hr_bpm=0, rr_per_min=0, avpu="U", gcs=3,
        chief_complaint="collapsed, CPR in progress", flags=schemas.CrewFlags(cardiac_arrest=True),
    )  # fmt: skip
    advised = advice(engine.apply(transport("u1", GWANGHWAMUN, arrest), NOW), "u1")
    assert advised.destination.hpid == nearest and advised.pathway is Pathway.CARDIAC_ARREST
    assert advised.severity is not None and advised.severity.ktas == 1


def test_burns_with_no_burns_unit_is_told_so_and_not_definitive(engine: DispatchEngine) -> None:
    """R-NONE: never left without advice; the nearest open ER, marked not definitive, the reason first."""
    closed, *open_ = by_distance_from(engine, JONGNO_3GA)
    refuse = {Condition.MAJOR_BURNS: False}
    advisory, shut = schemas.TrafficStatus.ADVISORY, schemas.TrafficStatus.CLOSED
    reports = [CapacityReported(h, capacity(NOW, conditions=refuse, traffic=advisory)) for h in open_]
    engine.apply([*reports, CapacityReported(closed, capacity(NOW, conditions=refuse, traffic=shut))], NOW)
    advised = advice(engine.apply(transport("u1", JONGNO_3GA, stable_vitals("flame burns", burns=True)), NOW), "u1")
    assert advised.pathway is Pathway.BURNS and not advised.definitive and advised.destination.hpid == open_[0]
    assert advised.destination.reason.startswith("화상 전문 치료 가능 기관 없음")


def test_pre_notification_goes_out_at_most_once_a_second_per_centre(engine: DispatchEngine) -> None:
    first = advice(engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW), "u1")
    soon = NOW + timedelta(seconds=INBOUND_INTERVAL_S / 2)
    out = engine.apply([PositionReported("u1", *EAST)], soon)  # re-advised: the centre's list changed
    assert advice(out, "u1").destination.hpid == first.destination.hpid
    assert not of(NotifyInbound, out) and engine.pending_inbound  # but its turn has not come
    assert engine.apply([Tick()], soon) == []
    (inbound,) = engine.apply([Tick()], NOW + timedelta(seconds=INBOUND_INTERVAL_S))
    assert isinstance(inbound, NotifyInbound) and inbound.hpid == first.destination.hpid
    assert [(p.unit_id, p.advice_version) for p in inbound.patients] == [("u1", 2)]
    assert not engine.pending_inbound


def test_arrival_withdraws_the_advice(engine: DispatchEngine) -> None:
    engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW)
    out = engine.apply([StatusChanged("u1", UnitStatus.AT_HOSPITAL)], NOW + timedelta(seconds=2))
    assert ClearAdvice("u1") in out and not engine.units["u1"].has_patient


def test_an_incident_gets_the_nearest_available_unit(engine: DispatchEngine) -> None:
    events: list[Event] = []
    for unit, where in (("near", (37.5712, 126.9930)), ("far", (37.5800, 126.9600))):
        events += [StatusChanged(unit, UnitStatus.AVAILABLE), PositionReported(unit, *where)]
    engine.apply(events, NOW)
    out = engine.apply([IncidentReported(Incident("INC-1", *JONGNO_3GA, 1, "stroke"))], NOW)
    (assigned,) = of(AssignUnit, out)
    assert (assigned.incident_id, assigned.unit_id, assigned.eta_mode) == ("INC-1", "near", "road")
    engine.apply([StatusChanged("near", UnitStatus.DISPATCHED, incident_id="INC-1")], NOW)
    (next_one,) = of(AssignUnit, engine.apply([IncidentReported(Incident("INC-2", *JONGNO_3GA, 2, "fall"))], NOW))
    assert (next_one.incident_id, next_one.unit_id) == ("INC-2", "far")  # the near one is taken


def _seen(unit: str, patient: str, destination: str, *, stored: schemas.Vitals | None = None) -> AdviceSeen:
    """Version 3 of a unit's advice, as the retained message (or another worker) says it."""
    return AdviceSeen(unit, 3, patient, destination, 420.0, True, Severity(2, 0.6, 0.9, (), True), "road",
                      NOW - timedelta(minutes=1), stored=stored)  # fmt: skip


@pytest.mark.parametrize("with_store", [False, True])
def test_a_restarted_engine_takes_the_patient_over_from_the_advice_seen(
    engine: DispatchEngine, with_store: bool
) -> None:
    """Working alone, advice it did not issue is a restart: the patient is its own, decided again (needs come
    back from the stored vitals when the shell read them), and its next version is above the one seen."""
    vitals = stroke()
    seen = _seen(
        "u1", vitals.patient_id, by_distance_from(engine, JONGNO_3GA)[0], stored=vitals if with_store else None
    )
    assert engine.rebuilds("u1")
    out = engine.apply([StatusChanged("u1", UnitStatus.TRANSPORTING), PositionReported("u1", *JONGNO_3GA), seen], NOW)
    unit = engine.units["u1"]
    assert unit.owned and unit.patient_id == vitals.patient_id and not engine.rebuilds("u1")
    assert unit.needs == ({Pathway.STROKE} if with_store else set())
    assert all(a.advice_version > 3 for a in of(Advise, out))
    assert ClearAdvice("u1") in engine.apply([StatusChanged("u1", UnitStatus.AT_HOSPITAL)], NOW)


def test_a_share_group_worker_counts_another_workers_patient_but_does_not_route_it(
    prepared: Prepared, severity: TrainedSeverity
) -> None:
    engine = DispatchEngine(prepared, severity, share_group="g")
    assert not engine.rebuilds("u1")
    seen = _seen("u1", "P-1", by_distance_from(engine, JONGNO_3GA)[0])
    events: list[Event] = [StatusChanged("u1", UnitStatus.TRANSPORTING), PositionReported("u1", *JONGNO_3GA), seen]
    out = engine.apply(events, NOW)
    assert not of(Advise, out) and not engine.units["u1"].owned
    (inbound,) = of(NotifyInbound, out)
    assert [p.unit_id for p in inbound.patients] == ["u1"]
    assert ClearAdvice("u1") not in engine.apply([StatusChanged("u1", UnitStatus.AT_HOSPITAL)], NOW)


def test_vitals_already_assessed_are_not_scored_again(engine: DispatchEngine) -> None:
    """A simulator (or a test) may bring its own severity: the engine takes it as it is."""
    given = Severity(1, 0.97, 0.99, ("given",), True)
    events = transport("u1", JONGNO_3GA, minor_vitals())
    events[-1] = VitalsReported("u1", minor_vitals(), severity=given)
    assert advice(engine.apply(events, NOW), "u1").severity is given


def test_the_same_events_at_the_same_time_give_the_same_commands(prepared: Prepared, severity: TrainedSeverity) -> None:
    """No clock, no randomness: a recorded stream replays to the same decisions."""
    patients = [stroke(), critical_vitals(), minor_vitals()]
    centres = [c.hpid for c in prepared.scenario.centres]
    stream: list[list[Event]] = [
        [CapacityReported(h, capacity(NOW, beds=1)) for h in centres],
        [e for i, v in enumerate(patients) for e in transport(f"u{i}", JONGNO_3GA, v)],
        [decision("u0", 1), PositionReported("u1", *EAST)],
    ]
    runs = []
    for _ in range(2):
        engine = DispatchEngine(prepared, severity)
        runs.append([engine.apply(batch, NOW + timedelta(seconds=k)) for k, batch in enumerate(stream)])
    assert runs[0] == runs[1] and any(of(Advise, out) for out in runs[0])


def test_the_engine_learns_how_fast_others_take_a_centres_beds_from_its_reports(engine: DispatchEngine) -> None:
    """Beds others take per hour come from the centre's own reports, net of our own deliveries, not constants."""
    levels = {c.hpid: c.level for c in engine.prepared.scenario.centres}
    busy = by_distance_from(engine, EAST)[-1]
    prior = engine.config.arrivals_per_hour[levels[busy]]
    assert engine.nowcast.per_hour(busy, levels[busy]) == prior
    for hour, beds in enumerate((20, 8, 0)):  # others took 12, then 8: more than the prior
        engine.apply([CapacityReported(busy, capacity(NOW + timedelta(hours=hour), beds=beds))], NOW)
    assert engine.nowcast.per_hour(busy, levels[busy]) > prior
    out = engine.apply(transport("U1", EAST, stroke()), NOW)
    ours = advice(out, "U1").destination.hpid
    engine.apply([CapacityReported(ours, capacity(NOW, beds=20))], NOW)
    engine.apply([StatusChanged("U1", UnitStatus.AT_HOSPITAL)], NOW + timedelta(minutes=10))
    engine.apply([CapacityReported(ours, capacity(NOW + timedelta(hours=1), beds=19))], NOW + timedelta(hours=1))
    prior = engine.config.arrivals_per_hour[levels[ours]]
    weight = engine.nowcast.prior_hours  # the one bed gone was ours: others took none in the hour
    assert engine.nowcast.per_hour(ours, levels[ours]) == pytest.approx(prior * weight / (weight + 1))


def test_the_crews_pre_ktas_stands_for_the_patient_until_the_crew_sends_another(engine: DispatchEngine) -> None:
    """R-CREW: a monitor's later vitals without a Pre-KTAS or complaint keep the crew's; a new patient does not."""
    graded = minor_vitals().model_copy(update={"pre_ktas": 2, "chief_complaint": "발목 통증"})
    first = advice(engine.apply(transport("u1", JONGNO_3GA, graded), NOW), "u1")
    assert first.severity is not None and first.severity.critical and first.severity.ktas == 2
    assert first.severity.decided_by is schemas.Decider.CREW
    monitor = schemas.Vitals.new(**minor_vitals().model_dump(exclude={"msg_id", "ts", "schema_id", "patient_id",
                                                                      "chief_complaint"}),
                                 patient_id=graded.patient_id)  # fmt: skip
    engine.apply([VitalsReported("u1", monitor)], NOW + timedelta(seconds=10))
    kept = engine.units["u1"]
    assert kept.vitals is not None and (kept.vitals.pre_ktas, kept.vitals.chief_complaint) == (2, "발목 통증")
    assert kept.severity is not None and kept.severity.critical and kept.severity.crew_ktas == 2
    regraded = monitor.model_copy(update={"pre_ktas": 4})
    engine.apply([VitalsReported("u1", regraded)], NOW + timedelta(seconds=20))
    assert engine.units["u1"].severity is not None and engine.units["u1"].severity.crew_ktas == 4
    engine.apply([VitalsReported("u1", minor_vitals())], NOW + timedelta(seconds=30))  # the next patient
    fresh = engine.units["u1"]
    assert fresh.vitals is not None and fresh.vitals.pre_ktas is None
    assert fresh.severity is not None and fresh.severity.crew_ktas is None and not fresh.severity.critical
