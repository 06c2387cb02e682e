"""The sensitivity grid (issue 22, item 5): how much GoldenTime's result rests on each assumption of the city.

One factor at a time around the scenario as it is (its own fitted ``[simulation]`` values): each *cell* changes
one assumption, runs today's practice (``phone-around``, ``egen-greedy``) and GoldenTime on the same draws of
every seed, and pairs GoldenTime against each baseline, seed by seed (:func:`simulations.kpis.paired`), on the
three headline metrics. A medical director reads across a row whether GoldenTime still wins, only ties, or loses
when that assumption is wrong.

The factors (:data:`FACTORS`):

- ``walkin``: walk-in occupancy, the share of each ER's beds its other patients keep busy (0.6, 0.75, 0.9);
- ``report``: how often centres post their beds and teams, what GoldenTime sees (5, 30, 60 min);
- ``fleet``: ambulances −30 %, as is, +30 % (:func:`scale_fleet`; the calls stay those of the scenario's fleet);
- ``surge``: the call rate × 1, 1.5, 2 (walk-ins rise half as much: :func:`simulations.engine.surge_walkins`);
- ``severity``: what GoldenTime is told of how sick the patient is: the model's out-of-fold assessment with the
  crew's Pre-KTAS (R-CREW, as shipped; the triage nurse's KTAS stands in for the crew's grade), the model alone
  as if crews sent no Pre-KTAS (:class:`ModelOnlyGoldenTime`), or the crew's grade alone
  (:class:`CrewSeverityGoldenTime`);
- ``stabilise``: GoldenTime's stabilise-first rule (R-UNSTABLE) on, as shipped, or off: what the rule costs in time.

A cell equal to the scenario as it is (e.g. fleet "as is") is the same runs as every other such cell: they are
run once. Same scenario, cells, seeds and days: the same table, byte for byte.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dispatch.pathways import StabiliseRule
from dispatch.router import RouterConfig
from dispatch.scenario import Prepared, Station
from dispatch.severity.model import Severity
from simulations.config import SimConfig
from simulations.engine import draw_city, simulate
from simulations.kpis import CANDIDATE, NOT_APPLICABLE, TIE, WIN, Paired, paired
from simulations.patients import ModelOnly, SimPatient
from simulations.policies import EgenGreedy, GoldenTime, PhoneAround, Policy
from simulations.records import RunResult
from simulations.report import format_difference
from simulations.world import Call, Trip, World
from telemetry.schemas import Decider

#: The factors of the grid, in the table's order (``--factors`` names).
FACTORS: tuple[str, ...] = ("walkin", "report", "fleet", "surge", "severity", "stabilise")
#: Today's practice, each paired against GoldenTime.
BASELINES: tuple[str, ...] = ("phone-around", "egen-greedy")
POLICIES: tuple[str, ...] = (*BASELINES, CANDIDATE)
#: The metrics of the table: (metric, its heading).
METRICS: tuple[tuple[str, str], ...] = (
    ("golden_time_share", "golden-time share (%)"),
    ("definitive_care_min_ktas12", "to definitive care, KTAS 1-2 (min)"),
    ("response_p90_min", "response p90 (min)"),
)
MODEL, MODEL_ONLY, CREW = "model", "model-only", "crew"
WALKIN_OCCUPANCY = (0.6, 0.75, 0.9)
REPORT_INTERVAL_MIN = (5.0, 30.0, 60.0)
FLEET_FACTOR = (0.7, 1.0, 1.3)
SURGE = (1.0, 1.5, 2.0)


# --- the grid -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One cell of the grid: the scenario with one assumption changed."""

    factor: str  # one of FACTORS
    value: str  # the changed value as the table shows it
    config: tuple[tuple[str, float], ...] = ()  # SimConfig fields replaced
    fleet: float = 1.0  # ambulances × this (scale_fleet)
    surge: float = 1.0  # draw_city's surge
    #: what GoldenTime is told: the model with the crew's Pre-KTAS (R-CREW; the nurse's KTAS stands in), the model
    #: alone (no Pre-KTAS sent), or the crew's grade alone
    severity: str = MODEL
    stabilise: bool = True  # GoldenTime's stabilise-first rule (R-UNSTABLE) on, as shipped

    def sim_config(self, base: SimConfig) -> SimConfig:
        changes: dict[str, Any] = dict(self.config)
        return dataclasses.replace(base, **changes) if changes else base

    def runs(self, base: SimConfig) -> tuple[object, ...]:
        """What makes this cell's runs: cells with equal keys run the same (only what differs from ``base``)."""
        changed = tuple((name, value) for name, value in self.config if getattr(base, name) != value)
        return (changed, self.fleet, self.surge, self.severity, self.stabilise)

    def as_is(self, base: SimConfig) -> bool:
        """The cell is the scenario itself."""
        return self.runs(base) == ((), 1.0, 1.0, MODEL, True)


