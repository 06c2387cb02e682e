"""The control room page on a real broker: units on the map coloured by status, routes, centres
coloured by beds, KPI tiles, alerts, the unit board, and the transfer requests (overdue ones, today's
refusals by centre and reason), in Korean and in English.

Issue 25: the map's base layer is the scenario's own road network (no tiles unless asked for), its units and
centres are labelled, centres that would cover each other are drawn apart, tooltips carry real values, the
centres are listed; alerts are the city's own, grouped, behind "더 보기" past the first few, and can be
acknowledged; a silent unit is 무응답 on the board as on the map. The map's geometry (spreading, labels, the
first view) and the road lines are tested directly below."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import base_map, map_layers
from dashboard.map_layers import GREEN, PURPLE, SILENT_COLOUR, UNIT_COLOURS
from dashboard.state import STALE_AFTER_S, silent, today_start
from dispatch.road_graph import network_from_edges
from goldentime.settings import default_data_dir
from loaders.scenarios import load_scenario
from telemetry import schemas, topics
from tests.dashboard.conftest import PAGES, SCENARIO, Bus
from tests.helpers import unique, wait_until

SEOUL = load_scenario(SCENARIO, default_data_dir())
CENTRES = SEOUL.centres


def _spec(at: AppTest) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    return spec


def _layers(at: AppTest) -> dict[str, list[dict[str, Any]]]:
    return {layer["id"]: layer["data"] for layer in _spec(at)["layers"]}


def _city(bus: Bus) -> tuple[str, str, str]:
    """A unit transporting to the first centre (which has beds), one declining, the second centre diverting."""
    moving, declining, incident = unique("U"), unique("U"), unique("I")
    now = schemas.utc_now()
    first, second = CENTRES[0], CENTRES[1]
    call = schemas.Incident.new(lat=37.57, lon=126.98, category="medical", priority=2, ts=now - timedelta(minutes=20))
    bus.send(topics.Kind.INCIDENT, incident, call)
    bus.send(topics.Kind.STATUS, moving, schemas.Status.new(status=schemas.UnitStatus.ON_SCENE, incident_id=incident,
                                                            ts=now - timedelta(minutes=14)))  # fmt: skip
    bus.send(
        topics.Kind.STATUS, moving, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING, incident_id=incident)
    )
    bus.send(topics.Kind.POSITION, moving, schemas.Position.new(lat=37.565, lon=126.99))
    option = schemas.Option(hpid=first.hpid, name=first.name, eta_s=300, beds_on_arrival=4, reason="free bed")
    bus.send(topics.Kind.ADVICE, moving, schemas.Advice.new(advice_version=1, patient_id="P-test", destination=option))
    bus.send(topics.Kind.STATUS, declining, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
    bus.send(topics.Kind.POSITION, declining, schemas.Position.new(lat=37.56, lon=126.97))
    decline = schemas.Decision.new(advice_version=2, decision=schemas.DecisionKind.DECLINE, reason="road closed")
    bus.send(topics.Kind.DECISION, declining, decline)
    beds = {schemas.BedType.ER_GENERAL: schemas.BedCount(available=6, total=20)}
    bus.send(topics.Kind.CAPACITY, first.hpid, schemas.Capacity.new(beds=beds, updated_at=now))
    closed = schemas.EmsTraffic(status=schemas.TrafficStatus.CLOSED, reason="CT down")
    bus.send(topics.Kind.CAPACITY, second.hpid, schemas.Capacity.new(beds=beds, ems_traffic=closed, updated_at=now))

    def arrived() -> bool:
        view = bus.feed.snapshot()
        return {moving, declining} <= set(view.units) and len(view.decisions) >= 1 and second.hpid in view.capacity

    assert wait_until(arrived)
    return moving, declining, incident


def test_the_map_shows_units_by_status_routes_and_centres_by_beds(bus: Bus) -> None:
    moving, declining, _ = _city(bus)
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert not at.exception, at.exception

    layers = _layers(at)
    units = {row["id"]: row for row in layers["units"]}
    assert units[moving]["colour"] == list(UNIT_COLOURS[schemas.UnitStatus.TRANSPORTING])
    route = next(r for r in layers["routes"] if r["unit_id"] == moving)
    assert route["end"] == [CENTRES[0].lon, CENTRES[0].lat]  # heading for the advised centre
    centres = {row["hpid"]: row for row in layers["centres"]}
    assert centres[CENTRES[0].hpid]["colour"] == list(GREEN) and centres[CENTRES[0].hpid]["free"] == 6
    assert centres[CENTRES[1].hpid]["colour"] == list(PURPLE)

    metrics = {m.label: m.value for m in at.metric}
    # call to on scene: 20 - 14 minutes, counted only when the call was today in Korea (not in the first 20 min after
    # midnight KST, 15:00-15:20 UTC, when it was yesterday's)
    called_today = schemas.utc_now() - timedelta(minutes=20) >= today_start(schemas.utc_now())
    assert metrics["대응시간 p90 (오늘)"] == ("6.0분" if called_today else "—")
    assert metrics["8분 내 도착"] == ("100%" if called_today else "—")
    assert any(declining in e.value and "road closed" in e.value for e in at.error)
    board = at.dataframe[0].value
    assert moving in set(board["구급차"]) and "이송" in set(board["상태"])
    row = board[board["구급차"] == moving].iloc[0]
    assert (row["목적지"], row["도착 예정"]) == (CENTRES[0].name, "5분")  # 300 s advised just now
    assert "OpenStreetMap" in "".join(m.value for m in at.markdown)


def test_english_switch(bus: Bus) -> None:
    _city(bus)
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    at.sidebar.toggle(key="english").set_value(True).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Control room"
    assert "Re-transfers today" in {m.label for m in at.metric}
    assert "Unit" in at.dataframe[0].value.columns
    assert "transporting" in set(at.dataframe[0].value["Status"])
    centres = _frame_with(at, "Left on arrival")
    assert {"Centre", "ER beds", "Inbound", "Taking patients", "Reported"} <= set(centres[0])
    labels = {row["text"] for row in _layers(at)["labels"]}
    assert f"{CENTRES[0].name} · 6 beds" in labels and f"{CENTRES[1].name} · diverting" in labels


def test_without_a_broker_setting_the_page_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLDENTIME_MQTT_URL", raising=False)
    st.cache_resource.clear()
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert not at.exception and "GOLDENTIME_MQTT_URL" in at.error[0].value
    st.cache_resource.clear()


def test_the_app_opens_on_the_control_room(bus: Bus) -> None:
    at = AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "관제실"


def test_a_unit_with_no_definitive_care_within_reach_is_an_urgent_alert(bus: Bus) -> None:
    unit = unique("U")
    bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
    option = schemas.Option(hpid=CENTRES[0].hpid, name=CENTRES[0].name, eta_s=300, reason="가까운 응급실에서 안정화")
    advice = schemas.Advice.new(advice_version=1, patient_id="P-test", destination=option, pathway="stemi",
                                definitive=False)  # fmt: skip
    bus.send(topics.Kind.ADVICE, unit, advice)
    assert wait_until(lambda: unit in bus.feed.snapshot().advice and unit in bus.feed.snapshot().units)
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    alert = next(e.value for e in at.error if unit in e.value)
    assert "최종 치료 가능 기관 없음" in alert and "급성심근경색(STEMI)" in alert
    at.sidebar.toggle(key="english").set_value(True).run()
    alert = next(e.value for e in at.error if unit in e.value)
    assert "no definitive care within reach (STEMI)" in alert


# --- transfer requests: overdue, and today's refusals ------------------------------------------------


def _frame_with(at: AppTest, column: str) -> list[dict[str, object]]:
    frame = next(d.value for d in at.dataframe if column in d.value.columns)
    rows: list[dict[str, object]] = frame.to_dict("records")
    return rows


def test_requests_past_their_time_and_todays_refusals_by_centre_and_reason(bus: Bus) -> None:
    first, second = CENTRES[0], CENTRES[1]
    now = schemas.utc_now()
    waiting, given_up, fresh = unique("U"), unique("U"), unique("U")

    def request(rid: str, unit: str, sent_s_ago: float, answer_in_s: float, seen: bool) -> schemas.TransferRequest:
        return schemas.TransferRequest(request_id=rid, unit_id=unit, patient_id="P-test", advice_version=1, eta_s=600,
                                       sent_at=now - timedelta(seconds=sent_s_ago),
                                       answer_by=now + timedelta(seconds=answer_in_s), seen=seen)  # fmt: skip

    late, on_time = request(unique("R"), waiting, 250, -70, True), request(unique("R"), fresh, 10, 170, False)
    bus.send(topics.Kind.REQUESTS, first.hpid, schemas.Requests.new(requests=(late, on_time)))
    gave_up = schemas.UnitRequest.new(
        request_id=unique("R"), hpid=second.hpid, name=second.name, advice_version=1,
        state=schemas.RequestState.NO_ANSWER, message="응답 없음: 안내대로 출발",
        sent_at=now - timedelta(seconds=400), answer_by=now - timedelta(seconds=220),
    )  # fmt: skip
    bus.send(topics.Kind.REQUEST_STATE, given_up, gave_up)
    no_bed, no_specialist = schemas.RefusalReason.NO_BED, schemas.RefusalReason.NO_SPECIALIST
    for hpid, reason in [(first.hpid, no_bed), (first.hpid, no_specialist), (first.hpid, no_specialist),
                         (second.hpid, schemas.RefusalReason.NO_EQUIPMENT)]:  # fmt: skip
        decline = schemas.Answer.new(request_id=unique("R"), answer=schemas.AnswerKind.DECLINE, reason=reason)
        assert bus.client.send(topics.Topic(topics.Kind.ANSWER, hpid), decline).wait(5)
    accept = schemas.Answer.new(request_id=unique("R"), answer=schemas.AnswerKind.ACCEPT)
    assert bus.client.send(topics.Topic(topics.Kind.ANSWER, second.hpid), accept).wait(5)

    def arrived() -> bool:
        view = bus.feed.snapshot()
        return given_up in view.unit_requests and first.hpid in view.requests and len(view.answers) == 5

    assert wait_until(arrived)
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert "응답 기한 지난 요청 2건" in at.error.values
    overdue = _frame_with(at, "기한 초과")
    assert [(r["센터"], r["구급차"], r["상태"]) for r in overdue] == [
        (second.name, given_up, "응답 없음 — 안내대로 출발"),  # 220 s past its time
        (first.name, waiting, "응답 대기 (확인함)"),  # 70 s past, still on the centre's list
    ]
    assert str(overdue[0]["대기"]).startswith("6분 ") and str(overdue[1]["기한 초과"]).startswith("1분 ")
    refusals = _frame_with(at, "전문의 부재")
    assert refusals == [
        {"센터": first.name, "병상 없음": 1, "전문의 부재": 2, "장비 없음": 0, "기타": 0, "합계": 3},
        {"센터": second.name, "병상 없음": 0, "전문의 부재": 0, "장비 없음": 1, "기타": 0, "합계": 1},
    ]
    at.sidebar.toggle(key="english").set_value(True).run()
    assert not at.exception, at.exception
    assert "2 request(s) past their time to answer" in at.error.values
    assert [r["State"] for r in _frame_with(at, "Past the time")] == ["no answer — went as advised", "waiting (seen)"]
    assert list(_frame_with(at, "No specialist")[0]) == [
        "Centre", "No bed", "No specialist", "No equipment", "Other", "Total",
    ]  # fmt: skip


def test_no_overdue_request_and_no_refusal_are_said(bus: Bus) -> None:
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert "응답 기한 지난 요청 없음" in at.success.values and "오늘 거절 없음" in at.info.values


# --- issue 25: the map without a tile server, labels, tooltips, the list of centres -------------------------


def test_the_map_draws_the_scenarios_roads_asks_for_no_tiles_and_labels_centres_with_their_beds(bus: Bus) -> None:
    moving, _, _ = _city(bus)
    heading = schemas.InboundPatient(unit_id=moving, advice_version=1, eta_s=300)
    bus.send(topics.Kind.INBOUND, CENTRES[0].hpid, schemas.Inbound.new(patients=(heading, heading)))
    call = unique("I")
    bus.send(topics.Kind.INCIDENT, call, schemas.Incident.new(lat=37.575, lon=126.99, category="stroke", priority=1))
    one_bed = {schemas.BedType.ER_GENERAL: schemas.BedCount(available=1, total=10)}
    bus.send(topics.Kind.CAPACITY, CENTRES[3].hpid, schemas.Capacity.new(beds=one_bed, updated_at=schemas.utc_now()))
    bus.send(topics.Kind.INBOUND, CENTRES[3].hpid, schemas.Inbound.new(patients=(heading,) * 3))

    def arrived() -> bool:
        view = bus.feed.snapshot()
        return {CENTRES[0].hpid, CENTRES[3].hpid} <= set(view.inbound) and call in view.incidents

    assert wait_until(arrived)
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert not at.exception, at.exception

    spec = _spec(at)
    assert spec["mapStyle"] == base_map.OFFLINE_STYLE and "mapProvider" not in spec  # nothing to fetch
    assert "cartocdn" not in json.dumps(spec)
    layers = _layers(at)
    roads = layers["roads"]
    assert len(roads) > 500 and sum(len(r["path"]) for r in roads) > 5000  # the streets of central Seoul
    lons = [p[0] for r in roads for p in r["path"]]
    lats = [p[1] for r in roads for p in r["path"]]
    assert 126.94 < min(lons) < max(lons) < 127.01 and 37.54 < min(lats) < max(lats) < 37.59

    # Every centre is labelled with its name and the beds it will have left: 6 free, 2 on their way.
    labels = {row["text"]: row for row in layers["labels"]}
    assert f"{CENTRES[0].name} · 4병상" in labels and f"{CENTRES[1].name} · 수용 불가" in labels
    assert f"{CENTRES[2].name} · 병상 정보 없음" in labels and moving in labels
    assert f"{CENTRES[3].name} · 0병상 (2 부족)" in labels  # three on their way to one bed
    text_layer = next(layer for layer in spec["layers"] if layer["id"] == "labels")
    assert set("".join(labels)) <= set(text_layer["characterSet"])  # every Korean character has its glyph

    # Tooltips carry values, not placeholders: every pickable point has the one field the tooltip names.
    assert spec.get("tooltip", {"text": "{tip}"}) == {"text": "{tip}"}
    assert at.get("deck_gl_json_chart")[0].proto.tooltip == json.dumps({"text": "{tip}"})
    for layer in ("centres", "units", "incidents"):
        assert layers[layer] and all(row["tip"] and "{" not in row["tip"] for row in layers[layer]), layer
    centre_tip = next(r["tip"] for r in layers["centres"] if r["hpid"] == CENTRES[0].hpid)
    assert "응급실 병상 6/20 · 이송 중 2 · 도착 시 남는 병상 4" in centre_tip
    assert next(r["tip"] for r in layers["units"] if r["id"] == moving).startswith(f"구급차 {moving} · 이송")
    assert next(r["tip"] for r in layers["incidents"] if r["id"] == call).startswith(
        f"사건 {call} · 우선순위 1 · 뇌졸중"
    )

    at.sidebar.toggle(key="cr-tiles").set_value(True).run()  # the dispatcher asks for tiles
    assert _spec(at)["mapStyle"] == base_map.TILE_STYLE and _layers(at)["roads"]


def _pixels(spec: dict[str, Any], lat: float, lon: float) -> tuple[float, float]:
    return map_layers.to_pixels(lat, lon, spec["initialViewState"]["zoom"])


def test_centres_that_would_cover_each_other_are_drawn_apart_with_a_line_to_where_they_are(bus: Bus) -> None:
    """강북삼성병원 and 서울적십자병원 are 150 m apart: one dot on the city's first view. Each is drawn where no other
    centre covers it, and a line goes from each moved dot to where the centre is."""
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    spec = _spec(at)
    drawn = {row["hpid"]: _pixels(spec, row["lat"], row["lon"]) for row in _layers(at)["centres"]}
    real = {c.hpid: _pixels(spec, c.lat, c.lon) for c in CENTRES}
    assert min(math.dist(real[a], real[b]) for a, b in itertools.combinations(real, 2)) < 2 * 9  # they would
    assert min(math.dist(drawn[a], drawn[b]) for a, b in itertools.combinations(drawn, 2)) >= 2 * 9
    moved = {hpid for hpid in drawn if math.dist(drawn[hpid], real[hpid]) > 0.5}
    leaders = _layers(at)["centre-leaders"]
    assert moved and len(leaders) == len(moved)
    assert {(c.lon, c.lat) for c in CENTRES if c.hpid in moved} == {tuple(line["start"]) for line in leaders}


def test_the_list_of_centres_gives_beds_inbound_diversion_staleness_and_the_units_at_the_door(bus: Bus) -> None:
    moving, _, _ = _city(bus)
    heading = schemas.InboundPatient(unit_id=moving, advice_version=1, eta_s=300)
    bus.send(topics.Kind.INBOUND, CENTRES[0].hpid, schemas.Inbound.new(patients=(heading,)))
    old = schemas.utc_now() - timedelta(seconds=STALE_AFTER_S + 120)
    beds = {schemas.BedType.ER_GENERAL: schemas.BedCount(total=12, overcrowded=True)}
    bus.send(topics.Kind.CAPACITY, CENTRES[2].hpid, schemas.Capacity.new(beds=beds, updated_at=old, offload_minutes=25))
    waiting = unique("U")
    arrived = schemas.utc_now() - timedelta(minutes=12)
    bus.send(topics.Kind.STATUS, waiting, schemas.Status.new(status=schemas.UnitStatus.AT_HOSPITAL, ts=arrived,
                                                             hpid=CENTRES[2].hpid))  # fmt: skip

    def arrived_all() -> bool:
        view = bus.feed.snapshot()
        return CENTRES[0].hpid in view.inbound and CENTRES[2].hpid in view.capacity and waiting in view.units

    assert wait_until(arrived_all)
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    rows = {row["센터"]: row for row in _frame_with(at, "도착 시 남는 병상")}
    assert list(rows) == [c.name for c in CENTRES]  # every centre of the scenario, in its order
    first, second, third = (rows[c.name] for c in CENTRES[:3])
    assert (first["응급실 병상"], first["이송 중"], first["도착 시 남는 병상"], first["수용"]) == (
        "6/20",
        1,
        "5",
        "정상 수용",
    )
    assert second["수용"] == "수용 불가 (CT down)"
    assert third["응급실 병상"] == "?/12 과밀" and third["도착 시 남는 병상"] == "0"
    assert str(third["병상 보고"]).endswith("⚠ 오래됨") and third["인계 시간 (보고)"] == "25분"
    assert third["병원 대기 구급차"] == "1대 (최장 12분)"
    assert rows[CENTRES[3].name]["병상 보고"] == "보고 없음"


# --- issue 25: alerts -------------------------------------------------------------------------------------------


def _ack_buttons(at: AppTest) -> list[Any]:
    return [b for b in at.button if str(b.key).startswith("cr-ack-")]


def test_alerts_are_the_citys_grouped_the_first_few_then_more_and_acknowledged_until_they_change(bus: Bus) -> None:
    now = schemas.utc_now()
    old = now - timedelta(seconds=STALE_AFTER_S + 120)
    beds = {schemas.BedType.ER_GENERAL: schemas.BedCount(available=3, total=10)}
    elsewhere = [f"Z{n:07d}" for n in range(8)]  # centres of another city on the same capacity feed
    for hpid in [*elsewhere, CENTRES[3].hpid]:
        bus.send(topics.Kind.CAPACITY, hpid, schemas.Capacity.new(beds=beds, updated_at=old))
    offline = [unique("U") for _ in range(4)]
    for unit in offline:
        bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.OFFLINE))
    declining = unique("U")
    for version, reason in ((1, "refused at the door: no bed"), (2, "도로 통제·정체"), (3, "환자 상태 변화")):
        decline = schemas.Decision.new(advice_version=version, decision=schemas.DecisionKind.DECLINE, reason=reason)
        bus.send(topics.Kind.DECISION, declining, decline)

    def arrived() -> bool:
        view = bus.feed.snapshot()
        return set(offline) <= set(view.units) and CENTRES[3].hpid in view.capacity and len(view.decisions) >= 3

    assert wait_until(arrived)
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    texts = [*at.error.values, *at.warning.values]
    assert not any(hpid in text for text in texts for hpid in elsewhere)  # the city's own centres only
    assert f"{CENTRES[3].name} 병상 정보" in " ".join(texts) and CENTRES[3].hpid not in " ".join(texts)
    grouped = [text for text in texts if text.startswith(declining)]
    assert grouped == [f"{declining} 안내 거절 3회 — 최근: 환자 상태 변화 (0분 전)"]  # one line for the three

    # Six lines, the most urgent first (four offline units, the declines, a stale centre): four shown, two behind
    # "더 보기".
    more = [e for e in at.expander if e.label.startswith("더 보기")]
    assert [e.label for e in more] == ["더 보기 (2)"]
    assert len(more[0].error) + len(more[0].warning) == 2 and "알림 (6)" in at.subheader.values
    assert len(_ack_buttons(at)) == 6

    # The dispatcher acknowledges the first offline unit, then the declines: they leave the list, and stay
    # acknowledged while nothing changes.
    first_offline = sorted(offline)[0]
    assert at.error.values[0].startswith(first_offline)
    _ack_buttons(at)[0].click().run()
    assert not at.exception, at.exception
    assert not [t for t in at.error.values if t.startswith(first_offline)]
    assert "확인한 알림 (1)" in [e.label for e in at.expander] and "알림 (5)" in at.subheader.values
    assert [e.label for e in at.expander if e.label.startswith("더 보기")] == ["더 보기 (1)"]
    _ack_buttons(at)[3].click().run()  # after the three other offline units
    assert not [t for t in at.error.values if t.startswith(declining)]
    at.run()
    assert "확인한 알림 (2)" in [e.label for e in at.expander] and "알림 (4)" in at.subheader.values

    # A fourth decline is a new condition: the line comes back, with its count.
    fourth = schemas.Decision.new(advice_version=4, decision=schemas.DecisionKind.DECLINE,
                                  reason="refused at the door: no bed")  # fmt: skip
    bus.send(topics.Kind.DECISION, declining, fourth)
    assert wait_until(lambda: len(bus.feed.snapshot().decisions) >= 4)
    at.run()
    assert [t for t in at.error.values if t.startswith(declining)] == [
        f"{declining} 안내 거절 4회 — 최근: 병원 도착 후 수용 거부: 병상 없음 (0분 전)"
    ]
    assert "확인한 알림 (1)" in [e.label for e in at.expander]
    # Another screen of the same dashboard (the wall, another desk: a session of its own) sees the same.
    other = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert "확인한 알림 (1)" in [e.label for e in other.expander]
    assert not [t for t in other.error.values if t.startswith(first_offline)]

    at.sidebar.toggle(key="english").set_value(True).run()
    assert [t for t in at.error.values if t.startswith(declining)] == [
        f"{declining} declined advice 4 times — latest: refused at the door: no bed (0 min ago)"
    ]
    assert [e.label for e in at.expander if e.label.endswith("more")] == ["1 more"]


@pytest.fixture
def quick_silence(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The shortest keep-alive the settings allow (5 s): a unit is silent after 7.5 s without a word."""
    monkeypatch.setenv("GOLDENTIME_MQTT_KEEPALIVE_S", "5")
    yield


