"""KPIs, paired comparisons and goals on hand-built runs, every value worked out in the comments or in the test
(Student's t quantiles from scipy)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats

from simulations.kpis import (
    CENTRE_PATTERN,
    METRICS,
    Interval,
    RunTable,
    describe,
    format_value,
    goals,
    goals_from,
    has_verdict,
    higher_is_better,
    long_rows,
    paired,
    paired_from,
    run_metrics,
    summarise,
    t_interval,
    verdict,
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


def _student_t(differences: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % interval of ``differences`` worked out here, independently of :func:`t_interval`."""
    n = len(differences)
    mean = sum(differences) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def critical_run(policy: str, seed: int, definitive_min: float, response_min: float = 6.0) -> RunResult:
    """One KTAS 1 patient: ``definitive_mean_min_ktas12`` is ``definitive_min``, every response metric is its
    one response time."""
    return RunResult(policy, seed, 1.0, 1.0, (call(1, 1, response_min, 10, definitive_min),), CENTRES)


def test_paired_difference_matches_a_hand_computation() -> None:
    # seeds 1-3: nearest 30, 40, 35 min; goldentime 26, 37, 30 -> differences -4, -3, -5: mean -4, s = 1
    base, cand = [30.0, 40.0, 35.0], [26.0, 37.0, 30.0]
    results = [critical_run("nearest", s, v) for s, v in zip((1, 2, 3), base, strict=True)]
    results += [critical_run("goldentime", s, v) for s, v in zip((1, 2, 3), cand, strict=True)]
    comparison = paired(results, "nearest", "goldentime")["definitive_mean_min_ktas12"]
    mean, low, high = _student_t([-4.0, -3.0, -5.0])
    assert mean == pytest.approx(-4.0)
    assert high == pytest.approx(-4.0 + 4.302653 / math.sqrt(3), abs=1e-5)  # t(0.975, 2 df) = 4.3027
    assert comparison.difference.n == 3
    assert comparison.difference.mean == pytest.approx(mean)
    assert comparison.difference.low == pytest.approx(low)
    assert comparison.difference.high == pytest.approx(high)
    assert comparison.baseline.mean == pytest.approx(35.0) and comparison.candidate.mean == pytest.approx(31.0)
    assert comparison.baseline == t_interval(base)
    assert comparison.verdict == "win"  # lower is better and the interval is below 0
    assert paired(results, "goldentime", "nearest")["definitive_mean_min_ktas12"].verdict == "loss"
    assert paired(results, "nearest", "nearest")["definitive_mean_min_ktas12"].verdict == "tie"  # 0, 0, 0


def test_correlated_seeds_win_on_the_paired_interval_though_unpaired_intervals_overlap() -> None:
    # busy, quiet and average days move both policies alike; goldentime is 2-3 min faster on every one of them
    base, cand = [20.0, 40.0, 60.0], [18.0, 38.0, 57.0]
    results = [critical_run("nearest", s, v) for s, v in zip((1, 2, 3), base, strict=True)]
    results += [critical_run("goldentime", s, v) for s, v in zip((1, 2, 3), cand, strict=True)]
    summary = summarise(results)
    unpaired_base = summary[("nearest", "definitive_mean_min_ktas12")]
    unpaired_cand = summary[("goldentime", "definitive_mean_min_ktas12")]
    assert unpaired_cand.low < unpaired_base.low < unpaired_cand.high  # the two intervals overlap widely
    comparison = paired(results, "nearest", "goldentime")["definitive_mean_min_ktas12"]
    _, low, high = _student_t([-2.0, -2.0, -3.0])
    assert comparison.difference.low == pytest.approx(low)
    assert comparison.difference.high == pytest.approx(high)
    assert high < 0
    assert comparison.verdict == "win"


