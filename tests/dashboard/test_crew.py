"""The crew tablet on a real broker: the destination card (with where the transfer request to the centre
stands), Accept and Decline published as the unit's decision, the severity (likeliest KTAS, the critical call,
who decided), the vitals trend, the crew's assessment (chief complaint and Pre-KTAS) published with the
patient's vitals, and the last advice kept (with a warning) when the link drops.

Issue 25: the link line (connected / reconnecting / cut off), each decision's steps (sending → sent →
acknowledged, or not sent when the advice changed, or refused), the decline's reason with none chosen, its
confirmation and undo window, an advice accepted shown as accepted on a tablet opened since, the new destination's
badge, an unknown unit, the beds in words, the vitals chart's clock times, and the crew card's minutes the same as
the centre page's. The pure parts (dashboard/assessment.py) are tested at the end without a page."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.assessment import (
    CUT_OFF_AFTER_S,
    NEW_DESTINATION_S,
    UNDO_S,
    Accepted,
    Link,
    LinkWatch,
    Pressed,
    Shown,
    Stage,
    accepted_on_bus,
    advice_moved,
    beds_words,
    concerns,
    declined_just_before,
    destination_changed,
    heard_of,
    link_state,
    stage_of,
    tick_step_s,
    time_ticks,
)
from dashboard.common import eta_minutes
from dashboard.state import KST, CityView
from telemetry import schemas, topics
from telemetry.client import Message, MqttClient
from tests.conftest import BrokerUnderTest
from tests.dashboard.conftest import PAGES, Bus
from tests.helpers import unique, wait_until

SNUH = schemas.Option(hpid="A1100010", name="서울대학교병원", eta_s=540, beds_on_arrival=3,
                      reason="PCI 가능 · 도착 시 병상 3",
                      reason_en="PCI team on duty, 3 beds free on arrival")  # fmt: skip
KBSMC = schemas.Option(hpid="A1100017", name="강북삼성병원", eta_s=360, beds_on_arrival=0,
                       reason="도착 시 병상 없음", reason_en="no bed on arrival")  # fmt: skip


P = TypeVar("P", bound=schemas.Payload)


class Heard(Generic[P]):
    """What the dispatcher would receive on one of a unit's topics (``ems/units/{unit}/decision``, ``.../vitals``)."""

    def __init__(self, broker: BrokerUnderTest, unit: str, kind: topics.Kind, payload: type[P]) -> None:
        self.kind, self.payload = kind, payload
        self.received: list[P] = []
        self._lock = threading.Lock()
        self.client = MqttClient(broker.url, unique("dispatcher"), on_message=self._on, protocol=broker.protocol)
        self.client.subscribe(topics.build(kind, unit), qos=1)
        self.client.start()

    def _on(self, message: Message) -> None:
        if topics.parse(message.topic).kind is not self.kind:
            return  # amqtt 0.12 also hands a new subscriber the unit's other retained messages
        payload = schemas.decode(self.kind, message.payload)
        assert isinstance(payload, self.payload)
        with self._lock:
            self.received.append(payload)


def decisions_heard(broker: BrokerUnderTest, unit: str) -> Heard[schemas.Decision]:
    return Heard(broker, unit, topics.Kind.DECISION, schemas.Decision)


def _advice(
    version: int = 4, destination: schemas.Option = SNUH, *, patient: str = "P-crew", definitive: bool = True,
    pathway: str | None = None, severity: schemas.Severity | None = None,
) -> schemas.Advice:  # fmt: skip
    others = tuple(o for o in (SNUH, KBSMC) if o.hpid != destination.hpid)
    return schemas.Advice.new(advice_version=version, patient_id=patient, destination=destination,
                              alternatives=others, severity=severity or schemas.Severity(ktas=2, p_critical=0.71),
                              pathway=pathway, definitive=definitive)  # fmt: skip


def _advised(
    bus: Bus, *, definitive: bool = True, pathway: str | None = None, severity: schemas.Severity | None = None
) -> str:
    unit = unique("U")
    advice = _advice(definitive=definitive, pathway=pathway, severity=severity)
    bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
    for hr in (110, 118, 124):
        bus.send(topics.Kind.VITALS, unit, schemas.Vitals.new(patient_id="P-crew", hr_bpm=hr, sbp_mmhg=90, spo2_pct=93))
    bus.send(topics.Kind.ADVICE, unit, advice)
    assert wait_until(lambda: unit in bus.feed.snapshot().advice and len(bus.feed.snapshot().vitals.get(unit, ())) == 3)
    return unit


def _readvise(bus: Bus, unit: str, advice: schemas.Advice) -> None:
    bus.send(topics.Kind.ADVICE, unit, advice)

    def arrived() -> bool:
        held = bus.feed.snapshot().advice.get(unit)
        return held is not None and held.payload == advice

    assert wait_until(arrived)


