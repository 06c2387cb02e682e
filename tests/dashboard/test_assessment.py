"""The crew's assessment (dashboard/assessment.py): the complaint list, the chief complaint it makes, and the
vitals message that carries it with Pre-KTAS; and the critical call the pages show."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from dashboard.assessment import (
    COMMON,
    NO_PATIENT,
    NOT_GRADED,
    NOTHING_TO_SEND,
    TOO_LONG,
    AssessmentError,
    assessed_vitals,
    complaint_label,
    complaint_options,
    complaint_text,
    is_critical,
    standing,
)
from dispatch.severity.complaints import CODES, VOCABULARY, complaint_codes
from loaders.severity import read_ktas
from telemetry import schemas, topics

KTAS_DATA = Path(__file__).resolve().parents[2] / "data" / "ktas_triage" / "ktas_triage_moon2019_dev.csv"


def _vitals(patient: str = "P-0001", **fields: object) -> schemas.Vitals:
    return schemas.Vitals.new(patient_id=patient, **fields)


def _monitor() -> list[schemas.Vitals]:
    """A patient's vitals as a monitor sends them, oldest first."""
    t0 = schemas.utc_now() - timedelta(minutes=3)
    return [
        _vitals(ts=t0, hr_bpm=110, sbp_mmhg=95, spo2_pct=94, age_years=67, sex=schemas.Sex.MALE),
        _vitals(ts=t0 + timedelta(minutes=1), hr_bpm=118, sbp_mmhg=88, spo2_pct=92, age_years=67,
                sex=schemas.Sex.MALE, note="식은땀", flags=schemas.CrewFlags(stemi=True)),
    ]  # fmt: skip


# --- the list ----------------------------------------------------------------------------------------------------


def test_the_list_offers_every_complaint_once_the_commonest_first() -> None:
    options = complaint_options()
    assert sorted(options) == sorted(CODES)
    assert options[: len(COMMON)] == COMMON
    rest = [c.code for c in VOCABULARY if c.code not in COMMON]
    assert list(options[len(COMMON) :]) == rest  # the Pre-KTAS categories' order


def test_the_commonest_are_recounted_from_the_119_arrivals_of_the_ktas_data() -> None:
    """COMMON says where it comes from: complaints of >= 8 of the 119 ambulance arrivals, by count."""
    counts: Counter[str] = Counter()
    arrivals = [r for r in read_ktas(KTAS_DATA) if r["Arrival mode"] == "2"]
    for row in arrivals:
        counts.update(set(complaint_codes(row["Chief_complain"])))
    order = {code: i for i, code in enumerate(CODES)}
    expected = sorted((c for c, n in counts.items() if n >= 8), key=lambda c: (-counts[c], order[c]))
    assert len(arrivals) == 220
    assert tuple(expected) == COMMON


def test_labels_give_both_names_korean_first_and_english_first_under_the_switch() -> None:
    assert complaint_label("CHEST_PAIN") == "흉통 · Chest pain"
    assert complaint_label("CHEST_PAIN", english=True) == "Chest pain · 흉통"
    assert complaint_label("STROKE_SYMPTOMS") == "편마비/뇌졸중 증상 · Stroke symptoms"
    labels = [complaint_label(c) for c in complaint_options()]
    assert len(set(labels)) == len(labels)  # none two alike in the list


# --- the chief complaint -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", CODES)
def test_the_chosen_complaint_reads_back_as_its_code(code: str) -> None:
    """What the list sends is a term of the vocabulary: the dispatcher's normaliser finds that complaint."""
    text = complaint_text(code)
    assert text is not None and complaint_codes(text) == (code,)


def test_the_crews_own_words_follow_the_chosen_complaint() -> None:
    assert complaint_text("CHEST_PAIN", "  식은땀,   30분 전  시작 ") == "흉통, 식은땀, 30분 전 시작"
    assert complaint_text(None, "가슴이 답답함") == "가슴이 답답함"
    assert set(complaint_codes(complaint_text("CHEST_PAIN", "숨참") or "")) == {"CHEST_PAIN", "DYSPNEA"}
    assert complaint_text(None, "   ") is None and complaint_text(None) is None


# --- the vitals message ------------------------------------------------------------------------------------------


