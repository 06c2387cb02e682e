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

from dispatch.pathways import PATHWAYS, Pathway
from simulations.records import CallRecord, CentreRecord, RunResult
from telemetry.schemas import RefusalReason

NAN = math.nan
EIGHT_MIN_S = 480.0
THIRTY_MIN_S = 1_800.0
#: The national golden-time indicator's pathways, as KPI name -> the pathways (dispatch.pathways values) it counts.
GOLDEN_PATHWAYS: dict[str, frozenset[str]] = {
    Pathway.STEMI.value: frozenset({Pathway.STEMI.value}),
    "stroke": frozenset({Pathway.STROKE.value, Pathway.STROKE_HAEMORRHAGE.value}),
    Pathway.MAJOR_TRAUMA.value: frozenset({Pathway.MAJOR_TRAUMA.value}),
}
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
    "golden_time_share": "share of STEMI, stroke and major-trauma patients at definitive care within their golden time "
    "from onset (AMI 2 h, stroke 3 h, major trauma 1 h: the national indicator) (%)",
    "stemi_golden_time_share": "share of STEMI patients at definitive care within 2 h of onset (%)",
    "stroke_golden_time_share": "share of stroke patients (infarct, bleed) at definitive care within 3 h of onset (%)",
    "major_trauma_golden_time_share": "share of major-trauma patients at definitive care within 1 h of injury (%)",
    "definitive_care_min_ktas12": "mean time from the call to definitive care, KTAS 1-2, secondary transfers in (min)",
    "definitive_care_min_stemi": "mean time from the call to definitive care, STEMI patients (min)",
    "definitive_care_min_stroke": "mean time from the call to definitive care, stroke patients (min)",
    "definitive_care_min_major_trauma": "mean time from the call to definitive care, major-trauma patients (min)",
    "scene_search_mean_min": "mean time at the scene, ready to leave, spent finding a centre that will take the "
    "patient: phoning, or waiting for answers to transfer requests (min)",
    "phone_calls_per_patient": "calls from the scene to centres per patient (count)",
    "requests_per_patient": "transfer requests the crew waited on at the scene per patient, the acceptance "
    "handshake (count)",
    "time_to_acceptance_min": "mean time from ready to leave (end of on-scene care) to the first centre that "
    "accepted the patient: a yes on the phone, a transfer request accepted, or else the door that took them (min)",
    "time_to_acceptance_p90_min": "90th percentile of the time from ready to leave to the first accepting centre (min)",
    "refusals_per_100": "refusals the patient met, on the phone, to a transfer request and at the door, per 100 "
    "patients (count per 100)",
    "refusals_no_bed_per_100": "refusals saying no bed (phone, transfer request, door) per 100 patients "
    "(count per 100)",
    "refusals_no_specialist_per_100": "refusals saying no specialist (no team on duty, not designated, or no place "
    "for a KTAS 1-2 patient; phone, transfer request, door) per 100 patients (count per 100)",
    "over_30min_pct": "share of patients for whom finding a centre and getting there took over 30 minutes (%)",
    "secondary_transfer_pct": "share of patients taken where they could not get definitive care, then moved on (%)",
    "under_triage_pct": "share of KTAS 1-2 patients first taken where they could not get definitive care (%)",
    "over_triage_pct": "share of KTAS 4-5 patients taking a bed of a regional centre (level 1) (%)",
    "coverage_8min_pct": "share of the area a free ambulance reaches within 8 minutes of a call, mean over the run (%)",
    "coverage_8min_low_pct": "the lowest share of the area a free ambulance reached within 8 minutes in the run (%)",
    "unadvised_pct": "share of patients whose crew had no advice when choosing a centre (policies that advise) (%)",
    "safety_violation_pct": "share of cardiac-arrest or unstable patients (Pre-KTAS level 1 signs) not taken to "
    "the open ER nearest the scene first (R-ARREST, R-UNSTABLE) (%)",
    "scene_time_p50_min": "median time at the scene, arrival to departure: care and finding a centre (min)",
    "unit_utilisation_pct": "share of the ambulances' time spent on calls, dispatched until back at the station (%)",
    "regional_ed_occupancy_pct": "mean ER occupancy of the regional centres (level 1), patients / ER beds x 100 (%)",
    "ed_occupancy_cv": "spread of mean ER occupancy (share of beds) across centres: coefficient of variation (ratio)",
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
    out.update(_golden_time_metrics(calls))
    out["scene_search_mean_min"] = _mean(_minutes(calls, lambda c: c.scene_search_s))
    out["phone_calls_per_patient"] = _mean(np.array([float(c.phone_calls) for c in calls]))
    out.update(_acceptance_metrics(calls))
    out["over_30min_pct"] = _pct([c.scene_search_s + c.transport_s > THIRTY_MIN_S for c in calls])
    out["secondary_transfer_pct"] = _pct([c.secondary_transfer for c in calls])
    out["under_triage_pct"] = _pct([c.secondary_transfer for c in calls if c.ktas <= 2])
    out["unadvised_pct"] = _pct([not c.advised for c in calls if c.advised is not None])
    nearest_first = [c.nearest_first for c in calls if c.unstable or Pathway.CARDIAC_ARREST.value in c.needs]
    out["safety_violation_pct"] = _pct([not ok for ok in nearest_first])
    return out


