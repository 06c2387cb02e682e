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
critical).

And the rest of the tablet's logic that needs no page to test (issue 25), in the section at the end: the
state of a link (:func:`link_state`, :class:`LinkWatch`), where a crew's decision stands (:class:`Pressed`,
:func:`stage_of`: held → sending → sent → acknowledged, or undone, not sent, refused; what each step means
is said there), whether an advice was accepted as far as the bus tells (:func:`accepted_on_bus`), whether
the destination just changed (:func:`destination_changed`, :func:`declined_just_before`), a unit the
dashboard never heard of (:func:`heard_of`), the beds in words (:func:`beds_words`) and the vitals chart's
time ticks (:func:`time_ticks`). Pure: no Streamlit, no MQTT.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import ValidationError

from dashboard.state import CityView, unit_request
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


# --- the tablet's link, its decisions and its card ------------------------------------------------------------

#: The tablet's live part is redrawn every 2 s (``dashboard.common.REFRESH_S``) while its browser reaches the
#: dashboard; no redraw for this long and the page says it is reconnecting (the browser counts, see crew.py).
RECONNECTING_AFTER_S = 6.0
#: A link down for this long is cut off, since the moment it went (or was last known up).
CUT_OFF_AFTER_S = 15.0
#: A confirmed decline waits this long before it is published: the crew may still undo it.
UNDO_S = 5.0
#: The "new destination" badge stays this long after the destination changed.
NEW_DESTINATION_S = 30.0
#: Where a decision stands is shown this long after it was pressed (an accept of the advice on screen for as
#: long as that advice stands).
DECISION_SHOWN_S = 120.0


class Link(StrEnum):
    """A link as the crew reads it: up, down for a few seconds (retrying), or down for longer."""

    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CUT_OFF = "cut_off"


def link_state(connected: bool, down_since: datetime | None, now: datetime) -> Link:
    """Up; down for less than :data:`CUT_OFF_AFTER_S` (reconnecting); or cut off (since ``down_since``)."""
    if connected:
        return Link.CONNECTED
    if down_since is None or (now - down_since).total_seconds() < CUT_OFF_AFTER_S:
        return Link.RECONNECTING
    return Link.CUT_OFF


class LinkWatch:
    """Since when a link has been down, as noticed by whoever looks at it (each redraw of a page): the first look
    that finds it down starts the clock, the first that finds it up stops it. Thread-safe: one per dashboard
    process, shared by its sessions, so a tablet opened during an outage is told since when, not since it opened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: datetime | None = None

    def observe(self, connected: bool, now: datetime) -> datetime | None:
        """Take one look; the time the link was first seen down (None while up)."""
        with self._lock:
            if connected:
                self._down_since = None
            elif self._down_since is None:
                self._down_since = now
            return self._down_since


class Stage(StrEnum):
    """Where a crew's decision stands, honestly:

    - ``held``: a confirmed decline in its undo window (:data:`UNDO_S`): nothing has left the dashboard;
    - ``sending`` (보내는 중): handed to the dashboard's MQTT client, not yet taken by the broker (while the
      dashboard's link is down the client queues it, QoS 1, and sends it once the link is back);
    - ``sent`` (보냄): the broker acknowledged it (QoS 1 PUBACK): it is on its way to the dispatcher;
    - ``acknowledged`` (확인됨): the dispatcher's side shows it. A decline: the dispatcher published a newer
      advice for the same patient (the new destination) or withdrew the request of the declined one. An accept:
      the dispatcher answers an accept with no message (its advice stands), so this is the most the bus can
      tell: the broker handed the decision back to the dashboard's own subscription to the unit's decision
      topic, the one the dispatcher's subscription gets it through, and no refusal from the dispatcher names it
      (one that comes later turns it into ``refused``);
    - ``refused`` (거부됨): the dispatcher refused it (``ems/units/{unit}/rejected`` carries its ``msg_id``);
    - ``not_sent`` (보내지 않음): it never left: the advice changed between the press and the moment the dashboard
      got it (a press while the tablet was cut off), or the client refused it;
    - ``undone`` (되돌림): the crew undid the decline within its window; nothing was sent."""

    HELD = "held"
    SENDING = "sending"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    REFUSED = "refused"
    NOT_SENT = "not_sent"
    UNDONE = "undone"


#: The steps a sent decision goes through, in order.
STEPS: tuple[Stage, ...] = (Stage.SENDING, Stage.SENT, Stage.ACKNOWLEDGED)


@dataclass(frozen=True)
class Shown:
    """The advice on the crew's screen when they pressed: its version, patient and destination."""

    advice_version: int
    patient_id: str
    hpid: str
    name: str

    @classmethod
    def of(cls, advice: schemas.Advice) -> Shown:
        return cls(advice.advice_version, advice.patient_id, advice.destination.hpid, advice.destination.name)


