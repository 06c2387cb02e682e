"""Road-network benchmark: ETA queries against networkx, index build time and memory, at scale.

Measured on the shipped ``seoul-central`` graph and on a synthetic grid of Gwangju's size
(about 200,000 nodes); writes the ``roads`` section of ``docs/performance.md``.
"""

from __future__ import annotations

import gc
import importlib
import math
import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from dispatch.road_graph import network_from_edges
from dispatch.roads import FloatArray, RoadNetwork, Target, TravelTimeIndex, build_index, haversine_m
from dispatch.scenario import Scenario, on_graph
from goldentime.bench import report
from loaders import graphs as graph_files
from loaders.scenarios import load_scenario

T = TypeVar("T")
Points = list[tuple[float, float]]
SCENARIO = "seoul-central"
GOAL_RATIO = 1000.0
GOAL = "≥ 1,000× faster than networkx Dijkstra"
CACHED_LOAD_GOAL_S = 0.5
GRID_ORIGIN = (35.15, 126.85)  # Gwangju
GRID_SPACING_M = 100.0
GRID_TARGETS = 24  # as many as Gwangju's centres
SNAP_BATCH = 10_000
QUERY_HEAD = ("method", "queries", "median µs", "p99 µs")


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _rss_mark() -> tuple[int, bool]:
    """Current RSS of this process in bytes, with its peak reset to it where Linux allows (clear_refs 5)."""
    gc.collect()  # no earlier garbage freed during the measurement
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE"), True
    except OSError:
        return 0, False


def _rss_rows(mark: tuple[int, bool], during: str) -> list[tuple[str, str]]:
    """Peak and retained RSS growth since ``mark``; n/a where the peak could not be reset."""
    if not mark[1]:
        return [(f"process RSS growth during {during}", "n/a")]
    current = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    return [
        (f"process peak RSS growth (`ru_maxrss`) during {during}", _mb(peak - mark[0])),
        (f"process RSS growth retained after {during}", _mb(current - mark[0])),
    ]


def _nbytes(*arrays: Any) -> int:
    """Bytes of distinct buffers (two matrices may share their index arrays)."""
    return sum(size for _, size in {(a.__array_interface__["data"][0], a.nbytes) for a in arrays})


def _mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def _seconds(value: float) -> str:
    return f"{value * 1000:,.1f} ms" if value < 1 else f"{value:,.2f} s"


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """A markdown table; every column after the first is right-aligned."""
    lines = [f"| {' | '.join(head)} |", "|---" + "|---:" * (len(head) - 1) + "|"]
    return "\n".join(lines + [f"| {' | '.join(row)} |" for row in rows])


def _query_points(network: RoadNetwork, count: int, rng: np.random.Generator, limit_m: float) -> Points:
    """Uniform points in the graph's bounding box that snap within ``limit_m``."""
    points: Points = []
    while len(points) < count:
        lat = rng.uniform(network.lat.min(), network.lat.max(), count)
        lon = rng.uniform(network.lon.min(), network.lon.max(), count)
        near = network.nearest(lat, lon).distance_m <= limit_m
        points += list(zip(lat[near].tolist(), lon[near].tolist(), strict=True))
    return points[:count]


def _per_query_us(fn: Callable[[float, float], object], points: Points) -> FloatArray:
    times = np.empty(len(points))
    for i, (lat, lon) in enumerate(points):
        start = time.perf_counter()
        fn(lat, lon)
        times[i] = time.perf_counter() - start
    return times * 1e6


def _nx_digraph(network: RoadNetwork) -> Any:
    """networkx's best case: a DiGraph of the network's own edge times (the fastest edge of each pair)."""
    nx = importlib.import_module("networkx")
    coo = network.time_s.tocoo()
    graph = nx.DiGraph()
    graph.add_nodes_from(range(network.node_count))
    graph.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True), "time_s")
    return graph


def _nx_osmnx_graph(scenario: Scenario, network: RoadNetwork) -> Any:
    """What an osmnx user queries: the MultiDiGraph as loaded, priced by the same speed profile."""
    graph = graph_files.load_graphml(scenario.road_graph)
    for _, _, data in graph.edges(data=True):
        data["time_s"] = data["length"] / (scenario.speeds.speed_kmh(data.get("highway"), data.get("maxspeed")) / 3.6)
    position = {int(osm): i for i, osm in enumerate(network.osm_ids.tolist())}
    nx = importlib.import_module("networkx")
    return nx.relabel_nodes(graph.subgraph(position).copy(), position)