def _open(unit: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / "crew.py"), default_timeout=60)
    at.query_params["unit"] = unit
    at.run()
    assert not at.exception, at.exception
    return at


def _page_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _part(at: AppTest, testid: str) -> str:
    """The markup of the page's element ``data-testid=testid`` (the first that holds it), or ''."""
    return next((m.value for m in at.markdown if f'data-testid="{testid}"' in m.value and "<style>" not in m.value), "")


def _card(at: AppTest) -> str:
    return _part(at, "destination-card")


def _progress(at: AppTest) -> str:
    return _part(at, "decision-progress")


def _keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key}


def test_the_card_shows_destination_eta_beds_and_reason_and_accept_goes_sending_sent_acknowledged(
    bus: Bus, broker: BrokerUnderTest
) -> None:
    unit = _advised(bus)
    decisions = decisions_heard(broker, unit)
    try:
        at = _open(unit)
        text = _page_text(at)
        assert (
            "서울대학교병원" in text
            and "9분" in text
            and not re.search(r"\d min\b", text)
            and "PCI 가능 · 도착 시 병상 3" in text
            and "KTAS 2" in text
        )
        assert 'data-beds="3">도착 시 병상 3개</span>' in _card(at)  # the count with its unit
        assert "PCI team on duty" not in text  # Korean by default
        assert "no-definitive" not in text  # definitive care: no banner
        alternatives = _part(at, "alternatives")
        assert (
            "강북삼성병원" in alternatives
            and "도착 시 병상 0개" in alternatives
            and "도착 시 병상 없음" in alternatives
        )
        assert len(at.get("vega_lite_chart")) == 1  # the vitals trend
        assert 'data-state="connected"' in _part(at, "link-state") and "🟢 연결됨" in _part(at, "link-state")
        assert 'data-testid="accepted"' not in _card(at)

        at.button(key=f"decide-accept-{unit}").click().run()
        assert wait_until(lambda: len(decisions.received) == 1)
        assert decisions.received[0].decision is schemas.DecisionKind.ACCEPT
        assert decisions.received[0].advice_version == 4
        progress = _progress(at)
        assert 'data-kind="accept"' in progress and "수락 · 서울대학교병원 v4:" in progress
        assert "보내는 중" in progress and "보냄" in progress and "확인됨" in progress
        assert f"decide-accept-{unit}" not in _keys(at)  # no second accept while this one is on its way

        # the broker hands the decision back to the dashboard's subscription (the dispatcher's path): acknowledged
        assert wait_until(lambda: any(d.unit_id == unit for d in bus.feed.snapshot().decisions))
        at.run()
        progress = _progress(at)
        assert 'data-stage="acknowledged"' in progress
        assert "보내는 중 ✓ → 보냄 ✓ → <b>확인됨</b>" in progress and "수락을 보냈습니다." in progress
        assert 'data-testid="accepted" data-version="4">✅ 수락함 (v4 · ' in _card(at)
        assert f"decide-accept-{unit}" not in _keys(at) and f"decide-decline-{unit}" in _keys(at)
    finally:
        decisions.client.stop()


def _decline(at: AppTest, unit: str, reason: int | None) -> None:
    at.button(key=f"decide-decline-{unit}").click().run()
    if reason is not None:
        at.pills(key=f"decide-reason-{unit}-P-crew-A1100010").set_value(reason).run()


def test_decline_needs_a_chosen_reason_a_confirmation_and_goes_after_the_undo_window(
    bus: Bus, broker: BrokerUnderTest
) -> None:
    unit = _advised(bus)
    decisions = decisions_heard(broker, unit)
    try:
        at = _open(unit)
        at.sidebar.toggle(key="english").set_value(True).run()
        _decline(at, unit, None)
        reasons = at.pills(key=f"decide-reason-{unit}-P-crew-A1100010")
        assert reasons.value is None  # none chosen for the crew
        assert reasons.options[0] == "Centre refused by phone" and len(reasons.options) == 5
        assert at.button(key=f"decide-confirm-{unit}").disabled  # no reason, no decline
        reasons.set_value(2).run()
        confirm = at.button(key=f"decide-confirm-{unit}")
        assert not confirm.disabled and confirm.label == "Confirm decline"
        confirm.click().run()
        held = _progress(at)
        assert 'data-stage="held"' in held and "Declining (Road closed or jammed) in <span data-gt-left-s=" in held
        assert f"decide-undo-{unit}" in _keys(at) and f"decide-accept-{unit}" not in _keys(at)
        assert not decisions.received  # held: the undo window is on (the dispatcher's copy comes after it)

        assert wait_until(lambda: len(decisions.received) == 1, timeout_s=UNDO_S + 15)
        decision = decisions.received[0]
        assert decision.decision is schemas.DecisionKind.DECLINE and decision.reason == "Road closed or jammed"
        assert decision.advice_version == 4
        at.run()
        assert 'data-stage="sent"' in _progress(at) or 'data-stage="sending"' in _progress(at)
        _readvise(bus, unit, _advice(5, KBSMC))  # the dispatcher's answer: the next centre
        at.run()
        progress = _progress(at)
        assert 'data-stage="acknowledged"' in progress and "Decline taken: the new advice is here." in progress
        assert 'data-testid="new-destination">🆕 New destination</div>' in _card(at)
    finally:
        decisions.client.stop()


