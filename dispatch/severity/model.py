"""The severity model: multinomial logistic regression on vital signs, KTAS modifiers, the chief
complaint's codes of the bilingual vocabulary (and character n-grams of a complaint the vocabulary
does not know) for the likeliest level and p_emergency; a binary model monotone in the vital signs
(:mod:`dispatch.severity.critical`) for p_critical; calibration; an operating threshold for critical
patients; and a per-patient explanation.

Linear models on purpose: they score one patient in well under a millisecond, their contributions
explain themselves, and on 1,014 patients neither gradient boosting nor ordinal models did better
in nested cross-validation (see docs/model_card.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from dispatch.errors import DispatchError
from dispatch.pathways import FLAG_FLOORS, FLAG_PATHWAYS, PATHWAYS, flags_set
from dispatch.severity.critical import MonotoneCritical
from dispatch.severity.features import (
    FEATURES_VERSION,
    MEASURED,
    NUMERIC,
    FeatureMatrix,
    Presentation,
    feature_matrix,
    from_vitals,
)
from telemetry.schemas import Decider, Vitals

LEVELS = (1, 2, 3, 4, 5)
#: Complaints whose share of the logits a model keeps (see SeverityModel._text_logits): a few MB at most.
TEXT_CACHE = 10_000


class StaleModelError(DispatchError, ValueError):
    """A saved severity model whose inputs are not those this code builds (see :class:`SeverityModel`)."""


class SeverityModel:
    """scikit-learn style estimator: ``fit(presentations, levels)``, ``predict_proba``.

    Numeric inputs are imputed with the training median plus a "not measured" indicator,
    standardised, and joined with one-hot KTAS modifiers, complaint-code indicators and TF-IDF
    character n-grams of a complaint the vocabulary does not know.

    A fitted model remembers the version of the inputs it was fitted on (``features_version_``)
    and refuses to be unpickled by code whose inputs differ (:class:`StaleModelError`), so a
    model saved before the features changed is trained again rather than fed the wrong columns."""

    def __init__(self, C: float = 3.0, ngram_range: tuple[int, int] = (2, 4), min_df: int = 2) -> None:  # noqa: N803
        self.C = C
        self.ngram_range = ngram_range
        self.min_df = min_df

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"C": self.C, "ngram_range": self.ngram_range, "min_df": self.min_df}

    # --- fitting ---------------------------------------------------------------------

    def fit(self, presentations: Sequence[Presentation], levels: np.ndarray) -> SeverityModel:
        if sorted(set(int(v) for v in levels)) != list(LEVELS):
            raise ValueError("training needs patients of every KTAS level 1-5")
        features = feature_matrix(presentations)
        medians = np.nanmedian(np.where(np.isnan(features.numeric).all(axis=0), 0.0, features.numeric), axis=0)
        self.medians_ = np.nan_to_num(medians)
        self.measured_ = np.array([NUMERIC.index(name) for name in MEASURED])
        dense = self._dense_raw(features)
        self.mean_ = dense.mean(axis=0)
        scale = dense.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        # complaint indicators enter as they are (0/1), like the text features: standardised, a code seen in
        # two of a thousand patients would be scaled up twentyfold and escape the regularisation
        codes = slice(dense.shape[1] - features.complaint_codes.shape[1], None)
        self.mean_[codes], self.scale_[codes] = 0.0, 1.0
        self.vectorizer_: TfidfVectorizer | None = TfidfVectorizer(
            analyzer="char_wb", ngram_range=self.ngram_range, min_df=self.min_df, sublinear_tf=True
        )
        analyse = self.vectorizer_.build_analyzer()
        rows_with = Counter(gram for complaint in features.text for gram in set(analyse(complaint)))
        if max(rows_with.values(), default=0) >= self.min_df:
            text = self.vectorizer_.fit_transform(features.text)
        else:  # no n-gram in min_df rows: the vocabulary knows (nearly) every complaint of these rows
            self.vectorizer_ = None
            text = sparse.csr_matrix((len(levels), 0))
        design = sparse.hstack([(dense - self.mean_) / self.scale_, text])
        self.lr_ = LogisticRegression(C=self.C, max_iter=5000).fit(design.tocsr(), levels)
        self.features_version_ = FEATURES_VERSION
        self.n_dense_ = dense.shape[1]
        self.dense_coef_ = self.lr_.coef_[:, : self.n_dense_]
        self.text_coef_ = sparse.csr_matrix(self.lr_.coef_[:, self.n_dense_ :])
        self.intercept_ = self.lr_.intercept_
        return self

    def _dense_raw(self, features: FeatureMatrix) -> np.ndarray:
        numeric = features.numeric
        missing = np.isnan(numeric[:, self.measured_]).astype(np.float64)
        imputed = np.where(np.isnan(numeric), self.medians_, numeric)
        return np.asarray(np.hstack([imputed, missing, features.one_hot, features.complaint_codes]))

    # --- predicting ------------------------------------------------------------------

    def _standardised(self, features: FeatureMatrix) -> np.ndarray:
        return np.asarray((self._dense_raw(features) - self.mean_) / self.scale_)

    def logits(self, presentations: Sequence[Presentation]) -> np.ndarray:
        features = feature_matrix(presentations)
        return np.asarray(
            self._standardised(features) @ self.dense_coef_.T + self._text_logits(features.text) + self.intercept_
        )

    def _text_logits(self, complaints: Sequence[str]) -> np.ndarray:
        """The complaints' share of the logits, (n, classes). Live complaints repeat (a crew sends the same one
        with every vitals set), and the vectorizer's fixed cost per call is most of a small batch's scoring: so
        each complaint's share is computed once and kept, for at most TEXT_CACHE complaints."""
        if self.vectorizer_ is None:
            return np.zeros((len(complaints), len(self.intercept_)))
        cache: dict[str, np.ndarray] = self.__dict__.setdefault("_text_cache", {})
        new = sorted({c for c in complaints if c not in cache})
        found = {}
        if new:
            found = dict(zip(new, (self.vectorizer_.transform(new) @ self.text_coef_.T).toarray(), strict=True))
        shares = np.array([found[c] if c in found else cache[c] for c in complaints]).reshape(len(complaints), -1)
        if len(cache) + len(found) > TEXT_CACHE:
            cache.clear()
        if len(found) <= TEXT_CACHE:
            cache.update(found)
        return shares

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_text_cache"}  # the cache is not saved

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "lr_" in state and state.get("features_version_") != FEATURES_VERSION:
            raise StaleModelError(
                f"severity model fitted on inputs {state.get('features_version_', '1')!r}, "
                f"this code builds {FEATURES_VERSION!r}: train it again"
            )
        self.__dict__.update(state)

    def predict_proba(self, presentations: Sequence[Presentation]) -> np.ndarray:
        z = self.logits(presentations)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class Platt:
    """Sigmoid recalibration of a probability: p' = 1 / (1 + exp(-(a·logit(p) + b)))."""

    a: float = 1.0
    b: float = 0.0

    @classmethod
    def fit(cls, probabilities: np.ndarray, outcomes: np.ndarray) -> Platt:
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(probabilities)[:, None], outcomes.astype(int))
        return cls(float(lr.coef_[0, 0]), float(lr.intercept_[0]))

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-(self.a * _logit(probabilities) + self.b))))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(p / (1 - p)))