def test_a_silent_unit_is_silent_on_the_board_and_black_on_the_map(quick_silence: None, bus: Bus) -> None:
    quiet, talking = unique("U"), unique("U")
    for unit in (quiet, talking):
        bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.AVAILABLE))
        bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=37.57, lon=126.98))
    assert wait_until(lambda: {quiet, talking} <= set(bus.feed.snapshot().units))

    def only_quiet_is_silent() -> bool:
        bus.send(topics.Kind.POSITION, talking, schemas.Position.new(lat=37.57, lon=126.98))
        view, now = bus.feed.snapshot(), schemas.utc_now()
        return silent(view.units[quiet], now, 7.5) and not silent(view.units[talking], now, 7.5)

    assert wait_until(only_quiet_is_silent, timeout_s=30, every_s=1)
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    board = {row["구급차"]: row["상태"] for row in _frame_with(at, "마지막 수신")}
    assert (board[quiet], board[talking]) == ("무응답", "대기")
    units = {row["id"]: row for row in _layers(at)["units"]}
    assert units[quiet]["colour"] == list(SILENT_COLOUR) and units[quiet]["tip"].startswith(f"구급차 {quiet} · 무응답")
    assert units[talking]["colour"] == list(UNIT_COLOURS[schemas.UnitStatus.AVAILABLE])
    assert any(text.startswith(f"{quiet} 무응답") for text in at.error.values)


