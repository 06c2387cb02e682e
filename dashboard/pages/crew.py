"""Crew tablet: where to take this patient, one big card and two big buttons.

The destination card shows the centre, the ETA, the beds expected on arrival and the reason (in
English when the switch asks for it and the dispatcher sent it), under a red banner when no centre
within reach gives definitive care and the patient is taken to be stabilised;
the state of the transfer request the dispatcher sent the centre for this advice
(``ems/units/{unit}/request``: 보냄 → 확인함 → 수락 / 거절(사유) / 응답 없음 / 철회, with the time
waiting) is on the card too, with a clear 출발하세요 once the centre accepted or its time to answer
ran out; Accept and Decline publish ``ems/units/{unit}/decision`` for the advice version on screen; what the
dispatcher refused of this unit's messages (a decision on advice that changed since, a malformed
message) or holds (vitals before the first position) is shown above the card for two minutes.
When the connection drops the page says so and keeps the last advice with its age.

The patient's severity is under the card: the likeliest KTAS level as the headline, in its colour, with
⚠ 중증 의심 when the dispatcher's recall-first call says critical and who set the urgency (the model, or the
crew's Pre-KTAS). Below it the crew's own assessment (:mod:`dashboard.assessment`): the chief complaint from
the vocabulary (searchable, the commonest first) or in their own words, and Pre-KTAS 1-5; 보내기 publishes
the unit's newest vitals for the current patient with them on ``ems/units/{unit}/vitals``, and says whether
it went. Without the patient's vitals there is no patient to assess yet, and the page says so.
"""

from __future__ import annotations

import html
from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard.assessment import (
    FREE_TEXT_MAX,
    NO_PATIENT,
    NOT_GRADED,
    PATIENT_CHANGED,
    PRE_KTAS_CHOICES,
    AssessmentError,
    Standing,
    assessed_vitals,
    complaint_label,
    complaint_options,
    is_critical,
    standing,
)
from dashboard.common import (
    CRITICAL,
    DECIDED_BY,
    NOT_CONNECTED,
    REFRESH_S,
    REFUSAL_REASONS,
    Text,
    age_text,
    duration_text,
    english,
    eta_text,
    footer,
    live_feed,
    page_header,
    pathway_name,
    tr,
)
from dashboard.feed import LiveFeed
from dashboard.state import WAITING, Received, unit_request
from telemetry import schemas, topics
from telemetry.client import TelemetryError

