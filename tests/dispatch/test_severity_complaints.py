"""Chief complaints in Korean and English: the vocabulary (``dispatch.severity.complaints``), the shipped CSV,
the normaliser, and the severity model scoring every complaint alike in both languages.

The model is trained once for the module on the real KTAS development data (a few seconds, fixed seeds)."""

from __future__ import annotations

import dataclasses
import pickle
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.severity import complaints
from dispatch.severity.complaints import (
    CODES,
    COLUMNS,
    COMPLAINTS,
    VOCABULARY,
    Complaint,
    Normaliser,
    check_vocabulary,
    complaint_codes,
    parse_vocabulary,
    vocabulary_csv,
)
from dispatch.severity.features import (
    COMPLAINT_NAMES,
    FEATURES_VERSION,
    Presentation,
    feature_matrix,
    from_ktas_row,
    from_vitals,
    is_central,
    ktas_labels,
    pain_level,
)
from dispatch.severity.model import SeverityModel, StaleModelError, TrainedSeverity
from goldentime.settings import default_data_dir
from loaders.severity import KTAS_FILE, load, load_or_train, read_ktas, save, train_from_file
from telemetry.schemas import Avpu, Sex, Vitals

DATA_DIR = default_data_dir()
DATA_FILE = DATA_DIR / KTAS_FILE
CSV_FILE = DATA_DIR / "ktas_triage" / "chief_complaints.csv"
HANGUL = re.compile(r"[가-힣]")
TOLERANCE = 0.01  # issue 24: the Korean and the English form give the same p_critical within 0.01

#: The patient of issue 24 (62, HR 96, BP 150/90, pain 7), and others to score each complaint with.
ISSUE_PATIENT = Presentation(
    age_years=62, female=False, ambulance=True, avpu="A", pain=True, pain_nrs=7, sbp_mmhg=150, dbp_mmhg=90, hr_bpm=96
)
PATIENTS = {
    "issue 24": ISSUE_PATIENT,
    "shocked": Presentation(
        age_years=78, female=True, avpu="V", pain=True, pain_nrs=9, sbp_mmhg=84, dbp_mmhg=50, hr_bpm=124,
        rr_per_min=28, temp_c=38.6, spo2_pct=89,
    ),
    "minor": Presentation(
        age_years=24, female=True, ambulance=False, injury=True, avpu="A", pain=True, pain_nrs=2, sbp_mmhg=118,
        dbp_mmhg=72, hr_bpm=74, rr_per_min=16, temp_c=36.6, spo2_pct=99,
    ),
    "nothing measured": Presentation(),
}  # fmt: skip


@pytest.fixture(scope="module")
def development() -> list[dict[str, str]]:
    return read_ktas(DATA_FILE)


@pytest.fixture(scope="module")
def trained() -> TrainedSeverity:
    return train_from_file(DATA_FILE)


def p_critical(model: TrainedSeverity, patient: Presentation, texts: list[str]) -> np.ndarray:
    """p_critical of ``patient`` with each complaint, as a crew would type it (the live path lower-cases)."""
    _, p, _ = model.probabilities([dataclasses.replace(patient, complaint=text.strip().lower()) for text in texts])
    return p


# --- the vocabulary and the shipped CSV ---------------------------------------------------------------------------


def test_the_shipped_csv_is_the_vocabulary_the_model_uses() -> None:
    assert CSV_FILE.read_bytes() == vocabulary_csv().encode("utf-8")
    assert parse_vocabulary(CSV_FILE.read_text(encoding="utf-8")) == VOCABULARY
    assert parse_vocabulary("\ufeff" + vocabulary_csv()) == VOCABULARY  # as saved by a spreadsheet


def test_every_complaint_has_a_korean_and_an_english_name_and_a_category() -> None:
    assert len(VOCABULARY) >= 150
    for c in VOCABULARY:
        assert HANGUL.search(c.ko), c
        assert not HANGUL.search(c.en) and c.en == c.en.strip(), c
        assert all(HANGUL.search(term) for term in c.ko_synonyms), c
        assert not any(HANGUL.search(term) for term in c.en_synonyms), c
        assert c.category in complaints.CATEGORIES or (c.category == "" and c.source == "added"), c
    assert {c.category for c in VOCABULARY} >= set(complaints.CATEGORIES)  # every Pre-KTAS category is there


