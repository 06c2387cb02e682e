"""The control room page on a real broker: units on the map coloured by status, routes, centres
coloured by beds, KPI tiles, alerts, the unit board, and the transfer requests (overdue ones, today's
refusals by centre and reason), in Korean and in English."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.map_layers import GREEN, PURPLE, UNIT_COLOURS
from dashboard.state import today_start
from goldentime.settings import default_data_dir
from loaders.scenarios import load_scenario
from telemetry import schemas, topics
from tests.dashboard.conftest import PAGES, SCENARIO, Bus
from tests.helpers import unique, wait_until

CENTRES = load_scenario(SCENARIO, default_data_dir()).centres


def _layers(at: AppTest) -> dict[str, list[dict[str, object]]]:
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    return {layer["id"]: layer["data"] for layer in spec["layers"]}


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
    assert metrics["대응시간 p90 (오늘)"] == ("6.0 min" if called_today else "—")
    assert metrics["8분 내 도착"] == ("100%" if called_today else "—")
    assert any(declining in e.value and "road closed" in e.value for e in at.error)
    board = at.dataframe[0].value
    assert moving in set(board["구급차"]) and "이송" in set(board["상태"])
    assert "OpenStreetMap" in "".join(m.value for m in at.markdown)


def test_english_switch(bus: Bus) -> None:
    _city(bus)
    at = AppTest.from_file(str(PAGES / "control_room.py"), default_timeout=60).run()
    at.sidebar.toggle(key="english").set_value(True).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Control room"
    assert "Re-transfers today" in {m.label for m in at.metric}
    assert "Unit" in at.dataframe[0].value.columns


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