def _acceptance_metrics(calls: Sequence[CallRecord]) -> dict[str, float]:
    """How long from ready to leave until a centre said yes, and the refusals met on the way, by reason."""
    ready = _minutes((c for c in calls if c.ready_to_accepted_s is not None), lambda c: c.ready_to_accepted_s or 0.0)
    return {
        "requests_per_patient": _mean(np.array([float(c.requests) for c in calls])),
        "time_to_acceptance_min": _mean(ready),
        "time_to_acceptance_p90_min": _percentile(ready, 90),
        "refusals_per_100": _per_100([len(c.refusals) for c in calls]),
        "refusals_no_bed_per_100": _per_100([_said(c, RefusalReason.NO_BED) for c in calls]),
        "refusals_no_specialist_per_100": _per_100([_said(c, RefusalReason.NO_SPECIALIST) for c in calls]),
    }


def _said(call: CallRecord, reason: RefusalReason) -> int:
    """How many of the call's refusals gave ``reason``."""
    return sum(said == reason.value for _, said in call.refusals)


def golden_time_s(needs: Iterable[str]) -> float | None:
    """The golden time of the patient's most urgent timed pathway (dispatch.pathways); None: none."""
    limits = [PATHWAYS[Pathway(n)].golden_time_s for n in needs]
    timed = [t for t in limits if t is not None]
    return min(timed) if timed else None


def _in_golden_time(call: CallRecord) -> bool | None:
    limit = golden_time_s(call.needs)
    if limit is None or call.onset_s is None:
        return None
    return call.onset_s + call.definitive_s <= limit


def _golden_time_metrics(calls: Sequence[CallRecord]) -> dict[str, float]:
    """The national golden-time indicator, overall and by pathway, and time to definitive care by pathway."""
    out: dict[str, float] = {}
    timed = [(c, ok) for c in calls if (ok := _in_golden_time(c)) is not None]
    out["golden_time_share"] = _pct([ok for _, ok in timed])
    for name, pathways in GOLDEN_PATHWAYS.items():
        out[f"{name}_golden_time_share"] = _pct([ok for c, ok in timed if pathways & set(c.needs)])
    out["definitive_care_min_ktas12"] = _mean(definitive_minutes(calls, (1, 2)))
    for name, pathways in GOLDEN_PATHWAYS.items():
        on = [c for c in calls if pathways & set(c.needs)]
        out[f"definitive_care_min_{name}"] = _mean(_minutes(on, lambda c: c.definitive_s))
    return out


