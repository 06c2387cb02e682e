"""The patients the simulator draws: real 119-ambulance rows of the KTAS development data.

Each simulated 119 patient is one row of ``ktas_triage/ktas_triage_moon2019_dev.csv`` (Moon et
al. 2019) with ``Arrival mode`` = 2 (119 public ambulance): its vital signs, complaint and the
expert KTAS level as the truth, the triage nurse's level (``KTAS_RN``) as the human judgement the
baseline policies use, and the severity model's assessment *out of fold*: every patient is
scored by a model fitted without that patient, so the simulation never flatters the model with
patients it has memorised.

Crew flags. The data has no ECG and no prehospital flags, so the flags a crew would set on scene
are derived from the row by these rules. They are assumptions, written to be conservative
(a flag only where the complaint itself, plus the expert level, makes it likely):

- ``cardiac_arrest``: the complaint contains "arrest", or the patient is unresponsive (AVPU U)
  and the expert level is KTAS 1.
- ``fast_positive`` (stroke): the complaint names a focal deficit: "hemiparesis",
  "paraparesis", "dysarthria", "aphasia", "facial palsy", or "weakness" together with a side or
  motor word ("lt", "rt", "left", "right", "side", "motor", and "rigth", a typo in the data).
  "general weakness" is not focal and never counts.
- ``stemi``: chest pain or discomfort ("chest pain", "chest discomfort", and the data's inverted
  "pain, chest" and "discomfort, chest", but not "pain, chest wall") and expert KTAS 1-2.
  Without an ECG this stands for "the crew's 12-lead shows a STEMI".
- ``major_trauma``: an injury (``Injury`` = 2) with expert KTAS 1-2.
- ``pregnancy``: a woman under 50 whose complaint contains "pregnan", "vaginal bleeding",
  "labor" or "labour" (as a word).
- ``burns``: the complaint contains "burn".
- ``paediatric``: never; the data is adults aged 16-96.

Because some rules read the expert level, the flags carry a little of the truth into what the
model and the policies see; that is what a crew's ECG or trauma assessment would add on scene.

Pre-KTAS. Since 2024 every 119 crew grades its patient with Pre-KTAS; the data has no paramedic's
grade, so the triage nurse's level (``KTAS_RN``) stands in for it, as it does for the baselines'
judgement, and travels in the vitals (``pre_ktas``). GoldenTime combines it with the model (R-CREW:
:func:`dispatch.severity.model.combine`); :class:`ModelOnly` patients are assessed without it.
The nurse's grade is an optimistic stand-in: a paramedic on scene agrees less with the expert.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from dispatch.pathways import FLAG_FLOORS, Pathway, StabiliseRule, flags_set, needs_of
from dispatch.severity.critical import MonotoneCritical
from dispatch.severity.features import Presentation, from_ktas_row, ktas_labels
from dispatch.severity.model import LEVELS, Severity, SeverityModel, TrainedSeverity, combine, crew_grade
from dispatch.severity.training import train
from loaders.severity import read_ktas
from simulations.errors import SimulationError
from telemetry import schemas

#: Seed of the out-of-fold split (fixed, so the patient catalogue is reproducible).
OOF_SEED = 20190915
#: ``ts`` of the catalogue's vitals payloads: they are templates, stamped anew when published.
TEMPLATE_TS = datetime(2017, 1, 1, tzinfo=UTC)

_ARREST = re.compile(r"arrest")
_FOCAL = re.compile(r"hemiparesis|paraparesis|dysarthria|aphasia|facial palsy")
_WEAKNESS = re.compile(r"weakness")
_SIDE_OR_MOTOR = re.compile(r"\b(?:lt|rt|left|right|rigth|side|motor)\b")
_GENERAL_WEAKNESS = re.compile(r"general weakness")
_CHEST = re.compile(r"chest pain|pain, chest(?! wall)|chest discomfort|discomfort, chest")
_OBSTETRIC = re.compile(r"pregnan|vaginal bleeding|\blabou?r\b")
_BURN = re.compile(r"burn")


@dataclass(frozen=True)
class SimPatient:
    """One 119-ambulance patient of the catalogue, with everything the simulation needs."""

    row: int  # 0-based index of the row in the dev file
    ktas: int  # KTAS_expert, the truth
    ktas_nurse: int | None  # KTAS_RN: the triage nurse's estimate, the baselines' stand-in for the crew
    flags: schemas.CrewFlags  # the crew flags that follow from the row (module docstring)
    needs: frozenset[Pathway]  # dispatch.pathways.needs_of(flags)
    vitals: schemas.Vitals  # the live payload a tablet would send (flags included)
    complaint: str
    model_ktas: int  # the severity model's likeliest level, out of fold, before the crew's grade
    model_critical: bool  # the model's critical call (p_critical at the threshold), out of fold, before the crew's
    model_p_critical: float  # the model's calibrated probability of KTAS 1-2 (Severity.p_critical), out of fold
    model_p_emergency: float | None = None  # ... of KTAS 1-3 (Severity.p_emergency), out of fold; None: not kept

    @property
    def unstable(self) -> bool:
        """Pre-KTAS level 1 signs on the vitals the crew measures (dispatch.pathways.StabiliseRule, as shipped)."""
        v = self.vitals
        return StabiliseRule().unstable(spo2_pct=v.spo2_pct, rr_per_min=v.rr_per_min, sbp_mmhg=v.sbp_mmhg)

    @property
    def assessment(self) -> Severity:
        """The model's out-of-fold assessment with the crew's grade (Pre-KTAS and flags, R-CREW), as the decision
        engine holds it (no reasons: advice carries none; an unkept p_emergency taken to be p_critical, as
        :func:`dispatch.wire.severity_of` does)."""
        return self.graded(self.vitals.pre_ktas)

    def graded(self, pre_ktas: int | None) -> Severity:
        """The model's out-of-fold assessment combined with a crew's Pre-KTAS ``pre_ktas`` and the crew flags."""
        crew = crew_grade(pre_ktas, [f for f in flags_set(self.flags) if f in FLAG_FLOORS])
        ktas, critical, decider = combine(self.model_ktas, self.model_critical, crew)
        p_emergency = max(self.model_p_critical, self.model_p_emergency or 0.0)
        return Severity(ktas, self.model_p_critical, p_emergency, (), critical, crew, decider)


@dataclass(frozen=True)
class ModelOnly(SimPatient):
    """A patient whose crew sends no Pre-KTAS: the model's assessment with the crew flags alone (GoldenTime v1)."""

    @classmethod
    def of(cls, patient: SimPatient) -> ModelOnly:
        return cls(**{f.name: getattr(patient, f.name) for f in fields(patient)})

    @property
    def assessment(self) -> Severity:
        return self.graded(None)


