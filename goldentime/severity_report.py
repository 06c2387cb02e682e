"""``goldentime severity evaluate``: nested cross-validation of the severity model beside NEWS2
and the triage nurse, written to ``docs/severity_report.md`` with a calibration plot, and how the
model reads chief complaints in Korean and English."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from dispatch.severity.complaints import COMPLAINTS, VOCABULARY, complaint_codes
from dispatch.severity.features import Presentation, from_ktas_row, ktas_labels
from dispatch.severity.model import TrainedSeverity
from dispatch.severity.training import METRICS, Evaluation, evaluate, news2_predictions, train
from goldentime.bench.report import machine
from loaders.mimic import load_triage
from loaders.severity import KTAS_FILE, fingerprint, read_ktas

LABELS = {
    "accuracy": "5-level accuracy",
    "macro_f1": "macro-F1",
    "qwk": "quadratic weighted kappa",
    "auroc_critical": "AUROC critical (KTAS 1-2)",
    "auprc_critical": "AUPRC critical",
    "auroc_emergency": "AUROC emergency (KTAS 1-3)",
    "auprc_emergency": "AUPRC emergency",
    "critical_recall": "critical recall at the operating point",
    "critical_specificity": "critical specificity at the operating point",
    "under_triage": "under-triage rate (less urgent than the expert)",
    "brier_critical": "Brier score, p_critical",
}
GOALS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "accuracy": ("≥ 0.75", lambda v: v >= 0.75),
    "macro_f1": ("≥ 0.70", lambda v: v >= 0.70),
    "auroc_critical": ("≥ 0.92", lambda v: v >= 0.92),
    "critical_recall": ("≥ 0.95", lambda v: v >= 0.95),
    "critical_specificity": ("≥ 0.60", lambda v: v >= 0.60),
}
#: The recall at which specificity is read off each method's ROC (issue 24's goal: recall >= 0.95 at specificity
#: >= 0.60).
ROC_RECALL = 0.95


def _cell(evaluation: Evaluation, method: str, metric: str) -> str:
    mean, low, high = evaluation.summary(method, metric)
    return "n/a" if np.isnan(mean) else f"{mean:.3f} [{low:.3f}–{high:.3f}]"


def _metrics_table(evaluation: Evaluation) -> list[str]:
    lines = [
        "| metric | GoldenTime model | NEWS2 | triage nurse (KTAS_RN) | goal |",
        "|---|---|---|---|---|",
    ]
    for metric in METRICS:
        goal = ""
        if metric in GOALS:
            text, met = GOALS[metric]
            goal = f"{text}: {'met' if met(evaluation.summary('model', metric)[0]) else '**not met**'}"
        cells = " | ".join(_cell(evaluation, m, metric) for m in ("model", "news2", "nurse"))
        lines.append(f"| {LABELS[metric]} | {cells} | {goal} |")
    return lines


def _subgroups(presentations: list[Presentation], levels: np.ndarray, evaluation: Evaluation) -> list[str]:
    """Model results by sex and age band on the pooled out-of-fold predictions of the first repeat."""
    critical = levels <= 2
    call = evaluation.oof_p_critical >= np.array(evaluation.thresholds[: evaluation.folds]).mean()
    ages = np.array([p.age_years if p.age_years is not None else np.nan for p in presentations])
    groups = {
        "female": np.array([p.female is True for p in presentations]),
        "male": np.array([p.female is False for p in presentations]),
        "age < 40": ages < 40,
        "age 40-64": (ages >= 40) & (ages < 65),
        "age 65-79": (ages >= 65) & (ages < 80),
        "age ≥ 80": ages >= 80,
    }
    lines = [
        "| subgroup | patients | critical | 5-level accuracy | AUROC critical | critical recall "
        "| critical specificity |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, mask in groups.items():
        n, n_crit = int(mask.sum()), int((critical & mask).sum())
        accuracy = float((evaluation.oof_levels[mask] == levels[mask]).mean())
        both = n_crit and n_crit < n
        auroc = f"{roc_auc_score(critical[mask], evaluation.oof_p_critical[mask]):.3f}" if both else "n/a"
        recall = f"{call[mask & critical].mean():.3f}" if n_crit else "n/a"
        spec = f"{(~call[mask & ~critical]).mean():.3f}" if n - n_crit else "n/a"
        lines.append(f"| {name} | {n} | {n_crit} | {accuracy:.3f} | {auroc} | {recall} | {spec} |")
    return lines


def _confusion(levels: np.ndarray, predicted: np.ndarray) -> list[str]:
    matrix = confusion_matrix(levels, predicted, labels=[1, 2, 3, 4, 5])
    lines = ["| expert \\ model | 1 | 2 | 3 | 4 | 5 |", "|---|---|---|---|---|---|"]
    lines += [f"| **{k + 1}** | " + " | ".join(str(v) for v in row) + " |" for k, row in enumerate(matrix)]
    return lines


def _roc_curves(
    levels: np.ndarray, evaluation: Evaluation, presentations: list[Presentation], nurse: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(false-positive rate, true-positive rate) for critical (KTAS 1-2) of the model's out-of-fold p_critical
    (first repeat: every patient once), NEWS2 and the nurse's level, on the same patients."""
    critical = levels <= 2
    scores = {
        "GoldenTime p_critical (out of fold)": evaluation.oof_p_critical,
        "NEWS2": news2_predictions(presentations).critical_score,
        "triage nurse (KTAS_RN)": 6.0 - nurse,
    }
    return {name: roc_curve(critical, score)[:2] for name, score in scores.items()}


