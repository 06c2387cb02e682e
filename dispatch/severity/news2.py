"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, December 2017).

``news2()`` scores seven physiological parameters on the RCP chart and sums them:

Points:                   3       2          1          0          1           2           3
  Respiration rate /min   ≤8              9-11       12-20                  21-24       ≥25
  SpO2 Scale 1 %          ≤91     92-93      94-95      ≥96
  SpO2 Scale 2 %          ≤83     84-85      86-87      88-92,     93-94 on O2 95-96 on O2 ≥97 on O2
                                                        ≥93 on air
  Air or oxygen                   oxygen                air
  Systolic BP mmHg        ≤90     91-100     101-110    111-219                            ≥220
  Pulse /min              ≤40                41-50      51-90      91-110      111-130     ≥131
  Consciousness                                         Alert                              new C, V, P, U
  Temperature °C          ≤35.0              35.1-36.0  36.1-38.0  38.1-39.0   ≥39.1

Clinical risk, from the aggregate: 0-4 is ``"low"``, unless one parameter scores 3
(the "red score"), which makes it ``"low-medium"``; 5-6 is ``"medium"``; 7 or more is ``"high"``.
An aggregate of 5 or more outranks a red score (a 3 plus a 2 is ``"medium"``).

Scale 2 is for patients with hypercapnic respiratory failure whose prescribed target is
88-92 %, and only on a clinician's decision; the caller chooses it with ``spo2_scale=2``.
On Scale 2 a saturation of 93 % or more scores 0 on air and 1-3 on oxygen (over-oxygenation).

Precision. The chart is written in whole numbers (temperature in tenths of a degree) and
leaves gaps between bands (20 then 21; 36.0 then 36.1). A measurement is therefore first
rounded to the chart's precision, half up: temperature to 0.1 °C, every other parameter to a
whole number. So 36.04 °C is 36.0 (scores 1), 36.05 °C is 36.1 (scores 0); a respiration
rate of 20.5/min is 21 (scores 2), 20.49/min is 20 (scores 0). Rounding works on the
number's shortest decimal form (``repr``), so ``36.05`` is 36.05 as typed, not the binary
double just below it.

Missing parameters. A parameter passed as ``None`` was not measured: its points are ``None``
in ``parameters``, its name is listed in ``missing``, and it adds 0 to the aggregate. The
score and the clinical risk are then a lower bound: the full score can only be the same or
higher. ``on_supplemental_oxygen`` is always known (it defaults to air).

Names. ``parameters`` and ``missing`` use the keyword names of ``news2()`` (``rr_per_min``,
``spo2_pct``, ...), in chart order, so a missing name is the argument to supply.

Pure: no I/O, no state, standard library only.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["CLINICAL_RISKS", "PARAMETERS", "News2", "news2"]

#: Parameter names, in chart order; the keys of ``News2.parameters``.
PARAMETERS: tuple[str, ...] = (
    "rr_per_min",
    "spo2_pct",
    "on_supplemental_oxygen",
    "sbp_mmhg",
    "hr_bpm",
    "consciousness",
    "temp_c",
)

#: Clinical risk categories, lowest first.
CLINICAL_RISKS: tuple[str, ...] = ("low", "low-medium", "medium", "high")

_WHOLE = Decimal(1)
_TENTH = Decimal("0.1")

# ACVPU: Alert scores 0; new Confusion, Voice, Pain, Unresponsive score 3.
_CONSCIOUSNESS_POINTS: dict[str, int] = {"A": 0, "C": 3, "V": 3, "P": 3, "U": 3}


@dataclass(frozen=True)
class News2:
    """A NEWS2 result.

    ``score`` is the aggregate, 0-20 (a lower bound when ``missing`` is not empty).
    ``parameters`` maps each parameter name (``PARAMETERS``) to its points, ``None`` if it was
    not measured. ``missing`` lists the unmeasured parameters in chart order.
    ``any_single_three`` is true when any one parameter scored 3 (the "red score" trigger).
    ``clinical_risk`` is one of ``CLINICAL_RISKS``.
    """

    score: int
    parameters: dict[str, int | None]
    missing: tuple[str, ...]
    any_single_three: bool
    clinical_risk: str