def test_an_undone_decline_is_never_sent(bus: Bus, broker: BrokerUnderTest) -> None:
    unit = _advised(bus)
    decisions = decisions_heard(broker, unit)
    try:
        at = _open(unit)
        _decline(at, unit, 0)
        at.button(key=f"decide-confirm-{unit}").click().run()
        at.button(key=f"decide-undo-{unit}").click().run()
        assert 'data-stage="undone"' in _progress(at) and "거절을 되돌렸습니다. 보내지 않았습니다." in _progress(at)
        outbox = at.session_state[f"decide-outbox-{unit}"]
        assert outbox.settled(UNDO_S + 5) and outbox.facts().decision is None  # the undo window is over, unsent
        at.button(key=f"decide-accept-{unit}").click().run()
        # One publisher's messages arrive in order: had the decline gone, it would be first.
        assert wait_until(lambda: len(decisions.received) >= 1)
        assert [d.decision for d in decisions.received] == [schemas.DecisionKind.ACCEPT]
    finally:
        decisions.client.stop()


def test_a_decline_whose_advice_changes_in_its_undo_window_is_not_sent(bus: Bus, broker: BrokerUnderTest) -> None:
    unit = _advised(bus)
    decisions = decisions_heard(broker, unit)
    try:
        at = _open(unit)
        _decline(at, unit, 0)
        at.button(key=f"decide-confirm-{unit}").click().run()
        assert 'data-stage="held"' in _progress(at)
        _readvise(bus, unit, _advice(5, KBSMC))  # the centre declined meanwhile: the dispatcher moved on
        assert at.session_state[f"decide-outbox-{unit}"].settled(UNDO_S + 5)
        at.run()
        progress = _progress(at)
        assert 'data-stage="not_sent"' in progress and "(서울대학교병원 → 강북삼성병원)" in progress
        at.button(key=f"decide-accept-{unit}").click().run()
        assert wait_until(lambda: len(decisions.received) >= 1)
        assert [(d.decision, d.advice_version) for d in decisions.received] == [(schemas.DecisionKind.ACCEPT, 5)]
    finally:
        decisions.client.stop()


def test_a_cancelled_decline_sends_nothing_and_the_panel_closes(bus: Bus, broker: BrokerUnderTest) -> None:
    unit = _advised(bus)
    decisions = decisions_heard(broker, unit)
    try:
        at = _open(unit)
        _decline(at, unit, 1)
        assert at.button(key=f"decide-decline-{unit}").disabled  # the panel is open
        at.button(key=f"decide-cancel-{unit}").click().run()
        assert f"decide-confirm-{unit}" not in _keys(at) and not at.button(key=f"decide-decline-{unit}").disabled
        _decline(at, unit, None)  # opened again: the reason chosen before is not kept
        assert at.pills(key=f"decide-reason-{unit}-P-crew-A1100010").value is None
        assert at.button(key=f"decide-confirm-{unit}").disabled
        at.button(key=f"decide-cancel-{unit}").click().run()
        at.button(key=f"decide-accept-{unit}").click().run()
        assert wait_until(lambda: len(decisions.received) >= 1)
        assert [d.decision for d in decisions.received] == [schemas.DecisionKind.ACCEPT]
    finally:
        decisions.client.stop()


def test_a_press_that_arrives_after_the_advice_changed_is_not_sent(bus: Bus, broker: BrokerUnderTest) -> None:
    """A press made on the advice on screen that reaches the dashboard after the dispatcher changed the destination
    (as a press made while the tablet was cut off does): not sent, and the crew is told why."""
    unit = _advised(bus)
    decisions = decisions_heard(broker, unit)
    try:
        at = _open(unit)  # the crew sees 서울대학교병원, v4
        _readvise(bus, unit, _advice(5, KBSMC))
        at.button(key=f"decide-accept-{unit}").click().run()  # pressed on v4
        progress = _progress(at)
        assert 'data-stage="not_sent"' in progress
        assert "누른 뒤 안내가 바뀌었습니다 (서울대학교병원 → 강북삼성병원)" in progress
        at.button(key=f"decide-accept-{unit}").click().run()  # on the new advice now on screen
        assert wait_until(lambda: len(decisions.received) >= 1)
        assert [(d.decision, d.advice_version) for d in decisions.received] == [(schemas.DecisionKind.ACCEPT, 5)]
    finally:
        decisions.client.stop()


