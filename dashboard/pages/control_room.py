"""Control room (fire HQ wall screen): the live map, KPI tiles, alerts, the unit board, the centres, and the
acceptance handshake: transfer requests waiting past their time to answer, and today's refusals by centre and
reason (the national refusal statistics' four categories).

The map is drawn on the scenario's own road network (:mod:`dashboard.base_map`): it shows streets with no tile
server and fetches nothing from the internet unless the dispatcher turns tiles on (a switch in the sidebar).
Units and centres are labelled (a centre with the beds it will have left once the units heading there arrive),
centres that would cover each other are drawn apart, and every point's tooltip says what the tables say.

Alerts are only the city's own (its scenario's centres), one line per kind and subject with a count, the first
:data:`ALERTS_SHOWN` shown and the rest behind "더 보기"; a dispatcher acknowledges one, and it stays
acknowledged on every screen of this dashboard (while it runs) until its condition changes. The layout puts the
map and, beside it, the alerts and the unit board on a 1920×1080 wall's first screen; a portrait tablet gets them one
under the other.
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
from datetime import datetime
from typing import Any

import pandas as pd
import pydeck as pdk
import streamlit as st
from pydeck.bindings.json_tools import default_serialize

from dashboard import base_map, map_layers
from dashboard.common import (
    DECLINE_REASONS,
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
    region_name,
    scenario,
    settings,
    tr,
)
from dashboard.feed import LiveFeed
from dashboard.state import (
    SILENT,
    TARGET_RESPONSE_MIN,
    AlertGroup,
    AlertKind,
    BoardRow,
    CityView,
    alerts,
    group_alerts,
    kpis,
    overdue_requests,
    refusals_today,
    unit_board,
)
from telemetry import schemas

TITLE: Text = ("관제실", "Control room")
#: A unit's status on the board and in its tooltip (the board colours it as the map does).
STATUS: dict[str, Text] = {
    "available": ("대기", "available"),
    "dispatched": ("출동", "dispatched"),
    "on_scene": ("현장", "on scene"),
    "transporting": ("이송", "transporting"),
    "at_hospital": ("병원 도착", "at hospital"),
    "out_of_service": ("운휴", "out of service"),
    "offline": ("연결 끊김", "offline"),
    SILENT: ("무응답", "silent"),
    "unknown": ("알 수 없음", "unknown"),
}
ALERTS: dict[str, Text] = {
    AlertKind.NO_DEFINITIVE: ("{subject} 최종 치료 가능 기관 없음 ({detail}) — 안정화 이송 중, "
                              "전원 계획 필요 ({minutes:.0f}분)",
                              "{subject} no definitive care within reach ({detail}) — going to be stabilised, "
                              "plan the transfer ({minutes:.0f} min)"),
    AlertKind.OFFLINE: ("{subject} 연결 끊김 ({minutes:.0f}분)", "{subject} offline ({minutes:.0f} min)"),
    AlertKind.SILENT: ("{subject} 무응답: {minutes:.1f}분째 수신 없음",
                       "{subject} silent: nothing for {minutes:.1f} min"),
    AlertKind.DECLINED: ("{subject} 안내 거절: {detail} ({minutes:.0f}분 전)",
                         "{subject} declined advice: {detail} ({minutes:.0f} min ago)"),
    AlertKind.LONG_OFFLOAD: ("{subject} 병원 인계 지연 {minutes:.0f}분 ({detail})",
                             "{subject} long offload {minutes:.0f} min ({detail})"),
    AlertKind.STALE_CENTRE: ("{subject} 병상 정보 {minutes:.0f}분 경과",
                             "{subject} bed data {minutes:.0f} min old"),
    AlertKind.DISPATCHER_OFFLINE: ("{subject} 디스패처 중단 — 안내가 나가지 않습니다 (대기 디스패처가 넘겨받을 때까지)",
                                   "{subject} dispatcher down — no advice goes out (until a standby takes over)"),
    AlertKind.DISPATCHER_STALE: ("{subject} 디스패처 응답 없음 — 안내가 나가지 않습니다 (대기 디스패처가 넘겨받을 "
                                 "때까지, {minutes:.1f}분째 신호 없음)",
                                 "{subject} dispatcher not responding — no advice goes out (until a standby takes "
                                 "over; nothing for {minutes:.1f} min)"),
    AlertKind.LEDGER_DOWN: ("{subject} 경계 응급센터 병상 장부 연결 안 됨 — 다른 지역과 같은 병상을 약속할 수 "
                            "있습니다 ({minutes:.0f}분)",
                            "{subject} border-bed ledger unreachable — may promise the same bed as another region "
                            "({minutes:.0f} min)"),
}  # fmt: skip
#: The same, for a group of more than one.
ALERTS_MANY: dict[str, Text] = {
    AlertKind.DECLINED: ("{subject} 안내 거절 {count}회 — 최근: {detail} ({minutes:.0f}분 전)",
                         "{subject} declined advice {count} times — latest: {detail} ({minutes:.0f} min ago)"),
    AlertKind.LONG_OFFLOAD: ("{subject} 병원 인계 지연: 구급차 {count}대, 최장 {minutes:.0f}분 ({detail})",
                             "{subject} long offload: {count} units, longest {minutes:.0f} min ({detail})"),
}  # fmt: skip
#: Alerts shown before "더 보기" (the rest behind it).
ALERTS_SHOWN = 4
#: Decline reasons the control room knows, whatever language they came in: the tablet's (Korean or English, as its
#: switch was) and those the demo city's crews give in English (``simulations.live``).
KNOWN_REASONS: dict[str, Text] = {
    "refused at the door: no bed": ("병원 도착 후 수용 거부: 병상 없음", "refused at the door: no bed"),
    "no capability": ("치료 불가 (전문의·장비 없음)", "no capability"),
    **{words: reason for reason in DECLINE_REASONS for words in reason},
}
#: Where an overdue request stands.
OVERDUE_STATES: dict[schemas.RequestState, Text] = {
    schemas.RequestState.SENT: ("응답 대기 (미확인)", "waiting (not seen)"),
    schemas.RequestState.SEEN: ("응답 대기 (확인함)", "waiting (seen)"),
    schemas.RequestState.NO_ANSWER: ("응답 없음 — 안내대로 출발", "no answer — went as advised"),
}
DISPATCHER_KINDS = {AlertKind.DISPATCHER_OFFLINE, AlertKind.DISPATCHER_STALE, AlertKind.LEDGER_DOWN}
URGENT = {
    AlertKind.DISPATCHER_OFFLINE,
    AlertKind.DISPATCHER_STALE,
    AlertKind.NO_DEFINITIVE,
    AlertKind.OFFLINE,
    AlertKind.SILENT,
    AlertKind.DECLINED,
}
#: The map's legend: (colour, words) per kind of point, in the map's own colours.
UNIT_LEGEND: list[tuple[map_layers.Rgb, Text]] = [
    (map_layers.UNIT_COLOURS[schemas.UnitStatus.AVAILABLE], ("대기", "available")),
    (map_layers.UNIT_COLOURS[schemas.UnitStatus.DISPATCHED], ("출동", "dispatched")),
    (map_layers.UNIT_COLOURS[schemas.UnitStatus.ON_SCENE], ("현장", "on scene")),
    (map_layers.UNIT_COLOURS[schemas.UnitStatus.TRANSPORTING], ("이송", "transporting")),
    (map_layers.UNIT_COLOURS[schemas.UnitStatus.AT_HOSPITAL], ("병원 도착", "at hospital")),
    (map_layers.SILENT_COLOUR, ("연결 끊김·무응답", "offline or silent")),
]
CENTRE_LEGEND: list[tuple[map_layers.Rgb, Text]] = [
    (map_layers.GREEN, ("3+", "3+")),
    (map_layers.AMBER, ("1-2", "1-2")),
    (map_layers.RED, ("없음", "none")),
    (map_layers.PURPLE, ("수용 불가", "diverting")),
    (map_layers.GREY, ("정보 오래됨·없음", "stale or none")),
]
LEVELS: dict[int, Text] = {
    1: ("권역센터", "regional"),
    2: ("지역센터", "local centre"),
    3: ("지역기관", "local institution"),
    4: ("신고기관", "registered ER"),
}
#: The map's height, and the map size its first view is fitted to (the narrowest it is drawn at: a 1280×800 tablet).
MAP_HEIGHT_PX = 560
FIT_PX = (450.0, 540.0)
TILES_KEY = "cr-tiles"
LABEL_FONT = "'Noto Sans CJK KR', 'Noto Sans KR', NanumGothic, 'Malgun Gothic', 'Apple SD Gothic Neo', sans-serif"
TEXT_COLOUR, LABEL_BACKGROUND, LEADER_COLOUR = (33, 33, 33), (255, 255, 255, 225), (90, 90, 90)
_STYLE = """
<style>
  /* The wall's first screen: the map, the alerts and the unit board. */
  [data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
  .st-key-cr-kpis [data-testid="stMetricValue"] { font-size: 1.7rem; }
  .st-key-cr-alerts [data-testid="stAlertContainer"] { padding: 0.35rem 0.7rem; }
  .st-key-cr-alerts [data-testid="stAlertContainer"] p { font-size: 0.95rem; }
  .st-key-cr-alerts div.stButton > button { min-height: 2.4rem; font-size: 1rem; font-weight: 600;
                                            padding: 0 0.4rem; white-space: nowrap; }
  .cr-legend { font-size: 0.85rem; color: #444; line-height: 1.7; }
  .cr-dot { display: inline-block; width: 0.75rem; height: 0.75rem; border-radius: 50%; margin: 0 0.2rem 0 0.5rem;
            vertical-align: -0.05rem; border: 1px solid #fff; box-shadow: 0 0 0 1px #bbb; }
  /* A portrait tablet: the map full width, the alerts and the board under it. */
  @media (max-width: 1000px) {
    .st-key-cr-main [data-testid="stHorizontalBlock"]:has(.st-key-cr-side) { flex-direction: column; }
    .st-key-cr-main [data-testid="stHorizontalBlock"]:has(.st-key-cr-side) > [data-testid="stColumn"] {
      width: 100% !important; flex: 1 1 100% !important; }
  }
</style>
"""


def _silent_after_s() -> float:
    """MQTT's own rule for a dead connection: nothing heard for 1.5 keep-alive periods."""
    return 1.5 * settings().mqtt_keepalive_s


def _hpids() -> frozenset[str]:
    return frozenset(c.hpid for c in scenario().centres)


def _centre_name(hpid: str, known: str | None = None) -> str:
    names = {c.hpid: c.name for c in scenario().centres}
    return names.get(hpid) or known or hpid


# --- the map ---------------------------------------------------------------------------------------


class CompactDeck(pdk.Deck):  # type: ignore[misc]
    """pydeck's Deck serialised without indentation: the road layer is sent on every refresh, at a quarter of the
    size pydeck's indented JSON would have."""

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"), ensure_ascii=False)


def _literal(text: str) -> str:
    """A string prop for pydeck as it is (pydeck takes a bare string for an accessor expression)."""
    return '"' + text.replace('"', "") + '"'


def beds_label(point: map_layers.CentrePoint) -> str:
    """What a centre's label says after its name: the beds it will have left once the units heading there arrive."""
    if point.diverting:
        return tr(("수용 불가", "diverting"))
    if point.free is None:
        return tr(("병상 정보 없음", "no bed data"))
    free = max(point.free, 0)
    beds = f"{free}병상" if not english() else f"{free} bed{'s' if free != 1 else ''}"
    if point.free < 0:  # more units heading there than beds
        beds += tr((" ({n} 부족)", " ({n} short)")).format(n=-point.free)
    return beds + (tr((" (오래됨)", " (stale)")) if point.stale else "")


def _count(n: int | None) -> str:
    return "?" if n is None else str(n)


def _centre_tip(point: map_layers.CentrePoint) -> str:
    level = tr(LEVELS.get(point.level, ("", "")))
    lines = [f"{point.name}" + (f" ({level})" if level else "")]
    if point.age_s is None:
        lines.append(tr(("병상 보고 없음", "no bed report")))
    else:
        er = "/".join(_count(n) for n in (point.available, point.total))
        free = "—" if point.free is None else str(point.free)
        lines.append(
            tr(("응급실 병상 {er} · 이송 중 {inbound} · 도착 시 남는 병상 {free}",
                "ER beds {er} · inbound {inbound} · left on arrival {free}")).format(er=er, inbound=point.inbound,
                                                                                   free=free)
        )  # fmt: skip
        lines.append(_acceptance(point) + " · " + tr(("보고", "reported")) + " " + age_text(point.age_s))
    return "\n".join(lines)


def _acceptance(point: map_layers.CentrePoint) -> str:
    if point.diverting:
        return tr(("수용 불가", "diverting")) + (f" ({point.reason})" if point.reason else "")
    return tr(("정상 수용", "accepting"))


def _incident_category(category: str) -> str:
    if category == "medical":
        return tr(("질병", "medical"))
    return tr(pathway_name(category) or (category, category))


def _eta(row: BoardRow, now: datetime) -> str:
    """The minutes still to go, counted as the crew card and the centre page count them."""
    if row.eta_s is None:
        return ""
    elapsed = (now - row.advised_at).total_seconds() if row.advised_at is not None else 0.0
    return eta_text(row.eta_s, elapsed)


def _unit_tip(u: map_layers.UnitPoint, row: BoardRow | None, now: datetime) -> str:
    lines = [f"{tr(('구급차', 'Unit'))} {u.id} · {tr(STATUS.get(u.status, STATUS['unknown']))}"]
    if row is not None and row.destination_hpid:
        where = _centre_name(row.destination_hpid, row.destination_name)
        eta = f" ({_eta(row, now)})" if row.eta_s is not None else ""
        lines.append(f"{tr(('목적지', 'Destination'))}: {where}{eta}")
    if row is not None and row.incident_id:
        lines.append(f"{tr(('사건', 'Incident'))}: {row.incident_id}")
    if row is not None and row.last_seen_s is not None:
        lines.append(f"{tr(('마지막 수신', 'Last heard'))}: {age_text(row.last_seen_s)}")
    return "\n".join(lines)


def _incident_tip(key: str, incident: schemas.Incident, now: datetime) -> str:
    words = ("사건 {id} · 우선순위 {p} · {what} · {age}", "Incident {id} · priority {p} · {what} · {age}")
    age = age_text((now - incident.ts).total_seconds())
    return tr(words).format(id=key, p=incident.priority, what=_incident_category(incident.category), age=age)


def _deck(view: CityView, now: datetime, *, tiles: bool) -> pdk.Deck:
    centres = scenario().centres
    roads = base_map.scenario_roads(scenario(), settings().cache_dir)
    corners = [(c.lat, c.lon) for c in centres]
    if roads is not None:
        corners += [(roads.south, roads.west), (roads.north, roads.east)]
    fit = map_layers.fit_view(corners, width_px=FIT_PX[0], height_px=FIT_PX[1])

    points = map_layers.centre_points(view, centres, now, clock_speed=settings().clock_speed)
    # Centres that would cover each other at the first zoom are drawn apart, with a line to where they are.
    shown_at = map_layers.spread([(p.lat, p.lon) for p in points], fit.zoom, 2 * map_layers.CENTRE_RADIUS_PX + 4)
    centre_rows = [
        {"hpid": p.hpid, "name": p.name, "lat": lat, "lon": lon, "colour": p.colour, "free": p.free,
         "inbound": p.inbound, "diverting": p.diverting, "stale": p.stale, "tip": _centre_tip(p)}
        for p, (lat, lon) in zip(points, shown_at, strict=True)
    ]  # fmt: skip
    leaders = [
        {"start": [p.lon, p.lat], "end": [lon, lat]}
        for p, (lat, lon) in zip(points, shown_at, strict=True)
        if (lat, lon) != (p.lat, p.lon)
    ]
    board = {row.unit_id: row for row in unit_board(view, now, silent_after_s=_silent_after_s())}
    units = map_layers.unit_points(view, now, silent_after_s=_silent_after_s())
    unit_rows = [
        {"id": u.id, "lat": u.lat, "lon": u.lon, "status": u.status, "colour": u.colour,
         "tip": _unit_tip(u, board.get(u.id), now)}
        for u in units
    ]  # fmt: skip
    incidents = map_layers.open_incidents(view, now)
    incident_rows = [
        {"id": key, "lat": i.lat, "lon": i.lon, "colour": map_layers.INCIDENT_COLOUR, "priority": i.priority,
         "tip": _incident_tip(key, i, now)}
        for key, i in incidents
    ]  # fmt: skip
    route_rows = [
        {"unit_id": r.unit_id, "start": [r.start[1], r.start[0]], "end": [r.end[1], r.end[0]], "colour": r.colour}
        for r in map_layers.routes(view, centres)
    ]

    # Labels, the centres' first (placed first), each where it covers no point and no other label at the first zoom.
    items = [
        map_layers.LabelItem(lat, lon, f"{p.name} · {beds_label(p)}", map_layers.CENTRE_RADIUS_PX)
        for p, (lat, lon) in zip(points, shown_at, strict=True)
    ]
    items += [map_layers.LabelItem(u.lat, u.lon, u.id, map_layers.UNIT_RADIUS_PX) for u in units]
    obstacles = [(i.lat, i.lon, float(map_layers.INCIDENT_RADIUS_PX)) for _, i in incidents]
    placed = map_layers.place_labels(items, fit.zoom, obstacles=obstacles, screen=fit, screen_px=FIT_PX)
    labels = [
        {"lat": item.lat, "lon": item.lon, "text": item.text.replace('"', ""), "offset": list(p.offset),
         "anchor": p.anchor, "baseline": p.baseline, "kind": "centre" if n < len(points) else "unit"}
        for n, (item, p) in enumerate(zip(items, placed, strict=True))
    ]  # fmt: skip
    characters = "".join(sorted({c for item in items for c in item.text.replace('"', "")}))

    layers = []
    if roads is not None:
        road_colour = [*base_map.ROAD_COLOUR, 170 if tiles else 255]
        layers.append(
            pdk.Layer("PathLayer", roads.rows(), id="roads", get_path="path", get_color=road_colour,
                      width_units=_literal("meters"), get_width=7, width_min_pixels=1.5, width_max_pixels=5)
        )  # fmt: skip
    layers += [
        pdk.Layer("LineLayer", route_rows, id="routes", get_source_position="start", get_target_position="end",
                  get_color="colour", get_width=4),
        pdk.Layer("LineLayer", leaders, id="centre-leaders", get_source_position="start", get_target_position="end",
                  get_color=list(LEADER_COLOUR), get_width=1.5),
        pdk.Layer("ScatterplotLayer", centre_rows, id="centres", get_position=["lon", "lat"], get_fill_color="colour",
                  radius_units=_literal("pixels"), get_radius=map_layers.CENTRE_RADIUS_PX, stroked=True,
                  get_line_color=[255, 255, 255], line_width_min_pixels=2, pickable=True),
        pdk.Layer("ScatterplotLayer", incident_rows, id="incidents", get_position=["lon", "lat"],
                  get_fill_color="colour", radius_units=_literal("pixels"), get_radius=map_layers.INCIDENT_RADIUS_PX,
                  pickable=True),
        pdk.Layer("ScatterplotLayer", unit_rows, id="units", get_position=["lon", "lat"], get_fill_color="colour",
                  radius_units=_literal("pixels"), get_radius=map_layers.UNIT_RADIUS_PX, stroked=True,
                  get_line_color=[255, 255, 255], line_width_min_pixels=1, pickable=True),
        pdk.Layer("TextLayer", labels, id="labels", get_position=["lon", "lat"], get_text="text",
                  get_size=map_layers.LABEL_PX, get_color=list(TEXT_COLOUR), get_pixel_offset="offset",
                  get_text_anchor="anchor", get_alignment_baseline="baseline", font_family=_literal(LABEL_FONT),
                  character_set=_literal(characters), background=True, get_background_color=list(LABEL_BACKGROUND),
                  background_padding=[3, 1], font_weight=600),
    ]  # fmt: skip
    return CompactDeck(
        layers=layers,
        initial_view_state=pdk.ViewState(latitude=fit.lat, longitude=fit.lon, zoom=fit.zoom),
        map_provider="carto" if tiles else None,
        map_style=base_map.TILE_STYLE if tiles else base_map.OFFLINE_STYLE,
        tooltip={"text": "{tip}"},
    )


def _rgb(colour: map_layers.Rgb) -> str:
    return "rgb({},{},{})".format(*colour)


def legend_html() -> str:
    """The map's legend in the map's own colours (dots drawn by the page, not emoji a wall PC may lack)."""

    def dots(entries: list[tuple[map_layers.Rgb, Text]]) -> str:
        return "".join(
            f'<span class="cr-dot" style="background:{_rgb(colour)}"></span>{html.escape(tr(words))}'
            for colour, words in entries
        )

    incident = [(map_layers.INCIDENT_COLOUR, ("사건", "incident"))]
    return (
        f'<div class="cr-legend"><b>{tr(("구급차", "Units"))}</b>{dots(UNIT_LEGEND)}<br>'
        f"<b>{tr(('응급실 (이름 옆: 도착 시 남는 병상)', 'ERs (by the name: beds left on arrival)'))}</b>"
        f"{dots(CENTRE_LEGEND)} · {dots(incident)}</div>"
    )


def _in_city(view: CityView) -> CityView:
    """The view with only the scenario's centres' reports: a capacity feed may carry the whole country's."""
    hpids = _hpids()
    return CityView(**{**view.__dict__, "capacity": {k: v for k, v in view.capacity.items() if k in hpids}})


def _kpi_tiles(view: CityView, now: datetime) -> None:
    k = kpis(_in_city(view), now, clock_speed=settings().clock_speed)
    tiles = st.columns(4)
    minutes = ("{m:.1f}분", "{m:.1f} min")
    p90 = "—" if k.response_p90_min is None else tr(minutes).format(m=k.response_p90_min)
    tiles[0].metric(tr(("대응시간 p90 (오늘)", "Response p90 (today)")), p90, help=f"n = {k.responses}")
    within = "—" if k.within_target is None else f"{k.within_target:.0%}"
    target = TARGET_RESPONSE_MIN
    tiles[1].metric(tr((f"{target:.0f}분 내 도착", f"On scene within {target:.0f} min")), within)
    tiles[2].metric(tr(("오늘 재이송", "Re-transfers today")), k.retransfers_today)
    load = "—" if k.ed_load is None else f"{k.ed_load:.0%}"
    tiles[3].metric(
        tr(("응급실 병상 점유 (관할 센터)", "ED load (the city's centres)")),
        load,
        help=tr(("사용 {o}/{t} · 과밀 {c}곳", "occupied {o}/{t} · overcrowded {c}")).format(
            o=k.ed_occupied, t=k.ed_total, c=k.overcrowded
        ),
    )


# --- alerts ----------------------------------------------------------------------------------------


def _reason(text: str) -> str:
    known = KNOWN_REASONS.get(text)
    return tr(known) if known is not None else text


def alert_text(group: AlertGroup) -> str:
    """One line of the alerts: the group's subject by name (a centre's, not its code), Korean first."""
    detail = group.detail
    subject = group.subject
    if group.kind == AlertKind.NO_DEFINITIVE:
        detail = tr(pathway_name(detail) or ("경로 미상", "pathway unknown"))
    elif group.kind == AlertKind.DECLINED:
        detail = _reason(detail) or "—"
    elif group.kind == AlertKind.LONG_OFFLOAD:
        if group.units:  # grouped by the centre: the subject is the centre, the detail its units
            subject, detail = _centre_name(group.subject), ", ".join(group.units)
        else:
            detail = tr(("병원 미상", "centre unknown"))
    elif group.kind == AlertKind.STALE_CENTRE:
        subject = _centre_name(group.subject)
    elif group.kind in DISPATCHER_KINDS:
        subject = tr(region_name(group.subject))
    template = ALERTS_MANY.get(group.kind, ALERTS[group.kind]) if group.count > 1 else ALERTS[group.kind]
    text = tr(template).format(subject=subject, minutes=group.minutes, detail=detail, count=group.count)
    if group.count > 1 and group.kind not in ALERTS_MANY:
        text += f" (×{group.count})"
    return text


class Acknowledgements:
    """The alerts acknowledged on this dashboard (their :attr:`AlertGroup.key`), shared by every screen of it: one
    dispatcher's 확인 shows on the wall and on the other desks too. Kept while the dashboard runs; an acknowledgement
    of a condition that is over is forgotten."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)

    def split(self, groups: list[AlertGroup]) -> tuple[list[AlertGroup], list[AlertGroup]]:
        with self._lock:
            return split_alerts(groups, self._keys)


@st.cache_resource
def acknowledgements() -> Acknowledgements:
    return Acknowledgements()


def _acknowledge(key: str) -> None:
    acknowledgements().add(key)


def _alert_line(group: AlertGroup) -> None:
    words, button = st.columns([4, 1], vertical_alignment="center", gap="small")
    (words.error if group.kind in URGENT else words.warning)(alert_text(group))
    digest = hashlib.sha256(group.key.encode()).hexdigest()[:16]
    button.button(
        tr(("확인", "Ack")),
        key=f"cr-ack-{digest}",
        on_click=_acknowledge,
        args=(group.key,),
        help=tr(("확인함으로 표시: 상황이 바뀌면 다시 알립니다", "Mark as seen: shown again when it changes")),
        width="stretch",
    )


def split_alerts(groups: list[AlertGroup], acknowledged: set[str]) -> tuple[list[AlertGroup], list[AlertGroup]]:
    """The alerts still to see and those acknowledged; acknowledgements of conditions that are over are forgotten
    (``acknowledged`` is updated in place)."""
    acknowledged &= {g.key for g in groups}
    return [g for g in groups if g.key not in acknowledged], [g for g in groups if g.key in acknowledged]


def _alerts_panel(view: CityView, now: datetime) -> None:
    found = alerts(view, now, clock_speed=settings().clock_speed, silent_after_s=_silent_after_s(), centres=_hpids())
    groups = group_alerts(found)
    waiting, seen = acknowledgements().split(groups)
    with st.container(key="cr-alerts"):
        st.subheader(tr(("알림", "Alerts")) + (f" ({len(waiting)})" if waiting else ""))
        if not groups:
            st.success(tr(("알림 없음", "No alerts")))
        elif not waiting:
            st.success(tr(("모든 알림을 확인했습니다", "Every alert acknowledged")))
        for group in waiting[:ALERTS_SHOWN]:
            _alert_line(group)
        if len(waiting) > ALERTS_SHOWN:
            with st.expander(tr(("더 보기 ({n})", "{n} more")).format(n=len(waiting) - ALERTS_SHOWN)):
                for group in waiting[ALERTS_SHOWN:]:
                    _alert_line(group)
        if seen:
            with st.expander(tr(("확인한 알림 ({n})", "Acknowledged ({n})")).format(n=len(seen))):
                for group in seen:
                    st.caption("✔ " + alert_text(group))


# --- the unit board and the centres ------------------------------------------------------------------


def unit_board_frame(view: CityView, now: datetime) -> pd.DataFrame:
    """The unit board, compact enough to sit beside the map (a unit's incident is in its tooltip on the map): a unit
    gone silent is 무응답, as the map draws it (black), never the status it last sent."""
    rows = [
        {
            tr(("구급차", "Unit")): row.unit_id,
            tr(("상태", "Status")): tr(STATUS.get(row.status, STATUS["unknown"])),
            tr(("목적지", "Destination")): _centre_name(row.destination_hpid, row.destination_name)
            if row.destination_hpid
            else "",
            tr(("도착 예정", "ETA")): _eta(row, now),
            tr(("마지막 수신", "Last seen")): age_text(row.last_seen_s) if row.last_seen_s is not None else "",
        }
        for row in unit_board(view, now, silent_after_s=_silent_after_s())
    ]
    return pd.DataFrame(rows)


def status_colour(status: str) -> map_layers.Rgb:
    """The map's colour of a unit's shown status (:func:`dashboard.state.shown_status`)."""
    if status == SILENT:
        return map_layers.SILENT_COLOUR
    known = {s.value: colour for s, colour in map_layers.UNIT_COLOURS.items() if s is not None}
    return known.get(status, map_layers.UNIT_COLOURS[None])


def _board_columns() -> dict[str, Any]:
    """The board's narrow columns narrow, so the destination shows beside the map."""
    small = ["구급차", "상태", "도착 예정"] if not english() else ["Unit", "Status", "ETA"]
    return {name: st.column_config.TextColumn(width="small") for name in small}


def _styled_board(view: CityView, now: datetime) -> Any:
    """The unit board with each status in its colour on the map (a pandas Styler)."""
    frame = unit_board_frame(view, now)
    colours = [status_colour(row.status) for row in unit_board(view, now, silent_after_s=_silent_after_s())]
    css = [f"background-color: {_rgb(c)}; color: #fff; font-weight: 600" for c in colours]
    return frame.style.apply(lambda _: css, subset=[tr(("상태", "Status"))], axis=0)


def centre_frame(view: CityView, now: datetime) -> pd.DataFrame:
    """The scenario's centres: beds, what is heading there, whether they take ambulances, how old their report is,
    and the units at their door."""
    rows = []
    for p in map_layers.centre_points(view, scenario().centres, now, clock_speed=settings().clock_speed):
        er = "—" if p.available is None and p.total is None else "/".join(_count(n) for n in (p.available, p.total))
        if p.overcrowded:
            er += tr((" 과밀", " overcrowded"))
        if p.age_s is None:
            reported = tr(("보고 없음", "no report"))
        else:
            reported = age_text(p.age_s) + (tr((" ⚠ 오래됨", " ⚠ stale")) if p.stale else "")
        door = ""
        if p.at_door:
            door = tr(("{n}대 (최장 {m:.0f}분)", "{n} (longest {m:.0f} min)")).format(
                n=p.at_door, m=p.longest_at_door_min or 0.0
            )
        rows.append(
            {
                tr(("센터", "Centre")): p.name,
                tr(("종별", "Level")): tr(LEVELS.get(p.level, ("", ""))),
                tr(("수용", "Taking patients")): _acceptance(p),
                tr(("응급실 병상", "ER beds")): er,
                tr(("이송 중", "Inbound")): p.inbound,
                tr(("도착 시 남는 병상", "Left on arrival")): "—" if p.free is None else str(p.free),
                tr(("병상 보고", "Reported")): reported,
                tr(("인계 시간 (보고)", "Offload (reported)")): "—"
                if p.offload_min is None
                else tr(("{m:.0f}분", "{m:.0f} min")).format(m=p.offload_min),
                tr(("병원 대기 구급차", "Units at the door")): door,
            }
        )
    return pd.DataFrame(rows)


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
    with st.container(key="cr-kpis"):
        _kpi_tiles(view, now)
    tiles = bool(st.session_state.get(TILES_KEY, False))
    with st.container(key="cr-main"):
        left, right = st.columns([3, 2], gap="medium")
        with left:
            st.pydeck_chart(_deck(view, now, tiles=tiles), height=MAP_HEIGHT_PX)
            if base_map.scenario_roads(scenario(), settings().cache_dir) is None:
                st.info(tr(("이 시나리오의 도로망 파일이 없어 도로를 그릴 수 없습니다 (사이드바에서 지도 타일을 켤 수 "
                            "있습니다).", "This scenario's road graph is not in the data directory: no streets drawn "
                            "(map tiles can be turned on in the sidebar).")))  # fmt: skip
            st.markdown(legend_html(), unsafe_allow_html=True)
        with right, st.container(key="cr-side"):
            _alerts_panel(view, now)
            st.subheader(tr(("구급차 현황", "Unit board")))
            if not view.units:
                st.info(tr(("아직 구급차 정보가 없습니다.", "No unit has reported yet.")))
            else:
                rows = min(len(view.units), 12)
                st.dataframe(_styled_board(view, now), hide_index=True, width="stretch", height=rows * 35 + 38,
                             column_config=_board_columns())  # fmt: skip
    st.subheader(tr(("응급의료기관 현황", "Emergency centres")))
    st.dataframe(centre_frame(view, now), hide_index=True, width="stretch")
    _requests_panel(view, now)
    if settings().clock_speed != 1.0:
        st.caption(
            tr((f"시뮬레이션 도시: 실제 시간의 {settings().clock_speed:g}배 속도 (시간은 도시 기준 분)",
                f"Simulated city at {settings().clock_speed:g}× real time (durations in city minutes)"))
        )  # fmt: skip


page_header(TITLE)
st.markdown(_STYLE, unsafe_allow_html=True)
st.sidebar.toggle(
    tr(("지도 타일 (인터넷 필요)", "Map tiles (needs the internet)")),
    key=TILES_KEY,
    help=tr(("꺼져 있으면 지도는 시나리오의 도로망만으로 그려지고 외부에 아무것도 요청하지 않습니다.",
             "Off, the map is drawn from the scenario's own road network and asks nothing of the internet.")),
)  # fmt: skip
feed = live_feed()
if feed is not None:
    live(feed)
footer()
