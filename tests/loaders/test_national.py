"""The ``national`` scenario on the data bundle of the checkout (``data/``, as a fresh clone has it):
every E-Gen institution and every geocoded 119 safety centre, each in exactly one home region, the
border centres serving their neighbours, approximate ETAs said to be approximate.

``pytest -s`` prints the per-region table (centres, regional centres, stations, left out, border).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from dispatch.regions import REGIONS, RegionError, counts, region, region_code, region_of_address
from dispatch.roads import ApproximateIndex
from dispatch.scenario import Scenario, ScenarioError, files_of, parse_spec
from loaders.scenarios import load_scenario, prepare, read_csv, scenario_file

BUNDLE = Path(__file__).resolve().parents[2] / "data"
SPEC = parse_spec(scenario_file("national").read_text(encoding="utf-8"), "national.toml")
FILES = files_of(SPEC, "national.toml")

#: Per region, from the data: E-Gen institutions (home), of which 권역응급의료센터 (level 1), 119 safety
#: centres placed, those without coordinates (left out), neighbours' centres serving it (border).
EXPECTED = {
    "seoul": (75, 7, 119, 0, 38),
    "busan": (38, 2, 59, 1, 12),
    "daegu": (25, 2, 51, 0, 8),
    "incheon": (26, 2, 56, 0, 19),
    "gwangju": (24, 2, 27, 0, 4),
    "daejeon": (11, 2, 26, 1, 0),
    "ulsan": (12, 1, 25, 1, 2),
    "sejong": (2, 0, 8, 1, 9),
    "gyeonggi": (96, 9, 198, 7, 99),
    "gangwon": (23, 3, 74, 1, 6),
    "chungbuk": (21, 1, 44, 0, 18),
    "chungnam": (20, 2, 78, 2, 30),
    "jeonbuk": (21, 2, 54, 1, 16),
    "jeonnam": (46, 2, 64, 4, 10),
    "gyeongbuk": (35, 3, 99, 2, 41),
    "gyeongnam": (48, 3, 103, 3, 33),
    "jeju": (6, 1, 23, 1, 0),
}


@pytest.fixture(scope="module")
def national() -> Scenario:
    return load_scenario("national", BUNDLE)


@pytest.fixture(scope="module")
def institutions() -> list[dict[str, str]]:
    return read_csv(BUNDLE / FILES.centres)


@pytest.fixture(scope="module")
def station_rows() -> list[dict[str, str]]:
    return read_csv(BUNDLE / FILES.stations, "cp949")


def _table(national: Scenario) -> dict[str, tuple[int, int, int, int, int]]:
    table = {}
    for code in national.regions:
        part = national.region(code)
        own = [c for c in part.centres if c.region == code]
        table[code] = (
            len(own),
            sum(c.level == 1 for c in own),
            len(part.stations),
            len(part.left_out),
            len(part.centres) - len(own),
        )
    return table


def test_the_national_data_is_in_the_bundle_of_a_clone() -> None:
    for name in (FILES.centres, FILES.stations):
        assert (BUNDLE / name).is_file(), name
    assert FILES.stations_encoding == "cp949"
    assert not (BUNDLE / FILES.road_graph).exists()  # no national road graph: approximate ETAs


def test_national_loads_every_institution_and_every_station(
    national: Scenario, institutions: list[dict[str, str]], station_rows: list[dict[str, str]]
) -> None:
    assert national.name == "national"
    assert sorted(c.hpid for c in national.centres) == sorted(r["hpid"] for r in institutions)
    assert len(national.centres) == 529
    assert Counter(c.level for c in national.centres) == {1: 44, 2: 139, 3: 233, 4: 113}
    # every row of the 119 list is a station or a station left out, said with its reason
    assert len(station_rows) == 1133 == len(national.stations) + len(national.left_out)
    assert len(national.left_out) == 25 and national.fleet_size == 1108
    assert all(o.kind == "station" and o.reason == "no coordinates in the data" for o in national.left_out)
    unplaced = {r["119안전센터명"] for r in station_rows if not (r["위도"] and r["경도"])}
    assert {o.name for o in national.left_out} == unplaced
    assert all(s.ambulances == 1 for s in national.stations)


def test_every_place_has_exactly_one_home_region(national: Scenario) -> None:
    codes = {r.code for r in REGIONS}
    assert national.regions == tuple(r.code for r in REGIONS)  # all 17, in order
    regions = [c.region for c in national.centres] + [s.region for s in national.stations]
    assert set(regions + [o.region for o in national.left_out]) <= codes
    # each centre and station is in exactly one region's own list
    homes = Counter(c.hpid for code in national.regions for c in national.region(code).centres if c.region == code)
    assert set(homes.values()) == {1} and len(homes) == 529
    placed = Counter(id(s) for code in national.regions for s in national.region(code).stations)
    assert set(placed.values()) == {1} and len(placed) == len(national.stations)
    assert sum(counts(s.region for s in national.stations).values()) == 1108


def test_per_region_counts(national: Scenario) -> None:
    table = _table(national)
    print("\nregion       centres  level 1  stations  left out  border centres")
    for code, row in table.items():
        print(f"{code:<12} {row[0]:>7}  {row[1]:>7}  {row[2]:>8}  {row[3]:>8}  {row[4]:>14}")
    print(f"{'total':<12} " + "  ".join(f"{sum(r[k] for r in table.values()):>{w}}" for k, w in
                                        enumerate((7, 7, 8, 8, 14))))  # fmt: skip
    assert table == EXPECTED
    assert sum(r[0] for r in table.values()) == 529 and sum(r[1] for r in table.values()) == 44
    assert sejong_has_no_regional_centre(table)


def sejong_has_no_regional_centre(table: dict[str, tuple[int, int, int, int, int]]) -> bool:
    """세종 has no 권역응급의료센터 of its own: its level-1 care is across the border (Daejeon, Chungbuk)."""
    return table["sejong"][1] == 0 and all(row[1] >= 1 for code, row in table.items() if code != "sejong")


def test_the_centres_region_agrees_with_its_hpid(national: Scenario, institutions: list[dict[str, str]]) -> None:
    """E-Gen's hpid carries the region's code (A15… Gwangju, A26… Jeonnam): an independent check of the
    split of 전남광주통합특별시 by district and of every other 시도."""
    for centre in national.centres:
        assert centre.hpid[1:3] == region(centre.region).egen, (centre.hpid, centre.name, centre.region)
    merged = [r for r in institutions if r["sido"] == "전남광주통합특별시"]
    assert len(merged) == 70
    assert Counter(national.centre(r["hpid"]).region for r in merged) == {"jeonnam": 46, "gwangju": 24}


def test_the_stations_region_agrees_with_its_address(station_rows: list[dict[str, str]]) -> None:
    """The headquarters column (시도본부) against the address: the same region wherever the address starts
    with a 시도; the 21 addresses that start with a city of 경상남도 are Gyeongnam's."""
    cities: Counter[str] = Counter()
    for row in station_rows:
        home = region_code(row["시도본부"])
        try:
            assert region_of_address(row["주소"]) == home, row
        except RegionError:
            cities[row["주소"].split()[0]] += 1
            assert home == "gyeongnam", row
    assert cities == {"김해시": 13, "하동군": 4, "통영시": 3, "양산시": 1}


