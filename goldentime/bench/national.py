"""National benchmark (issue 26, item 6): the time a capacity report takes to re-plan, on the ``national``
scenario (all 529 E-Gen institutions, approximate ETAs), with 225 and 700 patients aboard, and the memory of the
road indexes per region. Writes the ``national`` section of ``docs/performance.md``.

The fleet is the scenario's: one ambulance per 119 safety centre (1,108). Of them, ``aboard`` carry a patient,
drawn at random among the stations (so each region has patients in proportion to its stations), a kilometre or
two from its station; the others are free at their stations (they set R-COVER's gaps). Every centre reports a
seeded synthetic state (0-10 free ER beds, one in twenty overcrowded; thrombectomy, PCI and burns yes or
unknown). Then one centre at a time sends a new report, and the time is taken:

- **engine**: :meth:`dispatch.engine.DispatchEngine.apply` of that one report — what the dispatcher does with it
  (the patients it re-plans: those :func:`dispatch.replan.affected` names, and those who may give way to them);
  with the router pruning (the default) and, over fewer reports, without;
- **router**: :func:`dispatch.router.plan` of every patient (pruned, and not), and :func:`dispatch.replan.affected`
  followed by :func:`dispatch.router.plan` of the patients it names, the others' beds held.

Wall time (``perf_counter``) and the thread's CPU time (``thread_time``): on a shared machine the second says what
the work costs, the first what a report waited.
"""

from __future__ import annotations

import gc
import os
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.centre_view import centre_view
from dispatch.engine import DispatchEngine
from dispatch.events import CapacityReported, Event, PositionReported, StatusChanged, VitalsReported
from dispatch.pathways import FLAG_FLOORS, PATHWAYS, Pathway
from dispatch.replan import affected, case_of
from dispatch.roads import ApproximateIndex, TravelTimeIndex
from dispatch.router import RouterConfig, plan
from dispatch.scenario import Prepared, Scenario, ScenarioError, approximate_index
from dispatch.severity.model import Severity
from goldentime.bench import report
from telemetry import schemas
from telemetry.schemas import Vitals

SCENARIO = "national"
ABOARD = (225, 700)
GOAL_MS = 50.0
GOAL = f"p99 < {GOAL_MS:g} ms with {max(ABOARD)} patients aboard"
REGIONAL_GOAL = f"{GOAL}, one dispatcher per region"
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)  # a fixed clock: the engine reads none
#: Crew flags, one patient in three: those of arrest, stroke, STEMI, trauma and burns (named by their pathways).
FLAGGED = (Pathway.CARDIAC_ARREST, Pathway.STROKE, Pathway.STEMI, Pathway.MAJOR_TRAUMA, Pathway.BURNS)
FLAGS = tuple(flag for pathway in FLAGGED for flag in PATHWAYS[pathway].flags)
FLAG_SHARE = 1 / 3
CONDITIONS = (schemas.Condition.STROKE_THROMBECTOMY, schemas.Condition.STEMI_PCI, schemas.Condition.MAJOR_BURNS)
JITTER_DEG = 0.015  # a patient is picked up a kilometre or two from the station


class _Unscored:
    """The severity is given with every vitals (no model is trained): the engine scores nothing."""

    def assess_many(self, vitals: Sequence[Vitals], *, explain_inputs: bool = True) -> list[Severity]:
        if vitals:
            raise AssertionError("the national benchmark gives every vitals its severity")
        return []


def first_report(hpid: str, seed: int) -> schemas.Capacity:
    """A centre's first report: the same for the centre wherever it is planned (the whole country, or a region)."""
    return capacity(random.Random(f"{seed}:{hpid}"), NOW)


def capacity(rng: random.Random, at: datetime) -> schemas.Capacity:
    """A seeded synthetic report: 0-10 free ER beds (one in twenty overcrowded), CT yes, thrombectomy, PCI and
    burns yes or unknown, every datum taken ``at``."""
    yes = schemas.Capability(available=True, updated_at=at)
    crowded = rng.random() < 0.05
    er = schemas.BedCount(available=0 if crowded else rng.randint(0, 10), total=10, overcrowded=crowded, updated_at=at)
    return schemas.Capacity.new(
        updated_at=at,
        beds={schemas.BedType.ER_GENERAL: er},
        equipment={schemas.Equipment.CT: yes},
        conditions={k: schemas.Capability(available=rng.choice((True, None)), updated_at=at) for k in CONDITIONS},
    )


