"""The calibration's fitting (simulations/calibration.py) on a model whose answers are known, and its targets."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import pytest

from simulations.calibration import Target, fit, parameter_of, table, targets, with_parameter
from simulations.config import SimConfig
from simulations.records import CallRecord, CentreRecord, RunResult


def _result(config: SimConfig) -> RunResult:
    """A stand-in run: the model's measures read the config the run was asked for."""
    return RunResult("model", 1, 1.0, 1.0, (), (), units=1)


def _target(key: str, parameter: str, value: float, f: object, *, rising: bool = True) -> Target:
    return Target(key, key, value, "", "test", f, parameter, 0.0, 100.0, rising)  # type: ignore[arg-type]


def test_fit_bisects_each_parameter_to_its_target_through_the_interaction() -> None:
    seen: list[SimConfig] = []

    def run(config: SimConfig) -> Sequence[RunResult]:
        seen.append(config)
        return [_result(config)]

    # measure a = 2 * turnout_s/60 + on_scene_min (rising); measure b = 100 - on_scene_min (falling)
    a = _target("a", "turnout_s", 30.0, lambda _: 2 * seen[-1].turnout_s / 60 + seen[-1].on_scene_min)
    b = _target("b", "on_scene_min", 80.0, lambda _: 100 - seen[-1].on_scene_min, rising=False)
    a, b = dataclasses.replace(a, high=600.0), dataclasses.replace(b, high=50.0)
    result = fit(SimConfig(), run, [a, b], passes=4, steps=20)
    assert result.parameters["on_scene_min"] == pytest.approx(20.0, abs=0.01)
    assert result.parameters["turnout_s"] == pytest.approx(300.0, abs=0.5)  # (30 - 20) / 2 minutes
    assert result.measured["a"] == pytest.approx(30.0, abs=0.05) and result.measured["b"] == pytest.approx(80.0)
    assert result.evaluations == 4 * 2 * 20 + 1


def test_the_onset_scale_multiplies_every_onset_median() -> None:
    base = SimConfig()
    scaled = with_parameter(base, "onset_scale", 2.5)
    assert scaled.onset_median_min == {k: 2.5 * v for k, v in base.onset_median_min.items()}
    assert parameter_of(scaled, base, "onset_scale") == pytest.approx(2.5)
    assert with_parameter(base, "turnout_s", 90.0).turnout_s == 90.0


def test_targets_measure_the_runs_and_name_their_sources() -> None:
    call = CallRecord(0, 0.0, 2, ("major_trauma",), 300.0, 600.0, 1800.0, "A", "A", 0, 0, 0, accepted_s=1500.0)
    runs = [RunResult("phone-around", 1, 2.0, 1.0, (call, dataclasses.replace(call, response_s=500.0)), (), units=1)]
    by_key = {t.key: t for t in targets("seoul")}
    assert by_key["response_within_7min_pct"].measure(runs) == pytest.approx(50.0)
    assert by_key["trauma_to_hospital_median_min"].measure(runs) == pytest.approx(25.0)
    assert by_key["transports_per_unit_day"].measure(runs) == pytest.approx(1.0)
    assert by_key["response_within_7min_pct"].value == 54.9 and "Seoul" in by_key["response_within_7min_pct"].source
    gwangju = {t.key: t for t in targets("gwangju")}
    assert gwangju["golden_time_share"].value == 43.0 and gwangju["trauma_to_hospital_median_min"].value == 27.0
    assert all(t.source for t in targets("national"))
    assert math.isnan(by_key["trauma_to_hospital_median_min"].measure([]))


def test_the_table_shows_target_source_and_simulated_value() -> None:
    goals = targets("seoul")[:2]
    text = table(goals, {t.key: 1.0 for t in goals}, {t.key: 2.0 for t in goals})
    assert text.splitlines()[0].endswith("before the fit |")
    assert "소방청 119구급서비스 통계연보 2023, Seoul" in text and "| 1 % | 2 % |" in text


def test_reported_targets_are_measured_never_fitted_and_shown_without_a_korean_figure() -> None:
    call = CallRecord(0, 0.0, 3, (), 300.0, 600.0, 1800.0, "A", "A", 0, 0, 0, accepted_s=1500.0)  # 10 min at scene
    centres = (CentreRecord("A", "a", 1, 10, 8, 5.0, 3, 0), CentreRecord("B", "b", 3, 10, 8, 9.0, 3, 0))
    runs = [RunResult("phone-around", 1, 1.0, 1.0, (call,), centres, units=2, busy_s=43_200.0)]
    reported = {t.key: t for t in targets("seoul") if t.parameter is None and t.value is None}
    assert set(reported) == {"scene_time_p50_min", "unit_utilisation_pct", "regional_ed_occupancy_pct"}
    assert reported["scene_time_p50_min"].measure(runs) == pytest.approx(10.0)
    assert reported["unit_utilisation_pct"].measure(runs) == pytest.approx(25.0)  # 12 h of 2 units × 24 h
    assert reported["regional_ed_occupancy_pct"].measure(runs) == pytest.approx(50.0)  # level 1 only
    row = table(list(reported.values())[:1], {"scene_time_p50_min": 19.8})
    assert "| time at the scene (arrival to departure), median | — |" in row and "| 19.8 min |" in row
    seen: list[SimConfig] = []
    fitted = fit(SimConfig(), lambda c: seen.append(c) or [], list(reported.values()))  # type: ignore[func-returns-value]
    assert fitted.parameters == {} and len(seen) == 1  # measured once, nothing bisected