def test_the_national_regions_hold_the_city_scenarios(national: Scenario) -> None:
    """The gwangju scenario's centres and stations are the Gwangju region of the national one; the
    central-Seoul stations are Seoul's."""
    gwangju, part = load_scenario("gwangju", BUNDLE), national.region("gwangju")
    assert {c.hpid for c in part.centres if c.region == "gwangju"} == {c.hpid for c in gwangju.centres}
    assert {(s.name, s.lat, s.lon) for s in part.stations} == {(s.name, s.lat, s.lon) for s in gwangju.stations}
    seoul = {(s.name, s.lat, s.lon) for s in national.region("seoul").stations}
    assert {(s.name, s.lat, s.lon) for s in load_scenario("seoul-central", BUNDLE).stations} <= seoul


def test_border_centres_serve_their_neighbours(national: Scenario) -> None:
    gwangju = national.region("gwangju")
    border = {c.hpid: c.name for c in gwangju.centres if c.region != "gwangju"}
    # four of the seven institutions just outside the city (hospitals/nearby_outside_city_emergency_centers.csv)
    assert border == {"A2600001": "화순전남대학교병원", "A2602211": "빛가람종합병원", "A2600048": "화순고려병원",
                      "A2600043": "화순성심병원"}  # fmt: skip
    assert "jeonnam" in national.centre("A1500002").also_serves  # 전남대학교병원 takes Jeonnam's patients
    assert "sejong" in national.centre("A1600001").also_serves  # 충남대학교병원 (Daejeon) serves Sejong
    assert {c.region for c in national.region("seoul").centres} == {"seoul", "gyeonggi", "incheon"}
    # an island: no mainland centre serves Jeju, and Jeju's serve no one else
    assert {c.region for c in national.region("jeju").centres} == {"jeju"}
    assert all(c.also_serves == () for c in national.centres if c.region == "jeju")
    assert all(c.region not in c.also_serves for c in national.centres)
    assert Counter(len(c.also_serves) for c in national.centres) == {0: 254, 1: 219, 2: 45, 3: 9, 4: 1, 5: 1}


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371.0088 * math.asin(math.sqrt(a))


