"""The crew's own assessment on the tablet: the chief complaint and Pre-KTAS, sent with the patient's vitals.

The crew picks the chief complaint from the vocabulary of :mod:`dispatch.severity.complaints`
(:func:`complaint_options`: the commonest first, then the rest in the Pre-KTAS categories' order), may add
words of its own for anything the list lacks, and grades Pre-KTAS 1-5 or leaves it ungraded.

``ems.vitals/1`` is the one message that carries a chief complaint and a Pre-KTAS, and a vitals message
names its patient: :func:`assessed_vitals` re-sends the unit's newest vitals for the current patient (same
``patient_id``, same measurements, flags and note), stamped now with a fresh ``msg_id``, with
``chief_complaint`` and ``pre_ktas`` set. What the crew leaves unchanged keeps what it sent before for this
patient (:func:`standing`): grading Pre-KTAS alone does not drop the complaint, nor the reverse. No vitals
from the unit yet: nothing is sent, since there is no patient to attach the assessment to; the tablet says
so. The patient's vitals are the monitor's, never made up here.

Also here, because the crew card and the centre page both need it: :func:`is_critical`, the recall-first
"critical" call of a severity (``critical``; an older dispatcher sends none, and then KTAS 1-2 is read as
critical). Pure: no Streamlit, no MQTT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from dispatch.severity.complaints import COMPLAINTS, VOCABULARY
from telemetry import schemas
from telemetry.errors import GoldenTimeError

#: ``(Korean, English)``, as the pages' texts (``dashboard.common.Text``).
Words = tuple[str, str]

#: The commonest chief complaints of 119 ambulance patients, first in the list: those named by at least 8 of
#: the 220 patients who came by 119 ambulance (``Arrival mode`` 2) in the KTAS development data (Moon et al.
#: 2019, data/ktas_triage), by count, ties in vocabulary order. tests/dashboard/test_assessment.py recounts.
COMMON: tuple[str, ...] = (
    "DIZZINESS",  # 22
    "ABDOMINAL_PAIN",  # 19
    "DYSPNEA",  # 17
    "ALTERED_MENTAL",  # 16
    "STROKE_SYMPTOMS",  # 14
    "CHEST_PAIN",  # 14
    "LEG_PAIN",  # 9
    "HEADACHE",  # 8
    "GENERAL_WEAKNESS",  # 8
    "LACERATION",  # 8
)
#: The widget's value for "not graded" (Pre-KTAS levels are 1-5).
NOT_GRADED = 0
PRE_KTAS_CHOICES: tuple[int, ...] = (1, 2, 3, 4, 5, NOT_GRADED)
#: The free text's limit: with the longest Korean name of the list and ", " the complaint stays within the
#: 200 characters ``ems.vitals/1`` allows.
FREE_TEXT_MAX = 150
COMPLAINT_MAX = 200

NO_PATIENT: Words = (
    "아직 이 구급차의 환자 활력징후가 없습니다. 평가는 환자의 활력징후와 함께 보내므로, "
    "모니터의 활력징후가 먼저 전송되어야 합니다.",
    "No vital signs from this unit's patient yet. The assessment goes out with the patient's vitals, "
    "so the monitor must send them first.",
)
NOTHING_TO_SEND: Words = (
    "주 증상을 고르거나 입력하고, 또는 Pre-KTAS를 선택하세요.",
    "Choose or type a chief complaint, or grade Pre-KTAS.",
)
PATIENT_CHANGED: Words = (
    "환자가 바뀌었습니다 ({old} → {new}). 새 환자의 평가를 다시 입력하세요.",
    "The patient changed ({old} → {new}). Enter the new patient's assessment.",
)
TOO_LONG: Words = (
    f"주 증상이 너무 깁니다 ({COMPLAINT_MAX}자 이하).",
    f"The chief complaint is too long ({COMPLAINT_MAX} characters at most).",
)
INVALID: Words = ("보낼 수 없는 평가입니다: {why}", "This assessment cannot be sent: {why}")


class AssessmentError(GoldenTimeError, ValueError):
    """Why the crew's assessment was not sent, in both languages (``words``)."""

    def __init__(self, words: Words) -> None:
        super().__init__(words[1])
        self.words = words


def _format(words: Words, **values: object) -> Words:
    return words[0].format(**values), words[1].format(**values)


