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
"""

from __future__ import annotations

import html
import io
import json
import math
import struct
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
    eta_text,
    footer,
    live_feed,
    page_header,
    pathway_name,
    scenario,
    settings,
    tr,
)
from dashboard.state import KST, beds_age_s, pending_requests
from dispatch.pathways import ITEM_WORDS, declared_items
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


def _latest(hpid: str) -> schemas.Capacity | None:
    """The latest report: the live feed's, else the API's (with the token), else nothing."""
    live = live_feed() if settings().mqtt_url else None  # (without a broker the fragment says so)
    received = live.snapshot().capacity.get(hpid) if live else None
    if received is not None and isinstance(received.payload, schemas.Capacity):
        return received.payload
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


def _load(hpid: str) -> None:
    """Start the form from the latest report (also when the token changes: a new sign-in)."""
    _fill(hpid, _latest(hpid))


def _changes(hpid: str) -> dict[str, Any]:
    """The ``StatusUpdate`` body of what differs from the report the form was filled with."""
    state = st.session_state
    base: schemas.Capacity | None = state[_key("base", hpid)]
    body: dict[str, Any] = {}
    fields = {f: state[_key(f, hpid)] for f in ("available", "total", "overcrowded")}
    bed = {f: v for f, v in fields.items() if v != getattr(_er(base), f)}
    if bed:  # overcrowded is always said, so a new count never clears it unseen; ticked alone, no bed is free
        body["beds"] = {ER.value: {"available": 0, **bed} if bed.get("overcrowded") else bed}
        body["beds"][ER.value]["overcrowded"] = fields["overcrowded"]
    traffic = base.ems_traffic if base else schemas.EmsTraffic()
    status, reason = state[_key("traffic", hpid)], state[_key("reason", hpid)].strip() or None
    if (status, reason) != (traffic.status, traffic.reason):
        body["ems_traffic"] = {"status": status.value, "reason": reason}
    for item in ROUTER_WORDS:
        if state[_key(item.value, hpid)] != bool(_capability(base, item)):
            part = "conditions" if isinstance(item, schemas.Condition) else "equipment"
            body.setdefault(part, {})[item.value] = state[_key(item.value, hpid)]
    return body


def _submit(hpid: str) -> None:
    """Send what changed; the outcome is shown on the rerun that follows."""
    body = _changes(hpid)
    token = st.session_state.get(_key("token", hpid)) or ""
    result = capacity_client.update_status(settings().capacity_api_url, hpid, token, body) if body else None
    if result is not None and result.ok:
        _fill(hpid, result.report())
    st.session_state[_key("result", hpid)] = (result, datetime.now(KST))


def _outcome(hpid: str) -> None:
    outcome: tuple[capacity_client.Result | None, datetime] | None = st.session_state.pop(_key("result", hpid), None)
    if outcome is None:
        return
    result, at = outcome
    if result is None:
        st.info(tr(("바뀐 내용이 없어 보내지 않았습니다.", "Nothing changed, so nothing was sent.")))
    elif result.ok:
        beds = _beds(_er(st.session_state[_key("base", hpid)]))
        st.success(f"{tr(('저장했습니다', 'Saved'))} {at:%H:%M:%S} · {tr(BEDS)} {beds}", icon="✅")
    else:
        words = FAILED.get(result.status, ("용량 API 오류", "Capacity API error"))
        st.error(f"{tr(words)}{f' ({result.status})' if result.status else ''}: {result.detail}")


def _form(hpid: str) -> None:
    base: schemas.Capacity | None = st.session_state[_key("base", hpid)]
    with st.form("centre-update"):
        for column, (text, name) in zip(st.columns(2), ((BEDS, "available"), (TOTAL, "total")), strict=True):
            column.number_input(tr(text), min_value=0, max_value=10_000, step=1, value=None, key=_key(name, hpid))
        st.checkbox(tr(("과밀 (가용 병상 없음)", "Overcrowded (no bed free)")), key=_key("overcrowded", hpid))
        label, options = tr(("구급차 수용", "Ambulance traffic")), list(TRAFFIC)
        traffic_words = {status: tr(text) for status, text in TRAFFIC.items()}  # the language of this run, kept
        st.radio(label, options, horizontal=True, format_func=traffic_words.__getitem__, key=_key("traffic", hpid))
        label = tr(("사유 (제한·불가 시 필수)", "Reason (required unless normal)"))
        st.text_input(label, max_chars=300, key=_key("reason", hpid))
        st.markdown(f"**{tr(('가능한 진료', 'What you can treat now'))}**")
        columns = st.columns(3)
        for i, (item, words) in enumerate(ROUTER_WORDS.items()):
            unknown = tr((" · 미확인", " · unknown")) if _capability(base, item) is None else ""
            columns[i % 3].checkbox(tr(words) + unknown, key=_key(item.value, hpid))
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
    eta = f"{tr(('도착까지', 'Arrives in'))} {eta_text(max(0.0, r.eta_s - listed_age_s))}"
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
        st.caption(
            f"{tr(('마지막 보고', 'Last report'))} {age_text(beds_age_s(report, now))} · "
            f"{tr(TRAFFIC[report.ems_traffic.status])}"
        )
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
            + f"{max(0.0, p.eta_s - age) / 60:.0f}",
        }
        for p in patients
    ]
    st.dataframe(rows, hide_index=True, width="stretch")
    if any(p.eta_mode is schemas.EtaMode.APPROXIMATE for p in patients):
        st.caption(tr(("≈ 도로망 없이 추정한 도착 시간", "≈ arrival time estimated without the road network")))


page_header(TITLE)
centres = {c.hpid: c for c in scenario().centres}
hpids, asked = list(centres), st.query_params.get("hpid")
index, label = hpids.index(asked) if asked in centres else 0, tr(("응급의료기관", "Emergency centre"))
hpid = str(st.selectbox(label, hpids, index=index, format_func=lambda h: f"{centres[h].name} ({h})", key="centre"))
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
