"""The severity report's ROC reading: the best specificity at the goal's recall, off a method's own ROC."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve

from goldentime.severity_report import GOALS, specificity_at


def test_specificity_at_recall_reads_the_best_point_that_reaches_the_recall() -> None:
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
    score = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.3, 0.1, 0.05, 0.01])
    fpr, tpr = roc_curve(truth, score)[:2]
    assert specificity_at(fpr, tpr, 0.75) == 1.0  # three of four critical at 0.7 and above, no false positive
    assert specificity_at(fpr, tpr, 1.0) == 0.6  # all four: down to 0.2, two false positives (0.6, 0.3) of five
    assert specificity_at(fpr, tpr, 0.0) == 1.0


def test_a_perfect_ranking_keeps_all_specificity_at_any_recall() -> None:
    fpr, tpr = roc_curve([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])[:2]
    assert specificity_at(fpr, tpr, 0.95) == 1.0


def test_the_goals_are_the_issues() -> None:
    """Issue 24: accuracy >= 0.75, macro-F1 >= 0.70, AUROC >= 0.92, recall >= 0.95 at specificity >= 0.60."""
    assert {k: v[0] for k, v in GOALS.items()} == {
        "accuracy": "≥ 0.75",
        "macro_f1": "≥ 0.70",
        "auroc_critical": "≥ 0.92",
        "critical_recall": "≥ 0.95",
        "critical_specificity": "≥ 0.60",
    }
    assert GOALS["critical_specificity"][1](0.60) and not GOALS["critical_specificity"][1](0.59)
