"""``goldentime calibrate`` as a planner runs it: the fitted values and the table, one line for bad input."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli


def test_calibrate_prints_the_fitted_values_and_the_table_of_targets(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("calibrate", "--scenario", "seoul-central", "--days", "0.5", "--seeds", "1", "--passes", "1")
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    for parameter in ("calls_per_day", "turnout_s", "on_scene_min", "onset_median_min", "phone_call_min"):
        assert f"  {parameter} = " in out
    assert "  onset_median_min = { stemi = " in out
    assert "| target | Korea | source | simulated | before the fit |" in out
    assert "소방청 119구급서비스 통계연보 2023, Seoul" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [(("--seeds", "0"), "'0' must be 1 or more"), (("--scenario", "atlantis"), "atlantis")],
)
def test_bad_input_gets_one_line(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], says: str) -> None:
    code, _, err = run_cli(capsys, "calibrate", *args)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1


def test_measure_only_shows_the_scenario_as_shipped_beside_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("calibrate", "--scenario", "seoul-central", "--days", "0.5", "--seeds", "1", "--measure-only")
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "measured seoul-central as shipped" in out and "  calls_per_day = " not in out
    assert "| target | Korea | source | simulated |" in out and "before the fit" not in out
    assert "| ambulance utilisation (time on calls) | — | no published figure found |" in out