def test_a_press_on_an_older_version_of_the_same_destination_goes_with_the_version_seen(
    bus: Bus, broker: BrokerUnderTest
) -> None:
    unit = _advised(bus)
    decisions = decisions_heard(broker, unit)
    try:
        at = _open(unit)  # v4
        _readvise(bus, unit, _advice(5, SNUH.model_copy(update={"eta_s": 480})))  # the ETA moved: same centre
        at.button(key=f"decide-accept-{unit}").click().run()
        assert wait_until(lambda: len(decisions.received) == 1)
        assert decisions.received[0].advice_version == 4  # what the crew saw; the dispatcher takes it (same centre)
    finally:
        decisions.client.stop()


def test_a_decision_the_dispatcher_refuses_says_so(bus: Bus, broker: BrokerUnderTest) -> None:
    unit = _advised(bus)
    decisions = decisions_heard(broker, unit)
    try:
        at = _open(unit)
        at.button(key=f"decide-accept-{unit}").click().run()
        assert wait_until(lambda: len(decisions.received) == 1)
        sent = decisions.received[0]
        refusal = schemas.Rejected.of(
            topics.build(topics.Kind.DECISION, unit), schemas.encode(sent),
            "결정 거부: 안내가 바뀌었습니다", "decision refused: the advice changed",
        )  # fmt: skip
        bus.send(topics.Kind.UNIT_REJECTED, unit, refusal)
        assert wait_until(lambda: unit in bus.feed.snapshot().refusals)
        at.run()
        progress = _progress(at)
        assert (
            'data-stage="refused"' in progress
            and "관제가 결정을 거부했습니다: 결정 거부: 안내가 바뀌었습니다" in progress
        )
    finally:
        decisions.client.stop()


def test_an_accept_heard_on_the_bus_shows_on_a_tablet_opened_since(bus: Bus) -> None:
    """A reloaded tablet (a new session) knows the advice was accepted from the decisions the dashboard heard;
    a decline since undoes it."""
    unit = _advised(bus)
    at = _open(unit)
    assert 'data-testid="accepted"' not in _card(at) and f"decide-accept-{unit}" in _keys(at)
    bus.send(topics.Kind.DECISION, unit, schemas.Decision.new(advice_version=4, decision=schemas.DecisionKind.ACCEPT))
    assert wait_until(lambda: (unit, 4) in bus.feed.snapshot().accepted)
    at = _open(unit)  # reloaded
    assert 'data-testid="accepted" data-version="4">✅ 수락함 (v4 · ' in _card(at)
    assert f"decide-accept-{unit}" not in _keys(at)
    # the ETA moves and the dispatcher re-advises the same centre: still accepted (its request predates the accept)
    _request_state(bus, unit, schemas.RequestState.SEEN, version=3)
    _readvise(bus, unit, _advice(5, SNUH.model_copy(update={"eta_s": 480})))
    at.run()
    assert 'data-version="4">✅ 수락함 (v4' in _card(at)


def test_a_new_destination_is_badged_and_a_new_patient_is_not(bus: Bus) -> None:
    unit = _advised(bus)
    at = _open(unit)
    assert 'data-testid="new-destination"' not in _card(at)
    _readvise(bus, unit, _advice(5, KBSMC))  # the centre declined, say: the dispatcher advises the next
    at.run()
    card = _card(at)
    assert 'data-testid="new-destination">🆕 새 목적지</div>' in card and "gt-new" in card and "강북삼성병원" in card
    _readvise(bus, unit, _advice(6, SNUH, patient="P-next"))  # a new patient's first destination: no change
    at.run()
    assert 'data-testid="new-destination"' not in _card(at)


def test_a_declined_advice_badges_the_new_destination_on_a_tablet_opened_since(bus: Bus) -> None:
    unit = _advised(bus)
    decline = schemas.Decision.new(advice_version=4, decision=schemas.DecisionKind.DECLINE, reason="기타")
    bus.send(topics.Kind.DECISION, unit, decline)
    _readvise(bus, unit, _advice(5, KBSMC))
    assert wait_until(lambda: any(d.unit_id == unit for d in bus.feed.snapshot().decisions))
    assert 'data-testid="new-destination"' in _card(_open(unit))


