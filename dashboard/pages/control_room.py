"""Control room (fire HQ wall screen): the live map, KPI tiles, alerts, the unit board, and the acceptance
handshake: transfer requests waiting past their time to answer, and today's refusals by centre and reason
(the national refusal statistics' four categories)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

import pandas as pd
import pydeck as pdk
import streamlit as st

from dashboard import map_layers
from dashboard.common import (
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
from dashboard.feed import LiveFeed
from dashboard.state import (
    TARGET_RESPONSE_MIN,
    Alert,
    AlertKind,
    CityView,
    alerts,
    kpis,
    overdue_requests,
    refusals_today,
)
from telemetry import schemas

TITLE: Text = ("관제실", "Control room")
STATUS: dict[str, Text] = {
    "available": ("대기", "available"),
    "dispatched": ("출동", "dispatched"),
    "on_scene": ("현장", "on scene"),
    "transporting": ("이송", "transporting"),
    "at_hospital": ("병원 도착", "at hospital"),
    "out_of_service": ("운휴", "out of service"),
    "offline": ("연결 끊김", "offline"),
    "unknown": ("알 수 없음", "unknown"),
}
ALERTS: dict[str, Text] = {
    AlertKind.NO_DEFINITIVE: ("{subject} 최종 치료 가능 기관 없음 ({detail}) — 안정화 이송 중, "
                              "전원 계획 필요 ({minutes:.0f}분)",
                              "{subject} no definitive care within reach ({detail}) — going to be stabilised, "
                              "plan the transfer ({minutes:.0f} min)"),
    AlertKind.OFFLINE: ("{subject} 연결 끊김 ({minutes:.0f}분)", "{subject} offline ({minutes:.0f} min)"),
    AlertKind.SILENT: ("{subject} 응답 없음: {minutes:.1f}분째 수신 없음",
                       "{subject} silent: nothing for {minutes:.1f} min"),
    AlertKind.DECLINED: ("{subject} 안내 거절: {detail} ({minutes:.0f}분 전)",
                         "{subject} declined advice: {detail} ({minutes:.0f} min ago)"),
    AlertKind.LONG_OFFLOAD: ("{subject} 병원 인계 지연 {minutes:.0f}분 ({detail})",
                             "{subject} long offload {minutes:.0f} min ({detail})"),
    AlertKind.STALE_CENTRE: ("{subject} 병상 정보 {minutes:.0f}분 경과",
                             "{subject} bed data {minutes:.0f} min old"),
}  # fmt: skip
#: Where an overdue request stands.
OVERDUE_STATES: dict[schemas.RequestState, Text] = {
    schemas.RequestState.SENT: ("응답 대기 (미확인)", "waiting (not seen)"),
    schemas.RequestState.SEEN: ("응답 대기 (확인함)", "waiting (seen)"),
    schemas.RequestState.NO_ANSWER: ("응답 없음 — 안내대로 출발", "no answer — went as advised"),
}
URGENT = {AlertKind.NO_DEFINITIVE, AlertKind.OFFLINE, AlertKind.SILENT, AlertKind.DECLINED}
LEGEND: Text = (
    "구급차: 🔵 대기 · 🟠 출동 · 🔴 현장 · 🟣 이송/병원 · ⚫ 연결 끊김 — 응급실(도착 시 남는 병상): "
    "🟢 3+ · 🟡 1-2 · 🔴 없음 · 🟪 수용 불가 · ⚪ 정보 오래됨 — 🟨 사건",
    "Units: 🔵 available · 🟠 dispatched · 🔴 on scene · 🟣 transporting/at hospital · ⚫ offline — "
    "ERs (beds left on arrival): 🟢 3+ · 🟡 1-2 · 🔴 none · 🟪 diverting · ⚪ stale — 🟨 incident",
)


def _silent_after_s() -> float:
    """MQTT's own rule for a dead connection: nothing heard for 1.5 keep-alive periods."""
    return 1.5 * settings().mqtt_keepalive_s