TITLE: Text = ("구급대 태블릿", "Crew tablet")
DECLINE_REASONS: list[Text] = [
    ("병원이 전화로 수용 불가", "Centre refused by phone"),
    ("환자 상태 변화", "Patient's condition changed"),
    ("도로 통제·정체", "Road closed or jammed"),
    ("환자·보호자 요청", "Patient or family request"),
    ("기타", "Other"),
]
#: Over the card when no centre within reach gives the pathway's definitive care (``Advice.definitive``).
NO_DEFINITIVE: Text = (
    "⚠ 도달 가능한 범위에 최종 치료 가능 기관 없음 — 안정화를 위해 이송합니다",
    "⚠ No definitive care within reach — the patient goes here to be stabilised",
)
#: A refusal or notice from the dispatcher is shown this long after it came (a decline refused because the
#: advice changed, vitals held until the first position).
REFUSAL_SHOWN_S = 120.0
#: The request's states in the crew's words.
REQUEST_STATES: dict[schemas.RequestState, Text] = {
    schemas.RequestState.SENT: ("보냄", "Sent"),
    schemas.RequestState.SEEN: ("확인함", "Seen"),
    schemas.RequestState.ACCEPTED: ("수락", "Accepted"),
    schemas.RequestState.DECLINED: ("거절", "Declined"),
    schemas.RequestState.NO_ANSWER: ("응답 없음", "No answer"),
    schemas.RequestState.WITHDRAWN: ("철회", "Withdrawn"),
}
ANSWER_PENDING: Text = ("수락 / 거절", "accept / decline")
GO: Text = ("✅ 수락 — 출발하세요", "✅ Accepted — go now")
GO_WITHOUT_ANSWER: Text = ("⏱ 응답 없음: 안내대로 출발", "⏱ No answer: go as advised")
WAIT_FOR_ADVICE: Text = ("❌ 거절 — 새 안내를 기다리세요", "❌ Declined — wait for new advice")
KTAS_COLOURS = {1: "#1565c0", 2: "#c62828", 3: "#f9a825", 4: "#2e7d32", 5: "#eeeeee"}
KTAS_MARKS = {1: "🔵", 2: "🔴", 3: "🟡", 4: "🟢", 5: "⚪"}  # the KTAS colours, where only text goes
DECIDED_BY_LABEL: Text = ("판단", "Set by")
ASSESSMENT: Text = ("구급대 평가 (주 증상 · Pre-KTAS)", "Crew assessment (chief complaint · Pre-KTAS)")
NOT_GRADED_WORDS: Text = ("미분류", "Not graded")
SENT: Text = ("보냈습니다: {what} (환자 {patient})", "Sent: {what} (patient {patient})")
NOT_SENT: Text = ("전송 실패 — 다시 눌러 주세요: ", "Not sent — press again: ")
QUEUED: Text = (
    "아직 전송 확인이 없습니다 (연결 끊김?). 연결되면 자동으로 보냅니다.",
    "Not confirmed yet (connection lost?). It goes out once the connection is back.",
)
#: How long 보내기 waits for the broker to take the crew's assessment (QoS 1) before saying it is not confirmed.
SEND_WAIT_S = 5.0
_CREW_STYLE = """
<style>
  .gt-severity .gt-big { font-size: 1.8rem; font-weight: 800; }
  .gt-critical { display: inline-block; margin-left: 0.6rem; padding: 0.1rem 0.6rem; border-radius: 0.5rem;
                 background: #fff; color: #b71c1c; border: 3px solid #b71c1c; font-size: 1.4rem; font-weight: 800; }
  .gt-assessed { font-size: 1.1rem; margin-bottom: 0.4rem; }
  /* The assessment form, gloves on: big fields, big Pre-KTAS buttons in the KTAS colours, a big send. */
  [class*="st-key-assess-"] input { font-size: 1.3rem; min-height: 2.8rem; }
  [class*="st-key-assess-ktas"] button { min-height: 4rem; min-width: 4.8rem; font-size: 1.5rem; font-weight: 800; }
  [class*="st-key-assess-ktas"] button:nth-of-type(1) { border: 4px solid #1565c0; }
  [class*="st-key-assess-ktas"] button:nth-of-type(2) { border: 4px solid #c62828; }
  [class*="st-key-assess-ktas"] button:nth-of-type(3) { border: 4px solid #f9a825; }
  [class*="st-key-assess-ktas"] button:nth-of-type(4) { border: 4px solid #2e7d32; }
  [class*="st-key-assess-ktas"] button:nth-of-type(5) { border: 4px solid #9e9e9e; }
  [class*="st-key-assess-ktas"] button[aria-checked="true"]:nth-of-type(1) { background: #1565c0 !important;
      color: #fff !important; border-color: #1565c0 !important; }
  [class*="st-key-assess-ktas"] button[aria-checked="true"]:nth-of-type(2) { background: #c62828 !important;
      color: #fff !important; border-color: #c62828 !important; }
  [class*="st-key-assess-ktas"] button[aria-checked="true"]:nth-of-type(3) { background: #f9a825 !important;
      color: #000 !important; border-color: #f9a825 !important; }
  [class*="st-key-assess-ktas"] button[aria-checked="true"]:nth-of-type(4) { background: #2e7d32 !important;
      color: #fff !important; border-color: #2e7d32 !important; }
  [class*="st-key-assess-ktas"] button[aria-checked="true"]:nth-of-type(5) { background: #eeeeee !important;
      color: #000 !important; border-color: #9e9e9e !important; }
  [class*="st-key-assess-ktas"] button p { font-size: 1.5rem; font-weight: 800; color: inherit !important; }
  [class*="st-key-assess-send"] button p { font-size: 1.6rem; font-weight: 700; }
  [class*="st-key-assess-send"] button { min-height: 4.5rem; font-size: 1.6rem; font-weight: 700; background: #1b7f35;
                                         border-color: #1b7f35; color: #fff; }
</style>
"""
TREND = {"hr_bpm": "HR", "sbp_mmhg": "SBP", "spo2_pct": "SpO₂", "rr_per_min": "RR"}


