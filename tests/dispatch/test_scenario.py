"""Tests of the pure part of ``dispatch.scenario``: a scenario built from its TOML text and CSV rows
already in memory, no file read (the files: tests/loaders/test_scenarios.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.regions import (
    GWANGJU_GU,
    MERGED,
    REGIONS,
    BorderRule,
    Place,
    RegionError,
    border_regions,
    counts,
    ordered,
    region,
    region_code,
    region_of,
    region_of_address,
)
from dispatch.scenario import Centre, LeftOut, Scenario, ScenarioError, Station, build_scenario, files_of, parse_spec

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
     "regional_trauma_center": "Y", "sido": "서울특별시", "sigungu": "종로구"},
    {"hpid": "H2", "dutyName": "둘병원", "level": "3", "wgs84Lat": "37.56", "wgs84Lon": "126.99", "gu": "중구",
     "dutyAddr": "서울특별시 중구 을지로 1"},
    {"hpid": "H3", "dutyName": "셋병원", "level": "2", "wgs84Lat": "37.58", "wgs84Lon": "126.97", "gu": "종로구",
     "sido": "서울특별시"},
]  # fmt: skip
STATIONS = [
    {"name": "가", "lat": "37.57", "lon": "126.98", "address": "서울특별시 종로구 1"},
    {"name": "나", "lat": "37.56", "lon": "126.97", "address": "서울 중구 2"},
]


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
    assert scenario.centres[0].region == "seoul" and {s.region for s in scenario.stations} == {"seoul"}
    assert scenario.regions == ("seoul",) and scenario.centres[0].also_serves == ()
    assert scenario.left_out == () and scenario.border == BorderRule()


@pytest.mark.parametrize(
    ("spec", "rows", "message"),
    [
        ('name = "broken\n', CENTRES, r"toy\.toml: .*line"),
        (SPEC.replace("total = 5", "total = 6"), CENTRES, "fleet adds up to 5 ambulances, not 6"),
        (SPEC.replace('extra = { "가" = 1 }', 'extra = { "다" = 1 }'), CENTRES, "not in it"),
        (SPEC, [{**CENTRES[0], "wgs84Lat": "north"}], "toy.toml: ValueError"),
        (SPEC, [CENTRES[1]], "no emergency centres selected"),
        (SPEC, [{**CENTRES[0], "sido": "아틀란티스"}], "toy.toml: unknown region .*아틀란티스"),
        (SPEC, [{**CENTRES[0], "sido": "", "dutyAddr": ""}], "toy.toml: centre H1 names no region"),
        (SPEC, [{**CENTRES[0], "sido": "전남광주통합특별시", "sigungu": ""}], "toy.toml: .*시군구"),
        (SPEC + "[regions]\nborder_km = 60\n", CENTRES, "toy.toml: border rule needs"),
        (SPEC + "[regions]\nborder_miles = 6\n", CENTRES, "toy.toml: TypeError"),
        ('regions = "wide"\n' + SPEC, CENTRES, "toy.toml: AttributeError"),
        (
            SPEC.replace('file = "stations/toy.csv"', 'file = "stations/toy.csv"\nunplaced = "guess"'),
            CENTRES,
            'toy.toml: \\[stations\\] unplaced must be "error" or "leave_out"',
        ),
    ],
)
def test_a_bad_scenario_is_refused_naming_its_source(spec: str, rows: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        _build(spec, rows)


def test_the_files_a_scenario_names_must_all_be_there() -> None:
    with pytest.raises(ScenarioError, match=r"toy\.toml: KeyError: 'road_graph'"):
        files_of(parse_spec(SPEC.replace('road_graph = "roads/toy.graphml"', ""), "toy.toml"), "toy.toml")


def test_files_of_reads_the_encodings() -> None:
    spec = parse_spec(SPEC.replace('file = "stations/toy.csv"', 'file = "stations/toy.csv"\nencoding = "cp949"'), "t")
    files = files_of(spec, "t")
    assert (files.centres_encoding, files.stations_encoding) == ("utf-8", "cp949")


# --- regions (dispatch.regions) -------------------------------------------------------------------


def test_the_17_regions_each_have_one_code() -> None:
    assert len(REGIONS) == 17
    assert len({r.code for r in REGIONS}) == len({r.name for r in REGIONS}) == len({r.egen for r in REGIONS}) == 17
    assert [r.code for r in REGIONS][:3] == ["seoul", "busan", "daegu"] and REGIONS[-1].code == "jeju"
    assert region("gwangju").label() == "광주광역시 (Gwangju)"
    with pytest.raises(RegionError, match="unknown region 'mars'"):
        region("mars")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("서울특별시", "seoul"), ("서울", "seoul"), ("seoul", "seoul"), (" 부산광역시 ", "busan"),
        ("강원도", "gangwon"), ("강원특별자치도", "gangwon"), ("강원", "gangwon"),
        ("전라북도", "jeonbuk"), ("전북특별자치도", "jeonbuk"), ("전북", "jeonbuk"),
        ("경기도", "gyeonggi"), ("경기북부", "gyeonggi"), ("창원시", "gyeongnam"), ("경남", "gyeongnam"),
        ("제주특별자치도", "jeju"), ("제주", "jeju"), ("세종특별자치시", "sejong"), ("전라남도", "jeonnam"),
    ],
)  # fmt: skip
def test_every_spelling_of_the_data_names_one_region(name: str, code: str) -> None:
    assert region_code(name) == code


def test_the_merged_region_is_split_by_its_district() -> None:
    assert {region_of(MERGED, gu) for gu in GWANGJU_GU} == {"gwangju"}
    assert region_of(MERGED, "화순군") == "jeonnam" and region_of(MERGED, "목포시") == "jeonnam"
    assert region_of("부산광역시", "동구") == "busan"  # 동구 is Gwangju only inside the merged region
    assert region_of_address("전남광주통합특별시 광산구 하남대로 1") == "gwangju"
    assert region_of_address("광주광역시 광산구 비아로12번길 10(비아동)") == "gwangju"
    for bad, message in [(MERGED, "시군구"), ("서울특별시x", "unknown region"), ("", "unknown region")]:
        with pytest.raises(RegionError, match=message):
            region_code(bad)
    with pytest.raises(RegionError, match="시군구"):
        region_of(MERGED)
    with pytest.raises(RegionError, match="empty address"):
        region_of_address("  ")


def test_ordered_and_counts_follow_the_region_list() -> None:
    assert ordered(["jeju", "seoul", "jeju", "gwangju"]) == ("seoul", "gwangju", "jeju")
    with pytest.raises(RegionError, match="unknown regions"):
        ordered(["seoul", "atlantis"])
    tally = counts(["seoul", "jeju", "seoul"])
    assert len(tally) == 17 and tally["seoul"] == 2 and tally["jeju"] == 1 and tally["busan"] == 0


# Two regions on one meridian, 0.009° of latitude = 1.0 km: Gwangju (north) and Jeonnam (south) meet at 35.0.
def _at(km_north: float, region_: str, level: int = 0) -> Place:
    return Place(region_, 35.0 + km_north / 111.2, 127.0, level)


def test_border_rule_near_the_border() -> None:
    stations = [_at(5, "gwangju"), _at(-3, "jeonnam")]
    centres = [
        _at(4, "gwangju", 3),
        _at(20, "gwangju", 3),
        _at(-50, "jeonnam", 3),
    ]  # B's own level 3 is 47 km from its station
    # 7 km from B's station: near; 23 km: not near, but nearer than any B centre of level <= 3 and within reach
    # Jeonnam's centre is 55 km from Gwangju's station: out of reach, and Gwangju's own are nearer anyway
    assert border_regions(centres, stations, BorderRule(10, 50)) == (("jeonnam",), ("jeonnam",), ())
    assert border_regions(centres, stations, BorderRule(10, 20)) == (("jeonnam",), (), ())


def test_border_rule_compares_with_the_region_centres_at_least_as_capable() -> None:
    stations = [_at(-3, "jeonnam")]
    a1, a3 = _at(20, "gwangju", 1), _at(20.5, "gwangju", 3)  # ~23 km from B's station
    b3, b1 = (
        _at(-4, "jeonnam", 3),
        _at(-60, "jeonnam", 1),
    )  # B: a local institution next door, its regional centre 57 km away
    served = border_regions([a1, a3, b3, b1], stations, BorderRule(10, 50))
    assert served[0] == ("jeonnam",)  # nearer than every B centre of level 1
    assert served[1] == ()  # B's own level-3 centre is nearer
    assert served[2:] == ((), ())  # a region's own centres are not its border centres
    # no station of region A at all: nothing serves A
    assert all("gwangju" not in s for s in served)


def test_border_rule_without_places_and_bad_rules() -> None:
    assert border_regions([], [_at(0, "gwangju")]) == ()
    assert border_regions([_at(0, "gwangju", 1)], []) == ((),)
    with pytest.raises(RegionError, match="border rule needs"):
        BorderRule(border_km=20, reach_km=10)
    with pytest.raises(RegionError, match="border rule needs"):
        BorderRule(border_km=-1)


# --- a scenario's regions (Scenario.region) -------------------------------------------------------

WIDE_SPEC = """
name = "wide"
road_graph = "roads/none.graphml"
[centres]
file = "hospitals/wide.csv"
[stations]
file = "stations/wide.csv"
columns = { name = "119안전센터명", lat = "위도", lon = "경도", region = "시도본부", address = "주소" }
unplaced = "leave_out"
[regions]
border_km = 10
reach_km = 50
"""
# Gwangju and its Jeonnam neighbours as E-Gen spells them (one merged sido), stations as the 119 list does.
WIDE_CENTRES = [
    {"hpid": "A1500002", "dutyName": "전남대학교병원", "level": "1", "sido": MERGED, "sigungu": "동구",
     "wgs84Lat": "35.1419", "wgs84Lon": "126.9216"},
    {"hpid": "A2600001", "dutyName": "화순전남대학교병원", "level": "2", "sido": MERGED, "sigungu": "화순군",
     "wgs84Lat": "35.0587", "wgs84Lon": "127.0021"},
    {"hpid": "A2600010", "dutyName": "여수전남병원", "level": "3", "sido": MERGED, "sigungu": "여수시",
     "wgs84Lat": "34.7570", "wgs84Lon": "127.6640"},
]  # fmt: skip
WIDE_STATIONS = [
    {"119안전센터명": name, "시도본부": hq, "주소": address, "위도": lat, "경도": lon}
    for name, hq, address, lat, lon in [
        ("용산119안전센터", "광주광역시", "광주광역시 남구 1", "35.1188", "126.9330"),
        ("화순119안전센터", "전라남도", "전라남도 화순군 1", "35.0507", "126.9714"),
        ("여수119안전센터", "전라남도", "전라남도 여수시 1", "34.760", "127.662"),
        ("중앙119안전센터", "전라남도", "전라남도 목포시 1", "", ""),
    ]
]


def _wide(stations: list[dict[str, str]] = WIDE_STATIONS, spec: str = WIDE_SPEC) -> Scenario:
    return build_scenario(
        "wide", parse_spec(spec, "wide.toml"), source="wide.toml", data_dir=Path("/d"),
        road_graph=Path("/d/roads/none.graphml"), centre_rows=WIDE_CENTRES, station_rows=stations,
    )  # fmt: skip


def test_a_scenario_reads_regions_and_columns_from_its_data() -> None:
    wide = _wide()
    assert wide.regions == ("gwangju", "jeonnam")
    assert [(c.hpid, c.region, c.also_serves) for c in wide.centres] == [
        ("A1500002", "gwangju", ("jeonnam",)),  # 11.1 km from 화순119, and no Jeonnam centre of level 1 here
        ("A2600001", "jeonnam", ("gwangju",)),  # 9.2 km from 용산119
        ("A2600010", "jeonnam", ()),
    ]
    assert [(s.name, s.region) for s in wide.stations] == [
        ("용산119안전센터", "gwangju"), ("화순119안전센터", "jeonnam"), ("여수119안전센터", "jeonnam"),
    ]  # fmt: skip
    assert wide.left_out == (LeftOut("station", "중앙119안전센터", "jeonnam", "no coordinates in the data"),)
    assert wide.fleet_size == 3 and wide.border == BorderRule(10.0, 50.0)


def test_a_region_of_a_scenario_has_its_stations_its_centres_and_the_border_ones() -> None:
    wide = _wide()
    gwangju = wide.region("gwangju")
    assert gwangju.name == "wide:gwangju" and gwangju.title.startswith("광주광역시 (Gwangju)")
    assert [c.hpid for c in gwangju.centres] == ["A1500002", "A2600001"]
    assert [s.name for s in gwangju.stations] == ["용산119안전센터"] and gwangju.left_out == ()
    assert gwangju.regions == ("gwangju",)  # a border centre keeps its home region, the part dispatches in one
    assert gwangju.centres[1].region == "jeonnam"
    jeonnam = wide.region("jeonnam")
    assert [c.hpid for c in jeonnam.centres] == ["A1500002", "A2600001", "A2600010"]
    assert len(jeonnam.left_out) == 1 and jeonnam.fleet_size == 2
    assert wide.region("jeonnam").region("jeonnam").centres == jeonnam.centres
    with pytest.raises(ScenarioError, match="wide has no region 'seoul'; its regions: gwangju, jeonnam"):
        wide.region("seoul")
    with pytest.raises(ScenarioError, match="wide: unknown region 'mars'"):
        wide.region("mars")


def test_a_region_that_no_centre_serves_is_refused() -> None:
    far = [*WIDE_STATIONS, {"119안전센터명": "한림119안전센터", "시도본부": "제주특별자치도", "주소": "제주 한림읍",
                            "위도": "33.41", "경도": "126.27"}]  # fmt: skip
    with pytest.raises(ScenarioError, match="no emergency centre serves region 'jeju'"):
        _wide(far).region("jeju")


def test_stations_without_coordinates_are_refused_unless_left_out() -> None:
    with pytest.raises(ScenarioError, match=r"wide\.toml: ValueError"):
        _wide(spec=WIDE_SPEC.replace('unplaced = "leave_out"', ""))
    with pytest.raises(ScenarioError, match=r"wide\.toml: ValueError"):  # a bad number is never left out
        _wide([{**WIDE_STATIONS[0], "위도": "north"}])


def test_stations_name_no_region_or_an_ambiguous_extra() -> None:
    with pytest.raises(ScenarioError, match="station 용산119안전센터 names no region"):
        _wide([{**WIDE_STATIONS[0], "시도본부": "", "주소": ""}])
    # the headquarters column wins over an abbreviated address; the address when there is no headquarters
    assert _wide([{**WIDE_STATIONS[0], "시도본부": "", "주소": "전남 화순군 1"}]).stations[0].region == "jeonnam"
    twice = [WIDE_STATIONS[0], {**WIDE_STATIONS[1], "119안전센터명": "용산119안전센터"}]
    with pytest.raises(ScenarioError, match="not unique: \\['용산119안전센터'\\]"):
        _wide(twice, WIDE_SPEC + '[fleet]\nextra = { "용산119안전센터" = 1 }\n')


def test_a_scenario_may_name_the_region_of_rows_that_name_none() -> None:
    spec = SPEC.replace('file = "stations/toy.csv"', 'file = "stations/toy.csv"\nregion = "인천"')
    rows = [{"name": s["name"], "lat": s["lat"], "lon": s["lon"]} for s in STATIONS]
    scenario = build_scenario(
        "asked", parse_spec(spec, "toy.toml"), source="toy.toml", data_dir=Path("/data"),
        road_graph=Path("/data/roads/toy.graphml"), centre_rows=CENTRES, station_rows=rows,
    )  # fmt: skip
    assert {s.region for s in scenario.stations} == {"incheon"} and scenario.regions == ("incheon",)
    assert [c.hpid for c in scenario.region("incheon").centres] == ["H1"]  # 0 km from 가: a border centre
    assert scenario.centres[0].also_serves == ("incheon",)


def test_hand_made_places_without_a_region_still_work() -> None:
    centre, station = Centre("H", "병원", 1, 35.1, 126.9), Station("기지", 35.1, 126.9)
    assert centre.region == "" and centre.also_serves == () and station.region == ""
    scenario = Scenario("toy", "toy", Path("/d"), Path("/d/g.graphml"), (centre,), (station,))
    assert scenario.regions == () and centre.serves("") and not centre.serves("seoul")
    with pytest.raises(ScenarioError, match="has no region 'seoul'"):
        scenario.region("seoul")
