"""Tests of ``dispatch.roads`` (and of ``network_from_graph``, which builds its networks).

Small hand-made graphs pin down how an osmnx graph becomes a :class:`RoadNetwork`; the real
central-Seoul graph checks the travel-time index against networkx, computed independently
on the osmnx graph itself.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pytest
from shapely.geometry import LineString  # type: ignore[import-untyped, unused-ignore]

from dispatch.road_graph import network_from_graph
from dispatch.roads import (
    EARTH_RADIUS_M,
    ApproximateIndex,
    Etas,
    RoadNetwork,
    SnapError,
    Target,
    TravelTimeIndex,
    build_index,
    haversine_m,
)
from dispatch.scenario import on_graph
from dispatch.speeds import SpeedProfile
from goldentime.settings import default_data_dir
from loaders.graphs import load_graphml, load_network, resolve_graph
from loaders.scenarios import load_scenario

DATA_DIR = default_data_dir()
GRAPH = resolve_graph(DATA_DIR / "roads" / "seoul_jongno_junggu_drive.graphml")  # shipped gzip-compressed
PROFILE = SpeedProfile(trust_maxspeed=False)
# bbox of the graph (roads/README.md)
LAT_MIN, LAT_MAX, LON_MIN, LON_MAX = 37.5442, 37.5891, 126.9499, 127.0066

# --- small synthetic graphs ------------------------------------------------------------


def _lat(node: int) -> float:
    return 37.56 + 0.001 * node


def _lon(node: int) -> float:
    return 126.98 + 0.0005 * (node % 3)


def _graph(edges: list[tuple[int, int, dict[str, Any]]], *, nodes: list[int] | None = None) -> nx.MultiDiGraph[int]:
    graph: nx.MultiDiGraph[int] = nx.MultiDiGraph()
    for node in nodes or sorted({n for u, v, _ in edges for n in (u, v)}):
        graph.add_node(node, x=_lon(node), y=_lat(node))
    for u, v, data in edges:
        graph.add_edge(u, v, **data)
    return graph


def _road(length: float, highway: Any = "residential", **extra: Any) -> dict[str, Any]:
    return {"length": length, "highway": highway, "maxspeed": "50", **extra}


def _seconds(length: float, kmh: float) -> float:
    return length / (kmh / 3.6)


def _edge(network: RoadNetwork, u: int, v: int) -> tuple[float, float]:
    """(seconds, metres) of the stored edge between osm ids u and v."""
    position = {int(o): i for i, o in enumerate(network.osm_ids)}
    i, j = position[u], position[v]
    return float(network.time_s[i, j]), float(network.length_m[i, j])


def test_keeps_only_the_largest_strongly_connected_component() -> None:
    graph = _graph(
        [
            (1, 2, _road(100)),
            (2, 3, _road(100)),
            (3, 1, _road(100)),
            (3, 4, _road(100)),  # one way into a smaller component
            (4, 5, _road(100)),
            (5, 4, _road(100)),
            (6, 1, _road(100)),  # a dead start
        ],
        nodes=[1, 2, 3, 4, 5, 6, 7],  # 7: isolated
    )
    network = network_from_graph(graph, speeds=PROFILE, name="small")
    assert network.osm_ids.tolist() == [1, 2, 3]
    assert network.node_count == 3
    assert network.edge_count == 3
    assert network.lat.tolist() == [_lat(1), _lat(2), _lat(3)]
    assert network.lon.tolist() == [_lon(1), _lon(2), _lon(3)]
    assert network.name == "small"
    assert _edge(network, 1, 2) == pytest.approx((_seconds(100, 30), 100))


def test_keeps_the_fastest_parallel_edge_with_its_length_and_geometry() -> None:
    shape = LineString([(_lon(1), _lat(1)), (126.9801, 37.5612), (126.9803, 37.5615), (_lon(2), _lat(2))])
    graph = _graph(
        [
            (1, 2, _road(100, "residential")),  # 30 km/h: 12 s
            (1, 2, _road(150, "primary", geometry=shape)),  # 60 km/h: 9 s, the fastest
            (1, 2, _road(90, "living_street")),  # 20 km/h: 16.2 s
            (2, 1, _road(80, "residential")),
        ]
    )
    network = network_from_graph(graph, speeds=PROFILE)
    assert network.edge_count == 2
    assert _edge(network, 1, 2) == pytest.approx((9.0, 150.0))
    assert _edge(network, 2, 1) == pytest.approx((_seconds(80, 30), 80.0))
    # interior points only, as (lat, lon)
    assert network.edge_points(0, 1).tolist() == [[37.5612, 126.9801], [37.5615, 126.9803]]
    assert network.edge_points(1, 0).shape == (0, 2)
    assert network.path_geometry([0, 1, 0]) == [
        (_lat(1), _lon(1)),
        (37.5612, 126.9801),
        (37.5615, 126.9803),
        (_lat(2), _lon(2)),
        (_lat(1), _lon(1)),
    ]
    with pytest.raises(KeyError):
        network.edge_points(0, 0)


def test_fastest_parallel_edge_is_independent_of_edge_order() -> None:
    fast, slow = _road(150, "primary"), _road(100, "residential")
    for order in ([fast, slow], [slow, fast]):
        graph = _graph([(1, 2, order[0]), (1, 2, order[1]), (2, 1, _road(100))])
        assert _edge(network_from_graph(graph, speeds=PROFILE), 1, 2) == pytest.approx((9.0, 150.0))


def test_trusted_maxspeed_prices_edges() -> None:
    graph = _graph([(1, 2, {"length": 100, "highway": "primary", "maxspeed": "40"}), (2, 1, _road(100))])
    network = network_from_graph(graph, speeds=SpeedProfile(trust_maxspeed=True))
    assert _edge(network, 1, 2)[0] == pytest.approx(_seconds(100, 40 * 1.2))
    assert _edge(network, 2, 1)[0] == pytest.approx(_seconds(100, 50))


@pytest.mark.parametrize("length", [0.0, -5.0, math.nan, math.inf, None])
def test_refuses_an_edge_without_a_positive_finite_travel_time(length: float | None) -> None:
    bad = {"highway": "residential"} if length is None else _road(length)
    graph = _graph([(1, 2, _road(100)), (2, 3, bad), (3, 1, _road(100))])
    with pytest.raises(ValueError, match="positive finite travel time") as info:
        network_from_graph(graph, speeds=PROFILE, name="bad")
    assert "2 -> 3" in str(info.value)
    assert "bad" in str(info.value)


def test_refuses_a_nan_length_parallel_edge_in_either_order() -> None:
    for first, second in ((_road(math.nan), _road(100)), (_road(100), _road(math.nan))):
        graph = _graph([(1, 2, first), (1, 2, second), (2, 1, _road(100))])
        with pytest.raises(ValueError, match="positive finite travel time"):
            network_from_graph(graph, speeds=PROFILE)


@pytest.mark.parametrize("missing", ["x", "y"])
def test_refuses_nodes_without_coordinates(missing: str) -> None:
    graph = _graph([(1, 2, _road(100)), (2, 1, _road(100))])
    del graph.nodes[2][missing]
    with pytest.raises(ValueError, match="finite coordinates"):
        network_from_graph(graph, speeds=PROFILE)


def test_node_without_coordinates_outside_the_component_is_ignored() -> None:
    graph = _graph([(1, 2, _road(100)), (2, 1, _road(100)), (2, 3, _road(100))])
    del graph.nodes[3]["y"]
    assert network_from_graph(graph, speeds=PROFILE).osm_ids.tolist() == [1, 2]


def test_refuses_an_empty_graph() -> None:
    with pytest.raises(ValueError, match="no nodes"):
        network_from_graph(nx.MultiDiGraph(), speeds=PROFILE)


def test_self_loops_are_dropped() -> None:
    # A zero-length self loop would be refused as an edge; it must simply be left out.
    graph = _graph([(1, 1, _road(0.0)), (1, 2, _road(100)), (2, 1, _road(100)), (2, 2, _road(50))])
    network = network_from_graph(graph, speeds=PROFILE)
    assert network.edge_count == 2
    assert network.time_s[0, 0] == 0 and network.time_s[1, 1] == 0
    assert network.times_from(0).tolist() == pytest.approx([0.0, 12.0])


def test_road_network_validates_its_arrays() -> None:
    graph = _graph([(1, 2, _road(100)), (2, 1, _road(100))])
    good = network_from_graph(graph, speeds=PROFILE)
    fields: dict[str, Any] = {
        "osm_ids": good.osm_ids,
        "lat": good.lat,
        "lon": good.lon,
        "time_s": good.time_s,
        "length_m": good.length_m,
        "geometry_offsets": good.geometry_offsets,
        "geometry_coords": good.geometry_coords,
    }
    with pytest.raises(ValueError, match="disagree in size"):
        RoadNetwork(**{**fields, "lat": good.lat[:1]})
    with pytest.raises(ValueError, match="out of range"):
        RoadNetwork(**{**fields, "lat": np.array([37.5, 137.5])})


def _line() -> TravelTimeIndex:
    """1 <-> 2 <-> 3, residential (30 km/h) 100 m and primary (60 km/h) 200 m; target at node 3."""
    graph = _graph(
        [
            (1, 2, _road(100)),
            (2, 1, _road(100)),
            (2, 3, _road(200, "primary")),
            (3, 2, _road(200, "primary")),
        ]
    )
    network = network_from_graph(graph, speeds=PROFILE, name="line")
    return build_index(network, [Target("C3", _lat(3), _lon(3)), Target("C1", _lat(1), _lon(1))], access_kmh=18.0)


def test_index_on_a_small_graph() -> None:
    index = _line()
    assert index.mode == "road"
    assert index.target_ids == ("C3", "C1")
    assert index.target_nodes.tolist() == [2, 0]
    np.testing.assert_allclose(index.to_target_s, [[24.0, 12.0, 0.0], [0.0, 12.0, 24.0]], rtol=0, atol=1e-9)
    np.testing.assert_allclose(index.to_target_m, [[300.0, 200.0, 0.0], [0.0, 100.0, 300.0]], rtol=0, atol=1e-9)
    assert index.next_hop.tolist() == [[1, 2, -1], [-1, 0, 1]]
    assert index.path(0, 0) == [0, 1, 2]
    assert index.path(2, 0) == [2]
    etas = index.etas_from_node(1)
    assert etas.seconds.tolist() == pytest.approx([12.0, 12.0])
    assert etas.ranked()[0][0] == "C1"  # tie broken by id
    # 50 m due north of node 1 at 18 km/h = 5 m/s: 10 s of access leg
    lat = _lat(1) + math.degrees(50 / EARTH_RADIUS_M)
    etas = index.etas(lat, _lon(1))
    assert etas.meters.tolist() == pytest.approx([350.0, 50.0], abs=1e-6)
    assert etas.seconds.tolist() == pytest.approx([34.0, 10.0], abs=1e-6)


def test_build_index_needs_targets_on_the_graph() -> None:
    index = _line()
    with pytest.raises(ValueError, match="at least one target"):
        build_index(index.network, [])
    with pytest.raises(SnapError):
        build_index(index.network, [Target("far", 37.0, 127.0)])


# --- great-circle distance and the approximate index -----------------------------------


def test_haversine() -> None:
    one_degree = EARTH_RADIUS_M * math.pi / 180
    assert float(haversine_m(37.0, 127.0, 38.0, 127.0)) == pytest.approx(one_degree, rel=1e-12)
    assert float(haversine_m(0.0, 0.0, 0.0, 1.0)) == pytest.approx(one_degree, rel=1e-12)
    assert float(haversine_m(37.5, 127.0, 37.5, 127.0)) == 0.0
    # Seoul City Hall to Busan City Hall: about 325 km
    assert float(haversine_m(37.5663, 126.9779, 35.1798, 129.0750)) == pytest.approx(325_000, rel=0.01)
    many = haversine_m(37.0, 127.0, np.array([37.0, 38.0]), np.array([128.0, 127.0]))
    assert many.shape == (2,)


def test_approximate_index() -> None:
    targets = (Target("A", 37.57, 126.98), Target("B", 37.60, 127.02), Target("C", 37.50, 126.90))
    index = ApproximateIndex(targets, detour_factor=1.5, speed_kmh=36.0)
    assert index.mode == "approximate"
    assert index.target_ids == ("A", "B", "C")
    etas = index.etas(37.56, 126.97)
    assert etas.mode == "approximate"
    assert etas.target_ids == ("A", "B", "C")
    for i, target in enumerate(targets):
        straight = _reference_haversine(37.56, 126.97, target.lat, target.lon)
        assert etas.meters[i] == pytest.approx(straight * 1.5, rel=1e-9)
        assert etas.seconds[i] == pytest.approx(straight * 1.5 / 10.0, rel=1e-9)  # 36 km/h = 10 m/s
    assert [r[0] for r in etas.ranked()] == ["A", "B", "C"]
    default = ApproximateIndex(targets)
    assert (default.detour_factor, default.speed_kmh) == (1.35, 35.0)


@pytest.mark.parametrize(
    ("lat", "lon"), [(91.0, 127.0), (-90.5, 127.0), (37.5, 181.0), (37.5, -180.1), (math.nan, 127.0)]
)
def test_approximate_index_refuses_out_of_range_coordinates(lat: float, lon: float) -> None:
    with pytest.raises(SnapError, match="not a WGS84 coordinate"):
        ApproximateIndex((Target("A", 37.57, 126.98),)).etas(lat, lon)


def _reference_haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def test_ranked_sorts_by_seconds_then_id() -> None:
    etas = Etas(
        ("D", "B", "A", "C", "E"),
        np.array([30.0, 10.0, 30.0, 10.0, math.inf]),
        np.array([300.0, 100.0, 301.0, 99.0, math.inf]),
        "road",
    )
    assert etas.ranked() == [
        ("B", 10.0, 100.0),
        ("C", 10.0, 99.0),
        ("A", 30.0, 301.0),
        ("D", 30.0, 300.0),
        ("E", math.inf, math.inf),
    ]


# --- the real central-Seoul graph ---------------------------------------------------------


@dataclass(frozen=True)
class Seoul:
    network: RoadNetwork
    index: TravelTimeIndex
    reference: nx.MultiDiGraph[int]  # the osmnx graph, largest SCC, with an independent "travel_time"
    centres: int  # the first ``centres`` targets of the index are the scenario's centres


@pytest.fixture(scope="module")
def seoul(tmp_path_factory: pytest.TempPathFactory) -> Seoul:
    network = load_network(GRAPH, speeds=PROFILE, cache_dir=tmp_path_factory.mktemp("road-cache"))
    scenario = on_graph(load_scenario("seoul-central", DATA_DIR), network)
    rng = np.random.default_rng(20240519)
    extra = rng.choice(network.node_count, size=4, replace=False)
    targets = [c.target() for c in scenario.centres] + [
        Target(f"node-{network.osm_ids[i]}", float(network.lat[i]), float(network.lon[i])) for i in extra
    ]
    index = build_index(network, targets)

    graph = load_graphml(GRAPH)
    component = max(nx.strongly_connected_components(graph), key=len)
    reference: nx.MultiDiGraph[int] = graph.subgraph(component).copy()
    for _, _, data in reference.edges(data=True):
        data["travel_time"] = float(data["length"]) / (PROFILE.speed_kmh(data["highway"], data["maxspeed"]) / 3.6)
    return Seoul(network, index, reference, len(scenario.centres))


def test_seoul_network_is_the_largest_scc(seoul: Seoul) -> None:
    network, reference = seoul.network, seoul.reference
    assert network.node_count == reference.number_of_nodes() == 3309
    assert set(network.osm_ids.tolist()) == set(reference.nodes)
    pairs = {(u, v) for u, v in reference.edges() if u != v}
    assert network.edge_count == len(pairs)
    for i in range(0, network.node_count, 97):
        osm = int(network.osm_ids[i])
        assert network.lat[i] == reference.nodes[osm]["y"]
        assert network.lon[i] == reference.nodes[osm]["x"]


def test_seoul_targets(seoul: Seoul) -> None:
    index = seoul.index
    assert seoul.centres == 5  # seoul-central without Severance (off the graph) and the dental-only ER
    assert len(index.targets) == 9
    # the random node targets sit exactly on their nodes
    for t in range(seoul.centres, len(index.targets)):
        osm = int(index.target_ids[t].removeprefix("node-"))
        assert int(seoul.network.osm_ids[index.target_nodes[t]]) == osm
    assert np.all(index.to_target_s[np.arange(len(index.targets)), index.target_nodes] == 0)
    assert np.all(np.isfinite(index.to_target_s)) and np.all(np.isfinite(index.to_target_m))


def test_index_times_equal_networkx_for_every_node(seoul: Seoul) -> None:
    network, index = seoul.network, seoul.index
    reverse = seoul.reference.reverse(copy=False)
    for t, node in enumerate(index.target_nodes):
        expected = nx.single_source_dijkstra_path_length(reverse, int(network.osm_ids[node]), weight="travel_time")
        assert len(expected) == network.node_count
        got = index.to_target_s[t]
        want = np.array([expected[int(osm)] for osm in network.osm_ids])
        assert np.max(np.abs(got - want)) < 1e-6, index.target_ids[t]


def test_index_times_equal_networkx_on_random_pairs(seoul: Seoul) -> None:
    network, index = seoul.network, seoul.index
    rng = np.random.default_rng(7)
    origins = rng.integers(0, network.node_count, size=300)
    targets = rng.integers(0, len(index.targets), size=300)
    worst = 0.0
    for node, t in zip(origins.tolist(), targets.tolist(), strict=True):
        expected = nx.shortest_path_length(
            seoul.reference,
            int(network.osm_ids[node]),
            int(network.osm_ids[index.target_nodes[t]]),
            weight="travel_time",
        )
        worst = max(worst, abs(float(index.to_target_s[t, node]) - float(expected)))
    assert worst < 1e-6


def test_times_from_and_to_equal_networkx(seoul: Seoul) -> None:
    network, reference = seoul.network, seoul.reference
    reverse = reference.reverse(copy=False)
    for node in (0, 1234, network.node_count - 1):
        osm = int(network.osm_ids[node])
        forward = nx.single_source_dijkstra_path_length(reference, osm, weight="travel_time")
        backward = nx.single_source_dijkstra_path_length(reverse, osm, weight="travel_time")
        want_from = np.array([forward[int(o)] for o in network.osm_ids])
        want_to = np.array([backward[int(o)] for o in network.osm_ids])
        assert np.max(np.abs(network.times_from(node) - want_from)) < 1e-6
        assert np.max(np.abs(network.times_to(node) - want_to)) < 1e-6


def test_trees_are_cached_and_read_only(seoul: Seoul) -> None:
    network = seoul.network
    first = network.times_from(42)
    assert network.times_from(42) is first
    assert network.times_to(42) is network.times_to(42)
    assert network.times_to(42) is not first
    assert not first.flags.writeable
    with pytest.raises(ValueError):
        first[0] = 1.0


def test_tree_cache_is_bounded() -> None:
    graph = _graph([(1, 2, _road(100)), (2, 3, _road(100)), (3, 1, _road(100))])
    network = network_from_graph(graph, speeds=PROFILE)
    object.__setattr__(network, "max_trees", 2)
    a = network.times_from(0)
    network.times_from(1)
    assert network.times_from(0) is a  # refreshed: now the most recent
    network.times_from(2)  # evicts 1
    assert network.times_from(0) is a
    assert len(network._cache) == 2


def test_paths_are_consistent_with_the_index(seoul: Seoul) -> None:
    network, index = seoul.network, seoul.index
    rng = np.random.default_rng(11)
    for node in rng.integers(0, network.node_count, size=60).tolist():
        for t in range(len(index.targets)):
            path = index.path(node, t)
            assert path[0] == node and path[-1] == index.target_nodes[t]
            assert len(set(path)) == len(path)
            seconds = sum(float(network.time_s[u, v]) for u, v in itertools.pairwise(path))
            meters = sum(float(network.length_m[u, v]) for u, v in itertools.pairwise(path))
            assert seconds == pytest.approx(float(index.to_target_s[t, node]), abs=1e-6)
            assert meters == pytest.approx(float(index.to_target_m[t, node]), abs=1e-6)


def test_route_geometry(seoul: Seoul) -> None:
    network, index = seoul.network, seoul.index
    rng = np.random.default_rng(5)
    for _ in range(40):
        node = int(rng.integers(0, network.node_count))
        lat = float(network.lat[node]) + float(rng.uniform(-0.0005, 0.0005))
        lon = float(network.lon[node]) + float(rng.uniform(-0.0005, 0.0005))
        t = int(rng.integers(0, len(index.targets)))
        route = index.route(lat, lon, index.target_ids[t])
        assert route[0] == (lat, lon)
        end = index.target_nodes[t]
        assert route[-1] == (float(network.lat[end]), float(network.lon[end]))
        points = np.array(route)
        steps = haversine_m(points[:-1, 0], points[:-1, 1], points[1:, 0], points[1:, 1])
        assert np.all(steps < 2000)
        # the drawn route is at least as long as the driven path (the access leg adds to it)
        start = int(network.snap(lat, lon, max_distance_m=500).node[0])
        assert steps.sum() >= float(index.to_target_m[t, start]) * 0.98
    with pytest.raises(ValueError):
        index.route(37.56, 126.98, "no-such-centre")


def test_etas_are_access_leg_plus_graph_time(seoul: Seoul) -> None:
    network, index = seoul.network, seoul.index
    rng = np.random.default_rng(3)
    for _ in range(30):
        lat, lon = float(rng.uniform(LAT_MIN, LAT_MAX)), float(rng.uniform(LON_MIN, LON_MAX))
        snapped = network.nearest(lat, lon)
        if snapped.distance_m[0] > index.max_snap_m:
            continue
        node, access_m = int(snapped.node[0]), float(snapped.distance_m[0])
        etas = index.etas(lat, lon)
        assert etas.mode == "road"
        assert etas.target_ids == index.target_ids
        want_s = access_m / (index.access_kmh / 3.6) + index.to_target_s[:, node]
        assert np.allclose(etas.seconds, want_s, rtol=0, atol=1e-9)
        assert np.allclose(etas.meters, access_m + index.to_target_m[:, node], rtol=0, atol=1e-9)
        ranked = etas.ranked()
        assert [r[1] for r in ranked] == sorted(float(s) for s in etas.seconds)
        assert sorted(r[0] for r in ranked) == sorted(index.target_ids)


def test_etas_refuse_a_point_off_the_graph(seoul: Seoul) -> None:
    with pytest.raises(SnapError, match="limit 500 m"):
        seoul.index.etas(LAT_MIN - 0.045, 126.98)


def _projected(network: RoadNetwork, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The same local equirectangular projection as RoadNetwork, written out again."""
    lat0, lon0 = float(np.mean(network.lat)), float(np.mean(network.lon))
    x = np.radians(lon - lon0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    y = np.radians(lat - lat0) * EARTH_RADIUS_M
    return np.column_stack([x, y])


def test_vectorised_snap_equals_brute_force(seoul: Seoul) -> None:
    network = seoul.network
    rng = np.random.default_rng(99)
    lat = rng.uniform(LAT_MIN, LAT_MAX, size=200)
    lon = rng.uniform(LON_MIN, LON_MAX, size=200)
    snapped = network.snap(lat, lon, max_distance_m=5000)
    assert snapped.node.shape == snapped.distance_m.shape == (200,)

    # same projection: exactly the nearest node (ties allowed: compare distances, not ids)
    points, nodes = _projected(network, lat, lon), _projected(network, network.lat, network.lon)
    planar = np.linalg.norm(points[:, None, :] - nodes[None, :, :], axis=2)
    assert np.allclose(planar[np.arange(200), snapped.node], planar.min(axis=1), rtol=0, atol=1e-6)
    assert np.allclose(snapped.distance_m, planar.min(axis=1), rtol=0, atol=1e-6)

    # great-circle: the nearest node too, within the projection's error (well under a metre here)
    spherical = haversine_m(lat[:, None], lon[:, None], network.lat[None, :], network.lon[None, :])
    chosen = spherical[np.arange(200), snapped.node]
    assert np.all(chosen <= spherical.min(axis=1) + 0.5)
    assert np.allclose(snapped.distance_m, chosen, rtol=1e-3, atol=0.5)


def test_snap_far_point_raises_with_distance_and_limit(seoul: Seoul) -> None:
    network = seoul.network
    lat, lon = LAT_MIN - 0.045, 126.98  # about 5 km south of the graph's bbox
    distance = float(network.nearest(lat, lon).distance_m[0])
    assert distance > 4000
    with pytest.raises(SnapError) as info:
        network.snap(lat, lon, max_distance_m=500)
    message = str(info.value)
    assert f"{distance:,.0f} m" in message
    assert "limit 500 m" in message
    assert "37.499200" in message
    assert network.name in message
    assert isinstance(info.value, ValueError)


def test_snap_reports_how_many_points_are_too_far(seoul: Seoul) -> None:
    lat = np.array([37.57, LAT_MIN - 0.045, LAT_MAX + 0.05, LAT_MAX + 0.06])
    lon = np.array([126.98, 126.98, 126.98, 126.98])
    with pytest.raises(SnapError, match="2 more points too far"):
        seoul.network.snap(lat, lon, max_distance_m=500)


def test_snap_honours_max_distance(seoul: Seoul) -> None:
    network = seoul.network
    lat, lon = LAT_MIN - 0.01, 126.98
    distance = float(network.nearest(lat, lon).distance_m[0])
    assert 500 < distance < 2000
    ok = network.snap(lat, lon, max_distance_m=distance + 1)
    assert float(ok.distance_m[0]) == distance
    with pytest.raises(SnapError, match=r"limit 1,999 m"):
        network.snap(LAT_MIN - 0.045, 126.98, max_distance_m=1999)
    with pytest.raises(SnapError):
        network.snap(lat, lon, max_distance_m=distance - 1)
    node = 17  # a point on a node snaps at distance 0 under any limit
    exact = network.snap(float(network.lat[node]), float(network.lon[node]), max_distance_m=0.0)
    assert int(exact.node[0]) == node and float(exact.distance_m[0]) == 0.0


def test_single_point_snap_equals_the_kd_tree(seoul: Seoul) -> None:
    network = seoul.network
    rng = np.random.default_rng(2024)
    # inside the bbox, and in a band around it (inside and outside the fast grid's margin)
    lat = rng.uniform(LAT_MIN - 0.012, LAT_MAX + 0.012, size=400)
    lon = rng.uniform(LON_MIN - 0.015, LON_MAX + 0.015, size=400)
    reference = network.snap(lat, lon, max_distance_m=5000)
    nodes = _projected(network, network.lat, network.lon)
    for k in range(len(lat)):
        node, distance = network.snap_point(float(lat[k]), float(lon[k]), max_distance_m=5000)
        assert distance == pytest.approx(float(reference.distance_m[k]), abs=1e-6)
        if node != reference.node[k]:  # a tie: both nodes equally near
            point = _projected(network, lat[k : k + 1], lon[k : k + 1])[0]
            assert np.linalg.norm(nodes[node] - point) == pytest.approx(distance, abs=1e-6)
    # every node snaps onto itself
    for node in range(0, network.node_count, 37):
        found, distance = network.snap_point(float(network.lat[node]), float(network.lon[node]), max_distance_m=1.0)
        assert distance == pytest.approx(0.0, abs=1e-6)
        assert network.lat[found] == network.lat[node] and network.lon[found] == network.lon[node]


def test_single_point_snap_honours_the_limit(seoul: Seoul) -> None:
    network = seoul.network
    for lat, lon in ((LAT_MIN - 0.004, 126.98), (LAT_MIN - 0.045, 126.98), (10.0, 10.0)):
        nearest = network.nearest(lat, lon)
        distance = float(nearest.distance_m[0])
        node, got = network.snap_point(lat, lon, max_distance_m=distance + 1)
        assert node == int(nearest.node[0])
        assert got == pytest.approx(distance, abs=1e-6)
        with pytest.raises(SnapError, match=f"{distance:,.0f} m from the nearest road") as info:
            network.snap_point(lat, lon, max_distance_m=distance - 1)
        assert f"limit {distance - 1:,.0f} m" in str(info.value)


@pytest.mark.parametrize("call", ["snap", "snap_point", "etas", "route"])
def test_a_nan_point_raises_snap_error(seoul: Seoul, call: str) -> None:
    with pytest.raises(SnapError):
        if call == "snap":
            seoul.network.snap(math.nan, math.nan, max_distance_m=500)
        elif call == "snap_point":
            seoul.network.snap_point(math.nan, 126.98, max_distance_m=500)
        elif call == "etas":
            seoul.index.etas(math.nan, 126.98)
        else:
            seoul.index.route(37.57, math.nan, seoul.index.target_ids[0])
