"""Simulation benchmark: how long ``goldentime simulate`` takes for a week of the default scenario under the
every shipped policy (one seed), the what-if a planner runs most, split into its stages. Writes the ``simulation``
section of ``docs/performance.md``."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from goldentime.bench import report
from goldentime.settings import Settings
from goldentime.simulate import ALL_POLICIES, WhatIf, run_what_if

DAYS, QUICK_DAYS = 7.0, 1.0
GOAL_S = 60.0


@dataclass(frozen=True)
class Timing:
    """Seconds spent in each stage of one what-if."""

    total_s: float
    preparation_s: float  # scenario, road index, simulation config, policies
    draws_s: float  # the patients (severity model trained out of fold on the KTAS rows) and the seed's calls
    runs_s: tuple[tuple[str, float], ...]  # (policy, seconds) in the order they ran
    report_s: float  # report.md, plots, kpis.csv


def breakdown(started: float, marks: list[tuple[str, float]], ended: float, elapsed_s: float) -> Timing:
    """Stages from the progress callbacks of :func:`run_what_if` (one seed): ``marks`` are (label, clock) when
    each run began and ``("done", clock)`` after the last; ``elapsed_s`` is the time it reports (preparation
    excluded)."""
    total = ended - started
    preparation = total - elapsed_s
    runs = tuple((label.split()[0], later - at) for (label, at), (_, later) in pairwise(marks))
    return Timing(total, preparation, marks[0][1] - started - preparation, runs, ended - marks[-1][1])


def figure(timing: Timing, days: float) -> report.Figure:
    """The figure; its goal is set for the week the planner runs, not for the quick day."""
    name = f"simulation_s.{days:g}_days_{len(timing.runs_s)}_policies"
    if days != DAYS:
        return report.Figure(name, timing.total_s, "s")
    return report.Figure(name, timing.total_s, "s", goal=f"< {GOAL_S:g} s", met=timing.total_s < GOAL_S)


def _markdown(timing: Timing, found: report.Figure, command: str, simulate: str, load: float) -> str:
    goal = "" if found.goal is None else ("met" if found.met else "**not met**")
    rows = [("preparation (scenario, road index, policies)", timing.preparation_s),
            ("patients (severity model trained out of fold on the KTAS rows), the seed's calls", timing.draws_s),
            *((f"run: {policy}", seconds) for policy, seconds in timing.runs_s),
            ("report (markdown, plots, kpis.csv)", timing.report_s)]  # fmt: skip
    return "\n".join(
        [
            f"## Simulation: `goldentime simulate`, {len(ALL_POLICIES)} policies "
            f"(goal: < {GOAL_S:g} s for {DAYS:g} days)",
            "",
            f"Reproduce with `{command}`. It times `goldentime.simulate.run_what_if` in one process, as "
            f"`{simulate}` runs it (interpreter start-up excluded; the road index comes from the cache under "
            "`var/cache` when it is there). The stages are read off its progress callbacks.",
            "",
            "| stage | time |",
            "|---|---:|",
            *(f"| {stage} | {seconds:.2f} s |" for stage, seconds in rows),
            f"| **total** | **{timing.total_s:.1f} s** {goal} |",
            "",
            f"Load average {load:.2f} at the start; other work may have been running on this machine.",
        ]
    )


def main(*, quick: bool, output: Path, settings: Settings) -> list[report.Figure]:
    days, load = QUICK_DAYS if quick else DAYS, os.getloadavg()[0]
    marks: list[tuple[str, float]] = []
    print(f"simulation benchmark: {days:g} days × {len(ALL_POLICIES)} policies × 1 seed", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        what = WhatIf(days=days, seeds=1, policies=ALL_POLICIES, out=Path(tmp))
        started = time.perf_counter()
        outcome = run_what_if(settings, what, lambda done, total, label: marks.append((label, time.perf_counter())))
        ended = time.perf_counter()
    timing = breakdown(started, marks, ended, outcome.elapsed_s)
    print(f"  {timing}", flush=True)
    found = figure(timing, days)
    command = "goldentime bench --only simulation" + (" --quick" if quick else "")
    simulate = outcome.command.split(" --out=")[0]
    report.write_section(output, "simulation", _markdown(timing, found, command, simulate, load))
    print(f"wrote {output}", flush=True)
    return [found]
