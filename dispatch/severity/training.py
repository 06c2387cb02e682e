"""Training and honest evaluation of the severity model.

- :func:`train` chooses the regularisation ``C`` of the five-level model and of the monotone
  critical model (:mod:`dispatch.severity.critical`) by stratified cross-validation log-loss on
  the training rows, fits Platt calibration of p_critical and p_emergency on the out-of-fold
  predictions of the chosen models, sets the operating threshold on those calibrated
  out-of-fold probabilities (the highest threshold that still catches ``target_recall`` of
  the critical patients), and refits on all rows. The chief complaint enters through the
  bilingual vocabulary's codes (:mod:`dispatch.severity.complaints`), so a model trained on the
  English complaints of the KTAS data scores Korean ones alike.
- :func:`evaluate` runs that whole procedure inside repeated stratified K-fold (nested
  cross-validation: nothing of a test fold is seen by model choice, calibration or
  threshold) and scores the model, NEWS2 and the triage nurse on the same test folds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    cohen_kappa_score,
    f1_score,
    roc_auc_score,
)
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

from dispatch.severity.critical import MonotoneCritical
from dispatch.severity.features import FEATURES_VERSION, Presentation, news2_score
from dispatch.severity.model import Platt, SeverityModel, TrainedSeverity

C_GRID = (1.0, 3.0, 10.0)
CRITICAL_C_GRID = (0.1, 0.3, 1.0, 3.0)
TARGET_RECALL = 0.95
SEED = 20191016  # fixed: every split and every fit is reproducible


def _oof_proba(
    presentations: Sequence[Presentation], levels: np.ndarray, c: float, folds: int, seed: int
) -> np.ndarray:
    """Out-of-fold class probabilities of SeverityModel(C=c)."""
    proba = np.zeros((len(levels), 5))
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(levels, levels):
        model = SeverityModel(C=c).fit([presentations[i] for i in train_idx], levels[train_idx])
        proba[test_idx] = model.predict_proba([presentations[i] for i in test_idx])
    return proba


def _oof_critical(
    presentations: Sequence[Presentation], levels: np.ndarray, c: float, folds: int, seed: int
) -> np.ndarray:
    """Out-of-fold P(KTAS 1-2) of MonotoneCritical(C=c), on the same folds as :func:`_oof_proba`."""
    found = np.zeros(len(levels))
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(levels, levels):
        model = MonotoneCritical(C=c).fit([presentations[i] for i in train_idx], levels[train_idx])
        found[test_idx] = model.probability([presentations[i] for i in test_idx])
    return found


def _binary_log_loss(p: np.ndarray, outcome: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(np.where(outcome, np.log(p), np.log(1 - p))))


def _log_loss(proba: np.ndarray, levels: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(levels)), levels - 1], 1e-12, None))))


def threshold_for_recall(p_critical: np.ndarray, critical: np.ndarray, target: float = TARGET_RECALL) -> float:
    """The highest threshold t with recall(p >= t) >= target among the critical patients."""
    scores = np.sort(p_critical[critical.astype(bool)])
    if scores.size == 0:
        raise ValueError("no critical patient to set a threshold on")
    return float(scores[np.flatnonzero(np.arange(scores.size, 0, -1) / scores.size >= target).max()])


def train(
    presentations: Sequence[Presentation],
    levels: np.ndarray,
    *,
    folds: int = 5,
    seed: int = SEED,
    c_grid: Sequence[float] = C_GRID,
    critical_c_grid: Sequence[float] = CRITICAL_C_GRID,
    target_recall: float = TARGET_RECALL,
) -> TrainedSeverity:
    """Choose C, calibrate, set the threshold and fit on all rows (see the module docstring)."""
    scored = {c: _oof_proba(presentations, levels, c, folds, seed) for c in c_grid}
    losses = {c: _log_loss(p, levels) for c, p in scored.items()}
    best = min(c_grid, key=lambda c: (losses[c], c))
    oof = scored[best]
    critical, emergency = levels <= 2, levels <= 3
    binary = {c: _oof_critical(presentations, levels, c, folds, seed) for c in critical_c_grid}
    binary_losses = {c: _binary_log_loss(p, critical) for c, p in binary.items()}
    best_critical = min(critical_c_grid, key=lambda c: (binary_losses[c], c))
    crit_cal = Platt.fit(binary[best_critical], critical)
    emer_cal = Platt.fit(oof[:, :3].sum(axis=1), emergency)
    threshold = threshold_for_recall(crit_cal(binary[best_critical]), critical, target_recall)
    model = SeverityModel(C=best).fit(list(presentations), levels)
    critical_model = MonotoneCritical(C=best_critical).fit(list(presentations), levels)
    metadata = {
        "C": best,
        "cv_log_loss": {str(c): round(v, 4) for c, v in losses.items()},
        "critical_C": best_critical,
        "critical_cv_log_loss": {str(c): round(v, 4) for c, v in binary_losses.items()},
        "threshold": threshold,
        "target_recall": target_recall,
        "folds": folds,
        "seed": seed,
        "features": FEATURES_VERSION,  # inputs, with the complaint vocabulary's checksum
    }
    return TrainedSeverity(model, critical_model, crit_cal, emer_cal, threshold, metadata)


# --- metrics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Predictions:
    """What a triage method says about some patients: a level, and a critical/emergency score
    (a probability for the model; an ordinal score for NEWS2 and the nurse)."""

    levels: np.ndarray | None  # 5-level call (the model's likeliest level: what the crew sees); None for NEWS2
    critical_score: np.ndarray
    emergency_score: np.ndarray
    critical_call: np.ndarray  # the method's yes/no for "critical" (the model: at its operating threshold)
    probabilities: bool  # scores are calibrated probabilities (Brier applies)


METRICS = (
    "accuracy",
    "macro_f1",
    "qwk",
    "auroc_critical",
    "auprc_critical",
    "auroc_emergency",
    "auprc_emergency",
    "critical_recall",
    "critical_specificity",
    "under_triage",
    "brier_critical",
)


def score(truth: np.ndarray, predicted: Predictions) -> dict[str, float]:
    """Every metric of the report for one set of predictions (NaN where it does not apply)."""
    critical, emergency = truth <= 2, truth <= 3
    call = predicted.critical_call.astype(bool)
    nan = float("nan")
    out = {
        "auroc_critical": float(roc_auc_score(critical, predicted.critical_score)),
        "auprc_critical": float(average_precision_score(critical, predicted.critical_score)),
        "auroc_emergency": float(roc_auc_score(emergency, predicted.emergency_score)),
        "auprc_emergency": float(average_precision_score(emergency, predicted.emergency_score)),
        "critical_recall": float(call[critical].mean()),
        "critical_specificity": float((~call[~critical]).mean()),
        "brier_critical": float(brier_score_loss(critical, predicted.critical_score))
        if predicted.probabilities
        else nan,
    }
    if predicted.levels is None:
        out |= {"accuracy": nan, "macro_f1": nan, "qwk": nan, "under_triage": nan}
    else:
        levels = predicted.levels
        out |= {
            "accuracy": float(accuracy_score(truth, levels)),
            "macro_f1": float(f1_score(truth, levels, average="macro", labels=[1, 2, 3, 4, 5], zero_division=0)),
            "qwk": float(cohen_kappa_score(truth, levels, weights="quadratic", labels=[1, 2, 3, 4, 5])),
            # under-triage: the level shown less urgent than the expert reference (a higher KTAS number); the
            # critical call that the router holds patients to is scored by critical recall
            "under_triage": float((levels > truth).mean()),
        }
    return {name: out[name] for name in METRICS}


#: NEWS2 >= 5 is the RCP's "medium" clinical risk: the urgent-response trigger.
NEWS2_CRITICAL = 5


def news2_predictions(presentations: Sequence[Presentation]) -> Predictions:
    scores = np.array([news2_score(p) for p in presentations], dtype=np.float64)
    return Predictions(None, scores, scores, scores >= NEWS2_CRITICAL, probabilities=False)


def nurse_predictions(nurse_levels: np.ndarray) -> Predictions:
    urgency = 6.0 - nurse_levels  # KTAS 1 most urgent -> highest score
    return Predictions(nurse_levels, urgency, urgency, nurse_levels <= 2, probabilities=False)


def model_predictions(model: TrainedSeverity, presentations: Sequence[Presentation]) -> Predictions:
    levels, p_critical, p_emergency = model.predict(presentations)
    return Predictions(levels, p_critical, p_emergency, model.critical_calls(p_critical), probabilities=True)


# --- nested cross-validation ----------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Per-fold metrics of each method over repeated stratified K-fold, plus pooled
    out-of-fold model outputs of the first repeat (for the confusion matrix and calibration)."""

    folds: int
    repeats: int
    per_fold: dict[str, list[dict[str, float]]]  # method -> one metrics dict per test fold
    oof_levels: np.ndarray  # first repeat: model level per patient
    oof_p_critical: np.ndarray
    oof_p_emergency: np.ndarray
    thresholds: list[float]
    chosen_c: list[float]

    def summary(self, method: str, metric: str) -> tuple[float, float, float]:
        """Mean and the 2.5-97.5 % range over test folds."""
        values = np.array([fold[metric] for fold in self.per_fold[method]])
        if np.isnan(values).all():
            return (float("nan"),) * 3
        return float(np.nanmean(values)), float(np.nanpercentile(values, 2.5)), float(np.nanpercentile(values, 97.5))