def news2(
    *,
    rr_per_min: float | None,
    spo2_pct: float | None,
    sbp_mmhg: float | None,
    hr_bpm: float | None,
    temp_c: float | None,
    consciousness: str | None,
    on_supplemental_oxygen: bool = False,
    spo2_scale: int = 1,
) -> News2:
    """Score one set of observations on the NEWS2 chart (see the module docstring).

    ``consciousness`` is one ACVPU letter, case-insensitive: ``"A"`` alert, ``"C"`` new
    confusion, ``"V"`` responds to voice, ``"P"`` to pain, ``"U"`` unresponsive.

    Raises ``ValueError`` naming the parameter for a NaN, infinite or negative measurement, an
    SpO2 above 100 %, an unknown consciousness value or a ``spo2_scale`` other than 1 or 2; and
    ``TypeError`` naming the parameter for a measurement that is not a real number (a string,
    a bool) or an ``on_supplemental_oxygen`` that is not a bool.
    """
    if not isinstance(on_supplemental_oxygen, bool):
        raise TypeError(f"on_supplemental_oxygen must be a bool, got {on_supplemental_oxygen!r}")
    if isinstance(spo2_scale, bool) or spo2_scale not in (1, 2):
        raise ValueError(f"spo2_scale must be 1 or 2, got {spo2_scale!r}")

    rr = _rounded("rr_per_min", rr_per_min, _WHOLE)
    spo2 = _rounded("spo2_pct", spo2_pct, _WHOLE)
    if spo2 is not None and spo2 > 100:
        raise ValueError(f"spo2_pct must be at most 100, got {spo2_pct!r}")
    sbp = _rounded("sbp_mmhg", sbp_mmhg, _WHOLE)
    hr = _rounded("hr_bpm", hr_bpm, _WHOLE)
    temp = _rounded("temp_c", temp_c, _TENTH)

    points: dict[str, int | None] = {
        "rr_per_min": None if rr is None else _respiration_points(rr),
        "spo2_pct": None if spo2 is None else _spo2_points(spo2, spo2_scale, on_supplemental_oxygen),
        "on_supplemental_oxygen": 2 if on_supplemental_oxygen else 0,
        "sbp_mmhg": None if sbp is None else _systolic_points(sbp),
        "hr_bpm": None if hr is None else _pulse_points(hr),
        "consciousness": None if consciousness is None else _consciousness_points(consciousness),
        "temp_c": None if temp is None else _temperature_points(temp),
    }
    measured = [p for p in points.values() if p is not None]
    score = sum(measured)
    any_single_three = any(p == 3 for p in measured)
    return News2(
        score=score,
        parameters=points,
        missing=tuple(name for name, p in points.items() if p is None),
        any_single_three=any_single_three,
        clinical_risk=_clinical_risk(score, any_single_three),
    )


def _rounded(name: str, value: float | None, quantum: Decimal) -> Decimal | None:
    """``value`` rounded half up to ``quantum``; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number or None, got {value!r}")
    as_float = float(value)
    if math.isnan(as_float) or math.isinf(as_float):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if as_float < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return Decimal(repr(as_float)).quantize(quantum, rounding=ROUND_HALF_UP)


def _respiration_points(rr: Decimal) -> int:
    if rr <= 8:
        return 3
    if rr <= 11:
        return 1
    if rr <= 20:
        return 0
    if rr <= 24:
        return 2
    return 3


def _spo2_points(spo2: Decimal, scale: int, on_oxygen: bool) -> int:
    if scale == 1:
        if spo2 <= 91:
            return 3
        if spo2 <= 93:
            return 2
        if spo2 <= 95:
            return 1
        return 0
    if spo2 <= 83:
        return 3
    if spo2 <= 85:
        return 2
    if spo2 <= 87:
        return 1
    if spo2 <= 92 or not on_oxygen:
        return 0
    if spo2 <= 94:
        return 1
    if spo2 <= 96:
        return 2
    return 3


def _systolic_points(sbp: Decimal) -> int:
    if sbp <= 90:
        return 3
    if sbp <= 100:
        return 2
    if sbp <= 110:
        return 1
    if sbp <= 219:
        return 0
    return 3


def _pulse_points(hr: Decimal) -> int:
    if hr <= 40:
        return 3
    if hr <= 50:
        return 1
    if hr <= 90:
        return 0
    if hr <= 110:
        return 1
    if hr <= 130:
        return 2
    return 3


def _consciousness_points(consciousness: str) -> int:
    key = consciousness.upper() if isinstance(consciousness, str) else None
    if key is None or key not in _CONSCIOUSNESS_POINTS:
        raise ValueError(f"consciousness must be one of A, C, V, P, U (case-insensitive), got {consciousness!r}")
    return _CONSCIOUSNESS_POINTS[key]


def _temperature_points(temp: Decimal) -> int:
    if temp <= Decimal("35.0"):
        return 3
    if temp <= Decimal("36.0"):
        return 1
    if temp <= Decimal("38.0"):
        return 0
    if temp <= Decimal("39.0"):
        return 1
    return 2


def _clinical_risk(score: int, any_single_three: bool) -> str:
    if score >= 7:
        return "high"
    if score >= 5:
        return "medium"
    if any_single_three:
        return "low-medium"
    return "low"
