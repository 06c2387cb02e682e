"""Tests of ``dispatch.severity.model`` and ``dispatch.severity.training`` on the real KTAS development data.

The model is trained once per module (about two seconds, fixed seeds)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score
from sklearn.model_selection import RepeatedStratifiedKFold

from dispatch.severity.features import Presentation, feature_matrix, from_ktas_row, ktas_labels
from dispatch.severity.model import Platt, SeverityModel, TrainedSeverity, assess, explain
from dispatch.severity.training import METRICS, SEED, TARGET_RECALL, evaluate, threshold_for_recall, train
from goldentime.settings import default_data_dir
from loaders.severity import KTAS_FILE, read_ktas, train_from_file
from telemetry.schemas import Avpu, CrewFlags, Decider, Sex, Vitals

DATA_FILE = default_data_dir() / KTAS_FILE

CRITICAL = Presentation(
    age_years=72,
    female=False,
    ambulance=True,
    injury=False,
    avpu="U",
    sbp_mmhg=70,
    dbp_mmhg=40,
    hr_bpm=128,
    rr_per_min=30,
    temp_c=36.5,
    spo2_pct=80,
    complaint="mental change",
)
MINOR = Presentation(
    age_years=30,
    female=True,
    ambulance=False,
    injury=True,
    avpu="A",
    pain=True,
    pain_nrs=2,
    sbp_mmhg=124,
    dbp_mmhg=78,
    hr_bpm=76,
    rr_per_min=16,
    temp_c=36.6,
    spo2_pct=98,
    complaint="ankle pain",
)


@pytest.fixture(scope="module")
def data() -> tuple[list[Presentation], np.ndarray, np.ndarray]:
    rows = read_ktas(DATA_FILE)
    return [from_ktas_row(r) for r in rows], ktas_labels(rows), ktas_labels(rows, "KTAS_RN")


@pytest.fixture(scope="module")
def trained(data: tuple[list[Presentation], np.ndarray, np.ndarray]) -> TrainedSeverity:
    presentations, levels, _ = data
    return train(presentations, levels)


def vitals(**fields: object) -> Vitals:
    return Vitals.model_validate({"patient_id": "pt-0001", **fields, "ts": "2026-01-01T00:00:00Z", "msg_id": "m" * 12})


MINOR_VITALS: dict[str, object] = {
    "age_years": 35,
    "sex": Sex.MALE,
    "hr_bpm": 76,
    "sbp_mmhg": 124,
    "dbp_mmhg": 78,
    "rr_per_min": 16,
    "spo2_pct": 98,
    "temp_c": 36.6,
    "avpu": Avpu.ALERT,
    "pain_nrs": 2,
    "injury": True,
    "chief_complaint": "ankle pain",
}


# --- probabilities and levels -----------------------------------------------------------------------------------


def test_training_metadata(trained: TrainedSeverity) -> None:
    meta = trained.metadata
    assert meta["C"] in (1.0, 3.0, 10.0)
    assert meta["threshold"] == trained.threshold and 0 < trained.threshold < 1
    assert meta["target_recall"] == TARGET_RECALL and meta["seed"] == SEED


def test_probabilities_are_probabilities(
    trained: TrainedSeverity, data: tuple[list[Presentation], np.ndarray, np.ndarray]
) -> None:
    presentations, _, _ = data
    proba, p_critical, p_emergency = trained.probabilities(presentations)
    assert proba.shape == (len(presentations), 5)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    for p in (p_critical, p_emergency):
        assert p.shape == (len(presentations),)
        assert ((p >= 0) & (p <= 1)).all()
    assert (p_emergency >= p_critical).all()


def test_the_level_is_the_likeliest_and_critical_is_its_own_call(
    trained: TrainedSeverity, data: tuple[list[Presentation], np.ndarray, np.ndarray]
) -> None:
    """R-LEVEL: ``ktas`` is the likeliest level whatever the threshold; the threshold moves only the critical call."""
    presentations, _, _ = data
    proba, p_critical, _ = trained.probabilities(presentations)
    levels, p_crit2, _ = trained.predict(presentations)
    assert np.array_equal(p_critical, p_crit2)
    assert np.array_equal(levels, 1 + np.argmax(proba, axis=1))
    calls = trained.critical_calls(p_critical)
    assert np.array_equal(calls, p_critical >= trained.threshold)
    assert calls.any() and (~calls).any()
    assert calls.sum() > (levels <= 2).sum()  # recall first: more are called critical than are likeliest 1-2
    for threshold, called in ((1.1, False), (0.0, True)):
        moved = dataclasses.replace(trained, threshold=threshold)
        assert (moved.critical_calls(p_critical) == called).all()
        assert np.array_equal(moved.predict(presentations)[0], levels)
        assessed = moved.assess_presentation(MINOR)
        assert assessed.critical is called and assessed.ktas == trained.assess_presentation(MINOR).ktas


def test_threshold_catches_most_critical_patients_in_sample(
    trained: TrainedSeverity, data: tuple[list[Presentation], np.ndarray, np.ndarray]
) -> None:
    presentations, levels, _ = data
    _, p_critical, _ = trained.predict(presentations)
    # set out of fold for recall >= 0.95; in sample the refitted model can only do as well or better
    assert (p_critical[levels <= 2] >= trained.threshold).mean() >= TARGET_RECALL


def test_clear_cases(trained: TrainedSeverity) -> None:
    levels, p_critical, p_emergency = trained.predict([CRITICAL, MINOR])
    assert levels[0] <= 2 and p_critical[0] >= trained.threshold and p_emergency[0] > 0.9
    assert levels[1] >= 4 and p_critical[1] < trained.threshold and p_emergency[1] < 0.5
    assert trained.assess_presentation(CRITICAL).critical is True
    assert trained.assess_presentation(MINOR).critical is False


def test_worse_vitals_raise_the_risk(trained: TrainedSeverity) -> None:
    worse = [
        dataclasses.replace(MINOR, spo2_pct=84),
        dataclasses.replace(MINOR, sbp_mmhg=72, dbp_mmhg=40),
        dataclasses.replace(MINOR, avpu="U"),
    ]
    _, p_critical, _ = trained.predict([MINOR, *worse])
    assert (p_critical[1:] > p_critical[0]).all()


# --- assess() on live payloads --------------------------------------------------------------------------------------


def test_assess_minor_payload(trained: TrainedSeverity) -> None:
    severity = assess(vitals(**MINOR_VITALS), trained)
    assert severity == trained.assess(vitals(**MINOR_VITALS))
    assert severity.ktas >= 4 and severity.critical is False
    assert 0 <= severity.p_critical <= severity.p_emergency <= 1


def test_cardiac_arrest_flag_is_ktas_1(trained: TrainedSeverity) -> None:
    severity = trained.assess(vitals(**MINOR_VITALS, flags=CrewFlags(cardiac_arrest=True)))
    assert severity.ktas == 1 and severity.critical is True
    assert severity.reasons[0].startswith("crew: cardiac arrest")
    assert severity.crew_ktas == 1 and severity.decided_by is Decider.CREW
    assert severity.p_emergency >= severity.p_critical


@pytest.mark.parametrize("flag", ["stemi", "fast_positive", "major_trauma", "burns"])
def test_critical_crew_flags_are_at_most_ktas_2(trained: TrainedSeverity, flag: str) -> None:
    plain = trained.assess(vitals(**MINOR_VITALS))
    severity = trained.assess(vitals(**MINOR_VITALS, flags=CrewFlags(**{flag: True})))
    assert severity.ktas <= 2 and severity.critical is True
    assert severity.crew_ktas == 2 and severity.decided_by is Decider.CREW
    # the crew raises the level and the call, never the model's probabilities
    assert (severity.p_critical, severity.p_emergency) == (plain.p_critical, plain.p_emergency)
    assert severity.reasons[0].startswith("crew: ")
    assert len(severity.reasons) <= 3


def test_stemi_reason_names_it(trained: TrainedSeverity) -> None:
    severity = trained.assess(vitals(**MINOR_VITALS, flags=CrewFlags(stemi=True, cardiac_arrest=True)))
    assert severity.ktas == 1
    assert severity.reasons[0] == "crew: STEMI, cardiac arrest"


def test_other_flags_do_not_change_the_level(trained: TrainedSeverity) -> None:
    plain = trained.assess(vitals(**MINOR_VITALS))
    flagged = trained.assess(vitals(**MINOR_VITALS, flags=CrewFlags(pregnancy=True, paediatric=True)))
    assert flagged == plain


def test_hypoxic_patient_is_explained_by_spo2(trained: TrainedSeverity) -> None:
    payload = {**MINOR_VITALS, "spo2_pct": 88, "rr_per_min": 22, "injury": False, "chief_complaint": "dyspnea"}
    severity = trained.assess(vitals(**payload))
    assert any("SpO2" in reason for reason in severity.reasons), severity.reasons
    assert next(r for r in severity.reasons if "SpO2" in r).startswith("▲ SpO2 88")


def test_explanations_are_short(
    trained: TrainedSeverity, data: tuple[list[Presentation], np.ndarray, np.ndarray]
) -> None:
    presentations, _, _ = data
    for p in [CRITICAL, MINOR, Presentation(), *presentations[::25]]:
        reasons = explain(trained.model, p)
        assert len(reasons) <= 3
        for reason in reasons:
            assert reason[:2] in ("▲ ", "▼ "), reason
            assert len(reason) <= 40, reason
        assert trained.assess_presentation(p).reasons == reasons
    assert explain(trained.model, CRITICAL)[0].startswith("▲")
    assert all(r.startswith("▼") for r in explain(trained.model, MINOR))


# --- determinism and refusals ---------------------------------------------------------------------------------------


def test_training_is_deterministic(
    trained: TrainedSeverity, data: tuple[list[Presentation], np.ndarray, np.ndarray]
) -> None:
    presentations, _, _ = data
    again = train_from_file(DATA_FILE)
    assert again.metadata == trained.metadata
    assert again.threshold == trained.threshold
    for a, b in zip(again.predict(presentations), trained.predict(presentations), strict=True):
        assert np.array_equal(a, b)


def test_training_refuses_labels_missing_a_level(data: tuple[list[Presentation], np.ndarray, np.ndarray]) -> None:
    presentations, levels, _ = data
    keep = levels != 5
    with pytest.raises(ValueError, match="every KTAS level 1-5"):
        train([p for p, k in zip(presentations, keep, strict=True) if k], levels[keep])
    with pytest.raises(ValueError, match="every KTAS level 1-5"):
        SeverityModel().fit(presentations[:50], np.full(50, 3))


# --- threshold and calibration ----------------------------------------------------------------------------------


def _recall(p: np.ndarray, critical: np.ndarray, threshold: float) -> float:
    return float((p[critical] >= threshold).mean())


@settings(max_examples=300, deadline=None)
@given(
    scores=st.lists(st.floats(0, 1), min_size=1, max_size=120),
    flags=st.lists(st.booleans(), min_size=120, max_size=120),
    target=st.one_of(st.sampled_from([0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0]), st.floats(0.01, 1.0)),
)
def test_threshold_for_recall_is_the_highest_reaching_the_target(
    scores: list[float], flags: list[bool], target: float
) -> None:
    p = np.array(scores)
    critical = np.array(flags[: len(scores)])
    critical[0] = True  # at least one critical patient
    threshold = threshold_for_recall(p, critical, target)
    assert _recall(p, critical, threshold) >= target
    higher = p[critical][p[critical] > threshold]
    if higher.size:  # the next candidate up already misses the target
        assert _recall(p, critical, float(higher.min())) < target


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 200))
def test_threshold_for_recall_with_a_target_that_is_an_exact_share(data: st.DataObject, n: int) -> None:
    # target = k/n: the edge where floating point in (1 - target) * n used to pick one patient too few
    k = data.draw(st.integers(1, n))
    p = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n, unique=True)))
    critical = np.ones(n, dtype=bool)
    threshold = threshold_for_recall(p, critical, k / n)
    assert threshold == np.sort(p)[n - k]  # exactly k patients at or above it


def test_threshold_for_recall_examples() -> None:
    rng = np.random.default_rng(7)
    p = rng.random(1000)
    critical = rng.random(1000) < 0.2
    threshold = threshold_for_recall(p, critical)
    assert _recall(p, critical, threshold) >= TARGET_RECALL
    # ten critical patients, target 0.9: the second lowest score still catches nine of them
    assert threshold_for_recall(np.arange(10) / 10, np.ones(10, dtype=bool), 0.9) == 0.1
    assert threshold_for_recall(np.arange(20) / 20, np.ones(20, dtype=bool), 0.95) == 0.05
    assert threshold_for_recall(np.array([0.3, 0.7]), np.array([False, True]), 1.0) == 0.7
    with pytest.raises(ValueError, match="no critical patient"):
        threshold_for_recall(np.array([0.3, 0.7]), np.array([False, False]))


def test_platt_is_monotonic() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(500)
    outcomes = rng.random(500) < p**2  # informative but miscalibrated
    platt = Platt.fit(p, outcomes)
    assert platt.a > 0
    grid = np.linspace(0, 1, 1001)
    calibrated = platt(grid)
    assert ((calibrated >= 0) & (calibrated <= 1)).all()
    assert (np.diff(calibrated) >= 0).all()
    assert np.allclose(Platt()(np.array([0.1, 0.5, 0.9])), [0.1, 0.5, 0.9])


def test_trained_calibrations_are_increasing(trained: TrainedSeverity) -> None:
    grid = np.linspace(0, 1, 1001)
    for platt in (trained.critical_calibration, trained.emergency_calibration):
        assert platt.a > 0
        assert (np.diff(platt(grid)) >= 0).all()


# --- evaluation -------------------------------------------------------------------------------------------------


def test_evaluate_small(data: tuple[list[Presentation], np.ndarray, np.ndarray]) -> None:
    presentations, levels, nurse = data
    messages: list[str] = []
    evaluation = evaluate(presentations, levels, nurse, folds=3, repeats=1, progress=messages.append)
    assert len(messages) == 3 and messages[-1].startswith("fold 3/3")
    assert (evaluation.folds, evaluation.repeats) == (3, 1)
    assert set(evaluation.per_fold) == {"model", "news2", "nurse"}
    for method, folds in evaluation.per_fold.items():
        assert len(folds) == 3
        for metrics in folds:
            assert list(metrics) == list(METRICS)
            for name, value in metrics.items():
                if np.isnan(value):
                    assert method != "model" or name != "brier_critical"
                    continue
                low = -1.0 if name == "qwk" else 0.0
                assert low <= value <= 1.0, (method, name, value)
    for name in ("accuracy", "qwk", "under_triage", "brier_critical"):
        assert all(np.isnan(fold[name]) for fold in evaluation.per_fold["news2"]), name
    assert all(np.isnan(fold["brier_critical"]) for fold in evaluation.per_fold["nurse"])
    # the first repeat covers every patient
    assert set(evaluation.oof_levels.tolist()) <= {1, 2, 3, 4, 5}
    assert ((evaluation.oof_p_critical >= 0) & (evaluation.oof_p_critical <= evaluation.oof_p_emergency)).all()
    assert len(evaluation.thresholds) == len(evaluation.chosen_c) == 3
    # the nurse scored on the same test folds, computed directly
    splitter = RepeatedStratifiedKFold(n_splits=3, n_repeats=1, random_state=SEED)
    direct = [float(accuracy_score(levels[test], nurse[test])) for _, test in splitter.split(levels, levels)]
    assert [fold["accuracy"] for fold in evaluation.per_fold["nurse"]] == pytest.approx(direct)
    direct_recall = [float((nurse[test][levels[test] <= 2] <= 2).mean()) for _, test in splitter.split(levels, levels)]
    assert [fold["critical_recall"] for fold in evaluation.per_fold["nurse"]] == pytest.approx(direct_recall)
    mean, low, high = evaluation.summary("nurse", "accuracy")
    assert low <= mean <= high and mean == pytest.approx(np.mean(direct))
    assert all(np.isnan(v) for v in evaluation.summary("news2", "accuracy"))
    assert 0.5 < evaluation.summary("model", "auroc_critical")[0] <= 1.0


def test_assessing_a_batch_gives_each_patient_what_assessing_them_alone_gives() -> None:
    """The dispatcher assesses every vitals of a batch in one pass of the model."""
    model = train_from_file(DATA_FILE)
    flags = [CrewFlags(), CrewFlags(stemi=True), CrewFlags(cardiac_arrest=True)]
    batch = [
        Vitals.new(
            patient_id=f"P-{i:04d}",
            hr_bpm=60 + 3 * i,
            sbp_mmhg=80 + 4 * i,
            spo2_pct=88 + i % 12,
            chief_complaint=("chest pain", "fall", "fever")[i % 3],
            flags=flags[i % 3],
        )
        for i in range(30)
    ]
    together = model.assess_many(batch, explain_inputs=False)
    for vitals, severity in zip(batch, together, strict=True):
        alone = model.assess(vitals, explain_inputs=False)
        assert (severity.ktas, severity.critical) == (alone.ktas, alone.critical)
        assert severity.p_critical == pytest.approx(alone.p_critical, abs=1e-12)
    assert {s.ktas for s in together[2::3]} == {1}  # a cardiac arrest is KTAS 1 in a batch too
    assert model.assess_many([]) == []


def test_kept_complaint_shares_change_nothing_and_stay_bounded(
    trained: TrainedSeverity, data: tuple[list[Presentation], np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model keeps each complaint's share of the logits (live complaints repeat); the logits are those of
    a model that keeps nothing, the number kept is bounded, and what is kept is not saved with the model."""
    import pickle

    from dispatch.severity import model as model_module

    # complaints the vocabulary does not know are read as text (and their shares kept): one in three here
    presentations = [
        dataclasses.replace(p, complaint=f"unlisted lesion {i}") if i % 3 == 0 else p
        for i, p in enumerate(data[0][:200])
    ]
    fresh = pickle.loads(pickle.dumps(trained.model))
    assert "_text_cache" not in fresh.__dict__
    assert fresh.vectorizer_ is not None
    text = fresh.vectorizer_.transform(list(feature_matrix(presentations).text)) @ fresh.text_coef_.T
    assert abs(text[::3].toarray()).max() > 0  # the unlisted complaints do move the logits
    dense = fresh._standardised(feature_matrix(presentations)) @ fresh.dense_coef_.T
    expected = dense + text.toarray() + fresh.intercept_
    monkeypatch.setattr(model_module, "TEXT_CACHE", 50)
    for rows in (presentations[:20], presentations[:20], presentations, presentations[:20]):  # kept, or too many
        assert fresh.logits(rows) == pytest.approx(expected[: len(rows)], abs=1e-12)
        assert len(fresh.__dict__["_text_cache"]) <= 50
    assert fresh.__dict__["_text_cache"]
    assert "_text_cache" not in pickle.loads(pickle.dumps(fresh)).__dict__
