"""A page opened straight from its address on a dashboard that has just started (a crew tablet's bookmarked
``/crew?unit=…`` after a restart): Streamlit answers a fresh server's first request for a page other than the first
with the page under its own English "Page not found" dialog (streamlit/streamlit#9992), which leaves the page inert.
The dashboard closes it; the page is usable at once."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from telemetry.broker import free_port
from tests.helpers import wait_until

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def fresh_dashboard(tmp_path: Path) -> Iterator[str]:
    """The dashboard alone, just started, with no broker (its pages say so, in Korean)."""
    port = free_port()
    env = {**os.environ, "GOLDENTIME_MQTT_URL": "", "GOLDENTIME_VAR_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
               "--server.port", str(port), "--browser.gatherUsageStats", "false"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _answers(url), timeout_s=60, every_s=0.5), "the dashboard did not start"
        yield url
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.parametrize(
    ("path", "shows"), [("crew?unit=U01-0", "MQTT 브로커가 설정되지 않았습니다"), ("what-if", "시나리오")]
)
def test_a_page_opened_first_on_a_fresh_server_is_usable(
    fresh_dashboard: str, browser: Browser, path: str, shows: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{fresh_dashboard}/{path}")
        page.get_by_text(shows).first.wait_for(timeout=60_000)  # the page itself ran, not the first page
        dialog = page.get_by_role("dialog").filter(has_text="Page not found")
        assert wait_until(lambda: dialog.count() == 0, timeout_s=10, every_s=0.2), "the dialog stays over the page"
        page.wait_for_timeout(1500)
        assert dialog.count() == 0  # and it does not come back
    finally:
        page.close()