# --- the map's geometry and the road lines, directly ------------------------------------------------------


def test_spread_pushes_apart_only_the_points_that_would_cover_each_other() -> None:
    zoom = 13.5
    close = [(37.5685, 126.9679), (37.5686, 126.9680), (37.5685, 126.9679), (37.60, 127.05)]
    drawn = map_layers.spread(close, zoom, 22)
    xy = [map_layers.to_pixels(lat, lon, zoom) for lat, lon in drawn]
    assert all(math.dist(a, b) >= 22 - 1e-6 for a, b in itertools.combinations(xy, 2))
    assert drawn[3] == close[3]  # far from the others: where it is
    centre = np.mean([map_layers.to_pixels(*p, zoom) for p in close[:3]], axis=0)
    assert np.allclose(np.mean(xy[:3], axis=0), centre, atol=1.0)  # pushed evenly, around where they are
    lat, lon = map_layers.from_pixels(*map_layers.to_pixels(37.5685, 126.9679, zoom), zoom)
    assert math.isclose(lat, 37.5685, abs_tol=1e-9) and math.isclose(lon, 126.9679, abs_tol=1e-9)


def _box(item: map_layers.LabelItem, place: map_layers.Placement, zoom: float) -> tuple[float, float, float, float]:
    x, y = map_layers.to_pixels(item.lat, item.lon, zoom)
    width, height = map_layers.text_width_px(item.text, map_layers.LABEL_PX) + 6, map_layers.LABEL_PX * 1.25 + 6
    return map_layers._box(x, y, place, width, height)