def test_direction_higher_is_better_for_shares_in_time() -> None:
    # nearest: responses 5 and 10 min -> 50 % within 8 min, p90 9.5; goldentime: 5 and 6 -> 100 %, p90 5.9
    def two_calls(policy: str, seed: int, second_min: float) -> RunResult:
        return RunResult(policy, seed, 1.0, 1.0, (call(1, 3, 5, 10, 30), call(2, 3, second_min, 10, 30)), CENTRES)

    results = [two_calls("nearest", s, 10.0) for s in (1, 2)] + [two_calls("goldentime", s, 6.0) for s in (1, 2)]
    forward = paired(results, "nearest", "goldentime")
    assert forward["response_within_8min_pct"].difference.mean == pytest.approx(50.0)
    assert forward["response_within_8min_pct"].verdict == "win"  # higher and higher is better
    assert forward["response_p90_min"].difference.high < 0
    assert forward["response_p90_min"].verdict == "win"  # lower and lower is better
    backward = paired(results, "goldentime", "nearest")
    assert backward["response_within_8min_pct"].verdict == "loss"
    assert backward["response_p90_min"].verdict == "loss"
    for name in ("golden_time_share", "response_within_8min_pct", "coverage_8min_pct", "stroke_golden_time_share"):
        assert higher_is_better(name), name
    for name in ("response_p90_min", "definitive_care_min_ktas12", "retransfer_pct", "peak_occupancy_pct_max"):
        assert not higher_is_better(name), name


def test_verdict_rules() -> None:
    assert verdict("golden_time_share", Interval(0.05, 0.01, 0.09, 5)) == "win"
    assert verdict("golden_time_share", Interval(-0.05, -0.09, -0.01, 5)) == "loss"
    assert verdict("golden_time_share", Interval(0.05, 0.0, 0.1, 5)) == "tie"  # touching 0 is not excluding it
    assert verdict("retransfer_pct", Interval(-3.0, -5.0, -1.0, 5)) == "win"
    assert verdict("retransfer_pct", Interval(-3.0, -5.0, 1.0, 5)) == "tie"
    assert verdict("retransfer_pct", Interval(-3.0, -3.0, -3.0, 1)) == "n/a"  # one paired seed
    assert verdict("retransfer_pct", Interval(math.nan, math.nan, math.nan, 0)) == "n/a"
    assert verdict("peak_occupancy_pct_A0000001", Interval(-3.0, -5.0, -1.0, 5)) == "n/a"  # descriptive
    assert verdict("calls", Interval(3.0, 1.0, 5.0, 5)) == "n/a"
    assert has_verdict("peak_occupancy_pct_max") and not has_verdict("peak_occupancy_pct_B0000002")


def test_seeds_of_only_one_policy_and_nan_seeds_are_left_out_of_the_pairing() -> None:
    # nearest ran seeds 1-4, goldentime seeds 2-5: pairs are seeds 2-4 only
    results = [critical_run("nearest", s, 10.0 * s) for s in (1, 2, 3, 4)]
    results += [critical_run("goldentime", s, 10.0 * s - s) for s in (2, 3, 4, 5)]
    comparison = paired(results, "nearest", "goldentime")["definitive_mean_min_ktas12"]
    assert comparison.difference.n == 3
    assert comparison.baseline.mean == pytest.approx(30.0)  # (20 + 30 + 40) / 3, not with seed 1
    assert comparison.candidate.mean == pytest.approx(27.0)  # (18 + 27 + 36) / 3, not with seed 5
    mean, low, high = _student_t([-2.0, -3.0, -4.0])
    assert comparison.difference.mean == pytest.approx(mean)
    assert comparison.difference.low == pytest.approx(low)
    assert comparison.difference.high == pytest.approx(high)
    # a NaN in either policy's run leaves that seed out for that metric only
    table: RunTable = {
        ("a", 1): {"m": 1.0, "k": 1.0},
        ("a", 2): {"m": math.nan, "k": 2.0},
        ("a", 3): {"m": 3.0, "k": 3.0},
        ("b", 1): {"m": 2.0, "k": 1.0},
        ("b", 2): {"m": 100.0, "k": 2.0},
        ("b", 3): {"m": 5.0, "k": 3.0},
        ("c", 9): {"m": 1.0, "k": 1.0},
    }
    m = paired_from(table, "a", "b")["m"]
    assert m.difference.n == 2 and m.difference.mean == pytest.approx(1.5)
    assert m.candidate.mean == pytest.approx(3.5)  # seed 2's 100 is left out with the baseline's NaN
    assert paired_from(table, "a", "b")["k"].difference == Interval(0.0, 0.0, 0.0, 3)
    assert paired_from(table, "a", "c") == {}  # no seed in common
    assert paired_from(table, "a", "nobody") == {}