def _nx_etas(index: TravelTimeIndex, graph: Any) -> Callable[[float, float], FloatArray]:
    """ETAs the networkx way: the same snap, then one single-source Dijkstra per query."""
    nx = importlib.import_module("networkx")
    targets = [int(t) for t in index.target_nodes]

    def etas(lat: float, lon: float) -> FloatArray:
        snapped = index.network.nearest(lat, lon)
        seconds = nx.single_source_dijkstra_path_length(graph, int(snapped.node[0]), weight="time_s")
        access_s = float(snapped.distance_m[0]) / (index.access_kmh / 3.6)
        return np.array([seconds.get(t, math.inf) + access_s for t in targets])

    return etas


def _stats(label: str, us: FloatArray) -> tuple[str, ...]:
    return label, f"{len(us):,}", f"{np.median(us):,.1f}", f"{np.percentile(us, 99):,.1f}"


def eta_figure(name: str, index_us: float, networkx_us: float | None) -> report.Figure:
    """The index's median µs per ETA query beside networkx's on the same graph (``baseline / value`` times
    faster), against the ≥ 1,000× goal; no baseline or goal where networkx was skipped (the quick grid)."""
    if networkx_us is None:
        return report.Figure(name, index_us, "µs")
    ratio = networkx_us / index_us
    return report.Figure(name, index_us, "µs", networkx_us, ratio, GOAL, ratio >= GOAL_RATIO)


def _queries(
    index: TravelTimeIndex, points: Points, nx_count: int, baselines: Sequence[tuple[str, str, Any]]
) -> tuple[str, float, list[report.Figure]]:
    """A table of per-query µs (index, each networkx baseline, speed-ups), the largest ETA disagreement, and
    the index's figure beside each ``(figure name, label, graph)`` baseline (alone where ``nx_count`` is 0)."""
    index_us = _per_query_us(index.etas, points)
    index_median = float(np.median(index_us))
    rows = [_stats("index: `TravelTimeIndex.etas` (snap included)", index_us)]
    print(f"  index: median {index_median:,.1f} µs", flush=True)
    diff, figures = 0.0, []
    for name, label, graph in baselines:
        if not nx_count:  # networkx skipped
            figures.append(eta_figure(name, index_median, None))
            continue
        nx_etas = _nx_etas(index, graph)
        nx_us = _per_query_us(nx_etas, points[:nx_count])
        diff = max(
            diff, *(float(np.max(np.abs(nx_etas(a, b) - index.etas(a, b).seconds))) for a, b in points[:nx_count])
        )
        figure = eta_figure(name, index_median, float(np.median(nx_us)))
        figures.append(figure)
        print(f"  networkx ({label}): median {np.median(nx_us):,.0f} µs; speed-up {figure.ratio:,.0f}x", flush=True)
        rows += [
            _stats(f"networkx on {label}: same snap + `single_source_dijkstra_path_length`", nx_us),
            ("speed-up, median over median", "", f"**{figure.ratio:,.0f}×**", f"goal ≥ 1,000×: {_verdict(figure)}"),
        ]
    return _table(QUERY_HEAD, rows), diff, figures


def _verdict(figure: report.Figure) -> str:
    return "met" if figure.met else "**not met**"


def cached_load_figure(seconds: float) -> report.Figure:
    """A second start's network load from the cache, against its goal of well under a second."""
    goal = f"< {CACHED_LOAD_GOAL_S * 1000:g} ms (well under a second)"
    return report.Figure(
        "network_load_ms.seoul.cached", seconds * 1000, "ms", goal=goal, met=seconds < CACHED_LOAD_GOAL_S
    )


def _memory(network: RoadNetwork, index: TravelTimeIndex) -> list[tuple[str, str]]:
    t, m, tree = network.time_s, network.length_m, network._tree
    sizes: list[tuple[str, tuple[Any, ...]]] = [
        ("CSR times + lengths (data, indices, indptr)", (t.data, t.indices, t.indptr, m.data, m.indices, m.indptr)),
        ("node coordinates + ids", (network.lat, network.lon, network.osm_ids)),
        ("edge geometry (offsets, interior points)", (network.geometry_offsets, network.geometry_coords)),
        ("KD-tree points + permutation (tree nodes not counted)", (tree.data, tree.indices)),
        (f"index: to_target_s, to_target_m, next_hop ({len(index.targets)} targets)",
         (index.to_target_s, index.to_target_m, index.next_hop, index.target_nodes)),
    ]  # fmt: skip
    return [(label, _mb(_nbytes(*arrays))) for label, arrays in sizes]