def complaint_options() -> tuple[str, ...]:
    """The complaint codes in the order the tablet lists them: :data:`COMMON`, then the rest of the vocabulary."""
    return COMMON + tuple(c.code for c in VOCABULARY if c.code not in COMMON)


def complaint_label(code: str, *, english: bool = False) -> str:
    """``흉통 · Chest pain`` (``Chest pain · 흉통`` under the English switch): both names, so that typing
    either finds it in the tablet's searchable list."""
    complaint = COMPLAINTS[code]
    en = complaint.en[:1].upper() + complaint.en[1:]
    return f"{en} · {complaint.ko}" if english else f"{complaint.ko} · {en}"


def complaint_text(code: str | None, free_text: str = "") -> str | None:
    """The ``chief_complaint`` the crew's choice makes: the complaint's Korean name (a term of the vocabulary,
    so the dispatcher's normaliser reads it back as that code), then the crew's own words (spaces tidied);
    None when there is neither."""
    parts = [COMPLAINTS[code].ko] if code else []
    words = " ".join(free_text.split())
    if words:
        parts.append(words)
    return ", ".join(parts) or None


@dataclass(frozen=True)
class Standing:
    """What the tablet knows of the unit's current patient: from the newest vitals, and the chief complaint
    and Pre-KTAS last sent for this patient (by the crew or its monitor)."""

    patient_id: str | None = None
    vitals_at: datetime | None = None
    complaint: str | None = None
    pre_ktas: int | None = None


def standing(history: Sequence[schemas.Vitals]) -> Standing:
    """The current patient's standing assessment, from the unit's vitals, oldest first, all of the current
    patient (as the dashboard keeps them: ``CityView.vitals``)."""
    if not history:
        return Standing()
    latest = history[-1]
    same = [v for v in history if v.patient_id == latest.patient_id]
    complaint = next((v.chief_complaint for v in reversed(same) if v.chief_complaint), None)
    pre_ktas = next((v.pre_ktas for v in reversed(same) if v.pre_ktas is not None), None)
    return Standing(latest.patient_id, latest.ts, complaint, pre_ktas)


def assessed_vitals(
    history: Sequence[schemas.Vitals],
    *,
    code: str | None,
    free_text: str = "",
    pre_ktas: int | None,
    shown_patient: str | None = None,
    now: datetime | None = None,
) -> schemas.Vitals:
    """The ``ems.vitals/1`` that carries the crew's assessment: the newest of ``history`` (the unit's vitals,
    oldest first) stamped ``now`` with a fresh ``msg_id``, ``chief_complaint`` from :func:`complaint_text` and
    ``pre_ktas`` (1-5, or None / :data:`NOT_GRADED`: not graded now); either left out keeps the patient's
    :func:`standing` one.

    ``shown_patient`` is the patient the form was shown for: another one since is refused (the assessment
    was made of someone else). Raises :class:`AssessmentError` with no vitals (no patient), with nothing
    entered, and with a complaint longer than the schema allows.
    """
    if not history:
        raise AssessmentError(NO_PATIENT)
    latest = history[-1]
    if shown_patient is not None and shown_patient != latest.patient_id:
        raise AssessmentError(_format(PATIENT_CHANGED, old=shown_patient, new=latest.patient_id))
    level = None if pre_ktas == NOT_GRADED else pre_ktas
    complaint = complaint_text(code, free_text)
    if complaint is None and level is None:
        raise AssessmentError(NOTHING_TO_SEND)
    if complaint is not None and len(complaint) > COMPLAINT_MAX:
        raise AssessmentError(TOO_LONG)
    before = standing(history)
    fields = latest.model_dump(by_alias=True)
    fields.update(
        ts=now or schemas.utc_now(),
        msg_id=schemas.new_msg_id(),
        chief_complaint=complaint if complaint is not None else before.complaint,
        pre_ktas=level if level is not None else before.pre_ktas,
    )
    try:
        return schemas.Vitals.model_validate(fields)
    except ValidationError as exc:
        why = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        raise AssessmentError(_format(INVALID, why=why)) from None


def is_critical(severity: schemas.Severity) -> bool:
    """The recall-first critical call; KTAS 1-2 when the sender predates it (``critical`` absent)."""
    return severity.critical if severity.critical is not None else severity.ktas <= 2