@dataclass(frozen=True)
class Aboard:
    """The benchmark's fleet: every unit at its station, ``patients`` of them with a patient."""

    events: tuple[Event, ...]  # statuses, positions and vitals, in one batch
    patients: int
    by_region: Mapping[str, int]
    region_of: Mapping[str, str]  # unit -> its station's region


def fleet(scenario: Scenario, patients: int, rng: random.Random) -> Aboard:
    """One unit per station; ``patients`` of them (stations drawn at random) carry a patient."""
    stations = list(scenario.stations)
    carrying = set(rng.sample(range(len(stations)), patients))
    events: list[Event] = []
    by_region: dict[str, int] = {}
    region_of: dict[str, str] = {}
    for k, station in enumerate(stations):
        unit = f"N{k:04d}"
        region_of[unit] = station.region
        if k not in carrying:
            events += [
                StatusChanged(unit, schemas.UnitStatus.AVAILABLE),
                PositionReported(unit, station.lat, station.lon),
            ]
            continue
        by_region[station.region] = by_region.get(station.region, 0) + 1
        lat, lon = station.lat + rng.gauss(0, JITTER_DEG), station.lon + rng.gauss(0, JITTER_DEG)
        flag = rng.choice(FLAGS) if rng.random() < FLAG_SHARE else None
        flags = schemas.CrewFlags(**{flag: True}) if flag is not None else schemas.CrewFlags()
        floor = FLAG_FLOORS.get(flag, 5) if flag is not None else 5  # the most urgent KTAS the flag allows
        ktas = rng.randint(1, floor)
        p_critical = rng.uniform(0.5, 1.0) if ktas <= 2 else rng.uniform(0.0, 0.3)
        severity = Severity(ktas, p_critical, 0.5, (), ktas <= 2, crew_ktas=ktas if ktas <= 2 else None)
        vitals = schemas.Vitals.new(
            patient_id=f"NP{k:05d}", age_years=60, sex="female", hr_bpm=96, sbp_mmhg=124, dbp_mmhg=80,
            rr_per_min=18, spo2_pct=96, avpu="A", pain_nrs=5, chief_complaint="bench", flags=flags,
        )  # fmt: skip
        events += [
            StatusChanged(unit, schemas.UnitStatus.TRANSPORTING),
            PositionReported(unit, lat, lon),
            VitalsReported(unit, vitals, severity=severity),
        ]
    return Aboard(tuple(events), patients, dict(sorted(by_region.items())), region_of)


