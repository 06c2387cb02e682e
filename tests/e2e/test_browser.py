"""End to end in a real browser: ``goldentime demo`` (broker, capacity API, recorder, dispatcher,
live city, dashboard) driven by headless Chromium the way its users drive it.

- the control room shows the city's units on the map (pixels of the unit colours on the map's canvas);
- the acceptance handshake: a centre page declines a request, the next centre accepts, the crew tablet says go;
- a crew tablet: the test publishes as an ambulance (status, position, vitals), the real
  dispatcher advises, the crew page shows the destination card, pressing Accept publishes the
  decision, which the test receives on MQTT;
- the crew's assessment: the crew picks 흉통 from the searchable list, grades Pre-KTAS 2 and sends; the
  dispatcher's vitals topic receives the patient's vitals with them, and the advice says the crew set the urgency.

Needs Debian's Chromium (``apt-get install -y chromium``; ``make test`` installs it when it
can). With ``GOLDENTIME_SCREENSHOTS=DIR`` the pages are also saved as PNGs (``make screenshots``).
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dashboard.map_layers import UNIT_COLOURS
from telemetry import schemas, topics
from telemetry.client import MqttClient
from tests.e2e.conftest import CITY_HALL, Demo, UnitWatch, screenshot
from tests.helpers import unique, wait_until


def _unit_pixels(page: Page) -> int:
    """Pixels of the map's canvas in the colour of an available unit."""
    canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first
    image = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB"), dtype=int)
    colour = np.array(UNIT_COLOURS[schemas.UnitStatus.AVAILABLE])
    return int((np.abs(image - colour).sum(axis=2) < 30).sum())


def test_the_control_room_shows_the_citys_units_on_the_map(demo: Demo, page: Page) -> None:
    page.goto(demo.dashboard)  # the control room is the start page
    page.get_by_text("관제실").first.wait_for(timeout=60_000)
    page.locator('[data-testid="stDeckGlJsonChart"] canvas').first.wait_for(timeout=60_000)
    assert wait_until(lambda: _unit_pixels(page) > 50, timeout_s=60, every_s=1)
    page.get_by_text("구급차 현황").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)  # the unit board (drawn on a canvas)
    screenshot(page, "control_room")


def test_a_crew_sees_the_advice_presses_accept_and_dispatch_receives_it(demo: Demo, page: Page) -> None:
    unit = unique("E2E")
    tablet = MqttClient(demo.mqtt_url, unique("tablet")).start()
    decisions = UnitWatch(demo.mqtt_url, unit, topics.Kind.DECISION)
    try:
        tablet.send(topics.Topic(topics.Kind.STATUS, unit), schemas.Status.new(status=schemas.UnitStatus.ON_SCENE))
        tablet.send(topics.Topic(topics.Kind.POSITION, unit), schemas.Position.new(lat=CITY_HALL[0], lon=CITY_HALL[1]))
        vitals = schemas.Vitals.new(patient_id=unique("P"), age_years=67, hr_bpm=118, sbp_mmhg=86, dbp_mmhg=52,
                                    rr_per_min=26, spo2_pct=89, avpu=schemas.Avpu.VOICE,
                                    flags=schemas.CrewFlags(stemi=True))  # fmt: skip
        tablet.send(topics.Topic(topics.Kind.VITALS, unit), vitals).wait(5)

        page.goto(f"{demo.dashboard}/crew?unit={unit}")
        card = page.locator('[data-testid="destination-card"]')
        card.wait_for(timeout=60_000)  # the dispatcher's advice, on the tablet
        assert "분" in card.inner_text() and " min" not in card.inner_text()  # Korean minutes (issue 25)
        version = int(card.inner_text().rsplit("v", 1)[1].split()[0])
        screenshot(page, "crew_tablet")
        page.get_by_role("button", name="✅ 수락").click()
        assert wait_until(lambda: bool(decisions.of(schemas.Decision)), timeout_s=30)
        decision = decisions.of(schemas.Decision)[0]
        assert decision.decision is schemas.DecisionKind.ACCEPT and decision.advice_version == version
        page.get_by_text("수락을 보냈습니다.").wait_for(timeout=30_000)
    finally:
        decisions.stop()
        tablet.send(topics.Topic(topics.Kind.STATUS, unit), schemas.Status.new(status=schemas.UnitStatus.AVAILABLE))
        tablet.stop()


def _search_and_pick(page: Page, key: str, typed: str, option: str) -> None:
    """Type into the searchable select of widget ``key`` and pick ``option``. The list closes when the page moves
    under it (the live card above growing as the transfer request's state comes in): open it again then, as a
    crew would."""
    box = page.locator(f'[class*="st-key-{key}"] input[role="combobox"]')
    for _ in range(5):
        box.click()
        box.fill("")
        page.keyboard.type(typed)  # the list searches as the crew types
        try:
            page.get_by_role("option", name=option).click(timeout=5_000)
        except PlaywrightTimeout:
            continue
        return
    raise AssertionError(f"{option!r} was never offered for {typed!r}")


