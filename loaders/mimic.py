"""The MIMIC-IV-ED demo triage table as presentations: a tiny out-of-distribution check.

US patients (Boston), labelled with ESI, not KTAS; 222 stays, mostly admitted adults. Read
its README: temperature in °F (one value looks like °C), one diastolic of 879, ``pain`` as
text ("unable", "UA", "Critical", "13"), quoted commas in complaints. Age is not in the ED
module, so it stays unknown.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np

from dispatch.severity.features import Presentation

TRIAGE = Path("mimic_iv_ed_demo") / "triage.csv.gz"
EDSTAYS = Path("mimic_iv_ed_demo") / "edstays.csv.gz"


def _read(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rb") as handle:
        return list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline="")))


def _number(text: str, low: float, high: float) -> float | None:
    """A value inside its physiological range, else None (879 mmHg is a typing error)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _celsius(text: str) -> float | None:
    value = _number(text, 25, 115)
    if value is None:
        return None
    return value if value < 45 else round((value - 32) * 5 / 9, 1)  # a few are already in °C


def load_triage(data_dir: Path) -> tuple[list[Presentation], np.ndarray]:
    """Presentations and ESI acuity (1-5) of the stays that have an acuity."""
    stays = {row["stay_id"]: row for row in _read(data_dir / EDSTAYS)}
    presentations, acuity = [], []
    for row in _read(data_dir / TRIAGE):
        esi = _number(row.get("acuity", ""), 1, 5)
        if esi is None:
            continue
        stay = stays.get(row["stay_id"], {})
        pain = _number(row.get("pain", ""), 0, 10)
        presentations.append(
            Presentation(
                age_years=None,
                female={"F": True, "M": False}.get(stay.get("gender", "")),
                ambulance=stay.get("arrival_transport") == "AMBULANCE",
                injury=None,
                avpu=None,
                pain=None if pain is None else pain > 0,
                pain_nrs=pain,
                sbp_mmhg=_number(row.get("sbp", ""), 0, 300),
                dbp_mmhg=_number(row.get("dbp", ""), 0, 300),
                hr_bpm=_number(row.get("heartrate", ""), 0, 300),
                rr_per_min=_number(row.get("resprate", ""), 0, 80),
                temp_c=_celsius(row.get("temperature", "")),
                spo2_pct=_number(row.get("o2sat", ""), 0, 100),
                complaint=(row.get("chiefcomplaint") or "").strip().lower(),
            )
        )
        acuity.append(int(esi))
    return presentations, np.array(acuity, dtype=np.int64)