def test_labels_go_where_they_cover_no_other_label_no_point_and_stay_on_the_map() -> None:
    zoom = 14.0
    items = [map_layers.LabelItem(37.57, 126.98 + k * 0.0004, f"병원{k} · {k}병상", 9) for k in range(4)]
    items += [map_layers.LabelItem(37.5702, 126.9805, "U01-0", 6)]
    placed = map_layers.place_labels(items, zoom)
    assert all(p.clear for p in placed)
    boxes = [_box(i, p, zoom) for i, p in zip(items, placed, strict=True)]
    for a, b in itertools.combinations(boxes, 2):
        assert map_layers._overlap(a, b) == 0
    for box in boxes:
        for item in items:
            x, y = map_layers.to_pixels(item.lat, item.lon, zoom)
            r = item.radius_px
            assert map_layers._overlap(box, (x - r, y - r, x + r, y + r)) == 0

    # A centre at the map's right edge: its label goes to its left, on the map.
    screen = map_layers.View(37.57, 126.98, zoom)
    edge = map_layers.LabelItem(37.57, 126.98 + 0.0085, "국립중앙의료원 · 3병상", 9)
    x_edge, _ = map_layers.to_pixels(edge.lat, edge.lon, zoom)
    x_mid, _ = map_layers.to_pixels(screen.lat, screen.lon, zoom)
    assert 180 < x_edge - x_mid < 225
    [free] = map_layers.place_labels([edge], zoom)
    [kept] = map_layers.place_labels([edge], zoom, screen=screen, screen_px=(450, 540))
    assert free.anchor == "start" and kept.anchor == "end" and kept.clear


