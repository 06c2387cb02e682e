"""``goldentime calibrate``: fit a scenario's simulated city to Korea's published figures.

Runs today's practice (the ``phone-around`` policy) on the scenario and bisects the parameters of
:mod:`simulations.calibration` until each target is met, then prints the fitted ``[simulation]``
values to put in the scenario's TOML file and the table of targets, sources and simulated values
(docs/simulation.md carries it for the shipped scenarios).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from goldentime.settings import Settings
from goldentime.simulate import count

POLICY = "phone-around"


def add_parser(sub: Any, positive: Any) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit a scenario's simulated city to Korea's published EMS figures",
        description="Bisect the simulator's assumptions (calls per day, time to roll, time on scene, symptom "
        "onset, phone call length) until today's practice (crews phoning centres from the scene) matches Korea's "
        "published figures for the scenario's region; print the fitted [simulation] values and the table.",
    )
    p.add_argument("--scenario", help="scenario name (default: GOLDENTIME_SCENARIO or the data's default)")
    p.add_argument("--days", type=positive, default=5.0, help="simulated days per run (default 5)")
    p.add_argument("--seeds", type=count, default=3, help="seeds per run (default 3)")
    p.add_argument("--passes", type=count, default=3, help="passes over the parameters (default 3)")
    p.add_argument(
        "--measure-only", action="store_true", help="fit nothing: the scenario as shipped beside every target"
    )
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(settings: Settings, args: argparse.Namespace) -> int:
    from goldentime.simulate import WhatIf, WhatIfError, _load
    from simulations.calibration import fit, table, targets
    from simulations.engine import draw_city, simulate
    from simulations.patients import ambulance_patients, walkin_ktas_mix

    try:
        policies, name, prepared, config = _load(settings, WhatIf(scenario=args.scenario, policies=(POLICY,)))
    except WhatIfError as exc:
        print(f"goldentime: error: {exc}", file=sys.stderr)
        return 2
    ktas_file = settings.data_dir / "ktas_triage" / "ktas_triage_moon2019_dev.csv"
    patients, mix = ambulance_patients(ktas_file), walkin_ktas_mix(ktas_file)
    (policy,) = policies
    seeds = range(1, args.seeds + 1)

    def run(candidate: Any) -> list[Any]:
        out = []
        for seed in seeds:
            draws = draw_city(prepared, candidate, patients, mix, seed=seed, days=args.days)
            out.append(simulate(prepared, candidate, draws, policy, days=args.days))
        return out

    goals = targets(name.split("-")[0])
    started = time.perf_counter()
    if args.measure_only:
        measured = run(config)
        print(f"measured {name} as shipped in {time.perf_counter() - started:.0f} s "
              f"({args.seeds} seeds × {args.days:g} days of {POLICY}):\n")  # fmt: skip
        print(table(goals, {t.key: t.measure(measured) for t in goals}))
        return 0
    before = {t.key: t.measure(run(config)) for t in goals}
    result = fit(config, run, goals, passes=args.passes)
    print(f"calibrated {name} in {time.perf_counter() - started:.0f} s ({result.evaluations} evaluations, "
          f"{args.seeds} seeds × {args.days:g} days of {POLICY}); put these in the [simulation] table:")  # fmt: skip
    for parameter, value in result.parameters.items():
        if parameter == "onset_scale":  # a multiplier of the onset medians: the table's own key
            medians = ", ".join(f"{k} = {v:.4g}" for k, v in result.config.onset_median_min.items())
            print(f"  onset_median_min = {{ {medians} }}")
        else:
            print(f"  {parameter} = {value:.4g}")
    print()
    print(table(goals, result.measured, before))
    return 0
