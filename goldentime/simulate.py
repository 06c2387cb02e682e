"""``goldentime simulate``: what-if runs of a city, every policy through the same engine.

:func:`run_what_if` does the work for the command line and the dashboard's what-if page alike, so both
write the same report for the same question; :func:`cmd_simulate` only turns arguments into a :class:`WhatIf`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldentime.settings import Settings
from simulations.errors import SimulationError

if TYPE_CHECKING:  # the simulator loads lazily: `goldentime --help` stays quick
    from dispatch.scenario import Prepared
    from simulations.config import SimConfig
    from simulations.kpis import Interval
    from simulations.patients import SimPatient
    from simulations.policies import Policy
    from simulations.records import RunResult
    from simulations.trace import CallLog

#: ``progress(done, total, label)``: ``done`` of ``total`` runs finished, ``label`` says which runs next.
Progress = Callable[[int, int, str], None]
#: Today's practice first (the baselines GoldenTime is judged against), then the references, then GoldenTime.
ALL_POLICIES = ("phone-around", "egen-greedy", "capable", "nearest", "goldentime", "goldentime-handshake")


class WhatIfError(SimulationError, ValueError):
    """A what-if that cannot run as asked (unknown policy, scenario or centre, bad numbers), with the reason."""


@dataclass(frozen=True)
class WhatIf:
    """What to simulate: the options of ``goldentime simulate``, one field each."""

    scenario: str | None = None  # None: GOLDENTIME_SCENARIO, else the default scenario
    days: float | None = None  # None: the call log's days (``calls``), else 7
    seeds: int = 5
    first_seed: int = 1
    policies: tuple[str, ...] = ALL_POLICIES
    surge: float = 1.0
    close: tuple[str, ...] = ()  # hpids of the centres whose ER is closed
    out: Path = Path("var/simulation")
    calls: Path | None = None  # a fire HQ's call log to replay (simulations.trace); None: the simulator's calls


#: Simulated days of a what-if without ``days`` and without a call log.
DEFAULT_DAYS = 7.0


@dataclass(frozen=True)
class Outcome:
    """What a what-if wrote, the command line that writes it again, and what the report's plots are drawn from
    (so the dashboard draws its own charts from the very numbers of the report)."""

    report: Path
    kpis: Path
    runs: int
    elapsed_s: float  # simulation and report, scenario preparation excluded
    command: str
    #: The policies in the report's order.
    policies: tuple[str, ...] = ()
    #: (policy, metric) -> mean over seeds, 95 % interval: the report's KPI table (``simulations.kpis.summarise``).
    summary: Mapping[tuple[str, str], Interval] = field(default_factory=dict)
    #: policy -> call -> on scene of every call, minutes, all seeds pooled (the report's response-time CDF).
    response_min: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    #: policy -> call -> definitive care of every KTAS 1-2 patient, minutes, all seeds pooled (the report's CDF).
    definitive_ktas12_min: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    #: hpid -> name of the centres the runs simulated (their peak occupancy is ``peak_occupancy_pct_<hpid>``).
    centres: Mapping[str, str] = field(default_factory=dict)


def _policies(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one policy, e.g. phone-around,egen-greedy,goldentime")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a policy is named twice in {value!r}")
    return names


def count(value: str) -> int:
    """An argparse type: a whole number, 1 or more."""
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
    p.add_argument(
        "--days",
        type=positive,
        help="simulated days per run (default 7; with --calls, the log's days; later calls are left out)",
    )
    p.add_argument("--seeds", type=count, default=5, help="seeds per policy (default 5)")
    p.add_argument("--first-seed", type=int, default=1, help="the first seed (default 1)")
    p.add_argument(
        "--policy",
        type=_policies,
        default=list(ALL_POLICIES),
        help=f"comma-separated shipped policies ({','.join(ALL_POLICIES)}: the default, all) or package.module:Class",
    )
    p.add_argument("--surge", type=positive, default=1.0, help="multiply the call rate (default 1.0)")
    p.add_argument(
        "--calls",
        type=Path,
        metavar="FILE.csv",
        help="replay this call log (time,lat,lon,category,ktas; docs/call_log.md) instead of simulated calls",
    )
    p.add_argument("--close", action="append", default=[], metavar="HPID", help="close this centre's ER (repeatable)")
    p.add_argument("--out", type=Path, default=Path("var/simulation"), help="output folder (default var/simulation)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    what = WhatIf(
        scenario=args.scenario,
        days=args.days,
        seeds=args.seeds,
        first_seed=args.first_seed,
        policies=tuple(args.policy),
        surge=args.surge,
        close=tuple(args.close),
        out=args.out,
        calls=args.calls,
    )
    try:
        outcome = run_what_if(settings, what, progress=None if args.quiet else _bar())
    except WhatIfError as exc:
        print(f"goldentime: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        sys.stderr.write("\n")
    print(f"simulated {outcome.runs} runs in {outcome.elapsed_s:.1f} s; wrote {outcome.report} and {outcome.kpis}")
    return 0


def _bar() -> Progress:
    """The terminal's progress bar on stderr, redrawn in place; its clock starts with the command."""
    started = time.perf_counter()

    def draw(done: int, total: int, label: str) -> None:
        width = 30
        filled = width * done // total
        elapsed = time.perf_counter() - started
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {elapsed:5.1f} s {label:<28}")
        sys.stderr.flush()

    return draw


