"""Emergency centre page: a charge nurse updates beds, diversion and capabilities in one submit,
and sees who is on the way (pre-notification).

Twenty seconds on a tablet: the form is pre-filled with the centre's latest report, only what
changed goes to the capacity API (PATCH), and the answer is a green line or plain words. Form
values live in session state under keys per centre, so a report arriving while the nurse types
never resets the form: a newer report is offered with a button, not imposed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import streamlit as st

from dashboard import capacity_client
from dashboard.common import NOT_CONNECTED, REFRESH_S, age_text, footer, live_feed, page_header, scenario, settings, tr
from dashboard.state import KST, beds_age_s
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


def _key(name: str, hpid: str) -> str:
    return f"centre-{name}:{hpid}"


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
        st.radio(label, options, horizontal=True, format_func=lambda s: tr(TRAFFIC[s]), key=_key("traffic", hpid))
        label = tr(("사유 (제한·불가 시 필수)", "Reason (required unless normal)"))
        st.text_input(label, max_chars=300, key=_key("reason", hpid))
        st.markdown(f"**{tr(('가능한 진료', 'What you can treat now'))}**")
        columns = st.columns(3)
        for i, (item, words) in enumerate(ROUTER_WORDS.items()):
            unknown = tr((" · 미확인", " · unknown")) if _capability(base, item) is None else ""
            columns[i % 3].checkbox(tr(words) + unknown, key=_key(item.value, hpid))
        st.form_submit_button(tr(("보내기", "Send")), type="primary", on_click=_submit, args=(hpid,), key="send")


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
# Asked for, first time here, or the form's values were dropped while another centre was shown.
if st.session_state.pop(_key("reload", hpid), False) or _key("traffic", hpid) not in st.session_state:
    _load(hpid)
_form(hpid)
_outcome(hpid)
_live(hpid)
footer()
