"""p_critical that is monotone where medicine is (R-LEVEL): a binary model of KTAS 1-2 against 3-5.

The five-level model (:class:`dispatch.severity.model.SeverityModel`) gives the likeliest level, but its
P(KTAS 1-2) is a softmax sum and not monotone in the vital signs: a lower SpO2 could lower it (by up to 0.73
for some patients of the development data), a worse AVPU by up to 0.53, a faster tachycardia for a fifth of
patients. So p_critical comes from this model instead: a logistic regression of critical against not, with L2
regularisation, whose coefficients on the *badness* inputs are bounded to be non-negative (fitted with
L-BFGS-B). Each badness input grows with how bad a sign is and is 0 when the sign is normal or not measured:

- hypoxia max(0, 94 − SpO2), hypotension max(0, 100 − SBP), tachycardia max(0, HR − 100), bradycardia
  max(0, 50 − HR), tachypnoea max(0, RR − 20), bradypnoea max(0, 10 − RR), fever max(0, T − 38), hypothermia
  max(0, 35.5 − T);
- consciousness A/V/P/U as 0-3 and as the steps "V or worse", "P or worse";
- the KTAS first-order vital-sign modifier as the steps "level 3 or worse", "2 or worse", "1"
  (:func:`~dispatch.severity.features.vital_level`, which worse signs never raise);
- severe central pain (the KTAS pain modifier's level 2).

So p_critical can only rise when any of them rises: monotone by construction, whatever the data. The other
inputs are free: age (and bands), sex, injury, arrival by ambulance, "not measured" indicators (not SpO2's:
its absence names one of the two hospitals), and the complaint codes of the bilingual vocabulary, as 0/1.

Measured against the five-level model's P(KTAS 1-2) by nested cross-validation (docs/model_card.md): the same
discrimination within noise, and monotone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

from dispatch.severity.features import COMPLAINT_NAMES, Presentation, feature_matrix, pain_level, vital_level

#: Ages imputed when unknown: the development data's median adult.
_AGE = 54.0


def _over(value: float | None, limit: float) -> float:
    return 0.0 if value is None else max(0.0, value - limit)


def _under(value: float | None, limit: float) -> float:
    return 0.0 if value is None else max(0.0, limit - value)


def badness(p: Presentation) -> list[float]:
    """The constrained inputs (module docstring), each non-decreasing in how bad a sign is."""
    level = vital_level(p)
    avpu = "AVPU".index(p.avpu) if p.avpu in ("A", "V", "P", "U") else 0
    return [
        _under(p.spo2_pct, 94.0),
        _under(p.sbp_mmhg, 100.0),
        _over(p.hr_bpm, 100.0),
        _under(p.hr_bpm, 50.0),
        _over(p.rr_per_min, 20.0),
        _under(p.rr_per_min, 10.0),
        _over(p.temp_c, 38.0),
        _under(p.temp_c, 35.5),
        float(avpu),
        float(avpu >= 1),
        float(avpu >= 2),
        float(level <= 3),
        float(level <= 2),
        float(level <= 1),
        float(pain_level(p) == "2"),
    ]


BADNESS = (
    "hypoxia", "hypotension", "tachycardia", "bradycardia", "tachypnoea", "bradypnoea", "fever", "hypothermia",
    "avpu", "avpu>=V", "avpu>=P", "vital_level<=3", "vital_level<=2", "vital_level<=1", "severe_central_pain",
)  # fmt: skip


def free(p: Presentation) -> list[float]:
    """The unconstrained inputs, except the complaint codes."""
    age = p.age_years
    return [
        _AGE if age is None else age,
        float(age is None),
        float(age is not None and age >= 65),
        float(age is not None and age >= 80),
        float(bool(p.female)),
        float(bool(p.injury)),
        float(p.ambulance),
        float(p.sbp_mmhg is None),
        float(p.dbp_mmhg is None),
        float(p.hr_bpm is None),
        float(p.rr_per_min is None),
        float(p.temp_c is None),
        float(pain_level(p) == "unknown"),
        float(p.avpu is None),
    ]


def design(presentations: Sequence[Presentation]) -> np.ndarray:
    """The inputs of several presentations: badness, free, complaint codes (n, columns)."""
    codes = feature_matrix(presentations).complaint_codes
    rows = np.array([badness(p) + free(p) for p in presentations], dtype=np.float64).reshape(len(presentations), -1)
    return np.hstack([rows, codes])


class MonotoneCritical:
    """Binary logistic regression of KTAS 1-2, coefficients of the badness inputs >= 0 (see the module docstring).

    ``C`` is scikit-learn's convention (inverse L2 strength on standardised inputs; complaint codes stay 0/1)."""

    def __init__(self, C: float = 1.0) -> None:  # noqa: N803
        self.C = C

    def fit(self, presentations: Sequence[Presentation], levels: np.ndarray) -> MonotoneCritical:
        x = design(presentations)
        y = (np.asarray(levels) <= 2).astype(np.float64)
        if y.min() == y.max():
            raise ValueError("training needs critical and non-critical patients")
        n_bad, n_dense = len(BADNESS), x.shape[1] - len(COMPLAINT_NAMES)
        mean = np.where(np.arange(x.shape[1]) < n_dense, x.mean(axis=0), 0.0)
        spread = x.std(axis=0)
        scale = np.where((np.arange(x.shape[1]) >= n_dense) | (spread == 0), 1.0, spread)
        z = (x - mean) / scale
        d = z.shape[1]

        def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
            t = z @ w[:d] + w[d]
            loss = float(np.sum(np.logaddexp(0.0, t) - y * t)) + 0.5 / self.C * float(w[:d] @ w[:d])
            r = 0.5 * (1.0 + np.tanh(0.5 * t)) - y  # sigmoid(t) - y, without overflow
            return loss, np.r_[z.T @ r + w[:d] / self.C, r.sum()]

        bounds = [(0.0, None)] * n_bad + [(None, None)] * (d - n_bad + 1)
        found = minimize(objective, np.zeros(d + 1), jac=True, method="L-BFGS-B", bounds=bounds,
                         options={"maxiter": 5000, "gtol": 1e-7})  # fmt: skip
        self.coef_ = found.x[:d] / scale  # on the raw inputs: the badness coefficients stay >= 0
        self.intercept_ = float(found.x[d] - self.coef_ @ mean)
        return self

    def logit(self, presentations: Sequence[Presentation]) -> np.ndarray:
        return np.asarray(design(presentations) @ self.coef_ + self.intercept_)

    def probability(self, presentations: Sequence[Presentation]) -> np.ndarray:
        """Uncalibrated P(KTAS 1-2) per presentation."""
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * self.logit(presentations))))