def test_every_complaint_written_five_times_in_the_training_data_is_known(development: list[dict[str, str]]) -> None:
    typed = Counter(from_ktas_row(row).complaint for row in development)
    frequent = [text for text, n in typed.items() if n >= 5 and text]
    assert len(frequent) >= 40
    assert [text for text in frequent if not complaint_codes(text)] == []
    known = sum(n for text, n in typed.items() if text and complaint_codes(text))
    assert known / sum(n for text, n in typed.items() if text) > 0.99


@pytest.mark.parametrize("complaint", VOCABULARY, ids=lambda c: c.code)
def test_every_term_of_a_complaint_names_it_and_nothing_else(complaint: Complaint) -> None:
    for term in complaint.terms:
        assert complaint_codes(term) == (complaint.code,), term
        assert complaint_codes(f"  {term.upper()}!! ") == (complaint.code,), term


@pytest.mark.parametrize("complaint", VOCABULARY, ids=lambda c: c.code)
def test_spaces_between_words_do_not_matter(complaint: Complaint) -> None:
    for term in complaint.terms:
        words = term.split()
        for text in ("".join(words), "   ".join(words), "-".join(words), f"({'/'.join(words)})"):
            assert complaint_codes(text) == (complaint.code,), text


def test_no_space_is_invented_inside_a_korean_word() -> None:
    assert complaint_codes("환자 상태 양호") == ()  # not 자상 (stab wound)
    assert complaint_codes("환자상태양호") == ()
    assert complaint_codes("흉 통") == ()  # a term written as one word matches as one word
    assert complaint_codes("공복시 혈당 40") == ()  # not 복시 (double vision)
    assert complaint_codes("손목부위통증") == ()  # neither the neck nor a stomach ache


def test_the_vocabulary_refuses_a_term_with_two_meanings_and_malformed_rows() -> None:
    chest = COMPLAINTS["CHEST_PAIN"]
    check_vocabulary([chest])
    bad = [
        [chest, dataclasses.replace(COMPLAINTS["DYSPNEA"], en_synonyms=("chest pain",))],  # a term, two codes
        [chest, dataclasses.replace(COMPLAINTS["DYSPNEA"], ko_synonyms=("가슴통증",))],  # the same, spaced otherwise
        [chest, dataclasses.replace(chest, ko="흉통 2", en="chest pain 2", ko_synonyms=(), en_synonyms=())],  # code
        [dataclasses.replace(chest, code="chest pain")],
        [dataclasses.replace(chest, category="Z")],
        [dataclasses.replace(chest, pre_ktas=("JA",))],  # another category's complaint first
        [dataclasses.replace(chest, pre_ktas=("I",))],
        [dataclasses.replace(chest, source="somewhere")],
        [dataclasses.replace(chest, ko="")],
        [dataclasses.replace(chest, en_synonyms=("!!",))],  # no letters
    ]
    for vocabulary in bad:
        with pytest.raises(ValueError):
            check_vocabulary(vocabulary)
    with pytest.raises(ValueError, match="columns"):
        parse_vocabulary("code,ko,en\nX,엑스,x\n")
    with pytest.raises(ValueError, match="fields wanted"):
        parse_vocabulary(vocabulary_csv([chest]) + "DYSPNEA,H\n")
    with pytest.raises(ValueError, match="fields wanted"):
        parse_vocabulary(vocabulary_csv([chest]) + vocabulary_csv([COMPLAINTS["DYSPNEA"]]).splitlines()[1] + ",x\n")
    with pytest.raises(ValueError, match="central nor peripheral"):
        parse_vocabulary(vocabulary_csv([chest]).replace(",central,", ",somewhere,"))
    with pytest.raises(ValueError, match="blocker"):
        Normaliser([chest], blockers=("흉통",))
    assert tuple(vocabulary_csv().splitlines()[0].split(",")) == COLUMNS


