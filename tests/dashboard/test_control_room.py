"""The control room page on a real broker: units on the map coloured by status, routes, centres
coloured by beds, KPI tiles, alerts and the unit board, in Korean and in English."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.map_layers import GREEN, PURPLE, UNIT_COLOURS
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
    assert metrics["대응시간 p90 (오늘)"] == "6.0 min"  # call to on scene: 20 - 14 minutes
    assert metrics["8분 내 도착"] == "100%"
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