@dataclass(frozen=True)
class Severity:
    """How sick the patient is (R-LEVEL, R-CREW in docs/clinical_rules.md).

    ``ktas`` is the model's likeliest level, or the crew's if theirs is more urgent (their Pre-KTAS, or the
    floor of a crew flag); ``critical`` is the recall-first call the router holds the patient to (calibrated
    p_critical at or above the operating threshold, or the crew's grade 1-2); the probabilities are the
    model's, never raised by the crew; ``decided_by`` says whose judgement set the urgency."""

    ktas: int
    p_critical: float
    p_emergency: float
    reasons: tuple[str, ...]
    critical: bool
    crew_ktas: int | None = None  # the crew's grade: Pre-KTAS or a flag's floor, the more urgent (None: none)
    decided_by: Decider = Decider.MODEL


def crew_grade(pre_ktas: int | None, flags: Sequence[str]) -> int | None:
    """The most urgent of the crew's Pre-KTAS and the floors of its flags (None when the crew graded nothing)."""
    grades = [FLAG_FLOORS[f] for f in flags if f in FLAG_FLOORS]
    if pre_ktas is not None:
        grades.append(pre_ktas)
    return min(grades, default=None)


def combine(model_ktas: int, model_critical: bool, crew: int | None) -> tuple[int, bool, Decider]:
    """R-CREW: the crew can raise urgency, never be overruled downward by the model. (level, critical, who decided)."""
    if crew is None:
        return model_ktas, model_critical, Decider.MODEL
    critical = model_critical or crew <= 2
    raised = crew < model_ktas or critical != model_critical
    return min(model_ktas, crew), critical, Decider.CREW if raised else Decider.MODEL


