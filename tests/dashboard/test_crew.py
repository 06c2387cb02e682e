"""The crew tablet on a real broker: the destination card (with where the transfer request to the centre
stands), Accept and Decline published as the unit's decision, the severity (likeliest KTAS, the critical call,
who decided), the vitals trend, the crew's assessment (chief complaint and Pre-KTAS) published with the
patient's vitals, and the last advice kept (with a warning) when the link drops."""

from __future__ import annotations

import threading
from datetime import timedelta

from streamlit.testing.v1 import AppTest

from telemetry import schemas, topics
from telemetry.client import Message, MqttClient
from tests.conftest import BrokerUnderTest
from tests.dashboard.conftest import PAGES, Bus
from tests.helpers import unique, wait_until


class Decisions:
    """What the dispatcher would receive on ``ems/units/{unit}/decision``."""

    def __init__(self, broker: BrokerUnderTest, unit: str) -> None:
        self.received: list[schemas.Decision] = []
        self._lock = threading.Lock()
        self.client = MqttClient(broker.url, unique("dispatcher"), on_message=self._on, protocol=broker.protocol)
        self.client.subscribe(topics.build(topics.Kind.DECISION, unit), qos=1)
        self.client.start()

    def _on(self, message: Message) -> None:
        if topics.parse(message.topic).kind is not topics.Kind.DECISION:
            return  # amqtt 0.12 also hands a new subscriber the unit's other retained messages
        decision = schemas.decode(topics.Kind.DECISION, message.payload)
        assert isinstance(decision, schemas.Decision)
        with self._lock:
            self.received.append(decision)


def _advised(
    bus: Bus, *, definitive: bool = True, pathway: str | None = None, severity: schemas.Severity | None = None
) -> str:
    unit = unique("U")
    destination = schemas.Option(hpid="A1100010", name="서울대학교병원", eta_s=540, beds_on_arrival=3,
                                 reason="PCI 가능 · 도착 시 병상 3",
                                 reason_en="PCI team on duty, 3 beds free on arrival")  # fmt: skip
    other = schemas.Option(hpid="A1100017", name="강북삼성병원", eta_s=360, beds_on_arrival=0,
                           reason="도착 시 병상 없음", reason_en="no bed on arrival")  # fmt: skip
    advice = schemas.Advice.new(advice_version=4, patient_id="P-crew", destination=destination, alternatives=(other,),
                                severity=severity or schemas.Severity(ktas=2, p_critical=0.71), pathway=pathway,
                                definitive=definitive)  # fmt: skip
    bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
    for hr in (110, 118, 124):
        bus.send(topics.Kind.VITALS, unit, schemas.Vitals.new(patient_id="P-crew", hr_bpm=hr, sbp_mmhg=90, spo2_pct=93))
    bus.send(topics.Kind.ADVICE, unit, advice)
    assert wait_until(lambda: unit in bus.feed.snapshot().advice and len(bus.feed.snapshot().vitals.get(unit, ())) == 3)
    return unit


def _open(unit: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / "crew.py"), default_timeout=60)
    at.query_params["unit"] = unit
    at.run()
    assert not at.exception, at.exception
    return at


def _page_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_the_card_shows_destination_eta_beds_and_reason_and_accept_is_published(
    bus: Bus, broker: BrokerUnderTest
) -> None:
    unit = _advised(bus)
    decisions = Decisions(broker, unit)
    try:
        at = _open(unit)
        text = _page_text(at)
        assert "서울대학교병원" in text and "9 min" in text and "PCI 가능 · 도착 시 병상 3" in text and "KTAS 2" in text
        assert "PCI team on duty" not in text  # Korean by default
        assert "no-definitive" not in text  # definitive care: no banner
        alternatives = at.dataframe[0].value
        assert "강북삼성병원" in set(alternatives["병원"]) and "도착 시 병상 없음" in set(alternatives["이유"])
        assert len(at.get("vega_lite_chart")) == 1  # the vitals trend

        at.button(key="accept").click().run()
        assert wait_until(lambda: len(decisions.received) == 1)
        assert decisions.received[0].decision is schemas.DecisionKind.ACCEPT
        assert decisions.received[0].advice_version == 4
        assert "수락을 보냈습니다." in {s.value for s in at.success}
    finally:
        decisions.client.stop()


