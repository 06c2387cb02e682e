"""Key performance indicators of simulation runs: per run, per policy (mean and 95 % interval), and the goals.

Everything here is computed from :class:`~simulations.records.RunResult` alone (one row per call and per
centre), so a KPI can always be recomputed from the records. Times are reported in minutes because readers
think in minutes; percentiles use numpy's default (``linear``) method. A metric with nothing to compute it
from (no KTAS 1 patient in a short run, no centre) is NaN rather than 0, so "none happened" and "not
measurable" never look alike.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from simulations.records import CallRecord, CentreRecord, RunResult

NAN = math.nan
EIGHT_MIN_S = 480.0
CENTRE_PREFIX = "peak_occupancy_pct_"
CENTRE_PATTERN = CENTRE_PREFIX + "<hpid>"

METRICS: dict[str, str] = {
    "calls": "119 calls served in the run (count)",
    "response_p50_min": "median response time, call -> ambulance on scene, waiting for a free ambulance included (min)",
    "response_p90_min": "90th percentile of the response time (min)",
    "response_within_8min_pct": "share of calls with the ambulance on scene within 8 minutes (%)",
    "transport_p50_min": "median transport time, leaving the scene -> accepted at a centre, every leg included (min)",
    "transport_p90_min": "90th percentile of the transport time (min)",
    "definitive_mean_min_ktas1": "mean time from the call to definitive care, KTAS 1 patients (min)",
    "definitive_mean_min_ktas2": "mean time from the call to definitive care, KTAS 2 patients (min)",
    "definitive_mean_min_ktas3": "mean time from the call to definitive care, KTAS 3 patients (min)",
    "definitive_mean_min_ktas4": "mean time from the call to definitive care, KTAS 4 patients (min)",
    "definitive_mean_min_ktas5": "mean time from the call to definitive care, KTAS 5 patients (min)",
    "definitive_mean_min_ktas12": "mean time from the call to definitive care, KTAS 1 and 2 patients together (min)",
    "definitive_p50_min_ktas12": "median time from the call to definitive care, KTAS 1-2 (min)",
    "definitive_p90_min_ktas12": "90th percentile of the time from the call to definitive care, KTAS 1-2 (min)",
    "retransfer_pct": "share of patients refused at least once before acceptance, re-transfers (%)",
    "retransfers_per_100_patients": "refusals before acceptance per 100 patients (count per 100)",
    "full_er_arrival_pct": "share of patients who arrived at least once at an ER with no free bed (%)",
    "full_er_arrivals_per_100_patients": "arrivals at an ER with no free bed per 100 patients (count per 100)",
    "incapable_arrival_pct": "share of patients who arrived at least once at a centre that cannot treat them (%)",
    "forced_acceptance_pct": "share of patients accepted only because every open centre had refused them (%)",
    "redirects_per_100_patients": "turns on the way to another centre on newer advice (count per 100 patients)",
    "peak_occupancy_pct_max": "highest peak ER occupancy over the centres, peak patients / ER beds x 100 (%)",
    CENTRE_PATTERN: "peak ER occupancy of the centre with this hpid, peak patients / ER beds x 100 (%)",
}
METRICS_NOTE = (
    "Percentiles use numpy's default (linear interpolation) method. A metric with nothing to compute it from "
    "(e.g. no KTAS 1 patient in the run, or a centre with no ER beds) is NaN and left out of means and intervals."
)
_RANK = {name: i for i, name in enumerate(METRICS) if name != CENTRE_PATTERN}


def describe(metric: str) -> str:
    """The glossary line of ``metric``, per-centre names included (they are not keys of :data:`METRICS`)."""
    if metric in METRICS:
        return METRICS[metric]
    if metric.startswith(CENTRE_PREFIX):
        return METRICS[CENTRE_PATTERN]
    raise KeyError(metric)


def metric_sort_key(metric: str) -> tuple[int, str]:
    """Glossary order first, then per-centre metrics by hpid: every table and file lists metrics alike."""
    rank = _RANK.get(metric)
    return (rank, "") if rank is not None else (len(_RANK), metric)


# --- one run ----------------------------------------------------------------------------------------------------


def _minutes(calls: Iterable[CallRecord], seconds: Callable[[CallRecord], float]) -> np.ndarray:
    return np.array([seconds(c) / 60.0 for c in calls], dtype=float)


def _percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else NAN


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else NAN


def _pct(flags: Sequence[bool]) -> float:
    """Share of True in percent; NaN when there is nobody to share among."""
    return 100.0 * sum(flags) / len(flags) if flags else NAN


def _per_100(counts: Sequence[int]) -> float:
    return 100.0 * sum(counts) / len(counts) if counts else NAN


def _centre_pct(centre: CentreRecord) -> float:
    """Peak occupancy in % of ER beds; NaN for a centre without ER beds (no meaningful ratio)."""
    return 100.0 * centre.peak_occupancy / centre.beds if centre.beds > 0 else NAN


def _call_metrics(calls: Sequence[CallRecord]) -> dict[str, float]:
    response = _minutes(calls, lambda c: c.response_s)
    transport = _minutes(calls, lambda c: c.transport_s)
    out = {
        "calls": float(len(calls)),
        "response_p50_min": _percentile(response, 50),
        "response_p90_min": _percentile(response, 90),
        "response_within_8min_pct": _pct([c.response_s <= EIGHT_MIN_S for c in calls]),
        "transport_p50_min": _percentile(transport, 50),
        "transport_p90_min": _percentile(transport, 90),
    }
    for level in range(1, 6):
        out[f"definitive_mean_min_ktas{level}"] = _mean(definitive_minutes(calls, (level,)))
    critical = definitive_minutes(calls, (1, 2))
    out["definitive_mean_min_ktas12"] = _mean(critical)
    out["definitive_p50_min_ktas12"] = _percentile(critical, 50)
    out["definitive_p90_min_ktas12"] = _percentile(critical, 90)
    out["retransfer_pct"] = _pct([c.retransfers >= 1 for c in calls])
    out["retransfers_per_100_patients"] = _per_100([c.retransfers for c in calls])
    out["full_er_arrival_pct"] = _pct([c.full_arrivals >= 1 for c in calls])
    out["full_er_arrivals_per_100_patients"] = _per_100([c.full_arrivals for c in calls])
    out["incapable_arrival_pct"] = _pct([c.incapable_arrivals >= 1 for c in calls])
    out["forced_acceptance_pct"] = _pct([c.forced for c in calls])
    out["redirects_per_100_patients"] = _per_100([c.redirects for c in calls])
    return out


def _centre_metrics(centres: Sequence[CentreRecord]) -> dict[str, float]:
    per_centre = {CENTRE_PREFIX + c.hpid: _centre_pct(c) for c in sorted(centres, key=lambda c: c.hpid)}
    finite = [v for v in per_centre.values() if not math.isnan(v)]
    return {"peak_occupancy_pct_max": max(finite) if finite else NAN, **per_centre}


def definitive_minutes(calls: Iterable[CallRecord], levels: Sequence[int]) -> np.ndarray:
    """Call -> definitive care in minutes for the patients whose true KTAS is in ``levels`` (also for the CDFs)."""
    return _minutes((c for c in calls if c.ktas in levels), lambda c: c.definitive_s)


def response_minutes(calls: Iterable[CallRecord]) -> np.ndarray:
    """Call -> on scene in minutes (also for the CDFs)."""
    return _minutes(calls, lambda c: c.response_s)


def run_metrics(result: RunResult) -> dict[str, float]:
    """Every metric of one run: :data:`METRICS` order, then ``peak_occupancy_pct_<hpid>`` sorted by hpid."""
    metrics = {**_call_metrics(result.calls), **_centre_metrics(result.centres)}
    return dict(sorted(metrics.items(), key=lambda item: metric_sort_key(item[0])))


# --- many runs --------------------------------------------------------------------------------------------------


def policies_of(results: Iterable[RunResult]) -> list[str]:
    """Policies in the order they first appear: the caller's order is the reader's order."""
    return list(dict.fromkeys(r.policy for r in results))


def _ordered(results: Sequence[RunResult]) -> list[RunResult]:
    """Runs by policy (first appearance) then seed; a repeated (policy, seed) would make the CSV ambiguous."""
    seen = {(r.policy, r.seed) for r in results}
    if len(seen) != len(results):
        raise ValueError("results hold the same (policy, seed) more than once")
    rank = {p: i for i, p in enumerate(policies_of(results))}
    return sorted(results, key=lambda r: (rank[r.policy], r.seed))


def long_rows(results: Sequence[RunResult]) -> list[tuple[str, int, str, float]]:
    """One (policy, seed, metric, value) per metric of every run — the tidy form of the CSV."""
    return [(r.policy, r.seed, metric, value) for r in _ordered(results) for metric, value in run_metrics(r).items()]


def format_value(value: float) -> str:
    """Fixed six decimals, ``nan``/``inf`` spelled out and no negative zero: equal runs give equal bytes."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = format(value, ".6f")
    return "0.000000" if text == "-0.000000" else text