def test_when_the_link_drops_the_line_says_reconnecting_and_the_card_stays_greyed(bus: Bus) -> None:
    unit = _advised(bus)
    bus.feed.client.stop()  # the dashboard loses its link to the broker
    at = _open(unit)
    link = _part(at, "link-state")
    assert 'data-state="reconnecting"' in link and "🟠 관제 서버 재연결 중… " in link
    card = _card(at)
    assert "서울대학교병원" in card and "gt-offline" in card  # the last advice, greyed, with its age
    assert "⚠ 연결 끊김 — 끊기기 전의 안내입니다" in card and "초 전" in card and "data-gt-age-s=" in card


def test_an_accept_pressed_while_the_dashboard_is_cut_off_says_so_and_goes_when_the_link_is_back(
    bus: Bus, broker: BrokerUnderTest
) -> None:
    unit = _advised(bus)
    decisions = decisions_heard(broker, unit)
    try:
        at = _open(unit)
        bus.feed.client.stop()
        at.button(key=f"decide-accept-{unit}").click().run()
        progress = _progress(at)
        assert (
            'data-stage="sending"' in progress and "관제 서버와 연결이 끊겨 있습니다 — 연결되면 보냅니다." in progress
        )
        bus.feed.client.start()
        assert wait_until(lambda: len(decisions.received) == 1)  # queued by the client, sent on reconnecting
        assert decisions.received[0].decision is schemas.DecisionKind.ACCEPT
    finally:
        decisions.client.stop()


def test_no_advice_yet_says_so(bus: Bus) -> None:
    unit = unique("U")
    bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.ON_SCENE))
    assert wait_until(lambda: unit in bus.feed.snapshot().units)
    at = _open(unit)
    assert "아직 안내가 없습니다" in at.info[0].value
    assert _part(at, "unknown-unit") == ""  # an idle unit is not an unknown one


def test_a_unit_never_heard_of_says_unknown_unit(bus: Bus) -> None:
    at = _open("U-typo-9999")
    unknown = _part(at, "unknown-unit")
    assert "알 수 없는 구급차 'U-typo-9999': 이 구급차의 보고를 받은 적이 없습니다" in unknown
    at.sidebar.toggle(key="english").set_value(True).run()
    assert "Unknown unit 'U-typo-9999': no report from it was ever heard" in _part(at, "unknown-unit")


def test_the_language_button_beside_the_unit_switches_to_english_and_back(bus: Bus) -> None:
    unit = _advised(bus)
    at = _open(unit)
    assert at.button(key="crew-language").label == "🌐 English"
    at.button(key="crew-language").click().run()
    assert at.sidebar.toggle(key="english").value is True and "🟢 Connected" in _part(at, "link-state")
    assert at.button(key="crew-language").label == "🌐 한국어"


def test_the_english_switch_shows_the_dispatchers_english_reasons(bus: Bus) -> None:
    unit = _advised(bus)
    at = _open(unit)
    at.sidebar.toggle(key="english").set_value(True).run()
    assert not at.exception, at.exception
    text = _page_text(at)
    assert "PCI team on duty, 3 beds free on arrival" in text and "PCI 가능 · 도착 시 병상 3" not in text
    assert "3 beds on arrival" in _card(at)
    alternatives = _part(at, "alternatives")
    assert "no bed on arrival" in alternatives and "0 beds on arrival" in alternatives


def test_an_advice_without_english_keeps_the_korean_reason_under_the_english_switch(bus: Bus) -> None:
    unit = unique("U")
    option = schemas.Option(
        hpid="A1100010", name="서울대학교병원", eta_s=540, beds_on_arrival=1, reason="도착 시 병상 1"
    )
    bus.send(topics.Kind.ADVICE, unit, schemas.Advice.new(advice_version=1, patient_id="P-crew", destination=option))
    assert wait_until(lambda: unit in bus.feed.snapshot().advice)
    at = _open(unit)
    assert 'data-beds="1">도착 시 병상 1개</span>' in _card(at)
    at.sidebar.toggle(key="english").set_value(True).run()
    assert "도착 시 병상 1" in _page_text(at) and 'data-beds="1">1 bed on arrival</span>' in _card(at)


def test_the_vitals_chart_reads_clock_times(bus: Bus) -> None:
    unit = _advised(bus)
    at = _open(unit)
    [chart] = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    x = spec["encoding"]["x"]
    assert x["axis"]["format"] == "%H:%M:%S" and x["scale"]["type"] == "utc"  # 14:03:12, never ".500"
    vitals = list(bus.feed.snapshot().vitals[unit])
    first, last = (v.ts.astimezone(KST).replace(tzinfo=UTC) for v in (vitals[0], vitals[-1]))
    ticks = time_ticks(first, last)
    assert [(v["hours"], v["minutes"], v["seconds"]) for v in x["axis"]["values"]] == [
        (t.hour, t.minute, t.second) for t in ticks
    ]