def evaluate(
    presentations: Sequence[Presentation],
    levels: np.ndarray,
    nurse_levels: np.ndarray,
    *,
    folds: int = 5,
    repeats: int = 5,
    inner_folds: int = 3,
    seed: int = SEED,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Nested, repeated stratified cross-validation of the whole training procedure."""
    per_fold: dict[str, list[dict[str, float]]] = {"model": [], "news2": [], "nurse": []}
    n = len(levels)
    oof_levels, oof_crit, oof_emer = np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(n)
    thresholds, chosen = [], []
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    news2_all = news2_predictions(presentations)
    for k, (train_idx, test_idx) in enumerate(splitter.split(levels, levels)):
        train_rows = [presentations[i] for i in train_idx]
        test_rows = [presentations[i] for i in test_idx]
        model = train(train_rows, levels[train_idx], folds=inner_folds, seed=seed + k)
        predicted = model_predictions(model, test_rows)
        truth = levels[test_idx]
        per_fold["model"].append(score(truth, predicted))
        per_fold["news2"].append(score(truth, _subset(news2_all, test_idx)))
        per_fold["nurse"].append(score(truth, nurse_predictions(nurse_levels[test_idx])))
        thresholds.append(model.threshold)
        chosen.append(float(model.metadata["C"]))
        if k < folds:  # the first repeat covers every patient once
            assert predicted.levels is not None
            oof_levels[test_idx] = predicted.levels
            oof_crit[test_idx] = predicted.critical_score
            oof_emer[test_idx] = predicted.emergency_score
        if progress:
            progress(f"fold {k + 1}/{folds * repeats}: accuracy {per_fold['model'][-1]['accuracy']:.3f}")
    return Evaluation(folds, repeats, per_fold, oof_levels, oof_crit, oof_emer, thresholds, chosen)


def _subset(predictions: Predictions, idx: np.ndarray) -> Predictions:
    return Predictions(
        None if predictions.levels is None else predictions.levels[idx],
        predictions.critical_score[idx],
        predictions.emergency_score[idx],
        predictions.critical_call[idx],
        predictions.probabilities,
    )