class Scorer(Protocol):
    """What the decision engine scores vitals with: a :class:`TrainedSeverity`, or a simulator's
    out-of-fold assessments (``simulations.patients.OutOfFold``)."""

    def assess_many(self, vitals: Sequence[Vitals], *, explain_inputs: bool = True) -> list[Severity]: ...


@dataclass(frozen=True)
class TrainedSeverity:
    """A fitted model with its calibration and operating threshold: what ``assess`` uses."""

    model: SeverityModel
    critical_model: MonotoneCritical  # p_critical, monotone in the vital signs (R-LEVEL)
    critical_calibration: Platt
    emergency_calibration: Platt
    threshold: float  # on calibrated p_critical, chosen for critical recall >= target
    metadata: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, presentations: Sequence[Presentation]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Class probabilities (n, 5) of the five-level model, calibrated p_critical of the monotone critical model,
        and calibrated p_emergency (never below p_critical)."""
        proba = self.model.predict_proba(presentations)
        p_critical = self.critical_calibration(self.critical_model.probability(presentations))
        p_emergency = np.maximum(self.emergency_calibration(proba[:, :3].sum(axis=1)), p_critical)
        return proba, p_critical, p_emergency

    def critical_calls(self, p_critical: np.ndarray) -> np.ndarray:
        """The recall-first critical call: calibrated p_critical at or above the operating threshold."""
        return np.asarray(p_critical >= self.threshold)

    def predict(self, presentations: Sequence[Presentation]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(likeliest levels, p_critical, p_emergency) for several presentations."""
        proba, p_critical, p_emergency = self.probabilities(presentations)
        return likeliest(proba), p_critical, p_emergency

    def assess_presentation(
        self,
        presentation: Presentation,
        flags: Sequence[str] = (),
        pre_ktas: int | None = None,
        *,
        explain_inputs: bool = True,
    ) -> Severity:
        return self.assess_presentations([presentation], [flags], [pre_ktas], explain_inputs=explain_inputs)[0]

    def assess_presentations(
        self,
        presentations: Sequence[Presentation],
        flags: Sequence[Sequence[str]],
        pre_ktas: Sequence[int | None] | None = None,
        *,
        explain_inputs: bool = True,
    ) -> list[Severity]:
        """Severity of several presentations with one pass of the model (a batch costs about what one
        row costs: the model's fixed overhead dominates), each with its crew's grade applied (R-CREW)."""
        if not presentations:
            return []
        proba, p_crit, p_emer = self.probabilities(presentations)
        levels, calls = likeliest(proba), self.critical_calls(p_crit)
        grades = [None] * len(presentations) if pre_ktas is None else pre_ktas
        found = []
        for k, (presentation, own, graded) in enumerate(zip(presentations, flags, grades, strict=True)):
            crew = crew_grade(graded, own)
            ktas, critical, decider = combine(int(levels[k]), bool(calls[k]), crew)
            reasons = list(explain(self.model, presentation)) if explain_inputs else []
            if decider is Decider.CREW:
                reasons.insert(0, _crew_words(graded, own))
            found.append(
                Severity(ktas, float(p_crit[k]), float(p_emer[k]), tuple(reasons[:3]), critical, crew, decider)
            )
        return found

    def assess(self, vitals: Vitals, *, explain_inputs: bool = True) -> Severity:
        """Severity of a live ``ems.vitals/1`` payload."""
        return self.assess_many([vitals], explain_inputs=explain_inputs)[0]

    def assess_many(self, vitals: Sequence[Vitals], *, explain_inputs: bool = True) -> list[Severity]:
        """Severity of several live ``ems.vitals/1`` payloads at once (the dispatcher's batches)."""
        flags = [[name for name in flags_set(v.flags) if name in FLAG_FLOORS] for v in vitals]
        return self.assess_presentations(
            [from_vitals(v) for v in vitals], flags, [v.pre_ktas for v in vitals], explain_inputs=explain_inputs
        )


def likeliest(proba: np.ndarray) -> np.ndarray:
    """The likeliest KTAS level of each row of class probabilities (n, 5)."""
    return np.asarray(1 + np.argmax(proba, axis=1))