@dataclass(frozen=True)
class Pressed:
    """One decision the crew pressed and what has become of it so far (:func:`stage_of` reads the rest from the
    bus). ``decision`` is the message once published; ``broker_acked`` once the broker took it."""

    kind: schemas.DecisionKind
    shown: Shown
    pressed_at: datetime
    reason: str | None = None
    #: A decline is published then, unless undone before.
    due_at: datetime | None = None
    decision: schemas.Decision | None = None
    broker_acked: bool = False
    undone: bool = False
    #: Why it was not sent, in both languages.
    error: Words | None = None


ADVICE_CHANGED: Words = (
    "보내지 않았습니다: 누른 뒤 안내가 바뀌었습니다 ({old} → {new}). 새 안내를 보고 다시 결정하세요.",
    "Not sent: the advice changed after the press ({old} → {new}). Read the new advice and decide again.",
)
ADVICE_GONE: Words = (
    "보내지 않았습니다: 누른 뒤 안내가 없어졌습니다.",
    "Not sent: the advice was withdrawn after the press.",
)


def advice_moved(shown: Shown, current: schemas.Advice | None) -> Words | None:
    """Why a decision pressed on ``shown`` must not go now that ``current`` is the advice, or None when it may:
    the same patient and destination (the dispatcher takes a decision on an older version naming the destination
    the newest names, as the ETA moves it re-advises), nothing else."""
    if current is None:
        return ADVICE_GONE
    if current.patient_id == shown.patient_id and current.destination.hpid == shown.hpid:
        return None
    return _format(ADVICE_CHANGED, old=shown.name, new=current.destination.name)


def refusal_of(view: CityView, unit: str, decision: schemas.Decision) -> schemas.Rejected | None:
    """The dispatcher's refusal of this very decision (its report quotes the message, ``msg_id`` included)."""
    received = view.refusals.get(unit)
    refusal = received.payload if received is not None else None
    if isinstance(refusal, schemas.Rejected) and decision.msg_id in refusal.payload_excerpt:
        return refusal
    return None


def heard_back(view: CityView, unit: str, decision: schemas.Decision) -> bool:
    """Did the broker hand this decision to the dashboard's subscription of the unit's decision topic?"""
    return any(seen.unit_id == unit and seen.decision.msg_id == decision.msg_id for seen in view.decisions)


def decline_answered(view: CityView, unit: str, shown: Shown) -> bool:
    """Has the dispatcher answered a decline of ``shown``: a newer advice for the patient, or the declined
    destination's request withdrawn?"""
    received = view.advice.get(unit)
    advice = received.payload if received is not None else None
    newer = isinstance(advice, schemas.Advice) and advice.advice_version > shown.advice_version
    if newer and isinstance(advice, schemas.Advice) and advice.patient_id == shown.patient_id:
        return True
    request = unit_request(view, unit, shown.hpid)
    return (
        request is not None
        and request.state is schemas.RequestState.WITHDRAWN
        and request.advice_version <= shown.advice_version
    )


def stage_of(pressed: Pressed, view: CityView, unit: str) -> Stage:
    """Where the decision stands (see :class:`Stage` for what each step means)."""
    if pressed.undone:
        return Stage.UNDONE
    if pressed.error is not None:
        return Stage.NOT_SENT
    decision = pressed.decision
    if decision is None:
        return Stage.HELD if pressed.due_at is not None else Stage.SENDING
    if refusal_of(view, unit, decision) is not None:
        return Stage.REFUSED
    echoed = heard_back(view, unit, decision)
    if pressed.kind is schemas.DecisionKind.DECLINE and decline_answered(view, unit, pressed.shown):
        return Stage.ACKNOWLEDGED
    if pressed.kind is schemas.DecisionKind.ACCEPT and echoed:
        return Stage.ACKNOWLEDGED
    return Stage.SENT if pressed.broker_acked or echoed else Stage.SENDING


def concerns(pressed: Pressed, stage: Stage, advice: schemas.Advice, now: datetime) -> bool:
    """Is this decision worth showing under ``advice``? One of this patient's: an accept of this destination
    for as long as it stands, a decline (whose answer the new advice is) for :data:`DECISION_SHOWN_S`, and
    anything still on its way."""
    if pressed.shown.patient_id != advice.patient_id:
        return False
    if stage in (Stage.HELD, Stage.SENDING, Stage.SENT):
        return True
    if pressed.kind is schemas.DecisionKind.ACCEPT and pressed.shown.hpid == advice.destination.hpid:
        return True
    return (now - pressed.pressed_at).total_seconds() <= DECISION_SHOWN_S


