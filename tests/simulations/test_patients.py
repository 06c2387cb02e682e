"""Tests of ``simulations.patients`` on the real KTAS development data.

The patient catalogue is built once per module (a few seconds: one full training and five
fold fits, fixed seeds)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.pathways import FLAG_FLOORS, Pathway, flags_set, needs_of
from dispatch.severity.features import Presentation, from_ktas_row, ktas_labels
from dispatch.severity.model import TrainedSeverity
from dispatch.severity.training import train
from goldentime.bench.severity import _vitals as bench_vitals
from goldentime.settings import default_data_dir
from loaders.severity import KTAS_FILE, read_ktas
from simulations.patients import (
    ModelOnly,
    SimPatient,
    ambulance_patients,
    crew_flags,
    stratified_folds,
    vitals_from_presentation,
    walkin_ktas_mix,
)
from telemetry import schemas
from telemetry.schemas import Decider

DATA_FILE = default_data_dir() / KTAS_FILE
FLAG_NAMES = tuple(schemas.CrewFlags.model_fields)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return read_ktas(DATA_FILE)


@pytest.fixture(scope="module")
def patients() -> tuple[SimPatient, ...]:
    return ambulance_patients(DATA_FILE)


@pytest.fixture(scope="module")
def full_model(rows: list[dict[str, str]]) -> TrainedSeverity:
    return train([from_ktas_row(r) for r in rows], ktas_labels(rows))


def _on(flags: schemas.CrewFlags) -> set[str]:
    return {name for name, on in flags.model_dump().items() if on}


def _row(
    complaint: str, *, ktas: int = 3, sex: int = 2, age: int = 60, injury: int = 1, mental: int = 1
) -> dict[str, str]:
    """A synthetic KTAS row: only the columns the flag rules read."""
    return {
        "Sex": str(sex),
        "Age": str(age),
        "Arrival mode": "2",
        "Injury": str(injury),
        "Chief_complain": complaint,
        "Mental": str(mental),
        "KTAS_expert": str(ktas),
    }


# --- crew flags ----------------------------------------------------------------------------------

#: Real 119-ambulance rows of the dev file (0-based) and the flags they must carry.
REAL_ROWS = {
    823: {"cardiac_arrest"},  # 'arrest'
    122: {"cardiac_arrest", "fast_positive"},  # 'motor weakness', unresponsive, KTAS 1
    892: {"fast_positive"},  # 'aphasia, motor'
    879: {"fast_positive"},  # 'rigth side weakness' (the data's typo)
    538: {"fast_positive", "major_trauma"},  # 'lower extremity paraparesis', injury, KTAS 2
    556: {"stemi"},  # 'chest discomfort', KTAS 2
    177: {"stemi"},  # 'pain, chest', KTAS 2
    709: {"pregnancy"},  # 'vaginal bleeding', woman of 35
    106: set(),  # 'general weakness'
    382: set(),  # 'facial injury', KTAS 4: an injury, not major trauma
}


@pytest.mark.parametrize(("index", "expected"), sorted(REAL_ROWS.items()))
def test_flags_of_real_rows(rows: list[dict[str, str]], index: int, expected: set[str]) -> None:
    assert from_ktas_row(rows[index]).ambulance
    assert _on(crew_flags(rows[index])) == expected


def test_burns_on_a_real_walk_in_row(rows: list[dict[str, str]]) -> None:
    assert from_ktas_row(rows[202]).complaint == "burn, arm"
    assert _on(crew_flags(rows[202])) == {"burns"}


@pytest.mark.parametrize(
    ("complaint", "expected"),
    [
        ("lt. hemiparesis", True),
        ("paraparesis", True),
        ("dysarthria", True),
        ("facial palsy left", True),
        ("left side weakness", True),
        ("rt.arm weakness", True),
        ("motor weakness", True),
        ("rigth side weakness", True),
        ("general weakness", False),
        ("g/w-general weakness", False),
        ("weakness", False),
        ("sideroblastic anemia", False),
        ("multiple contusions", False),
    ],
)
def test_fast_positive(complaint: str, expected: bool) -> None:
    assert crew_flags(_row(complaint)).fast_positive is expected


@pytest.mark.parametrize(
    ("complaint", "ktas", "expected"),
    [
        ("ant. chest pain", 2, True),
        ("pain, chest", 1, True),
        ("chest discomfort left", 2, True),
        ("discomfort, chest", 2, True),
        ("ant. chest pain", 3, False),  # not critical: not a STEMI
        ("pain, chest wall", 2, False),  # chest wall: musculoskeletal
        ("chest wall pain right", 2, False),
        ("chest palpitation", 2, False),
    ],
)
def test_stemi(complaint: str, ktas: int, expected: bool) -> None:
    assert crew_flags(_row(complaint, ktas=ktas)).stemi is expected


def test_cardiac_arrest_needs_the_word_or_unresponsive_at_ktas_1() -> None:
    assert crew_flags(_row("arrest", ktas=2)).cardiac_arrest
    assert crew_flags(_row("post-cpr state, cardiac arrest")).cardiac_arrest
    assert crew_flags(_row("mental change", ktas=1, mental=4)).cardiac_arrest
    assert not crew_flags(_row("mental change", ktas=2, mental=4)).cardiac_arrest
    assert not crew_flags(_row("mental change", ktas=1, mental=3)).cardiac_arrest


def test_major_trauma_needs_an_injury_at_ktas_1_or_2() -> None:
    assert crew_flags(_row("fall", ktas=2, injury=2)).major_trauma
    assert not crew_flags(_row("fall", ktas=3, injury=2)).major_trauma
    assert not crew_flags(_row("syncope", ktas=1, injury=1)).major_trauma


@pytest.mark.parametrize(
    ("complaint", "sex", "age", "expected"),
    [
        ("vaginal bleeding", 1, 35, True),
        ("pregnancy, abd pain", 1, 28, True),
        ("labor pain", 1, 30, True),
        ("labour", 1, 30, True),
        ("vaginal bleeding", 1, 62, False),  # post-menopausal
        ("vaginal bleeding", 2, 35, False),
        ("laboratory abnormality", 1, 30, False),
    ],
)
def test_pregnancy(complaint: str, sex: int, age: int, expected: bool) -> None:
    assert crew_flags(_row(complaint, sex=sex, age=age)).pregnancy is expected


def test_burns_and_never_paediatric() -> None:
    assert _on(crew_flags(_row("burn, hand", ktas=4))) == {"burns"}
    assert not crew_flags(_row("fever", age=16)).paediatric


@given(st.text(max_size=40), st.integers(1, 5), st.integers(1, 2), st.integers(16, 96))
def test_flags_never_fail_and_never_paediatric(complaint: str, ktas: int, injury: int, age: int) -> None:
    flags = crew_flags(_row(complaint, ktas=ktas, injury=injury, age=age))
    assert not flags.paediatric
    assert not (flags.stemi or flags.major_trauma) or ktas <= 2


@given(st.sets(st.sampled_from(FLAG_NAMES)))
def test_needs_follow_flags(on: set[str]) -> None:
    flags = schemas.CrewFlags(**dict.fromkeys(on, True))
    expected = {
        "cardiac_arrest": Pathway.CARDIAC_ARREST,
        "fast_positive": Pathway.STROKE,
        "stemi": Pathway.STEMI,
        "major_trauma": Pathway.MAJOR_TRAUMA,
        "burns": Pathway.BURNS,
        "pregnancy": Pathway.OBSTETRIC,
        "paediatric": Pathway.PAEDIATRIC,
    }
    assert needs_of(flags) == {expected[name] for name in on}


# --- vitals --------------------------------------------------------------------------------------


def test_vitals_from_presentation_carries_every_field() -> None:
    p = Presentation(
        age_years=71.0,
        female=True,
        injury=False,
        avpu="V",
        pain=True,
        pain_nrs=6.0,
        sbp_mmhg=88.0,
        dbp_mmhg=95.0,  # above the systolic: clamped
        hr_bpm=121.0,
        rr_per_min=26.0,
        temp_c=38.4,
        spo2_pct=91.0,
        complaint="dyspnea",
    )
    flags = schemas.CrewFlags(stemi=True)
    vitals = vitals_from_presentation(p, flags)
    assert vitals.patient_id == "P-sim"
    assert (vitals.age_years, vitals.sex, vitals.avpu, vitals.pain_nrs) == (
        71,
        schemas.Sex.FEMALE,
        schemas.Avpu("V"),
        6,
    )
    assert (vitals.sbp_mmhg, vitals.dbp_mmhg, vitals.hr_bpm, vitals.rr_per_min) == (88, 88, 121, 26)
    assert (vitals.spo2_pct, vitals.temp_c, vitals.injury) == (91, 38.4, False)
    assert vitals.chief_complaint == "dyspnea"
    assert vitals.flags == flags


def test_vitals_from_an_empty_presentation() -> None:
    vitals = vitals_from_presentation(Presentation(), schemas.CrewFlags(), "P-empty")
    assert vitals.patient_id == "P-empty"
    assert vitals.sex is None and vitals.sbp_mmhg is None and vitals.dbp_mmhg is None
    assert vitals.chief_complaint is None  # a lost complaint is not an empty string


def test_bench_payloads_are_unchanged(rows: list[dict[str, str]]) -> None:
    payloads = bench_vitals(rows)
    assert len(payloads) == 220
    assert {v.patient_id for v in payloads} == {"P-bench"}
    assert all(v.flags == schemas.CrewFlags() for v in payloads)
    assert len({v.msg_id for v in payloads}) == 220  # fresh ids, as Vitals.new gives


# --- the catalogue -------------------------------------------------------------------------------


def test_catalogue_is_the_ambulance_rows(rows: list[dict[str, str]], patients: tuple[SimPatient, ...]) -> None:
    ambulance = [i for i, r in enumerate(rows) if r["Arrival mode"].strip() == "2"]
    assert len(patients) == len(ambulance) == 220
    assert [p.row for p in patients] == ambulance
    levels = ktas_labels(rows)
    assert Counter(p.ktas for p in patients) == Counter(int(levels[i]) for i in ambulance)
    assert sorted(Counter(p.ktas for p in patients).items()) == [(1, 11), (2, 53), (3, 93), (4, 57), (5, 6)]


def test_catalogue_patients_agree_with_their_rows(rows: list[dict[str, str]], patients: tuple[SimPatient, ...]) -> None:
    for p in patients:
        row = rows[p.row]
        assert p.ktas == int(row["KTAS_expert"])
        assert p.ktas_nurse == int(row["KTAS_RN"])
        assert p.flags == crew_flags(row) == p.vitals.flags
        assert p.needs == needs_of(p.flags)
        assert p.complaint == from_ktas_row(row).complaint == (p.vitals.chief_complaint or "")
        assert p.vitals.pre_ktas == p.ktas_nurse  # the crew's Pre-KTAS: the nurse's level stands in
        assert 1 <= p.model_ktas <= 5
        assert 0.0 <= p.model_p_critical <= 1.0
        assessed = p.assessment
        floors = [FLAG_FLOORS[f] for f in flags_set(p.flags) if f in FLAG_FLOORS]
        assert assessed.ktas == min([p.model_ktas, p.ktas_nurse, *floors])
        assert assessed.critical == (p.model_critical or min([p.ktas_nurse, *floors]) <= 2)


def test_the_models_probability_is_kept_with_its_critical_call(
    patients: tuple[SimPatient, ...], full_model: TrainedSeverity
) -> None:
    """The fold models keep the full model's threshold: critical exactly when p_critical reaches it."""
    for p in patients:
        assert p.model_critical == (p.model_p_critical >= full_model.threshold), p.row
    assert len({round(p.model_p_critical, 6) for p in patients}) > 50  # a probability, not a yes / no