# --- the normaliser -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        # the wording of issue 24 and of the brief, both languages
        ("chest pain", ("CHEST_PAIN",)),
        ("흉통", ("CHEST_PAIN",)),
        ("가슴 통증", ("CHEST_PAIN",)),
        ("가슴통증", ("CHEST_PAIN",)),
        ("CP", ("CHEST_PAIN",)),
        ("Ant. chest pain", ("CHEST_PAIN",)),
        ("pain, chest wall, rt", ("CHEST_PAIN",)),
        ("호흡곤란", ("DYSPNEA",)),
        ("숨참", ("DYSPNEA",)),
        ("숨이 차요", ("DYSPNEA",)),
        ("SOB", ("DYSPNEA",)),
        ("복통", ("ABDOMINAL_PAIN",)),
        ("abd pain", ("ABDOMINAL_PAIN",)),
        ("ABD. PAIN", ("ABDOMINAL_PAIN",)),
        ("abd-pain", ("ABDOMINAL_PAIN",)),
        ("RUQ pain", ("ABDOMINAL_PAIN",)),
        ("명치 통증", ("ABDOMINAL_PAIN",)),
        ("명치통증이 심함", ("ABDOMINAL_PAIN",)),
        ("LOC", ("ALTERED_MENTAL",)),
        ("의식저하", ("ALTERED_MENTAL",)),
        ("seizure", ("SEIZURE",)),
        ("경련", ("SEIZURE",)),
        ("fever", ("FEVER",)),
        ("발열", ("FEVER",)),
        ("열 38.5", ("FEVER",)),
        ("ＣＰ", ("CHEST_PAIN",)),  # full-width letters of a Korean keyboard
        # several complaints: several codes, in vocabulary order, each once
        ("흉통, 호흡곤란", ("DYSPNEA", "CHEST_PAIN")),
        ("cp + sob", ("DYSPNEA", "CHEST_PAIN")),
        ("62세 남자 갑작스런 흉통과 식은땀", ("CHEST_PAIN", "SWEATING")),
        ("복통 및 구토, 설사", ("ABDOMINAL_PAIN", "VOMITING", "DIARRHEA")),
        ("chest pain, CP, 흉통", ("CHEST_PAIN",)),
        ("낙상 후 머리 외상", ("HEAD_INJURY", "FALL")),
        # the longest term wins where terms overlap
        ("복부 팽만", ("ABDOMINAL_DISTENSION",)),
        ("abd. distension", ("ABDOMINAL_DISTENSION",)),
        ("respiratory arrest", ("RESPIRATORY_ARREST",)),
        ("arrest", ("CARDIAC_ARREST",)),
        ("손목 통증", ("ARM_PAIN",)),
        ("발목통증", ("LEG_PAIN",)),
        ("손목", ()),  # a wrist is not a neck
        ("공황발작", ("ANXIETY",)),
        ("heat stroke", ("HEAT_ILLNESS",)),
        ("심장마비", ("CARDIAC_ARREST",)),
        ("피를 토함", ("HEMATEMESIS",)),
        ("질출혈", ("VAGINAL_BLEEDING",)),
        # whole words for Latin terms, one-syllable Korean terms standing alone
        ("cpr", ("CARDIAC_ARREST",)),
        ("sobbing", ()),
        ("chat", ()),
        ("열상", ("LACERATION",)),
        ("혹시 모르니", ()),
        # nothing known: no code, no error
        ("", ()),
        ("???", ()),
        ("?? ???", ()),
        ("qwerty", ()),
        ("환자 상태 양호", ()),
        ("가슴이 답답하고 숨이 참", ("DYSPNEA", "CHEST_PAIN")),
        ("femur lesion", ()),
    ],
)
def test_complaint_codes(text: str, codes: tuple[str, ...]) -> None:
    assert complaint_codes(text) == codes


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_known_codes_and_never_raises(text: str) -> None:
    codes = complaint_codes(text)
    assert isinstance(codes, tuple)
    assert len(set(codes)) == len(codes)
    assert all(code in COMPLAINTS for code in codes)
    assert list(codes) == sorted(codes, key=CODES.index)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([t for c in VOCABULARY for t in c.terms]), min_size=1, max_size=4),
    st.sampled_from([", ", " / ", "; ", " + ", ". ", "\n"]),
)
def test_complaints_listed_together_give_each_code(terms: list[str], separator: str) -> None:
    """Terms joined by punctuation name (at least) each of their complaints, whatever the case."""
    text = separator.join(terms)
    wanted = {code for term in terms for code in complaint_codes(term)}
    assert set(complaint_codes(text)) >= wanted or _a_term_spans_a_separator(terms)
    assert complaint_codes(text.upper()) == complaint_codes(text.lower())