def _unit_choice(feed: LiveFeed) -> str | None:
    units = sorted(feed.snapshot().units)
    wanted = st.query_params.get("unit")
    if wanted and wanted not in units:
        units.insert(0, wanted)  # a tablet bookmarked for its unit, before the unit has reported
    if not units:
        st.info(tr(("아직 보고한 구급차가 없습니다.", "No unit has reported yet.")))
        return None
    index = units.index(wanted) if wanted in units else 0
    unit = st.selectbox(tr(("구급차", "Unit")), units, index=index, key="unit")
    return str(unit)


def reason_text(option: schemas.Option) -> str:
    """The reason in the language of the switch: English when asked for and the dispatcher sent it."""
    return option.reason_en if english() and option.reason_en else option.reason


def _banner(advice: schemas.Advice) -> str:
    if advice.definitive:
        return ""
    name = pathway_name(advice.pathway)
    prefix = f"{tr(name)} · " if name else ""
    words = html.escape(prefix + tr(NO_DEFINITIVE))
    return f'<div class="gt-banner" role="alert" data-testid="no-definitive">{words}</div>'


def _state_words(request: schemas.UnitRequest) -> str:
    words = tr(REQUEST_STATES[request.state])
    if request.state is schemas.RequestState.DECLINED and request.reason is not None:
        words += f" ({tr(REFUSAL_REASONS[request.reason])})"
    return words


def request_html(request: schemas.UnitRequest, now: datetime) -> str:
    """Where the centre's answer stands: the steps so far, the time waiting, and what to do now."""
    state = request.state
    overdue = state in WAITING and now >= request.answer_by
    steps = [tr(REQUEST_STATES[schemas.RequestState.SENT])]
    if state is schemas.RequestState.SENT:
        steps = [f"<b>{steps[0]}</b>", tr(REQUEST_STATES[schemas.RequestState.SEEN]), tr(ANSWER_PENDING)]
    elif state is schemas.RequestState.SEEN:
        steps = [f"{steps[0]} ✓", f"<b>{tr(REQUEST_STATES[state])}</b>", tr(ANSWER_PENDING)]
    elif state in (schemas.RequestState.ACCEPTED, schemas.RequestState.DECLINED):
        seen = tr(REQUEST_STATES[schemas.RequestState.SEEN])
        steps = [f"{steps[0]} ✓", f"{seen} ✓", f"<b>{html.escape(_state_words(request))}</b>"]
    else:  # no answer, withdrawn
        steps = [f"{steps[0]} ✓", f"<b>{tr(REQUEST_STATES[state])}</b>"]
    lines = [f'<div class="gt-steps">{tr(("수용 요청", "Request"))} · {html.escape(request.name)}: '
             f"{' → '.join(steps)}</div>"]  # fmt: skip
    if request.answered_at is not None:
        took = duration_text((request.answered_at - request.sent_at).total_seconds())
        lines.append(f"<div>{tr(('응답까지', 'Answered in'))} {took}</div>")
    else:
        waited = f"{tr(('대기', 'Waiting'))} {duration_text((now - request.sent_at).total_seconds())}"
        left = (request.answer_by - now).total_seconds()
        if state in WAITING and left > 0:
            waited += " · " + tr(("응답 기한까지 {d}", "{d} left to answer")).format(d=duration_text(left))
        lines.append(f"<div>{waited}</div>")
    act = {
        schemas.RequestState.ACCEPTED: GO,
        schemas.RequestState.NO_ANSWER: GO_WITHOUT_ANSWER,
        schemas.RequestState.DECLINED: WAIT_FOR_ADVICE,
    }.get(state, GO_WITHOUT_ANSWER if overdue else None)
    if act is not None:
        lines.append(f'<div class="gt-go" data-testid="request-go">{html.escape(tr(act))}</div>')
    message = request.message_en if english() and request.message_en else request.message
    lines.append(f"<div style='opacity:.85'>{html.escape(message)}</div>")
    return f'<div class="gt-state" data-testid="request-state" data-state="{state.value}">{"".join(lines)}</div>'