def test_decline_carries_the_chosen_reason(bus: Bus, broker: BrokerUnderTest) -> None:
    unit = _advised(bus)
    decisions = Decisions(broker, unit)
    try:
        at = _open(unit)
        at.sidebar.toggle(key="english").set_value(True).run()
        at.selectbox(key="reason").set_value("Road closed or jammed").run()
        at.button(key="decline").click().run()
        assert wait_until(lambda: len(decisions.received) == 1)
        decision = decisions.received[0]
        assert decision.decision is schemas.DecisionKind.DECLINE and decision.reason == "Road closed or jammed"
    finally:
        decisions.client.stop()


def test_when_the_link_drops_the_last_advice_stays_with_a_warning(bus: Bus) -> None:
    unit = _advised(bus)
    bus.feed.client.stop()  # the tablet loses its connection
    at = _open(unit)
    assert any("MQTT 연결 끊김" in e.value for e in at.error)
    assert "서울대학교병원" in _page_text(at)  # the last advice, still there, with its age
    assert "초 전" in _page_text(at)


def test_no_advice_yet_says_so(bus: Bus) -> None:
    unit = unique("U")
    bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.ON_SCENE))
    assert wait_until(lambda: unit in bus.feed.snapshot().units)
    at = _open(unit)
    assert "아직 안내가 없습니다" in at.info[0].value


def test_the_english_switch_shows_the_dispatchers_english_reasons(bus: Bus) -> None:
    unit = _advised(bus)
    at = _open(unit)
    at.sidebar.toggle(key="english").set_value(True).run()
    assert not at.exception, at.exception
    text = _page_text(at)
    assert "PCI team on duty, 3 beds free on arrival" in text and "PCI 가능 · 도착 시 병상 3" not in text
    assert set(at.dataframe[0].value["Why not first"]) == {"no bed on arrival"}


def test_an_advice_without_english_keeps_the_korean_reason_under_the_english_switch(bus: Bus) -> None:
    unit = unique("U")
    option = schemas.Option(hpid="A1100010", name="서울대학교병원", eta_s=540, reason="도착 시 병상 2")
    bus.send(topics.Kind.ADVICE, unit, schemas.Advice.new(advice_version=1, patient_id="P-crew", destination=option))
    assert wait_until(lambda: unit in bus.feed.snapshot().advice)
    at = _open(unit)
    at.sidebar.toggle(key="english").set_value(True).run()
    assert "도착 시 병상 2" in _page_text(at)


def test_no_definitive_care_puts_a_warning_banner_on_the_card(bus: Bus) -> None:
    unit = _advised(bus, definitive=False, pathway="stemi")
    at = _open(unit)
    card = next(m.value for m in at.markdown if 'data-testid="destination-card"' in m.value)
    assert 'data-testid="no-definitive"' in card and "gt-stabilise" in card
    assert "급성심근경색(STEMI) · ⚠ 도달 가능한 범위에 최종 치료 가능 기관 없음" in card
    assert card.index("no-definitive") < card.index("서울대학교병원")  # above the destination
    at.sidebar.toggle(key="english").set_value(True).run()
    card = next(m.value for m in at.markdown if 'data-testid="destination-card"' in m.value)
    assert "STEMI · ⚠ No definitive care within reach — the patient goes here to be stabilised" in card


def test_a_refused_decision_is_shown_to_the_crew_in_their_language(bus: Bus) -> None:
    """The dispatcher's refusal on ems/units/{unit}/rejected (here: a decline of advice that changed since)
    is on the tablet, not only in the control room's count."""
    unit = _advised(bus)
    refusal = schemas.Rejected.of(
        topics.build(topics.Kind.DECISION, unit),
        b'{"advice_version": 3}',
        "결정 거부: 안내가 바뀌었습니다 — 최신 안내(버전 4)로 다시 결정하세요",
        "decision refused: the advice changed; decide again on the newest advice (version 4)",
    )
    bus.send(topics.Kind.UNIT_REJECTED, unit, refusal)
    assert wait_until(lambda: unit in bus.feed.snapshot().refusals)
    at = _open(unit)
    assert any("결정 거부: 안내가 바뀌었습니다" in w.value for w in at.warning)
    at.sidebar.toggle(key="english").set_value(True).run()
    assert any("decision refused: the advice changed" in w.value for w in at.warning)


# --- the transfer request on the destination card -----------------------------------------------------


