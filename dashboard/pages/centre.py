"""Emergency centre page: a charge nurse answers the transfer requests waiting for the centre, updates
beds, diversion and capabilities in one submit, and sees who is on the way (pre-notification).

The transfer requests (``ems/hospitals/{hpid}/requests``, from the dispatcher) are at the top, each with
the patient (KTAS, critical, pathway, ETA, key vitals, complaint, the crew's note), how long it has
waited and the time left to answer. 수락 is one tap; 거절 shows the four refusal reasons (and a line
of free text), and a reason is the second tap. Answers go to the capacity API
(``POST /hospitals/{hpid}/requests/{request_id}/answer``), which publishes them for the dispatcher;
the page says what was sent, or in Korean why it could not be. A request shown is marked ``seen``
once; a new one is announced by a banner and a short beep.

Twenty seconds on a tablet: the form is pre-filled with the centre's latest report, only what
changed goes to the capacity API (PATCH), and the answer is a green line or plain words. Form
values live in session state under keys per centre, so a report arriving while the nurse types
never resets the form: a newer report is offered with a button, not imposed.

The form fails loudly: a count below 0 or above 10,000, more beds free than there are, beds free on an
overcrowded ER, a closure without a reason, or a count emptied (an empty field is never sent: it would
wipe the count) are refused before anything is sent, each with Korean words next to its field; a
refusal by the API (a 422) is put in the same words, field by field, never the API's English; the last
green line goes. When the report the form shows was not written through the API (the live city's, or
none: ``updated_by`` absent), sending takes the centre over: everything the form shows goes, so the
centre's report, which the nurse's alone now writes (the live city's one-writer rule,
:mod:`simulations.live`), keeps its beds and capabilities.

The centre's state is shown as the control room shows it (:func:`dashboard.map_layers.centre_points`,
from the same latest retained report): diverting or not, its reason, and who wrote the report. A link
naming a centre this scenario does not have (``?hpid=A1100010``) says so and opens none.
"""

from __future__ import annotations

import html
import io
import json
import math
import struct
import time
import wave
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import streamlit as st

from dashboard import capacity_client
from dashboard.assessment import is_critical
from dashboard.common import (
    CRITICAL,
    NOT_CONNECTED,
    REFRESH_S,
    REFUSAL_REASONS,
    Text,
    age_text,
    duration_text,
    eta_minutes,
    eta_text,
    footer,
    live_feed,
    page_header,
    pathway_name,
    scenario,
    settings,
    tr,
)
from dashboard.map_layers import centre_points
from dashboard.state import KST, CityView, beds_age_s, pending_requests
from dispatch.pathways import ITEM_WORDS, declared_items
from dispatch.scenario import Centre
from telemetry import schemas

TITLE = ("응급의료기관", "Emergency centre")
ER = schemas.BedType.ER_GENERAL
#: The capabilities the router asks for, in the router's order (its words are the English labels).
#: What the form lets a nurse declare: every condition and equipment some pathway asks for.
ROUTER_WORDS = {item: ITEM_WORDS[item] for item in declared_items()}
TRAFFIC = {
    schemas.TrafficStatus.NORMAL: ("정상 수용", "Normal"),
    schemas.TrafficStatus.ADVISORY: ("수용 제한 (주의)", "Advisory"),
    schemas.TrafficStatus.CLOSED: ("수용 불가 (우회)", "Closed (diversion)"),
}
KTAS_MARK = {1: "🔵", 2: "🔴", 3: "🟡", 4: "🟢", 5: "⚪"}  # the KTAS colours
FAILED: dict[int | None, tuple[str, str]] = {
    None: ("용량 API에 연결할 수 없습니다", "Cannot reach the capacity API"),
    401: ("토큰이 맞지 않습니다", "Wrong or expired token"),
    403: ("이 토큰으로는 이 센터를 바꿀 수 없습니다", "This token may not update this centre"),
    404: ("용량 API에 없는 센터입니다", "The capacity API does not know this centre"),
    422: ("입력이 거부되었습니다", "The update was refused"),
}
BEDS = ("응급실 가용 병상", "ER beds available")
TOTAL = ("응급실 전체 병상", "ER beds total")
#: The most beds of one type a centre may report (the capacity API's limit).
MAX_BEDS = 10_000
#: Seconds a form being filled waits for the centre's report on a live feed that has just connected.
FIRST_REPORT_WAIT_S = 2.0
REASON: Text = ("사유", "Reason")
#: The form's fields, by the names its problems are filed under (``_key(name, hpid)``), in the page's words.
FORM_FIELDS: dict[str, Text] = {
    "available": BEDS,
    "total": TOTAL,
    "overcrowded": ("과밀", "Overcrowded"),
    "traffic": ("구급차 수용", "Ambulance traffic"),
    "reason": REASON,
    **{item.value: words for item, words in ROUTER_WORDS.items()},
}
#: Problems that belong to no one field of the form.
WHOLE_FORM = "form"
NOT_SENT: Text = ("보내지 않았습니다 — 확인할 항목", "Not sent — please check")
API_REFUSED: Text = ("용량 API가 거부했습니다 — 확인할 항목", "The capacity API refused it — please check")
#: pydantic's error types (the capacity API's 422) in the page's words; ``{ge}``, ``{le}``, ``{max_length}`` are
#: the limits the API names.
API_WORDS: dict[str, Text] = {
    "greater_than_equal": ("{ge} 이상이어야 합니다", "must be {ge} or more"),
    "greater_than": ("{gt}보다 커야 합니다", "must be more than {gt}"),
    "less_than_equal": ("{le:,} 이하여야 합니다", "must be {le:,} or less"),
    "less_than": ("{lt:,}보다 작아야 합니다", "must be less than {lt:,}"),
    "int_type": ("정수를 입력하세요", "must be a whole number"),
    "int_parsing": ("정수를 입력하세요", "must be a whole number"),
    "int_from_float": ("정수를 입력하세요", "must be a whole number"),
    "bool_type": ("예/아니오로 답하세요", "must be yes or no"),
    "string_too_long": ("{max_length}자 이하로 줄여 주세요", "must be at most {max_length} characters"),
    "string_too_short": ("비어 있을 수 없습니다", "must not be empty"),
    "string_pattern_mismatch": ("줄바꿈·제어 문자는 쓸 수 없습니다", "no line breaks or control characters"),
    "enum": ("허용되지 않는 값입니다", "not one of the allowed values"),
    "missing": ("빠졌습니다", "is missing"),
}
#: The API's own sentences (its business rules, pydantic ``value_error``), by a phrase they contain.
API_SENTENCES: tuple[tuple[str, str, Text], ...] = (
    ("needs a reason", "reason", ("수용 제한·불가에는 사유가 필요합니다", "a reason is needed unless normal")),
    ("greater than total", "available", ("가용 병상이 전체 병상보다 많을 수 없습니다",
                                         "cannot be more than the beds in total")),
    ("overcrowded", "available", ("과밀이면 가용 병상은 0이어야 합니다", "must be 0 when overcrowded")),
    ("must not be blank", "", ("공백만으로는 보낼 수 없습니다", "must not be blank")),
    ("already past", "", ("이미 지난 시각입니다", "that time has already passed")),
    ("in the future", "", ("미래의 시각입니다", "that time is in the future")),
)  # fmt: skip
INVALID: Text = ("값이 올바르지 않습니다", "not a valid value")

