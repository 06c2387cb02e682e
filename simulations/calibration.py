"""Calibrating the simulated city to Korea's own figures (issue 22).

Each :class:`Target` is a published Korean figure (docs/korea_ems_figures.md names the source), how
the simulator measures the same thing on runs of today's practice (the ``phone-around`` policy:
crews phone centres from the scene), and the one :class:`~simulations.config.SimConfig` parameter
that mainly moves it. :func:`fit` adjusts those parameters one at a time by bisection (each target
is monotone in its parameter), in a few passes, because they interact a little (a longer time on
scene also delays the golden time). Targets without a parameter are reported, not fitted.

Nothing here runs a simulation: :func:`fit` takes a ``run(config) -> results`` callable, so the
fitting is tested with a model and the command (``goldentime calibrate``) supplies real runs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dispatch.pathways import Pathway
from simulations.config import SimConfig
from simulations.kpis import run_metrics
from simulations.records import RunResult

TRAUMA = Pathway.MAJOR_TRAUMA.value
Measure = Callable[[Sequence[RunResult]], float]
Run = Callable[[SimConfig], Sequence[RunResult]]


def _pooled(results: Sequence[RunResult], metric: str) -> float:
    values = [v for r in results if not math.isnan(v := run_metrics(r)[metric])]
    return float(np.mean(values)) if values else math.nan


def response_within_7min_pct(results: Sequence[RunResult]) -> float:
    flags = [c.response_s <= 420.0 for r in results for c in r.calls]
    return 100.0 * float(np.mean(flags)) if flags else math.nan


def trauma_to_hospital_median_min(results: Sequence[RunResult]) -> float:
    """Call -> accepted at a hospital, major-trauma patients, median (min)."""
    times = [c.accepted_s / 60.0 for r in results for c in r.calls if TRAUMA in c.needs]
    return float(np.median(times)) if times else math.nan


def transports_per_unit_day(results: Sequence[RunResult]) -> float:
    rates = [len(r.calls) / r.units / r.days for r in results if r.units and r.days]
    return float(np.mean(rates)) if rates else math.nan


@dataclass(frozen=True)
class Target:
    key: str
    label: str  # what it is, in words
    value: float | None  # the Korean figure (None: none published that we found; the simulated value is shown)
    unit: str
    source: str  # who published it, and the year it describes
    measure: Measure
    parameter: str | None = None  # the SimConfig field fitted to it (None: reported only)
    low: float = 0.0  # the parameter's search range
    high: float = 0.0
    rising: bool = True  # the measure rises with the parameter


_REGION_NAMES = {"seoul": "Seoul", "gwangju": "Gwangju"}


def targets(region: str) -> tuple[Target, ...]:
    """The targets for a scenario of ``region`` ("seoul" or any other: the national figures)."""
    seoul = region == "seoul"
    return (
        Target(
            "transports_per_unit_day",
            "119 transports per ambulance per day",
            1_309 / 365,
            "/day",
            "소방청, national, ~1,309 transports per ambulance a year (older year)",
            transports_per_unit_day,
            "calls_per_day",
            5.0,
            400.0,
        ),
        Target(
            "response_within_7min_pct",
            "response (call to scene) within 7 minutes",
            54.9 if seoul else 45.6,
            "%",
            "소방청 119구급서비스 통계연보 2023, " + ("Seoul" if seoul else "national"),
            response_within_7min_pct,
            "turnout_s",
            0.0,
            900.0,
            rising=False,
        ),
        Target(
            "trauma_to_hospital_median_min",
            "major trauma, call to hospital, median",
            26.0 if seoul else (27.0 if region == "gwangju" else 33.0),
            "min",
            "질병관리청 지역사회기반 중증외상조사 2023, " + _REGION_NAMES.get(region, "national"),
            trauma_to_hospital_median_min,
            "on_scene_min",
            1.0,
            60.0,
        ),
        Target(
            "golden_time_share",
            "AMI <= 2 h, stroke <= 3 h, major trauma <= 1 h at the final treating hospital",
            43.0 if region == "gwangju" else 50.0,
            "%",
            "보건복지부 national indicator (~50 % for five years; Gwangju 43 %, issue 22)",
            lambda results: _pooled(results, "golden_time_share"),
            "onset_scale",
            0.05,
            20.0,
            rising=False,
        ),
        Target(
            "over_30min_pct",
            "finding a centre and getting there took over 30 minutes",
            1.9,
            "%",
            "소방청 via 국회, 2023 (5.4 % in H1 2025)",
            lambda results: _pooled(results, "over_30min_pct"),
            "phone_call_min",
            0.5,
            15.0,
        ),
        Target(
            "retransfer_pct",
            "re-transfers after arrival, share of transports",
            0.21,
            "%",
            "소방청, 2023: 4,227 of 2,017,007 transports",
            lambda results: _pooled(results, "retransfer_pct"),
        ),
        Target(
            "scene_time_p50_min",
            "time at the scene (arrival to departure), median",
            None,
            "min",
            "no median found; 소방청 2023 (Edaily 2024-10-12): the commonest scene-to-departure bin is '5분 이내'",
            lambda results: _pooled(results, "scene_time_p50_min"),
        ),
        Target(
            "unit_utilisation_pct",
            "ambulance utilisation (time on calls)",
            None,
            "%",
            "no published figure found",
            lambda results: _pooled(results, "unit_utilisation_pct"),
        ),
        Target(
            "regional_ed_occupancy_pct",
            "ER occupancy of the regional centres (level 1), mean",
            None,
            "%",
            "no published figure found",
            lambda results: _pooled(results, "regional_ed_occupancy_pct"),
        ),
    )


def with_parameter(config: SimConfig, name: str, value: float) -> SimConfig:
    """``config`` with one fitted parameter set (``onset_scale`` multiplies every onset median)."""
    if name == "onset_scale":
        return dataclasses.replace(config, onset_median_min={k: v * value for k, v in config.onset_median_min.items()})
    changes: dict[str, Any] = {name: value}
    return dataclasses.replace(config, **changes)


def parameter_of(config: SimConfig, base: SimConfig, name: str) -> float:
    """The current value of a fitted parameter (``onset_scale``: relative to ``base``)."""
    if name == "onset_scale":
        key = next(iter(base.onset_median_min))
        return config.onset_median_min[key] / base.onset_median_min[key]
    return float(getattr(config, name))


@dataclass(frozen=True)
class Fit:
    config: SimConfig
    measured: Mapping[str, float]  # target key -> the simulated value with the fitted config
    parameters: Mapping[str, float]  # fitted parameter -> value
    evaluations: int


def fit(config: SimConfig, run: Run, goals: Sequence[Target], *, passes: int = 3, steps: int = 9) -> Fit:
    """Bisect each target's parameter in turn (``steps`` halvings of its range), ``passes`` times."""
    base, evaluations = config, 0

    def measure(candidate: SimConfig, target: Target) -> float:
        nonlocal evaluations
        evaluations += 1
        return target.measure(run(candidate))

    for _ in range(passes):
        for target in goals:
            if target.parameter is None or target.value is None:
                continue
            low, high = target.low, target.high
            for _ in range(steps):
                middle = (low + high) / 2
                value = measure(with_parameter(config, target.parameter, middle), target)
                if math.isnan(value):
                    break
                if (value < target.value) == target.rising:
                    low = middle
                else:
                    high = middle
            config = with_parameter(config, target.parameter, (low + high) / 2)
    final = run(config)
    evaluations += 1
    measured = {t.key: t.measure(final) for t in goals}
    parameters = {t.parameter: parameter_of(config, base, t.parameter) for t in goals if t.parameter is not None}
    return Fit(config, measured, parameters, evaluations)


def table(goals: Sequence[Target], measured: Mapping[str, float], before: Mapping[str, float] | None = None) -> str:
    """A markdown table: each target, its source, the simulated value (and before the fit)."""
    head = "| target | Korea | source | simulated |" + (" before the fit |" if before else "")
    rule = "|---|---:|---|---:|" + ("---:|" if before else "")
    lines = [head, rule]
    for t in goals:
        korea = "—" if t.value is None else f"{t.value:.3g} {t.unit}"
        row = f"| {t.label} | {korea} | {t.source} | {measured[t.key]:.3g} {t.unit} |"
        if before:
            row += f" {before[t.key]:.3g} {t.unit} |"
        lines.append(row)
    return "\n".join(lines)