def test_the_crew_picks_the_complaint_grades_pre_ktas_and_dispatch_receives_them(demo: Demo, page: Page) -> None:
    """Issue 24: the crew's chief complaint and Pre-KTAS, entered on the tablet, reach the dispatcher with the
    patient's vitals, and the crew's grade, more urgent than the model's, sets the patient's urgency."""
    unit, patient = unique("E2E"), unique("P")
    tablet = MqttClient(demo.mqtt_url, unique("tablet")).start()
    heard = UnitWatch(demo.mqtt_url, unit, topics.Kind.VITALS, topics.Kind.ADVICE)
    try:
        # The tablet first, as a crew opens it before the monitor is on: no patient yet, and it says so (the
        # dashboard knows a patient only from vitals it heard; vitals are not retained).
        page.goto(f"{demo.dashboard}/crew?unit={unit}")
        page.get_by_text("아직 이 구급차의 환자 활력징후가 없습니다").wait_for(timeout=60_000)
        tablet.send(topics.Topic(topics.Kind.STATUS, unit), schemas.Status.new(status=schemas.UnitStatus.ON_SCENE))
        tablet.send(topics.Topic(topics.Kind.POSITION, unit), schemas.Position.new(lat=CITY_HALL[0], lon=CITY_HALL[1]))
        monitor = schemas.Vitals.new(patient_id=patient, age_years=45, hr_bpm=84, sbp_mmhg=128, dbp_mmhg=80,
                                     rr_per_min=16, spo2_pct=98, temp_c=36.8, avpu=schemas.Avpu.ALERT)  # fmt: skip
        tablet.send(topics.Topic(topics.Kind.VITALS, unit), monitor).wait(5)

        page.get_by_test_id("destination-card").wait_for(timeout=60_000)  # advised on the monitor's vitals
        assert wait_until(lambda: bool(heard.of(schemas.Advice)), timeout_s=30)
        first = heard.of(schemas.Advice)[-1].severity
        assert first is not None and first.ktas >= 3, first  # the model alone: not that urgent
        page.get_by_test_id("assessment-standing").get_by_text(patient).wait_for(timeout=30_000)
        page.get_by_test_id("request-state").wait_for(timeout=60_000)  # the card has grown to its usual size
        _search_and_pick(page, "assess-complaint", "흉통", "흉통 · Chest pain")
        page.locator('[class*="st-key-assess-ktas"] button', has_text="2").click()
        screenshot(page, "crew_tablet_assessment")
        page.get_by_role("button", name="📤 보내기").click()

        def assessed() -> list[schemas.Vitals]:
            return [v for v in heard.of(schemas.Vitals) if v.msg_id != monitor.msg_id]

        assert wait_until(lambda: bool(assessed()), timeout_s=30)
        [sent] = assessed()
        assert (sent.patient_id, sent.chief_complaint, sent.pre_ktas) == (patient, "흉통", 2)
        assert (sent.hr_bpm, sent.sbp_mmhg, sent.spo2_pct) == (84, 128, 98)  # the monitor's, not made up
        page.get_by_text("보냈습니다: 흉통 · Pre-KTAS").wait_for(timeout=30_000)

        # The dispatcher takes the crew's grade: the advice's severity is the crew's, and the tablet says so.
        def crew_decided() -> bool:
            severity = heard.of(schemas.Advice)[-1].severity if heard.of(schemas.Advice) else None
            return severity is not None and severity.decided_by is schemas.Decider.CREW and severity.ktas == 2

        assert wait_until(crew_decided, timeout_s=30), [a.severity for a in heard.of(schemas.Advice)]
        decided = page.get_by_test_id("decided-by")
        decided.get_by_text("구급대 판단", exact=False).wait_for(timeout=30_000)
        assert page.get_by_test_id("severity").get_attribute("data-ktas") == "2"
        screenshot(page, "crew_tablet_assessed")
    finally:
        heard.stop()
        tablet.send(topics.Topic(topics.Kind.STATUS, unit), schemas.Status.new(status=schemas.UnitStatus.AVAILABLE))
        tablet.stop()


