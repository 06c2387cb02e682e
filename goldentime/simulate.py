"""``goldentime simulate``: what-if runs of a city, every policy through the same engine."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from goldentime.settings import Settings


def _policies(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one policy, e.g. nearest,capable,goldentime")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a policy is named twice in {value!r}")
    return names


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be 1 or more")
    return number


def add_parser(sub: Any, positive: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a city and compare routing policies (KPIs, plots, kpis.csv)",
        description="Run the discrete-event simulator of a scenario for each policy and seed (the same calls, "
        "patients and walk-ins for every policy), then write report.md, plots and kpis.csv "
        "(policy,seed,metric,value) into --out.",
    )
    p.add_argument("--scenario", help="scenario name (default: GOLDENTIME_SCENARIO, else the default scenario)")
    p.add_argument("--days", type=positive, default=7.0, help="simulated days per run (default 7)")
    p.add_argument("--seeds", type=_count, default=5, help="seeds per policy (default 5)")
    p.add_argument("--first-seed", type=int, default=1, help="the first seed (default 1)")
    p.add_argument(
        "--policy",
        type=_policies,
        default=["nearest", "capable", "goldentime"],
        help="comma-separated: nearest, capable, goldentime or package.module:Class (default: all three)",
    )
    p.add_argument("--surge", type=positive, default=1.0, help="multiply the call rate (default 1.0)")
    p.add_argument("--close", action="append", default=[], metavar="HPID", help="close this centre's ER (repeatable)")
    p.add_argument("--out", type=Path, default=Path("var/simulation"), help="output folder (default var/simulation)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_simulate)


def _bar(done: int, total: int, label: str, started: float) -> None:
    width = 30
    filled = width * done // total
    elapsed = time.perf_counter() - started
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {elapsed:5.1f} s {label:<28}")
    sys.stderr.flush()


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from dispatch.scenario import ScenarioError, load_scenario, prepare, scenario_file
    from goldentime.cli import _scenario_name
    from simulations.config import load_sim_config
    from simulations.engine import check_coverage, draw_city, simulate
    from simulations.patients import ambulance_patients, walkin_ktas_mix
    from simulations.policies import load_policy
    from simulations.report import write_report

    try:
        policies = [load_policy(name) for name in args.policy]
    except ValueError as exc:
        print(f"goldentime: error: {exc}", file=sys.stderr)
        return 2
    name = _scenario_name(settings, args.scenario)
    try:
        scenario = load_scenario(name, settings.data_dir)
        config = load_sim_config(scenario_file(name))
        prepared = prepare(scenario, cache_dir=settings.cache_dir)
        check_coverage(scenario, prepared, config)
        unknown = set(args.close) - {c.hpid for c in prepared.scenario.centres}
        if unknown:
            raise ScenarioError(f"--close: {', '.join(sorted(unknown))} is not a centre of {name}")
    except ScenarioError as exc:
        print(f"goldentime: error: {exc}", file=sys.stderr)
        return 2
    ktas_file = settings.data_dir / "ktas_triage" / "ktas_triage_moon2019_dev.csv"
    started = time.perf_counter()
    patients = ambulance_patients(ktas_file)
    mix = walkin_ktas_mix(ktas_file)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    total, done, results = len(seeds) * len(policies), 0, []
    for seed in seeds:
        draws = draw_city(prepared, config, patients, mix, seed=seed, days=args.days, surge=args.surge)
        for policy in policies:
            if not args.quiet:
                _bar(done, total, f"{policy.name} seed {seed}", started)
            results.append(simulate(prepared, config, draws, policy, days=args.days, closed=args.close))
            done += 1
    if not args.quiet:
        _bar(done, total, "done", started)
        sys.stderr.write("\n")
    order = {p.name: i for i, p in enumerate(policies)}
    results.sort(key=lambda r: (order[r.policy], r.seed))
    options = [f"--scenario={name}", f"--days={args.days:g}", f"--seeds={args.seeds}"]
    options += [f"--first-seed={args.first_seed}", f"--policy={','.join(args.policy)}", f"--surge={args.surge:g}"]
    options += [f"--close={h}" for h in args.close]
    command = "goldentime simulate " + shlex.join([*options, f"--out={args.out}"])
    notes = _notes(prepared, config)
    report = write_report(args.out, results, title=_title(prepared, args), command=command, notes=notes)
    elapsed = time.perf_counter() - started
    print(f"simulated {total} runs in {elapsed:.1f} s; wrote {report} and {args.out / 'kpis.csv'}")
    return 0


def _title(prepared: Any, args: argparse.Namespace) -> str:
    what = f"{args.days:g} days × {args.seeds} seeds"
    if args.surge != 1.0:
        what += f", surge ×{args.surge:g}"
    if args.close:
        what += ", closed: " + ", ".join(args.close)
    return f"{prepared.scenario.title}: {what}"


def _notes(prepared: Any, config: Any) -> str:
    scenario = prepared.scenario
    eta = (
        "Travel times on the road graph (exact)."
        if prepared.exact
        else "**APPROXIMATE travel times**: no road graph for this scenario, great-circle distance × detour factor."
    )
    centres = ", ".join(f"{c.name} ({c.hpid}, level {c.level}, {config.beds_of(c)} ER beds)" for c in scenario.centres)
    return "\n".join(
        [
            eta,
            "",
            f"Centres: {centres}.",
            f"Ambulances: {scenario.fleet_size} at {len(scenario.stations)} safety centres. "
            f"Calls: {config.calls_per_day:g} per day before surge. Walk-ins keep "
            f"{config.walkin_occupancy:.0%} of each ER's beds busy on average. Centres post beds and teams every "
            f"{config.report_interval_min:g} min. Assumptions: simulations/config.py, simulations/demand.py, "
            "simulations/patients.py and docs/simulation.md.",
        ]
    )