def test_the_first_view_holds_every_point() -> None:
    points = [(c.lat, c.lon) for c in CENTRES] + [(37.5442, 126.9499), (37.5891, 127.0066)]
    view = map_layers.fit_view(points, width_px=450, height_px=540)
    cx, cy = map_layers.to_pixels(view.lat, view.lon, view.zoom)
    for lat, lon in points:
        x, y = map_layers.to_pixels(lat, lon, view.zoom)
        assert abs(x - cx) <= 225 and abs(y - cy) <= 270
    wider = map_layers.fit_view(points, width_px=900, height_px=1080)
    assert wider.zoom == view.zoom + 1  # twice the size, one zoom level closer


def _grid() -> Any:
    """Four crossings of a square, two-way streets, one of them curved (shape points), one a straight line with a
    point on it that adds nothing."""
    lat = np.array([37.50, 37.50, 37.51, 37.51])
    lon = np.array([127.00, 127.01, 127.01, 127.00])
    curve = [(37.5004, 127.0050)]  # 44 m off the straight line
    straight = [(37.5050, 127.0100)]  # on it
    edges = {
        (0, 1): (60.0, 900.0, curve), (1, 0): (60.0, 900.0, curve[::-1]),
        (1, 2): (70.0, 1100.0, straight), (2, 1): (70.0, 1100.0, straight),
        (2, 3): (60.0, 900.0, []), (3, 2): (60.0, 900.0, []),
        (3, 0): (70.0, 1100.0, []),  # one way
    }  # fmt: skip
    return network_from_edges(np.arange(4, dtype=np.int64), lat, lon, edges, name="grid")