def test_the_centre_page_opens(demo: Demo, page: Page) -> None:
    """(The what-if page has a browser test of its own: tests/e2e/test_what_if.py.)"""
    page.goto(f"{demo.dashboard}/centre")
    page.get_by_text("응급의료기관").first.wait_for(timeout=60_000)
    page.get_by_text("데모 토큰").first.wait_for(timeout=30_000)  # the demo's token is filled in
    page.get_by_role("button", name="보내기").wait_for(timeout=30_000)
    page.wait_for_timeout(3000)  # let the live part (inbound patients) draw before the picture
    screenshot(page, "emergency_centre")


def _request_is(watch: UnitWatch, hpid: str, state: schemas.RequestState) -> bool:
    return any(s.hpid == hpid and s.state is state for s in watch.of(schemas.UnitRequest))


def _answer_button(page: Page, name: str, request_id: str, timeout_ms: float = 60_000) -> None:
    """Press a centre page button of one request (Streamlit classes a keyed widget st-key-<key>)."""
    page.locator(f'[class*="st-key-centre-{name}"][class*="{request_id}"] button').click(timeout=timeout_ms)


def _answer_waiting(
    page: Page, demo: Demo, watch: UnitWatch, buttons: tuple[str, ...], answered: schemas.RequestState, shows: str = ""
) -> schemas.UnitRequest:
    """Answer, on its centre's page, the request the crew waits on now, pressing ``buttons``: the request answered.
    The live city keeps reporting, so the advice, and the request with it, may move before the nurse answers."""
    waiting = (schemas.RequestState.SENT, schemas.RequestState.SEEN)
    for _ in range(4):
        assert wait_until(
            lambda: bool(watch.of(schemas.UnitRequest)) and watch.of(schemas.UnitRequest)[-1].state in waiting,
            timeout_s=60,
        )
        request = watch.of(schemas.UnitRequest)[-1]
        page.goto(f"{demo.dashboard}/centre?hpid={request.hpid}")
        card = page.get_by_test_id(f"request-{request.request_id}")
        try:
            card.wait_for(timeout=30_000)
            assert shows in card.inner_text()
            screenshot(page, f"centre_request_{answered.value}")
            for name in buttons:
                _answer_button(page, name, request.request_id, timeout_ms=15_000)
        except PlaywrightTimeout:
            continue
        if wait_until(functools.partial(_request_is, watch, request.hpid, answered), timeout_s=30):
            return request
    raise AssertionError(f"no request of the crew was {answered.value}: {watch.of(schemas.UnitRequest)}")


def test_a_centre_declines_then_another_accepts_and_the_crew_sees_it(demo: Demo, page: Page) -> None:
    """The acceptance handshake end to end: the dispatcher's request shows on the first centre's page, its nurse
    declines (no specialist, two taps), the dispatcher advises the next centre at once, whose nurse accepts
    (one tap), and the crew's tablet says to leave."""
    unit = unique("E2E")
    tablet = MqttClient(demo.mqtt_url, unique("tablet")).start()
    watch = UnitWatch(demo.mqtt_url, unit, topics.Kind.ADVICE, topics.Kind.REQUEST_STATE)
    try:
        tablet.send(topics.Topic(topics.Kind.STATUS, unit), schemas.Status.new(status=schemas.UnitStatus.ON_SCENE))
        tablet.send(topics.Topic(topics.Kind.POSITION, unit), schemas.Position.new(lat=CITY_HALL[0], lon=CITY_HALL[1]))
        stroke = schemas.CrewFlags(fast_positive=True)
        vitals = schemas.Vitals.new(patient_id=unique("P"), age_years=71, hr_bpm=96, sbp_mmhg=168, dbp_mmhg=92,
                                    rr_per_min=18, spo2_pct=96, avpu=schemas.Avpu.ALERT, note="발병 40분, 좌측 편마비",
                                    chief_complaint="left-sided weakness", flags=stroke)  # fmt: skip
        tablet.send(topics.Topic(topics.Kind.VITALS, unit), vitals).wait(5)
        decline = ("decline", "refuse-no_specialist")
        first = _answer_waiting(
            page, demo, watch, decline, schemas.RequestState.DECLINED, shows="발병 40분, 좌측 편마비"
        )
        second = _answer_waiting(page, demo, watch, ("accept",), schemas.RequestState.ACCEPTED)
        assert second.hpid != first.hpid

        page.goto(f"{demo.dashboard}/crew?unit={unit}")
        state = page.get_by_test_id("request-state")
        state.wait_for(timeout=60_000)
        assert wait_until(lambda: state.get_attribute("data-state") == "accepted", timeout_s=30)
        page.get_by_test_id("request-go").get_by_text("출발하세요").wait_for(timeout=10_000)
        screenshot(page, "crew_tablet_accepted")
    finally:
        watch.stop()
        tablet.send(topics.Topic(topics.Kind.STATUS, unit), schemas.Status.new(status=schemas.UnitStatus.AVAILABLE))
        tablet.stop()
