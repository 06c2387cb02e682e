"""Compare router settings in the simulator: GoldenTime with ``RouterConfig`` overrides against egen-greedy,
paired over the same seeds (the same calls, patients and centre answers).

    .venv/bin/python tools/router_variants.py --scenario gwangju --seeds 5 \\
        --variant 'cover0:{"coverage_s_per_s": 0}' --variant 'cover5:{"coverage_s_per_s": 5}'

Prints, per variant and KPI, the mean and the paired difference with egen-greedy [95 % interval]. For
weighing a router setting before it is changed; the shipped evaluation is ``goldentime simulate``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from dispatch.router import RouterConfig
from goldentime.settings import Settings
from goldentime.simulate import WhatIf, _load
from simulations.engine import draw_city, simulate
from simulations.kpis import RunTable, paired_from, run_metrics
from simulations.patients import ambulance_patients, walkin_ktas_mix
from simulations.policies import GoldenTime, Policy, load_policy

METRICS = (
    "golden_time_share",
    "definitive_care_min_ktas12",
    "response_p90_min",
    "coverage_8min_pct",
    "over_triage_pct",
    "secondary_transfer_pct",
)


def _variant(text: str) -> tuple[str, dict[str, float]]:
    name, _, overrides = text.partition(":")
    fields = {f.name for f in dataclasses.fields(RouterConfig)}
    try:
        values = json.loads(overrides)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: the overrides are not JSON ({exc.msg})") from None
    if not name or not isinstance(values, dict) or not set(values) <= fields:
        raise argparse.ArgumentTypeError(f"{text!r}: give name:{{field: value}} with RouterConfig fields")
    return name, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="seoul-central")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--surge", type=float, default=1.0)
    parser.add_argument("--variant", type=_variant, action="append", default=[], help="name:{RouterConfig overrides}")
    args = parser.parse_args()
    settings = Settings()
    what = WhatIf(args.scenario, args.days, 1, 1, ("egen-greedy",), args.surge, (), Path("var/router-variants"))
    _, _, prepared, config = _load(settings, what)
    triage = settings.data_dir / "ktas_triage" / "ktas_triage_moon2019_dev.csv"
    patients, mix = ambulance_patients(triage), walkin_ktas_mix(triage)
    variants = [("shipped", {}), *args.variant]
    table: RunTable = {}
    for seed in range(1, args.seeds + 1):
        draws = draw_city(prepared, config, patients, mix, seed=seed, days=args.days, surge=args.surge)
        runs: list[tuple[str, Policy]] = [("egen-greedy", load_policy("egen-greedy"))]
        runs += [(name, GoldenTime(dataclasses.replace(RouterConfig(), **kw))) for name, kw in variants]
        for name, policy in runs:
            table[(name, seed)] = run_metrics(simulate(prepared, config, draws, policy, days=args.days))
    for name, _ in variants:
        print(name)
        found = paired_from(table, "egen-greedy", name)
        for metric in METRICS:
            mine, diff = found[metric].candidate, found[metric].difference
            print(
                f"  {metric:28} {mine.mean:8.2f}  vs egen-greedy {diff.mean:+.2f} [{diff.low:+.2f}, {diff.high:+.2f}]"
            )


if __name__ == "__main__":
    main()