def test_the_crew_card_and_the_centre_page_say_the_same_minutes(bus: Bus) -> None:
    """The same patient, 150 s away: 2.5 minutes, which the centre page used to round to 2 and the crew card up
    to 3; both now use dashboard.common.eta_minutes."""
    unit, hpid = unique("U"), "A1100017"  # 서울대학교병원, a centre of the scenario the dashboard's tests load
    advice = schemas.Advice.new(
        advice_version=1, patient_id="P-crew", destination=SNUH.model_copy(update={"eta_s": 150})
    )
    inbound = schemas.Inbound.new(patients=(schemas.InboundPatient(unit_id=unit, advice_version=1, eta_s=150),))
    bus.send(topics.Kind.ADVICE, unit, advice)
    bus.send(topics.Kind.INBOUND, hpid, inbound)
    assert wait_until(lambda: unit in bus.feed.snapshot().advice and hpid in bus.feed.snapshot().inbound)
    crew = _open(unit)
    centre = AppTest.from_file(str(PAGES / "centre.py"), default_timeout=60)
    centre.query_params["hpid"] = hpid
    centre.run()
    assert not centre.exception, centre.exception
    card_minutes = int(re.search(r'data-testid="eta"[^>]*>(\d+)분', _card(crew)).group(1))  # type: ignore[union-attr]
    table = next(d.value for d in centre.dataframe if any("구급차" in str(c) for c in d.value.columns))
    row = table[table["구급차"] == unit].iloc[0]
    centre_minutes = int(str(row["도착까지 (분)"]).lstrip("≈"))
    assert card_minutes == centre_minutes == 3  # a few seconds passed: still 3 (rounded up) on both


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
    assert "판단: 구급대 판단 (Pre-KTAS·표시)" in card and "위중 확률 35%" in card
    assert card.index("KTAS 3") < card.index("위중 확률")  # the level is the headline
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
    assert "⚠ 중증 의심" in card and 'data-testid="decided-by"' not in card and "위중 확률 71%" in card


# --- the crew's assessment -----------------------------------------------------------------------------------------


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
    sent = Heard(broker, unit, topics.Kind.VITALS, schemas.Vitals)
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
    sent = Heard(broker, unit, topics.Kind.VITALS, schemas.Vitals)
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


# --- the pure parts (dashboard/assessment.py) --------------------------------------------------------------------

T0 = datetime(2026, 12, 6, 5, 0, 0, tzinfo=UTC)


def _fold(view: CityView, kind: topics.Kind, key: str, payload: schemas.Payload, at: datetime = T0) -> None:
    view.apply(topics.build(kind, key), schemas.encode(payload), at)


def _unit_request(version: int, hpid: str, state: schemas.RequestState) -> schemas.UnitRequest:
    return schemas.UnitRequest.new(request_id=f"R-{version}", hpid=hpid, name=hpid, advice_version=version,
                                   state=state, message="요청", sent_at=T0,
                                   answer_by=T0 + timedelta(minutes=1))  # fmt: skip


def test_link_state_is_connected_reconnecting_then_cut_off() -> None:
    assert link_state(True, None, T0) is Link.CONNECTED
    assert link_state(False, T0, T0 + timedelta(seconds=CUT_OFF_AFTER_S - 0.1)) is Link.RECONNECTING
    assert link_state(False, T0, T0 + timedelta(seconds=CUT_OFF_AFTER_S)) is Link.CUT_OFF
    assert link_state(False, None, T0) is Link.RECONNECTING


def test_the_link_watch_keeps_when_the_link_first_went_down() -> None:
    watch = LinkWatch()
    assert watch.observe(True, T0) is None
    assert watch.observe(False, T0 + timedelta(seconds=1)) == T0 + timedelta(seconds=1)
    assert watch.observe(False, T0 + timedelta(seconds=9)) == T0 + timedelta(seconds=1)  # the first look that saw it
    assert watch.observe(True, T0 + timedelta(seconds=10)) is None
    assert watch.observe(False, T0 + timedelta(seconds=11)) == T0 + timedelta(seconds=11)


SHOWN = Shown(4, "P-crew", "A1100010", "서울대학교병원")


def _pressed(kind: schemas.DecisionKind, **fields: Any) -> Pressed:
    return Pressed(kind, SHOWN, T0, **fields)


