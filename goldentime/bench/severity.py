"""Severity benchmark: latency of one live ``assess`` call beside batch scoring per row."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dispatch.severity.features import from_ktas_row
from goldentime.bench import report
from loaders.severity import KTAS_FILE, read_ktas, train_from_file
from simulations.patients import vitals_from_presentation
from telemetry.schemas import CrewFlags, Vitals

ASSESS_P99_GOAL_US = 2000.0
TRAINING_GOAL_S = 60.0


def _vitals(rows: list[dict[str, str]]) -> list[Vitals]:
    """Live payloads made from the KTAS rows that arrived by 119 ambulance."""
    presentations = (from_ktas_row(row) for row in rows)
    return [vitals_from_presentation(p, CrewFlags(), "P-bench") for p in presentations if p.ambulance]


def figures(assess_us: NDArray[np.float64], batch_us: float, train_s: float) -> list[report.Figure]:
    """``assess`` p50 and p99 beside batch scoring per row (what scoring costs without the live path and the
    explanation, so the ratio is below 1), and training time, each against the goal the section states."""
    p50, p99 = (float(q) for q in np.percentile(assess_us, [50, 99]))
    return [
        report.Figure("severity_assess_p50_us", p50, "µs", baseline=batch_us, ratio=batch_us / p50),
        report.Figure(
            "severity_assess_p99_us",
            p99,
            "µs",
            baseline=batch_us,
            ratio=batch_us / p99,
            goal=f"< {ASSESS_P99_GOAL_US:,.0f} µs",
            met=p99 < ASSESS_P99_GOAL_US,
        ),
        report.Figure(
            "severity_training_s", train_s, "s", goal=f"< {TRAINING_GOAL_S:g} s", met=train_s < TRAINING_GOAL_S
        ),
    ]


def _verdict(figure: report.Figure) -> str:
    return "met" if figure.met else "**not met**"


def main(*, quick: bool, output: Path, data_dir: Path) -> list[report.Figure]:
    print("severity benchmark: assess latency", flush=True)
    data_file = data_dir / KTAS_FILE
    rows = read_ktas(data_file)
    started = time.perf_counter()
    model = train_from_file(data_file)
    train_s = time.perf_counter() - started
    payloads = _vitals(rows)
    calls = 2_000 if quick else 20_000
    for vitals in payloads[:50]:  # warm-up
        model.assess(vitals)
    times = np.empty(calls)
    for i in range(calls):
        vitals = payloads[i % len(payloads)]
        t0 = time.perf_counter()
        model.assess(vitals)
        times[i] = time.perf_counter() - t0
    presentations = [from_ktas_row(r) for r in rows]
    batch = []
    for _ in range(5):
        t0 = time.perf_counter()
        model.predict(presentations)
        batch.append((time.perf_counter() - t0) / len(presentations))
    us, batch_us = times * 1e6, min(batch) * 1e6
    found = figures(us, batch_us, train_s)
    p50, p99, training = found
    lines = [
        "## Severity model: one `assess` call",
        "",
        f"Reproduce with `goldentime bench --only severity{' --quick' if quick else ''}`. {calls:,} calls of "
        f"`TrainedSeverity.assess(vitals)` on live `ems.vitals/1` payloads made from the {len(payloads)} KTAS "
        "rows that arrived by 119 ambulance, round-robin: features, the model, calibration, the operating "
        "threshold and the explanation (which scores the patient again with each input replaced). Beside it, "
        f"batch scoring of all {len(rows):,} rows in one `predict` call (level and probabilities, no explanation), "
        "per row, best of 5.",
        "",
        "| figure | value | goal |",
        "|---|---:|---|",
        f"| `assess` p50 | {p50.value:,.0f} µs | |",
        f"| `assess` p99 | {p99.value:,.0f} µs | {p99.goal}: {_verdict(p99)} |",
        f"| `assess` max | {us.max():,.0f} µs | |",
        f"| batch scoring, per row | {batch_us:,.0f} µs | |",
        "| training (both models' C chosen by 5-fold CV over 3 and 4 values, calibration, threshold, final fits) | "
        f"{train_s:.1f} s | "
        f"{training.goal}: {_verdict(training)} |",
    ]
    report.write_section(output, "severity", "\n".join(lines))
    print(f"  assess p50 {p50.value:,.0f} µs, p99 {p99.value:,.0f} µs; wrote {output}", flush=True)
    return found