def _percent(factor: float) -> str:
    change = round((factor - 1.0) * 100)
    return "as is" if change == 0 else f"{'+' if change > 0 else '−'}{abs(change)} %"


def grid(factors: Sequence[str] = FACTORS) -> tuple[Cell, ...]:
    """The cells of ``factors``, in :data:`FACTORS` order whatever the order asked."""
    unknown = [f for f in factors if f not in FACTORS]
    if unknown:
        raise ValueError(f"unknown factor {unknown[0]!r}; the factors are {', '.join(FACTORS)}")
    cells: dict[str, list[Cell]] = {
        "walkin": [Cell("walkin", f"{v:g}", (("walkin_occupancy", v),)) for v in WALKIN_OCCUPANCY],
        "report": [Cell("report", f"{v:g} min", (("report_interval_min", v),)) for v in REPORT_INTERVAL_MIN],
        "fleet": [Cell("fleet", _percent(v), fleet=v) for v in FLEET_FACTOR],
        "surge": [Cell("surge", f"×{v:g}", surge=v) for v in SURGE],
        "severity": [
            Cell("severity", "model + crew Pre-KTAS", severity=MODEL),
            Cell("severity", "model only", severity=MODEL_ONLY),
            Cell("severity", "crew only (nurse's KTAS)", severity=CREW),
        ],
        "stabilise": [Cell("stabilise", "on"), Cell("stabilise", "off", stabilise=False)],
    }
    return tuple(cell for factor in FACTORS if factor in factors for cell in cells[factor])


def scale_fleet(stations: Sequence[Station], factor: float) -> tuple[Station, ...]:
    """The stations with ``factor`` × the ambulances: the fleet's total rounded (half up, at least 1), shared out
    in proportion by largest remainder, every station that had one keeping at least one while the total allows.

    A station's share is ``ambulances × factor``; each keeps its whole part (at least 1), then units are added to
    the largest remainders, or taken from the smallest (from stations with two or more first), ties in the
    stations' order (added to the first, taken from the last). When the total is below the number of stations
    (11 single-ambulance stations at −30 %), the last stations are left without one and dropped."""
    if not factor > 0:
        raise ValueError(f"the fleet factor must be greater than 0, got {factor!r}")
    share = [s.ambulances * factor for s in stations]
    total = sum(s.ambulances for s in stations)
    target = max(1, math.floor(total * factor + 0.5)) if total else 0
    counts = [max(1, math.floor(x)) if s.ambulances > 0 else 0 for s, x in zip(stations, share, strict=True)]
    staffed = [i for i, s in enumerate(stations) if s.ambulances > 0]
    while sum(counts) < target:
        k = min(staffed, key=lambda i: (counts[i] - share[i], i))
        counts[k] += 1
    while sum(counts) > target:
        k = min((i for i in staffed if counts[i] > 0), key=lambda i: (counts[i] < 2, share[i] - counts[i], -i))
        counts[k] -= 1
    return tuple(dataclasses.replace(s, ambulances=n) for s, n in zip(stations, counts, strict=True) if n > 0)


def with_fleet(prepared: Prepared, factor: float) -> Prepared:
    """``prepared`` with its fleet scaled (:func:`scale_fleet`); itself when ``factor`` is 1."""
    if factor == 1.0:
        return prepared
    scenario = dataclasses.replace(prepared.scenario, stations=scale_fleet(prepared.scenario.stations, factor))
    return dataclasses.replace(prepared, scenario=scenario)


# --- the crew's own severity -------------------------------------------------------------------------------


def crew_severity(patient: SimPatient) -> Severity:
    """The crew's own judgement as the engine holds a severity: the triage nurse's KTAS, taken at its word
    (p_critical 1 for KTAS 1-2, else 0; p_emergency 1 for KTAS 1-3, else 0). The crew flags still name the
    patient's pathways (the engine reads them from the vitals). No nurse's level: the model's assessment."""
    level = patient.ktas_nurse
    if level is None:
        return patient.graded(None)
    return Severity(level, float(level <= 2), float(level <= 3), (), level <= 2, level, Decider.CREW)