def run_what_if(settings: Settings, what: WhatIf, progress: Progress | None = None) -> Outcome:
    """Simulate every policy on the same draws of each seed and write the report into ``what.out``.

    Raises :class:`WhatIfError` before any run when the question is malformed, so callers can show one line.
    """
    from simulations.engine import draw_city, simulate
    from simulations.patients import ambulance_patients, walkin_ktas_mix
    from simulations.report import write_report
    from simulations.trace import replayed_calls

    policies, name, prepared, config = _load(settings, what)
    log = _call_log(what, prepared)
    days = what.days if what.days is not None else float(log.span_days) if log is not None else DEFAULT_DAYS
    logged = log.within(days) if log is not None else None
    if log is not None and not logged:
        raise WhatIfError(
            f"--calls: no call of {log.path} is within the first {days:g} days (from {log.start:%Y-%m-%d})"
        )
    ktas_file = settings.data_dir / "ktas_triage" / "ktas_triage_moon2019_dev.csv"
    started = time.perf_counter()
    patients = ambulance_patients(ktas_file)
    mix = walkin_ktas_mix(ktas_file)
    seeds = range(what.first_seed, what.first_seed + what.seeds)
    total, done, results = len(seeds) * len(policies), 0, []
    for seed in seeds:
        calls = None if logged is None else replayed_calls(logged, patients, seed=seed)
        draws = draw_city(prepared, config, patients, mix, seed=seed, days=days, surge=what.surge, calls=calls)
        for policy in policies:
            if progress is not None:
                progress(done, total, f"{policy.name} seed {seed}")
            results.append(simulate(prepared, config, draws, policy, days=days, closed=what.close))
            done += 1
    if progress is not None:
        progress(done, total, "done")
    order = {p.name: i for i, p in enumerate(policies)}
    results.sort(key=lambda r: (order[r.policy], r.seed))
    what = replace(what, days=days)
    command = command_line(what, name)
    notes = _notes(prepared, config, log=log, days=days, patients=patients)
    report = write_report(what.out, results, title=_title(prepared, what, log), command=command, notes=notes)
    elapsed_s = time.perf_counter() - started
    return _outcome(report, what.out / "kpis.csv", total, elapsed_s, command, results)


def _outcome(
    report: Path, kpis: Path, runs: int, elapsed_s: float, command: str, results: Sequence[RunResult]
) -> Outcome:
    """The outcome of ``results``, with the numbers the report's plots are drawn from."""
    from simulations.kpis import definitive_minutes, policies_of, response_minutes, summarise

    policies = tuple(policies_of(results))

    def pooled(minutes: Callable[[RunResult], Sequence[float]]) -> dict[str, tuple[float, ...]]:
        return {p: tuple(float(v) for r in results if r.policy == p for v in minutes(r)) for p in policies}

    centres: dict[str, str] = {}
    for result in results:
        for centre in result.centres:
            centres.setdefault(centre.hpid, centre.name)
    return Outcome(
        report,
        kpis,
        runs,
        elapsed_s,
        command,
        policies=policies,
        summary=summarise(results),
        response_min=pooled(lambda r: response_minutes(r.calls).tolist()),
        definitive_ktas12_min=pooled(lambda r: definitive_minutes(r.calls, (1, 2)).tolist()),
        centres=centres,
    )


def _call_log(what: WhatIf, prepared: Prepared) -> CallLog | None:
    """The call log of ``what`` read and checked against the city, or a one-line :class:`WhatIfError`."""
    from simulations.trace import CallLogError, read_call_log

    if what.calls is None:
        return None
    try:
        return read_call_log(what.calls, prepared)
    except CallLogError as exc:
        raise WhatIfError(f"--calls: {exc}") from exc


def command_line(what: WhatIf, scenario: str) -> str:
    """The ``goldentime simulate`` command that runs ``what`` on ``scenario`` (the report's "reproduce with")."""
    options = [f"--scenario={scenario}"]
    options += [f"--calls={what.calls}"] if what.calls is not None else []
    options += [f"--days={what.days:g}"] if what.days is not None else []
    options += [f"--seeds={what.seeds}", f"--first-seed={what.first_seed}", f"--policy={','.join(what.policies)}"]
    options += [f"--surge={what.surge:g}"]
    options += [f"--close={h}" for h in what.close]
    return "goldentime simulate " + shlex.join([*options, f"--out={what.out}"])