def test_a_decisions_stage_from_what_the_bus_tells() -> None:
    accept, decline = schemas.DecisionKind.ACCEPT, schemas.DecisionKind.DECLINE
    view = CityView()
    assert stage_of(_pressed(decline, due_at=T0 + timedelta(seconds=UNDO_S)), view, "U1") is Stage.HELD
    assert stage_of(_pressed(decline, due_at=T0, undone=True), view, "U1") is Stage.UNDONE
    assert stage_of(_pressed(accept, error=("바뀜", "changed")), view, "U1") is Stage.NOT_SENT
    sent = schemas.Decision.new(advice_version=4, decision=accept)
    assert stage_of(_pressed(accept, decision=sent), view, "U1") is Stage.SENDING  # not taken by the broker yet
    assert stage_of(_pressed(accept, decision=sent, broker_acked=True), view, "U1") is Stage.SENT
    _fold(view, topics.Kind.DECISION, "U1", sent)  # heard back on the unit's decision topic
    assert stage_of(_pressed(accept, decision=sent, broker_acked=True), view, "U1") is Stage.ACKNOWLEDGED
    assert stage_of(_pressed(accept, decision=sent), view, "U2") is Stage.SENDING  # another unit's is not this
    refusal = schemas.Rejected.of(topics.build(topics.Kind.DECISION, "U1"), schemas.encode(sent), "거부", "refused")
    _fold(view, topics.Kind.UNIT_REJECTED, "U1", refusal)
    assert stage_of(_pressed(accept, decision=sent, broker_acked=True), view, "U1") is Stage.REFUSED

    declined = schemas.Decision.new(advice_version=4, decision=decline, reason="기타")
    view = CityView()
    _fold(view, topics.Kind.DECISION, "U1", declined)
    pressed = _pressed(decline, decision=declined, broker_acked=True)
    assert stage_of(pressed, view, "U1") is Stage.SENT  # heard back, but no answer from the dispatcher yet
    _fold(view, topics.Kind.ADVICE, "U1", _advice(4, SNUH))
    assert stage_of(pressed, view, "U1") is Stage.SENT
    _fold(view, topics.Kind.ADVICE, "U1", _advice(5, KBSMC))  # the dispatcher's newer advice
    assert stage_of(pressed, view, "U1") is Stage.ACKNOWLEDGED
    withdrawn = CityView()
    _fold(withdrawn, topics.Kind.REQUEST_STATE, "U1", _unit_request(3, "A1100010", schemas.RequestState.WITHDRAWN))
    assert stage_of(pressed, withdrawn, "U1") is Stage.ACKNOWLEDGED  # the declined centre's request withdrawn


def test_which_decisions_concern_the_advice_on_screen() -> None:
    accept, decline = schemas.DecisionKind.ACCEPT, schemas.DecisionKind.DECLINE
    later = T0 + timedelta(minutes=10)
    assert concerns(_pressed(accept), Stage.ACKNOWLEDGED, _advice(5, SNUH), later)  # this destination's accept
    assert not concerns(_pressed(accept), Stage.ACKNOWLEDGED, _advice(5, KBSMC), later)
    assert concerns(_pressed(accept), Stage.SENDING, _advice(5, KBSMC), later)  # still on its way
    assert concerns(_pressed(decline), Stage.ACKNOWLEDGED, _advice(5, KBSMC), T0 + timedelta(seconds=30))
    assert not concerns(_pressed(decline), Stage.ACKNOWLEDGED, _advice(5, KBSMC), later)
    assert not concerns(_pressed(accept), Stage.SENDING, _advice(5, SNUH, patient="P-next"), T0)


def test_a_press_goes_only_on_the_same_patient_and_destination() -> None:
    assert advice_moved(SHOWN, _advice(4, SNUH)) is None
    assert advice_moved(SHOWN, _advice(5, SNUH.model_copy(update={"eta_s": 400}))) is None  # the ETA moved
    moved = advice_moved(SHOWN, _advice(5, KBSMC))
    assert (
        moved is not None
        and "(서울대학교병원 → 강북삼성병원)" in moved[0]
        and "(서울대학교병원 → 강북삼성병원)" in moved[1]
    )
    assert advice_moved(SHOWN, _advice(5, SNUH, patient="P-next")) is not None
    gone = advice_moved(SHOWN, None)
    assert gone is not None and "없어졌습니다" in gone[0]