@dataclass
class Timed:
    """Times of one kind of work, in ms: wall clock and this thread's CPU; and how many patients each routed."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    routed: list[int] = field(default_factory=list)

    @contextmanager
    def take(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.thread_time()
        yield
        self.cpu.append((time.thread_time() - cpu) * 1000)
        self.wall.append((time.perf_counter() - wall) * 1000)

    def q(self, which: str, p: float) -> float:
        values = self.wall if which == "wall" else self.cpu if which == "cpu" else [float(r) for r in self.routed]
        return float(np.percentile(values, p)) if values else float("nan")


def engine_run(
    prepared: Prepared, aboard: Aboard, reports: int, config: RouterConfig, seed: int
) -> tuple[Timed, float, DispatchEngine]:
    """Reports one at a time to an engine holding the fleet; the time of each, and of the first plan (ms)."""
    rng = random.Random(seed)
    engine = DispatchEngine(prepared, _Unscored(), config=config)
    centres = prepared.scenario.centres
    engine.apply([CapacityReported(c.hpid, first_report(c.hpid, seed)) for c in centres], NOW)
    started = time.perf_counter()
    engine.apply(list(aboard.events), NOW + timedelta(seconds=1))
    first_ms = (time.perf_counter() - started) * 1000
    timed = Timed()
    gc.collect()
    gc.freeze()  # as the dispatcher does once started (goldentime.services.freeze_heap)
    try:
        for n in range(reports):
            at = NOW + timedelta(seconds=2 + n)
            event = CapacityReported(rng.choice(centres).hpid, capacity(rng, at))
            with timed.take():
                engine.apply([event], at)
            timed.routed.append(engine.routed)
    finally:
        gc.unfreeze()
    return timed, first_ms, engine


def regional_run(scenario: Scenario, aboard: Aboard, reports: int, seed: int) -> tuple[Timed, Timed, float]:
    """The same fleet with one engine per region (each its region's part of the scenario: its centres and the
    border centres serving it, its own units), as issue 26 deploys them: a report reaches every engine its centre
    serves. Per report, the slowest of those engines (they run side by side) and their sum (one process); and
    the mean number of engines a report reaches."""
    rng = random.Random(seed)
    engines: dict[str, DispatchEngine] = {}
    for code in scenario.regions:
        part = scenario.region(code)
        engine = DispatchEngine(Prepared(part, approximate_index(part), None, ()), _Unscored())
        engine.apply([CapacityReported(c.hpid, first_report(c.hpid, seed)) for c in part.centres], NOW)
        mine = [e for e in aboard.events if aboard.region_of.get(getattr(e, "unit_id", "")) == code]
        engine.apply(mine, NOW + timedelta(seconds=1))
        engines[code] = engine
    slowest, together, reached = Timed(), Timed(), 0
    gc.collect()
    gc.freeze()
    try:
        for n in range(reports):
            at = NOW + timedelta(seconds=2 + n)
            centre = rng.choice(scenario.centres)
            event = CapacityReported(centre.hpid, capacity(rng, at))
            times: list[tuple[float, float]] = []
            for code in (c for c in (centre.region, *centre.also_serves) if c in engines):
                engine = engines[code]
                wall, cpu = time.perf_counter(), time.thread_time()
                engine.apply([event], at)
                times.append(((time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000))
            reached += len(times)
            slowest.wall.append(max(w for w, _ in times))
            slowest.cpu.append(max(c for _, c in times))
            together.wall.append(sum(w for w, _ in times))
            together.cpu.append(sum(c for _, c in times))
    finally:
        gc.unfreeze()
    return slowest, together, reached / max(reports, 1)


def holders(engine: DispatchEngine) -> tuple[dict[str, int], dict[tuple[str, Pathway], int]]:
    beds: dict[str, int] = {}
    teams: dict[tuple[str, Pathway], int] = {}
    for (hpid, team), held in engine._holders().items():
        if team is None:
            beds[hpid] = len(held)
        else:
            teams[(hpid, team)] = len(held)
    return beds, teams


def router_run(engine: DispatchEngine, reports: int, full_reps: int, seed: int) -> dict[str, Timed]:
    """The router alone on the engine's patients (their destinations as advised): every patient planned, pruned
    and not; and per report the selection and the plan of those selected, the others' beds held."""
    rng = random.Random(seed)
    centres = engine.prepared.scenario.centres
    at = NOW + timedelta(hours=1)
    reported = {c.hpid: engine.capacity[c.hpid] for c in centres}
    units = [u for u in engine.units.values() if u.owned and u.has_patient and u.destination is not None]
    cases = [case for u in units if (case := case_of(u, cover_gap=0.5)) is not None]
    beds, teams = holders(engine)
    views = [centre_view(c, reported[c.hpid], at) for c in centres]
    found = {"everyone_pruned": Timed(), "everyone_full": Timed(), "selected": Timed(), "selection": Timed()}
    for key, config, reps in (("everyone_pruned", RouterConfig(), max(3, full_reps)),
                              ("everyone_full", RouterConfig(prune=False), full_reps)):  # fmt: skip
        for _ in range(reps):
            with found[key].take():
                plan(cases, views, config=config)
            found[key].routed.append(len(cases))
    by_unit = {u.unit_id: u for u in units}
    for _ in range(reports):
        k = rng.randrange(len(centres))
        hpid = centres[k].hpid
        news = [*views[:k], centre_view(centres[k], capacity(rng, at), at), *views[k + 1 :]]
        with found["selection"].take():
            chosen = affected([hpid], units, news, inbound=beds, teams=teams)
        picked = [c for c in cases if c.unit_id in chosen]
        held = dict(beds)
        held_teams = dict(teams)
        for case in picked:
            unit = by_unit[case.unit_id]
            if unit.holds_bed and unit.destination in held:
                held[unit.destination] -= 1
            if unit.team is not None and unit.destination is not None:
                held_teams[(unit.destination, unit.team)] -= 1
        with found["selected"].take():
            plan(picked, news, inbound_elsewhere=held, teams_elsewhere=held_teams)
        found["selected"].routed.append(len(picked))
        found["selection"].routed.append(len(chosen))
    return found


