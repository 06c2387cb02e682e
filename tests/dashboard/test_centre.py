"""The emergency centre page end to end: the real capacity API (served on loopback, publishing to
a real broker), the dashboard's live feed, and the page run by Streamlit's AppTest.

What the charge nurse sees: the transfer requests waiting for an answer at the top (one tap to
accept, two to decline with a reason, the answer published for the dispatcher), the form pre-filled
with the centre's last report, the units on their way sorted by arrival, a green line after sending,
plain words when the token is wrong or the API is down.
"""

from __future__ import annotations

import json
import socket
import threading
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
from dashboard.map_layers import centre_points
from dashboard.state import pending_requests
from dispatch.scenario import Centre
from goldentime.settings import default_data_dir
from hospital_capacity.publisher import CapacityPublisher
from hospital_capacity.schemas import BedUpdate, HospitalCreate, StatusUpdate
from hospital_capacity.service import Caller, CapacityService
from loaders.scenarios import load_scenario
from telemetry import schemas, topics
from telemetry.client import Message, MqttClient
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

    def traffic_reason(self) -> str | None:
        received = self.feed.snapshot().capacity.get(JNUH)
        report = received.payload if received is not None else None
        return report.ems_traffic.reason if isinstance(report, schemas.Capacity) else None

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
            for kind in (topics.Kind.CAPACITY, topics.Kind.INBOUND, topics.Kind.REQUESTS):
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
                    unit_id="U-far",
                    advice_version=1,
                    eta_s=600,
                    severity=schemas.Severity(ktas=2, p_critical=0.62, critical=True),
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
    assert list(table["중증"]) == ["", "⚠ 중증 의심"]  # the critical call, apart from the likeliest level
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


def test_a_closure_without_a_reason_is_refused_in_korean_next_to_the_reason(city: City) -> None:
    at = open_page()
    at.radio(key=key("traffic")).set_value(schemas.TrafficStatus.CLOSED)
    at.button(key="send").click().run()
    assert not at.exception and not at.success
    assert list(at.error.values) == [
        "수용 제한·불가에는 사유가 필요합니다",  # under the reason field
        "보내지 않았습니다 — 확인할 항목: 사유: 수용 제한·불가에는 사유가 필요합니다",
    ]
    assert len(city.service.history(JNUH, None)) == 1  # nothing was sent
    at.text_input(key=key("reason")).input("CT 고장")
    at.button(key="send").click().run()
    assert not at.error and at.success
    traffic = city.service.hospital(JNUH).status.ems_traffic
    assert (traffic.status, traffic.reason) == (schemas.TrafficStatus.CLOSED, "CT 고장")
    at.radio(key=key("traffic")).set_value(schemas.TrafficStatus.NORMAL)  # normal after closed: sent, reason dropped
    at.button(key="send").click().run()
    assert not at.error and at.success
    traffic = city.service.hospital(JNUH).status.ems_traffic
    assert (traffic.status, traffic.reason) == (schemas.TrafficStatus.NORMAL, None)
    assert city.service.history(JNUH, None)[-1].update.model_dump(exclude_unset=True) == {
        "ems_traffic": {"status": schemas.TrafficStatus.NORMAL, "reason": None}
    }


def test_counts_out_of_range_are_refused_next_to_the_field_and_the_green_line_goes(city: City) -> None:
    at = open_page()
    at.number_input(key=key("available")).set_value(7)
    at.button(key="send").click().run()
    assert at.success and city.er_beds() == (7, 30)
    at.number_input(key=key("available")).set_value(-5)
    at.button(key="send").click().run()
    assert not at.exception and not at.success  # the last green line is gone
    assert list(at.error.values) == [
        "0 이상이어야 합니다 (입력한 값 -5)",
        "보내지 않았습니다 — 확인할 항목: 응급실 가용 병상: 0 이상이어야 합니다 (입력한 값 -5)",
    ]
    at.number_input(key=key("available")).set_value(7)
    at.number_input(key=key("total")).set_value(100_000)
    at.button(key="send").click().run()
    assert not at.success
    assert "10,000 이하여야 합니다 (입력한 값 100,000)" in at.error.values
    at.number_input(key=key("total")).set_value(5)
    at.button(key="send").click().run()
    assert "가용 병상(7)이 전체 병상(5)보다 많을 수 없습니다" in at.error.values
    at.number_input(key=key("total")).set_value(30)
    at.number_input(key=key("available")).set_value(3)
    at.checkbox(key=key("overcrowded")).check()
    at.button(key="send").click().run()
    assert "과밀이면 가용 병상은 0입니다 — 과밀을 해제하거나 0을 입력하세요" in at.error.values
    assert city.er_beds() == (7, 30) and len(city.service.history(JNUH, None)) == 2  # none of it was sent
    at.toggle(key="english").set_value(True).run()  # the words under the field follow the switch
    assert "no bed is free when overcrowded — untick overcrowded or enter 0" in at.error.values
    at.checkbox(key=key("overcrowded")).uncheck()
    at.button(key="send").click().run()
    assert not at.error and at.success and city.er_beds() == (3, 30)