def write_csv(path: Path, results: Sequence[RunResult]) -> None:
    """``policy,seed,metric,value`` with ``\\n`` line endings, byte-identical for identical results."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["policy", "seed", "metric", "value"])
        for policy, seed, metric, value in long_rows(results):
            writer.writerow([policy, seed, metric, format_value(value)])


@dataclass(frozen=True)
class Interval:
    """Mean over seeds and its 95 % Student-t confidence interval; ``n`` seeds had a value."""

    mean: float
    low: float
    high: float
    n: int


def t_interval(values: Iterable[float], confidence: float = 0.95) -> Interval:
    """Student-t interval of the mean. Seeds are few (5-30), so t, not the normal approximation; NaNs are
    left out; one value gives a zero-width interval and no value a NaN one."""
    finite = np.array([v for v in values if not math.isnan(v)], dtype=float)
    n = int(finite.size)
    if n == 0:
        return Interval(NAN, NAN, NAN, 0)
    mean = float(finite.mean())
    if n == 1:
        return Interval(mean, mean, mean, 1)
    quantile = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    half = quantile * float(finite.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def summarise(results: Sequence[RunResult]) -> dict[tuple[str, str], Interval]:
    """(policy, metric) -> mean over seeds with a 95 % interval; policies in order of appearance, metrics in
    :func:`metric_sort_key` order (a centre missing from some runs is summarised over the runs that have it)."""
    values: dict[tuple[str, str], list[float]] = {}
    for policy, _, metric, value in long_rows(results):
        values.setdefault((policy, metric), []).append(value)
    rank = {p: i for i, p in enumerate(policies_of(results))}
    keys = sorted(values, key=lambda k: (rank[k[0]], metric_sort_key(k[1])))
    return {key: t_interval(values[key]) for key in keys}


# --- goals ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """One project goal, candidate policy against baseline, on the means over seeds."""

    name: str
    metric: str
    baseline: float
    candidate: float
    change_pct: float
    target: str
    met: bool


@dataclass(frozen=True)
class _GoalSpec:
    name: str
    metric: str
    max_change_pct: float  # met iff change_pct <= this (a cut of 90 % is -90), or 0 stays 0
    target: str


GOALS: tuple[_GoalSpec, ...] = (
    _GoalSpec("re-transfers", "retransfer_pct", -90.0, "cut by ≥ 90 %"),
    _GoalSpec("arrivals at a full ER", "full_er_arrival_pct", -90.0, "cut by ≥ 90 %"),
    _GoalSpec("time to definitive care, KTAS 1-2", "definitive_mean_min_ktas12", -20.0, "cut by ≥ 20 %"),
    _GoalSpec("median transport time", "transport_p50_min", 10.0, "up by ≤ 10 %"),
)


def change_pct(baseline: float, candidate: float) -> float:
    """Relative change in percent. From a baseline of 0 there is no ratio: no change (0) if the candidate is 0
    too, else an infinite one with the candidate's sign — so a goal from 0 is met only by staying at 0."""
    if math.isnan(baseline) or math.isnan(candidate):
        return NAN
    if baseline == 0:
        return 0.0 if candidate == 0 else math.copysign(math.inf, candidate)
    return (candidate - baseline) / baseline * 100.0


def _met(baseline: float, candidate: float, change: float, max_change_pct: float) -> bool:
    """Within the target; and 0 -> 0 always counts as met: nothing was there to cut, and nothing came back."""
    if math.isnan(change):
        return False
    return (baseline == 0 and candidate == 0) or change <= max_change_pct


def goals(
    summary: dict[tuple[str, str], Interval], baseline: str = "nearest", candidate: str = "goldentime"
) -> list[Goal]:
    """The project's goals, met or not, on the seed means; empty when either policy did not run. A goal whose
    metric is NaN for either policy (e.g. no KTAS 1-2 patient) is not met: it was not shown."""
    present = {policy for policy, _ in summary}
    if baseline not in present or candidate not in present:
        return []
    missing = Interval(NAN, NAN, NAN, 0)
    out = []
    for spec in GOALS:
        base = summary.get((baseline, spec.metric), missing).mean
        cand = summary.get((candidate, spec.metric), missing).mean
        change = change_pct(base, cand)
        met = _met(base, cand, change, spec.max_change_pct)
        out.append(Goal(spec.name, spec.metric, base, cand, change, spec.target, met))
    return out