# --- crew flags ----------------------------------------------------------------------------------


def _level(row: dict[str, str], column: str) -> int | None:
    """A KTAS level column as an int, None when missing or not 1-5."""
    text = (row.get(column) or "").strip()
    return int(text) if text in {"1", "2", "3", "4", "5"} else None


def _stroke(complaint: str) -> bool:
    if _FOCAL.search(complaint):
        return True
    return bool(
        _WEAKNESS.search(complaint) and _SIDE_OR_MOTOR.search(complaint) and not _GENERAL_WEAKNESS.search(complaint)
    )


def crew_flags(row: dict[str, str]) -> schemas.CrewFlags:
    """The flags a crew would set for this KTAS row (rules and why: the module docstring)."""
    p = from_ktas_row(row)
    expert = _level(row, "KTAS_expert")
    critical = expert is not None and expert <= 2
    young_woman = p.female is True and p.age_years is not None and p.age_years < 50
    return schemas.CrewFlags(
        cardiac_arrest=bool(_ARREST.search(p.complaint)) or (p.avpu == "U" and expert == 1),
        fast_positive=_stroke(p.complaint),
        stemi=bool(_CHEST.search(p.complaint)) and critical,
        major_trauma=p.injury is True and critical,
        pregnancy=young_woman and bool(_OBSTETRIC.search(p.complaint)),
        burns=bool(_BURN.search(p.complaint)),
        paediatric=False,
    )


# --- the live payload ----------------------------------------------------------------------------


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def vitals_from_presentation(
    p: Presentation,
    flags: schemas.CrewFlags,
    patient_id: str = "P-sim",
    *,
    ts: datetime | None = None,
    msg_id: str | None = None,
    pre_ktas: int | None = None,
) -> schemas.Vitals:
    """The ``ems.vitals/1`` payload a crew's tablet would send for this presentation (with the crew's Pre-KTAS).

    A diastolic pressure above the systolic (a few KTAS rows) is clamped to the systolic, which
    the payload schema requires. ``ts`` and ``msg_id`` default to now and a fresh id."""
    stamp: dict[str, object] = {}
    if ts is not None:
        stamp["ts"] = ts
    if msg_id is not None:
        stamp["msg_id"] = msg_id
    return schemas.Vitals.new(
        patient_id=patient_id,
        age_years=_int(p.age_years),
        sex=None if p.female is None else (schemas.Sex.FEMALE if p.female else schemas.Sex.MALE),
        hr_bpm=_int(p.hr_bpm),
        sbp_mmhg=_int(p.sbp_mmhg),
        dbp_mmhg=None if p.dbp_mmhg is None else int(min(p.dbp_mmhg, p.sbp_mmhg or 300)),
        rr_per_min=_int(p.rr_per_min),
        spo2_pct=_int(p.spo2_pct),
        temp_c=p.temp_c,
        avpu=None if p.avpu is None else schemas.Avpu(p.avpu),
        pain_nrs=_int(p.pain_nrs),
        injury=p.injury,
        chief_complaint=p.complaint or None,
        pre_ktas=pre_ktas,
        flags=flags,
        **stamp,
    )


# --- out-of-fold severity ------------------------------------------------------------------------


