"""Road network, snapping and the travel-time index.

A :class:`RoadNetwork` is a directed road graph held as arrays: node coordinates and a
sparse matrix of travel times (the fastest edge between two nodes). It answers:

- :meth:`RoadNetwork.snap`: GPS points to their nearest nodes, vectorised (a KD-tree on
  locally projected metres); a point farther from every road than a limit is an error;
- :meth:`RoadNetwork.times_from` / :meth:`RoadNetwork.times_to`: one Dijkstra tree
  (scipy.sparse.csgraph), cached, for dispatch from unit positions and stations.

A :class:`TravelTimeIndex` holds, for every emergency centre, the reverse shortest-path
tree: the time from every node to the centre and the next node on the way. An ETA from a
GPS point to every centre is then a snap plus a column lookup. The ETA adds an *access leg*
(the straight line from the point to its snapped node, at ``access_kmh``) to the time on the
graph. :class:`ApproximateIndex` answers the same question without a graph (great-circle
distance × detour factor) and says so.

Everything here is pure computation on arrays; reading GraphML files and the cache lives in
:mod:`loaders.graphs` (the arrays built by :mod:`dispatch.road_graph`).
"""

from __future__ import annotations

import array
import itertools
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, NamedTuple, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from dispatch.errors import DispatchError, SolverError

EARTH_RADIUS_M = 6_371_008.8
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
EtaMode = Literal["road", "approximate"]


class SnapError(DispatchError, ValueError):
    """A point too far from every road of the network to be placed on it."""