def test_the_border_rule_as_written_in_plain_loops(national: Scenario) -> None:
    """dispatch.regions' rule, recomputed one station and one centre at a time."""
    rule = national.border
    assert (rule.border_km, rule.reach_km) == (10.0, 50.0)
    # for each station and level L, the nearest centre of its own region of level L or better
    own_best = []
    for station in national.stations:
        best = dict.fromkeys(range(1, 5), math.inf)
        for c in national.centres:
            if c.region == station.region:
                d = _km(station.lat, station.lon, c.lat, c.lon)
                for level in range(c.level, 5):
                    best[level] = min(best[level], d)
        own_best.append(best)
    for centre in national.centres:
        expected = set()
        for station, best in zip(national.stations, own_best, strict=True):
            if station.region == centre.region or station.region in expected:
                continue
            d = _km(station.lat, station.lon, centre.lat, centre.lon)
            if d <= rule.border_km or (d <= rule.reach_km and d < best[centre.level]):
                expected.add(station.region)
        assert set(centre.also_serves) == expected, centre.name


def test_a_region_holds_no_far_centre_but_border_ones(national: Scenario) -> None:
    """Every own centre of a region is within 25 km of one of its stations (the farthest: island clinics
    of Jeonnam, 23 km); a border centre within reach_km of one."""
    for code in national.regions:
        part = national.region(code)
        for centre in part.centres:
            nearest = min(_km(centre.lat, centre.lon, s.lat, s.lon) for s in part.stations)
            limit = 25.0 if centre.region == code else national.border.reach_km
            assert nearest <= limit, (code, centre.name, nearest)
            assert centre.region == code or code in centre.also_serves


def test_national_etas_are_approximate_and_said_so(national: Scenario, tmp_path: Path) -> None:
    prepared = prepare(national, cache_dir=tmp_path)
    assert not prepared.exact and prepared.network is None and prepared.off_graph == ()
    assert isinstance(prepared.index, ApproximateIndex) and prepared.index.mode == "approximate"
    assert len(prepared.index.targets) == 529 and not list(tmp_path.iterdir())
    etas = prepared.index.etas(35.1595, 126.8526)  # 광주광역시청
    assert etas.mode == "approximate"
    fastest = etas.ranked()[0][0]
    assert national.centre(fastest).region == "gwangju"
    assert "approximate" in national.title and "추정" in national.title
    part = prepare(national.region("gwangju"), cache_dir=tmp_path)
    assert part.index.mode == "approximate" and len(part.index.targets) == 28
    assert part.scenario.name == "national:gwangju" and part.scenario.fleet_size == 27


def test_one_region_loads_by_name() -> None:
    part = load_scenario("national:sejong", BUNDLE)
    assert part.name == "national:sejong" and part.regions == ("sejong",)
    assert [s.region for s in part.stations] == ["sejong"] * 8 and len(part.left_out) == 1
    assert sum(c.region == "sejong" for c in part.centres) == 2 and len(part.centres) == 11


def test_the_station_list_read_with_the_wrong_encoding_says_so(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot be read as utf-8"):
        read_csv(BUNDLE / FILES.stations)
    toml = tmp_path / "wrong.toml"
    toml.write_text(scenario_file("national").read_text(encoding="utf-8").replace('encoding = "cp949"', ""), "utf-8")
    with pytest.raises(ScenarioError, match="cannot be read as utf-8"):
        load_scenario("wrong", BUNDLE, path=toml)
