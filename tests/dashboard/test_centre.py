"""The emergency centre page end to end: the real capacity API (served on loopback, publishing to
a real broker), the dashboard's live feed, and the page run by Streamlit's AppTest.

What the charge nurse sees: the form pre-filled with the centre's last report, the units on
their way sorted by arrival, a green line after sending, plain words when the token is wrong
or the API is down.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import common
from dashboard.feed import LiveFeed
from goldentime.settings import default_data_dir
from hospital_capacity.publisher import CapacityPublisher
from hospital_capacity.schemas import BedUpdate, HospitalCreate, StatusUpdate
from hospital_capacity.service import Caller, CapacityService
from loaders.scenarios import load_scenario
from telemetry import schemas, topics
from telemetry.client import MqttClient
from tests.conftest import BrokerUnderTest
from tests.dashboard.test_capacity_client import RunningApi, open_service, running_api
from tests.helpers import unique, wait_until

PAGE = Path(__file__).resolve().parents[2] / "dashboard" / "pages" / "centre.py"
JNUH = "A1500002"  # 전남대학교병원, the first centre of the Gwangju scenario
CHOSUN = "A1500001"
ER = schemas.BedType.ER_GENERAL
CONTROL = Caller("control room", None)


@dataclass(frozen=True)
class City:
    api: RunningApi
    token: str
    feed: LiveFeed
    bus: MqttClient

    @property
    def service(self) -> CapacityService:
        return self.api.service

    def er_beds(self) -> tuple[int | None, int | None]:
        beds = self.service.hospital(JNUH).status.beds[ER]
        return beds.available, beds.total

    def feed_beds(self) -> int | None:
        received = self.feed.snapshot().capacity.get(JNUH)
        if received is None or not isinstance(received.payload, schemas.Capacity):
            return None
        er = received.payload.beds.get(ER)
        return None if er is None else er.available


def key(name: str) -> str:
    """The page's session-state key of a form field for JNUH."""
    return f"centre-{name}:{JNUH}"