def test_an_emptied_count_is_refused_never_sent_as_unknown(city: City) -> None:
    at = open_page()
    at.number_input(key=key("available")).set_value(None)
    at.radio(key=key("traffic")).set_value(schemas.TrafficStatus.ADVISORY)
    at.text_input(key=key("reason")).input("소아 전문의 부재")
    at.button(key="send").click().run()
    assert not at.success
    assert "비워 둘 수 없습니다 — 숫자를 입력하세요 (지금 보고된 값 4)" in at.error.values
    assert city.er_beds() == (4, 30) and len(city.service.history(JNUH, None)) == 1


def test_a_count_never_reported_may_stay_empty(city: City) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["hpid"] = CHOSUN
    at.run()
    at.text_input(key=f"centre-token:{CHOSUN}").input(city.service.create_token(CHOSUN, "Chosun nurse")).run()
    at.checkbox(key=f"centre-ct:{CHOSUN}").check()
    at.button(key="send").click().run()
    assert not at.error and at.success
    status = city.service.hospital(CHOSUN).status
    assert status.beds == {} and status.equipment[schemas.Equipment.CT].available is True  # no count: none sent


def test_the_apis_refusals_are_said_in_korean_field_by_field(city: City) -> None:
    """What the form cannot check itself (the API's stored total, its text rules) comes back as a 422: said in the
    page's words under the field, never in the API's English."""
    at = open_page()
    city.service.update(JNUH, StatusUpdate(beds={ER: BedUpdate(available=2, total=5)}), caller=CONTROL)  # meanwhile
    at.number_input(key=key("available")).set_value(7)  # fewer than the 30 the form shows, more than the 5 stored
    at.button(key="send").click().run()
    assert not at.exception and not at.success
    assert list(at.error.values) == [
        "가용 병상이 전체 병상보다 많을 수 없습니다",
        "용량 API가 거부했습니다 — 확인할 항목: 응급실 가용 병상: 가용 병상이 전체 병상보다 많을 수 없습니다",
    ]
    at.number_input(key=key("available")).set_value(4)
    at.radio(key=key("traffic")).set_value(schemas.TrafficStatus.CLOSED)
    at.text_input(key=key("reason")).input("CT\u0007고장")  # a control character
    at.button(key="send").click().run()
    assert list(at.error.values) == [
        "줄바꿈·제어 문자는 쓸 수 없습니다",
        "용량 API가 거부했습니다 — 확인할 항목: 사유: 줄바꿈·제어 문자는 쓸 수 없습니다",
    ]
    assert not any(e.isascii() for e in at.error.values)
    assert city.er_beds() == (2, 5)


def test_a_link_to_an_unknown_centre_says_so_and_opens_none(city: City) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["hpid"] = "A1100010"  # the README's example: not a centre of this scenario
    at.run()
    assert not at.exception
    [error] = at.error.values
    assert error.startswith("알 수 없는 응급의료기관입니다: A1100010 — ")
    assert at.selectbox(key="centre").value is None  # no other centre in its place...
    assert not at.text_input and not at.number_input and "데모 토큰이 입력되어 있습니다." not in at.caption.values
    assert at.query_params["hpid"] == "A1100010"  # ...and the link is left as it was
    at.selectbox(key="centre").set_value(JNUH).run()
    assert not at.error and at.text_input(key=key("token")).value == city.token
    assert at.query_params["hpid"] == JNUH