def specificity_at(fpr: np.ndarray, tpr: np.ndarray, recall: float = ROC_RECALL) -> float:
    """The best specificity of a ROC among its points with recall (TPR) >= ``recall``."""
    return float(1.0 - fpr[tpr >= recall].min())


def _roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for name, (fpr, tpr) in curves.items():
        ax.step(fpr, tpr, where="post", label=name)
    ax.axhline(ROC_RECALL, color="grey", linewidth=0.8, linestyle=":")
    ax.axvline(1 - 0.60, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("1 − specificity (non-critical called critical)")
    ax.set_ylabel("recall (critical called critical)")
    ax.set_title("ROC for KTAS 1-2, first repeat, pooled out of fold")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    lines = [
        f"![ROC]({path.name})",
        "",
        f"| method | best specificity at recall ≥ {ROC_RECALL:g} on its ROC | goal ≥ 0.60 |",
        "|---|---|---|",
    ]
    for name, (fpr, tpr) in curves.items():
        spec = specificity_at(fpr, tpr)
        lines.append(f"| {name} | {spec:.3f} | {'met' if spec >= 0.60 else 'not met'} |")
    return lines


def _calibration_plot(levels: np.ndarray, evaluation: Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    for name, probability, outcome in (
        ("p_critical (KTAS 1-2)", evaluation.oof_p_critical, levels <= 2),
        ("p_emergency (KTAS 1-3)", evaluation.oof_p_emergency, levels <= 3),
    ):
        bins = np.clip((probability * 10).astype(int), 0, 9)
        xs = [probability[bins == b].mean() for b in range(10) if (bins == b).sum() >= 5]
        ys = [outcome[bins == b].mean() for b in range(10) if (bins == b).sum() >= 5]
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xlabel("predicted probability (out of fold)")
    ax.set_ylabel("observed share")
    ax.set_title("Calibration, nested CV (first repeat)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


#: The patient of issue 24, scored with each complaint of the vocabulary in either language.
REFERENCE_PATIENT = Presentation(
    age_years=62, female=False, ambulance=True, injury=False, avpu="A", pain=True, pain_nrs=7,
    sbp_mmhg=150, dbp_mmhg=90, hr_bpm=96, rr_per_min=20, temp_c=36.8, spo2_pct=97,
)  # fmt: skip


def complaint_differences(model: TrainedSeverity, patient: Presentation = REFERENCE_PATIENT) -> np.ndarray:
    """|p_critical(term) - p_critical(English name)| for every term (names, synonyms, abbreviations) of every
    complaint of the vocabulary, with ``patient``'s other findings."""
    terms = [(c.en, term) for c in VOCABULARY for term in c.terms]
    rows = [replace(patient, complaint=text.lower()) for pair in terms for text in pair]
    _, p_critical, _ = model.probabilities(rows)
    return np.asarray(np.abs(p_critical[0::2] - p_critical[1::2]))


def _complaints(model: TrainedSeverity, presentations: list[Presentation]) -> list[str]:
    """How the development rows' complaints map to the vocabulary, and Korean against English."""
    typed = [p.complaint for p in presentations if p.complaint]
    unknown = sorted({c for c in typed if not complaint_codes(c)})
    counts = Counter(code for c in typed for code in complaint_codes(c))
    differences = complaint_differences(model)
    names = [(COMPLAINTS[code], n) for code, n in counts.most_common(12)]
    rows = [replace(REFERENCE_PATIENT, complaint=text.lower()) for c, _ in names for text in (c.ko, c.en)]
    _, p_critical, _ = model.probabilities(rows)
    p = REFERENCE_PATIENT
    lines = [
        f"{len(VOCABULARY)} complaints in the vocabulary ({sum(len(c.terms) for c in VOCABULARY)} Korean and English "
        f"terms). {len(typed) - sum(c in unknown for c in typed)} of the {len(typed)} development rows with a "
        f"complaint match at least one of them; the other complaints are read as text: "
        f"{', '.join(repr(c) for c in unknown)}.",
        "",
        f"Korean against English, the model trained on every development row, for one patient (age {p.age_years:g}, "
        f"HR {p.hr_bpm:g}, BP {p.sbp_mmhg:g}/{p.dbp_mmhg:g}, RR {p.rr_per_min:g}, SpO2 {p.spo2_pct:g} %, pain "
        f"{p.pain_nrs:g}/10, alert): the largest difference in p_critical between any term of a complaint and its "
        f"English name, over all {differences.size} terms, is **{differences.max():.4f}**.",
        "",
        "| complaint | 한국어 | English | development rows | p_critical (한국어) | p_critical (English) |",
        "|---|---|---|---|---|---|",
    ]
    for k, (c, n) in enumerate(names):
        lines.append(f"| {c.code} | {c.ko} | {c.en} | {n} | {p_critical[2 * k]:.3f} | {p_critical[2 * k + 1]:.3f} |")
    return lines


def _mimic(data_dir: Path, model: TrainedSeverity) -> str:
    try:
        mimic, esi = load_triage(data_dir)
    except FileNotFoundError:
        return "MIMIC-IV-ED demo not in the data directory: out-of-distribution check skipped."
    _, p_critical, _ = model.probabilities(mimic)
    auroc = roc_auc_score(esi <= 2, p_critical)
    return (
        f"Out-of-distribution check, **tiny and only indicative**: the model trained on all KTAS development rows "
        f"scores the MIMIC-IV-ED demo triage table ({len(esi)} stays with an acuity; US patients, ESI not KTAS, "
        f"age unknown, {int((esi <= 2).sum())} of them ESI 1-2). AUROC of p_critical for ESI 1-2: **{auroc:.3f}**."
    )


def write_report(
    data_dir: Path,
    output: Path,
    *,
    repeats: int,
    folds: int = 5,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    data_file = data_dir / KTAS_FILE
    rows = read_ktas(data_file)
    presentations = [from_ktas_row(r) for r in rows]
    levels, nurse = ktas_labels(rows), ktas_labels(rows, "KTAS_RN")
    evaluation = evaluate(presentations, levels, nurse, folds=folds, repeats=repeats, progress=progress)
    model = train(presentations, levels)
    plot = output.with_name("severity_calibration.png")
    _calibration_plot(levels, evaluation, plot)
    roc = _roc(_roc_curves(levels, evaluation, presentations, nurse), output.with_name("severity_roc.png"))
    stamp = fingerprint(data_file)
    thresholds = np.array(evaluation.thresholds)
    chosen = {c: evaluation.chosen_c.count(c) for c in sorted(set(evaluation.chosen_c))}
    lines = [
        "# Severity model: evaluation report",
        "",
        f"Written by `goldentime severity evaluate --repeats {repeats}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({machine()}); data `{KTAS_FILE}` "
        f"(SHA-256 `{stamp['data_sha256'][:16]}…`, {len(levels)} patients, KTAS 1-5 = "
        f"{' / '.join(str(int((levels == k).sum())) for k in range(1, 6))}); scikit-learn {stamp['scikit_learn']}.",
        "",
        f"**Method.** Nested cross-validation: {repeats} × stratified {folds}-fold outer splits (fixed seeds). In "
        "each outer training part the whole training procedure runs again — choice of C of the five-level model and "
        "of the monotone critical model by inner 3-fold cross-validation, Platt calibration and the operating "
        "threshold on inner out-of-fold predictions — so "
        "nothing of a test fold is seen before it is scored. NEWS2 (computed from the same rows) and the triage "
        "nurse's KTAS (`KTAS_RN`, a column never given to the model) are scored on the same test folds. Each cell: "
        f"mean over the {folds * repeats} test folds [2.5–97.5 % of the fold values]. 5-level metrics and "
        "under-triage use the model's likeliest level (the `ktas` the crew sees); AUROC, recall and specificity "
        "for critical use p_critical (a binary model monotone in the vital signs) and its critical call at the "
        "operating threshold. NEWS2 has no KTAS level; its critical call is NEWS2 ≥ 5.",
        "",
        *_metrics_table(evaluation),
        "",
        f"Operating threshold on p_critical (chosen in each training part for critical recall ≥ 0.95 on inner "
        f"out-of-fold predictions): median {np.median(thresholds):.3f}, range {thresholds.min():.3f}–"
        f"{thresholds.max():.3f}. C chosen: {', '.join(f'{c:g} ({n}×)' for c, n in chosen.items())}.",
        "",
        "## Confusion matrix (first repeat, every patient once, model's likeliest level)",
        "",
        *_confusion(levels, evaluation.oof_levels),
        "",
        "## Calibration",
        "",
        f"![calibration plot]({plot.name})",
        "",
        "## ROC for critical patients, beside NEWS2 and the nurse",
        "",
        *roc,
        "",
        "## Subgroups (first repeat, pooled out-of-fold)",
        "",
        *_subgroups(presentations, levels, evaluation),
        "",
        "## Chief complaints in Korean and English",
        "",
        *_complaints(model, presentations),
        "",
        "## Out of distribution",
        "",
        _mimic(data_dir, model),
        "",
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines), encoding="utf-8")
    return evaluation
