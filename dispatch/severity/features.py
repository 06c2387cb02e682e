"""One feature function for training and for live inference.

Both a row of the KTAS data set (Moon et al. 2019) and a live ``ems.vitals/1`` payload become
a :class:`Presentation`: what the crew can know on scene, with ``None`` for anything not
measured. :func:`feature_matrix` turns presentations into model inputs; nothing else builds
features, so training and live scoring cannot drift apart.

Quirks of the KTAS file handled here (see its README): cp1254 encoding, ``;`` separator, CRLF;
``??`` (측불, "not measurable") in vital signs; ``#BOŞ!`` (Excel #NULL!) in ``NRS_pain``;
``Pain`` coded 1 = yes / 0 = no; decimal commas; ``36.`` written for 36; chief complaints whose
Korean text was lost and became question marks; SpO2 missing for every row of one site.
The leaking columns (``KTAS_RN``, ``Diagnosis in ED``, ``Disposition``, ``Error_group``,
``mistriage``, ``Length of stay_min``, ``KTAS duration_min``) and the site (``Group``) are
never read into a presentation.

The chief complaint enters as codes of the bilingual vocabulary (:mod:`dispatch.severity.complaints`):
one indicator per complaint code and per Pre-KTAS category, the same for ``흉통``, ``가슴통증``
and ``chest pain``. Only a complaint with no known term is also read as text (character n-grams
of what was typed), so the two languages are scored alike wherever the vocabulary knows the
complaint. The KTAS pain modifier takes central or peripheral from the complaint's codes.

Missing values are explicit: each vital sign that can be absent gets a "not measured" column
beside its value (a blood pressure the crew could not measure is information, not noise). SpO2
is the exception: it is missing for every patient of one hospital, so its absence would tell
the model the site, not the patient. SpO2 enters only as a hypoxia deficit, max(0, 94 − SpO2),
which is 0 both when SpO2 is normal and when it was not measured.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dispatch.pathways import injured
from dispatch.severity import complaints as vocabulary
from dispatch.severity.news2 import news2
from telemetry.schemas import Avpu, Sex, Vitals

KTAS_ENCODING = "cp1254"
MISSING_MARKERS = frozenset({"", "??", "#BOŞ!", "#BOÞ!"})
LEAKING_COLUMNS = (
    "KTAS_RN",
    "Diagnosis in ED",
    "Disposition",
    "Error_group",
    "mistriage",
    "Length of stay_min",
    "KTAS duration_min",
)
AMBULANCE_119 = 2  # KTAS "Arrival mode" 2 = 119 public ambulance

#: Bump when the model's inputs change: a saved model built on other inputs is not reused
#: (``SeverityModel`` refuses to load it). The vocabulary's checksum is part of it.
FEATURES_VERSION = f"3+vocabulary-{vocabulary.VOCABULARY_SHA256[:12]}"  # 3: p_critical from a monotone model

#: Complaints the vocabulary does not know: those about organs (head, chest, abdomen...) count as
#: central pain in KTAS/CTAS; limbs, skin and wounds as peripheral.
_CENTRAL = re.compile(
    r"chest|abd|epigas|stomach|belly|pelvi|flank|head|\bha\b|h-h|dyspn|breath|\bsob\b|palpit|rlq|ruq|llq|luq|"
    r"throat|eye|ocular|\bear\b|tooth|dental|neck|back|가슴|흉통|복통|두통|호흡",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Presentation:
    """What is known about a patient on scene. ``None`` = not measured / not known."""

    age_years: float | None = None
    female: bool | None = None
    ambulance: bool = True  # arrived (or is arriving) by 119 ambulance
    injury: bool | None = None
    avpu: str | None = None  # "A", "V", "P", "U"
    pain: bool | None = None
    pain_nrs: float | None = None  # 0-10
    sbp_mmhg: float | None = None
    dbp_mmhg: float | None = None
    hr_bpm: float | None = None
    rr_per_min: float | None = None
    temp_c: float | None = None
    spo2_pct: float | None = None
    complaint: str = ""


# --- from the KTAS data set ---------------------------------------------------------------


def _number(text: str | None) -> float | None:
    """A KTAS cell as a number; the missing markers (and anything unreadable) as None."""
    if text is None:
        return None
    text = text.strip()
    if text in MISSING_MARKERS:
        return None
    try:
        value = float(text.replace(",", "."))  # "5,00" and "36." both parse
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _complaint(text: str | None) -> str:
    """The chief complaint, lower-cased; text lost to question marks in the CSV becomes ''."""
    text = (text or "").strip().lower()
    return "" if set(text) <= {"?", " "} else text


def from_ktas_row(row: dict[str, str]) -> Presentation:
    """A row of the KTAS data set (as read by :func:`ktas_rows`) as a presentation."""
    mental = _number(row.get("Mental"))
    pain_flag = _number(row.get("Pain"))
    pain = None if pain_flag is None else pain_flag == 1
    nrs = _number(row.get("NRS_pain"))
    sex = _number(row.get("Sex"))
    injury = _number(row.get("Injury"))
    return Presentation(
        age_years=_number(row.get("Age")),
        female=None if sex is None else sex == 1,
        ambulance=_number(row.get("Arrival mode")) == AMBULANCE_119,
        injury=None if injury is None else injury == 2,
        avpu={1: "A", 2: "V", 3: "P", 4: "U"}.get(int(mental)) if mental is not None else None,
        pain=pain,
        pain_nrs=0.0 if pain is False else nrs,
        sbp_mmhg=_number(row.get("SBP")),
        dbp_mmhg=_number(row.get("DBP")),
        hr_bpm=_number(row.get("HR")),
        rr_per_min=_number(row.get("RR")),
        temp_c=_number(row.get("BT")),
        spo2_pct=_number(row.get("Saturation")),
        complaint=_complaint(row.get("Chief_complain")),
    )


def ktas_rows(raw: bytes, encoding: str = KTAS_ENCODING) -> list[dict[str, str]]:
    """Rows of the content of a file in the KTAS data set's format (cp1254, ``;``, CRLF), as dicts
    (:func:`loaders.severity.read_ktas` reads the file). ``encoding`` reads a file written otherwise
    (``utf-8`` for one with Korean complaints; a byte-order mark is dropped); bytes it cannot decode
    raise UnicodeDecodeError."""
    text = raw.decode(encoding).removeprefix("\ufeff")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def ktas_labels(rows: Iterable[dict[str, str]], column: str = "KTAS_expert") -> np.ndarray:
    """A KTAS level column (1-5) as integers; a missing or invalid label raises ValueError."""
    labels = []
    for i, row in enumerate(rows):
        value = _number(row.get(column))
        if value is None or value not in (1, 2, 3, 4, 5):
            raise ValueError(f"row {i + 1}: {column} {row.get(column)!r} is not a KTAS level 1-5")
        labels.append(int(value))
    return np.array(labels, dtype=np.int64)


# --- from a live vitals payload -------------------------------------------------------------


def avpu_from_gcs(gcs: int) -> str:
    """Approximate AVPU for a GCS when the crew recorded only the GCS (15/14 A, 10-13 V, 6-9 P, 3-5 U)."""
    return "A" if gcs >= 14 else "V" if gcs >= 10 else "P" if gcs >= 6 else "U"


def from_vitals(vitals: Vitals) -> Presentation:
    """An ``ems.vitals/1`` payload as a presentation (the patient is in a 119 ambulance)."""
    avpu = vitals.avpu.value if isinstance(vitals.avpu, Avpu) else None
    if avpu is None and vitals.gcs is not None:
        avpu = avpu_from_gcs(vitals.gcs)
    injury = vitals.injury
    if injured(vitals.flags):
        injury = True
    return Presentation(
        age_years=None if vitals.age_years is None else float(vitals.age_years),
        female=None if vitals.sex in (None, Sex.UNKNOWN) else vitals.sex is Sex.FEMALE,
        ambulance=True,
        injury=injury,
        avpu=avpu,
        pain=None if vitals.pain_nrs is None else vitals.pain_nrs > 0,
        pain_nrs=None if vitals.pain_nrs is None else float(vitals.pain_nrs),
        sbp_mmhg=_float(vitals.sbp_mmhg),
        dbp_mmhg=_float(vitals.dbp_mmhg),
        hr_bpm=_float(vitals.hr_bpm),
        rr_per_min=_float(vitals.rr_per_min),
        temp_c=vitals.temp_c,
        spo2_pct=_float(vitals.spo2_pct),
        complaint=_complaint(vitals.chief_complaint),
    )


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)


# --- KTAS modifiers (domain knowledge, as features) ------------------------------------------


def is_central(complaint: str) -> bool:
    """Whether pain with this complaint is central: from its vocabulary codes (any central one), else
    from words of the text."""
    codes = vocabulary.complaint_codes(complaint)
    return vocabulary.is_central(codes) if codes else bool(_CENTRAL.search(complaint))


def pain_level(p: Presentation) -> str:
    """The KTAS pain modifier: severe (8-10) central 2 / peripheral 3; moderate (4-7) central 3 /
    peripheral 4; mild (1-3) central 4 / peripheral 5; no pain "none"; not assessed "unknown"."""
    if p.pain is False or p.pain_nrs == 0:
        return "none"
    if p.pain_nrs is None:
        return "unknown"
    central = is_central(p.complaint)
    if p.pain_nrs >= 8:
        return "2" if central else "3"
    if p.pain_nrs >= 4:
        return "3" if central else "4"
    return "4" if central else "5"


def _below(value: float | None, limit: float) -> bool:
    return value is not None and value < limit


def _above(value: float | None, limit: float) -> bool:
    return value is not None and value > limit


def vital_level(p: Presentation) -> int:
    """The most urgent KTAS level the first-order modifiers (consciousness, haemodynamics,
    breathing, temperature) point to, 5 when none does. Thresholds follow CTAS/KTAS adult
    first-order modifiers, simplified to what an ambulance measures."""
    if p.avpu in ("P", "U") or _below(p.sbp_mmhg, 80) or _below(p.spo2_pct, 90):
        return 1
    if (
        p.avpu == "V"
        or _below(p.sbp_mmhg, 90)
        or _above(p.hr_bpm, 130)
        or _below(p.hr_bpm, 45)
        or _above(p.rr_per_min, 28)
        or _below(p.rr_per_min, 9)
        or _below(p.spo2_pct, 92)
    ):
        return 2
    if (
        _above(p.sbp_mmhg, 200)
        or _above(p.hr_bpm, 110)
        or _above(p.rr_per_min, 24)
        or _below(p.spo2_pct, 95)
        or (p.temp_c is not None and p.temp_c >= 38.5)
    ):
        return 3
    return 5


def news2_score(p: Presentation) -> int:
    """NEWS2 of a presentation (on air, Scale 1; missing parameters score 0)."""
    return news2(
        rr_per_min=p.rr_per_min,
        spo2_pct=p.spo2_pct,
        sbp_mmhg=p.sbp_mmhg,
        hr_bpm=p.hr_bpm,
        temp_c=p.temp_c,
        consciousness=p.avpu,
    ).score


# --- the model's inputs -----------------------------------------------------------------------

#: Numeric inputs; those in MEASURED can be "not measured" and get an indicator column.
NUMERIC = (
    "age_years",
    "female",
    "ambulance",
    "injury",
    "pain_nrs",
    "sbp_mmhg",
    "dbp_mmhg",
    "hr_bpm",
    "rr_per_min",
    "temp_c",
    "hypoxia",
    "shock_index",
    "news2",
)
MEASURED = ("pain_nrs", "sbp_mmhg", "dbp_mmhg", "hr_bpm", "rr_per_min", "temp_c")
CATEGORIES: dict[str, tuple[str, ...]] = {
    "pain_level": ("2", "3", "4", "5", "none", "unknown"),
    "vital_level": ("1", "2", "3", "5"),
    "avpu": ("A", "V", "P", "U", "unknown"),
    "age_band": ("<40", "40-64", "65-79", "80+", "unknown"),
}


def _age_band(age: float | None) -> str:
    if age is None:
        return "unknown"
    return "<40" if age < 40 else "40-64" if age < 65 else "65-79" if age < 80 else "80+"


def _bool(value: bool | None) -> float:
    return math.nan if value is None else float(value)


def _value(value: float | None) -> float:
    return math.nan if value is None else float(value)


def numeric_row(p: Presentation) -> list[float]:
    """The NUMERIC inputs of one presentation (NaN = not measured)."""
    shock = p.hr_bpm / p.sbp_mmhg if p.hr_bpm is not None and p.sbp_mmhg else None
    return [
        _value(p.age_years),
        _bool(p.female),
        float(p.ambulance),
        _bool(p.injury),
        _value(p.pain_nrs),
        _value(p.sbp_mmhg),
        _value(p.dbp_mmhg),
        _value(p.hr_bpm),
        _value(p.rr_per_min),
        _value(p.temp_c),
        0.0 if p.spo2_pct is None else max(0.0, 94.0 - p.spo2_pct),
        _value(shock),
        float(news2_score(p)),
    ]


def category_row(p: Presentation) -> dict[str, str]:
    return {
        "pain_level": pain_level(p),
        "vital_level": str(vital_level(p)),
        "avpu": p.avpu or "unknown",
        "age_band": _age_band(p.age_years),
    }


#: The complaint indicators: one per vocabulary code, one per Pre-KTAS category.
COMPLAINT_NAMES = tuple(f"complaint={code}" for code in vocabulary.CODES) + tuple(
    f"complaint_category={letter}" for letter in vocabulary.CATEGORIES
)


@dataclass(frozen=True)
class FeatureMatrix:
    """Model inputs of several presentations: raw numeric values, one-hot categories, complaint
    indicators, and the text read as text."""

    numeric: np.ndarray  # (n, len(NUMERIC)), NaN = not measured
    one_hot: np.ndarray  # (n, sum of category sizes)
    complaints: tuple[str, ...]  # the complaints as typed (lower case)
    complaint_codes: np.ndarray  # (n, len(COMPLAINT_NAMES)), 1 = the complaint names this code or category
    text: tuple[str, ...]  # what the text features read: the complaint when it has no code, else ""


ONE_HOT_NAMES = tuple(f"{name}={value}" for name, values in CATEGORIES.items() for value in values)


def complaint_text(complaint: str, codes: Sequence[str]) -> str:
    """What the text features read of a complaint: nothing when the vocabulary knows it (its codes
    say it, in either language), else the complaint as typed."""
    return "" if codes else complaint


def feature_matrix(presentations: Sequence[Presentation]) -> FeatureMatrix:
    numeric = np.array([numeric_row(p) for p in presentations], dtype=np.float64).reshape(-1, len(NUMERIC))
    one_hot = np.zeros((len(presentations), len(ONE_HOT_NAMES)))
    position = {name: i for i, name in enumerate(ONE_HOT_NAMES)}
    codes_hot = np.zeros((len(presentations), len(COMPLAINT_NAMES)))
    code_position = {name: i for i, name in enumerate(COMPLAINT_NAMES)}
    text = []
    for row, p in enumerate(presentations):
        for name, value in category_row(p).items():
            one_hot[row, position[f"{name}={value}"]] = 1.0
        codes = vocabulary.complaint_codes(p.complaint)
        for code in codes:
            codes_hot[row, code_position[f"complaint={code}"]] = 1.0
            category = vocabulary.COMPLAINTS[code].category
            if category:
                codes_hot[row, code_position[f"complaint_category={category}"]] = 1.0
        text.append(complaint_text(p.complaint, codes))
    return FeatureMatrix(numeric, one_hot, tuple(p.complaint for p in presentations), codes_hot, tuple(text))