def test_the_assessment_goes_with_the_newest_vitals_of_the_patient() -> None:
    history = _monitor()
    now = schemas.utc_now()
    sent = assessed_vitals(history, code="CHEST_PAIN", free_text="식은땀", pre_ktas=2, now=now)
    newest = history[-1]
    assert sent.chief_complaint == "흉통, 식은땀" and sent.pre_ktas == 2
    assert sent.ts == now and sent.msg_id not in {v.msg_id for v in history}  # a new message, not a copy
    unchanged = {"ts", "msg_id", "chief_complaint", "pre_ktas"}
    assert sent.model_dump(exclude=unchanged) == newest.model_dump(exclude=unchanged)
    assert sent.patient_id == "P-0001" and sent.hr_bpm == 118 and sent.flags.stemi and sent.note == "식은땀"
    # valid on its topic, as the dispatcher will decode it
    assert schemas.decode(topics.Kind.VITALS, schemas.encode(sent)) == sent


def test_what_the_crew_leaves_out_keeps_what_it_sent_before_for_this_patient() -> None:
    history = _monitor()
    graded = assessed_vitals(history, code="CHEST_PAIN", pre_ktas=2)
    history += [graded, _vitals(hr_bpm=124)]  # the monitor goes on, without complaint or Pre-KTAS
    assert standing(history).complaint == "흉통" and standing(history).pre_ktas == 2
    regraded = assessed_vitals(history, code=None, pre_ktas=1)
    assert (regraded.chief_complaint, regraded.pre_ktas, regraded.hr_bpm) == ("흉통", 1, 124)
    recomplained = assessed_vitals(history, code="DYSPNEA", pre_ktas=NOT_GRADED)
    assert (recomplained.chief_complaint, recomplained.pre_ktas) == ("호흡곤란", 2)
    assert assessed_vitals(_monitor(), code="DYSPNEA", pre_ktas=None).pre_ktas is None  # never graded


def test_no_vitals_means_no_patient_and_nothing_is_made_up() -> None:
    with pytest.raises(AssessmentError) as caught:
        assessed_vitals([], code="CHEST_PAIN", pre_ktas=2)
    assert caught.value.words == NO_PATIENT


def test_an_empty_assessment_is_not_sent() -> None:
    with pytest.raises(AssessmentError) as caught:
        assessed_vitals(_monitor(), code=None, free_text="  ", pre_ktas=NOT_GRADED)
    assert caught.value.words == NOTHING_TO_SEND


def test_a_complaint_longer_than_the_schema_allows_is_refused_in_words() -> None:
    with pytest.raises(AssessmentError) as caught:
        assessed_vitals(_monitor(), code="CHEST_PAIN", free_text="가" * 199, pre_ktas=None)
    assert caught.value.words == TOO_LONG
    assert len(assessed_vitals(_monitor(), code=None, free_text="가" * 200, pre_ktas=None).chief_complaint or "") == 200


def test_an_assessment_of_another_patient_is_refused() -> None:
    with pytest.raises(AssessmentError) as caught:
        assessed_vitals(_monitor(), code="CHEST_PAIN", pre_ktas=2, shown_patient="P-before")
    korean, english = caught.value.words
    assert "P-before → P-0001" in korean and "P-before → P-0001" in english
    assert assessed_vitals(_monitor(), code="CHEST_PAIN", pre_ktas=2, shown_patient="P-0001").pre_ktas == 2


def test_the_standing_assessment_is_the_current_patients() -> None:
    assert standing([]).patient_id is None
    before = [_vitals("P-old", chief_complaint="복통", pre_ktas=3)]
    now = _vitals("P-new", hr_bpm=90)
    s = standing([*before, now])
    assert (s.patient_id, s.vitals_at, s.complaint, s.pre_ktas) == ("P-new", now.ts, None, None)


# --- the critical call -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "critical"),
    [
        (schemas.Severity(ktas=3, p_critical=0.3, critical=True), True),  # recall first: critical though 3 likeliest
        (schemas.Severity(ktas=2, p_critical=0.4, critical=False), False),
        (schemas.Severity(ktas=2, p_critical=0.7), True),  # an older dispatcher: KTAS 1-2 is critical
        (schemas.Severity(ktas=1, p_critical=0.9), True),
        (schemas.Severity(ktas=3, p_critical=0.3), False),
    ],
)
def test_the_critical_call_and_its_reading_for_older_dispatchers(severity: schemas.Severity, critical: bool) -> None:
    assert is_critical(severity) is critical