def test_road_paths_draw_each_street_once_along_its_shape() -> None:
    roads = base_map.road_paths(_grid())
    points = [p for path in roads.paths for p in path]
    streets = {frozenset((a, b)) for path in roads.paths for a, b in itertools.pairwise(path)}
    corners = {(127.0, 37.5), (127.01, 37.5), (127.01, 37.51), (127.0, 37.51)}
    assert len(roads.paths) == 1 and roads.points == 6  # the square, walked once, closed: 4 + the curve + back
    assert streets == {
        frozenset({(127.0, 37.5), (127.005, 37.5004)}), frozenset({(127.005, 37.5004), (127.01, 37.5)}),
        frozenset({(127.01, 37.5), (127.01, 37.51)}), frozenset({(127.01, 37.51), (127.0, 37.51)}),
        frozenset({(127.0, 37.51), (127.0, 37.5)}),
    }  # fmt: skip
    assert (127.01, 37.505) not in points and corners <= set(points)  # a point on the line left out
    assert (roads.south, roads.west, roads.north, roads.east) == (37.50, 127.00, 37.51, 127.01)
    assert roads.rows()[0]["path"][0] == list(roads.paths[0][0])


def test_simplify_keeps_the_ends_and_the_shape_within_the_tolerance() -> None:
    line = [(37.5, 127.0 + k * 0.0001) for k in range(11)]
    assert base_map.simplify(line, 2.0) == [line[0], line[-1]]
    bent = [*line[:6], (37.5003, 127.0006), *line[7:]]  # 33 m off at one point
    assert base_map.simplify(bent, 2.0) == [line[0], line[5], (37.5003, 127.0006), line[7], line[-1]]