@pytest.fixture
def city(broker: BrokerUnderTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[City]:
    """JNUH reported 4 of 30 ER beds two minutes ago (API → publisher → broker → feed), and two
    units are on their way to it."""
    centres = {c.hpid: c for c in load_scenario("gwangju", default_data_dir()).centres}
    service = open_service(
        tmp_path,
        [HospitalCreate(hpid=h, name=centres[h].name, level=centres[h].level, lat=0, lon=0) for h in (JNUH, CHOSUN)],
    )
    token = service.create_token(JNUH, "JNUH charge nurse")
    tokens = tmp_path / "demo-tokens.json"
    tokens.write_text(json.dumps({JNUH: token}), encoding="utf-8")
    with ExitStack() as stack:
        stack.callback(service.store.close)
        api = stack.enter_context(running_api(service))
        publisher = CapacityPublisher(
            service, lambda: MqttClient(broker.url, unique("capacity-api"), protocol=broker.protocol)
        ).start()
        stack.callback(publisher.stop)
        bus = MqttClient(broker.url, unique("dispatcher"), protocol=broker.protocol).start()
        stack.callback(bus.stop)
        for hpid in (JNUH, CHOSUN):  # a real broker keeps retained messages across runs
            for kind in (topics.Kind.CAPACITY, topics.Kind.INBOUND):
                stack.callback(lambda topic: bus.clear_retained(topic).wait(5), topics.build(kind, hpid))
        for name, value in {
            "MQTT_URL": broker.url,
            "MQTT_PROTOCOL": broker.protocol,
            "CAPACITY_API_URL": api.url,
            "DEMO_TOKENS": str(tokens),
            "VAR_DIR": str(tmp_path),
            "SCENARIO": "gwangju",
        }.items():
            monkeypatch.setenv(f"GOLDENTIME_{name}", value)
        st.cache_resource.clear()
        stack.callback(st.cache_resource.clear)
        feed = common.feed(broker.url)  # the one the page will find in the resource cache
        stack.callback(feed.stop)
        report = StatusUpdate(
            beds={ER: BedUpdate(available=4, total=30)},
            conditions={schemas.Condition.STEMI_PCI: True},
            equipment={schemas.Equipment.CT: True},
            observed_at=datetime.now(UTC) - timedelta(minutes=2),
        )
        service.update(JNUH, report, caller=CONTROL)
        inbound = schemas.Inbound.new(
            patients=(
                schemas.InboundPatient(
                    unit_id="U-far", advice_version=1, eta_s=600, severity=schemas.Severity(ktas=2, p_critical=0.62)
                ),
                schemas.InboundPatient(
                    unit_id="U-near",
                    advice_version=3,
                    eta_s=240,
                    eta_mode=schemas.EtaMode.APPROXIMATE,
                    severity=schemas.Severity(ktas=4, p_critical=0.08),
                ),
            )
        )
        assert bus.send(topics.Topic(topics.Kind.INBOUND, JNUH), inbound).wait(5)
        city = City(api, token, feed, bus)
        assert wait_until(lambda: city.feed_beds() == 4 and JNUH in feed.snapshot().inbound)
        yield city


def open_page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["hpid"] = JNUH
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_form_is_filled_with_the_last_report_and_the_inbound_units_are_listed(city: City) -> None:
    at = open_page()
    assert at.title[0].value == "응급의료기관"
    assert at.selectbox(key="centre").value == JNUH
    assert at.text_input(key=key("token")).value == city.token
    assert "데모 토큰이 입력되어 있습니다." in at.caption.values
    assert (at.number_input(key=key("available")).value, at.number_input(key=key("total")).value) == (4, 30)
    assert at.checkbox(key=key("overcrowded")).value is False
    assert at.radio(key=key("traffic")).value == schemas.TrafficStatus.NORMAL
    assert at.checkbox(key=key("stemi_pci")).value is True and at.checkbox(key=key("ct")).value is True
    assert at.checkbox(key=key("major_trauma")).value is False
    assert at.checkbox(key=key("major_trauma")).label == "중증외상 수용 · 미확인"  # ITEM_WORDS
    assert at.metric[0].value == "4 / 30"
    assert any(t.startswith("마지막 보고 2분 전") for t in at.caption.values)
    table = at.dataframe[0].value
    assert list(table["구급차"]) == ["U-near", "U-far"]  # sorted by arrival
    assert list(table["KTAS"]) == ["🟢 4", "🔴 2"]
    assert list(table["위중 확률"]) == ["8%", "62%"]
    assert list(table["도착까지 (분)"]) == ["≈4", "10"]  # the approximate ETA is marked


def test_the_centre_is_chosen_by_the_link_or_the_list(city: City) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["hpid"] = CHOSUN
    at.run()
    assert at.selectbox(key="centre").value == CHOSUN
    assert at.text_input(key=f"centre-token:{CHOSUN}").value == ""  # no demo token for it
    assert "데모 토큰이 입력되어 있습니다." not in at.caption.values
    assert at.number_input(key=f"centre-available:{CHOSUN}").value is None  # never reported: empty, not 0
    assert "오고 있는 구급차가 없습니다." in at.info.values
    at.selectbox(key="centre").set_value(JNUH).run()
    assert at.number_input(key=key("available")).value == 4 and at.dataframe[0].value["구급차"].size == 2
    at.selectbox(key="centre").set_value(CHOSUN).run()
    at.selectbox(key="centre").set_value(JNUH).run()
    assert at.number_input(key=key("available")).value == 4  # filled again after the widgets were let go
    assert at.query_params["hpid"] == JNUH


def test_sending_changed_beds_updates_the_api_and_confirms(city: City) -> None:
    at = open_page()
    at.number_input(key=key("available")).set_value(7)
    at.checkbox(key=key("major_trauma")).check()
    at.button(key="send").click().run()
    assert not at.exception and not at.error
    assert len(at.success) == 1 and at.success[0].value.startswith("저장했습니다 ")
    assert at.success[0].value.endswith(" · 응급실 가용 병상 7 / 30")
    assert city.er_beds() == (7, 30)
    status = city.service.hospital(JNUH).status
    assert status.conditions[schemas.Condition.MAJOR_TRAUMA].available is True
    assert status.updated_by == "JNUH charge nurse"
    history = city.service.history(JNUH, None)
    sent = history[-1].update
    assert set(sent.model_fields_set) == {"beds", "conditions"}  # only what changed
    assert sent.beds[ER].model_fields_set == {"available", "overcrowded"}
    assert sent.conditions == {schemas.Condition.MAJOR_TRAUMA: True}
    # The update goes round (API → broker → feed): the page shows it, with no "newer report" offered.
    assert wait_until(lambda: city.feed_beds() == 7)
    at.run()
    assert at.metric[0].value == "7 / 30" and at.number_input(key=key("available")).value == 7
    assert not any("더 새로운 보고" in t for t in at.info.values)
    at.button(key="send").click().run()
    assert list(at.info.values) == ["바뀐 내용이 없어 보내지 않았습니다."]
    assert len(city.service.history(JNUH, None)) == 2  # the fixture's report and the one change


def test_ticking_overcrowded_alone_means_no_bed_is_free(city: City) -> None:
    at = open_page()
    at.checkbox(key=key("overcrowded")).check()
    at.button(key="send").click().run()
    assert not at.error and at.success[0].value.endswith(" · 응급실 가용 병상 0 / 30")
    beds = city.service.hospital(JNUH).status.beds[ER]
    assert (beds.available, beds.total, beds.overcrowded) == (0, 30, True)
    assert wait_until(lambda: city.feed_beds() == 0)
    at.run()
    assert at.metric[0].value == "과밀"


def test_a_wrong_token_shows_the_apis_words_and_changes_nothing(city: City) -> None:
    at = open_page()
    at.text_input(key=key("token")).input("gt_not-the-token").run()
    assert "데모 토큰이 입력되어 있습니다." not in at.caption.values
    at.number_input(key=key("available")).set_value(9)
    at.button(key="send").click().run()
    assert not at.exception and not at.success
    assert list(at.error.values) == ["토큰이 맞지 않습니다 (401): unknown token"]
    assert city.er_beds() == (4, 30)


def test_a_closure_without_a_reason_is_refused_in_plain_words(city: City) -> None:
    at = open_page()
    at.radio(key=key("traffic")).set_value(schemas.TrafficStatus.CLOSED)
    at.button(key="send").click().run()
    assert list(at.error.values) == [
        "입력이 거부되었습니다 (422): ems_traffic: Value error, a status of closed needs a reason"
    ]
    at.text_input(key=key("reason")).input("CT 고장")
    at.button(key="send").click().run()
    assert not at.error and at.success
    traffic = city.service.hospital(JNUH).status.ems_traffic
    assert (traffic.status, traffic.reason) == (schemas.TrafficStatus.CLOSED, "CT 고장")


def test_the_api_down_is_a_clear_error(city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
        monkeypatch.setenv("GOLDENTIME_CAPACITY_API_URL", dead)
        common.settings.clear()  # the page reads the new URL; the feed stays
        at.number_input(key=key("available")).set_value(5)
        at.button(key="send").click().run()
    assert not at.exception
    assert list(at.error.values) == [
        f"용량 API에 연결할 수 없습니다: cannot connect to the capacity API at {dead}: connection refused"
    ]


def test_a_newer_report_is_offered_not_imposed(city: City) -> None:
    at = open_page()
    at.number_input(key=key("available")).set_value(6)  # the nurse is typing...
    city.service.update(JNUH, StatusUpdate(beds={ER: BedUpdate(available=2)}), caller=CONTROL)  # ...someone posts
    assert wait_until(lambda: city.feed_beds() == 2)
    at.button(key="send").click().run()
    assert not at.error and at.success and city.er_beds() == (6, 30)  # what she typed is what was sent
    city.service.update(JNUH, StatusUpdate(beds={ER: BedUpdate(available=3)}), caller=CONTROL)
    assert wait_until(lambda: city.feed_beds() == 3)
    at.run()
    assert at.metric[0].value == "3 / 30" and at.number_input(key=key("available")).value == 6
    assert "더 새로운 보고가 있습니다." in at.info.values
    at.button(key=key("reload-button")).click().run()
    assert at.number_input(key=key("available")).value == 3
    assert "더 새로운 보고가 있습니다." not in at.info.values


def test_without_the_broker_it_says_so_and_keeps_what_it_had(city: City) -> None:
    at = open_page()
    city.feed.stop()
    at.run()
    assert common.NOT_CONNECTED[0] in at.warning.values
    assert at.metric[0].value == "4 / 30" and at.dataframe[0].value["구급차"].tolist() == ["U-near", "U-far"]


def test_english_switches_the_texts(city: City) -> None:
    at = open_page()
    at.toggle(key="english").set_value(True).run()
    assert at.title[0].value == "Emergency centre"
    assert at.number_input(key=key("available")).label == "ER beds available"
    assert at.checkbox(key=key("major_trauma")).label == "major trauma · unknown"
    assert at.button(key="send").label == "Send"
    assert list(at.dataframe[0].value.columns) == ["Unit", "KTAS", "p(critical)", "ETA (min)"]
    assert "Demo token filled in." in at.caption.values
    assert at.number_input(key=key("available")).value == 4  # the values stay


def test_no_inbound_units_is_said(city: City) -> None:
    city.bus.clear_retained(topics.build(topics.Kind.INBOUND, JNUH)).wait(5)
    assert wait_until(lambda: JNUH not in city.feed.snapshot().inbound)
    at = open_page()
    assert not at.dataframe and "오고 있는 구급차가 없습니다." in at.info.values