def _city_report(city: City, **fields: object) -> schemas.Capacity:
    """A report of JNUH as the live city posts it (unsigned), put on the bus; the feed has it."""
    report = schemas.Capacity.new(updated_at=datetime.now(UTC), **fields)
    assert city.bus.send(topics.Topic(topics.Kind.CAPACITY, JNUH), report).wait(5)
    assert wait_until(lambda: city.feed.snapshot().capacity[JNUH].payload.msg_id == report.msg_id)
    return report


def test_sending_over_a_report_not_written_through_the_api_takes_the_centre_over(city: City) -> None:
    """The live city's reports are unsigned: the nurse's first send carries everything the form shows, so her
    report, the only one now (the city's one-writer rule), still has the beds and capabilities the city had."""
    now = datetime.now(UTC)
    _city_report(
        city,
        beds={ER: schemas.BedCount(available=3, total=20, updated_at=now)},
        conditions={
            schemas.Condition.STEMI_PCI: schemas.Capability(available=True),
            schemas.Condition.MAJOR_TRAUMA: schemas.Capability(available=False),
            schemas.Condition.ER_OPEN: schemas.Capability(available=True),
        },
    )
    at = open_page()
    assert at.number_input(key=key("available")).value == 3
    assert "보내면 이 센터의 보고를 직접 맡습니다: 양식에 보이는 내용이 모두 전송됩니다." in at.caption.values
    at.radio(key=key("traffic")).set_value(schemas.TrafficStatus.CLOSED)
    at.text_input(key=key("reason")).input("CT 고장")
    at.button(key="send").click().run()
    assert not at.error and at.success
    sent = city.service.history(JNUH, None)[-1].update
    assert sent.beds[ER].model_dump(exclude_unset=True) == {"available": 3, "total": 20, "overcrowded": False}
    assert sent.ems_traffic is not None
    assert (sent.ems_traffic.status, sent.ems_traffic.reason) == (schemas.TrafficStatus.CLOSED, "CT 고장")
    assert sent.conditions == {schemas.Condition.STEMI_PCI: True, schemas.Condition.MAJOR_TRAUMA: False}
    assert sent.equipment == {}  # unknown and unticked: left unknown
    assert city.er_beds() == (3, 20)
    assert "보내면 이 센터의 보고를 직접 맡습니다: 양식에 보이는 내용이 모두 전송됩니다." not in at.caption.values
    at.radio(key=key("traffic")).set_value(schemas.TrafficStatus.NORMAL)  # now hers: only what changed goes
    at.button(key="send").click().run()
    assert set(city.service.history(JNUH, None)[-1].update.model_fields_set) == {"ems_traffic"}


def test_a_count_the_form_lacks_but_a_newer_report_has_must_be_filled_in(city: City) -> None:
    """The form was filled before the centre's first report came (a feed just connected): taking the centre over
    with an empty count would drop the count the city reported, so it is refused until filled in."""
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["hpid"] = CHOSUN
    at.run()
    assert at.number_input(key=f"centre-available:{CHOSUN}").value is None
    at.text_input(key=f"centre-token:{CHOSUN}").input(city.service.create_token(CHOSUN, "Chosun nurse")).run()
    report = schemas.Capacity.new(
        beds={ER: schemas.BedCount(available=3, total=20, updated_at=datetime.now(UTC))}, updated_at=datetime.now(UTC)
    )
    assert city.bus.send(topics.Topic(topics.Kind.CAPACITY, CHOSUN), report).wait(5)
    assert wait_until(lambda: CHOSUN in city.feed.snapshot().capacity)
    at.radio(key=f"centre-traffic:{CHOSUN}").set_value(schemas.TrafficStatus.CLOSED)
    at.text_input(key=f"centre-reason:{CHOSUN}").input("정전")
    at.button(key="send").click().run()
    assert not at.success
    assert "비워 둘 수 없습니다 — 숫자를 입력하세요 (지금 보고된 값 3)" in at.error.values
    assert "비워 둘 수 없습니다 — 숫자를 입력하세요 (지금 보고된 값 20)" in at.error.values
    assert city.service.history(CHOSUN, None) == []
    at.button(key=f"centre-reload-button:{CHOSUN}").click().run()  # the page offers the newer report
    assert at.number_input(key=f"centre-available:{CHOSUN}").value == 3 and not at.error
    at.radio(key=f"centre-traffic:{CHOSUN}").set_value(schemas.TrafficStatus.CLOSED)
    at.text_input(key=f"centre-reason:{CHOSUN}").input("정전")
    at.button(key="send").click().run()
    assert not at.error and at.success
    beds = city.service.hospital(CHOSUN).status.beds[ER]
    assert (beds.available, beds.total) == (3, 20)