def _deck(view: CityView, now: datetime) -> pdk.Deck:
    centres = scenario().centres
    centre_rows = [asdict(p) for p in map_layers.centre_points(view, centres, now)]
    unit_rows = [asdict(p) for p in map_layers.unit_points(view, now, silent_after_s=_silent_after_s())]
    incident_rows = [
        {"id": key, "lat": i.lat, "lon": i.lon, "colour": map_layers.INCIDENT_COLOUR, "priority": i.priority}
        for key, i in map_layers.open_incidents(view, now)
    ]
    route_rows = [
        {"unit_id": r.unit_id, "start": [r.start[1], r.start[0]], "end": [r.end[1], r.end[0]], "colour": r.colour}
        for r in map_layers.routes(view, centres)
    ]
    layers = [
        pdk.Layer("LineLayer", route_rows, id="routes", get_source_position="start", get_target_position="end",
                  get_color="colour", get_width=4),
        pdk.Layer("ScatterplotLayer", centre_rows, id="centres", get_position=["lon", "lat"], get_fill_color="colour",
                  get_radius=260, radius_min_pixels=9, stroked=True, get_line_color=[255, 255, 255],
                  line_width_min_pixels=2, pickable=True),
        pdk.Layer("ScatterplotLayer", incident_rows, id="incidents", get_position=["lon", "lat"],
                  get_fill_color="colour", get_radius=120, radius_min_pixels=7, pickable=True),
        pdk.Layer("ScatterplotLayer", unit_rows, id="units", get_position=["lon", "lat"], get_fill_color="colour",
                  get_radius=90, radius_min_pixels=6, stroked=True, get_line_color=[255, 255, 255],
                  line_width_min_pixels=1, pickable=True),
    ]  # fmt: skip
    lat = sum(c.lat for c in centres) / len(centres)
    lon = sum(c.lon for c in centres) / len(centres)
    return pdk.Deck(
        layers=layers,
        initial_view_state=pdk.ViewState(latitude=lat, longitude=lon, zoom=12),
        map_provider="carto",
        map_style="light",
        tooltip={"text": "{name}{id} {status}"},
    )


def _kpi_tiles(view: CityView, now: datetime) -> None:
    k = kpis(view, now, clock_speed=settings().clock_speed)
    tiles = st.columns(4)
    p90 = "—" if k.response_p90_min is None else f"{k.response_p90_min:.1f} min"
    tiles[0].metric(tr(("대응시간 p90 (오늘)", "Response p90 (today)")), p90, help=f"n = {k.responses}")
    within = "—" if k.within_target is None else f"{k.within_target:.0%}"
    target = TARGET_RESPONSE_MIN
    tiles[1].metric(tr((f"{target:.0f}분 내 도착", f"On scene within {target:.0f} min")), within)
    tiles[2].metric(tr(("오늘 재이송", "Re-transfers today")), k.retransfers_today)
    load = "—" if k.ed_load is None else f"{k.ed_load:.0%}"
    tiles[3].metric(
        tr(("응급실 병상 점유", "ED load")), load, help=f"{k.ed_occupied}/{k.ed_total}, overcrowded: {k.overcrowded}"
    )


def _alert_text(alert: Alert) -> str:
    detail = alert.detail
    if alert.kind == AlertKind.NO_DEFINITIVE:
        detail = tr(pathway_name(detail) or ("경로 미상", "pathway unknown"))
    return tr(ALERTS[alert.kind]).format(subject=alert.subject, minutes=alert.minutes, detail=detail)


def _unit_board(view: CityView, now: datetime) -> pd.DataFrame:
    names = {c.hpid: c.name for c in scenario().centres}
    rows = []
    for unit in sorted(view.units.values(), key=lambda u: u.id):
        received = view.advice.get(unit.id)
        advice = received.payload if received is not None else None
        busy = unit.status not in (schemas.UnitStatus.AVAILABLE, None)
        destination = eta = ""
        if busy and isinstance(advice, schemas.Advice):
            destination = advice.destination.name
            eta = eta_text(advice.destination.eta_s)
        elif unit.hpid:
            destination = names.get(unit.hpid, unit.hpid)
        rows.append(
            {
                tr(("구급차", "Unit")): unit.id,
                tr(("상태", "Status")): tr(STATUS[unit.status.value if unit.status else "unknown"]),
                tr(("사건", "Incident")): unit.incident_id or "",
                tr(("목적지", "Destination")): destination,
                tr(("도착 예정", "ETA")): eta,
                tr(("마지막 수신", "Last seen")): age_text((now - unit.last_seen).total_seconds())
                if unit.last_seen
                else "",
            }
        )
    return pd.DataFrame(rows)