def _centre_metrics(centres: Sequence[CentreRecord]) -> dict[str, float]:
    per_centre = {CENTRE_PREFIX + c.hpid: _centre_pct(c) for c in sorted(centres, key=lambda c: c.hpid)}
    finite = [v for v in per_centre.values() if not math.isnan(v)]
    shares = np.array([c.mean_occupancy / c.beds for c in centres if c.beds > 0], dtype=float)
    cv = float(shares.std() / shares.mean()) if shares.size >= 2 and shares.mean() > 0 else NAN
    return {"peak_occupancy_pct_max": max(finite) if finite else NAN, "ed_occupancy_cv": cv, **per_centre}


def _coverage_metrics(coverage: Sequence[float]) -> dict[str, float]:
    if not coverage:
        return {"coverage_8min_pct": NAN, "coverage_8min_low_pct": NAN}
    return {"coverage_8min_pct": 100.0 * float(np.mean(coverage)), "coverage_8min_low_pct": 100.0 * min(coverage)}


def _scene_s(call: CallRecord) -> float:
    """Arrival at the scene to departure: call -> accepted, less the response and the transport."""
    return call.accepted_s - call.response_s - call.transport_s


def _utilisation(result: RunResult) -> float:
    available = result.units * result.days * 86_400.0
    return 100.0 * result.busy_s / available if available > 0 else NAN


def _regional_occupancy(centres: Sequence[CentreRecord]) -> float:
    shares = [c.mean_occupancy / c.beds for c in centres if c.level == 1 and c.beds > 0]
    return 100.0 * float(np.mean(shares)) if shares else NAN


def _over_triage(result: RunResult) -> float:
    """KTAS 4-5 patients taking a regional centre's bed (level 1), in % of KTAS 4-5 patients."""
    regional = {c.hpid for c in result.centres if c.level == 1}
    return _pct([c.final_hpid in regional for c in result.calls if c.ktas >= 4])


def definitive_minutes(calls: Iterable[CallRecord], levels: Sequence[int]) -> np.ndarray:
    """Call -> definitive care in minutes for the patients whose true KTAS is in ``levels`` (also for the CDFs)."""
    return _minutes((c for c in calls if c.ktas in levels), lambda c: c.definitive_s)


def response_minutes(calls: Iterable[CallRecord]) -> np.ndarray:
    """Call -> on scene in minutes (also for the CDFs)."""
    return _minutes(calls, lambda c: c.response_s)


def run_metrics(result: RunResult) -> dict[str, float]:
    """Every metric of one run: :data:`METRICS` order, then ``peak_occupancy_pct_<hpid>`` sorted by hpid."""
    metrics = {
        **_call_metrics(result.calls),
        **_centre_metrics(result.centres),
        "over_triage_pct": _over_triage(result),
        **_coverage_metrics(result.coverage),
        "scene_time_p50_min": _percentile(_minutes(result.calls, _scene_s), 50),
        "unit_utilisation_pct": _utilisation(result),
        "regional_ed_occupancy_pct": _regional_occupancy(result.centres),
    }
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


# --- paired comparisons -----------------------------------------------------------------------------------------

# Every policy meets the same calls, patients and walk-ins for a given seed (common random numbers), so two
# policies are compared seed by seed: the per-seed difference cancels the day-to-day noise both share, and its
# interval is much narrower than the two unpaired intervals suggest.

HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {"golden_time_share", "response_within_8min_pct", "coverage_8min_pct", "coverage_8min_low_pct"}
)
HIGHER_IS_BETTER_SUFFIX = "_golden_time_share"  # per-pathway or per-level shares, e.g. stroke_golden_time_share
#: Neither better nor worse: the same calls for every policy; how the crew looked for a centre (calls made,
#: requests waited on), whose cost and outcome the times and refusals measure.
DESCRIPTIVE: frozenset[str] = frozenset(
    {"calls", "phone_calls_per_patient", "requests_per_patient", "unit_utilisation_pct", "regional_ed_occupancy_pct"}
)
WIN, TIE, LOSS, NOT_APPLICABLE = "win", "tie", "loss", "n/a"