def test_join_walks_streets_into_lines_each_street_once() -> None:
    a, b, c, d, e = (0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (1.0, 1.0), (1.0, -1.0)
    streets = [(a, b), (b, c), (d, b), (b, e)]  # a crossing at b
    lines = base_map.join(streets)
    used = sorted(tuple(sorted(pair)) for line in lines for pair in itertools.pairwise(line))
    assert used == sorted(tuple(sorted(s)) for s in streets)
    assert len(lines) == 2


def test_the_scenarios_roads_are_read_once_from_its_graph(tmp_path: Any) -> None:
    st.cache_resource.clear()
    try:
        roads = base_map.scenario_roads(SEOUL, tmp_path)
        assert roads is not None and roads is base_map.scenario_roads(SEOUL, tmp_path)
        assert len(roads.paths) > 500 and roads.points > 5000
        assert list(tmp_path.glob("network-*.npz"))  # the dispatcher's cache, shared
        missing = dataclasses.replace(SEOUL, road_graph=tmp_path / "none.graphml")
        assert base_map.scenario_roads(missing, tmp_path) is None
    finally:
        st.cache_resource.clear()


def test_an_expired_closure_is_no_longer_drawn_as_a_diversion(bus: Bus) -> None:
    """The map reads a closure as the router does: past its ``expires_at`` the centre takes patients again."""
    now = schemas.utc_now()
    centre = CENTRES[2]
    beds = {schemas.BedType.ER_GENERAL: schemas.BedCount(available=5, total=20)}
    over = schemas.EmsTraffic(status=schemas.TrafficStatus.CLOSED, reason="CT", expires_at=now - timedelta(minutes=1))
    bus.send(topics.Kind.CAPACITY, centre.hpid, schemas.Capacity.new(beds=beds, ems_traffic=over, updated_at=now))
    assert wait_until(lambda: centre.hpid in bus.feed.snapshot().capacity)
    [point] = map_layers.centre_points(bus.feed.snapshot(), (centre,), now)
    assert not point.diverting and point.colour == GREEN and point.reason is None
    still = over.model_copy(update={"expires_at": now + timedelta(minutes=30)})
    bus.send(topics.Kind.CAPACITY, centre.hpid, schemas.Capacity.new(beds=beds, ems_traffic=still, updated_at=now))

    def extended() -> bool:
        payload = bus.feed.snapshot().capacity[centre.hpid].payload
        return isinstance(payload, schemas.Capacity) and payload.ems_traffic == still

    assert wait_until(extended)
    [point] = map_layers.centre_points(bus.feed.snapshot(), (centre,), now)
    assert point.diverting and point.colour == PURPLE and point.reason == "CT"


def test_a_decline_from_a_tablet_in_english_reads_korean_in_the_control_room(bus: Bus) -> None:
    unit = unique("U")
    bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
    decline = schemas.Decision.new(
        advice_version=3, decision=schemas.DecisionKind.DECLINE, reason="Road closed or jammed"
    )
    bus.send(topics.Kind.DECISION, unit, decline)
    assert wait_until(lambda: any(d.unit_id == unit for d in bus.feed.snapshot().decisions))
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    lines = [e.value for e in at.error if unit in e.value]
    assert lines and "도로 통제·정체" in lines[0] and "Road closed" not in lines[0]


def test_a_dispatcher_down_silent_or_without_its_ledger_is_alerted_in_korean_and_english(bus: Bus) -> None:
    """Each region's dispatcher status (ems/dispatchers/{region}/status): down (its Last Will) and silent are
    urgent and before every other kind, an unreachable border-bed ledger a warning. (Their acknowledgement keys are
    tested in tests/dashboard/test_state.py.)"""
    down, silent_region, no_ledger = unique("down"), unique("silent"), unique("ledger")
    now = schemas.utc_now()

    def status(region: str, state: schemas.DispatcherState, at: Any, **fields: Any) -> schemas.DispatcherStatus:
        return schemas.DispatcherStatus.new(region=region, state=state, epoch=2, since=now - timedelta(hours=1),
                                            heartbeat_s=15.0, ts=at, **fields)  # fmt: skip

    leading, offline = schemas.DispatcherState.LEADING, schemas.DispatcherState.OFFLINE
    bus.send(topics.Kind.DISPATCHER_STATUS, down, status(down, offline, now, ledger=schemas.LedgerState.OK))
    quiet = status(silent_region, leading, now - timedelta(minutes=2), ledger=schemas.LedgerState.NONE)
    bus.send(topics.Kind.DISPATCHER_STATUS, silent_region, quiet)
    unreachable = status(no_ledger, leading, now, ledger=schemas.LedgerState.UNREACHABLE, detail="connection refused")
    bus.send(topics.Kind.DISPATCHER_STATUS, no_ledger, unreachable)
    assert wait_until(lambda: {down, silent_region, no_ledger} <= set(bus.feed.snapshot().dispatchers))
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert f"{down} 디스패처 중단 — 안내가 나가지 않습니다 (대기 디스패처가 넘겨받을 때까지)" in at.error.values
    stale = next(t for t in at.error.values if t.startswith(silent_region))
    assert stale.startswith(f"{silent_region} 디스패처 응답 없음 — 안내가 나가지 않습니다") and "2.0분째" in stale
    assert f"{no_ledger} 경계 응급센터 병상 장부 연결 안 됨 — 다른 지역과 같은 병상을 약속할 수 있습니다 (0분)" in (
        at.warning.values
    )
    assert not any(no_ledger in t for t in at.error.values)  # a warning, not urgent
    first = at.error.values[:2]
    assert first[0].startswith(down) and first[1].startswith(silent_region)  # before every other kind

    at.sidebar.toggle(key="english").set_value(True).run()
    assert f"{down} dispatcher down — no advice goes out (until a standby takes over)" in at.error.values
    assert any(t.startswith(f"{silent_region} dispatcher not responding — no advice goes out") for t in at.error.values)
    assert (
        f"{no_ledger} border-bed ledger unreachable — may promise the same bed as another region (0 min)"
        in at.warning.values
    )
