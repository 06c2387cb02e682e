"""``goldentime simulate`` as a planner runs it: files out, one-line errors for bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

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