RunTable = dict[tuple[str, int], dict[str, float]]  # (policy, seed) -> that run's metrics


def higher_is_better(metric: str) -> bool:
    """True for shares reached in time (:data:`HIGHER_IS_BETTER` and ``*_golden_time_share``); every other
    metric is a time, a rate of harm or a load, where lower is better."""
    return metric in HIGHER_IS_BETTER or metric.endswith(HIGHER_IS_BETTER_SUFFIX)


def has_verdict(metric: str) -> bool:
    """Per-centre occupancies and the call count describe a run; they are not better or worse (the highest
    peak over the centres, ``peak_occupancy_pct_max``, shares the per-centre prefix but is judged)."""
    per_centre = metric.startswith(CENTRE_PREFIX) and metric not in METRICS
    return not per_centre and metric not in DESCRIPTIVE


@dataclass(frozen=True)
class Paired:
    """``candidate`` against ``baseline`` on one metric, over the seeds both ran with a value for it: both
    means and the mean per-seed difference (candidate − baseline), each with its 95 % Student-t interval."""

    metric: str
    baseline: Interval
    candidate: Interval
    difference: Interval
    verdict: str  # win / tie / loss / n/a


def verdict(metric: str, difference: Interval) -> str:
    """``win`` if the interval of the difference excludes 0 on the good side, ``loss`` on the bad side, ``tie``
    if it includes 0; ``n/a`` for descriptive metrics and with fewer than 2 paired seeds or no value."""
    low, high = difference.low, difference.high
    if not has_verdict(metric) or difference.n < 2 or math.isnan(low) or math.isnan(high):
        return NOT_APPLICABLE
    if low > 0:
        return WIN if higher_is_better(metric) else LOSS
    if high < 0:
        return LOSS if higher_is_better(metric) else WIN
    return TIE


def run_table(results: Sequence[RunResult]) -> RunTable:
    """Every run's metrics by (policy, seed), policies in order of appearance then seeds."""
    return {(r.policy, r.seed): run_metrics(r) for r in _ordered(results)}


def paired_from(table: RunTable, baseline: str, candidate: str) -> dict[str, Paired]:
    """:func:`paired` on runs' metrics already computed (or built by hand). For each metric both policies
    have, the seeds where both have a value (NaN in either leaves the seed out); metrics in
    :func:`metric_sort_key` order."""
    base_runs = {seed: metrics for (policy, seed), metrics in table.items() if policy == baseline}
    cand_runs = {seed: metrics for (policy, seed), metrics in table.items() if policy == candidate}
    seeds = sorted(base_runs.keys() & cand_runs.keys())
    names = {m for s in seeds for m in base_runs[s]} & {m for s in seeds for m in cand_runs[s]}
    out: dict[str, Paired] = {}
    for metric in sorted(names, key=metric_sort_key):
        pairs = [(base_runs[s].get(metric, NAN), cand_runs[s].get(metric, NAN)) for s in seeds]
        both = [(b, c) for b, c in pairs if not (math.isnan(b) or math.isnan(c))]
        difference = t_interval(c - b for b, c in both)
        out[metric] = Paired(
            metric,
            t_interval(b for b, _ in both),
            t_interval(c for _, c in both),
            difference,
            verdict(metric, difference),
        )
    return out


def paired(results: Sequence[RunResult], baseline: str, candidate: str) -> dict[str, Paired]:
    """``candidate`` against ``baseline`` seed by seed (same seed, same calls): metric -> :class:`Paired`.
    Seeds only one of the two policies ran are left out; empty when either policy did not run."""
    return paired_from(run_table(results), baseline, candidate)


# --- goals ------------------------------------------------------------------------------------------------------

CANDIDATE = "goldentime"
GOAL_BASELINES: tuple[str, ...] = ("egen-greedy", "phone-around")