def test_accepted_on_the_bus() -> None:
    accept, decline = schemas.DecisionKind.ACCEPT, schemas.DecisionKind.DECLINE
    view = CityView()
    _fold(view, topics.Kind.ADVICE, "U1", _advice(4, SNUH))
    assert accepted_on_bus(view, "U1", _advice(4, SNUH)) is None
    accepted = schemas.Decision.new(advice_version=4, decision=accept)
    _fold(view, topics.Kind.DECISION, "U2", accepted)  # another unit's
    assert accepted_on_bus(view, "U1", _advice(4, SNUH)) is None
    _fold(view, topics.Kind.DECISION, "U1", accepted)
    assert accepted_on_bus(view, "U1", _advice(4, SNUH)) == Accepted(4, accepted.ts)
    # v5, the same centre (the ETA moved): accepted when the request to it was made at v4 or before
    assert accepted_on_bus(view, "U1", _advice(5, SNUH)) is None  # no request known: not claimed
    _fold(view, topics.Kind.REQUEST_STATE, "U1", _unit_request(3, "A1100010", schemas.RequestState.SEEN))
    assert accepted_on_bus(view, "U1", _advice(5, SNUH)) == Accepted(4, accepted.ts)
    _fold(view, topics.Kind.REQUEST_STATE, "U1", _unit_request(5, "A1100017", schemas.RequestState.SENT))
    assert accepted_on_bus(view, "U1", _advice(5, KBSMC)) is None  # a new centre since: not what was accepted
    _fold(view, topics.Kind.DECISION, "U1", schemas.Decision.new(advice_version=4, decision=decline, reason="기타"))
    assert accepted_on_bus(view, "U1", _advice(4, SNUH)) is None  # declined after all
    remembered = CityView(accepted={("U1", 7)})  # past the decisions kept: the dashboard's set of accepts
    assert accepted_on_bus(remembered, "U1", _advice(7, SNUH)) == Accepted(7, None)


def test_a_destination_change_and_a_decline_just_before() -> None:
    assert not destination_changed(None, _advice(4, SNUH))
    assert not destination_changed(("P-crew", "A1100010"), _advice(5, SNUH))
    assert destination_changed(("P-crew", "A1100010"), _advice(5, KBSMC))
    assert not destination_changed(("P-old", "A1100010"), _advice(5, KBSMC))  # a new patient
    view = CityView()
    declined = schemas.Decision.new(advice_version=4, decision=schemas.DecisionKind.DECLINE, reason="기타", ts=T0)
    _fold(view, topics.Kind.DECISION, "U1", declined)
    assert declined_just_before(view, "U1", _advice(5, KBSMC), T0 + timedelta(seconds=5)) == T0
    assert declined_just_before(view, "U1", _advice(5, KBSMC), T0 + timedelta(seconds=NEW_DESTINATION_S + 1)) is None
    assert declined_just_before(view, "U1", _advice(4, SNUH), T0) is None  # the declined advice itself
    assert declined_just_before(view, "U2", _advice(5, KBSMC), T0) is None


def test_a_unit_is_heard_of_by_any_message() -> None:
    view = CityView()
    assert not heard_of(view, "U1")
    _fold(view, topics.Kind.POSITION, "U1", schemas.Position.new(lat=37.5, lon=127.0))
    assert heard_of(view, "U1") and not heard_of(view, "U2")
    _fold(view, topics.Kind.REQUEST_STATE, "U3", _unit_request(1, "A1100010", schemas.RequestState.SENT))
    assert heard_of(view, "U3")


@pytest.mark.parametrize(
    ("beds", "ko", "en"),
    [
        (1, "도착 시 병상 1개", "1 bed on arrival"),
        (15, "도착 시 병상 15개", "15 beds on arrival"),
        (0, "도착 시 병상 0개", "0 beds on arrival"),
        (None, "도착 시 병상 정보 없음", "beds on arrival unknown"),
    ],
)
def test_beds_in_words(beds: int | None, ko: str, en: str) -> None:
    assert beds_words(beds, english=False) == ko and beds_words(beds, english=True) == en


def test_the_time_axis_ticks_are_whole_clock_values() -> None:
    assert tick_step_s(0) == 1 and tick_step_s(4) == 1 and tick_step_s(6) == 2 and tick_step_s(50) == 10
    assert tick_step_s(600) == 120 and tick_step_s(10**6) == 3600
    start = datetime(2026, 12, 6, 14, 3, 12, 500_000, tzinfo=UTC)
    assert time_ticks(start, start + timedelta(seconds=3)) == [start.replace(microsecond=0) + timedelta(seconds=s)
                                                               for s in (1, 2, 3)]  # fmt: skip
    ticks = time_ticks(start, start + timedelta(minutes=5))
    assert all(t.microsecond == 0 and t.second == 0 for t in ticks) and len(ticks) == 5  # every minute
    assert time_ticks(start, start) == [start]  # one measurement


@pytest.mark.parametrize(("eta_s", "elapsed_s", "minutes"), [(150, 0, 3), (150, 30, 2), (120, 0, 2), (121, 0, 3),
                                                              (60, 90, 0), (540, 3, 9)])  # fmt: skip
def test_eta_minutes_round_up_what_is_left(eta_s: float, elapsed_s: float, minutes: int) -> None:
    assert eta_minutes(eta_s, elapsed_s) == minutes