UNKNOWN_CENTRE: Text = ("알 수 없는 응급의료기관입니다: {hpid} — 이 시나리오({scenario})에 없는 기관 코드입니다. "
                        "아래 목록에서 센터를 고르세요.",
                        "Unknown centre: {hpid} is not a centre of this scenario ({scenario}). "
                        "Choose a centre from the list below.")  # fmt: skip
ER_NOT_OPEN: Text = ("수용 불가 — 응급실 운영 중단 보고", "Closed — the ER reported not operating")
AS_CONTROL_ROOM: Text = ("관제실 지도와 같은 상태 (마지막 보고 기준)", "As the control room shows it (latest report)")
BY: Text = ("보고:", "by")
UNSIGNED: Text = ("자동 보고 (서명 없음)", "automatic report (unsigned)")

# --- transfer requests ---------------------------------------------------------------------------

REQUESTS_TITLE: Text = ("이송 요청 — 응답해 주세요", "Transfer requests — please answer")
WAITING_BANNER: Text = ("🔔 응답을 기다리는 이송 요청 {n}건", "🔔 {n} transfer request(s) waiting for your answer")
NO_REQUESTS: Text = ("응답을 기다리는 이송 요청이 없습니다.", "No transfer request is waiting for an answer.")
ACCEPT: Text = ("✅ 수락", "✅ Accept")
DECLINE: Text = ("❌ 거절", "❌ Decline")
SEX: dict[schemas.Sex, Text] = {
    schemas.Sex.FEMALE: ("여", "F"),
    schemas.Sex.MALE: ("남", "M"),
    schemas.Sex.UNKNOWN: ("성별 미상", "sex unknown"),
}
#: The key vitals in the order a receiving doctor reads them, each with its words.
VITALS: tuple[tuple[str, Text], ...] = (
    ("age_years", ("{}세", "{} y")),
    ("hr_bpm", ("맥박 {}", "HR {}")),
    ("sbp_mmhg", ("수축기 혈압 {}", "SBP {}")),
    ("rr_per_min", ("호흡 {}", "RR {}")),
    ("spo2_pct", ("SpO₂ {}%", "SpO₂ {}%")),
    ("gcs", ("GCS {}", "GCS {}")),
    ("avpu", ("AVPU {}", "AVPU {}")),
)
SENT_WORDS: dict[schemas.AnswerKind, Text] = {
    schemas.AnswerKind.ACCEPT: ("수락을 보냈습니다", "Accept sent"),
    schemas.AnswerKind.DECLINE: ("거절을 보냈습니다", "Decline sent"),
    schemas.AnswerKind.SEEN: ("확인 표시를 보냈습니다", "Marked seen"),
}
#: Why an answer did not go, by the API's status: always Korean words (never its English validation text).
ANSWER_FAILED: dict[int | None, Text] = {
    None: ("용량 API에 연결할 수 없어 응답을 보내지 못했습니다. 다시 눌러 주세요.",
           "Cannot reach the capacity API: the answer was not sent. Press again."),
    401: ("토큰이 맞지 않아 응답을 보내지 못했습니다. 센터 토큰을 확인하세요.",
          "Wrong or expired token: the answer was not sent. Check the centre token."),
    403: ("이 토큰으로는 이 센터의 요청에 응답할 수 없습니다.", "This token may not answer this centre's requests."),
    404: ("용량 API에 없는 센터입니다.", "The capacity API does not know this centre."),
    413: ("응답이 너무 깁니다.", "The answer is too long."),
}  # fmt: skip
OTHER_FAILURE: Text = ("용량 API 오류로 응답을 보내지 못했습니다 (HTTP {status}). 다시 눌러 주세요.",
                       "The capacity API failed (HTTP {status}): the answer was not sent. Press again.")  # fmt: skip
