"""The sensitivity grid: its cells, the fleet's scaling, the crew's-severity GoldenTime, the table, and a whole
grid on a toy city (approximate ETAs) run twice to the same bytes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dispatch.events import VitalsReported
from dispatch.pathways import Pathway
from dispatch.scenario import Prepared, Station
from simulations.config import SimConfig
from simulations.engine import simulate
from simulations.kpis import CANDIDATE
from simulations.patients import SimPatient
from simulations.policies import GoldenTime
from simulations.records import CallRecord, CentreRecord, RunResult
from simulations.sensitivity import (
    CREW,
    FACTORS,
    MODEL,
    MODEL_ONLY,
    Cell,
    CrewJudged,
    CrewSeverityGoldenTime,
    ModelOnlyGoldenTime,
    Row,
    crew_severity,
    grid,
    policy_for,
    render,
    run_grid,
    scale_fleet,
    table,
    with_fleet,
)
from telemetry import schemas
from tests.simulations import toy
from tests.simulations.toy import CONFIG, FAR, NEAR

# --- the grid -----------------------------------------------------------------------------------------------

SEOUL_LIKE = SimConfig(walkin_occupancy=0.6, report_interval_min=30.0)


def test_the_full_grid_has_every_factor_three_values_and_two_severities() -> None:
    cells = grid()
    assert [(c.factor, c.value) for c in cells] == [
        ("walkin", "0.6"),
        ("walkin", "0.75"),
        ("walkin", "0.9"),
        ("report", "5 min"),
        ("report", "30 min"),
        ("report", "60 min"),
        ("fleet", "−30 %"),
        ("fleet", "as is"),
        ("fleet", "+30 %"),
        ("surge", "×1"),
        ("surge", "×1.5"),
        ("surge", "×2"),
        ("severity", "model + crew Pre-KTAS"),
        ("severity", "model only"),
        ("severity", "crew only (nurse's KTAS)"),
        ("stabilise", "on"),
        ("stabilise", "off"),
    ]
    assert grid(FACTORS) == cells
    off = next(c for c in cells if c.value == "off")
    assert not off.stabilise and not off.as_is(SEOUL_LIKE)
    assert not policy_for(CANDIDATE, off).config.stabilise.enabled  # type: ignore[attr-defined]
    assert policy_for(CANDIDATE, cells[0]).config.stabilise.enabled  # type: ignore[attr-defined]


def test_each_cell_changes_one_assumption_of_the_scenario() -> None:
    by_value = {(c.factor, c.value): c for c in grid()}
    walkin = by_value["walkin", "0.9"].sim_config(SEOUL_LIKE)
    assert walkin == dataclasses.replace(SEOUL_LIKE, walkin_occupancy=0.9)
    assert by_value["report", "5 min"].sim_config(SEOUL_LIKE).report_interval_min == 5.0
    for key in [("fleet", "−30 %"), ("surge", "×2"), ("severity", "crew only (nurse's KTAS)")]:
        assert by_value[key].sim_config(SEOUL_LIKE) is SEOUL_LIKE  # the city's config is untouched
    assert (by_value["fleet", "−30 %"].fleet, by_value["fleet", "+30 %"].fleet) == (0.7, 1.3)
    assert (by_value["surge", "×1.5"].surge, by_value["surge", "×2"].surge) == (1.5, 2.0)
    severities = [
        by_value["severity", v].severity for v in ("model + crew Pre-KTAS", "model only", "crew only (nurse's KTAS)")
    ]
    assert severities == [MODEL, MODEL_ONLY, CREW]


def test_the_cells_equal_to_the_scenario_are_as_is_and_run_alike() -> None:
    as_is = [(c.factor, c.value) for c in grid() if c.as_is(SEOUL_LIKE)]
    assert as_is == [
        ("walkin", "0.6"),
        ("report", "30 min"),
        ("fleet", "as is"),
        ("surge", "×1"),
        ("severity", "model + crew Pre-KTAS"),
        ("stabilise", "on"),
    ]
    assert len({c.runs(SEOUL_LIKE) for c in grid() if c.as_is(SEOUL_LIKE)}) == 1
    busier = SimConfig(walkin_occupancy=0.85)  # a scenario whose occupancy is none of the grid's
    assert not any(c.as_is(busier) for c in grid() if c.factor == "walkin")


def test_factors_come_in_the_grids_order_and_an_unknown_one_is_refused() -> None:
    assert [c.factor for c in grid(["surge", "walkin"])] == ["walkin"] * 3 + ["surge"] * 3
    with pytest.raises(ValueError, match="unknown factor 'weather'"):
        grid(["surge", "weather"])


# --- the fleet ------------------------------------------------------------------------------------------------


def _stations(*ambulances: int) -> tuple[Station, ...]:
    return tuple(Station(f"S{i}", 37.5, 127.0 + i / 100, n) for i, n in enumerate(ambulances))


def test_the_fleet_scales_by_its_total_and_keeps_a_unit_at_every_station_it_can() -> None:
    stations = _stations(1, 2, 2, 1)  # 6 ambulances
    assert [s.ambulances for s in scale_fleet(stations, 0.7)] == [1, 1, 1, 1]  # 4.2 -> 4, one each
    assert [s.ambulances for s in scale_fleet(stations, 1.3)] == [1, 3, 3, 1]  # 7.8 -> 8, to the largest remainders
    assert [s.ambulances for s in scale_fleet(stations, 1.0)] == [1, 2, 2, 1]
    assert [s.name for s in scale_fleet(stations, 0.7)] == ["S0", "S1", "S2", "S3"]


def test_single_ambulance_stations_really_change_the_fleet() -> None:
    """Per-station rounding would leave 11 single-ambulance stations (central Seoul) as they are at ±30 %."""
    stations = _stations(*[1] * 11)
    fewer = scale_fleet(stations, 0.7)  # 7.7 -> 8: the last three stations are left without one
    assert [s.name for s in fewer] == [f"S{i}" for i in range(8)] and {s.ambulances for s in fewer} == {1}
    more = scale_fleet(stations, 1.3)  # 14.3 -> 14: the first three stations get a second one
    assert [s.ambulances for s in more] == [2, 2, 2] + [1] * 8
    assert sum(s.ambulances for s in scale_fleet(_stations(1), 0.1)) == 1  # never no ambulance at all
    assert sum(s.ambulances for s in scale_fleet(_stations(0, 3), 1.3)) == 4  # 3.9 -> 4, none where none was
    with pytest.raises(ValueError, match="greater than 0"):
        scale_fleet(stations, 0.0)


# --- the crew's severity --------------------------------------------------------------------------------------

#: The toy city of toy.py with three ambulances at its base, so that the fleet factor has something to scale.
BASE = dataclasses.replace(toy.BASE, ambulances=3)
#: The far centre's only team: a STEMI team, on duty all day.
STEMI_TEAM = frozenset({Pathway.STEMI})


def _prepared(tmp_path: Path) -> Prepared:
    return toy.prepared(tmp_path, stations=(BASE,))


def _patient(
    row: int, ktas: int, nurse: int | None, model_ktas: int, needs: frozenset[Pathway] = frozenset()
) -> SimPatient:
    flags = schemas.CrewFlags(stemi=Pathway.STEMI in needs)
    return SimPatient(
        row=row,
        ktas=ktas,
        ktas_nurse=nurse,
        flags=flags,
        needs=needs,
        vitals=schemas.Vitals.new(patient_id="P-test", flags=flags),
        complaint="",
        model_ktas=model_ktas,
        model_critical=model_ktas <= 2,
        model_p_critical=0.9 if model_ktas <= 2 else 0.02,
        model_p_emergency=0.95 if model_ktas <= 3 else 0.1,
    )


def test_the_crew_severity_is_the_nurses_level_taken_at_its_word() -> None:
    patient = _patient(0, ktas=2, nurse=1, model_ktas=4)
    assert patient.assessment.ktas == 4 and not patient.assessment.critical  # the model's
    crew = crew_severity(patient)
    assert (crew.ktas, crew.p_critical, crew.p_emergency, crew.critical) == (1, 1.0, 1.0, True)
    three = crew_severity(_patient(0, ktas=2, nurse=3, model_ktas=1))
    assert (three.ktas, three.p_critical, three.p_emergency, three.critical) == (3, 0.0, 1.0, False)
    judged = CrewJudged.of(patient)
    assert judged.assessment == crew and judged.ktas_nurse == 1 and judged.model_ktas == 4
    no_level = _patient(0, ktas=2, nurse=None, model_ktas=2)
    assert crew_severity(no_level) == no_level.assessment  # no nurse's level: the model's


def test_goldentime_told_the_crews_severity_plans_on_the_nurses_level(tmp_path: Path) -> None:
    """The model calls the patient KTAS 4 (near local ER); the nurse KTAS 1 (a critical patient: the regional
    centre). The variant is told, and plans on, the nurse's level; the shipped GoldenTime the model's."""
    prepared = _prepared(tmp_path)
    draws = toy.draws(toy.one_call(_patient(0, ktas=2, nurse=1, model_ktas=4)), on_duty=STEMI_TEAM)
    shipped, crew = GoldenTime(record=True), CrewSeverityGoldenTime(record=True)
    model_call = simulate(prepared, CONFIG, draws, shipped, days=1).calls[0]
    crew_call = simulate(prepared, CONFIG, draws, crew, days=1).calls[0]
    assert (model_call.first_hpid, crew_call.first_hpid) == (NEAR.hpid, FAR.hpid)
    told = [e.severity for _, events in crew.batches for e in events if isinstance(e, VitalsReported)]
    assert told and all(s is not None and (s.ktas, s.critical) == (1, True) for s in told)
    assert crew.name == shipped.name == "goldentime"  # pairs as GoldenTime does
    assert isinstance(policy_for("goldentime", grid(["severity"])[2]), CrewSeverityGoldenTime)
    assert isinstance(policy_for("goldentime", grid(["severity"])[1]), ModelOnlyGoldenTime)
    assert type(policy_for("goldentime", grid(["severity"])[0])) is GoldenTime


# --- the table ------------------------------------------------------------------------------------------------

MIN = 60.0


def _run(policy: str, seed: int, *, definitive_min: float, response_min: float, ktas: int = 2) -> RunResult:
    call = CallRecord(
        call_id=0,
        t_call_s=0.0,
        ktas=ktas,
        needs=("stemi",),
        response_s=response_min * MIN,
        transport_s=10 * MIN,
        definitive_s=definitive_min * MIN,
        first_hpid="A0000001",
        final_hpid="A0000001",
        retransfers=0,
        full_arrivals=0,
        incapable_arrivals=0,
        definitive_hpid="A0000001",
        onset_s=50 * MIN,  # golden time of a STEMI: 120 min from onset
    )
    centre = CentreRecord("A0000001", "권역센터", 1, 20, 5, 2.0, 1, 0)
    return RunResult(policy, seed, 1.0, 1.0, (call,), (centre,))


def _synthetic(ktas: int = 2) -> tuple[RunResult, ...]:
    """Per seed s: phone-around reaches care in 70 + s min (after the golden time), GoldenTime 10 + 2s min sooner
    (within it) but arrives 1 min later on scene; egen-greedy within 1 min of GoldenTime either way."""
    runs = []
    for s in (1, 2, 3):
        golden = 70 + s - (8 + 2 * s)
        runs += [
            _run("phone-around", s, definitive_min=70 + s, response_min=10, ktas=ktas),
            _run("egen-greedy", s, definitive_min=golden + (1, -1, 0)[s - 1], response_min=11, ktas=ktas),
            _run("goldentime", s, definitive_min=golden, response_min=11, ktas=ktas),
        ]
    return tuple(runs)


def test_the_table_shows_each_paired_difference_with_its_verdict() -> None:
    walkin = grid(["walkin"])[0]
    lines = table([Row(walkin, True, 11, _synthetic())], scenario_fleet=11)
    assert lines[0] == (
        "| factor | value | vs phone-around: golden-time share (%) | vs phone-around: to definitive care, KTAS 1-2 "
        "(min) | vs phone-around: response p90 (min) | vs egen-greedy: golden-time share (%) | vs egen-greedy: to "
        "definitive care, KTAS 1-2 (min) | vs egen-greedy: response p90 (min) |"
    )
    assert lines[1] == "|---|---|---:|---:|---:|---:|---:|---:|"
    assert lines[2] == (
        "| walkin | 0.6 (as is) | +100.0 [+100.0, +100.0] win | -12.0 [-17.0, -7.0] win | +1.0 [+1.0, +1.0] **loss** "
        "| +0.0 [+0.0, +0.0] tie | +0.0 [-2.5, +2.5] tie | +0.0 [+0.0, +0.0] tie |"
    )


def test_a_metric_without_a_value_is_not_applicable_and_fleet_rows_name_their_ambulances() -> None:
    fewer, as_is, _ = grid(["fleet"])
    rows = [Row(fewer, False, 8, _synthetic(ktas=4)), Row(as_is, True, 11, _synthetic(ktas=4))]
    first, second = table(rows, scenario_fleet=11)[2:]
    assert first.startswith("| fleet | −30 % (8 ambulances) | +100.0 [+100.0, +100.0] win | — n/a | ")
    assert second.startswith("| fleet | as is (11 ambulances) | ")


def test_the_file_says_how_to_reproduce_it_and_names_the_stations_left_empty() -> None:
    fewer = grid(["fleet"])[0]
    text = render(
        [Row(fewer, False, 8, _synthetic())],
        title="Toy",
        command="goldentime sensitivity --scenario=toy",
        seeds=[1, 2, 3],
        days=3.0,
        config=SEOUL_LIKE,
        stations=_stations(*[1] * 11),
    )
    assert text.startswith("# Sensitivity of GoldenTime's result: Toy\n\nReproduce with: `goldentime sensitivity")
    assert "Seeds 1–3 × 3 days per cell" in text and "walk-in occupancy 0.6" in text and "11 ambulances" in text
    assert "At −30 % these stations are left without one: S8, S9, S10." in text
    assert text.endswith("\n") and "\r" not in text


# --- a whole grid ---------------------------------------------------------------------------------------------


def test_a_whole_grid_runs_every_cell_shares_equal_runs_and_gives_the_same_bytes_twice(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path)
    config = dataclasses.replace(CONFIG, calls_per_day=24.0, walkin_occupancy=0.6, refuse_no_bed=0.7)
    patients = [
        _patient(0, ktas=2, nurse=1, model_ktas=4, needs=frozenset({Pathway.STEMI})),
        _patient(1, ktas=4, nurse=4, model_ktas=2),
        _patient(2, ktas=3, nurse=3, model_ktas=3),
    ]
    mix = (0.05, 0.15, 0.4, 0.3, 0.1)

    def once() -> tuple[list[Row], str]:
        rows = run_grid(prepared, config, patients, mix, grid(), seeds=[1, 2], days=0.5)
        text = render(
            rows, title="toy", command="c", seeds=[1, 2], days=0.5, config=config, stations=prepared.scenario.stations
        )
        return rows, text

    rows, text = once()
    assert once()[1] == text
    assert len(rows) == 17 and all(len(r.results) == 6 for r in rows)  # 3 policies × 2 seeds
    as_is = [r for r in rows if r.as_is]
    assert len(as_is) == 6 and all(r.results == as_is[0].results for r in as_is)
    assert all(r.results[k] is as_is[0].results[k] for r in as_is for k in range(6))  # run once, shared
    crew, unstabilised = rows[-3], rows[-1]
    model_only = rows[-4]
    assert model_only.results[0] is as_is[0].results[0] and model_only.results[2] is not as_is[0].results[2]
    assert [r.policy for r in crew.results[:3]] == ["phone-around", "egen-greedy", "goldentime"]
    assert crew.results[0] is as_is[0].results[0] and crew.results[2] is not as_is[0].results[2]
    assert unstabilised.results[1] is as_is[0].results[1] and unstabilised.results[2] is not as_is[0].results[2]
    fleet = {r.cell.value: {res.units for res in r.results} for r in rows if r.cell.factor == "fleet"}
    assert fleet == {"−30 %": {2}, "as is": {3}, "+30 %": {4}}
    surge = {r.cell.value: r.results[0].surge for r in rows if r.cell.factor == "surge"}
    assert surge == {"×1": 1.0, "×1.5": 1.5, "×2": 2.0}
    calls = [tuple(c.t_call_s for c in r.results[0].calls) for r in rows if r.cell.factor == "fleet"]
    assert len(calls[0]) > 0 and len(set(calls)) == 1  # the fleet changes the ambulances, not the calls
    assert sum(line.startswith("| ") for line in text.splitlines()) == 1 + 17  # the heading and a row per cell


def test_with_fleet_leaves_the_city_as_it_is_at_one(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path)
    assert with_fleet(prepared, 1.0) is prepared
    assert with_fleet(prepared, 1.3).scenario.fleet_size == 4 and prepared.scenario.fleet_size == 3


def test_a_cell_knows_what_it_changed() -> None:
    cell = Cell("walkin", "0.6", (("walkin_occupancy", 0.6),))
    assert cell.runs(SEOUL_LIKE) == ((), 1.0, 1.0, MODEL, True)
    assert cell.runs(SimConfig(walkin_occupancy=0.85)) == ((("walkin_occupancy", 0.6),), 1.0, 1.0, MODEL, True)