def _card(
    advice: schemas.Advice, age_s: float, request: schemas.UnitRequest | None = None, now: datetime | None = None
) -> str:
    d = advice.destination
    beds = "?" if d.beds_on_arrival is None else str(d.beds_on_arrival)
    mode = tr((" (추정)", " (approximate)")) if advice.eta_mode is schemas.EtaMode.APPROXIMATE else ""
    kind = "gt-dest" if advice.definitive else "gt-dest gt-stabilise"
    return (
        f'<div class="gt-card {kind}" data-testid="destination-card">'
        f"{_banner(advice)}"
        f"<h2>{html.escape(d.name)}</h2>"
        f'<div class="gt-big">{tr(("도착 예정", "ETA"))} {eta_text(d.eta_s)}{mode} · '
        f"{tr(('도착 시 병상', 'beds on arrival'))} {beds}</div>"
        f"<div>{html.escape(reason_text(d))}</div>"
        f"{request_html(request, now) if request is not None and now is not None else ''}"
        f"<div style='opacity:.8'>v{advice.advice_version} · {age_text(age_s)}</div></div>"
    )


def _decide(feed: LiveFeed, unit: str, advice: schemas.Advice, kind: schemas.DecisionKind, reason: str | None) -> None:
    decision = schemas.Decision.new(advice_version=advice.advice_version, decision=kind, reason=reason)
    try:
        feed.send(topics.Kind.DECISION, unit, decision)
    except TelemetryError as exc:
        st.session_state["decided"] = (unit, advice.advice_version, None, str(exc))
        return
    st.session_state["decided"] = (unit, advice.advice_version, kind.value, None)


def _buttons(feed: LiveFeed, unit: str, advice: schemas.Advice) -> None:
    accept, decline = st.columns(2)
    if accept.button(tr(("✅ 수락", "✅ Accept")), type="primary", key="accept", width="stretch"):
        _decide(feed, unit, advice, schemas.DecisionKind.ACCEPT, None)
    with decline:
        reason = st.selectbox(tr(("거절 사유", "Reason to decline")), [tr(r) for r in DECLINE_REASONS], key="reason")
        if st.button(tr(("❌ 거절", "❌ Decline")), key="decline", width="stretch"):
            _decide(feed, unit, advice, schemas.DecisionKind.DECLINE, reason)
    decided = st.session_state.get("decided")
    if decided and decided[0] == unit and decided[1] == advice.advice_version:
        if decided[3]:
            st.error(tr(("전송 실패 — 다시 눌러 주세요: ", "Not sent — press again: ")) + decided[3])
        elif decided[2] == "accept":
            st.success(tr(("수락을 보냈습니다.", "Accepted: sent to dispatch.")))
        else:
            st.warning(tr(("거절을 보냈습니다. 새 안내를 기다리세요.", "Declined: sent. Wait for new advice.")))