def _status_card(at: AppTest) -> str:
    return next(m.value for m in at.markdown if 'data-testid="centre-status"' in m.value)


def test_the_centres_state_is_the_one_the_control_room_shows(city: City) -> None:
    """The page's state is computed as the control room's map computes it, from the latest retained report: a
    nurse's closure with its reason; and an ER declared not open, which the map draws as a diversion too."""
    at = open_page()
    card = _status_card(at)
    assert 'data-state="normal"' in card and "정상 수용" in card
    assert any(c.endswith("· 보고: control room") for c in at.caption.values)
    at.radio(key=key("traffic")).set_value(schemas.TrafficStatus.CLOSED)
    at.text_input(key=key("reason")).input("CT 고장")
    at.button(key="send").click().run()
    assert wait_until(lambda: city.traffic_reason() == "CT 고장")
    at.run()
    card = _status_card(at)
    assert 'data-state="diverting"' in card and "수용 불가 (우회)" in card and "사유: CT 고장" in card
    [point] = centre_points(city.feed.snapshot(), (_jnuh(),), datetime.now(UTC))
    assert point.diverting and "rgb({}, {}, {})".format(*point.colour) in card
    assert any(c.endswith("· 보고: JNUH charge nurse") for c in at.caption.values)
    _city_report(city, conditions={schemas.Condition.ER_OPEN: schemas.Capability(available=False)})
    at.run()
    card = _status_card(at)
    assert 'data-state="diverting"' in card and "수용 불가 — 응급실 운영 중단 보고" in card
    assert any(c.endswith("· 보고: 자동 보고 (서명 없음)") for c in at.caption.values)


def _jnuh() -> Centre:
    return next(c for c in load_scenario("gwangju", default_data_dir()).centres if c.hpid == JNUH)


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
    assert list(at.dataframe[0].value.columns) == ["Unit", "KTAS", "Critical", "p(critical)", "ETA (min)"]
    assert list(at.dataframe[0].value["Critical"]) == ["", "⚠ Suspected critical"]
    assert "Demo token filled in." in at.caption.values
    assert at.number_input(key=key("available")).value == 4  # the values stay


def test_no_inbound_units_is_said(city: City) -> None:
    city.bus.clear_retained(topics.build(topics.Kind.INBOUND, JNUH)).wait(5)
    assert wait_until(lambda: JNUH not in city.feed.snapshot().inbound)
    at = open_page()
    assert not at.dataframe and "오고 있는 구급차가 없습니다." in at.info.values


# --- transfer requests: the centre's answer -------------------------------------------------------


class Answers:
    """What the dispatcher would receive on ``ems/hospitals/{JNUH}/answer``."""

    def __init__(self, broker: BrokerUnderTest) -> None:
        self.received: list[schemas.Answer] = []
        self._lock = threading.Lock()
        self.client = MqttClient(broker.url, unique("dispatcher"), on_message=self._on, protocol=broker.protocol)
        self.client.subscribe(topics.build(topics.Kind.ANSWER, JNUH), qos=1)
        self.client.start()

    def _on(self, message: Message) -> None:
        if topics.parse(message.topic).kind is not topics.Kind.ANSWER:
            return  # amqtt may hand a new subscriber the centre's other retained messages
        answer = schemas.decode(topics.Kind.ANSWER, message.payload)
        assert isinstance(answer, schemas.Answer)
        with self._lock:
            self.received.append(answer)

    def of(self, kind: schemas.AnswerKind) -> list[schemas.Answer]:
        with self._lock:
            return [a for a in self.received if a.answer is kind]


