"""Tests of the pure part of ``dispatch.scenario``: a scenario built from its TOML text and CSV rows
already in memory, no file read (the files: tests/loaders/test_scenarios.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.scenario import ScenarioError, build_scenario, files_of, parse_spec

SPEC = """
name = "toy"
title = "장난감 도시"
road_graph = "roads/toy.graphml"
max_snap_m = 300
[centres]
file = "hospitals/toy.csv"
where = { gu = "종로구" }
exclude = ["H3"]
[stations]
file = "stations/toy.csv"
[fleet]
per_station = 2
total = 5
extra = { "가" = 1 }
"""
CENTRES = [
    {"hpid": "H1", "dutyName": "하나병원", "level": "1", "wgs84Lat": "37.57", "wgs84Lon": "126.98", "gu": "종로구",
     "regional_trauma_center": "Y"},
    {"hpid": "H2", "dutyName": "둘병원", "level": "3", "wgs84Lat": "37.56", "wgs84Lon": "126.99", "gu": "중구"},
    {"hpid": "H3", "dutyName": "셋병원", "level": "2", "wgs84Lat": "37.58", "wgs84Lon": "126.97", "gu": "종로구"},
]  # fmt: skip
STATIONS = [{"name": "가", "lat": "37.57", "lon": "126.98"}, {"name": "나", "lat": "37.56", "lon": "126.97"}]


def _build(spec: str = SPEC, centres: list[dict[str, str]] = CENTRES) -> object:
    parsed = parse_spec(spec, "toy.toml")
    return build_scenario(
        "asked", parsed, source="toy.toml", data_dir=Path("/data"), road_graph=Path("/data/roads/toy.graphml"),
        centre_rows=centres, station_rows=STATIONS,
    )  # fmt: skip


def test_a_scenario_is_built_from_rows_in_memory() -> None:
    spec = parse_spec(SPEC, "toy.toml")
    files = files_of(spec, "toy.toml")
    assert (files.centres, files.stations, files.road_graph) == ("hospitals/toy.csv", "stations/toy.csv",
                                                                 "roads/toy.graphml")  # fmt: skip
    scenario = build_scenario(
        "asked", spec, source="toy.toml", data_dir=Path("/data"), road_graph=Path("/data/roads/toy.graphml"),
        centre_rows=CENTRES, station_rows=STATIONS,
    )  # fmt: skip
    assert scenario.name == "toy" and scenario.title == "장난감 도시"
    assert [c.hpid for c in scenario.centres] == ["H1"]  # H2 not in 종로구, H3 excluded
    assert scenario.centres[0].trauma_centre and scenario.centres[0].level == 1
    assert {s.name: s.ambulances for s in scenario.stations} == {"가": 3, "나": 2}
    assert scenario.max_snap_m == 300.0


@pytest.mark.parametrize(
    ("spec", "rows", "message"),
    [
        ('name = "broken\n', CENTRES, r"toy\.toml: .*line"),
        (SPEC.replace("total = 5", "total = 6"), CENTRES, "fleet adds up to 5 ambulances, not 6"),
        (SPEC.replace('extra = { "가" = 1 }', 'extra = { "다" = 1 }'), CENTRES, "not in it"),
        (SPEC, [{**CENTRES[0], "wgs84Lat": "north"}], "toy.toml: ValueError"),
        (SPEC, [CENTRES[1]], "no emergency centres selected"),
    ],
)
def test_a_bad_scenario_is_refused_naming_its_source(spec: str, rows: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        _build(spec, rows)


def test_the_files_a_scenario_names_must_all_be_there() -> None:
    with pytest.raises(ScenarioError, match=r"toy\.toml: KeyError: 'road_graph'"):
        files_of(parse_spec(SPEC.replace('road_graph = "roads/toy.graphml"', ""), "toy.toml"), "toy.toml")
