"""R-LEVEL (docs/clinical_rules.md): monotone where medicine is: worse vital signs never lower p_critical beyond a
stated tolerance, over the data's own patients."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.severity.critical import BADNESS, badness
from dispatch.severity.features import Presentation, from_ktas_row
from dispatch.severity.model import TrainedSeverity
from goldentime.settings import default_data_dir
from loaders.severity import KTAS_FILE, read_ktas

#: Worse vital signs may lower p_critical by at most this much: 0, up to floating-point rounding (the critical model
#: is monotone by construction, dispatch.severity.critical).
MONOTONE_TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def rows() -> list[Presentation]:
    return [from_ktas_row(r) for r in read_ktas(default_data_dir() / KTAS_FILE)]


# --- monotone where medicine is ---------------------------------------------------------------------------------

#: One step worse for each sign where worse is unambiguous (low SpO2, low systolic pressure, a lower AVPU).
_WORSE = st.sampled_from(["spo2", "sbp", "avpu", "rr", "hr"])


def _worse(p: Presentation, sign: str, amount: float) -> Presentation | None:
    match sign:
        case "spo2" if p.spo2_pct is not None:
            return dataclasses.replace(p, spo2_pct=min(p.spo2_pct, max(50.0, p.spo2_pct - amount)))
        case "sbp" if p.sbp_mmhg is not None and p.sbp_mmhg <= 120:
            sbp = max(40.0, p.sbp_mmhg - 2 * amount)
            dbp = None if p.dbp_mmhg is None else min(p.dbp_mmhg, sbp - 10)  # measured or not, as it was
            return dataclasses.replace(p, sbp_mmhg=sbp, dbp_mmhg=dbp)
        case "avpu" if p.avpu in ("A", "V", "P"):
            return dataclasses.replace(p, avpu="AVPU"["AVPU".index(p.avpu) + 1])
        case "rr" if p.rr_per_min is not None and p.rr_per_min >= 20:
            return dataclasses.replace(p, rr_per_min=min(60.0, p.rr_per_min + amount))
        case "hr" if p.hr_bpm is not None and p.hr_bpm >= 100:
            return dataclasses.replace(p, hr_bpm=min(220.0, p.hr_bpm + 2 * amount))
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), sign=_WORSE, amount=st.floats(1.0, 20.0))
def test_worse_vital_signs_never_lower_p_critical(
    severity: TrainedSeverity, rows: list[Presentation], data: st.DataObject, sign: str, amount: float
) -> None:
    """Over the data's own patients: SpO2 lower, systolic pressure lower (from 120 down), consciousness lower, a
    fast breathing rate faster, a tachycardia faster: p_critical falls by at most MONOTONE_TOLERANCE."""
    base = rows[data.draw(st.integers(0, len(rows) - 1))]
    worse = _worse(base, sign, amount)
    if worse is None:
        return
    _, p, _ = severity.probabilities([base, worse])
    assert p[1] >= p[0] - MONOTONE_TOLERANCE, f"{sign} worse by {amount:g}: p_critical {p[0]:.3f} -> {p[1]:.3f}"


def test_the_data_has_patients_for_every_worsening(rows: list[Presentation]) -> None:
    """The property above is not vacuous: each sign has patients it applies to."""
    for sign in ("spo2", "sbp", "avpu", "rr", "hr"):
        assert sum(_worse(p, sign, 5.0) is not None for p in rows) >= 20, sign


def test_the_critical_model_weighs_every_badness_input_non_negatively(severity: TrainedSeverity) -> None:
    """Why the property holds: each badness input rises with how bad a sign is, and none lowers the logit."""
    coef = severity.critical_model.coef_[: len(BADNESS)]
    assert (coef >= 0).all() and (coef > 0).sum() >= 5, dict(zip(BADNESS, coef.round(3), strict=True))
    assert severity.critical_calibration.a > 0  # and calibration keeps the order


def test_worse_signs_raise_every_badness_input_or_leave_it() -> None:
    """The inputs themselves: a worse value of each sign never lowers any badness input."""
    base = Presentation(age_years=60, avpu="A", sbp_mmhg=120, dbp_mmhg=80, hr_bpm=100, rr_per_min=20,
                        temp_c=37.0, spo2_pct=96)  # fmt: skip
    for sign in ("spo2", "sbp", "avpu", "rr", "hr"):
        worse = _worse(base, sign, 10.0)
        assert worse is not None
        assert all(b >= a for a, b in zip(badness(base), badness(worse), strict=True)), sign