def test_per_centre_metrics_are_paired_without_a_verdict() -> None:
    fuller = (CentreRecord("A0000001", "첫째병원", 1, 10, 15, 8.0, 30, 4),)  # 150 % against 120 %
    results = [run("nearest", s) for s in (1, 2)]
    results += [RunResult("goldentime", s, 1.0, 1.0, CALLS, fuller) for s in (1, 2)]
    comparisons = paired(results, "nearest", "goldentime")
    centre = comparisons["peak_occupancy_pct_A0000001"]
    assert centre.difference == Interval(30.0, 30.0, 30.0, 2)
    assert centre.verdict == "n/a"
    assert "peak_occupancy_pct_B0000002" not in comparisons  # goldentime's runs do not have that centre
    assert comparisons["peak_occupancy_pct_max"].verdict == "loss"  # 150 against 120: lower is better
    assert comparisons["calls"].verdict == "n/a"
    assert next(iter(comparisons)) == "calls"  # glossary order


def test_pairing_refuses_a_repeated_policy_and_seed() -> None:
    with pytest.raises(ValueError, match="more than once"):
        paired([run("nearest", 1), run("nearest", 1), run("goldentime", 1)], "nearest", "goldentime")


GOAL_METRICS = ("golden_time_share", "definitive_care_min_ktas12", "response_p90_min")


def _goal_table(rows: dict[str, dict[str, list[float]]]) -> RunTable:
    """policy -> metric -> values of seeds 1, 2, 3 ..."""
    table: RunTable = {}
    for policy, metrics in rows.items():
        for metric, values in metrics.items():
            for seed, value in enumerate(values, start=1):
                table.setdefault((policy, seed), {})[metric] = value
    return table


BASE = {"golden_time_share": [0.50, 0.60, 0.70], "definitive_care_min_ktas12": [40.0, 50.0, 45.0]}
BASE_P90 = {"response_p90_min": [19.0, 20.0, 21.0]}  # mean 20: +5 % is +1.0 min


def test_goals_win_tie_and_loss_against_each_baseline() -> None:
    table = _goal_table(
        {
            "phone-around": {**BASE, **BASE_P90},  # listed first: the goals still put egen-greedy first
            "egen-greedy": {
                "golden_time_share": [0.60, 0.72, 0.80],  # goldentime +0.02, -0.05, +0.06: tie
                "definitive_care_min_ktas12": [30.0, 40.0, 36.0],  # goldentime +5, +3, +4: loss
                **BASE_P90,
            },
            "goldentime": {
                "golden_time_share": [0.62, 0.67, 0.86],  # +0.12, +0.07, +0.16 against phone-around: win
                "definitive_care_min_ktas12": [35.0, 43.0, 40.0],  # -5, -7, -5 against phone-around: win
                "response_p90_min": [19.0, 20.8, 21.0],  # 0, +0.8, 0: upper bound 1.41 > 1.0, the mean +0.27
            },
        }
    )
    result = goals_from(table)
    assert [(g.baseline_policy, g.metric) for g in result] == [
        (b, m) for b in ("egen-greedy", "phone-around") for m in GOAL_METRICS
    ]
    by = {(g.baseline_policy, g.metric): g for g in result}
    share = by[("phone-around", "golden_time_share")]
    assert share.met and share.verdict == "win" and share.reason == ""
    _, low, high = _student_t([0.12, 0.07, 0.16])
    assert share.difference.low == pytest.approx(low)
    assert share.difference.high == pytest.approx(high)
    assert share.baseline == pytest.approx(0.6) and share.candidate == pytest.approx(0.7166667)
    assert by[("phone-around", "definitive_care_min_ktas12")].met
    tie = by[("egen-greedy", "golden_time_share")]
    assert not tie.met and tie.verdict == "tie" and tie.reason == "tie: interval includes 0"
    loss = by[("egen-greedy", "definitive_care_min_ktas12")]
    assert not loss.met and loss.verdict == "loss" and loss.reason == "loss"
    p90 = by[("phone-around", "response_p90_min")]
    assert p90.difference.mean == pytest.approx(0.8 / 3)  # 1.3 % worse on the means ...
    assert _student_t([0.0, 0.8, 0.0])[2] > 1.0  # ... but the interval reaches past +5 % of 20
    assert not p90.met and p90.verdict == "tie"
    assert p90.reason.startswith("up to +") and p90.reason.endswith("worse, limit +5 %")
    assert all(g.target for g in result)