def stratified_folds(levels: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold number (0 .. folds-1) per row, each level dealt round-robin over the folds in a
    random order, so every fold has about the same KTAS mix (and every training set all five
    levels, as the model requires)."""
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    fold = np.empty(len(levels), dtype=np.int64)
    for level in np.unique(levels):
        members = rng.permutation(np.flatnonzero(levels == level))
        fold[members] = (np.arange(members.size) + int(rng.integers(folds))) % folds
    return fold


def _fold_model(
    full: TrainedSeverity, presentations: Sequence[Presentation], levels: np.ndarray, train_rows: np.ndarray
) -> TrainedSeverity:
    """The models refitted on ``train_rows`` with the full model's C, calibration and threshold."""
    rows, labels = [presentations[i] for i in train_rows], levels[train_rows]
    model = SeverityModel(C=float(full.metadata["C"])).fit(rows, labels)
    critical = MonotoneCritical(C=float(full.metadata["critical_C"])).fit(rows, labels)
    return TrainedSeverity(model, critical, full.critical_calibration, full.emergency_calibration, full.threshold)


def ambulance_patients(data_file: Path, *, folds: int = 5, seed: int = OOF_SEED) -> tuple[SimPatient, ...]:
    """Every 119-ambulance row of ``data_file``, in file order, assessed out of fold.

    The full model is trained once on all rows (to choose C, calibration and threshold); then
    the rows are split into ``folds`` stratified folds and each fold's ambulance patients are
    assessed by a model fitted on the other folds. Same file, folds and seed: the same tuple."""
    rows = read_ktas(data_file)
    presentations = [from_ktas_row(r) for r in rows]
    levels = ktas_labels(rows)
    full = train(presentations, levels)
    fold = stratified_folds(levels, folds, np.random.default_rng(seed))
    patients: dict[int, SimPatient] = {}
    for k in range(folds):
        wanted = [i for i in np.flatnonzero(fold == k).tolist() if presentations[i].ambulance]
        if not wanted:
            continue
        model = _fold_model(full, presentations, levels, np.flatnonzero(fold != k))
        for i in wanted:
            patients[i] = _patient(i, rows[i], presentations[i], int(levels[i]), model)
    return tuple(patients[i] for i in sorted(patients))


def _patient(i: int, row: dict[str, str], p: Presentation, ktas: int, model: TrainedSeverity) -> SimPatient:
    flags, nurse = crew_flags(row), _level(row, "KTAS_RN")
    vitals = vitals_from_presentation(
        p, flags, f"P-sim-{i:04d}", ts=TEMPLATE_TS, msg_id=f"sim-ktas-row-{i:04d}", pre_ktas=nurse
    )
    severity = model.assess_presentation(p, explain_inputs=False)  # the model alone: the crew's grade is added later
    return SimPatient(
        row=i,
        ktas=ktas,
        ktas_nurse=nurse,
        flags=flags,
        needs=needs_of(flags),
        vitals=vitals,
        complaint=p.complaint,
        model_ktas=severity.ktas,
        model_critical=severity.critical,
        model_p_critical=severity.p_critical,
        model_p_emergency=severity.p_emergency,
    )


class OutOfFold:
    """The severity scorer of a simulated city (a :class:`dispatch.severity.model.Scorer`): the vitals of a call
    are its patient's catalogue vitals stamped for that call (:meth:`stamp`), and their assessment is the
    patient's out-of-fold one. The live worker fed these vitals as MQTT messages scores them with it too."""

    def __init__(self) -> None:
        self._assessed: dict[str, Severity] = {}

    def stamp(self, patient: SimPatient, *, patient_id: str, msg_id: str, ts: datetime) -> schemas.Vitals:
        """The vitals the crew's tablet sends for ``patient`` (their ``patient_id``, ``msg_id`` and time)."""
        vitals = patient.vitals.model_copy(update={"patient_id": patient_id, "msg_id": msg_id, "ts": ts})
        self._assessed[msg_id] = patient.assessment
        return vitals

    def assess_many(self, vitals: Sequence[schemas.Vitals], *, explain_inputs: bool = True) -> list[Severity]:
        try:
            return [self._assessed[v.msg_id] for v in vitals]
        except KeyError as exc:
            raise SimulationError(f"vitals {exc.args[0]} were not stamped by this simulation: no assessment") from None


# --- the ED's other patients ---------------------------------------------------------------------


def walkin_ktas_mix(data_file: Path) -> tuple[float, float, float, float, float]:
    """Share of expert KTAS 1..5 among the rows that did not arrive by 119 ambulance: the mix of
    an ED's other patients (walk-ins, private cars, private ambulances), who fill its beds."""
    rows = [r for r in read_ktas(data_file) if not from_ktas_row(r).ambulance]
    if not rows:
        raise ValueError(f"{data_file}: no row arrived other than by 119 ambulance")
    levels = ktas_labels(rows)
    counts = np.array([np.count_nonzero(levels == level) for level in LEVELS], dtype=np.float64)
    shares = counts / counts.sum()
    return (float(shares[0]), float(shares[1]), float(shares[2]), float(shares[3]), float(shares[4]))
