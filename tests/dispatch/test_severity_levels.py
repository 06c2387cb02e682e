"""R-LEVEL and R-CREW (docs/clinical_rules.md): the level the crew sees is the model's likeliest, the critical call is
its own, and the crew's Pre-KTAS raises urgency and is never lowered by the model."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dispatch.severity.model import TrainedSeverity, combine, crew_grade
from telemetry.schemas import Avpu, Decider, Vitals


def vitals(**fields: object) -> Vitals:
    base = {"patient_id": "pt-0001", "age_years": 35, "hr_bpm": 76, "sbp_mmhg": 124, "dbp_mmhg": 78,
            "rr_per_min": 16, "spo2_pct": 98, "temp_c": 36.6, "avpu": Avpu.ALERT, "pain_nrs": 2,
            "chief_complaint": "발목 통증", "ts": "2026-01-01T00:00:00Z", "msg_id": "m" * 12}  # fmt: skip
    return Vitals.model_validate(base | fields)


# --- R-CREW: the crew's grade -------------------------------------------------------------------------------------


@given(st.integers(1, 5), st.booleans(), st.one_of(st.none(), st.integers(1, 5)))
def test_the_crew_raises_urgency_and_is_never_overruled_downward(model: int, called: bool, crew: int | None) -> None:
    level, critical, decider = combine(model, called, crew)
    assert level == min(model, crew or 5)
    assert critical == (called or (crew is not None and crew <= 2))
    raised = level != model or critical != called
    assert (decider is Decider.CREW) == raised


def test_the_crew_grade_is_the_most_urgent_of_pre_ktas_and_flags() -> None:
    assert crew_grade(None, ()) is None
    assert crew_grade(4, ()) == 4
    assert crew_grade(4, ("stemi",)) == 2
    assert crew_grade(1, ("stemi",)) == 1
    assert crew_grade(None, ("cardiac_arrest",)) == 1


def test_a_crew_pre_ktas_2_makes_a_minor_looking_patient_critical(severity: TrainedSeverity) -> None:
    plain = severity.assess(vitals())
    assert plain.ktas >= 3 and not plain.critical and plain.decided_by is Decider.MODEL
    graded = severity.assess(vitals(pre_ktas=2))
    assert graded.ktas == 2 and graded.critical and graded.crew_ktas == 2
    assert graded.decided_by is Decider.CREW
    assert graded.reasons[0] == "crew: Pre-KTAS 2"
    assert (graded.p_critical, graded.p_emergency) == (plain.p_critical, plain.p_emergency)


def test_a_less_urgent_crew_grade_does_not_lower_the_model(severity: TrainedSeverity) -> None:
    sick = {"hr_bpm": 134, "sbp_mmhg": 72, "dbp_mmhg": 40, "rr_per_min": 32, "spo2_pct": 84, "avpu": Avpu.PAIN,
            "age_years": 78, "chief_complaint": "의식 저하"}  # fmt: skip
    model = severity.assess(vitals(**sick))
    graded = severity.assess(vitals(**sick, pre_ktas=5))
    assert model.critical and graded.critical
    assert graded.ktas == model.ktas and graded.decided_by is Decider.MODEL and graded.crew_ktas == 5


def test_the_likeliest_level_and_the_critical_call_can_differ_and_both_are_shown(severity: TrainedSeverity) -> None:
    """The point of R-LEVEL: a patient can be likeliest KTAS 3 yet called critical (recall first): the level is not
    forced to 2, and an unremarkable patient is not shown KTAS 2."""
    found = [severity.assess(vitals(hr_bpm=hr, chief_complaint=c)) for hr in (70, 100, 130) for c in ("흉통", "복통")]
    assert any(s.critical and s.ktas >= 3 for s in found)
    assert all(s.ktas in (1, 2, 3, 4, 5) for s in found)