def _seoul_build(data_dir: Path, cache_dir: Path) -> tuple[Scenario, TravelTimeIndex, str, report.Figure]:
    """Cold and cached loads of the shipped graph and its index, in a fresh cache directory; the cached
    network load is the section's figure."""
    scenario = load_scenario(SCENARIO, data_dir)
    key = graph_files.network_cache_key(scenario.road_graph, scenario.speeds)
    cache_dir.mkdir(parents=True, exist_ok=True)
    print(f"roads benchmark: {scenario.road_graph.name}, cold and cached starts", flush=True)
    with tempfile.TemporaryDirectory(prefix="roads-bench-", dir=cache_dir) as tmp:

        def load() -> RoadNetwork:
            return graph_files.load_network(scenario.road_graph, speeds=scenario.speeds, cache_dir=Path(tmp))

        def load_index(network: RoadNetwork) -> TravelTimeIndex:
            targets = [c.target() for c in scenario.centres]
            return graph_files.load_index(network, targets, network_key=key, cache_dir=Path(tmp),
                                          access_kmh=scenario.access_kmh, max_snap_m=scenario.max_snap_m)  # fmt: skip

        import_s = _timed(lambda: importlib.import_module("osmnx"))[1]
        mark = _rss_mark()
        network, cold_s = _timed(load)
        rss_rows = _rss_rows(mark, "the cold GraphML load")
        cached_s = float(np.median([_timed(load)[1] for _ in range(5)]))
        scenario = on_graph(scenario, network)
        index_cold_s = _timed(lambda: load_index(network))[1]
        index_cached_s = float(np.median([_timed(lambda: load_index(network))[1] for _ in range(5)]))
        fresh, centre = load_index(load()), scenario.centres[0]
        first_s = _timed(lambda: fresh.etas(centre.lat, centre.lon))[1]
        tracemalloc.start()  # a second start again, for everything it holds after one query
        index = load_index(load())
        index.etas(centre.lat, centre.lon)
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    n, cached = len(scenario.centres), cached_load_figure(cached_s)
    times = [
        ("`import osmnx` (first start only)", _seconds(import_s)),
        ("GraphML load + prepare, cold (osmnx parse, SCC, speeds, CSR, KD-tree, cache write)", _seconds(cold_s)),
        (f"network from cache, second start (goal well under a second: {_verdict(cached)})",
         _seconds(cached_s)),
        (f"index build, cold ({n} reverse Dijkstras + path lengths, cache write)", _seconds(index_cold_s)),
        ("index from cache", _seconds(index_cached_s)),
        ("first ETA query of a start (builds any lazy lookup tables)", _seconds(first_s)),
    ]  # fmt: skip
    memory = [
        *_memory(index.network, index),
        ("network + index after one query: all Python/numpy allocations (tracemalloc)", _mb(held)),
        *rss_rows,
    ]
    title = (
        f"**Build and memory, {scenario.road_graph.name}** ({network.node_count:,} nodes and "
        f"{network.edge_count:,} edges in the largest strongly connected component, {n} centres):"
    )
    body = "\n\n".join([title, _table(("step", "time"), times), _table(("memory", "size"), memory)])
    return scenario, index, body, cached


def _seoul_queries(
    scenario: Scenario, index: TravelTimeIndex, *, quick: bool, rng: np.random.Generator
) -> tuple[str, list[report.Figure]]:
    """The ETA query table and note; the index's figure beside the osmnx MultiDiGraph (what an osmnx user
    would query), then beside networkx's best case."""
    print(f"roads benchmark: queries on {SCENARIO}", flush=True)
    network, limit = index.network, scenario.max_snap_m
    baselines = [
        ("eta_query_p50_us.seoul.index", "the osmnx MultiDiGraph as loaded", _nx_osmnx_graph(scenario, network)),
        ("eta_query_p50_us.seoul.index_vs_digraph", "a DiGraph of the fastest edge per pair (networkx's best case)",
         _nx_digraph(network)),
    ]  # fmt: skip
    points = _query_points(network, 2000 if quick else 10_000, rng, limit)
    table, diff, figures = _queries(index, points, 30 if quick else 200, baselines)
    lats, lons = np.array(_query_points(network, SNAP_BATCH, rng, limit)).T
    snap_s = min(_timed(lambda: network.snap(lats, lons, max_distance_m=limit))[1] for _ in range(7))
    title = (
        f"**ETA from a GPS point to all {len(index.targets)} centres of {SCENARIO}** (random points in the "
        f"graph's bounding box within {limit:,.0f} m of a road):"
    )
    note = (
        f"Batch snap (`RoadNetwork.snap` of {SNAP_BATCH:,} points in one call, best of 7): "
        f"{SNAP_BATCH / snap_s:,.0f} points/s. Index and networkx ETAs agree to {diff:.2g} s at most."
    )
    return "\n\n".join([title, table, note]), figures