def _request_state(
    bus: Bus, unit: str, state: schemas.RequestState, *, version: int = 4, sent_s_ago: float = 80,
    answer_in_s: float = 100, answered_after_s: float | None = None, hpid: str = "A1100010", **fields: object,
) -> None:  # fmt: skip
    now = schemas.utc_now()
    sent = now - timedelta(seconds=sent_s_ago)
    if answered_after_s is not None:
        fields["answered_at"] = sent + timedelta(seconds=answered_after_s)
    request = schemas.UnitRequest.new(
        request_id=f"R-{unit}-{version}", hpid=hpid, name="서울대학교병원", advice_version=version, state=state,
        message=fields.pop("message", "서울대학교병원에 수용 요청을 보냈습니다"),
        message_en=fields.pop("message_en", "Transfer request sent to 서울대학교병원"),
        sent_at=sent, answer_by=now + timedelta(seconds=answer_in_s), **fields,
    )  # fmt: skip
    bus.send(topics.Kind.REQUEST_STATE, unit, request)

    def arrived() -> bool:
        held = bus.feed.snapshot().unit_requests.get(unit)
        return held is not None and held.payload == request

    assert wait_until(arrived)


def _request_card(at: AppTest) -> str:
    card = next(m.value for m in at.markdown if 'data-testid="destination-card"' in m.value)
    start = card.find('data-testid="request-state"')
    return "" if start < 0 else card[start:]


def test_the_card_follows_the_request_from_sent_to_seen_to_accepted(bus: Bus) -> None:
    unit = _advised(bus)
    at = _open(unit)
    assert _request_card(at) == ""  # no request for this advice yet
    _request_state(bus, unit, schemas.RequestState.SENT)
    at.run()
    state = _request_card(at)
    assert 'data-state="sent"' in state and "수용 요청 · 서울대학교병원: <b>보냄</b> → 확인함 → 수락 / 거절" in state
    assert "대기 1분 " in state and "응답 기한까지 1분 " in state
    assert "서울대학교병원에 수용 요청을 보냈습니다" in state and "request-go" not in state  # not yet: wait
    _request_state(bus, unit, schemas.RequestState.SEEN)
    at.run()
    assert "보냄 ✓ → <b>확인함</b> → 수락 / 거절" in _request_card(at)
    _request_state(bus, unit, schemas.RequestState.ACCEPTED, answered_after_s=75, message="수락: 출발하세요")
    at.run()
    state = _request_card(at)
    assert "보냄 ✓ → 확인함 ✓ → <b>수락</b>" in state
    assert 'data-testid="request-go">✅ 수락 — 출발하세요</div>' in state
    assert "응답까지 1분 15초" in state  # how long the centre took


def test_a_decline_shows_its_reason_and_says_to_wait_for_new_advice(bus: Bus) -> None:
    unit = _advised(bus)
    _request_state(bus, unit, schemas.RequestState.DECLINED, reason=schemas.RefusalReason.NO_SPECIALIST,
                   answered_after_s=60)  # fmt: skip
    at = _open(unit)
    state = _request_card(at)
    assert "<b>거절 (전문의 부재)</b>" in state and "❌ 거절 — 새 안내를 기다리세요" in state
    at.sidebar.toggle(key="english").set_value(True).run()
    state = _request_card(at)
    assert "<b>Declined (No specialist)</b>" in state and "❌ Declined — wait for new advice" in state
    assert "Transfer request sent to 서울대학교병원" in state  # the dispatcher's English words


def test_no_answer_by_the_time_to_answer_says_go_as_advised(bus: Bus) -> None:
    unit = _advised(bus)
    _request_state(bus, unit, schemas.RequestState.SEEN, sent_s_ago=200, answer_in_s=-20)  # the dispatcher lags
    at = _open(unit)
    state = _request_card(at)
    assert "⏱ 응답 없음: 안내대로 출발" in state and "응답 기한까지" not in state and "대기 3분 " in state
    _request_state(bus, unit, schemas.RequestState.NO_ANSWER, sent_s_ago=200, answer_in_s=-20)
    at.run()
    state = _request_card(at)
    assert "보냄 ✓ → <b>응답 없음</b>" in state and "⏱ 응답 없음: 안내대로 출발" in state
    at.sidebar.toggle(key="english").set_value(True).run()
    assert "⏱ No answer: go as advised" in _request_card(at)


def test_a_withdrawn_request_and_one_of_older_advice(bus: Bus) -> None:
    unit = _advised(bus)
    _request_state(bus, unit, schemas.RequestState.ACCEPTED, version=3, answered_after_s=30, hpid="A1100017")
    at = _open(unit)
    assert _request_card(at) == ""  # another centre, of the advice before this one: not this card's
    _request_state(bus, unit, schemas.RequestState.WITHDRAWN, message="다른 병원이 수락하여 요청을 철회했습니다")
    at.run()
    state = _request_card(at)
    assert "보냄 ✓ → <b>철회</b>" in state and "다른 병원이 수락하여 요청을 철회했습니다" in state
    assert "request-go" not in state