@pytest.fixture
def answers(city: City, broker: BrokerUnderTest) -> Iterator[Answers]:
    watcher = Answers(broker)
    yield watcher
    watcher.client.stop()


def transfer(
    rid: str, unit: str, *, sent_s_ago: float, answer_in_s: float, **fields: object
) -> schemas.TransferRequest:
    now = datetime.now(UTC)
    return schemas.TransferRequest.model_validate(
        {
            "request_id": rid,
            "unit_id": unit,
            "patient_id": f"P-{rid}",
            "advice_version": 2,
            "eta_s": 540,
            "sent_at": now - timedelta(seconds=sent_s_ago),
            "answer_by": now + timedelta(seconds=answer_in_s),
            **fields,
        }
    )


STEMI_REQUEST = {
    "pathway": "stemi",
    "ktas": 2,
    "critical": True,
    "vitals": {"age_years": 67, "sex": "male", "hr_bpm": 118, "sbp_mmhg": 88, "spo2_pct": 91},
    "chief_complaint": "흉통",
    "note": "식은땀, 30분 전 시작",
}


def list_requests(city: City, *requests: schemas.TransferRequest) -> None:
    """The dispatcher's list for JNUH (retained), and the feed has it."""
    assert city.bus.send(topics.Topic(topics.Kind.REQUESTS, JNUH), schemas.Requests.new(requests=requests)).wait(5)
    ids = [r.request_id for r in requests]
    assert wait_until(lambda: [r.request_id for r in pending_requests(city.feed.snapshot(), JNUH)] == ids)


def request_card(at: AppTest, rid: str) -> str:
    return next(m.value for m in at.markdown if f'data-testid="request-{rid}"' in m.value)


def waiting_banner(at: AppTest) -> str | None:
    return next((m.value for m in at.markdown if 'data-testid="requests-waiting"' in m.value), None)


def rkey(name: str, rid: str) -> str:
    return f"centre-{name}:{JNUH}:{rid}"


@pytest.fixture
def requested(city: City, answers: Answers) -> City:
    """Two requests wait for JNUH: a critical STEMI sent 90 s ago with 150 s left, and a KTAS 4 already
    seen on another screen, 70 s past its time."""
    list_requests(
        city,
        transfer("R-stemi", "U-31", sent_s_ago=90, answer_in_s=150, **STEMI_REQUEST),
        transfer("R-minor", "U-07", sent_s_ago=250, answer_in_s=-70, ktas=4, seen=True, chief_complaint="발목 통증"),
    )
    return city


def test_waiting_requests_are_at_the_top_with_the_patient_and_the_time_to_answer(
    requested: City, answers: Answers
) -> None:
    at = open_page()
    banner = waiting_banner(at)
    assert banner is not None and "🔔 응답을 기다리는 이송 요청 2건" in banner and 'role="alert"' in banner
    assert at.subheader[0].value == "이송 요청 — 응답해 주세요"  # the first section of the page
    stemi = request_card(at, "R-stemi")
    assert "🔴 KTAS 2 · ⚠ 중증 의심 · 급성심근경색(STEMI)" in stemi
    assert "도착까지 9분 · U-31" in stemi
    assert "67세 · 남 · 맥박 118 · 수축기 혈압 88 · SpO₂ 91%" in stemi
    assert "주 증상: 흉통" in stemi and "구급대 메모: 식은땀, 30분 전 시작" in stemi
    assert "대기 1분 " in stemi and "응답 기한까지 2분 " in stemi and "gt-new" in stemi
    minor = request_card(at, "R-minor")
    assert "🟢 KTAS 4" in minor and "중증 의심" not in minor and "활력징후 없음" in minor
    assert '<span class="gt-late">응답 기한 1분 ' in minor and " 지남</span>" in minor
    assert at.button(key=rkey("accept", "R-stemi")).label == "✅ 수락"
    assert at.button(key=rkey("decline", "R-stemi")).label == "❌ 거절"
    assert len(at.get("audio")) == 1  # the new requests' beep...
    # Opening the page marked the request on screen seen (once; the other was seen already).
    assert wait_until(lambda: len(answers.of(schemas.AnswerKind.SEEN)) == 1)
    [seen] = answers.of(schemas.AnswerKind.SEEN)
    assert seen.request_id == "R-stemi" and seen.answered_by == "JNUH charge nurse"
    at.run()
    assert not at.exception and len(at.get("audio")) == 0  # ...once
    assert "gt-new" not in request_card(at, "R-stemi")
    at.button(key=rkey("accept", "R-minor")).click().run()  # published after any second "seen" would have been
    assert wait_until(lambda: len(answers.of(schemas.AnswerKind.ACCEPT)) == 1)
    assert len(answers.of(schemas.AnswerKind.SEEN)) == 1  # seen was said once
    # A new request is announced again.
    list_requests(requested, *pending_requests(requested.feed.snapshot(), JNUH),
                  transfer("R-new", "U-12", sent_s_ago=5, answer_in_s=175, ktas=3))  # fmt: skip
    at.run()
    assert "2건" in (waiting_banner(at) or "") and len(at.get("audio")) == 1  # R-minor was answered
    assert "gt-new" in request_card(at, "R-new") and "gt-new" not in request_card(at, "R-stemi")