def grid_network(side: int, rng: np.random.Generator) -> RoadNetwork:
    """A side × side two-way grid, ``GRID_SPACING_M`` apart, random speeds of 20-60 km/h per direction."""
    dlat = math.degrees(GRID_SPACING_M / 6_371_008.8)
    ids = np.arange(side * side, dtype=np.int64)
    rows, cols = np.divmod(ids, side)
    lat = GRID_ORIGIN[0] + rows * dlat
    lon = GRID_ORIGIN[1] + cols * dlat / math.cos(math.radians(GRID_ORIGIN[0]))
    right, down = ids[cols < side - 1], ids[rows < side - 1]
    u = np.concatenate([right, right + 1, down, down + side])
    v = np.concatenate([right + 1, right, down + side, down])
    meters = haversine_m(lat[u], lon[u], lat[v], lon[v])
    seconds = meters / (rng.uniform(20, 60, u.size) / 3.6)
    straight: list[tuple[float, float]] = []
    columns = zip(u.tolist(), v.tolist(), seconds.tolist(), meters.tolist(), strict=True)
    edges = {(a, b): (s, m, straight) for a, b, s, m in columns}
    return network_from_edges(ids, lat, lon, edges, name=f"grid {side}x{side}")


def _grid(*, quick: bool, rng: np.random.Generator) -> tuple[str, list[report.Figure]]:
    """The grid's build, memory and query tables; the index's figure beside networkx (alone in quick mode)."""
    side = 142 if quick else 448
    print(f"roads benchmark: synthetic grid {side}x{side}", flush=True)
    mark = _rss_mark()
    network, build_s = _timed(lambda: grid_network(side, rng))
    nodes = rng.choice(network.node_count, GRID_TARGETS, replace=False)
    targets = [Target(f"T{i}", float(network.lat[n]), float(network.lon[n])) for i, n in enumerate(nodes)]
    index, index_s = _timed(lambda: build_index(network, targets))
    first_s = _timed(lambda: index.etas(targets[0].lat, targets[0].lon))[1]
    memory = [*_memory(network, index), *_rss_rows(mark, "network + index build + first query")]
    points = _query_points(network, 2000 if quick else 10_000, rng, index.max_snap_m)
    baselines = [("eta_query_p50_us.grid.index", "the grid as a DiGraph", None if quick else _nx_digraph(network))]
    table, diff, figures = _queries(index, points, 0 if quick else 5, baselines)
    times = [
        ("network build (coordinates, speeds, edge dict → CSR, KD-tree)", _seconds(build_s)),
        (f"index build ({GRID_TARGETS} reverse Dijkstras + path lengths)", _seconds(index_s)),
        ("first ETA query (builds any lazy lookup tables)", _seconds(first_s)),
    ]
    title = (
        f"**Synthetic grid, {side}×{side} = {network.node_count:,} nodes, {network.edge_count:,} edges**"
        + (" (quick mode: the full run uses 448×448 ≈ 200,000 nodes)" if quick else "")
        + f": two-way, {GRID_SPACING_M:.0f} m spacing near Gwangju, random speeds of 20-60 km/h per direction "
        f"(seed 0), {GRID_TARGETS} random targets."
    )
    note = "networkx is skipped in quick mode." if quick else f"Index and networkx ETAs agree to {diff:.2g} s at most."
    tables = [_table(("step", "time"), times), _table(("memory", "size"), memory), table]
    return "\n\n".join([title, *tables, note]), figures


def main(*, quick: bool, output: Path, data_dir: Path, cache_dir: Path) -> list[report.Figure]:
    rng = np.random.default_rng(0)
    scenario, index, build, cached = _seoul_build(data_dir, cache_dir)
    queries, seoul_figures = _seoul_queries(scenario, index, quick=quick, rng=rng)
    grid, grid_figures = _grid(quick=quick, rng=rng)
    intro = (
        f"Reproduce with `goldentime bench{' --quick' if quick else ''}`. An ETA query goes from a GPS point to "
        "every emergency centre: the index snaps the point to its nearest node and reads precomputed reverse "
        "shortest-path trees; the baselines snap the same way, then run networkx's single-source Dijkstra on the "
        "same weighted graph: the osmnx MultiDiGraph as an osmnx user would query it, and a plain DiGraph of the "
        "fastest edge per pair, networkx's best case. Build times are measured cold (empty "
        "cache) and from the cache a second start reads; memory is the bytes of the arrays held and the growth of "
        "the process's RSS. A synthetic grid of Gwangju's size shows how both scale; every time is "
        "`time.perf_counter`, every point comes from a seeded RNG."
    )
    body = "\n\n".join(["## Road network and travel-time index", intro, queries, build, grid])
    report.write_section(output, "roads", body)
    print(f"wrote {output}", flush=True)
    return [*seoul_figures, cached, *grid_figures]