@dataclass(frozen=True)
class CrewJudged(SimPatient):
    """A patient whose assessment is the crew's own (:func:`crew_severity`), not the model's."""

    @classmethod
    def of(cls, patient: SimPatient) -> CrewJudged:
        return cls(**{f.name: getattr(patient, f.name) for f in dataclasses.fields(patient)})

    @property
    def assessment(self) -> Severity:
        return crew_severity(self)


class CrewSeverityGoldenTime(GoldenTime):
    """GoldenTime told the crew's severity (:func:`crew_severity`) instead of the model's: every patient it is
    asked about has their vitals scored, and their advice planned, on the triage nurse's KTAS. Named
    ``goldentime``: it stands in for GoldenTime in the severity cell's pairings."""

    def destination(self, world: World, trip: Trip) -> str:
        call = trip.call
        judged = Call(call.id, call.t, call.lat, call.lon, CrewJudged.of(call.patient))
        return super().destination(world, dataclasses.replace(trip, call=judged))


class ModelOnlyGoldenTime(GoldenTime):
    """GoldenTime whose crews send no Pre-KTAS (:class:`simulations.patients.ModelOnly`): the model's assessment
    with the crew flags alone, as GoldenTime v1 had. Named ``goldentime``, as :class:`CrewSeverityGoldenTime`."""

    def destination(self, world: World, trip: Trip) -> str:
        call = trip.call
        judged = Call(call.id, call.t, call.lat, call.lon, ModelOnly.of(call.patient))
        return super().destination(world, dataclasses.replace(trip, call=judged))


def policy_for(name: str, cell: Cell) -> Policy:
    """A fresh policy of ``name`` (:data:`POLICIES`) for a run of ``cell``."""
    if name == "phone-around":
        return PhoneAround()
    if name == "egen-greedy":
        return EgenGreedy()
    if name == CANDIDATE:
        config = RouterConfig() if cell.stabilise else RouterConfig(stabilise=StabiliseRule(enabled=False))
        if cell.severity == CREW:
            return CrewSeverityGoldenTime(config)
        return ModelOnlyGoldenTime(config) if cell.severity == MODEL_ONLY else GoldenTime(config)
    raise ValueError(f"{name!r} is not a policy of the sensitivity grid ({', '.join(POLICIES)})")


# --- running the grid -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One cell and its runs (every policy of :data:`POLICIES` × every seed)."""

    cell: Cell
    as_is: bool
    ambulances: int  # the fleet of the cell's runs
    results: tuple[RunResult, ...]


#: ``progress(done, total, cell, seconds)``: cell ``done`` of ``total`` finished, in ``seconds`` (0: reused runs).
Progress = Callable[[int, int, Cell, float], None]


def run_grid(
    prepared: Prepared,
    config: SimConfig,
    patients: Sequence[SimPatient],
    walkin_mix: Sequence[float],
    cells: Sequence[Cell],
    *,
    seeds: Sequence[int],
    days: float,
    progress: Progress | None = None,
) -> list[Row]:
    """Every cell's runs: each policy on the same draws of each seed. The calls (times, places, patients) of a
    cell are drawn on the scenario's own fleet, so a fleet cell changes the ambulances, not the calls. Runs that
    do not depend on what a cell changes (the baselines in the severity cell, cells equal to the scenario) are
    run once and shared."""
    done: dict[tuple[str, int, object], RunResult] = {}
    rows = []
    for k, cell in enumerate(cells, 1):
        started = time.perf_counter()
        sim_config = cell.sim_config(config)
        fleet = with_fleet(prepared, cell.fleet)
        key = cell.runs(config)
        baseline_key = (*key[:3], MODEL, True)  # the baselines never read GoldenTime's severity or rules
        results = []
        for seed in seeds:
            draws = None
            for name in POLICIES:
                run_key = (name, seed, key if name == CANDIDATE else baseline_key)
                if run_key not in done:
                    if draws is None:
                        draws = draw_city(
                            prepared, sim_config, patients, walkin_mix, seed=seed, days=days, surge=cell.surge
                        )
                    done[run_key] = simulate(fleet, sim_config, draws, policy_for(name, cell), days=days)
                results.append(done[run_key])
        rows.append(Row(cell, cell.as_is(config), fleet.scenario.fleet_size, tuple(results)))
        if progress is not None:
            progress(k, len(cells), cell, time.perf_counter() - started)
    return rows


# --- the table ------------------------------------------------------------------------------------------------


def entry(comparison: Paired | None) -> str:
    """``+x.x [lo, hi] verdict`` (the verdict in bold when GoldenTime loses); ``— n/a`` without a value."""
    if comparison is None:
        return "— n/a"
    word = comparison.verdict if comparison.verdict in (WIN, TIE, NOT_APPLICABLE) else f"**{comparison.verdict}**"
    return f"{format_difference(comparison.difference, 1)} {word}"


