"""``goldentime capacity-api`` and ``goldentime hospitals ...`` as a user runs them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from goldentime.cli import main
from goldentime.settings import default_data_dir
from telemetry.broker import free_port
from tests.helpers import run_cli

SAMPLE = default_data_dir() / "hospitals" / "nemc_samples" / "getEmrrmRltmUsefulSckbdInfoInqire_A1100015_20240926.xml"


@pytest.fixture(autouse=True)
def local_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GOLDENTIME_VAR_DIR", str(tmp_path / "var"))
    for name in ("GOLDENTIME_MQTT_URL", "GOLDENTIME_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


run = run_cli


def test_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "hospitals", "token", "create", "A1500002", "--label", "JNUH desk")
    assert code == 0 and out.strip().startswith("gt_") and "shown once" in err
    code, out, _ = run(capsys, "hospitals", "token", "create", "--control")
    assert code == 0 and out.strip().startswith("gt_")
    code, _, err = run(capsys, "hospitals", "token", "create", "A9999999")
    assert code == 2 and "A9999999" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "hospitals", "token", "create", "A1500002", "--control")
    assert code == 2 and "either" in err


def test_import_egen_from_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "hospitals", "import-egen", str(SAMPLE))
    assert code == 0 and "beds: updated 1 centres" in out
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<html>502 Bad Gateway</html>")
    code, _, err = run(capsys, "hospitals", "import-egen", str(bad))
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "hospitals", "import-egen", str(tmp_path / "missing.xml"))
    assert code == 2 and "cannot read" in err


def test_import_egen_says_which_items_were_refused_and_what_was_kept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sample = SAMPLE.read_text(encoding="utf-8")
    assert run(capsys, "hospitals", "import-egen", str(SAMPLE))[0] == 0  # observed 2024-09-26
    future, older = tmp_path / "future.xml", tmp_path / "older.xml"
    future.write_text(sample.replace("<hvidate>20240926204223<", "<hvidate>20990101000000<"), encoding="utf-8")
    older.write_text(sample.replace("<hvidate>20240926204223<", "<hvidate>20240101000000<"), encoding="utf-8")
    code, out, _ = run(capsys, "hospitals", "import-egen", str(future))
    assert code == 0 and "updated 0 centres" in out and "refused A1100015: hvidate" in out and "future" in out
    code, out, _ = run(capsys, "hospitals", "import-egen", str(older))
    assert code == 0 and "kept A1100015: beds.er_general" in out and "observed later" in out


def test_capacity_api_serves_and_stops(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "hospitals", "token", "create", "--control")
    token = out.strip()
    port = free_port()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(main(["capacity-api", "--port", str(port), "--seconds", "4"])), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    health = None
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    assert health is not None and health.status_code == 200 and health.json()["hospitals"] >= 24
    hospitals = httpx.get(f"http://127.0.0.1:{port}/hospitals/A1500002", headers={"Authorization": f"Bearer {token}"})
    assert hospitals.status_code == 200 and hospitals.json()["name"] == "전남대학교병원"
    thread.join(20)
    assert result == [0]