# --- memory -------------------------------------------------------------------------------------------------


def _allocated(build: Callable[[], Any]) -> tuple[Any, int]:
    """What ``build()`` returns and the bytes it left allocated (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        built = build()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return built, after - before


@dataclass(frozen=True)
class RegionIndex:
    region: str
    centres: int
    stations: int
    bytes: int  # its approximate index, targets and cached arrays included


def region_indexes(scenario: Scenario) -> list[RegionIndex]:
    """The approximate index of each region's part of the scenario (its centres and the border centres serving
    it), built and warmed up: what a region's dispatcher holds for ETAs."""
    found = []
    for code in scenario.regions:
        part = scenario.region(code)

        def build(part: Scenario = part) -> ApproximateIndex:
            index = approximate_index(part)
            assert isinstance(index, ApproximateIndex)
            return index.warm_up()

        _, size = _allocated(build)
        found.append(RegionIndex(code, len(part.centres), len(part.stations), size))
    return found


@dataclass(frozen=True)
class GraphIndex:
    scenario: str
    nodes: int
    edges: int
    targets: int
    tables_bytes: int  # the per-target tables: seconds, metres, next hop, and their per-node copies
    graph_bytes: int  # the graph: node arrays, edge matrices, geometry, KD-tree and snapping grid


def graph_index(prepared: Prepared) -> GraphIndex | None:
    """The road index of a scenario with a graph (``seoul-central``): the sizes of its arrays."""
    index, network = prepared.index, prepared.network
    if not isinstance(index, TravelTimeIndex) or network is None:
        return None
    index.warm_up()
    _, by_node_s, by_node_m = index._by_node
    tables = sum(a.nbytes for a in (index.to_target_s, index.to_target_m, index.next_hop, by_node_s, by_node_m))
    matrices = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in (network.time_s, network.length_m))
    arrays = sum(a.nbytes for a in (network.osm_ids, network.lat, network.lon, network.geometry_offsets,
                                    network.geometry_coords, network._tree.data))  # fmt: skip
    grid = network._grid
    grid_bytes = len(grid.offsets) * grid.offsets.itemsize + len(grid.flat) * grid.flat.itemsize
    return GraphIndex(prepared.scenario.name, network.node_count, network.edge_count, len(index.targets), tables,
                      matrices + arrays + grid_bytes)  # fmt: skip


# --- figures and the report -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    patients: int
    by_region: Mapping[str, int]
    first_plan_ms: float
    engine: Timed  # pruned (the default)
    engine_full: Timed  # the router not pruned, fewer reports
    router: Mapping[str, Timed]
    regional: Timed  # one engine per region: the slowest engine a report reaches
    regional_sum: Timed  # ... and all of them, one after the other
    reached: float  # engines a report reaches, on average


def figures(results: Sequence[Result]) -> list[report.Figure]:
    """Per fleet: the engine's time per report, p50 and p99 (the goal on the p99 at 700 aboard), beside the
    engine without pruning (baseline, its p99); the router's plans of everyone and of the patients selected."""
    found = []
    for r in results:
        where = f"{r.patients}_aboard"
        p99 = r.engine.q("wall", 99)
        baseline = r.engine_full.q("wall", 99)
        judged = r.patients == max(ABOARD)
        found += [
            report.Figure(f"national_report_p50_ms.{where}", r.engine.q("wall", 50), "ms"),
            report.Figure(
                f"national_report_p99_ms.{where}",
                p99,
                "ms",
                baseline=baseline,
                ratio=baseline / p99 if p99 > 0 else None,
                goal=GOAL if judged else None,
                met=p99 < GOAL_MS if judged else None,
            ),
            report.Figure(f"national_report_cpu_p99_ms.{where}", r.engine.q("cpu", 99), "ms"),
            report.Figure(f"regional_report_p50_ms.{where}", r.regional.q("wall", 50), "ms"),
            report.Figure(
                f"regional_report_p99_ms.{where}",
                r.regional.q("wall", 99),
                "ms",
                goal=REGIONAL_GOAL if judged else None,
                met=r.regional.q("wall", 99) < GOAL_MS if judged else None,
            ),
            report.Figure(f"national_report_routed_p50.{where}", r.engine.q("routed", 50), "patients"),
            report.Figure(f"national_plan_everyone_ms.{where}", r.router["everyone_pruned"].q("wall", 50), "ms",
                          baseline=r.router["everyone_full"].q("wall", 50),
                          ratio=r.router["everyone_full"].q("wall", 50) / r.router["everyone_pruned"].q("wall", 50)),
            report.Figure(f"national_replan_selected_p99_ms.{where}",
                          r.router["selection"].q("wall", 99) + r.router["selected"].q("wall", 99), "ms"),
        ]  # fmt: skip
    return found


