"""KPIs on hand-built runs whose every value is worked out in the comments."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from simulations.kpis import (
    CENTRE_PATTERN,
    METRICS,
    Interval,
    change_pct,
    describe,
    format_value,
    goals,
    long_rows,
    run_metrics,
    summarise,
    t_interval,
    write_csv,
)
from simulations.records import CallRecord, CentreRecord, RunResult


def call(
    call_id: int,
    ktas: int,
    response_min: float,
    transport_min: float,
    definitive_min: float,
    *,
    retransfers: int = 0,
    full: int = 0,
    incapable: int = 0,
    forced: bool = False,
    redirects: int = 0,
) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        t_call_s=60.0 * call_id,
        ktas=ktas,
        needs=(),
        response_s=response_min * 60.0,
        transport_s=transport_min * 60.0,
        definitive_s=definitive_min * 60.0,
        first_hpid="A",
        final_hpid="B" if retransfers else "A",
        retransfers=retransfers,
        full_arrivals=full,
        incapable_arrivals=incapable,
        forced=forced,
        redirects=redirects,
    )


CENTRES = (
    CentreRecord("B0000002", "둘째병원", 3, 20, 5, 3.0, 10, 1),  # 5 / 20 = 25 %
    CentreRecord("A0000001", "첫째병원", 1, 10, 12, 8.0, 30, 4),  # 12 / 10 = 120 %
)
CALLS = (
    call(1, 1, 5, 10, 20),
    call(2, 2, 8, 15, 30, retransfers=1, full=1),
    call(3, 3, 10, 20, 40, retransfers=2, full=1, incapable=1, forced=True),
    call(4, 3, 12, 5, 50, redirects=2),
)


def run(policy: str = "nearest", seed: int = 1, calls: tuple[CallRecord, ...] = CALLS) -> RunResult:
    return RunResult(policy, seed, 1.0, 1.0, calls, CENTRES)


def test_metrics_of_a_hand_computed_run() -> None:
    m = run_metrics(run())
    expected = {
        "calls": 4.0,
        # response 5, 8, 10, 12 min; numpy's linear percentile: p50 = (8 + 10) / 2, p90 at rank 2.7 = 10 + 0.7 * 2
        "response_p50_min": 9.0,
        "response_p90_min": 11.4,
        "response_within_8min_pct": 50.0,  # 5 and 8 (480 s exactly counts)
        # transport sorted 5, 10, 15, 20
        "transport_p50_min": 12.5,
        "transport_p90_min": 18.5,
        "definitive_mean_min_ktas1": 20.0,
        "definitive_mean_min_ktas2": 30.0,
        "definitive_mean_min_ktas3": 45.0,
        "definitive_mean_min_ktas12": 25.0,
        "definitive_p50_min_ktas12": 25.0,
        "definitive_p90_min_ktas12": 29.0,  # 20 + 0.9 * 10
        "retransfer_pct": 50.0,
        "retransfers_per_100_patients": 75.0,  # 3 refusals / 4 patients
        "full_er_arrival_pct": 50.0,
        "full_er_arrivals_per_100_patients": 50.0,
        "incapable_arrival_pct": 25.0,
        "forced_acceptance_pct": 25.0,
        "redirects_per_100_patients": 50.0,  # 2 turns / 4 patients
        "peak_occupancy_pct_max": 120.0,
        "peak_occupancy_pct_A0000001": 120.0,
        "peak_occupancy_pct_B0000002": 25.0,
    }
    for name, value in expected.items():
        assert m[name] == pytest.approx(value), name
    assert math.isnan(m["definitive_mean_min_ktas4"])
    assert math.isnan(m["definitive_mean_min_ktas5"])


def test_metric_order_is_the_glossary_then_centres_by_hpid() -> None:
    names = list(run_metrics(run()))
    fixed = [n for n in METRICS if n != CENTRE_PATTERN]
    assert names == [*fixed, "peak_occupancy_pct_A0000001", "peak_occupancy_pct_B0000002"]
    assert all(isinstance(v, float) for v in run_metrics(run()).values())


def test_every_metric_has_a_glossary_line_with_a_unit() -> None:
    for name in run_metrics(run()):
        assert describe(name).endswith(")"), name
    with pytest.raises(KeyError):
        describe("no_such_metric")


def test_empty_groups_are_nan_not_zero() -> None:
    empty = RunResult("nearest", 1, 1.0, 1.0, (), (CentreRecord("C", "no beds", 3, 0, 2, 1.0, 0, 0),))
    m = run_metrics(empty)
    assert m["calls"] == 0.0
    nan_names = [n for n in m if n not in ("calls",)]
    assert all(math.isnan(m[n]) for n in nan_names), [n for n in nan_names if not math.isnan(m[n])]
    assert list(m)[-1] == "peak_occupancy_pct_C"
    assert math.isnan(run_metrics(RunResult("nearest", 1, 1.0, 1.0, CALLS, ()))["peak_occupancy_pct_max"])


def test_long_rows_follow_policy_appearance_then_seed() -> None:
    results = [run("goldentime", 2), run("nearest", 1), run("goldentime", 1)]
    rows = long_rows(results)
    per_run = len(run_metrics(run()))
    assert len(rows) == 3 * per_run
    assert [(p, s) for p, s, _, _ in rows[::per_run]] == [("goldentime", 1), ("goldentime", 2), ("nearest", 1)]
    assert [m for _, _, m, _ in rows[:per_run]] == list(run_metrics(run()))


def test_repeated_policy_and_seed_is_refused() -> None:
    with pytest.raises(ValueError, match="more than once"):
        long_rows([run(), run()])


def test_csv_is_byte_identical_for_equal_runs_and_differs_otherwise(tmp_path: Path) -> None:
    results = [run("nearest", 1), run("goldentime", 1)]
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    write_csv(first, results)
    write_csv(second, [run("nearest", 1), run("goldentime", 1)])
    write_csv(other, [run("nearest", 1), run("goldentime", 1, CALLS[:3])])
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    data = first.read_bytes()
    assert b"\r" not in data
    lines = data.decode("utf-8").split("\n")
    assert lines[0] == "policy,seed,metric,value"
    assert lines[-1] == ""  # ends with a newline
    assert len(lines) - 2 == len(long_rows(results))
    assert "nearest,1,calls,4.000000" in lines
    assert "nearest,1,definitive_mean_min_ktas4,nan" in lines
    assert "nearest,1,response_p90_min,11.400000" in lines


def test_values_are_formatted_deterministically() -> None:
    assert format_value(1 / 3) == "0.333333"
    assert format_value(-1e-9) == "0.000000"
    assert format_value(math.nan) == "nan"
    assert format_value(math.inf) == "inf"


def test_t_interval_matches_a_hand_computation() -> None:
    # 1, 2, 3, 4: mean 2.5, s = sqrt(5 / 3); t(0.975, 3 df) = 3.1824 from the table; half-width = t * s / 2
    interval = t_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.1824 * math.sqrt(5 / 3) / 2
    assert interval.n == 4
    assert interval.mean == pytest.approx(2.5)
    assert interval.low == pytest.approx(2.5 - half, abs=1e-3)
    assert interval.high == pytest.approx(2.5 + half, abs=1e-3)


def test_t_interval_with_one_value_nans_and_none() -> None:
    assert t_interval([7.0, math.nan]) == Interval(7.0, 7.0, 7.0, 1)
    empty = t_interval([math.nan, math.nan])
    assert empty.n == 0
    assert math.isnan(empty.mean) and math.isnan(empty.low) and math.isnan(empty.high)


def test_summarise_over_seeds() -> None:
    results = [run("nearest", seed, CALLS[:seed]) for seed in (1, 2, 3, 4)] + [run("goldentime", 1)]
    summary = summarise(results)
    calls = summary[("nearest", "calls")]  # 1, 2, 3, 4 calls
    assert calls.n == 4
    assert calls.mean == pytest.approx(2.5)
    assert calls.low == pytest.approx(2.5 - 3.1824 * math.sqrt(5 / 3) / 2, abs=1e-3)
    assert summary[("goldentime", "calls")] == Interval(4.0, 4.0, 4.0, 1)
    ktas3 = summary[("nearest", "definitive_mean_min_ktas3")]  # seeds 1 and 2 have no KTAS 3: left out
    assert ktas3.n == 2
    assert ktas3.mean == pytest.approx((40.0 + 45.0) / 2)
    assert summary[("nearest", "definitive_mean_min_ktas4")].n == 0
    keys = list(summary)
    assert keys[0] == ("nearest", "calls")
    assert keys[len(keys) // 2] == ("goldentime", "calls")


def _summary(metric_means: dict[str, tuple[float, float]]) -> dict[tuple[str, str], Interval]:
    out = {}
    for metric, (base, cand) in metric_means.items():
        out[("nearest", metric)] = Interval(base, base, base, 1)
        out[("goldentime", metric)] = Interval(cand, cand, cand, 1)
    return out


def test_goals_met_and_not_met() -> None:
    summary = _summary(
        {
            "retransfer_pct": (20.0, 1.0),  # -95 %: met
            "full_er_arrival_pct": (10.0, 2.0),  # -80 %: not met
            "definitive_mean_min_ktas12": (50.0, 40.0),  # -20 % exactly: met
            "transport_p50_min": (20.0, 23.0),  # +15 %: not met
        }
    )
    result = {g.metric: g for g in goals(summary)}
    assert list(result) == ["retransfer_pct", "full_er_arrival_pct", "definitive_mean_min_ktas12", "transport_p50_min"]
    assert result["retransfer_pct"].change_pct == pytest.approx(-95.0)
    assert result["retransfer_pct"].met
    assert result["retransfer_pct"].baseline == 20.0 and result["retransfer_pct"].candidate == 1.0
    assert not result["full_er_arrival_pct"].met
    assert result["definitive_mean_min_ktas12"].met
    assert result["transport_p50_min"].change_pct == pytest.approx(15.0)
    assert not result["transport_p50_min"].met
    assert all(g.target for g in result.values())


def test_goals_from_a_baseline_of_zero() -> None:
    assert change_pct(0.0, 0.0) == 0.0
    assert change_pct(0.0, 2.0) == math.inf
    zeros = {"retransfer_pct": (0.0, 0.0), "full_er_arrival_pct": (0.0, 1.0), "transport_p50_min": (0.0, 0.0)}
    stays = {g.metric: g for g in goals(_summary(zeros))}
    assert stays["retransfer_pct"].met
    assert stays["retransfer_pct"].change_pct == 0.0
    assert not stays["full_er_arrival_pct"].met
    assert stays["full_er_arrival_pct"].change_pct == math.inf
    assert stays["transport_p50_min"].met  # "up by no more than 10 %" from 0: staying at 0 is fine


def test_goals_with_nan_or_missing_metric_are_not_met() -> None:
    result = {g.metric: g for g in goals(_summary({"definitive_mean_min_ktas12": (math.nan, 10.0)}))}
    assert math.isnan(result["definitive_mean_min_ktas12"].change_pct)
    assert not result["definitive_mean_min_ktas12"].met
    assert not result["transport_p50_min"].met  # not in the summary at all


def test_goals_need_both_policies() -> None:
    summary = summarise([run("nearest", 1), run("capable", 1)])
    assert goals(summary) == []
    assert len(goals(summary, candidate="capable")) == 4