# --- the severity ------------------------------------------------------------------------------------------------


def _severity_card(at: AppTest) -> str:
    return next(m.value for m in at.markdown if 'data-testid="severity"' in m.value)


def test_the_severity_headline_is_the_likeliest_level_with_the_critical_call_and_who_decided(bus: Bus) -> None:
    severity = schemas.Severity(ktas=3, p_critical=0.35, critical=True, decided_by=schemas.Decider.CREW)
    at = _open(_advised(bus, severity=severity))
    card = _severity_card(at)
    assert '<span class="gt-big">KTAS 3</span>' in card and "background:#f9a825" in card  # the level's colour
    assert 'data-testid="critical">⚠ 중증 의심</span>' in card  # recall first: critical though 3 is likeliest
    assert "판단: 구급대 판단 (Pre-KTAS·표시)" in card and "p(critical) 35%" in card
    assert card.index("KTAS 3") < card.index("p(critical)")  # the level is the headline
    at.sidebar.toggle(key="english").set_value(True).run()
    card = _severity_card(at)
    assert "⚠ Suspected critical" in card and "Set by: the crew (Pre-KTAS or a flag)" in card


def test_a_model_decision_that_is_not_critical_has_no_marker(bus: Bus) -> None:
    severity = schemas.Severity(ktas=4, p_critical=0.04, critical=False, decided_by=schemas.Decider.MODEL)
    card = _severity_card(_open(_advised(bus, severity=severity)))
    assert "KTAS 4" in card and 'data-critical="false"' in card and "중증 의심" not in card
    assert "판단: 모델" in card


def test_an_older_dispatchers_severity_reads_ktas_1_2_as_critical(bus: Bus) -> None:
    card = _severity_card(_open(_advised(bus)))  # Severity(ktas=2, p_critical=0.71): no critical, no decided_by
    assert "⚠ 중증 의심" in card and 'data-testid="decided-by"' not in card and "p(critical) 71%" in card


# --- the crew's assessment -----------------------------------------------------------------------------------------


class VitalsSent:
    """What the dispatcher would receive on ``ems/units/{unit}/vitals``."""

    def __init__(self, broker: BrokerUnderTest, unit: str) -> None:
        self.received: list[schemas.Vitals] = []
        self._lock = threading.Lock()
        self.client = MqttClient(broker.url, unique("dispatcher"), on_message=self._on, protocol=broker.protocol)
        self.client.subscribe(topics.build(topics.Kind.VITALS, unit), qos=1)
        self.client.start()

    def _on(self, message: Message) -> None:
        if topics.parse(message.topic).kind is not topics.Kind.VITALS:
            return  # amqtt 0.12 also hands a new subscriber the unit's other retained messages
        vitals = schemas.decode(topics.Kind.VITALS, message.payload)
        assert isinstance(vitals, schemas.Vitals)
        with self._lock:
            self.received.append(vitals)


def _standing(at: AppTest) -> str:
    return next(m.value for m in at.markdown if 'data-testid="assessment-standing"' in m.value)


def _assess(at: AppTest, unit: str, code: str | None, level: int, text: str = "") -> None:
    at.selectbox(key=f"assess-complaint-{unit}").set_value(code)
    at.text_input(key=f"assess-text-{unit}").set_value(text)
    at.segmented_control(key=f"assess-ktas-{unit}").set_value(level)
    at.button(key=f"assess-send-{unit}").click().run()
    assert not at.exception, at.exception