def _verdict(patients: int, timed: Timed) -> str:
    """The goal's verdict on the wall-clock p99, for the fleet it is judged on (the largest) only."""
    if patients != max(ABOARD):
        return ""
    return "met" if timed.q("wall", 99) < GOAL_MS else "**not met**"


def _ms(t: Timed, which: str = "wall") -> str:
    return f"{t.q(which, 50):,.1f} / {t.q(which, 99):,.1f} ms"


def markdown(results: Sequence[Result], regions: Sequence[RegionIndex], graph: GraphIndex | None, *,
             reports: int, full_reports: int, command: str, load: tuple[float, ...]) -> str:  # fmt: skip
    lines = [
        "## National scenario: a capacity report re-planned (issue 26)",
        "",
        f"Reproduce with `{command}`. Scenario `{SCENARIO}`: 529 E-Gen institutions, 1,108 safety centres with one "
        "ambulance each, approximate ETAs (great-circle × 1.35 at 35 km/h). The patients aboard are drawn at random "
        "among the stations (each region in proportion to its stations), a kilometre or two from theirs; the other "
        "units are free at their stations. Every centre reports a seeded synthetic state (0-10 free ER beds, one in "
        "twenty overcrowded; thrombectomy, PCI and burns yes or unknown); then one centre at a time, at random, sends "
        f"a new one. **Engine**: `DispatchEngine.apply` of that one report ({reports} reports; without pruning "
        f"{full_reports}), as the dispatcher runs it, heap frozen as `goldentime dispatcher` freezes it. **Router**: "
        "`router.plan` of every patient (the whole country at once), and `replan.affected` then `router.plan` of "
        "the patients it names, the others' beds held. p50 / p99, wall clock (what a report waited) and this "
        "thread's CPU (what it cost: the machine is shared).",
        "",
        f"### One engine for the whole country (goal: {GOAL})",
        "",
        "| aboard | engine, wall | engine, CPU | patients re-planned p50 / p99 | engine without pruning, wall "
        "| first plan of all | goal |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.patients} | {_ms(r.engine)} | {_ms(r.engine, 'cpu')} | {r.engine.q('routed', 50):,.0f} / "
            f"{r.engine.q('routed', 99):,.0f} | {_ms(r.engine_full)} | {r.first_plan_ms:,.0f} ms "
            f"| {_verdict(r.patients, r.engine)} |"
        )
    lines += [
        "",
        "### One dispatcher per region",
        "",
        "The same fleet and reports with one engine per region (issue 26: each holds its region's part of the "
        "scenario — its centres and the border centres serving it — and its own units); a report reaches every "
        "engine whose region its centre serves. Slowest: the engine that took longest (they run side by side, one "
        "process each); all: the engines one after the other.",
        "",
        "| aboard | engines a report reaches | slowest, wall | slowest, CPU | all, wall | goal |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.patients} | {r.reached:.2f} | {_ms(r.regional)} | {_ms(r.regional, 'cpu')} "
            f"| {_ms(r.regional_sum)} | {_verdict(r.patients, r.regional)} |"
        )
    lines += [
        "",
        "### The router alone",
        "",
        "| aboard | every patient, pruned | every patient, not pruned | selection (`replan.affected`) "
        "| plan of those selected | selected p50 / p99 |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        t = r.router
        lines.append(
            f"| {r.patients} | {_ms(t['everyone_pruned'])} | {_ms(t['everyone_full'])} | {_ms(t['selection'])} "
            f"| {_ms(t['selected'])} | {t['selected'].q('routed', 50):,.0f} / {t['selected'].q('routed', 99):,.0f} |"
        )
    lines += ["", "Patients aboard by region (700): " + ", ".join(
        f"{k} {v}" for k, v in max(results, key=lambda r: r.patients).by_region.items()) + "."]  # fmt: skip
    lines += [
        "",
        "### Road-index memory per region",
        "",
        "What a region's dispatcher holds for ETAs: its part of the scenario (its centres and the border centres "
        "serving it) in an approximate index, built and warmed up (bytes allocated, tracemalloc).",
        "",
        "| region | centres | stations | approximate index |",
        "|---|---:|---:|---:|",
        *(f"| {g.region} | {g.centres} | {g.stations} | {g.bytes / 1024:,.1f} KiB |" for g in regions),
    ]
    if graph is not None:
        per_cell = graph.tables_bytes / (graph.nodes * graph.targets)
        lines += [
            "",
            f"With a road graph (`{graph.scenario}`, {graph.nodes:,} nodes, {graph.edges:,} edges, {graph.targets} "
            f"centres): the per-centre tables {graph.tables_bytes / 1e6:,.2f} MB ({per_cell:.0f} bytes per node and "
            f"centre: seconds, metres, next hop, and the per-node copies), the graph itself "
            f"{graph.graph_bytes / 1e6:,.2f} MB. A region's road index grows as nodes × centres: the same "
            f"{per_cell:.0f} bytes for each.",
        ]
    lines += ["", f"Load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the start."]
    return "\n".join(lines)


def main(*, quick: bool, output: Path, data_dir: Path, cache_dir: Path, scenario: str = SCENARIO,
         aboard: Sequence[int] = ABOARD, reports: int | None = None,
         graph_scenario: str | None = "seoul-central") -> list[report.Figure]:  # fmt: skip
    """The benchmark (``goldentime bench --only national``); ``scenario``, ``aboard``, ``reports`` and
    ``graph_scenario`` (the road index measured, None: none) are there for the tests' small runs."""
    from loaders.scenarios import load_scenario, prepare

    load = os.getloadavg()
    prepared = prepare(load_scenario(scenario, data_dir), cache_dir=cache_dir)
    reports = reports or (40 if quick else 300)
    full_reports, full_reps = (3, 1) if quick else (10, 3)
    results = []
    for n, patients in enumerate(aboard):
        patients = min(patients, len(prepared.scenario.stations))
        print(f"national benchmark: {patients} patients aboard", flush=True)
        fleet_ = fleet(prepared.scenario, patients, random.Random(26 + n))
        timed, first_ms, engine = engine_run(prepared, fleet_, reports, RouterConfig(), seed=n)
        print(f"  engine: {_ms(timed)} (first plan {first_ms:,.0f} ms)", flush=True)
        full, _, _ = engine_run(prepared, fleet_, full_reports, RouterConfig(prune=False), seed=n)
        print(f"  engine without pruning: {_ms(full)}", flush=True)
        router = router_run(engine, reports, full_reps, seed=n)
        print("  router: " + ", ".join(f"{k} {_ms(v)}" for k, v in router.items()), flush=True)
        slowest, together, reached = regional_run(prepared.scenario, fleet_, reports, seed=n)
        print(f"  one engine per region: slowest {_ms(slowest)}, all {_ms(together)}", flush=True)
        results.append(Result(patients, fleet_.by_region, first_ms, timed, full, router, slowest, together, reached))
    regions = region_indexes(prepared.scenario)
    graph = None
    try:
        if graph_scenario is not None:
            graph = graph_index(prepare(load_scenario(graph_scenario, data_dir), cache_dir=cache_dir))
    except ScenarioError as exc:  # the graph is optional here: say so, keep the figures
        print(f"  {graph_scenario} road index not measured: {exc}", flush=True)
    command = "goldentime bench --only national" + (" --quick" if quick else "")
    text = markdown(results, regions, graph, reports=reports, full_reports=full_reports, command=command, load=load)
    report.write_section(output, "national", text)
    print(f"wrote {output}", flush=True)
    found = figures(results)
    found += [report.Figure(f"road_index_kib.{g.region}", g.bytes / 1024, "KiB") for g in regions]
    if graph is not None:
        found.append(report.Figure(f"road_index_tables_mb.{graph.scenario}", graph.tables_bytes / 1e6, "MB"))
    return found