def _crew_words(pre_ktas: int | None, flags: Sequence[str]) -> str:
    """The crew's grade in the model's (English) reasons: its Pre-KTAS and its flags' pathways (dispatch.pathways)."""
    said = [f"Pre-KTAS {pre_ktas}"] if pre_ktas is not None else []
    said += [PATHWAYS[FLAG_PATHWAYS[f]].name[1] for f in flags]
    return "crew: " + ", ".join(said)


def assess(vitals: Vitals, model: TrainedSeverity) -> Severity:
    """``assess(vitals) -> Severity(ktas, p_critical, p_emergency, reasons)`` with a trained model."""
    return model.assess(vitals)


# --- explanations -------------------------------------------------------------------------------

#: What each input is compared with: an unremarkable adult's value. An input "pushed the level
#: up" when putting this reference in its place makes the patient look less urgent.
_REFERENCE: dict[str, dict[str, Any]] = {
    "SpO2": {"spo2_pct": 98.0},
    "blood pressure": {"sbp_mmhg": 125.0, "dbp_mmhg": 80.0},
    "heart rate": {"hr_bpm": 80.0},
    "breathing": {"rr_per_min": 16.0},
    "temperature": {"temp_c": 36.8},
    "consciousness": {"avpu": "A"},
    "pain": {"pain": False, "pain_nrs": 0.0},
    "age": {"age_years": 45.0},
    "injury": {"injury": False},
    "complaint": {"complaint": ""},
}


def _fmt(value: float | None, unit: str = "") -> str:
    return "not measured" if value is None else f"{value:g}{unit}"


def _describe(group: str, p: Presentation) -> str:
    if group == "blood pressure":
        return "BP not measurable" if p.sbp_mmhg is None else f"BP {p.sbp_mmhg:g}/{_fmt(p.dbp_mmhg)}"
    if group == "consciousness":
        return {"A": "alert", "V": "responds to voice", "P": "responds to pain", "U": "unresponsive"}.get(
            p.avpu or "", "consciousness not assessed"
        )
    if group == "pain":
        return "no pain" if not p.pain_nrs else f"pain {p.pain_nrs:g}/10"
    if group == "complaint":
        return f"'{p.complaint[:30]}'"
    if group == "injury":
        return "injury"
    labels = {"SpO2": ("SpO2", p.spo2_pct, " %"), "heart rate": ("HR", p.hr_bpm, ""),
              "breathing": ("RR", p.rr_per_min, ""), "temperature": ("temp", p.temp_c, " °C"),
              "age": ("age", p.age_years, "")}  # fmt: skip
    name, value, unit = labels[group]
    return f"{name} {_fmt(value, unit)}"


def urgency(proba: np.ndarray) -> np.ndarray:
    """An ordinal urgency score per row: the mean of logit P(KTAS <= k) over k = 1..4. Unlike
    a probability it does not saturate, so it still moves for a patient who is clearly critical."""
    cumulative = np.clip(np.cumsum(proba, axis=1)[:, :4], 1e-9, 1 - 1e-9)
    return np.asarray(np.log(cumulative / (1 - cumulative)).mean(axis=1))


def explain(model: SeverityModel, presentation: Presentation, top: int = 3) -> tuple[str, ...]:
    """The inputs that made this patient more urgent (▲) or less urgent (▼) than an unremarkable
    adult, largest first, a few words each: ("▲ SpO2 86 %", "▲ 'mental change'", "▼ age 24").

    Each measured input is replaced in turn by its reference value (``_REFERENCE``), everything
    derived from it recomputed, and the change of :func:`urgency` measured; changes below 0.3
    are not mentioned. Unmeasured inputs are not explained, except a blood pressure that could
    not be measured, which is itself a warning sign."""
    changed = {
        group: replace(presentation, **values)
        for group, values in _REFERENCE.items()
        if any(getattr(presentation, k) != v for k, v in values.items())
        and all(getattr(presentation, k) is not None for k in values if group != "blood pressure")
        and not (group == "complaint" and not presentation.complaint)
    }
    score = urgency(model.predict_proba([presentation, *changed.values()]))
    effects = {group: float(score[0] - s) for group, s in zip(changed, score[1:], strict=True)}
    ranked = sorted((item for item in effects.items() if abs(item[1]) >= 0.3), key=lambda item: -abs(item[1]))
    return tuple(f"{'▲' if effect > 0 else '▼'} {_describe(group, presentation)}" for group, effect in ranked[:top])