def _check(what: WhatIf) -> None:
    """The checks argparse makes on the command line, for callers that build a :class:`WhatIf` themselves."""
    if not what.policies:
        raise WhatIfError("give at least one policy, e.g. phone-around,egen-greedy,goldentime")
    if len(set(what.policies)) != len(what.policies):
        raise WhatIfError(f"a policy is named twice in {','.join(what.policies)!r}")
    days = DEFAULT_DAYS if what.days is None else what.days
    if not days > 0 or not what.surge > 0:
        raise WhatIfError(f"days ({days:g}) and surge ({what.surge:g}) must be greater than 0")
    if what.seeds < 1:
        raise WhatIfError(f"seeds ({what.seeds}) must be 1 or more")
    if what.calls is not None and what.surge != 1.0:
        raise WhatIfError(
            f"--surge ({what.surge:g}) multiplies the simulated call rate; a call log (--calls) is replayed as it is"
        )


def _load(settings: Settings, what: WhatIf) -> tuple[list[Policy], str, Prepared, SimConfig]:
    """The policies, scenario name, prepared scenario and simulation config, or a :class:`WhatIfError`."""
    from dispatch.scenario import ScenarioError
    from loaders.scenarios import default_scenario, load_scenario, prepare, scenario_file
    from simulations.city import simulated_centres
    from simulations.config import load_sim_config
    from simulations.engine import check_coverage
    from simulations.policies import load_policy

    _check(what)
    try:
        policies = [load_policy(name) for name in what.policies]
    except ValueError as exc:
        raise WhatIfError(str(exc)) from exc
    name = what.scenario or settings.scenario or default_scenario(settings.data_dir)
    try:
        scenario = load_scenario(name, settings.data_dir)
        config = load_sim_config(scenario_file(name))
        prepared = prepare(scenario, cache_dir=settings.cache_dir)
        check_coverage(scenario, prepared, config)
    except ScenarioError as exc:
        raise WhatIfError(str(exc)) from exc
    unknown = set(what.close) - {c.hpid for c in prepared.scenario.centres}
    if unknown:
        raise WhatIfError(f"--close: {', '.join(sorted(unknown))} is not a centre of {name}")
    if not {c.hpid for c in simulated_centres(prepared, config)} - set(what.close):
        raise WhatIfError(f"--close: every centre of {name} would be closed; keep at least one open")
    return policies, name, prepared, config


def _title(prepared: Prepared, what: WhatIf, log: CallLog | None = None) -> str:
    text = f"{DEFAULT_DAYS if what.days is None else what.days:g} days × {what.seeds} seeds"
    if log is not None:
        text = f"call log {log.path.name} from {log.start:%Y-%m-%d}, {text}"
    if what.surge != 1.0:
        text += f", surge ×{what.surge:g}"
    if what.close:
        text += ", closed: " + ", ".join(what.close)
    return f"{prepared.scenario.title}: {text}"


def _notes(
    prepared: Prepared,
    config: SimConfig,
    *,
    log: CallLog | None = None,
    days: float = DEFAULT_DAYS,
    patients: tuple[SimPatient, ...] = (),
) -> str:
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
            f"{_calls_note(config, log, days, patients)} Walk-ins keep "
            f"{config.walkin_occupancy:.0%} of each ER's beds busy on average. Centres post beds and teams every "
            f"{config.report_interval_min:g} min. Assumptions: simulations/config.py, simulations/demand.py, "
            "simulations/patients.py and docs/simulation.md.",
        ]
    )


def _calls_note(config: SimConfig, log: CallLog | None, days: float, patients: tuple[SimPatient, ...]) -> str:
    """Where the calls come from: the simulator's rate, or the replayed log (what was left out, what was matched)."""
    from simulations.trace import PatientMatcher

    if log is None:
        return f"Calls: {config.calls_per_day:g} per day before surge."
    replayed = log.within(days)
    offset = log.start.strftime("%z")
    text = (
        f"Calls: replayed from the call log {log.path.name}: {len(replayed)} calls from "
        f"{log.start:%Y-%m-%d} 00:00 (UTC{offset[:3]}:{offset[3:]}), the run's start, over {days:g} days"
    )
    left = len(log.calls) - len(replayed)
    if left:
        text += f"; {left} later {'call of the log is' if left == 1 else 'calls of the log are'} left out (--days)."
    else:
        text += "."
    fallbacks = PatientMatcher(patients).fallbacks(replayed) if patients else 0
    if fallbacks:
        text += (
            f" {fallbacks} of them had no catalogue patient of both their KTAS and their category: their patients "
            "are drawn from their KTAS alone (unknown KTAS: from every patient)."
        )
    return text + " Patients: drawn by KTAS and category from the catalogue, per seed (docs/call_log.md)."
