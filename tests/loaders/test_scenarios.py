"""Tests of ``loaders.scenarios`` (and the pure ``dispatch.scenario`` it feeds): the shipped scenarios, their checks,
and what is on the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dispatch.roads import ApproximateIndex, RoadNetwork, haversine_m
from dispatch.scenario import (
    LARGE_SCENARIOS,
    SCENARIOS,
    Scenario,
    ScenarioError,
    Station,
    approximate_index,
    off_graph,
    on_graph,
)
from goldentime.settings import default_data_dir
from loaders.graphs import load_network
from loaders.scenarios import default_scenario, has_road_graph, load_scenario, prepare, scenario_file, split_name

DATA_DIR = default_data_dir()
SEVERANCE = "연세대학교의과대학세브란스병원"


@pytest.fixture(scope="module")
def seoul() -> Scenario:
    return load_scenario("seoul-central", DATA_DIR)


@pytest.fixture(scope="module")
def gwangju() -> Scenario:
    return load_scenario("gwangju", DATA_DIR)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scenario-cache")


@pytest.fixture(scope="module")
def network(seoul: Scenario, cache_dir: Path) -> RoadNetwork:
    return load_network(seoul.road_graph, speeds=seoul.speeds, cache_dir=cache_dir)


def test_seoul_central_loads(seoul: Scenario) -> None:
    assert seoul.name == "seoul-central"
    assert len(seoul.centres) == 6  # 7 listed, the dental-only ER excluded
    assert len(seoul.stations) == 14
    assert seoul.fleet_size == 14  # one ambulance per safety centre
    assert has_road_graph(seoul)
    assert seoul.road_graph == DATA_DIR / "roads" / "seoul_jongno_junggu_drive.graphml.gz"  # the bundle compresses it
    assert seoul.speeds.trust_maxspeed is False
    assert seoul.max_snap_m == 500.0
    assert seoul.data_dir == DATA_DIR
    snuh = seoul.centre("A1100017")
    assert snuh.name == "서울대학교병원" and snuh.level == 1 and snuh.trauma_centre
    assert snuh.lat == pytest.approx(37.5797, abs=1e-3) and snuh.lon == pytest.approx(126.9990, abs=1e-3)
    assert not seoul.centre("A1100006").trauma_centre
    assert len({c.hpid for c in seoul.centres}) == 6
    assert all(1 <= c.level <= 4 for c in seoul.centres)
    with pytest.raises(KeyError, match="not a centre"):
        seoul.centre("A0000000")
    # one region, from the data: E-Gen's address for the centres, the 119 list's for the stations
    assert seoul.regions == ("seoul",)
    assert {c.region for c in seoul.centres} == {s.region for s in seoul.stations} == {"seoul"}
    assert all(c.also_serves == () for c in seoul.centres) and seoul.left_out == ()
    assert seoul.region("seoul").centres == seoul.centres and seoul.region("seoul").name == "seoul-central:seoul"


def test_gwangju_loads(gwangju: Scenario) -> None:
    assert gwangju.name == "gwangju"
    assert len(gwangju.centres) == 24
    assert len(gwangju.stations) == 27
    assert all(s.name.endswith("119안전센터") for s in gwangju.stations)
    assert gwangju.fleet_size == 38
    assert sum(s.ambulances == 2 for s in gwangju.stations) == 11
    assert {s.ambulances for s in gwangju.stations} == {1, 2}
    assert not has_road_graph(gwangju)
    assert gwangju.speeds.trust_maxspeed is True
    # one region: E-Gen's merged 전남광주통합특별시 is split by district, the stations' addresses say 광주광역시
    assert gwangju.regions == ("gwangju",)
    assert {c.region for c in gwangju.centres} == {s.region for s in gwangju.stations} == {"gwangju"}
    assert all(c.also_serves == () for c in gwangju.centres)
    # every place is in Gwangju
    for lat, lon in [(c.lat, c.lon) for c in gwangju.centres] + [(s.lat, s.lon) for s in gwangju.stations]:
        assert 34.9 < lat < 35.4 and 126.6 < lon < 127.1


def test_scenario_files_ship_with_the_package() -> None:
    for name in SCENARIOS + LARGE_SCENARIOS:
        assert scenario_file(name).is_file()
    assert scenario_file("national:gwangju") == scenario_file("national")
    assert "national" not in SCENARIOS  # never a default, nor on the what-if page
    for bad in ("atlantis", "atlantis:seoul", ":seoul", "../dispatch/scenarios/gwangju"):
        with pytest.raises(ScenarioError, match=f"unknown scenario '{bad}'; known: gwangju, seoul-central, national"):
            load_scenario(bad, DATA_DIR)


def test_a_region_of_a_scenario_loads_by_name() -> None:
    assert split_name("national:gwangju") == ("national", "gwangju")
    assert split_name("gwangju") == ("gwangju", None) and split_name("national:") == ("national", None)
    part = load_scenario("gwangju:gwangju", DATA_DIR)
    assert part.name == "gwangju:gwangju" and len(part.centres) == 24 and part.fleet_size == 38
    with pytest.raises(ScenarioError, match="gwangju has no region 'seoul'"):
        load_scenario("gwangju:seoul", DATA_DIR)
    with pytest.raises(ScenarioError, match="unknown region 'atlantis'"):
        load_scenario("gwangju:atlantis", DATA_DIR)


def test_default_scenario_is_seoul_central() -> None:
    assert default_scenario(DATA_DIR) == "seoul-central"


def test_default_scenario_without_data(tmp_path: Path) -> None:
    assert default_scenario(tmp_path) == SCENARIOS[-1]


def test_off_graph_on_seoul(seoul: Scenario, network: RoadNetwork) -> None:
    away = off_graph(seoul, network)
    by_name = {o.name: o for o in away}
    assert {o.name for o in away if o.kind == "centre"} == {SEVERANCE}
    stations = {o.name for o in away if o.kind == "station"}
    assert {"홍은119안전센터", "돈암119안전센터"} <= stations
    assert all(o.distance_m > seoul.max_snap_m for o in away)
    assert by_name["홍은119안전센터"].distance_m > 1500
    # the reported distance is the straight line to the nearest node
    centre = seoul.centre("A1100007")
    nearest = network.nearest(centre.lat, centre.lon)
    node = int(nearest.node[0])
    straight = float(haversine_m(centre.lat, centre.lon, network.lat[node], network.lon[node]))
    assert by_name[SEVERANCE].distance_m == pytest.approx(straight, rel=1e-3)
    # every place not reported does snap
    reported = {(o.kind, o.name) for o in away}
    places = [("centre", c.name, c.lat, c.lon) for c in seoul.centres]
    places += [("station", s.name, s.lat, s.lon) for s in seoul.stations]
    for kind, name, lat, lon in places:
        if (kind, name) not in reported:
            network.snap(lat, lon, max_distance_m=seoul.max_snap_m)


def test_on_graph_removes_exactly_the_off_graph_places(seoul: Scenario, network: RoadNetwork) -> None:
    away = off_graph(seoul, network)
    usable = on_graph(seoul, network)
    away_centres = {o.name for o in away if o.kind == "centre"}
    away_stations = {o.name for o in away if o.kind == "station"}
    assert usable.centres == tuple(c for c in seoul.centres if c.name not in away_centres)
    assert usable.stations == tuple(s for s in seoul.stations if s.name not in away_stations)
    assert len(usable.centres) == len(seoul.centres) - 1
    assert len(usable.stations) == len(seoul.stations) - len(away_stations)
    assert usable.fleet_size == seoul.fleet_size - len(away_stations)
    assert off_graph(usable, network) == []
    # everything else is kept as it was
    for name in ("name", "title", "data_dir", "road_graph", "speeds", "max_snap_m", "access_kmh", "notes"):
        assert getattr(usable, name) == getattr(seoul, name), name
    assert seoul.centres and len(seoul.centres) == 6  # the original is untouched


def test_on_graph_judges_each_place_by_its_position(seoul: Scenario, network: RoadNetwork) -> None:
    """Station names repeat nationwide (nine 중앙119안전센터): one off the graph must not take its namesake."""
    inside = next(s for s in seoul.stations if s.name == "종로119안전센터")
    outside = next(s for s in seoul.stations if s.name == "홍은119안전센터")
    twins = Scenario(**{**seoul.__dict__, "stations": (inside, Station(inside.name, outside.lat, outside.lon))})
    assert [o.name for o in off_graph(twins, network) if o.kind == "station"] == [inside.name]
    assert on_graph(twins, network).stations == (inside,)


def test_a_larger_snap_limit_keeps_more(seoul: Scenario, network: RoadNetwork) -> None:
    lenient = Scenario(**{**seoul.__dict__, "max_snap_m": 2000.0})
    assert off_graph(lenient, network) == []
    assert on_graph(lenient, network).centres == seoul.centres


def test_approximate_index_for_gwangju(gwangju: Scenario) -> None:
    index = approximate_index(gwangju)
    assert isinstance(index, ApproximateIndex)
    assert index.mode == "approximate"
    assert len(index.targets) == 24
    station = gwangju.stations[0]
    etas = index.etas(station.lat, station.lon)
    assert etas.mode == "approximate"
    assert etas.target_ids == tuple(c.hpid for c in gwangju.centres)
    assert np.all(np.isfinite(etas.seconds)) and np.all(etas.seconds > 0)
    first = gwangju.centres[0]
    straight = float(haversine_m(station.lat, station.lon, first.lat, first.lon))
    assert etas.meters[0] == pytest.approx(straight * gwangju.detour_factor)
    assert etas.seconds[0] == pytest.approx(straight * gwangju.detour_factor / (gwangju.approximate_kmh / 3.6))
    ranked = etas.ranked()
    assert [r[1] for r in ranked] == sorted(r[1] for r in ranked)
    assert ranked[-1][1] < 3600  # every centre of the city within an hour


def test_prepare_gwangju_is_approximate(gwangju: Scenario, tmp_path: Path) -> None:
    prepared = prepare(gwangju, cache_dir=tmp_path)
    assert not prepared.exact
    assert prepared.network is None and prepared.off_graph == ()
    assert prepared.index.mode == "approximate"
    assert not list(tmp_path.iterdir())


def test_prepare_seoul_is_exact(seoul: Scenario, cache_dir: Path) -> None:
    prepared = prepare(seoul, cache_dir=cache_dir)
    assert prepared.exact and prepared.network is not None
    assert prepared.index.mode == "road"
    assert {o.name for o in prepared.off_graph} >= {SEVERANCE, "홍은119안전센터", "돈암119안전센터"}
    assert SEVERANCE not in {c.name for c in prepared.scenario.centres}
    assert len(prepared.index.targets) == 5
    station = prepared.scenario.stations[0]
    etas = prepared.index.etas(station.lat, station.lon)
    assert etas.mode == "road" and np.all(np.isfinite(etas.seconds))


# --- scenarios that cannot be used as written -------------------------------------------

CENTRES_CSV = "hospitals/seoul_central_emergency_centers.csv"
STATIONS_CSV = "stations/seoul_central_119_centers.csv"


def _toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "custom.toml"
    path.write_text(body, encoding="utf-8")
    return path


def _spec(fleet: str = "", *, centres: str = CENTRES_CSV, stations: str = STATIONS_CSV) -> str:
    return (
        'name = "custom"\n'
        'road_graph = "roads/seoul_jongno_junggu_drive.graphml"\n'
        f'[centres]\nfile = "{centres}"\n'
        f'[stations]\nfile = "{stations}"\n'
        f"{fleet}"
    )


def test_custom_toml_loads(tmp_path: Path) -> None:
    fleet = '[fleet]\nper_station = 2\ntotal = 30\nextra = { "종로119안전센터" = 2 }\n'
    scenario = load_scenario("ignored", DATA_DIR, path=_toml(tmp_path, _spec(fleet)))
    assert scenario.name == "custom"
    assert scenario.title == "ignored"  # no title: the name it was asked for
    assert scenario.fleet_size == 30
    assert {s.name: s.ambulances for s in scenario.stations}["종로119안전센터"] == 4


def test_where_and_exclude_select_centres(tmp_path: Path) -> None:
    body = _spec().replace(
        f'[centres]\nfile = "{CENTRES_CSV}"\n',
        f'[centres]\nfile = "{CENTRES_CSV}"\nwhere = {{ gu = "종로구" }}\nexclude = ["A1107402"]\n',
    )
    scenario = load_scenario("custom", DATA_DIR, path=_toml(tmp_path, body))
    assert {c.hpid for c in scenario.centres} == {"A1100006", "A1100017", "A1100029", "A1100032"}


def test_fleet_total_that_does_not_add_up(tmp_path: Path) -> None:
    path = _toml(tmp_path, _spec("[fleet]\nper_station = 1\ntotal = 20\n"))
    with pytest.raises(ScenarioError, match="fleet adds up to 14 ambulances, not 20") as info:
        load_scenario("custom", DATA_DIR, path=path)
    assert str(path) in str(info.value)


def test_unknown_fleet_extra_station(tmp_path: Path) -> None:
    path = _toml(tmp_path, _spec('[fleet]\nextra = { "없는119안전센터" = 2, "종로119안전센터" = 1 }\n'))
    with pytest.raises(ScenarioError, match=r"fleet\.extra names stations that are not in it") as info:
        load_scenario("custom", DATA_DIR, path=path)
    assert "없는119안전센터" in str(info.value)
    assert "종로119안전센터" not in str(info.value)


@pytest.mark.parametrize("which", ["centres", "stations"])
def test_missing_csv(tmp_path: Path, which: str) -> None:
    missing = "hospitals/nowhere.csv"
    body = _spec(centres=missing) if which == "centres" else _spec(stations=missing)
    with pytest.raises(ScenarioError, match="does not exist") as info:
        load_scenario("custom", DATA_DIR, path=_toml(tmp_path, body))
    assert "nowhere.csv" in str(info.value)


def test_invalid_toml(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'name = "broken\n[centres\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario("custom", DATA_DIR, path=path)
    assert str(path) in str(info.value)
    assert "line" in str(info.value)  # tomllib says where


def test_missing_section(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'name = "custom"\nroad_graph = "x.graphml"\n[centres]\nfile = "' + CENTRES_CSV + '"\n')
    with pytest.raises(ScenarioError, match="KeyError: 'stations'"):
        load_scenario("custom", DATA_DIR, path=path)


def test_no_centres_selected(tmp_path: Path) -> None:
    body = _spec().replace(
        f'[centres]\nfile = "{CENTRES_CSV}"\n', f'[centres]\nfile = "{CENTRES_CSV}"\nwhere = {{ gu = "강남구" }}\n'
    )
    with pytest.raises(ScenarioError, match="no emergency centres selected"):
        load_scenario("custom", DATA_DIR, path=_toml(tmp_path, body))


def test_bad_number_in_csv(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "hospitals").mkdir(parents=True)
    (data / "stations").mkdir()
    source = (DATA_DIR / CENTRES_CSV).read_text(encoding="utf-8")
    (data / CENTRES_CSV).write_text(source.replace("37.568497631233825", "north"), encoding="utf-8")
    (data / STATIONS_CSV).write_text((DATA_DIR / STATIONS_CSV).read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ScenarioError, match="ValueError"):
        load_scenario("custom", data, path=_toml(tmp_path, _spec()))


def test_scenario_error_is_a_value_error() -> None:
    assert issubclass(ScenarioError, ValueError)