@dataclass(frozen=True)
class Accepted:
    """An accept of the advice on screen heard on the bus: the version accepted, and when (None when only the
    dashboard's count of accepts remembers it)."""

    advice_version: int
    at: datetime | None


def accepted_on_bus(view: CityView, unit: str, advice: schemas.Advice) -> Accepted | None:
    """Did this unit's crew accept ``advice``, as far as the decisions the dashboard heard on
    ``ems/units/{unit}/decision`` tell (so a reloaded tablet, or another one, shows it)?

    The newest decision of the unit on this advice or an older version decides: a decline, no; an accept of this
    version, yes; an accept of an older version, yes when it named the same destination, which the transfer
    request tells: the request to this destination was made at that version or before (a new destination gets a
    new request). The decisions kept are the last 200; past them, the dashboard's set of accepted versions says
    whether this very version was accepted."""
    for seen in reversed(view.decisions):
        decision = seen.decision
        if seen.unit_id != unit or decision.advice_version > advice.advice_version:
            continue
        if decision.decision is schemas.DecisionKind.DECLINE:
            return None
        if decision.advice_version == advice.advice_version:
            return Accepted(decision.advice_version, decision.ts)
        request = unit_request(view, unit, advice.destination.hpid)
        if request is not None and request.advice_version <= decision.advice_version:
            return Accepted(decision.advice_version, decision.ts)
        return None
    if (unit, advice.advice_version) in view.accepted:
        return Accepted(advice.advice_version, None)
    return None


def destination_changed(before: tuple[str, str] | None, advice: schemas.Advice) -> bool:
    """Is ``advice`` a new destination for the patient shown before (``before``: patient, HPID)? A new patient's
    first destination is not a change."""
    return before is not None and before[0] == advice.patient_id and before[1] != advice.destination.hpid


def declined_just_before(view: CityView, unit: str, advice: schemas.Advice, now: datetime) -> datetime | None:
    """When this unit's crew declined an earlier advice, if within :data:`NEW_DESTINATION_S` of ``now`` (the
    advice shown is then the new destination, also on a tablet opened since)."""
    for seen in reversed(view.decisions):
        decision = seen.decision
        if seen.unit_id != unit or decision.decision is not schemas.DecisionKind.DECLINE:
            continue
        recent = now - decision.ts <= timedelta(seconds=NEW_DESTINATION_S)
        return decision.ts if recent and decision.advice_version < advice.advice_version else None
    return None


def heard_of(view: CityView, unit: str) -> bool:
    """Has the dashboard heard anything of this unit (its status, position, vitals, advice, request, a refusal)?"""
    return any(unit in known for known in (view.units, view.advice, view.vitals, view.unit_requests, view.refusals))


def beds_words(beds: int | None, *, english: bool) -> str:
    """``도착 시 병상 1개`` / ``1 bed on arrival``: the count with its unit, so that 1 never reads as 15."""
    if beds is None:
        return "beds on arrival unknown" if english else "도착 시 병상 정보 없음"
    if english:
        return f"{beds} bed on arrival" if beds == 1 else f"{beds} beds on arrival"
    return f"도착 시 병상 {beds}개"


#: Steps between the vitals chart's time ticks (seconds), each a whole clock value.
TICK_STEPS_S: tuple[int, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def tick_step_s(span_s: float, ticks: int = 5) -> int:
    """The smallest of :data:`TICK_STEPS_S` that puts at most ``ticks`` ticks on a time axis of ``span_s``."""
    return next((step for step in TICK_STEPS_S if span_s / step <= ticks), TICK_STEPS_S[-1])


def time_ticks(start: datetime, end: datetime, ticks: int = 5) -> list[datetime]:
    """The time axis's ticks from ``start`` to ``end``: whole clock values, :func:`tick_step_s` apart (so they read
    ``14:03:10``, ``14:03:20``, never a fraction of a second); ``start`` itself when none falls in between (a
    single measurement)."""
    step = tick_step_s((end - start).total_seconds(), ticks)
    first = math.ceil(start.timestamp() / step) * step
    found = [datetime.fromtimestamp(t, start.tzinfo) for t in range(first, int(end.timestamp()) + 1, step)]
    return found or [start]