def test_the_crew_picks_a_complaint_grades_pre_ktas_and_the_patients_vitals_carry_them(
    bus: Bus, broker: BrokerUnderTest
) -> None:
    unit = _advised(bus)
    sent = VitalsSent(broker, unit)
    try:
        at = _open(unit)
        standing = _standing(at)
        assert "환자 P-crew · 최근 활력징후 " in standing and "현재: 주 증상 없음 · Pre-KTAS 미분류" in standing
        complaint = at.selectbox(key=f"assess-complaint-{unit}")
        assert complaint.value is None and complaint.options[:2] == ["어지러움 · Dizziness", "복통 · Abdominal pain"]
        assert "흉통 · Chest pain" in complaint.options
        ktas = at.segmented_control(key=f"assess-ktas-{unit}")
        assert ktas.options == ["1", "2", "3", "4", "5", "미분류"] and ktas.value == 0
        assert [o.content_icon for o in ktas.proto.options] == ["🔵", "🔴", "🟡", "🟢", "⚪", ""]  # KTAS colours
        assert at.button(key=f"assess-send-{unit}").label == "📤 보내기"

        _assess(at, unit, "CHEST_PAIN", 2, "식은땀")
        assert wait_until(lambda: len(sent.received) == 1)
        vitals = sent.received[0]
        assert (vitals.patient_id, vitals.chief_complaint, vitals.pre_ktas) == ("P-crew", "흉통, 식은땀", 2)
        assert (vitals.hr_bpm, vitals.sbp_mmhg, vitals.spo2_pct) == (124, 90, 93)  # the newest vitals
        assert "보냈습니다: 흉통, 식은땀 · Pre-KTAS 🔴 2 (환자 P-crew)" in at.success.values
        assert wait_until(lambda: bus.feed.snapshot().vitals[unit][-1].msg_id == vitals.msg_id)
        at.run()
        assert "현재: 흉통, 식은땀 · Pre-KTAS 🔴 2" in _standing(at)
    finally:
        sent.client.stop()


def test_the_assessment_form_in_english(bus: Bus) -> None:
    unit = _advised(bus)
    at = _open(unit)
    at.sidebar.toggle(key="english").set_value(True).run()
    complaint = at.selectbox(key=f"assess-complaint-{unit}")
    assert complaint.label == "Chief complaint" and complaint.options[0] == "Dizziness · 어지러움"
    assert at.segmented_control(key=f"assess-ktas-{unit}").options[-1] == "Not graded"
    assert at.button(key=f"assess-send-{unit}").label == "📤 Send"
    assert "now: no chief complaint · Pre-KTAS Not graded" in _standing(at)


def test_without_the_patients_vitals_the_tablet_says_so_and_sends_nothing(bus: Bus) -> None:
    unit = unique("U")
    bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.ON_SCENE))
    assert wait_until(lambda: unit in bus.feed.snapshot().units)
    at = _open(unit)
    assert any("아직 이 구급차의 환자 활력징후가 없습니다" in w.value for w in at.warning)
    _assess(at, unit, "CHEST_PAIN", 2)
    assert any("아직 이 구급차의 환자 활력징후가 없습니다" in e.value for e in at.error)
    assert not at.success


def test_nothing_entered_is_not_sent(bus: Bus) -> None:
    unit = _advised(bus)
    at = _open(unit)
    _assess(at, unit, None, 0)
    assert at.error.values == ["주 증상을 고르거나 입력하고, 또는 Pre-KTAS를 선택하세요."]


def test_a_new_patient_clears_the_form_before_anything_is_sent_for_them(bus: Bus, broker: BrokerUnderTest) -> None:
    unit = _advised(bus)
    sent = VitalsSent(broker, unit)
    try:
        at = _open(unit)  # the form is shown for P-crew
        monitor = schemas.Vitals.new(patient_id="P-next", hr_bpm=80)
        bus.send(topics.Kind.VITALS, unit, monitor)
        assert wait_until(lambda: bus.feed.snapshot().vitals[unit][-1].patient_id == "P-next")
        _assess(at, unit, "CHEST_PAIN", 1)  # entered for P-crew
        assert "환자가 바뀌었습니다 (P-crew → P-next). 새 환자의 평가를 다시 입력하세요." in at.info.values
        assert at.selectbox(key=f"assess-complaint-{unit}").value is None
        assert at.segmented_control(key=f"assess-ktas-{unit}").value == 0
        _assess(at, unit, "DYSPNEA", 3)

        def tablet() -> list[schemas.Vitals]:
            return [v for v in sent.received if v.msg_id != monitor.msg_id]

        assert wait_until(lambda: len(tablet()) >= 1)
        # One publisher's messages arrive in order: had the first press sent anything, it would be first.
        assert [(v.patient_id, v.chief_complaint, v.pre_ktas, v.hr_bpm) for v in tablet()] == [
            ("P-next", "호흡곤란", 3, 80)
        ]
    finally:
        sent.client.stop()


def test_sending_without_a_connection_says_it_is_not_confirmed(bus: Bus) -> None:
    unit = _advised(bus)
    bus.feed.client.stop()  # the tablet loses its connection
    at = _open(unit)
    _assess(at, unit, "CHEST_PAIN", 2)
    assert any("아직 전송 확인이 없습니다" in w.value for w in at.warning)
    assert not at.success
