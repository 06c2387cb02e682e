"""The national benchmark (goldentime/bench/national.py): times turned into figures (the goal on the p99 with
700 aboard only, one engine for the country and one per region judged apart), the report's tables, the fleet it
puts on the roads, and one small real run on one region of the national scenario."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from dispatch.events import StatusChanged, VitalsReported
from goldentime.bench import national, report
from goldentime.bench.national import GOAL, REGIONAL_GOAL, RegionIndex, Result, Timed
from goldentime.settings import default_data_dir
from loaders.scenarios import load_scenario
from telemetry.schemas import UnitStatus


def timed(*wall: float, routed: int = 10) -> Timed:
    return Timed(list(wall), list(wall), [routed] * len(wall))


def result(patients: int, p99: float, regional_p99: float) -> Result:
    everyone = {"everyone_pruned": timed(100.0), "everyone_full": timed(1000.0),
                "selected": timed(5.0), "selection": timed(10.0)}  # fmt: skip
    return Result(patients, {"seoul": patients}, 300.0, timed(*[10.0] * 98, p99, p99),
                  timed(*[400.0] * 98, 500.0, 500.0), everyone, timed(*[3.0] * 98, regional_p99, regional_p99),
                  timed(5.0), 1.2)  # fmt: skip


def by_name(figures: list[report.Figure]) -> dict[str, report.Figure]:
    return {f.name: f for f in figures}


def test_the_goal_is_judged_on_the_p99_with_700_aboard_for_one_engine_and_for_one_per_region() -> None:
    found = by_name(national.figures([result(225, 80.0, 60.0), result(700, 45.0, 70.0)]))
    small = found["national_report_p99_ms.225_aboard"]
    assert (small.goal, small.met) == (None, None)  # no goal below 700 aboard, however slow
    assert found["regional_report_p99_ms.225_aboard"].met is None
    big = found["national_report_p99_ms.700_aboard"]
    assert (big.goal, big.met) == (GOAL, True)
    assert big.baseline is not None and big.ratio is not None
    assert abs(big.ratio - big.baseline / big.value) < 1e-9  # times: how many times faster than without pruning
    regional = found["regional_report_p99_ms.700_aboard"]
    assert (regional.goal, regional.met) == (REGIONAL_GOAL, False)
    assert by_name(national.figures([result(700, 50.0, 10.0)]))["national_report_p99_ms.700_aboard"].met is False


def test_the_report_shows_every_table_and_says_when_the_goal_is_missed() -> None:
    regions = [RegionIndex("seoul", 113, 119, 16_600), RegionIndex("jeju", 6, 23, 1_900)]
    results = [result(225, 20.0, 3.0), result(700, 80.0, 9.0)]
    command = "goldentime bench --only national"
    text = national.markdown(results, regions, None, reports=300, full_reports=10, command=command, load=(1, 1, 1))
    assert "`goldentime bench --only national`" in text
    whole = next(line for line in text.splitlines() if line.startswith("| 700 |") and "first" not in line)
    assert "**not met**" in whole
    assert "| seoul | 113 | 119 | 16.2 KiB |" in text and "| jeju | 6 | 23 | 1.9 KiB |" in text
    assert "### One dispatcher per region" in text and "### The router alone" in text


def test_the_fleet_carries_the_patients_asked_for_in_proportion_to_the_stations() -> None:
    scenario = load_scenario("national", default_data_dir())
    aboard = national.fleet(scenario, 700, random.Random(1))
    carrying = [e for e in aboard.events if isinstance(e, VitalsReported)]
    assert len(carrying) == aboard.patients == 700 == sum(aboard.by_region.values())
    free = [e for e in aboard.events if isinstance(e, StatusChanged) and e.status is UnitStatus.AVAILABLE]
    assert len(free) == len(scenario.stations) - 700
    stations = Counter(s.region for s in scenario.stations)
    for region, n in aboard.by_region.items():  # within a generous band of the stations' share
        expected = 700 * stations[region] / len(scenario.stations)
        assert abs(n - expected) <= 4 * expected**0.5 + 3, (region, n, expected)
    assert all(e.severity is not None for e in carrying)  # no model is trained: the severity comes with the vitals


def test_a_small_real_run_on_one_region_writes_its_section_and_figures(tmp_path: Path) -> None:
    output = tmp_path / "performance.md"
    found = by_name(
        national.main(
            quick=True,
            output=output,
            data_dir=default_data_dir(),
            cache_dir=tmp_path,
            scenario="national:sejong",
            aboard=(4, 8),
            reports=5,
            graph_scenario=None,
        )
    )
    assert found["national_report_routed_p50.8_aboard"].value <= 8
    assert found["national_report_p99_ms.8_aboard"].goal is None  # not the 700 the goal is set for
    assert "road_index_kib.sejong" in found
    text = output.read_text(encoding="utf-8")
    assert "<!-- bench:national -->" in text and "| sejong |" in text