def _a_term_spans_a_separator(terms: list[str]) -> bool:
    """Punctuation is matched as a space, so neighbours may together spell a longer term (``가슴`` + ``통증``,
    ``fall`` + ``down``), which then wins: allowed, and only then."""
    cleaned = [complaints.clean(term) for term in terms]
    text = " ".join(cleaned)
    bounds = [sum(len(c) + 1 for c in cleaned[: k + 1]) - 1 for k in range(len(cleaned) - 1)]
    return any(m.start() < b < m.end() for m in complaints.NORMALISER.expression.finditer(text) for b in bounds)


# --- features ---------------------------------------------------------------------------------------------------


def test_feature_matrix_has_the_codes_and_reads_only_unknown_complaints_as_text() -> None:
    rows = [dataclasses.replace(ISSUE_PATIENT, complaint=text) for text in ("흉통", "chest pain", "femur lesion", "")]
    matrix = feature_matrix(rows)
    assert matrix.complaint_codes.shape == (4, len(COMPLAINT_NAMES))
    hot = [{COMPLAINT_NAMES[i] for i in np.flatnonzero(row)} for row in matrix.complaint_codes]
    assert hot[0] == hot[1] == {"complaint=CHEST_PAIN", "complaint_category=I"}
    assert hot[2] == hot[3] == set()
    assert matrix.text == ("", "", "femur lesion", "")
    assert matrix.complaints == ("흉통", "chest pain", "femur lesion", "")
    several = feature_matrix([dataclasses.replace(ISSUE_PATIENT, complaint="낙상 후 흉통, 호흡곤란")])
    assert {COMPLAINT_NAMES[i] for i in np.flatnonzero(several.complaint_codes[0])} == {
        "complaint=CHEST_PAIN", "complaint=DYSPNEA", "complaint=FALL", "complaint_category=I", "complaint_category=H",
    }  # fmt: skip


@pytest.mark.parametrize("complaint", VOCABULARY, ids=lambda c: c.code)
def test_the_pain_modifier_is_the_same_in_both_languages(complaint: Complaint) -> None:
    central = complaint.pain == "central"
    for term in complaint.terms:
        assert is_central(term.lower()) is central, term
        patient = dataclasses.replace(ISSUE_PATIENT, complaint=term.lower())
        assert pain_level(patient) == ("3" if central else "4"), term  # NRS 7: moderate


def test_unknown_complaints_still_get_the_pain_modifier_from_their_words() -> None:
    assert is_central("unlisted chest thing") is True
    assert is_central("unlisted thing") is False


# --- the model: Korean and English alike ---------------------------------------------------------------------------


@pytest.mark.parametrize("patient", list(PATIENTS), ids=str)
def test_every_complaint_scores_alike_in_korean_and_english(trained: TrainedSeverity, patient: str) -> None:
    """Issue 24: for every complaint of the vocabulary, the Korean and the English form give the same p_critical
    within 0.01 for the same vitals; so does every synonym and abbreviation."""
    for complaint in VOCABULARY:
        p_ko, p_en, *p_terms = p_critical(trained, PATIENTS[patient], [complaint.ko, complaint.en, *complaint.terms])
        assert abs(p_ko - p_en) <= TOLERANCE, (complaint.code, p_ko, p_en)
        assert np.abs(np.array(p_terms) - p_en).max() <= TOLERANCE, complaint.code


