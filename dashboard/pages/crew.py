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
"""

from __future__ import annotations

import html
from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard.common import (
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


def _patient(advice: schemas.Advice, vitals: list[schemas.Vitals]) -> None:
    if advice.severity is not None:
        s = advice.severity
        colour = KTAS_COLOURS[s.ktas]
        st.markdown(
            f'<div class="gt-card" style="background:{colour};color:{"#000" if s.ktas >= 3 else "#fff"}">'
            f'<span class="gt-big">KTAS {s.ktas}</span> · p(critical) {s.p_critical:.0%}</div>',
            unsafe_allow_html=True,
        )
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
    if received is None or not isinstance(received.payload, schemas.Advice):
        st.info(tr(("아직 안내가 없습니다. 환자 활력징후가 전송되면 안내가 나옵니다.",
                    "No advice yet. It appears once the patient's vitals are sent.")))  # fmt: skip
        return
    advice = received.payload
    request = unit_request(view, unit, advice.destination.hpid)
    st.markdown(_card(advice, (now - received.received_at).total_seconds(), request, now), unsafe_allow_html=True)
    _buttons(feed, unit, advice)
    _alternatives(advice)
    _patient(advice, list(view.vitals.get(unit, ())))


page_header(TITLE)
feed = live_feed()
if feed is not None:
    chosen = _unit_choice(feed)
    if chosen is not None:
        live(feed, chosen)
footer()