def test_crew_flag_floors_apply(patients: tuple[SimPatient, ...]) -> None:
    for p in (q for patient in patients for q in (patient, ModelOnly.of(patient))):
        if p.flags.cardiac_arrest:
            assert p.assessment.ktas == 1
        if p.flags.stemi or p.flags.fast_positive or p.flags.major_trauma or p.flags.burns:
            assert p.assessment.critical and p.assessment.ktas <= 2


def test_the_crews_pre_ktas_raises_urgency_and_model_only_patients_lack_it(patients: tuple[SimPatient, ...]) -> None:
    raised = [p for p in patients if p.assessment.decided_by is Decider.CREW]
    assert raised and all(p.assessment.ktas <= ModelOnly.of(p).assessment.ktas for p in patients)
    assert all(p.assessment.p_critical == ModelOnly.of(p).assessment.p_critical for p in patients)
    plain = [ModelOnly.of(p).assessment for p in patients if not any(_on(p.flags))]
    assert plain and all(s.decided_by is Decider.MODEL and s.crew_ktas is None for s in plain)


def test_flag_counts_among_ambulance_patients(patients: tuple[SimPatient, ...]) -> None:
    counts = Counter(name for p in patients for name in _on(p.flags))
    assert counts == {"fast_positive": 14, "stemi": 14, "major_trauma": 8, "cardiac_arrest": 6, "pregnancy": 1}


