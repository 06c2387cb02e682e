"""``goldentime simulate`` as a planner runs it: files out, one-line errors for bad input."""

from __future__ import annotations

import csv
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from goldentime.settings import Settings
from goldentime.simulate import ALL_POLICIES, WhatIf, WhatIfError, run_what_if
from tests.helpers import run_cli


def test_simulate_writes_report_plots_and_an_identical_csv_for_the_same_seed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ("simulate", "--scenario", "seoul-central", "--days", "0.5", "--seeds", "2", "--quiet")
    code, out, err = run_cli(capsys, *args, "--out", str(tmp_path / "a"))
    assert code == 0, err
    assert "wrote" in out
    report = (tmp_path / "a" / "report.md").read_text()
    assert all(policy in report for policy in ("phone-around", "egen-greedy", "capable", "nearest", "goldentime"))
    assert "Paired comparisons" in report
    assert all((tmp_path / "a" / png).is_file() for png in ("kpis_headline.png", "response_cdf.png"))
    rows = list(csv.DictReader((tmp_path / "a" / "kpis.csv").open()))
    assert {r["policy"] for r in rows} == set(ALL_POLICIES) and "goldentime-handshake" in ALL_POLICIES
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


# --- trace replay: a fire HQ's call log instead of simulated calls (--calls) -----------------------------------


def default_places() -> tuple[str, list[tuple[float, float]]]:
    """The default scenario and a few places in it: just beside its simulated centres."""
    from loaders.scenarios import default_scenario, load_scenario

    name = default_scenario(Settings().data_dir)
    hpids = set(simulated_centres(name))
    centres = [c for c in load_scenario(name, Settings().data_dir).centres if c.hpid in hpids]
    return name, [(round(c.lat + 0.002, 4), round(c.lon - 0.002, 4)) for c in centres]


def write_log(path: Path, rows: list[str]) -> Path:
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(["time,lat,lon,category,ktas,memo", *rows, ""]).encode("utf-8"))
    return path


def log_rows(places: list[tuple[float, float]], times: list[str]) -> list[str]:
    categories = ["stroke", "medical", "stemi", "", "major_trauma", "cardiac_arrest"]
    ktas = ["2", "4", "", "3", "2", "1"]
    return [
        f"{t},{places[i % len(places)][0]},{places[i % len(places)][1]},{categories[i % 6]},{ktas[i % 6]},"
        for i, t in enumerate(times)
    ]


def kpi(kpis: Path, policy: str, metric: str) -> list[float]:
    return [float(r["value"]) for r in csv.DictReader(kpis.open()) if (r["policy"], r["metric"]) == (policy, metric)]


def test_a_call_log_is_replayed_every_call_served_and_its_command_writes_the_same_csv(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name, places = default_places()
    times = ["2025-03-01T13:40:00+09:00", "2025-03-01T08:15:00+09:00", "2025-03-01T02:00:00Z", "2025-03-01T22:10+09:00"]
    times += ["2025-03-01T00:05:00+09:00", "2025-03-01T17:30:00+09:00"]
    log = write_log(tmp_path / "calls.csv", log_rows(places, times))
    args = ("simulate", "--scenario", name, "--calls", str(log), "--days", "1", "--seeds", "1", "--policy", "nearest")
    code, out, err = run_cli(capsys, *args, "--out", str(tmp_path / "a"), "--quiet")
    assert code == 0, err
    assert "wrote" in out and (tmp_path / "a" / "kpis.csv").is_file()
    report = (tmp_path / "a" / "report.md").read_text()
    assert kpi(tmp_path / "a" / "kpis.csv", "nearest", "calls") == [len(times)]
    command = next(line for line in report.splitlines() if line.startswith("goldentime simulate "))
    assert f"--calls={log}" in command and "--days=1" in command
    assert f"replayed from the call log calls.csv: {len(times)} calls from 2025-03-01" in report
    argv = shlex.split(command.replace(f"--out={tmp_path / 'a'}", f"--out={tmp_path / 'b'}"))
    assert run_cli(capsys, *argv[1:], "--quiet")[0] == 0
    assert (tmp_path / "a" / "kpis.csv").read_bytes() == (tmp_path / "b" / "kpis.csv").read_bytes()


def test_a_log_runs_for_its_own_days_unless_days_cut_it_short_and_the_report_says_so(tmp_path: Path) -> None:
    name, places = default_places()
    times = ["2025-03-01T09:00:00+09:00", "2025-03-01T12:00:00+09:00", "2025-03-01T23:59:00+09:00"]
    times += ["2025-03-02T00:00:00+09:00", "2025-03-02T10:00:00+09:00"]
    rows = log_rows(places, times)
    rows[4] = rows[4].replace(",major_trauma,2,", ",paediatric,2,")  # the catalogue has no child: a fallback
    log = write_log(tmp_path / "calls.csv", rows)
    what = WhatIf(name, seeds=1, policies=("nearest",), out=tmp_path / "all", calls=log)
    whole = run_what_if(Settings(), what)
    assert "--days=2" in whole.command
    assert kpi(whole.kpis, "nearest", "calls") == [5]
    assert "1 of them had no catalogue patient of both their KTAS and their category" in whole.report.read_text()
    cut = run_what_if(Settings(), replace(what, days=1.0, out=tmp_path / "cut"))
    assert kpi(cut.kpis, "nearest", "calls") == [3]
    notes = cut.report.read_text()
    assert "2 later calls of the log are left out (--days)" in notes and "no catalogue patient" not in notes


def test_a_bad_call_log_gets_one_line_naming_its_row_and_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name, places = default_places()
    rows = log_rows(places, ["2025-03-01T09:00:00+09:00", "2025-03-01T10:00:00+09:00"])
    rows[1] = rows[1].replace(",medical,4,", ",medical,7,")
    log = write_log(tmp_path / "calls.csv", rows)
    code, _, err = run_cli(capsys, "simulate", "--scenario", name, "--calls", str(log), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "row 3, column 'ktas'" in err and "'7' is not a KTAS level" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"surge": 2.0}, "a call log \\(--calls\\) is replayed as it is"),
        ({"days": 0.25}, "no call of .* is within the first 0.25 days"),
        ({"calls": Path("no-such-log.csv")}, "call log no-such-log.csv does not exist"),
    ],
)
def test_run_what_if_refuses_a_call_log_it_cannot_replay_before_any_run(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    name, places = default_places()
    log = write_log(tmp_path / "calls.csv", log_rows(places, ["2025-03-01T09:00:00+09:00"]))
    calls: list[int] = []
    what = replace(WhatIf(name, seeds=1, policies=("nearest",), out=tmp_path / "out", calls=log), **change)
    with pytest.raises(WhatIfError, match=message):
        run_what_if(Settings(), what, lambda done, total, label: calls.append(done))
    assert calls == []
    assert not (tmp_path / "out").exists()