def _centre_name(hpid: str, known: str | None = None) -> str:
    names = {c.hpid: c.name for c in scenario().centres}
    return names.get(hpid) or known or hpid


def overdue_board(view: CityView, now: datetime) -> pd.DataFrame:
    """Requests waiting past their time to answer, the longest overdue first."""
    rows = [
        {
            tr(("센터", "Centre")): _centre_name(o.hpid, o.name),
            tr(("구급차", "Unit")): o.unit_id or "",
            tr(("상태", "State")): tr(OVERDUE_STATES.get(o.state, (o.state.value, o.state.value))),
            tr(("대기", "Waited")): duration_text(o.waited_s),
            tr(("기한 초과", "Past the time")): duration_text(o.over_s),
        }
        for o in overdue_requests(view, now)
    ]
    return pd.DataFrame(rows)


def refusal_board(view: CityView, now: datetime) -> pd.DataFrame:
    """Today's declines per centre and reason, the centre with most first."""
    counts = refusals_today(view, now)
    rows = []
    for hpid, by_reason in sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0])):
        row: dict[str, str | int] = {tr(("센터", "Centre")): _centre_name(hpid)}
        row |= {tr(REFUSAL_REASONS[reason]): by_reason[reason] for reason in REFUSAL_REASONS}
        row[tr(("합계", "Total"))] = sum(by_reason.values())
        rows.append(row)
    return pd.DataFrame(rows)


def _requests_panel(view: CityView, now: datetime) -> None:
    st.subheader(tr(("이송 요청", "Transfer requests")))
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{tr(('응답 기한 지난 요청', 'Requests past their time to answer'))}**")
        overdue = overdue_board(view, now)
        if overdue.empty:
            st.success(tr(("응답 기한 지난 요청 없음", "No request past its time to answer")))
        else:
            st.error(
                tr(("응답 기한 지난 요청 {n}건", "{n} request(s) past their time to answer")).format(n=len(overdue))
            )
            st.dataframe(overdue, hide_index=True, width="stretch")
    with right:
        st.markdown(f"**{tr(('오늘 거절 (센터·사유별)', 'Refusals today (by centre and reason)'))}**")
        refusals = refusal_board(view, now)
        if refusals.empty:
            st.info(tr(("오늘 거절 없음", "No refusal today")))
        else:
            st.dataframe(refusals, hide_index=True, width="stretch")


@st.fragment(run_every=REFRESH_S)
def live(feed: LiveFeed) -> None:
    view, now = feed.snapshot(), schemas.utc_now()
    if not feed.connected:
        st.warning(tr(NOT_CONNECTED))
    _kpi_tiles(view, now)
    left, right = st.columns([3, 1])
    with left:
        st.pydeck_chart(_deck(view, now), height=560)
        st.caption(tr(LEGEND))
    with right:
        st.subheader(tr(("알림", "Alerts")))
        found = alerts(view, now, clock_speed=settings().clock_speed, silent_after_s=_silent_after_s())
        for alert in found[:12]:
            (st.error if alert.kind in URGENT else st.warning)(_alert_text(alert))
        if not found:
            st.success(tr(("알림 없음", "No alerts")))
    st.subheader(tr(("구급차 현황", "Unit board")))
    board = _unit_board(view, now)
    if board.empty:
        st.info(tr(("아직 구급차 정보가 없습니다.", "No unit has reported yet.")))
    else:
        st.dataframe(board, hide_index=True, width="stretch")
    _requests_panel(view, now)
    if settings().clock_speed != 1.0:
        st.caption(
            tr((f"시뮬레이션 도시: 실제 시간의 {settings().clock_speed:g}배 속도 (시간은 도시 기준 분)",
                f"Simulated city at {settings().clock_speed:g}× real time (durations in city minutes)"))
        )  # fmt: skip


page_header(TITLE)
feed = live_feed()
if feed is not None:
    live(feed)
footer()