REFUSED: Text = ("응답이 거부되었습니다 — 확인할 항목: {fields}", "The answer was refused — check: {fields}")
FIELD_WORDS: dict[str, Text] = {
    "answer": ("응답", "answer"),
    "reason": ("거절 사유", "reason"),
    "text": ("메모", "note"),
    "answered_by": ("응답자", "answered by"),
    "request_id": ("요청 번호", "request id"),
}


def _tone(rate: int = 8000, hz: float = 880.0, seconds: float = 0.35) -> bytes:
    """A short beep as a WAV file (8 kHz, 16-bit mono, faded in and out so it does not click)."""
    count = int(rate * seconds)
    fade = count // 10
    samples = (
        int(12_000 * min(1.0, n / fade, (count - n) / fade) * math.sin(2 * math.pi * hz * n / rate))
        for n in range(count)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


BEEP = _tone()


@dataclass(frozen=True)
class Sent:
    """One answer the nurse gave on this page, and what the capacity API said."""

    request_id: str
    unit_id: str
    answer: schemas.AnswerKind
    reason: schemas.RefusalReason | None
    text: str | None
    at: datetime
    result: capacity_client.Result


def _key(name: str, hpid: str) -> str:
    return f"centre-{name}:{hpid}"


def _rkey(name: str, hpid: str, request_id: str) -> str:
    """The session-state key of a widget or flag of one request."""
    return f"centre-{name}:{hpid}:{request_id}"


def _demo_token(hpid: str) -> str | None:
    """The centre's token from the demo's file (``{hpid: token}``), when there is one."""
    path = settings().demo_tokens
    try:
        tokens = json.loads(path.read_text(encoding="utf-8")) if path is not None else {}
    except (OSError, ValueError):
        return None
    token = tokens.get(hpid) if isinstance(tokens, dict) else None
    return token if isinstance(token, str) else None


def _heard(hpid: str) -> schemas.Capacity | None:
    """The centre's latest report on the live feed (the retained one), if it has come."""
    live = live_feed() if settings().mqtt_url else None  # (without a broker the fragment says so)
    received = live.snapshot().capacity.get(hpid) if live else None
    return received.payload if received is not None and isinstance(received.payload, schemas.Capacity) else None


def _latest(hpid: str) -> schemas.Capacity | None:
    """The latest report: the live feed's, else the API's (with the token), else nothing. The process's feed may
    have connected a moment ago (the first page opened): its report is waited for a little, not taken as none."""
    report, live = _heard(hpid), live_feed() if settings().mqtt_url else None
    deadline = time.monotonic() + FIRST_REPORT_WAIT_S
    while report is None and live is not None and live.connected and time.monotonic() < deadline:
        time.sleep(0.1)
        report = _heard(hpid)
    if report is not None:
        return report
    token = st.session_state.get(_key("token", hpid))
    return capacity_client.get_hospital(settings().capacity_api_url, hpid, token).report() if token else None


def _capability(report: schemas.Capacity | None, item: schemas.Condition | schemas.Equipment) -> bool | None:
    if report is None:
        return None
    found = report.conditions.get(item) if isinstance(item, schemas.Condition) else report.equipment.get(item)
    return None if found is None else found.available


def _er(report: schemas.Capacity | None) -> schemas.BedCount:
    return (report.beds.get(ER) if report else None) or schemas.BedCount()


def _beds(er: schemas.BedCount) -> str:
    return " / ".join("—" if n is None else str(n) for n in (er.available, er.total))


def _fill(hpid: str, report: schemas.Capacity | None) -> None:
    """Put ``report`` into the form (and remember it: what the nurse changes is measured against it)."""
    state = st.session_state
    er = _er(report)
    traffic = report.ems_traffic if report else schemas.EmsTraffic()
    state[_key("available", hpid)], state[_key("total", hpid)] = er.available, er.total
    state[_key("overcrowded", hpid)] = er.overcrowded
    state[_key("traffic", hpid)], state[_key("reason", hpid)] = traffic.status, traffic.reason or ""
    for item in ROUTER_WORDS:
        state[_key(item.value, hpid)] = bool(_capability(report, item))
    state[_key("base", hpid)] = report
    state.pop(_key("problems", hpid), None)  # said of values no longer in the form


def _load(hpid: str) -> None:
    """Start the form from the latest report (also when the token changes: a new sign-in)."""
    _fill(hpid, _latest(hpid))


#: What the form refuses, by field (a name of :data:`FORM_FIELDS`, or :data:`WHOLE_FORM`), in both languages.
Problems = dict[str, Text]


@dataclass(frozen=True)
class Outcome:
    """What became of one press of 보내기."""

    at: datetime
    #: The API's answer; None: nothing was sent (nothing changed, or the form refused it).
    result: capacity_client.Result | None
    #: Why it was refused, by field: the form's own check, or the API's 422 in the page's words.
    problems: Problems


def taking_over(base: schemas.Capacity | None) -> bool:
    """The form shows a report not written through the capacity API (the live city's, or none at all): sending
    then takes the centre over, with everything the form shows."""
    return base is None or base.updated_by is None


def _problems(hpid: str) -> Problems:
    """What the form refuses to send, checked before anything goes: each count 0-10,000 and not left empty while
    the centre has one (in the form's report or a newer one: an empty field is never sent, and a report taking the
    centre over without it would drop it), no more free than in total, none free on an overcrowded ER, a reason with
    an advisory or a closure."""
    state = st.session_state
    er, latest = _er(state[_key("base", hpid)]), _er(_heard(hpid))  # the form's report, and the latest one
    found: Problems = {}
    counts: dict[str, int | None] = {name: state[_key(name, hpid)] for name in ("available", "total")}
    for name, value in counts.items():
        reported = getattr(latest, name) if getattr(latest, name) is not None else getattr(er, name)
        if value is None and reported is not None:
            found[name] = (f"비워 둘 수 없습니다 — 숫자를 입력하세요 (지금 보고된 값 {reported})",
                           f"cannot be left empty — enter a number (reported now: {reported})")  # fmt: skip
        elif value is not None and value < 0:
            found[name] = (f"0 이상이어야 합니다 (입력한 값 {value})", f"must be 0 or more (you entered {value})")
        elif value is not None and value > MAX_BEDS:
            found[name] = (f"{MAX_BEDS:,} 이하여야 합니다 (입력한 값 {value:,})",
                           f"must be {MAX_BEDS:,} or less (you entered {value:,})")  # fmt: skip
    available, total = counts["available"], counts["total"]
    if not found and available is not None and total is not None and available > total:
        found["available"] = (f"가용 병상({available})이 전체 병상({total})보다 많을 수 없습니다",
                              f"cannot be more than the beds in total ({available} > {total})")  # fmt: skip
    if state[_key("overcrowded", hpid)] and available and available != er.available and "available" not in found:
        found["available"] = ("과밀이면 가용 병상은 0입니다 — 과밀을 해제하거나 0을 입력하세요",
                              "no bed is free when overcrowded — untick overcrowded or enter 0")  # fmt: skip
    if state[_key("traffic", hpid)] is not schemas.TrafficStatus.NORMAL and not state[_key("reason", hpid)].strip():
        found["reason"] = ("수용 제한·불가에는 사유가 필요합니다", "a reason is needed unless normal")
    return found


def _changes(hpid: str) -> dict[str, Any]:
    """The ``StatusUpdate`` body: what differs from the report the form was filled with, or everything the form
    shows when that report was not written through the API (:func:`taking_over`). An empty count is never sent."""
    state = st.session_state
    base: schemas.Capacity | None = state[_key("base", hpid)]
    whole, er = taking_over(base), _er(base)
    body: dict[str, Any] = {}
    counts = {name: state[_key(name, hpid)] for name in ("available", "total")}
    overcrowded: bool = state[_key("overcrowded", hpid)]
    bed = {name: v for name, v in counts.items() if v is not None and (whole or v != getattr(er, name))}
    if bed or overcrowded != er.overcrowded:  # overcrowded is always said, so a new count never clears it unseen
        if overcrowded:
            bed["available"] = 0  # no bed is free on an overcrowded ER (a count typed with it was refused)
        body["beds"] = {ER.value: {**bed, "overcrowded": overcrowded}}
    traffic = base.ems_traffic if base else schemas.EmsTraffic()
    status: schemas.TrafficStatus = state[_key("traffic", hpid)]
    reason = None if status is schemas.TrafficStatus.NORMAL else state[_key("reason", hpid)].strip() or None
    moved = status is not traffic.status or (status is not schemas.TrafficStatus.NORMAL and reason != traffic.reason)
    if whole or moved:
        body["ems_traffic"] = {"status": status.value, "reason": reason}
    for item in ROUTER_WORDS:
        ticked, reported = state[_key(item.value, hpid)], _capability(base, item)
        if ticked != bool(reported) or (whole and reported is not None):
            part = "conditions" if isinstance(item, schemas.Condition) else "equipment"
            body.setdefault(part, {})[item.value] = ticked
    return body


def _form_field(path: str) -> str:
    """The form's field an API error's ``loc`` (``beds.er_general.available``) is about."""
    parts = path.split(".")
    if parts[0] == "beds":  # a rule about the bed type as a whole (more free than in total) is about its free beds
        return parts[2] if len(parts) > 2 and parts[2] in ("total", "overcrowded") else "available"
    if parts[0] == "ems_traffic":
        return "reason" if "reason" in parts else "traffic"
    if parts[0] in ("conditions", "equipment") and len(parts) > 1 and parts[1] in FORM_FIELDS:
        return parts[1]
    return WHOLE_FORM


def api_problems(result: capacity_client.Result) -> Problems:
    """A 422 of the capacity API in the page's words, by field of the form: its error types and its own rules'
    sentences are put in Korean (and English), never shown as the API wrote them."""
    found: Problems = {}
    for problem in result.problems:
        name, words = _form_field(problem.field), INVALID
        sentence = next((s for s in API_SENTENCES if s[0] in problem.message), None)
        if problem.kind == "value_error" and sentence is not None:
            name, words = sentence[1] or name, sentence[2]
        elif problem.kind in API_WORDS:
            try:
                words = (API_WORDS[problem.kind][0].format(**problem.limits),
                         API_WORDS[problem.kind][1].format(**problem.limits))  # fmt: skip
            except (KeyError, IndexError, ValueError):
                words = INVALID
        found.setdefault(name, words)
    return found or {WHOLE_FORM: INVALID}


def _submit(hpid: str) -> None:
    """Check the form, then send what changed; the outcome is shown on the rerun that follows."""
    state = st.session_state
    problems, result = _problems(hpid), None
    if not problems:
        body = _changes(hpid)
        token = state.get(_key("token", hpid)) or ""
        result = capacity_client.update_status(settings().capacity_api_url, hpid, token, body) if body else None
        if result is not None and result.ok:
            _fill(hpid, result.report())
        elif result is not None and result.status == 422:
            problems = api_problems(result)
    state[_key("problems", hpid)] = problems
    state[_key("result", hpid)] = Outcome(datetime.now(KST), result, problems)


def problems_text(problems: Problems) -> str:
    """``응급실 가용 병상: 0 이상이어야 합니다 (입력한 값 -5)``, one per field, in the switch's language."""
    named = ((tr(FORM_FIELDS.get(name, ("입력", "input"))), tr(words)) for name, words in problems.items())
    return " · ".join(f"{field}: {words}" for field, words in named)


def _outcome(hpid: str) -> None:
    outcome: Outcome | None = st.session_state.pop(_key("result", hpid), None)
    if outcome is None:
        return
    result = outcome.result
    if outcome.problems:
        st.error(f"{tr(NOT_SENT if result is None else API_REFUSED)}: {problems_text(outcome.problems)}", icon="⚠️")
    elif result is None:
        st.info(tr(("바뀐 내용이 없어 보내지 않았습니다.", "Nothing changed, so nothing was sent.")))
    elif result.ok:
        beds = _beds(_er(st.session_state[_key("base", hpid)]))
        st.success(f"{tr(('저장했습니다', 'Saved'))} {outcome.at:%H:%M:%S} · {tr(BEDS)} {beds}", icon="✅")
    else:
        words = FAILED.get(result.status, ("용량 API 오류", "Capacity API error"))
        st.error(f"{tr(words)}{f' ({result.status})' if result.status else ''}: {result.detail}")


def _form(hpid: str) -> None:
    state = st.session_state
    base: schemas.Capacity | None = state[_key("base", hpid)]
    problems: Problems = state.get(_key("problems", hpid)) or {}

    def said(place: Any, name: str) -> None:
        """The field's problem, right under it."""
        if name in problems:
            place.error(tr(problems[name]), icon="⚠️")

    with st.form("centre-update"):
        for column, (text, name) in zip(st.columns(2), ((BEDS, "available"), (TOTAL, "total")), strict=True):
            # No bounds in the widget: the browser would drop -5 or 100000 without a word; the form says why.
            column.number_input(tr(text), step=1, value=None, placeholder=f"0–{MAX_BEDS:,}", key=_key(name, hpid))
            said(column, name)
        st.checkbox(tr(("과밀 (가용 병상 없음)", "Overcrowded (no bed free)")), key=_key("overcrowded", hpid))
        said(st, "overcrowded")
        label, options = tr(("구급차 수용", "Ambulance traffic")), list(TRAFFIC)
        traffic_words = {status: tr(text) for status, text in TRAFFIC.items()}  # the language of this run, kept
        st.radio(label, options, horizontal=True, format_func=traffic_words.__getitem__, key=_key("traffic", hpid))
        said(st, "traffic")
        label = tr(("사유 (제한·불가 시 필수)", "Reason (required unless normal)"))
        st.text_input(label, max_chars=300, key=_key("reason", hpid))
        said(st, "reason")
        st.markdown(f"**{tr(('가능한 진료', 'What you can treat now'))}**")
        columns = st.columns(3)
        for i, (item, words) in enumerate(ROUTER_WORDS.items()):
            unknown = tr((" · 미확인", " · unknown")) if _capability(base, item) is None else ""
            columns[i % 3].checkbox(tr(words) + unknown, key=_key(item.value, hpid))
            said(columns[i % 3], item.value)
        if taking_over(base):
            st.caption(tr(("보내면 이 센터의 보고를 직접 맡습니다: 양식에 보이는 내용이 모두 전송됩니다.",
                           "Sending takes this centre's report over: everything the form shows is sent.")))  # fmt: skip
        st.form_submit_button(tr(("보내기", "Send")), type="primary", on_click=_submit, args=(hpid,), key="send")


def failure_text(result: capacity_client.Result) -> str:
    """Why an answer did not go, in the switch's language: the fields a 422 named, in the page's words."""
    if result.status == 422:
        names = [tr(FIELD_WORDS.get(f.split(".")[0], ("입력", "input"))) for f in result.fields]
        return tr(REFUSED).format(fields=", ".join(dict.fromkeys(names)) or tr(("입력", "input")))
    words = ANSWER_FAILED.get(result.status)
    return tr(words) if words else tr(OTHER_FAILURE).format(status=result.status)


def sent_text(sent: Sent) -> str:
    """What was sent: ``거절을 보냈습니다 (전문의 부재: 흉부외과 수술 중) · 14:03:12``."""
    why = ""
    if sent.reason is not None:
        why = f" ({tr(REFUSAL_REASONS[sent.reason])}{f': {sent.text}' if sent.text else ''})"
    return f"{tr(SENT_WORDS[sent.answer])}{why} · {sent.at:%H:%M:%S}"


def _body(
    hpid: str, kind: schemas.AnswerKind, reason: schemas.RefusalReason | None, text: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"answer": kind.value}
    if reason is not None:
        body["reason"] = reason.value
    if text:
        body["text"] = text
    by = (st.session_state.get(_key("answered_by", hpid)) or "").strip()
    if by:
        body["answered_by"] = by
    return body


def _answer(
    hpid: str, request: schemas.TransferRequest, kind: schemas.AnswerKind, reason: schemas.RefusalReason | None = None
) -> None:
    """Send an accept or a decline (a button's callback); the outcome is shown on the rerun that follows."""
    state, rid = st.session_state, request.request_id
    text = None  # words go with a decline only
    if kind is schemas.AnswerKind.DECLINE:
        text = (state.get(_rkey("text", hpid, rid)) or "").strip() or None
    token = state.get(_key("token", hpid)) or ""
    body = _body(hpid, kind, reason, text)
    result = capacity_client.answer_request(settings().capacity_api_url, hpid, rid, token, body)
    answers: dict[str, Sent] = state.setdefault(_key("answers", hpid), {})
    answers[rid] = Sent(rid, request.unit_id, kind, reason, text, datetime.now(KST), result)
    if result.ok:
        state[_rkey("declining", hpid, rid)] = False


def _toggle_decline(hpid: str, request_id: str) -> None:
    key = _rkey("declining", hpid, request_id)
    st.session_state[key] = not st.session_state.get(key, False)


def _mark_seen(hpid: str, requests: tuple[schemas.TransferRequest, ...], answered: set[str]) -> None:
    """Tell the dispatcher, once per request, that the requests on screen were seen."""
    state = st.session_state
    token = state.get(_key("token", hpid)) or ""
    posted: set[str] = state.setdefault(_key("seen", hpid), set())
    for request in requests:
        rid = request.request_id
        if request.seen or rid in posted or rid in answered or not token:
            continue
        posted.add(rid)
        body = _body(hpid, schemas.AnswerKind.SEEN, None, None)
        result = capacity_client.answer_request(settings().capacity_api_url, hpid, rid, token, body)
        if result.ok:
            state.pop(_key("seen-failed", hpid), None)
        else:
            state[_key("seen-failed", hpid)] = result


def _vitals_text(vitals: schemas.KeyVitals) -> str:
    """``67세 · 남 · 맥박 118 · 수축기 혈압 88 · SpO₂ 91%``: what is known, in the order a doctor reads it."""
    parts = []
    for name, words in VITALS:
        value = getattr(vitals, name)
        if value is not None:
            parts.append(tr(words).format(getattr(value, "value", value)))
        if name == "age_years" and vitals.sex is not None:
            parts.append(tr(SEX[vitals.sex]))
    return " · ".join(parts) or tr(("활력징후 없음", "no vital signs"))


def request_html(request: schemas.TransferRequest, now: datetime, listed_age_s: float, *, new: bool) -> str:
    """One request's card: who, how sick, when, and how long it has waited and may still wait."""
    r = request
    head = [f"{KTAS_MARK[r.ktas]} KTAS {r.ktas}" if r.ktas else "KTAS —"]
    if r.critical:
        head.append(tr(CRITICAL))
    pathway = pathway_name(r.pathway)
    if pathway:
        head.append(tr(pathway))
    eta = f"{tr(('도착까지', 'Arrives in'))} {eta_text(r.eta_s, listed_age_s)}"
    lines = [f"<h3>{html.escape(' · '.join(head))}</h3>", f'<div class="gt-big">{eta} · {html.escape(r.unit_id)}</div>',
             f"<div>{html.escape(_vitals_text(r.vitals))}</div>"]  # fmt: skip
    if r.chief_complaint:
        lines.append(f"<div>{tr(('주 증상', 'Complaint'))}: {html.escape(r.chief_complaint)}</div>")
    if r.note:
        lines.append(f"<div>{tr(('구급대 메모', 'Crew note'))}: {html.escape(r.note)}</div>")
    waited = f"{tr(('대기', 'Waiting'))} {duration_text((now - r.sent_at).total_seconds())}"
    left = (r.answer_by - now).total_seconds()
    if left > 0:
        due = tr(("응답 기한까지 {d}", "{d} left to answer")).format(d=duration_text(left))
    else:
        late = tr(("응답 기한 {d} 지남", "{d} past the time to answer")).format(d=duration_text(-left))
        due = f'<span class="gt-late">{late}</span>'
    lines.append(f"<div>{waited} · {due}</div>")
    kind = "gt-card gt-request gt-new" if new else "gt-card gt-request"
    return f'<div class="{kind}" data-testid="request-{html.escape(r.request_id)}">{"".join(lines)}</div>'


def _request(
    hpid: str, request: schemas.TransferRequest, now: datetime, listed_age_s: float, sent: Sent | None, new: bool
) -> None:
    rid = request.request_id
    st.markdown(request_html(request, now, listed_age_s, new=new), unsafe_allow_html=True)
    if sent is not None and sent.result.ok:
        st.success(sent_text(sent), icon="✅" if sent.answer is schemas.AnswerKind.ACCEPT else "📨")
        return
    accept, decline = st.columns(2)
    accept.button(tr(ACCEPT), type="primary", key=_rkey("accept", hpid, rid), width="stretch", on_click=_answer,
                  args=(hpid, request, schemas.AnswerKind.ACCEPT))  # fmt: skip
    decline.button(tr(DECLINE), key=_rkey("decline", hpid, rid), width="stretch", on_click=_toggle_decline,
                   args=(hpid, rid))  # fmt: skip
    if st.session_state.get(_rkey("declining", hpid, rid)):
        st.text_input(tr(("메모 (선택)", "Note (optional)")), max_chars=300, key=_rkey("text", hpid, rid))
        st.caption(tr(("거절 사유를 누르면 바로 보냅니다.", "Tap the reason to send the decline.")))
        columns = st.columns(2)
        for i, (reason, words) in enumerate(REFUSAL_REASONS.items()):
            columns[i % 2].button(
                tr(words),
                key=_rkey(f"refuse-{reason.value}", hpid, rid),
                width="stretch",
                on_click=_answer,
                args=(hpid, request, schemas.AnswerKind.DECLINE, reason),
            )
        st.button(tr(("취소", "Cancel")), key=_rkey("cancel", hpid, rid), on_click=_toggle_decline, args=(hpid, rid))
    if sent is not None:
        st.error(failure_text(sent.result))


@st.fragment(run_every=REFRESH_S)
def _requests(hpid: str) -> None:
    """The requests waiting for this centre's answer, refreshed on their own; the top of the page."""
    live = live_feed() if settings().mqtt_url else None  # (without a broker the other fragment says so)
    if live is None:
        return
    state, view, now = st.session_state, live.snapshot(), schemas.utc_now()
    received, requests = view.requests.get(hpid), pending_requests(view, hpid)
    listed_age_s = max(0.0, (now - received.payload.ts).total_seconds()) if received is not None else 0.0
    answers: dict[str, Sent] = state.get(_key("answers", hpid), {})
    answered = {rid for rid, sent in answers.items() if sent.result.ok}
    waiting = [r for r in requests if r.request_id not in answered]
    announced: set[str] = state.setdefault(_key("announced", hpid), set())
    new = {r.request_id for r in waiting} - announced
    if requests:
        st.subheader(tr(REQUESTS_TITLE))
    if waiting:
        banner = html.escape(tr(WAITING_BANNER).format(n=len(waiting)))
        kind = "gt-banner gt-new" if new else "gt-banner"
        st.markdown(f'<div class="{kind}" role="alert" data-testid="requests-waiting">{banner}</div>',
                    unsafe_allow_html=True)  # fmt: skip
        if new:
            st.audio(BEEP, format="audio/wav", autoplay=True)
            announced |= new
    elif not requests:
        st.caption(tr(NO_REQUESTS))
    _mark_seen(hpid, requests, answered)
    failed = state.get(_key("seen-failed", hpid))
    if failed is not None:
        st.warning(
            f"{tr(('확인 표시를 보내지 못했습니다', 'Could not mark the requests seen'))}: {failure_text(failed)}"
        )
    for request in requests:
        rid = request.request_id
        _request(hpid, request, now, listed_age_s, answers.get(rid), rid in new)
    listed = {r.request_id for r in requests}
    earlier = [sent for rid, sent in answers.items() if sent.result.ok and rid not in listed]
    if earlier:
        st.markdown(f"**{tr(('보낸 응답', 'Answers sent'))}**")
        for sent in sorted(earlier, key=lambda a: a.at, reverse=True)[:5]:
            st.caption(f"{sent.unit_id} · {sent_text(sent)}")


def status_html(view: CityView, centre: Centre, now: datetime) -> str:
    """The centre's state as the control room shows it: the same function (:func:`centre_points`) on the same latest
    report, so the two never disagree; its colour, its words, the reason it gave."""
    [point] = centre_points(view, (centre,), now)
    received = view.capacity.get(centre.hpid)
    report = received.payload if received is not None else None
    traffic = report.ems_traffic if isinstance(report, schemas.Capacity) else schemas.EmsTraffic()
    if point.diverting and traffic.status is not schemas.TrafficStatus.CLOSED:
        words, reason = tr(ER_NOT_OPEN), None  # er_open declared false: the control room draws it diverting too
    else:
        words = tr(TRAFFIC[schemas.TrafficStatus.CLOSED if point.diverting else traffic.status])
        reason = traffic.reason if traffic.status is not schemas.TrafficStatus.NORMAL else None
    why = f" · {tr(REASON)}: {html.escape(reason)}" if reason else ""
    colour = "rgb({}, {}, {})".format(*point.colour)
    state = "diverting" if point.diverting else traffic.status.value
    return (
        f'<div class="gt-card" data-testid="centre-status" data-state="{state}" '
        f'style="border-left: 0.7rem solid {colour}; background: rgba(0,0,0,.04)">'
        f"<b>{html.escape(words)}</b>{why}<br><small>{tr(AS_CONTROL_ROOM)}</small></div>"
    )


@st.fragment(run_every=REFRESH_S)
def _live(hpid: str) -> None:
    """The centre's last report and the units on their way, refreshed on their own."""
    live = live_feed()
    if live is None:
        return
    if not live.connected:
        st.warning(tr(NOT_CONNECTED))
    view, now = live.snapshot(), schemas.utc_now()
    received = view.capacity.get(hpid)
    report = received.payload if received is not None else None
    if isinstance(report, schemas.Capacity):
        er = _er(report)
        st.metric(tr(BEDS), tr(("과밀", "overcrowded")) if er.overcrowded else _beds(er))
        centre = next((c for c in scenario().centres if c.hpid == hpid), None)
        if centre is not None:
            st.markdown(status_html(view, centre, now), unsafe_allow_html=True)
        by = report.updated_by or tr(UNSIGNED)
        st.caption(f"{tr(('마지막 보고', 'Last report'))} {age_text(beds_age_s(report, now))} · {tr(BY)} {by}")
        base = st.session_state.get(_key("base", hpid))
        if base is None or report.updated_at > base.updated_at:
            st.info(tr(("더 새로운 보고가 있습니다.", "A newer report has arrived.")))
            if st.button(tr(("새 보고로 양식 채우기", "Fill the form with it")), key=_key("reload-button", hpid)):
                st.session_state[_key("reload", hpid)] = True
                st.rerun()
    else:
        st.info(tr(("이 센터의 보고를 아직 받지 못했습니다.", "No report from this centre received yet.")))
    st.subheader(tr(("오는 환자 (사전 통보)", "Inbound patients (pre-notification)")))
    inbound = view.inbound.get(hpid)
    age = max(0.0, (now - inbound.ts).total_seconds()) if inbound else 0.0
    patients = sorted(inbound.patients if inbound else (), key=lambda p: p.eta_s)
    if not patients:
        st.info(tr(("오고 있는 구급차가 없습니다.", "No ambulance is on its way.")))
        return
    rows = [
        {
            tr(("구급차", "Unit")): p.unit_id,
            "KTAS": f"{KTAS_MARK[p.severity.ktas]} {p.severity.ktas}" if p.severity else "—",
            tr(("중증", "Critical")): tr(CRITICAL) if p.severity and is_critical(p.severity) else "",
            tr(("위중 확률", "p(critical)")): f"{p.severity.p_critical:.0%}" if p.severity else "—",
            tr(("도착까지 (분)", "ETA (min)")): ("≈" if p.eta_mode is schemas.EtaMode.APPROXIMATE else "")
            + f"{eta_minutes(p.eta_s, age)}",
        }
        for p in patients
    ]
    st.dataframe(rows, hide_index=True, width="stretch")
    if any(p.eta_mode is schemas.EtaMode.APPROXIMATE for p in patients):
        st.caption(tr(("≈ 도로망 없이 추정한 도착 시간", "≈ arrival time estimated without the road network")))


page_header(TITLE)
centres = {c.hpid: c for c in scenario().centres}
hpids, asked = list(centres), st.query_params.get("hpid")
unknown, said = asked is not None and asked not in centres, st.empty()
index = hpids.index(asked) if asked in centres else None if unknown else 0  # never another centre in its place
label, choose = tr(("응급의료기관", "Emergency centre")), tr(("센터를 고르세요", "Choose a centre"))
chosen = st.selectbox(label, hpids, index=index, format_func=lambda h: f"{centres[h].name} ({h})", key="centre",
                      placeholder=choose)  # fmt: skip
if chosen is None:  # a link to a centre this scenario does not have, none chosen yet: no centre, no token
    said.error(tr(UNKNOWN_CENTRE).format(hpid=asked, scenario=scenario().name), icon="⚠️")
    footer()
    st.stop()
hpid = str(chosen)
st.query_params["hpid"] = hpid
demo, label = _demo_token(hpid), tr(("센터 토큰", "Centre token"))
token = st.text_input(label, demo or "", type="password", key=_key("token", hpid), on_change=_load, args=(hpid,))
if demo and token == demo:
    st.caption(tr(("데모 토큰이 입력되어 있습니다.", "Demo token filled in.")))
st.text_input(tr(("응답자 (선택)", "Answered by (optional)")), max_chars=100, key=_key("answered_by", hpid))
_requests(hpid)
# Asked for, first time here, or the form's values were dropped while another centre was shown.
if st.session_state.pop(_key("reload", hpid), False) or _key("traffic", hpid) not in st.session_state:
    _load(hpid)
_form(hpid)
_outcome(hpid)
_live(hpid)
footer()
