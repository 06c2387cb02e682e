"""The clinical pathways end to end: capacity reports and a unit's vitals in, through the dispatcher
worker on a real broker, the advice out (docs/clinical_rules.md, the R-codes of dispatch/router.py).

Every scenario sets a trap on the real roads of central Seoul: the centre the naive answer (the
nearest, or the one with beds) would pick is the wrong one, and each test checks first that the
trap is really where the patient is."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatch.service import Dispatcher
from telemetry import schemas
from telemetry.schemas import Condition, Equipment
from tests.dispatch.bus import (
    CITY_HALL,
    DONGDAEMUN,
    GWANGHWAMUN,
    JONGNO_3GA,
    Bus,
    advised,
    by_distance,
    capacity,
    critical_vitals,
    minor_vitals,
    report,
    stable_vitals,
)
from tests.helpers import unique, wait_until


def _levels(dispatcher: Dispatcher) -> dict[str, int]:
    return {c.hpid: c.level for c in dispatcher.prepared.scenario.centres}


def _trauma_centres(dispatcher: Dispatcher) -> set[str]:
    return {c.hpid for c in dispatcher.prepared.scenario.centres if c.trauma_centre}


def test_stemi_goes_to_a_centre_declaring_pci_not_to_a_nearer_one_with_angiography(
    bus: Bus, dispatcher: Dispatcher
) -> None:
    """R-TIER, R-TEAM: the cath lab's declaration decides, not the machine and not the ER's bed count."""
    now = datetime.now(UTC)
    nearest, *others = by_distance(dispatcher, JONGNO_3GA)
    pci, silent = set(others[:2]), others[2]  # PCI yes with no ER bed; one says nothing of PCI but has beds
    reports = {nearest: capacity(now, conditions={Condition.STEMI_PCI: False}, equipment={Equipment.ANGIOGRAPHY: True})}
    for hpid in others:
        declared = {} if hpid == silent else {Condition.STEMI_PCI: hpid in pci}
        reports[hpid] = capacity(now, beds=0 if hpid in pci else 10, conditions=declared)
    report(bus, dispatcher, reports)
    unit = unique("u")
    bus.transport(unit, JONGNO_3GA, stable_vitals("crushing chest pain, ST elevation", stemi=True))

    advice = advised(bus, dispatcher, unit)
    assert advice.destination.hpid in pci, advice.destination.reason
    assert advice.pathway == "stemi" and advice.definitive
    assert "PCI 가능" in advice.destination.reason
    assert advice.destination.reason_en is not None and "PCI available" in advice.destination.reason_en
    assert nearest not in {a.hpid for a in advice.alternatives}  # a declared no is never offered


def test_fast_positive_stroke_goes_to_thrombectomy_past_a_nearer_ct(bus: Bus, dispatcher: Dispatcher) -> None:
    """R-TIER: thrombectomy (the first tier) within reach beats CT and thrombolysis (the second) nearer."""
    now = datetime.now(UTC)
    centres = by_distance(dispatcher, JONGNO_3GA)
    nearest, evt = centres[0], centres[-1]  # the nearest can do CT only; the farthest thrombectomy
    assert _levels(dispatcher)[nearest] <= 2, "the trap is on the second tier (CT at a level 1-2 centre)"
    reports = {
        hpid: capacity(now, conditions={Condition.STROKE_THROMBECTOMY: hpid == evt}, equipment={Equipment.CT: True})
        for hpid in centres
    }
    report(bus, dispatcher, reports)
    unit = unique("u")
    bus.transport(unit, JONGNO_3GA, stable_vitals("right-sided weakness, slurred speech", fast_positive=True))

    advice = advised(bus, dispatcher, unit)
    assert advice.destination.hpid == evt, advice.destination.reason
    assert advice.pathway == "stroke" and advice.definitive
    assert "혈전제거술 가능" in advice.destination.reason
    assert advice.destination.reason_en is not None and "thrombectomy available" in advice.destination.reason_en


def test_major_burns_with_no_burns_unit_is_told_so_and_stabilised_at_the_nearest_open_er(
    bus: Bus, dispatcher: Dispatcher
) -> None:
    """R-NONE: never left without advice; the nearest ER that is open. The nearest of all is on diversion
    and the others on advisory: a closure merely costing what an advisory does would not move the patient."""
    now = datetime.now(UTC)
    closed, *open_ = by_distance(dispatcher, JONGNO_3GA)
    refuse = {Condition.MAJOR_BURNS: False}
    reports = {hpid: capacity(now, conditions=refuse, traffic=schemas.TrafficStatus.ADVISORY) for hpid in open_}
    reports[closed] = capacity(now, conditions=refuse, traffic=schemas.TrafficStatus.CLOSED)
    report(bus, dispatcher, reports)
    unit = unique("u")
    bus.transport(unit, JONGNO_3GA, stable_vitals("flame burns, face and chest", burns=True))

    advice = advised(bus, dispatcher, unit)
    assert advice.pathway == "burns" and not advice.definitive
    assert advice.destination.reason.startswith("화상 전문 치료 가능 기관 없음"), advice.destination.reason
    assert advice.destination.reason_en is not None and advice.destination.reason_en.startswith("no burns unit")
    assert advice.destination.hpid == open_[0]  # the nearest open ER, not the closed one nearer


def test_major_trauma_goes_to_a_trauma_centre_past_nearer_hospitals_without_one(
    bus: Bus, dispatcher: Dispatcher
) -> None:
    """R-TIER: the regional trauma centre (the national list) first; nearer centres have beds to spare."""
    now = datetime.now(UTC)
    centres = by_distance(dispatcher, CITY_HALL)
    trauma = _trauma_centres(dispatcher)
    assert centres[0] not in trauma and centres[1] not in trauma, "the trap: the two nearest have no trauma centre"
    report(bus, dispatcher, {hpid: capacity(now, beds=20 if hpid not in trauma else 2) for hpid in centres})
    unit = unique("u")
    bus.transport(unit, CITY_HALL, stable_vitals("motorcycle collision, open femur fracture", major_trauma=True))

    advice = advised(bus, dispatcher, unit)
    assert advice.destination.hpid == next(h for h in centres if h in trauma), advice.destination.reason
    assert advice.pathway == "major_trauma" and advice.definitive
    assert "권역외상센터" in advice.destination.reason


def test_the_last_bed_goes_to_the_sickest(bus: Bus, dispatcher: Dispatcher) -> None:
    """R-PRIORITY: the only centre within reach with a free bed has one; a minor patient was advised there
    first, then a critical one comes from the same corner. The bed goes to the critical one."""
    now = datetime.now(UTC)
    levels = _levels(dispatcher)
    centres = by_distance(dispatcher, JONGNO_3GA)
    last = next(h for h in centres[1:] if levels[h] <= 2)  # not the nearest, and one a critical patient may take
    report(
        bus, dispatcher, {h: capacity(now, beds=1) if h == last else capacity(now, overcrowded=True) for h in centres}
    )
    mild, sick = unique("a-mild"), unique("b-sick")  # in a joint plan (sorted by unit) the mild one comes first

    bus.transport(mild, JONGNO_3GA, minor_vitals())
    first = advised(bus, dispatcher, mild)
    assert first.severity is not None and first.severity.ktas >= 4
    assert first.destination.hpid == last, "the trap: alone, the minor patient takes the last bed"

    bus.transport(sick, JONGNO_3GA, critical_vitals())
    advice = advised(bus, dispatcher, sick)
    assert advice.severity is not None and advice.severity.ktas <= 2 and advice.severity.p_critical >= 0.5
    assert advice.destination.hpid == last, advice.destination.reason
    assert advice.destination.beds_on_arrival == 1

    def told_no_bed() -> bool:  # wherever the minor patient goes now, the crew is told there is no bed
        now_advised = bus.advice(mild)
        return now_advised is not None and now_advised.destination.beds_on_arrival == 0

    assert wait_until(told_no_bed, timeout_s=5), bus.advice(mild)
    moved = advised(bus, dispatcher, mild)
    assert moved.destination.beds_on_arrival == 0 and moved.advice_version > first.advice_version
    assert "병상 없음" in moved.destination.reason or "응급실 포화" in moved.destination.reason


def test_a_centre_that_never_reported_beds_is_not_unlimited(bus: Bus, dispatcher: Dispatcher) -> None:
    """R-BEDS: the nearest centre never reported (one bed assumed); the others report a few free beds."""
    now = datetime.now(UTC)
    levels = _levels(dispatcher)
    centres = by_distance(dispatcher, DONGDAEMUN)
    silent = centres[0]
    assert levels[silent] <= 2, "the trap: the nearest centre is one a critical patient may take"
    regional = [h for h in centres[1:] if levels[h] <= 2]
    # No report from the silent centre (the dispatcher fixture cleared any), two beds at each level 1-2 centre
    # beyond it, the level 3 centres full: four free beds for four patients, and one bed assumed at the nearest.
    report(bus, dispatcher, {h: capacity(now, beds=2) if h in regional else capacity(now, overcrowded=True)
                             for h in centres[1:]})  # fmt: skip
    assert silent not in dispatcher.capacity
    units = [unique(f"u{i}") for i in range(4)]
    for unit in units:
        bus.transport(unit, DONGDAEMUN, critical_vitals())

    advice = {unit: advised(bus, dispatcher, unit) for unit in units}
    assert all(a.severity is not None and a.severity.p_critical >= 0.5 for a in advice.values())
    sent = [a.destination.hpid for a in advice.values()]
    assert sent.count(silent) <= 1, sent
    assert all(levels[h] <= 2 for h in sent), sent
    options = [o for a in advice.values() for o in (a.destination, *a.alternatives) if o.hpid == silent]
    assert options and all("병상 미보고" in o.reason for o in options)


def test_an_unstable_trauma_patient_is_stabilised_at_the_nearest_open_er(bus: Bus, dispatcher: Dispatcher) -> None:
    """R-UNSTABLE: SpO2 70 with a major-trauma flag: the nearest ER (level 3, no bed, no trauma centre)."""
    now = datetime.now(UTC)
    centres = by_distance(dispatcher, CITY_HALL)
    nearest = centres[0]
    assert nearest not in _trauma_centres(dispatcher) and _levels(dispatcher)[nearest] >= 3, "the trap"
    report(bus, dispatcher, {h: capacity(now, overcrowded=True) if h == nearest else capacity(now) for h in centres})
    unit = unique("u")
    vitals = stable_vitals("fall from height, chest injury", major_trauma=True).model_copy(update={"spo2_pct": 70})
    bus.transport(unit, CITY_HALL, vitals)

    advice = advised(bus, dispatcher, unit)
    assert advice.destination.hpid == nearest, advice.destination.reason
    assert "안정화 우선" in advice.destination.reason
    assert advice.destination.reason_en is not None and "stabilise first" in advice.destination.reason_en
    assert advice.pathway == "major_trauma"


def test_cardiac_arrest_goes_to_the_nearest_open_er_even_full_and_level_3(bus: Bus, dispatcher: Dispatcher) -> None:
    """R-ARREST: time wins. The nearest ER reports itself shut (excluded); the next is level 3 and full."""
    now = datetime.now(UTC)
    levels = _levels(dispatcher)
    shut, nearest, *others = by_distance(dispatcher, GWANGHWAMUN)
    assert levels[nearest] >= 3, "the trap: the nearest open ER is a level 3 centre"
    reports = {h: capacity(now, beds=20) for h in others}
    reports[shut] = capacity(now, conditions={Condition.ER_OPEN: False})
    reports[nearest] = capacity(now, overcrowded=True)
    report(bus, dispatcher, reports)
    unit = unique("u")
    arrest = schemas.Vitals.new(
        patient_id=f"P-{unit[-8:]}", age_years=66, sex="male", hr_bpm=0, rr_per_min=0, avpu="U", gcs=3,
        chief_complaint="collapsed, CPR in progress", flags=schemas.CrewFlags(cardiac_arrest=True),
    )  # fmt: skip
    bus.transport(unit, GWANGHWAMUN, arrest)

    advice = advised(bus, dispatcher, unit)
    assert advice.destination.hpid == nearest, advice.destination.reason
    assert advice.pathway == "cardiac_arrest" and advice.definitive
    assert "심정지" in advice.destination.reason
    assert advice.severity is not None and advice.severity.ktas == 1