def haversine_m(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> FloatArray:
    """Great-circle distance in metres (broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat = p2 - p1
    dlon = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1))), dtype=np.float64)


@dataclass(frozen=True)
class Target:
    """A destination of the index: an emergency centre (or any named point)."""

    id: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Snapped:
    node: IntArray  # index into the network's node arrays
    distance_m: FloatArray


class Etas(NamedTuple):
    """ETAs from one point to every target of an index, in the index's target order.
    (A named tuple rather than a frozen dataclass: it is built on every query.)"""

    target_ids: tuple[str, ...]
    seconds: FloatArray  # inf where a target cannot be reached
    meters: FloatArray
    mode: EtaMode

    def ranked(self) -> list[tuple[str, float, float]]:
        """(target id, seconds, meters), fastest first; ties broken by id."""
        order = sorted(range(len(self.target_ids)), key=lambda i: (self.seconds[i], self.target_ids[i]))
        return [(self.target_ids[i], float(self.seconds[i]), float(self.meters[i])) for i in order]


class EtaIndex(Protocol):
    """What the router asks of an index, exact or approximate."""

    @property
    def targets(self) -> tuple[Target, ...]: ...

    @property
    def mode(self) -> EtaMode: ...

    def etas(self, lat: float, lon: float) -> Etas: ...


class _CellGrid:
    """Exact nearest node of a single point in a few hundred nanoseconds of arithmetic.

    A KD-tree query costs microseconds of call overhead per point, more than everything
    else in an ETA. This grid stores, per square cell, every node that can be the nearest
    to some point of the cell: with ``c`` the cell's centre, ``d0`` the distance from ``c``
    to its nearest node and ``h`` the cell's half-diagonal, the nearest node of any point
    of the cell is within ``d0 + 2h`` of ``c``. A query then compares a handful of
    candidates. Points outside the grid (the nodes' extent plus ``margin_m``) get None."""

    def __init__(self, xy: FloatArray, tree: cKDTree, *, margin_m: float, cells_per_node: float = 4.0) -> None:
        low = xy.min(axis=0) - margin_m
        span = xy.max(axis=0) + margin_m - low
        self.cell = max(float(np.sqrt(span[0] * span[1] / (cells_per_node * len(xy)))), 1.0)
        self.nx, self.ny = (int(v) for v in np.ceil(span / self.cell))
        self.x0, self.y0 = float(low[0]), float(low[1])
        i, j = np.meshgrid(np.arange(self.nx), np.arange(self.ny), indexing="ij")
        centres = np.column_stack([self.x0 + (i.ravel() + 0.5) * self.cell, self.y0 + (j.ravel() + 0.5) * self.cell])
        d0, _ = tree.query(centres)
        candidates = tree.query_ball_point(centres, d0 + self.cell * math.sqrt(2) + 1e-6)
        # array.array, not numpy: slicing it from Python is several times cheaper.
        self.offsets = array.array("q", np.concatenate([[0], np.cumsum([len(c) for c in candidates])]).tolist())
        self.flat = array.array("i", (n for c in candidates for n in c))
        self.xs, self.ys = xy[:, 0].tolist(), xy[:, 1].tolist()

    def nearest(self, x: float, y: float) -> tuple[int, float] | None:
        i, j = int((x - self.x0) // self.cell), int((y - self.y0) // self.cell)
        if not (0 <= i < self.nx and 0 <= j < self.ny):
            return None
        k = i * self.ny + j
        xs, ys = self.xs, self.ys
        best, best_d2 = -1, math.inf
        for node in self.flat[self.offsets[k] : self.offsets[k + 1]]:
            d2 = (xs[node] - x) ** 2 + (ys[node] - y) ** 2
            if d2 < best_d2:
                best, best_d2 = node, d2
        return best, math.sqrt(best_d2)


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A strongly connected directed road graph as arrays (see the module docstring)."""

    osm_ids: IntArray
    lat: FloatArray
    lon: FloatArray
    time_s: csr_matrix  # [u, v] = travel time of the fastest edge u -> v
    length_m: csr_matrix  # [u, v] = length of that same edge
    geometry_offsets: IntArray  # per stored edge (CSR order): slice into geometry_coords
    geometry_coords: FloatArray  # (k, 2) lat, lon of the interior points of the edges
    name: str = "graph"
    max_trees: int = 256
    #: Single points this far outside the nodes' extent still snap through the fast grid.
    grid_margin_m: float = 500.0
    _tree: cKDTree = field(init=False, repr=False)
    _cache: OrderedDict[tuple[str, int], FloatArray] = field(init=False, repr=False)
    #: Projection to local metres: the nodes' mean (lat, lon) and metres per degree of (lon, lat) there.
    _origin: tuple[float, float] = field(init=False, repr=False)
    _metres_per_degree: tuple[float, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.osm_ids)
        if not (len(self.lat) == len(self.lon) == n and self.time_s.shape == (n, n) == self.length_m.shape):
            raise ValueError("node arrays and edge matrices disagree in size")
        if n == 0:
            raise ValueError("the road network has no nodes")
        if not (np.all(np.isfinite(self.lat)) and np.all(np.isfinite(self.lon))):
            raise ValueError("every node needs finite coordinates")
        if np.any(np.abs(self.lat) > 90) or np.any(np.abs(self.lon) > 180):
            raise ValueError("node coordinates out of range: expected WGS84 lat/lon")
        data = self.time_s.data
        if data.size == 0 or not np.all(np.isfinite(data)) or np.any(data <= 0):
            raise ValueError("every edge needs a positive, finite travel time")
        origin = (float(np.mean(self.lat)), float(np.mean(self.lon)))
        object.__setattr__(self, "_origin", origin)
        per_degree = math.radians(1.0) * EARTH_RADIUS_M
        object.__setattr__(self, "_metres_per_degree", (per_degree * math.cos(math.radians(origin[0])), per_degree))
        object.__setattr__(self, "_tree", cKDTree(self._project(self.lat, self.lon)))
        object.__setattr__(self, "_cache", OrderedDict())

    @property
    def node_count(self) -> int:
        return len(self.osm_ids)

    @property
    def edge_count(self) -> int:
        return int(self.time_s.nnz)

    def _project(self, lat: ArrayLike, lon: ArrayLike) -> FloatArray:
        """Local equirectangular metres around the network's centre (exact enough for a city)."""
        (lat0, lon0), (kx, ky) = self._origin, self._metres_per_degree
        x = (np.asarray(lon, dtype=np.float64) - lon0) * kx
        y = (np.asarray(lat, dtype=np.float64) - lat0) * ky
        return np.column_stack([np.atleast_1d(x), np.atleast_1d(y)])

    # --- snapping --------------------------------------------------------------------

    def nearest(self, lat: ArrayLike, lon: ArrayLike) -> Snapped:
        """Nearest node of every point, with its straight-line distance; never fails."""
        distance, node = self._tree.query(self._project(lat, lon))
        return Snapped(np.asarray(node, dtype=np.int64), np.asarray(distance, dtype=np.float64))

    def snap(self, lat: ArrayLike, lon: ArrayLike, *, max_distance_m: float) -> Snapped:
        """Nearest node of every point; :class:`SnapError` names the first point farther
        than ``max_distance_m`` from every node, or a point that is not a coordinate."""
        lats, lons = np.atleast_1d(np.asarray(lat, dtype=np.float64)), np.atleast_1d(np.asarray(lon, dtype=np.float64))
        invalid = np.flatnonzero(
            ~(np.isfinite(lats) & np.isfinite(lons) & (np.abs(lats) <= 90) & (np.abs(lons) <= 180))
        )
        if invalid.size:
            i = int(invalid[0])
            raise SnapError(f"point ({lats[i]}, {lons[i]}) is not a WGS84 coordinate")
        snapped = self.nearest(lats, lons)
        too_far = np.flatnonzero(snapped.distance_m > max_distance_m)
        if too_far.size:
            i = int(too_far[0])
            raise SnapError(
                f"point ({float(lats[i]):.6f}, {float(lons[i]):.6f}) is {snapped.distance_m[i]:,.0f} m from the "
                f"nearest road of {self.name} (limit {max_distance_m:,.0f} m)"
                + (f"; {too_far.size - 1} more points too far" if too_far.size > 1 else "")
            )
        return snapped

    @cached_property
    def _grid(self) -> _CellGrid:
        """Built on the first single-point snap, so loading a network stays fast."""
        return _CellGrid(self._tree.data, self._tree, margin_m=self.grid_margin_m)

    def snap_point(self, lat: float, lon: float, *, max_distance_m: float) -> tuple[int, float]:
        """:meth:`snap` for one point, as (node, distance in metres): the hot path of an ETA."""
        (lat0, lon0), (kx, ky) = self._origin, self._metres_per_degree
        x, y = (lon - lon0) * kx, (lat - lat0) * ky
        found = self._grid.nearest(x, y) if math.isfinite(x) and math.isfinite(y) else None
        if found is None or found[1] > max_distance_m:
            snapped = self.snap(lat, lon, max_distance_m=max_distance_m)  # raises the SnapError
            return int(snapped.node[0]), float(snapped.distance_m[0])
        return found

    # --- trees -----------------------------------------------------------------------

    def _tree_from(self, direction: str, node: int) -> FloatArray:
        key = (direction, int(node))
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        matrix = self.time_s if direction == "from" else self.time_s.T.tocsr()
        times = np.asarray(dijkstra(matrix, directed=True, indices=int(node)), dtype=np.float64)
        times.setflags(write=False)
        self._cache[key] = times
        if len(self._cache) > self.max_trees:
            self._cache.popitem(last=False)
        return times

    def times_from(self, node: int) -> FloatArray:
        """Seconds from ``node`` to every node (forward tree, cached)."""
        return self._tree_from("from", node)

    def times_to(self, node: int) -> FloatArray:
        """Seconds from every node to ``node`` (reverse tree, cached)."""
        return self._tree_from("to", node)

    # --- geometry --------------------------------------------------------------------

    def edge_points(self, u: int, v: int) -> FloatArray:
        """Interior (lat, lon) points of the stored edge u -> v (empty for a straight edge)."""
        start, end = self.time_s.indptr[u], self.time_s.indptr[u + 1]
        position = start + int(np.searchsorted(self.time_s.indices[start:end], v))
        if position >= end or self.time_s.indices[position] != v:
            raise KeyError(f"no edge {u} -> {v}")
        lo, hi = self.geometry_offsets[position], self.geometry_offsets[position + 1]
        return self.geometry_coords[lo:hi]

    def path_geometry(self, nodes: Sequence[int]) -> list[tuple[float, float]]:
        """(lat, lon) along a node path, following each edge's shape."""
        if not nodes:
            return []
        points = [(float(self.lat[nodes[0]]), float(self.lon[nodes[0]]))]
        for u, v in itertools.pairwise(nodes):
            points.extend((float(a), float(b)) for a, b in self.edge_points(u, v))
            points.append((float(self.lat[v]), float(self.lon[v])))
        return points


@dataclass(frozen=True, eq=False)
class TravelTimeIndex:
    """Reverse shortest-path trees of every target (see the module docstring)."""

    network: RoadNetwork
    targets: tuple[Target, ...]
    target_nodes: IntArray
    to_target_s: FloatArray  # (targets, nodes): seconds from node to target on the graph
    to_target_m: FloatArray  # (targets, nodes): metres along that path
    next_hop: NDArray[np.int32]  # (targets, nodes): next node toward the target, -1 at it / unreachable
    access_kmh: float = 20.0
    max_snap_m: float = 500.0
    mode: EtaMode = "road"

    @property
    def target_ids(self) -> tuple[str, ...]:
        return self._by_node[0]

    @cached_property
    def _by_node(self) -> tuple[tuple[str, ...], FloatArray, FloatArray]:
        """Target ids and the tables transposed to (nodes, targets): one contiguous row per node."""
        return (
            tuple(t.id for t in self.targets),
            np.ascontiguousarray(self.to_target_s.T),
            np.ascontiguousarray(self.to_target_m.T),
        )

    def warm_up(self) -> TravelTimeIndex:
        """Build the lazy lookup tables now, so the first real query does not pay for them."""
        _ = self.network._grid, self._by_node, self._access_s_per_m
        return self

    def etas(self, lat: float, lon: float) -> Etas:
        """ETA from a GPS point to every target: access leg plus time on the graph."""
        node, access_m = self.network.snap_point(lat, lon, max_distance_m=self.max_snap_m)
        ids, seconds, meters = self._by_node
        return Etas(ids, seconds[node] + access_m * self._access_s_per_m, meters[node] + access_m, self.mode)

    @cached_property
    def _access_s_per_m(self) -> float:
        return 3.6 / self.access_kmh

    def etas_from_node(self, node: int) -> Etas:
        ids, seconds, meters = self._by_node
        return Etas(ids, seconds[node].copy(), meters[node].copy(), self.mode)

    def path(self, node: int, target: int) -> list[int]:
        """Nodes from ``node`` to target number ``target`` (empty if unreachable)."""
        hops = self.next_hop[target]
        if not math.isfinite(self.to_target_s[target, node]):
            return []
        path = [int(node)]
        while path[-1] != self.target_nodes[target]:
            path.append(int(hops[path[-1]]))
            if len(path) > self.network.node_count:
                raise SolverError("next-hop table has a cycle")
        return path

    def route(self, lat: float, lon: float, target_id: str) -> list[tuple[float, float]]:
        """Driving geometry from a GPS point to a target, for the map and the simulator."""
        target = self.target_ids.index(target_id)
        node, _ = self.network.snap_point(lat, lon, max_distance_m=self.max_snap_m)
        return [(lat, lon), *self.network.path_geometry(self.path(node, target))]


def build_index(
    network: RoadNetwork,
    targets: Sequence[Target],
    *,
    access_kmh: float = 20.0,
    max_snap_m: float = 500.0,
) -> TravelTimeIndex:
    """One reverse Dijkstra per target (scipy.sparse.csgraph), plus path lengths along the trees."""
    if not targets:
        raise ValueError("an index needs at least one target")
    lats = np.array([t.lat for t in targets])
    lons = np.array([t.lon for t in targets])
    nodes = network.snap(lats, lons, max_distance_m=max_snap_m).node
    reverse = network.time_s.T.tocsr()
    times, predecessors = dijkstra(reverse, directed=True, indices=nodes, return_predecessors=True)
    times = np.atleast_2d(np.asarray(times, dtype=np.float64))
    # In the reversed graph the predecessor of v on the tree from target t is the next node
    # on v's way to t in the real graph.
    next_hop = np.atleast_2d(np.asarray(predecessors, dtype=np.int32))
    next_hop[next_hop < 0] = -1
    meters = _path_lengths(network, times, next_hop)
    return TravelTimeIndex(
        network, tuple(targets), nodes, times, meters, next_hop, access_kmh=access_kmh, max_snap_m=max_snap_m
    )


def _path_lengths(network: RoadNetwork, times: FloatArray, next_hop: NDArray[np.int32]) -> FloatArray:
    """Metres along each tree path: nodes in order of increasing time, each adding its first edge."""
    meters = np.full(times.shape, np.inf)
    lengths = network.length_m
    for t in range(times.shape[0]):
        reachable = np.flatnonzero(np.isfinite(times[t]))
        order = reachable[np.argsort(times[t, reachable], kind="stable")]
        hop = next_hop[t]
        first_edge = np.asarray(lengths[order[1:], hop[order[1:]]]).ravel()
        row = meters[t]
        row[order[0]] = 0.0
        for node, edge_m in zip(order[1:], first_edge, strict=True):
            row[node] = edge_m + row[hop[node]]
    return meters


@dataclass(frozen=True)
class ApproximateIndex:
    """ETAs without a road graph: great-circle distance × ``detour_factor`` at ``speed_kmh``.

    The defaults: a detour (circuity) factor of 1.35, in the range reported for city road
    networks (about 1.2-1.4), and 35 km/h, the free-flow arterial speed of
    :mod:`dispatch.speeds` (50 km/h × the 1.2 emergency factor) discounted for the share of
    small streets on a typical urban trip. Every consumer shows these ETAs as approximate."""

    targets: tuple[Target, ...]
    detour_factor: float = 1.35
    speed_kmh: float = 35.0
    mode: EtaMode = "approximate"

    @cached_property
    def target_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.targets)

    @cached_property
    def _arrays(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The targets' latitudes and longitudes in radians and the cosines of their latitudes: built once, not on
        every query (a national index has 529 targets and is asked for every unit)."""
        lats = np.radians(np.array([t.lat for t in self.targets], dtype=np.float64))
        lons = np.radians(np.array([t.lon for t in self.targets], dtype=np.float64))
        for array_ in (lats, lons):
            array_.setflags(write=False)
        cosines = np.cos(lats)
        cosines.setflags(write=False)
        return lats, lons, cosines

    def warm_up(self) -> ApproximateIndex:
        """Build the cached arrays now, so the first real query does not pay for them."""
        _ = self.target_ids, self._arrays
        return self

    def etas(self, lat: float, lon: float) -> Etas:
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise SnapError(f"point ({lat}, {lon}) is not a WGS84 coordinate")
        # haversine_m with the targets' side computed once (the same operations, so the same figures)
        lats, lons, cosines = self._arrays
        p1 = math.radians(lat)
        a = np.sin((lats - p1) / 2) ** 2 + math.cos(p1) * cosines * np.sin((lons - math.radians(lon)) / 2) ** 2
        meters = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1))) * self.detour_factor
        return Etas(self.target_ids, meters / (self.speed_kmh / 3.6), meters, self.mode)