def test_catalogue_is_deterministic(patients: tuple[SimPatient, ...]) -> None:
    assert ambulance_patients(DATA_FILE) == patients


def test_out_of_fold_differs_from_in_sample(patients: tuple[SimPatient, ...], full_model: TrainedSeverity) -> None:
    in_sample = [full_model.assess(p.vitals, explain_inputs=False) for p in patients]
    differ = sum(p.model_ktas != s.ktas for p, s in zip(patients, in_sample, strict=True))
    assert 0 < differ < len(patients) // 2  # a different model, but the same kind of model


def test_stratified_folds() -> None:
    levels = np.repeat(np.arange(1, 6), [21, 176, 390, 367, 60])
    folds = stratified_folds(levels, 5, np.random.default_rng(7))
    assert set(folds.tolist()) == set(range(5))
    for level in range(1, 6):
        sizes = np.bincount(folds[levels == level], minlength=5)
        assert sizes.max() - sizes.min() <= 1
    assert np.array_equal(folds, stratified_folds(levels, 5, np.random.default_rng(7)))
    assert not np.array_equal(folds, stratified_folds(levels, 5, np.random.default_rng(8)))
    with pytest.raises(ValueError, match="folds"):
        stratified_folds(levels, 1, np.random.default_rng(7))


def test_walkin_mix(rows: list[dict[str, str]]) -> None:
    mix = walkin_ktas_mix(DATA_FILE)
    others = [int(r["KTAS_expert"]) for r in rows if r["Arrival mode"].strip() != "2"]
    assert len(others) == 1014 - 220
    assert mix == pytest.approx([others.count(k) / len(others) for k in range(1, 6)])
    assert sum(mix) == pytest.approx(1.0)