def _alternatives(advice: schemas.Advice) -> None:
    if not advice.alternatives:
        return
    st.markdown(f"**{tr(('다른 선택지', 'Alternatives'))}**")
    rows = [
        {
            tr(("병원", "Centre")): o.name,
            tr(("도착 예정", "ETA")): eta_text(o.eta_s),
            tr(("도착 시 병상", "Beds on arrival")): "?" if o.beds_on_arrival is None else o.beds_on_arrival,
            tr(("이유", "Why not first")): reason_text(o),
        }
        for o in advice.alternatives
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def severity_html(severity: schemas.Severity) -> str:
    """How sick the patient is: the likeliest KTAS level as the headline, in its colour; beside it the critical
    call when it says critical, who set the urgency when the dispatcher says; p(critical) in small."""
    s = severity
    critical = is_critical(s)
    head = f'<span class="gt-big">KTAS {s.ktas}</span>'
    if critical:
        head += f'<span class="gt-critical" data-testid="critical">{html.escape(tr(CRITICAL))}</span>'
    lines = [f"<div>{head}</div>"]
    if s.decided_by is not None:
        lines.append(
            f'<div class="gt-big" style="font-size:1.2rem" data-testid="decided-by">'
            f"{tr(DECIDED_BY_LABEL)}: {html.escape(tr(DECIDED_BY[s.decided_by]))}</div>"
        )
    lines.append(f"<div style='opacity:.85'>p(critical) {s.p_critical:.0%}</div>")
    decided = s.decided_by.value if s.decided_by is not None else ""
    return (
        f'<div class="gt-card gt-severity" data-testid="severity" data-ktas="{s.ktas}" '
        f'data-critical="{str(critical).lower()}" data-decided-by="{decided}" '
        f'style="background:{KTAS_COLOURS[s.ktas]};color:{"#000" if s.ktas >= 3 else "#fff"}">{"".join(lines)}</div>'
    )


def _patient(advice: schemas.Advice | None, vitals: list[schemas.Vitals]) -> None:
    if advice is not None and advice.severity is not None:
        st.markdown(severity_html(advice.severity), unsafe_allow_html=True)
    if vitals:
        frame = pd.DataFrame([{"time": v.ts, **{label: getattr(v, f) for f, label in TREND.items()}} for v in vitals])
        st.line_chart(frame.set_index("time"), height=220)


def refusal_text(refusal: schemas.Rejected, age_s: float) -> str:
    """What the dispatcher said of one of this unit's messages, in the switch's language, with its age."""
    reason = refusal.reason_en if english() and refusal.reason_en else refusal.reason
    return f"{reason} ({age_text(age_s)})"


def _refusal(received: Received | None, now: datetime) -> None:
    if received is None or not isinstance(received.payload, schemas.Rejected):
        return
    age_s = (now - received.received_at).total_seconds()
    if age_s <= REFUSAL_SHOWN_S:
        st.warning(refusal_text(received.payload, age_s), icon="⚠️")


@st.fragment(run_every=REFRESH_S)
def live(feed: LiveFeed, unit: str) -> None:
    view, now = feed.snapshot(), schemas.utc_now()
    if not feed.connected:
        st.error(tr(NOT_CONNECTED))
    _refusal(view.refusals.get(unit), now)
    received = view.advice.get(unit)
    advice = received.payload if received is not None and isinstance(received.payload, schemas.Advice) else None
    if received is None or advice is None:
        st.info(tr(("아직 안내가 없습니다. 환자 활력징후가 전송되면 안내가 나옵니다.",
                    "No advice yet. It appears once the patient's vitals are sent.")))  # fmt: skip
    else:
        request = unit_request(view, unit, advice.destination.hpid)
        st.markdown(_card(advice, (now - received.received_at).total_seconds(), request, now), unsafe_allow_html=True)
        _buttons(feed, unit, advice)
        _alternatives(advice)
    history = list(view.vitals.get(unit, ()))
    _patient(advice, history)
    st.subheader(tr(ASSESSMENT))
    _standing(standing(history), now)


# --- the crew's assessment -------------------------------------------------------------------------------------


def pre_ktas_words(level: int | None) -> str:
    """``🔴 2`` for a Pre-KTAS level, ``미분류`` when not graded (the form's buttons)."""
    return f"{KTAS_MARKS[level]} {level}" if level is not None and level in KTAS_MARKS else tr(NOT_GRADED_WORDS)


def assessment_words(complaint: str | None, pre_ktas: int | None, *, english: bool) -> str:
    """``흉통 · Pre-KTAS 🔴 2``: a chief complaint and a Pre-KTAS as the crew reads them."""
    what = complaint or ("no chief complaint" if english else "주 증상 없음")
    known = pre_ktas is not None and pre_ktas in KTAS_MARKS
    grade = f"{KTAS_MARKS[pre_ktas]} {pre_ktas}" if known and pre_ktas is not None else NOT_GRADED_WORDS[english]
    return f"{what} · Pre-KTAS {grade}"


def _standing(now_standing: Standing, now: datetime) -> None:
    """The patient the assessment will go with, and what stands for them (live, above the form)."""
    s = now_standing
    if s.patient_id is None or s.vitals_at is None:
        st.warning(tr(NO_PATIENT), icon="⚠️")
        return
    age = age_text((now - s.vitals_at).total_seconds())
    words = (
        f"{tr(('환자', 'Patient'))} {html.escape(s.patient_id)} · {tr(('최근 활력징후', 'latest vitals'))} {age} · "
        f"{tr(('현재', 'now'))}: {html.escape(assessment_words(s.complaint, s.pre_ktas, english=english()))}"
    )
    st.markdown(f'<div class="gt-assessed" data-testid="assessment-standing">{words}</div>', unsafe_allow_html=True)


def _keys(unit: str) -> dict[str, str]:
    return {name: f"assess-{name}-{unit}" for name in ("complaint", "text", "ktas", "send", "form", "patient", "out")}


def _send_assessment(
    feed: LiveFeed, unit: str, history: list[schemas.Vitals], shown: str | None, code: str | None, text: str,
    level: int | None,
) -> tuple[str, Text]:  # fmt: skip
    """Build and publish the crew's assessment: (``success`` / ``warning`` / ``error``, the words to show)."""
    try:
        vitals = assessed_vitals(history, code=code, free_text=text, pre_ktas=level, shown_patient=shown)
    except AssessmentError as exc:
        return "error", exc.words
    try:
        delivery = feed.send(topics.Kind.VITALS, unit, vitals)
    except TelemetryError as exc:
        return "error", (NOT_SENT[0] + str(exc), NOT_SENT[1] + str(exc))
    if not feed.connected or not delivery.wait(SEND_WAIT_S):
        return "warning", QUEUED
    return "success", (
        SENT[0].format(what=assessment_words(vitals.chief_complaint, vitals.pre_ktas, english=False),
                       patient=vitals.patient_id),
        SENT[1].format(what=assessment_words(vitals.chief_complaint, vitals.pre_ktas, english=True),
                       patient=vitals.patient_id),
    )  # fmt: skip


@st.fragment
def assessment_form(feed: LiveFeed, unit: str) -> None:
    """The crew's assessment: a form (nothing reruns while the crew types), refreshed only when used. A new
    patient since the form was last shown clears it: the entries were for someone else."""
    keys, state = _keys(unit), st.session_state
    history = list(feed.snapshot().vitals.get(unit, ()))
    patient = history[-1].patient_id if history else None
    shown = state.get(keys["patient"])
    changed = patient is not None and shown is not None and shown != patient
    if changed:
        # set, not deleted: a value set through the session state is also what the tablet's widgets then show
        state[keys["complaint"]], state[keys["text"]], state[keys["ktas"]] = None, "", NOT_GRADED
        words = (PATIENT_CHANGED[0].format(old=shown, new=patient), PATIENT_CHANGED[1].format(old=shown, new=patient))
        state[keys["out"]] = ("info", words)
    if patient is not None:
        state[keys["patient"]] = patient
    state.setdefault(keys["ktas"], NOT_GRADED)
    in_english = english()
    with st.form(keys["form"], enter_to_submit=False):
        code = st.selectbox(
            tr(("주 증상", "Chief complaint")),
            complaint_options(),
            index=None,
            format_func=lambda c: complaint_label(c, english=in_english),
            placeholder=tr(("눌러서 검색 (예: 흉통, 복통, chest)", "Tap to search (e.g. chest pain, 흉통)")),
            key=keys["complaint"],
        )
        text = st.text_input(
            tr(("직접 입력 (목록에 없거나 덧붙일 때)", "In your own words (not in the list, or to add)")),
            max_chars=FREE_TEXT_MAX,
            key=keys["text"],
        )
        level = st.segmented_control(
            tr(("Pre-KTAS (구급대 판단)", "Pre-KTAS (the crew's grade)")),
            PRE_KTAS_CHOICES,
            format_func=pre_ktas_words,
            required=True,
            key=keys["ktas"],
        )
        st.caption(tr(("미분류: 이 환자에게 이전에 보낸 Pre-KTAS가 있으면 그대로 유지됩니다.",
                       "Not graded: a Pre-KTAS sent before for this patient stands.")))  # fmt: skip
        sent = st.form_submit_button(tr(("📤 보내기", "📤 Send")), key=keys["send"], width="stretch")
    if sent and not changed:
        state[keys["out"]] = _send_assessment(feed, unit, history, shown, code, text or "", level)
    outcome = state.get(keys["out"])
    if outcome is not None:
        kind, words = outcome
        {"success": st.success, "warning": st.warning, "error": st.error, "info": st.info}[kind](tr(words))


page_header(TITLE)
st.markdown(_CREW_STYLE, unsafe_allow_html=True)
feed = live_feed()
if feed is not None:
    chosen = _unit_choice(feed)
    if chosen is not None:
        live(feed, chosen)
        assessment_form(feed, chosen)
footer()
