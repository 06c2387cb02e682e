"""``goldentime sensitivity``: where GoldenTime wins, ties or loses against today's practice, assumption by assumption.

Runs the grid of :mod:`simulations.sensitivity` (one assumption of the scenario's simulated city changed at a
time), pairs GoldenTime against ``phone-around`` and ``egen-greedy`` seed by seed on the golden-time share, the time
to definitive care of KTAS 1-2 patients and the response time's 90th percentile, and writes the table as markdown
(also printed), so a medical director sees how much the result depends on each assumption.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from goldentime.settings import Settings
from goldentime.simulate import count

#: simulations.sensitivity.FACTORS (the simulator loads lazily)
FACTORS = ("walkin", "report", "fleet", "surge", "severity", "stabilise")
DEFAULT_OUT = Path("var/sensitivity/sensitivity.md")


def _factors(value: str) -> tuple[str, ...]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"give at least one factor of {','.join(FACTORS)}")
    unknown = [n for n in names if n not in FACTORS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown factor {unknown[0]!r}; the factors are {','.join(FACTORS)}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a factor is named twice in {value!r}")
    return tuple(f for f in FACTORS if f in names)  # the table's order, whatever the order given


def add_parser(sub: Any, positive: Any) -> None:
    p = sub.add_parser(
        "sensitivity",
        help="where GoldenTime wins, ties or loses against today's practice, assumption by assumption",
        description="Change one assumption of the scenario's simulated city at a time (walk-in occupancy, "
        "report interval, fleet, surge, the severity GoldenTime is told, its stabilise rule), run phone-around, "
        "egen-greedy and goldentime on the same draws of every seed, and pair goldentime against each baseline "
        "on the golden-time share, the time to definitive care of KTAS 1-2 and the response p90. Writes the "
        "markdown table to --out and prints it.",
    )
    p.add_argument("--scenario", help="scenario name (default: GOLDENTIME_SCENARIO, else the default scenario)")
    p.add_argument("--seeds", type=count, default=3, help="seeds per cell, 1, 2, ... (default 3)")
    p.add_argument("--days", type=positive, default=3.0, help="simulated days per run (default 3)")
    p.add_argument(
        "--factors",
        type=_factors,
        default=FACTORS,
        help=f"comma-separated, only these factors (default: all of {','.join(FACTORS)})",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the markdown file (default {DEFAULT_OUT})")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_sensitivity)


def command_line(scenario: str, seeds: int, days: float, factors: tuple[str, ...], out: Path) -> str:
    """The ``goldentime sensitivity`` command that writes the same table again."""
    options = [f"--scenario={scenario}", f"--seeds={seeds}", f"--days={days:g}", f"--factors={','.join(factors)}"]
    return "goldentime sensitivity " + shlex.join([*options, f"--out={out}"])


def cmd_sensitivity(settings: Settings, args: argparse.Namespace) -> int:
    from goldentime.simulate import WhatIf, WhatIfError, _load
    from simulations.patients import ambulance_patients, walkin_ktas_mix
    from simulations.sensitivity import POLICIES, Cell, grid, render, run_grid

    try:
        _, name, prepared, config = _load(settings, WhatIf(scenario=args.scenario, policies=POLICIES))
    except WhatIfError as exc:
        print(f"goldentime: error: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    if out.is_dir():
        print(f"goldentime: error: --out {out} is a directory; give the markdown file's path", file=sys.stderr)
        return 2
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"goldentime: error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    quiet: bool = args.quiet
    started = time.perf_counter()

    def say(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    def progress(done: int, total: int, cell: Cell, seconds: float) -> None:
        total_s = time.perf_counter() - started
        say(f"[{done}/{total}] {cell.factor} {cell.value}: {seconds:.1f} s (total {total_s:.0f} s)")

    say("scoring the patients out of fold (the severity model, once)...")
    ktas_file = settings.data_dir / "ktas_triage" / "ktas_triage_moon2019_dev.csv"
    patients, mix = ambulance_patients(ktas_file), walkin_ktas_mix(ktas_file)
    seeds = list(range(1, args.seeds + 1))
    cells = grid(args.factors)
    rows = run_grid(prepared, config, patients, mix, cells, seeds=seeds, days=args.days, progress=progress)
    text = render(
        rows,
        title=prepared.scenario.title,
        command=command_line(name, args.seeds, args.days, args.factors, out),
        seeds=seeds,
        days=args.days,
        config=config,
        stations=prepared.scenario.stations,
    )
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"goldentime: error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(text, end="")
    say(f"wrote {out}: {len(cells)} cells in {time.perf_counter() - started:.0f} s")
    return 0
