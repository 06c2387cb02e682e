"""The control room in headless Chromium with no internet (issue 25, items 3, 4, 5 and 8): every request that
leaves the machine is refused, as on a fire HQ network that reaches no tile server.

- the map draws the scenario's streets (pixels of the road colour on the map's canvas), and the page asks the
  internet for nothing, at the three viewports (a 1920×1080 wall, a 1280×800 tablet, the tablet in portrait);
- the layout: on the wall the unit board is on the first screen, beside the map; on the tablet the map and the
  alerts and board are side by side; in portrait they are one under the other, with nothing wider than the screen;
- a dispatcher acknowledges an alert: it leaves the list for "확인한 알림", and comes back when its condition changes.

With ``GOLDENTIME_SCREENSHOTS=DIR`` the pages are saved as ``control_room_{viewport}.png`` (``make screenshots``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, Route

from dashboard.base_map import ROAD_COLOUR
from telemetry import schemas, topics
from telemetry.client import MqttClient
from tests.e2e.conftest import VIEWPORTS, Demo, screenshot
from tests.helpers import unique, wait_until

MAP = '[data-testid="stDeckGlJsonChart"]'
#: The unit board: the table in the column beside the map.
BOARD = '.st-key-cr-side [data-testid="stDataFrame"]'


class Offline:
    """Refuses every request to another machine and remembers it: the page then runs as with no internet."""

    def __init__(self, page: Page, local: str) -> None:
        self.local = urlsplit(local).netloc
        self.refused: list[str] = []
        page.route("**/*", self._route)

    def _route(self, route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != self.local:
            self.refused.append(route.request.url)
            route.abort("internetdisconnected")
        else:
            route.continue_()


def _road_pixels(page: Page) -> int:
    """Pixels of the map's canvas in the streets' colour."""
    canvas = page.locator(f"{MAP} canvas").first
    image = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB"), dtype=int)
    return int((np.abs(image - np.array(ROAD_COLOUR)).sum(axis=2) < 30).sum())


def _open(open_page: Callable[[str], Page], demo: Demo, viewport: str) -> tuple[Page, Offline]:
    page = open_page(viewport)
    offline = Offline(page, demo.dashboard)
    page.goto(demo.dashboard)  # the control room is the start page
    page.get_by_text("관제실").first.wait_for(timeout=60_000)
    page.locator(f"{MAP} canvas").first.wait_for(timeout=60_000)
    page.locator(BOARD).wait_for(timeout=60_000)
    return page, offline


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_map_draws_the_streets_with_no_internet(
    demo: Demo, open_page: Callable[[str], Page], viewport: str
) -> None:
    page, offline = _open(open_page, demo, viewport)
    assert wait_until(lambda: _road_pixels(page) > 2000, timeout_s=60, every_s=1), _road_pixels(page)
    page.get_by_text("응급의료기관 현황").wait_for()  # the list of centres
    assert offline.refused == []  # no tile server, no font, nothing asked of the internet

    width, height = VIEWPORTS[viewport]["width"], VIEWPORTS[viewport]["height"]
    chart, board = page.locator(MAP).bounding_box(), page.locator(BOARD).bounding_box()
    assert chart is not None and board is not None
    if viewport == "wall":  # the unit board on the first screen, beside the map
        assert board["y"] + 100 < height and board["x"] >= chart["x"] + chart["width"]
    elif viewport == "tablet":  # side by side still, the board's first rows on the first screen
        assert board["x"] >= chart["x"] + chart["width"] and board["y"] + 100 < height
    else:  # portrait: the sidebar folded, the map as wide as the page, the alerts and the board under it
        assert board["y"] >= chart["y"] + chart["height"] and chart["width"] >= 0.85 * width
        assert page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "true"
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing wider than the screen
    page.wait_for_timeout(2500)  # one refresh, so the picture shows the page as it stays
    screenshot(page, f"control_room_{viewport}")


def _alert_row(page: Page, unit: str) -> Locator:
    """The row of one alert (its words and its 확인 button) among the alerts still to see."""
    rows = page.locator('.st-key-cr-alerts [data-testid="stHorizontalBlock"]')
    return rows.filter(has=page.locator('[data-testid="stAlertContainer"]', has_text=unit)).last


def _show_more(page: Page) -> None:
    more = page.locator('.st-key-cr-alerts [data-testid="stExpander"] summary', has_text="더 보기")
    if more.count() and more.first.is_visible():
        expander = page.locator('.st-key-cr-alerts [data-testid="stExpander"]', has_text="더 보기").first
        if expander.locator("details").get_attribute("open") is None:
            more.first.click()


def test_a_dispatcher_acknowledges_an_alert_until_it_changes(demo: Demo, open_page: Callable[[str], Page]) -> None:
    unit = unique("E2E")
    tablet = MqttClient(demo.mqtt_url, unique("tablet")).start()
    try:
        page, _ = _open(open_page, demo, "wall")
        # The broker's Last Will for a tablet that dropped off: the unit is offline, an urgent alert.
        assert tablet.send(topics.Topic(topics.Kind.STATUS, unit),
                           schemas.Status.new(status=schemas.UnitStatus.OFFLINE)).wait(5)  # fmt: skip

        def listed() -> bool:
            _show_more(page)
            return _alert_row(page, unit).count() > 0

        assert wait_until(listed, timeout_s=60, every_s=1)
        row = _alert_row(page, unit)
        assert "연결 끊김" in row.inner_text()

        def acknowledged() -> bool:
            """Pressed, and gone; pressed again if a refresh redrew the row under the click (it is idempotent)."""
            row = _alert_row(page, unit)
            if row.count() == 0:
                return True
            try:
                row.get_by_role("button", name="확인").click(timeout=5_000)
            except PlaywrightError:  # redrawn under the click
                return False
            return wait_until(lambda: _alert_row(page, unit).count() == 0, timeout_s=5, every_s=0.5)

        assert wait_until(acknowledged, timeout_s=30, every_s=0.5)
        seen = page.locator('.st-key-cr-alerts [data-testid="stExpander"]', has_text="확인한 알림")
        seen.first.wait_for(timeout=30_000)

        def among_seen() -> bool:
            """The expander opened and the unit in it; opened again if a refresh redrew it closed."""
            if seen.first.get_by_text(unit).is_visible():
                return True
            if seen.first.locator("details").get_attribute("open") is None:
                seen.first.locator("summary").click()
            return False

        assert wait_until(among_seen, timeout_s=30, every_s=1)
        page.wait_for_timeout(4500)  # two refreshes: still acknowledged
        assert _alert_row(page, unit).count() == 0

        # It went offline again (a new Last Will): a new condition, shown again.
        assert tablet.send(topics.Topic(topics.Kind.STATUS, unit),
                           schemas.Status.new(status=schemas.UnitStatus.OFFLINE)).wait(5)  # fmt: skip
        assert wait_until(listed, timeout_s=60, every_s=1)
    finally:
        tablet.send(topics.Topic(topics.Kind.STATUS, unit), schemas.Status.new(status=schemas.UnitStatus.AVAILABLE))
        tablet.stop()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_english_switch_survives_a_reload_and_korean_is_the_default(
    demo: Demo, open_page: Callable[[str], Page], viewport: str
) -> None:
    page, _ = _open(open_page, demo, viewport)
    if page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "true":
        page.locator('[data-testid="stExpandSidebarButton"]').click()  # portrait: the switch is in the folded sidebar
    page.locator('[data-testid="stSidebar"]').get_by_text("English").click()
    page.get_by_text("Control room").first.wait_for(timeout=30_000)
    assert wait_until(lambda: "lang=en" in page.url, timeout_s=10)
    page.reload()
    page.get_by_text("Control room").first.wait_for(timeout=60_000)  # still English after a reload
    page.locator(BOARD).wait_for(timeout=60_000)
    assert page.get_by_text("Alerts", exact=True).count() + page.get_by_text("Alerts (", exact=False).count() > 0
    page.goto(demo.dashboard)  # a link without the parameter: Korean
    page.get_by_text("관제실").first.wait_for(timeout=60_000)