def test_accepting_takes_one_tap_and_the_answer_reaches_the_dispatcher(requested: City, answers: Answers) -> None:
    at = open_page()
    at.text_input(key=key("answered_by")).input("김간호사")
    at.button(key=rkey("accept", "R-stemi")).click().run()
    assert not at.exception and not at.error
    assert wait_until(lambda: len(answers.of(schemas.AnswerKind.ACCEPT)) == 1)
    [accept] = answers.of(schemas.AnswerKind.ACCEPT)
    assert (accept.request_id, accept.reason, accept.answered_by) == ("R-stemi", None, "김간호사")
    [shown] = at.success
    assert shown.value.startswith("수락을 보냈습니다 · ") and shown.icon == "✅"  # what was sent, and when
    assert not {rkey("accept", "R-stemi"), rkey("decline", "R-stemi")} & {b.key for b in at.button}  # done
    assert "1건" in (waiting_banner(at) or "")  # one still waiting
    # The dispatcher takes the request off the list: the answer stays on the page, below.
    list_requests(
        requested, *[r for r in pending_requests(requested.feed.snapshot(), JNUH) if r.request_id != "R-stemi"]
    )
    at.run()
    assert any(c.startswith("U-31 · 수락을 보냈습니다 · ") for c in at.caption.values)
    assert "보낸 응답" in "".join(m.value for m in at.markdown)


def test_declining_takes_two_taps_with_a_coded_reason_and_words(requested: City, answers: Answers) -> None:
    at = open_page()
    assert rkey("refuse-no_bed", "R-stemi") not in {b.key for b in at.button}  # hidden until 거절
    at.button(key=rkey("decline", "R-stemi")).click().run()
    reasons = {b.key: b.label for b in at.button if b.key and b.key.startswith("centre-refuse-")}
    assert reasons == {
        rkey("refuse-no_bed", "R-stemi"): "병상 없음",
        rkey("refuse-no_specialist", "R-stemi"): "전문의 부재",
        rkey("refuse-no_equipment", "R-stemi"): "장비 없음",
        rkey("refuse-other", "R-stemi"): "기타",
    }
    assert at.text_input(key=rkey("text", "R-stemi")).label == "메모 (선택)"
    assert answers.of(schemas.AnswerKind.DECLINE) == []  # nothing sent on the first tap
    at.text_input(key=rkey("text", "R-stemi")).input("흉부외과 수술 중")
    at.button(key=rkey("refuse-no_specialist", "R-stemi")).click().run()
    assert not at.exception and not at.error
    assert wait_until(lambda: len(answers.of(schemas.AnswerKind.DECLINE)) == 1)
    [decline] = answers.of(schemas.AnswerKind.DECLINE)
    assert (decline.request_id, decline.reason, decline.text) == (
        "R-stemi",
        schemas.RefusalReason.NO_SPECIALIST,
        "흉부외과 수술 중",
    )
    assert at.success[0].value.startswith("거절을 보냈습니다 (전문의 부재: 흉부외과 수술 중) · ")
    assert rkey("refuse-no_bed", "R-stemi") not in {b.key for b in at.button}