def test_response_goal_at_the_five_percent_boundary() -> None:
    def judged(candidate_p90: list[float]) -> tuple[bool, str, str]:
        table = _goal_table({"egen-greedy": BASE_P90, "goldentime": {"response_p90_min": candidate_p90}})
        (goal,) = [g for g in goals_from(table) if g.metric == "response_p90_min"]
        return goal.met, goal.verdict, goal.reason

    assert judged([20.0, 21.0, 22.0]) == (True, "loss", "")  # +1.0 every seed: exactly +5 % of 20, met
    assert judged([20.0, 21.0, 22.00001]) == (False, "loss", "up to +5.0 % worse, limit +5 %")  # just over
    assert judged([20.5, 21.5, 22.5]) == (False, "loss", "up to +7.5 % worse, limit +5 %")
    assert judged([18.0, 19.0, 20.0]) == (True, "win", "")


def test_goals_are_not_judged_without_a_baseline_or_the_candidate() -> None:
    both = {**BASE, **BASE_P90}
    assert goals_from(_goal_table({"nearest": both, "goldentime": both})) == []
    assert goals_from(_goal_table({"egen-greedy": both, "phone-around": both})) == []
    only_one = goals_from(_goal_table({"egen-greedy": both, "goldentime": both, "nearest": both}))
    assert [g.baseline_policy for g in only_one] == ["egen-greedy"] * 3


def test_goals_with_a_missing_metric_or_one_seed_are_not_shown() -> None:
    table = _goal_table(
        {
            "egen-greedy": {**BASE_P90, "golden_time_share": [0.5]},
            "goldentime": {**BASE_P90, "golden_time_share": [0.9]},
        }
    )
    by = {g.metric: g for g in goals_from(table)}
    assert not by["golden_time_share"].met and by["golden_time_share"].reason == "not shown: 1 paired seed with a value"
    missing = by["definitive_care_min_ktas12"]
    assert not missing.met and missing.verdict == "n/a"
    assert missing.reason == "not shown: no such metric in the runs"
    assert math.isnan(missing.baseline) and missing.difference.n == 0
    assert by["response_p90_min"].met  # identical runs: no worse


def test_goals_on_simulation_runs() -> None:
    # the response p90 of one call is its response time: 6 min for egen-greedy, 6.2 for goldentime (+3.3 %)
    results = [critical_run("egen-greedy", s, 30.0) for s in (1, 2)]
    results += [critical_run("goldentime", s, 30.0, response_min=6.2) for s in (1, 2)]
    by = {g.metric: g for g in goals(results)}
    assert by["response_p90_min"].met
    assert by["response_p90_min"].difference.mean == pytest.approx(0.2)
    assert goals(results, baselines=("phone-around",)) == []