@dataclass(frozen=True)
class Goal:
    """One project goal, the candidate against one baseline, judged on the paired difference's 95 % interval
    (``baseline`` and ``candidate`` are the means over the paired seeds; NaN when the metric is missing)."""

    name: str
    metric: str
    baseline_policy: str
    baseline: float
    candidate: float
    difference: Interval
    target: str
    met: bool
    verdict: str  # win / tie / loss / n/a of the paired difference
    reason: str  # why it is not met ("tie: interval includes 0", "loss", "not shown: ..."); "" when met


@dataclass(frozen=True)
class _GoalSpec:
    name: str
    metric: str
    target: str
    # None: the candidate must win (the interval excludes 0 on the good side). A number: non-inferiority, the
    # bad-side bound of the interval may be at most this percentage of the baseline's mean worse.
    worse_by_at_most_pct: float | None = None


GOALS: tuple[_GoalSpec, ...] = (
    _GoalSpec("golden-time share", "golden_time_share", "win: 95 % CI of the difference above 0"),
    _GoalSpec(
        "time to definitive care, KTAS 1-2", "definitive_care_min_ktas12", "win: 95 % CI of the difference below 0"
    ),
    _GoalSpec("response time, 90th percentile", "response_p90_min", "CI upper bound ≤ +5 % of the baseline", 5.0),
)


def _judge(spec: _GoalSpec, comparison: Paired | None) -> tuple[bool, str]:
    """(met, reason when not met) of one goal on its paired comparison (None: the metric is missing)."""
    if comparison is None:
        return False, "not shown: no such metric in the runs"
    difference = comparison.difference
    if difference.n < 2 or math.isnan(difference.low) or math.isnan(difference.high):
        return False, f"not shown: {difference.n} paired seed{'s' if difference.n != 1 else ''} with a value"
    if spec.worse_by_at_most_pct is None:
        if comparison.verdict == WIN:
            return True, ""
        return False, "tie: interval includes 0" if comparison.verdict == TIE else comparison.verdict
    allowed = abs(comparison.baseline.mean) * spec.worse_by_at_most_pct / 100.0
    worst = -difference.low if higher_is_better(spec.metric) else difference.high  # the bad-side bound
    if worst <= allowed:
        return True, ""
    worse_pct = worst / abs(comparison.baseline.mean) * 100.0 if comparison.baseline.mean != 0 else math.inf
    return False, f"up to {worse_pct:+.1f} % worse, limit +{spec.worse_by_at_most_pct:g} %"


def goals_from(table: RunTable, candidate: str = CANDIDATE, baselines: Sequence[str] = GOAL_BASELINES) -> list[Goal]:
    """:func:`goals` on runs' metrics already computed (or built by hand)."""
    ran = {policy for policy, _ in table}
    if candidate not in ran:
        return []
    out: list[Goal] = []
    for baseline in (b for b in baselines if b in ran):
        comparisons = paired_from(table, baseline, candidate)
        for spec in GOALS:
            comparison = comparisons.get(spec.metric)
            met, reason = _judge(spec, comparison)
            if comparison is None:
                missing = Interval(NAN, NAN, NAN, 0)
                base, cand, difference, judged = missing, missing, missing, NOT_APPLICABLE
            else:
                base, cand = comparison.baseline, comparison.candidate
                difference, judged = comparison.difference, comparison.verdict
            out.append(
                Goal(
                    spec.name, spec.metric, baseline, base.mean, cand.mean, difference, spec.target, met, judged, reason
                )
            )
    return out


def goals(
    results: Sequence[RunResult], candidate: str = CANDIDATE, baselines: Sequence[str] = GOAL_BASELINES
) -> list[Goal]:
    """The project's goals (issue 22): ``candidate`` beats each baseline that ran on the golden-time share and
    on the time to definitive care of KTAS 1-2 patients (paired 95 % interval excludes 0), with the response
    time's 90th percentile at most 5 % worse (the interval's upper bound). A row per baseline that ran and
    goal, baselines in the given order; empty when the candidate or every baseline did not run. A goal whose
    metric is missing, or has fewer than 2 paired seeds with a value, is not shown and so not met."""
    return goals_from(run_table(results), candidate, baselines)