def test_the_decline_can_be_taken_back_before_a_reason_is_chosen(requested: City, answers: Answers) -> None:
    at = open_page()
    at.button(key=rkey("decline", "R-minor")).click().run()
    assert rkey("refuse-other", "R-minor") in {b.key for b in at.button}
    at.button(key=rkey("cancel", "R-minor")).click().run()
    assert rkey("refuse-other", "R-minor") not in {b.key for b in at.button}
    assert at.button(key=rkey("accept", "R-minor")).label == "✅ 수락" and not at.success
    assert answers.of(schemas.AnswerKind.DECLINE) == []


def test_an_answer_that_does_not_go_is_said_in_korean_and_can_be_sent_again(requested: City, answers: Answers) -> None:
    at = open_page()
    at.text_input(key=key("token")).input("gt_not-the-token").run()
    at.button(key=rkey("accept", "R-minor")).click().run()
    assert not at.exception and not at.success
    assert "토큰이 맞지 않아 응답을 보내지 못했습니다. 센터 토큰을 확인하세요." in at.error.values
    assert at.button(key=rkey("accept", "R-minor")).label == "✅ 수락"  # still there, to try again
    at.text_input(key=key("token")).input(requested.token)
    at.text_input(key=key("answered_by")).input("김\u0007간호사")  # a control character: the API refuses it
    at.button(key=rkey("accept", "R-minor")).click().run()
    errors = list(at.error.values)
    assert errors == ["응답이 거부되었습니다 — 확인할 항목: 응답자"]  # Korean, never the API's English
    at.text_input(key=key("answered_by")).input("")
    at.button(key=rkey("accept", "R-minor")).click().run()
    assert not at.error and at.success[0].value.startswith("수락을 보냈습니다")
    assert wait_until(lambda: [a.request_id for a in answers.of(schemas.AnswerKind.ACCEPT)] == ["R-minor"])


def test_a_wrong_token_cannot_mark_requests_seen_and_says_so(city: City, answers: Answers) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params["hpid"] = CHOSUN  # no demo token for it: the nurse types one
    at.run()
    assert "응답을 기다리는 이송 요청이 없습니다." in at.caption.values
    at.selectbox(key="centre").set_value(JNUH).run()
    at.text_input(key=key("token")).input("gt_not-the-token").run()
    list_requests(city, transfer("R-1", "U-1", sent_s_ago=10, answer_in_s=170, ktas=3))
    at.run()
    assert (
        "확인 표시를 보내지 못했습니다: 토큰이 맞지 않아 응답을 보내지 못했습니다. 센터 토큰을 확인하세요."
        in at.warning.values
    )
    at.run()  # not asked again on every refresh
    assert answers.received == []


def test_the_api_down_is_a_korean_error_for_an_answer(requested: City, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("GOLDENTIME_CAPACITY_API_URL", f"http://127.0.0.1:{sock.getsockname()[1]}")
        common.settings.clear()
        at.button(key=rkey("accept", "R-stemi")).click().run()
    assert not at.exception
    assert at.error.values == ["용량 API에 연결할 수 없어 응답을 보내지 못했습니다. 다시 눌러 주세요."]


def test_requests_in_english(requested: City) -> None:
    at = open_page()
    at.toggle(key="english").set_value(True).run()
    assert not at.exception
    assert "🔔 2 transfer request(s) waiting for your answer" in (waiting_banner(at) or "")
    stemi = request_card(at, "R-stemi")
    assert "KTAS 2 · ⚠ Suspected critical · STEMI" in stemi and "Arrives in 9 min" in stemi
    assert "67 y · M · HR 118 · SBP 88 · SpO₂ 91%" in stemi and "Crew note: 식은땀" in stemi
    assert "Waiting 1 min " in stemi and " left to answer" in stemi
    assert " past the time to answer</span>" in request_card(at, "R-minor")
    assert at.button(key=rkey("accept", "R-stemi")).label == "✅ Accept"
    at.button(key=rkey("decline", "R-stemi")).click().run()
    assert at.button(key=rkey("refuse-no_equipment", "R-stemi")).label == "No equipment"
    at.button(key=rkey("refuse-no_bed", "R-stemi")).click().run()
    assert at.success[0].value.startswith("Decline sent (No bed) · ")
