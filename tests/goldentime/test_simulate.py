"""``goldentime simulate`` as a planner runs it: files out, one-line errors for bad input."""

from __future__ import annotations

import csv
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from goldentime.settings import Settings
from goldentime.simulate import WhatIf, WhatIfError, run_what_if
from tests.helpers import run_cli


def test_simulate_writes_report_plots_and_an_identical_csv_for_the_same_seed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ("simulate", "--scenario", "seoul-central", "--days", "0.5", "--seeds", "2", "--quiet")
    code, out, err = run_cli(capsys, *args, "--out", str(tmp_path / "a"))
    assert code == 0, err
    assert "wrote" in out
    report = (tmp_path / "a" / "report.md").read_text()
    assert "goldentime" in report and "nearest" in report and "capable" in report
    assert all((tmp_path / "a" / png).is_file() for png in ("kpis_headline.png", "response_cdf.png"))
    rows = list(csv.DictReader((tmp_path / "a" / "kpis.csv").open()))
    assert {r["policy"] for r in rows} == {"nearest", "capable", "goldentime"}
    assert {r["seed"] for r in rows} == {"1", "2"}
    assert run_cli(capsys, *args, "--out", str(tmp_path / "b"))[0] == 0
    assert (tmp_path / "a" / "kpis.csv").read_bytes() == (tmp_path / "b" / "kpis.csv").read_bytes()


def test_a_closed_centre_gets_no_patient(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ("simulate", "--scenario", "seoul-central", "--days", "0.5", "--seeds", "1", "--quiet")
    assert run_cli(capsys, *args, "--close", "A1100017", "--out", str(tmp_path))[0] == 0
    rows = {(r["policy"], r["metric"]): float(r["value"]) for r in csv.DictReader((tmp_path / "kpis.csv").open())}
    assert rows[("nearest", "peak_occupancy_pct_A1100017")] >= 0  # still reported, walk-ins only
    assert "closed: A1100017" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--policy", "fastest"), "unknown policy 'fastest'"),
        (("--policy", "nearest,nearest"), "named twice"),
        (("--days", "0"), "must be greater than 0"),
        (("--seeds", "0"), "must be 1 or more"),
        (("--close", "A0000000"), "A0000000 is not a centre of seoul-central"),
        (("--scenario", "atlantis"), "unknown scenario 'atlantis'"),
    ],
)
def test_bad_arguments_get_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, _, err = run_cli(capsys, "simulate", "--scenario", "seoul-central", *args, "--out", str(tmp_path))
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err


# --- run_what_if, the function behind the command and the dashboard's what-if page ----------------------------


def simulated_centres(scenario: str) -> list[str]:
    """The hpids a what-if of ``scenario`` can close: its centres but those its simulation excludes."""
    from loaders.scenarios import load_scenario, scenario_file
    from simulations.config import load_sim_config

    excluded = load_sim_config(scenario_file(scenario)).exclude
    return [c.hpid for c in load_scenario(scenario, Settings().data_dir).centres if c.hpid not in excluded]


def test_run_what_if_reports_progress_run_by_run_and_its_command_writes_the_same_csv(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    calls: list[tuple[int, int, str]] = []
    what = WhatIf("seoul-central", days=0.25, seeds=2, policies=("nearest", "goldentime"), out=tmp_path / "a")
    outcome = run_what_if(Settings(), what, lambda done, total, label: calls.append((done, total, label)))
    labels = ["nearest seed 1", "goldentime seed 1", "nearest seed 2", "goldentime seed 2", "done"]
    assert calls == [(done, 4, label) for done, label in enumerate(labels)]
    assert (outcome.runs, outcome.kpis, outcome.report.parent) == (4, tmp_path / "a" / "kpis.csv", tmp_path / "a")
    assert outcome.command in outcome.report.read_text()
    argv = shlex.split(outcome.command.replace(f"--out={tmp_path / 'a'}", f"--out={tmp_path / 'b'}"))
    assert run_cli(capsys, *argv[1:], "--quiet")[0] == 0
    assert outcome.kpis.read_bytes() == (tmp_path / "b" / "kpis.csv").read_bytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"policies": ()}, "give at least one policy"),
        ({"policies": ("nearest", "nearest")}, "a policy is named twice"),
        ({"policies": ("fastest",)}, "unknown policy 'fastest'"),
        ({"days": 0.0}, "must be greater than 0"),
        ({"surge": -1.0}, "must be greater than 0"),
        ({"seeds": 0}, "must be 1 or more"),
        ({"scenario": "atlantis"}, "unknown scenario 'atlantis'"),
        ({"close": ("A0000000",)}, "A0000000 is not a centre of seoul-central"),
        ({"close": tuple(simulated_centres("seoul-central"))}, "every centre of seoul-central would be closed"),
    ],
)
def test_run_what_if_refuses_a_bad_question_before_any_run(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    calls: list[int] = []
    what = replace(WhatIf("seoul-central", days=0.25, seeds=1, out=tmp_path / "out"), **change)
    with pytest.raises(WhatIfError, match=message):
        run_what_if(Settings(), what, lambda done, total, label: calls.append(done))
    assert calls == []
    assert not (tmp_path / "out").exists()
