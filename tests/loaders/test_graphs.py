"""Tests of ``loaders.graphs`` (and ``dispatch.road_graph``): GraphML in, prepared arrays out, and the npz cache.

The cache tests on the real graph prove a hit by making ``osmnx.load_graphml`` fail; the
corruption tests run on a tiny GraphML written to ``tmp_path`` so each rebuild is instant.
"""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest

import loaders.graphs as graph_files
from dispatch.roads import RoadNetwork, Target, TravelTimeIndex
from dispatch.scenario import on_graph
from dispatch.speeds import SpeedProfile
from goldentime.settings import default_data_dir
from loaders.graphs import file_sha256, load_index, load_network, network_cache_key, resolve_graph
from loaders.scenarios import load_scenario

DATA_DIR = default_data_dir()
GRAPH = resolve_graph(DATA_DIR / "roads" / "seoul_jongno_junggu_drive.graphml")  # the bundle ships it gzip-compressed
GRAPH_SHA256 = "9237356efffca6f57f17817d899f487c843081240be8abbf766e94bbf390e224"  # roads/README.md
PROFILE = SpeedProfile(trust_maxspeed=False)


def _no_osmnx(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("osmnx.load_graphml called: the cache was not used")


def _block_osmnx(monkeypatch: pytest.MonkeyPatch) -> None:
    import osmnx

    monkeypatch.setattr(osmnx, "load_graphml", _no_osmnx)


def _assert_same_network(a: RoadNetwork, b: RoadNetwork) -> None:
    assert np.array_equal(a.osm_ids, b.osm_ids)
    assert np.array_equal(a.lat, b.lat)
    assert np.array_equal(a.lon, b.lon)
    for left, right in ((a.time_s, b.time_s), (a.length_m, b.length_m)):
        assert np.array_equal(left.indptr, right.indptr)
        assert np.array_equal(left.indices, right.indices)
        assert np.array_equal(left.data, right.data)
    assert np.array_equal(a.geometry_offsets, b.geometry_offsets)
    assert np.array_equal(a.geometry_coords, b.geometry_coords)
    assert a.name == b.name


def _cache_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.npz"))


# --- the real graph ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RoadNetwork]:
    """The real graph prepared once, with its cache directory (read-only for the tests)."""
    cache_dir = tmp_path_factory.mktemp("graph-cache")
    return cache_dir, load_network(GRAPH, speeds=PROFILE, cache_dir=cache_dir)


@pytest.fixture
def cache_copy(prepared: tuple[Path, RoadNetwork], tmp_path: Path) -> Path:
    """A private copy of the prepared cache directory."""
    directory = tmp_path / "cache"
    shutil.copytree(prepared[0], directory)
    return directory


def test_load_network_writes_its_cache(prepared: tuple[Path, RoadNetwork]) -> None:
    cache_dir, network = prepared
    key = network_cache_key(GRAPH, PROFILE)
    assert key == f"{GRAPH_SHA256[:16]}-{PROFILE.key()}"
    assert [p.name for p in cache_dir.iterdir()] == [f"network-{key}.npz"]  # no partial file left behind
    assert network.node_count == 3309
    assert network.name == "seoul_jongno_junggu_drive.graphml"


def test_second_load_uses_the_cache(prepared: tuple[Path, RoadNetwork], monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir, network = prepared
    _block_osmnx(monkeypatch)
    again = load_network(GRAPH, speeds=PROFILE, cache_dir=cache_dir)
    assert again is not network
    _assert_same_network(again, network)
    # and it answers the same questions
    assert np.array_equal(again.times_to(100), network.times_to(100))
    assert np.array_equal(again.nearest(37.57, 126.98).node, network.nearest(37.57, 126.98).node)
    assert again.path_geometry([0]) == network.path_geometry([0])


def test_changed_speed_profile_misses_the_cache(cache_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trusted = SpeedProfile(trust_maxspeed=True)
    assert network_cache_key(GRAPH, trusted) != network_cache_key(GRAPH, PROFILE)
    _block_osmnx(monkeypatch)
    with pytest.raises(AssertionError, match="cache was not used"):
        load_network(GRAPH, speeds=trusted, cache_dir=cache_copy)
    monkeypatch.undo()

    rebuilt = load_network(GRAPH, speeds=trusted, cache_dir=cache_copy)
    names = [p.name for p in _cache_files(cache_copy)]
    assert len(names) == 2
    assert f"network-{network_cache_key(GRAPH, trusted)}.npz" in names
    # re-priced: trusting the graph's "50" on residential streets makes them faster than 30 km/h
    original = load_network(GRAPH, speeds=PROFILE, cache_dir=cache_copy)
    assert np.array_equal(rebuilt.osm_ids, original.osm_ids)
    assert rebuilt.time_s.data.sum() < original.time_s.data.sum()


@pytest.mark.parametrize(
    "other",
    [
        SpeedProfile(trust_maxspeed=False, fallback_kmh=31.0),
        SpeedProfile(trust_maxspeed=False, emergency_factor={"primary": 1.0}),
        SpeedProfile(trust_maxspeed=False, default_kmh={"residential": 25.0}),
    ],
)
def test_every_profile_value_is_in_the_key(other: SpeedProfile) -> None:
    assert network_cache_key(GRAPH, other) != network_cache_key(GRAPH, PROFILE)
    assert network_cache_key(GRAPH, other).startswith(GRAPH_SHA256[:16])


def test_changed_graph_bytes_change_the_key(prepared: tuple[Path, RoadNetwork], tmp_path: Path) -> None:
    assert file_sha256(GRAPH) == GRAPH_SHA256
    copy = tmp_path / GRAPH.name.removesuffix(".gz")
    copy.write_bytes(gzip.decompress(GRAPH.read_bytes()) + b"\n")
    assert network_cache_key(copy, PROFILE) != network_cache_key(GRAPH, PROFILE)
    assert network_cache_key(copy, PROFILE).endswith(PROFILE.key())

    cache_dir = tmp_path / "cache"
    shutil.copytree(prepared[0], cache_dir)
    network = load_network(copy, speeds=PROFILE, cache_dir=cache_dir)  # osmnx still reads it
    assert len(_cache_files(cache_dir)) == 2
    assert (cache_dir / f"network-{network_cache_key(copy, PROFILE)}.npz").is_file()
    _assert_same_network(network, prepared[1])  # same roads, only the bytes changed


def test_a_compressed_graph_is_the_same_graph_with_the_same_cache(
    prepared: tuple[Path, RoadNetwork], tmp_path: Path
) -> None:
    """The bundle ships the graph gzip-compressed: the plain file gives the same network and cache key."""
    assert GRAPH.name.endswith(".graphml.gz")
    plain = tmp_path / GRAPH.name.removesuffix(".gz")
    plain.write_bytes(gzip.decompress(GRAPH.read_bytes()))
    assert resolve_graph(plain) == plain and resolve_graph(tmp_path / "absent.graphml") == tmp_path / "absent.graphml"
    assert network_cache_key(plain, PROFILE) == network_cache_key(GRAPH, PROFILE)
    _assert_same_network(load_network(plain, speeds=PROFILE, cache_dir=None), prepared[1])


def test_missing_graph_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_network(tmp_path / "nowhere.graphml", speeds=PROFILE, cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError):
        load_network(tmp_path, speeds=PROFILE, cache_dir=None)  # a directory is not a graph
    assert not list(tmp_path.iterdir())


def _centres(network: RoadNetwork) -> list[Target]:
    scenario = on_graph(load_scenario("seoul-central", DATA_DIR), network)
    return [c.target() for c in scenario.centres]


def _assert_same_index(a: TravelTimeIndex, b: TravelTimeIndex) -> None:
    for name in ("target_nodes", "to_target_s", "to_target_m", "next_hop"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype, name
        assert np.array_equal(left, right), name
    assert a.targets == b.targets
    assert (a.access_kmh, a.max_snap_m, a.mode) == (b.access_kmh, b.max_snap_m, b.mode)


def test_load_index_round_trips_through_its_cache(
    prepared: tuple[Path, RoadNetwork], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    network = prepared[1]
    targets = _centres(network)
    key = network_cache_key(GRAPH, PROFILE)
    built = load_index(network, targets, network_key=key, cache_dir=tmp_path, access_kmh=15.0)
    files = _cache_files(tmp_path)
    assert len(files) == 1 and files[0].name.startswith(f"index-{key}-")

    def no_build(*args: Any, **kwargs: Any) -> TravelTimeIndex:
        raise AssertionError("build_index called: the cache was not used")

    monkeypatch.setattr(graph_files, "build_index", no_build)
    cached = load_index(network, targets, network_key=key, cache_dir=tmp_path, access_kmh=15.0)
    _assert_same_index(cached, built)
    a, b = cached.etas(37.57, 126.98), built.etas(37.57, 126.98)
    assert np.array_equal(a.seconds, b.seconds) and np.array_equal(a.meters, b.meters)
    assert a.target_ids == b.target_ids

    # another target list or snapping limit is another file
    with pytest.raises(AssertionError, match="build_index called"):
        load_index(network, targets[:-1], network_key=key, cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="build_index called"):
        load_index(network, targets, network_key=key, cache_dir=tmp_path, max_snap_m=400.0)
    with pytest.raises(AssertionError, match="build_index called"):
        load_index(network, targets, network_key="another-network", cache_dir=tmp_path)


def test_load_index_without_cache_dir(prepared: tuple[Path, RoadNetwork], tmp_path: Path) -> None:
    network = prepared[1]
    index = load_index(network, _centres(network)[:2], network_key="k", cache_dir=None)
    assert index.to_target_s.shape == (2, network.node_count)


# --- a tiny GraphML for the corruption tests ------------------------------------------


@pytest.fixture
def tiny_graph(tmp_path: Path) -> Path:
    import osmnx

    graph = nx.MultiDiGraph(crs="epsg:4326")
    for node, (lat, lon) in {1: (37.560, 126.980), 2: (37.561, 126.981), 3: (37.560, 126.982)}.items():
        graph.add_node(node, x=lon, y=lat)
    for u, v in ((1, 2), (2, 3), (3, 1), (2, 1)):
        graph.add_edge(u, v, length=100.0 + u + v, highway="residential", maxspeed="50")
    path = tmp_path / "tiny.graphml"
    osmnx.save_graphml(graph, path)
    return path


def _corrupt(kind: str, good: bytes, path: Path) -> None:
    middle = len(good) // 2
    if kind == "garbage":
        path.write_bytes(b"this is not an npz file" * 10)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(good[:middle])
    elif kind == "flipped":
        path.write_bytes(good[:middle] + bytes(b ^ 0xFF for b in good[middle : middle + 16]) + good[middle + 16 :])
    elif kind == "missing-arrays":
        np.savez(path, version=np.array([graph_files.CACHE_VERSION]))
    else:
        raise AssertionError(kind)


CORRUPTIONS = ["garbage", "empty", "truncated", "flipped", "missing-arrays"]


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupted_network_cache_is_rebuilt_with_a_warning(
    kind: str, tiny_graph: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir = tmp_path / "cache"
    network = load_network(tiny_graph, speeds=PROFILE, cache_dir=cache_dir)
    (cache,) = _cache_files(cache_dir)
    _corrupt(kind, cache.read_bytes(), cache)

    with caplog.at_level(logging.WARNING, logger="loaders.graphs"):
        rebuilt = load_network(tiny_graph, speeds=PROFILE, cache_dir=cache_dir)
    _assert_same_network(rebuilt, network)
    assert any("cache" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    # the rebuilt network was saved again: the next load is a clean cache hit
    caplog.clear()
    with pytest.MonkeyPatch.context() as patch:
        _block_osmnx(patch)
        _assert_same_network(load_network(tiny_graph, speeds=PROFILE, cache_dir=cache_dir), network)
    assert not caplog.records


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupted_index_cache_is_rebuilt(kind: str, tiny_graph: Path, tmp_path: Path) -> None:
    network = load_network(tiny_graph, speeds=PROFILE, cache_dir=None)
    targets = [Target("A", 37.560, 126.980)]
    index = load_index(network, targets, network_key="tiny", cache_dir=tmp_path)
    (cache,) = _cache_files(tmp_path)
    _corrupt(kind, cache.read_bytes(), cache)
    _assert_same_index(load_index(network, targets, network_key="tiny", cache_dir=tmp_path), index)


def test_cache_of_another_version_is_ignored(tiny_graph: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    network = load_network(tiny_graph, speeds=PROFILE, cache_dir=tmp_path)
    monkeypatch.setattr(graph_files, "CACHE_VERSION", graph_files.CACHE_VERSION + 1)
    import osmnx

    calls: list[Path] = []
    real = osmnx.load_graphml

    def counting(path: Path) -> Any:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(osmnx, "load_graphml", counting)
    _assert_same_network(load_network(tiny_graph, speeds=PROFILE, cache_dir=tmp_path), network)
    assert calls == [tiny_graph]


def test_no_cache_dir_writes_nothing(tiny_graph: Path) -> None:
    before = sorted(tiny_graph.parent.iterdir())
    network = load_network(tiny_graph, speeds=PROFILE, cache_dir=None)
    assert network.osm_ids.tolist() == [1, 2, 3]
    assert network.edge_count == 4
    assert sorted(tiny_graph.parent.iterdir()) == before


def test_caller_supplied_key_names_the_cache_file(tiny_graph: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    network = load_network(tiny_graph, speeds=PROFILE, cache_dir=cache_dir, key="precomputed")
    assert [p.name for p in _cache_files(cache_dir)] == ["network-precomputed.npz"]
    with pytest.MonkeyPatch.context() as patch:
        _block_osmnx(patch)
        _assert_same_network(load_network(tiny_graph, speeds=PROFILE, cache_dir=cache_dir, key="precomputed"), network)
