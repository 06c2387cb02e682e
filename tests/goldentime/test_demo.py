"""``goldentime demo --headless``: the whole system (broker, capacity API, recorder, dispatcher,
live city) in one command, ending with the KPI summary a smoke test reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from telemetry.broker import free_port
from tests.helpers import run_cli


def _number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in:\n{text}"
    return int(found.group(1))


def test_headless_demo_runs_the_whole_system_and_prints_kpis(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOLDENTIME_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("GOLDENTIME_MQTT_URL", raising=False)
    port = str(free_port())
    # 30 real seconds at 600× with three times the calls: about five busy hours of central Seoul.
    code, out, err = run_cli(capsys, "demo", "--headless", "--minutes", "0.5", "--speed", "600", "--surge", "3",
                             "--api-port", port)  # fmt: skip
    assert code == 0, err
    assert "embedded MQTT broker" in out and f"capacity API: http://127.0.0.1:{port}/docs" in out
    calls = _number(r"calls (\d+), patients handed over", out)
    served = _number(r"patients handed over (\d+)", out)
    assert calls >= 3 and served >= 1
    assert _number(r"legs driven on the dispatcher's advice (\d+)", out) >= 1
    assert _number(r"dispatcher: \d+ messages, \d+ plans, (\d+) advice", out) >= 1
    assert _number(r"recorder: (\d+) messages stored", out) > 100
    tokens = tmp_path / "demo" / "centre-tokens.json"
    assert tokens.stat().st_mode & 0o077 == 0  # the demo's centre tokens are readable by this user only


def test_demo_arguments_are_checked_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "demo", "--speed", "0")
    assert code == 2 and err.count("\n") == 1 and "--speed" in err and "greater than 0" in err
