"""The way a newcomer meets GoldenTime: a clone in an empty folder, no environment variables, ``make demo``.

The project's tracked files (and the new ones not yet committed) are copied into an empty
folder with nothing beside it; ``make demo`` there creates its own ``.venv`` from the package
registry (as on a fresh machine: about a minute) and runs the headless demo on the data bundle
the project ships, with every ``GOLDENTIME_*`` variable removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from telemetry.broker import free_port

ROOT = Path(__file__).resolve().parents[2]


def _clone(into: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode()  # fmt: skip
    clone = into / "goldentime"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the working tree but not yet in git
            target = clone / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return clone


def test_a_clone_with_no_data_folder_beside_it_runs_make_demo(tmp_path: Path) -> None:
    clone = _clone(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["goldentime"]  # nothing beside it: no ../shared/data
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOLDENTIME_", "VIRTUAL_ENV", "PYTHON"))}
    env["PYTHON"] = sys.executable  # the interpreter this suite runs on (any Python 3.11+ would do)
    args = f"--headless --minutes 0.3 --speed 600 --api-port {free_port()} --dashboard-port {free_port()}"
    demo = subprocess.run(
        ["make", "demo", f"DEMO_ARGS={args}"], cwd=clone, env=env, capture_output=True, text=True, timeout=900
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "Traceback" not in demo.stderr
    assert "patients handed over" in demo.stdout and "dispatcher:" in demo.stdout

    check = subprocess.run(
        [str(clone / ".venv" / "bin" / "goldentime"), "data", "check"], cwd=clone, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"Data directory: {clone / 'data'}" in check.stdout
    assert "Default scenario seoul-central: can run" in check.stdout
    assert "complete, exact road ETAs (default)" in check.stdout