def _value_text(row: Row, scenario_fleet: int) -> str:
    text = row.cell.value
    if row.cell.factor == "fleet" and row.cell.fleet != 1.0:
        text += f" ({row.ambulances} ambulances)"
    elif row.cell.factor == "fleet":
        text = f"as is ({scenario_fleet} ambulances)"
    return f"{text} (as is)" if row.as_is and not text.startswith("as is") else text


def table(rows: Sequence[Row], *, scenario_fleet: int) -> list[str]:
    """The markdown table: a row per cell, for each baseline × metric the paired difference and its verdict."""
    heads = [f"vs {b}: {label}" for b in BASELINES for _, label in METRICS]
    lines = [
        "| factor | value | " + " | ".join(heads) + " |",
        "|---|---|" + "---:|" * len(heads),
    ]
    for row in rows:
        entries = []
        for baseline in BASELINES:
            comparisons = paired(row.results, baseline, CANDIDATE)
            entries += [entry(comparisons.get(metric)) for metric, _ in METRICS]
        lines.append(f"| {row.cell.factor} | {_value_text(row, scenario_fleet)} | " + " | ".join(entries) + " |")
    return lines


def render(
    rows: Sequence[Row],
    *,
    title: str,
    command: str,
    seeds: Sequence[int],
    days: float,
    config: SimConfig,
    stations: Sequence[Station],
) -> str:
    """The whole markdown file: title, the command that writes it again, how to read it, the table, the notes."""
    fleet = sum(s.ambulances for s in stations)
    seed_text = f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"{seeds[0]}"
    lines = [
        f"# Sensitivity of GoldenTime's result: {title}",
        "",
        f"Reproduce with: `{command}`",
        "",
        f"Seeds {seed_text} × {days:g} days per cell; {', '.join(POLICIES)} on the same draws of "
        "each seed. One assumption at a time around the scenario as it is (walk-in occupancy "
        f"{config.walkin_occupancy:g}, reports every {config.report_interval_min:g} min, {fleet} ambulances, "
        "surge ×1, the model's severity); *(as is)* marks a cell that is the scenario itself.",
        "",
        "Each entry: goldentime − baseline, the mean of the per-seed differences [95 % confidence interval, "
        "Student's t] and the verdict: win if the interval excludes 0 on the better side (higher is better for "
        "the golden-time share, lower for the times), **loss** on the worse side, tie if it includes 0, n/a with "
        "fewer than 2 seeds with a value.",
        "",
        *table(rows, scenario_fleet=fleet),
        "",
        *_notes(rows, stations),
    ]
    return "\n".join(lines) + "\n"


def _notes(rows: Sequence[Row], stations: Sequence[Station]) -> list[str]:
    factors = {row.cell.factor for row in rows}
    notes = []
    if "walkin" in factors:
        notes.append("walkin: the share of each ER's beds its walk-in patients alone keep busy on average.")
    if "report" in factors:
        notes.append("report: minutes between a centre's postings of beds and teams (what GoldenTime sees).")
    if "fleet" in factors:
        text = (
            "fleet: the ambulances of every station × the factor, the total rounded and shared out by largest "
            "remainder; the calls are those of the scenario's fleet."
        )
        for row in rows:
            if row.cell.factor == "fleet" and row.cell.fleet < 1.0:
                kept = {s.name for s in scale_fleet(stations, row.cell.fleet)}
                empty = [s.name for s in stations if s.ambulances > 0 and s.name not in kept]
                if empty:
                    text += f" At {row.cell.value} these stations are left without one: {', '.join(empty)}."
        notes.append(text)
    if "surge" in factors:
        notes.append("surge: the 119 call rate × the factor; walk-ins rise half as much.")
    if "severity" in factors:
        notes.append(
            "severity: what GoldenTime is told of the patient's severity: the model's out-of-fold assessment (as "
            "shipped), or the crew's own, the triage nurse's KTAS taken at its word (critical for KTAS 1-2). The "
            "baselines always judge by the nurse's KTAS, so only GoldenTime's runs change."
        )
    if "stabilise" in factors:
        notes.append(
            "stabilise: GoldenTime's stabilise-first rule (R-UNSTABLE: SpO2 < 80 %, breathing < 8/min or systolic "
            "< 70 mmHg go to the nearest open ER), on as shipped or off. The simulator gives no credit for "
            "stabilising sooner, so the difference is the rule's cost in time, not its clinical benefit."
        )
    return ["Notes:", "", *(f"- {n}" for n in notes)] if notes else []
