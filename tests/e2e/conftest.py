"""What every browser test shares: ``goldentime demo`` started once for the session on a broker of the tests' own,
Debian's headless Chromium, a page per test at a viewport, and screenshots for the README.

Viewports (issue 25): a fire HQ wall screen, a 10-inch tablet in landscape and in portrait."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from telemetry import schemas, topics
from telemetry.broker import EmbeddedBroker, free_port
from telemetry.bus import Message
from telemetry.client import MqttClient
from tests.helpers import unique

VIEWPORTS: dict[str, ViewportSize] = {
    "wall": {"width": 1920, "height": 1080},
    "tablet": {"width": 1280, "height": 800},
    "portrait": {"width": 800, "height": 1280},
}
CHROMIUM = Path(os.environ.get("GOLDENTIME_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = os.environ.get("GOLDENTIME_SCREENSHOTS")
CITY_HALL = (37.5663, 126.9779)  # central Seoul, on the road graph
#: WebGL in headless Chromium without a GPU: SwiftShader.
CHROMIUM_ARGS = ["--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Demo:
    dashboard: str
    mqtt_url: str


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    for line in process.stdout or ():
        lines.put(line)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``goldentime demo`` as a user starts it, on a broker of the test's own; Ctrl-C at the end."""
    var = tmp_path_factory.mktemp("demo")
    with EmbeddedBroker() as broker:
        port = free_port()
        env = {**os.environ, "GOLDENTIME_MQTT_URL": broker.url, "GOLDENTIME_MQTT_PROTOCOL": "3.1.1",
               "GOLDENTIME_VAR_DIR": str(var)}  # fmt: skip
        command = [sys.executable, "-c", "from goldentime.cli import main; raise SystemExit(main())", "demo",
                   "--api-port", str(free_port()), "--dashboard-port", str(port), "--surge", "2"]  # fmt: skip
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(process, lines), daemon=True).start()
        seen: list[str] = []
        while not seen or "running; Ctrl-C stops everything" not in seen[-1]:
            try:
                seen.append(lines.get(timeout=120))
            except queue.Empty:
                process.kill()
                pytest.fail("the demo did not start:\n" + "".join(seen))
        try:
            yield Demo(f"http://127.0.0.1:{port}", broker.url)
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(60)
            while not lines.empty():
                seen.append(lines.get())
            assert code == 0, "".join(seen)
            assert any(line.startswith("live run:") for line in seen), "".join(seen)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # a 10-inch tablet, landscape
    yield page
    page.close()


def screenshot(page: Page, name: str) -> None:
    """Save the page as ``{name}.png`` under ``GOLDENTIME_SCREENSHOTS`` (``make screenshots``), when set."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[[str], Page]]:
    """``open_page(viewport)``: a fresh page at one of :data:`VIEWPORTS`, closed after the test."""
    pages: list[Page] = []

    def opened(viewport: str) -> Page:
        pages.append(browser.new_page(viewport=VIEWPORTS[viewport]))
        return pages[-1]

    yield opened
    for page in pages:
        page.close()


P = TypeVar("P", bound=schemas.Payload)


class UnitWatch:
    """What is said on some of one unit's topics (its advice, its vitals, its decisions ...), as the dispatcher or the
    unit would hear it: ``watch.of(schemas.Advice)`` lists what came, oldest first."""

    def __init__(self, url: str, unit: str, *kinds: topics.Kind) -> None:
        self._lock = threading.Lock()
        self._heard: defaultdict[type[schemas.Payload], list[schemas.Payload]] = defaultdict(list)
        self.client = MqttClient(url, unique("e2e-watch"), on_message=self._on)
        for kind in kinds:
            self.client.subscribe(topics.build(kind, unit), qos=1)
        self.client.start()

    def _on(self, message: Message) -> None:
        if not message.payload:
            return  # a retained topic cleared
        payload = schemas.decode(topics.parse(message.topic).kind, message.payload)
        with self._lock:
            self._heard[type(payload)].append(payload)

    def of(self, kind: type[P]) -> list[P]:
        with self._lock:
            return [p for p in self._heard[kind] if isinstance(p, kind)]

    def stop(self) -> None:
        self.client.stop()