def test_the_complaint_matters_so_the_comparison_can_fail(trained: TrainedSeverity) -> None:
    chest, dyspnea, ankle, nothing = p_critical(trained, ISSUE_PATIENT, ["흉통", "호흡곤란", "발목 통증", ""])
    assert chest >= trained.threshold > ankle  # chest pain is a critical call for this patient, ankle pain is not
    assert chest - nothing > 0.1 and abs(dyspnea - nothing) > 0.01 and nothing - ankle > 0.005


def test_the_issue_examples_through_the_live_path(trained: TrainedSeverity) -> None:
    def vitals(complaint: str) -> Vitals:
        return Vitals.model_validate(
            {"patient_id": "pt-0001", "ts": "2026-01-01T00:00:00Z", "msg_id": "m" * 12, "age_years": 62,
             "sex": Sex.MALE, "hr_bpm": 96, "sbp_mmhg": 150, "dbp_mmhg": 90, "pain_nrs": 7, "avpu": Avpu.ALERT,
             "chief_complaint": complaint}
        )  # fmt: skip

    pairs = [("chest pain", "흉통"), ("Chest Pain", "가슴 통증"), ("dyspnea", "호흡곤란"), ("abd pain", "복통")]
    for english, korean in pairs:
        en, ko = trained.assess(vitals(english)), trained.assess(vitals(korean))
        assert abs(en.p_critical - ko.p_critical) <= TOLERANCE, (english, korean)
        assert (en.ktas, en.critical) == (ko.ktas, ko.critical)
        assert from_vitals(vitals(korean)).complaint == korean.lower()
    assert trained.assess(vitals("흉통")).critical is True


def test_a_model_whose_complaints_are_all_known_needs_no_text(development: list[dict[str, str]]) -> None:
    known = [(from_ktas_row(row), level) for row, level in zip(development, ktas_labels(development), strict=True)]
    known = [(p, level) for p, level in known if complaint_codes(p.complaint)]
    model = SeverityModel().fit([p for p, _ in known], np.array([level for _, level in known]))
    assert model.vectorizer_ is None  # nothing left to read as text
    proba = model.predict_proba([dataclasses.replace(ISSUE_PATIENT, complaint=t) for t in ("흉통", "unlisted", "")])
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.allclose(proba[1], proba[2])  # an unknown complaint is no complaint to this model


# --- a saved model of other inputs is trained again -------------------------------------------------------------


def test_a_model_fitted_on_other_inputs_refuses_to_load(trained: TrainedSeverity) -> None:
    assert trained.model.features_version_ == FEATURES_VERSION
    assert trained.metadata["features"] == FEATURES_VERSION
    again = pickle.loads(pickle.dumps(trained))
    assert again.model.features_version_ == FEATURES_VERSION
    stale = SeverityModel.__new__(SeverityModel)
    stale.__dict__.update({k: v for k, v in trained.model.__dict__.items() if k != "features_version_"})
    with pytest.raises(StaleModelError, match="train it again"):
        pickle.loads(pickle.dumps(dataclasses.replace(trained, model=stale)))
    unfitted = pickle.loads(pickle.dumps(SeverityModel(C=10.0)))  # nothing fitted: nothing to refuse
    assert unfitted.C == 10.0


def test_load_or_train_trains_again_over_a_model_of_the_old_inputs(trained: TrainedSeverity, tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    stale = SeverityModel.__new__(SeverityModel)
    stale.__dict__.update({**trained.model.__dict__, "features_version_": "1"})
    save(dataclasses.replace(trained, model=stale), model_dir, DATA_FILE)
    assert load(model_dir, DATA_FILE) is None  # refused, as an unreadable file would be
    fresh = load_or_train(DATA_DIR, model_dir)
    assert fresh.model.features_version_ == FEATURES_VERSION
    reloaded = load(model_dir, DATA_FILE)
    assert reloaded is not None and reloaded.model.features_version_ == FEATURES_VERSION
