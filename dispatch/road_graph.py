"""Building a :class:`~dispatch.roads.RoadNetwork` from a road graph already in memory.

:func:`network_from_graph` takes any osmnx/networkx graph, keeps the largest strongly connected
component, prices every edge with a :class:`~dispatch.speeds.SpeedProfile` and keeps the fastest edge
between each pair of nodes with its shape; :func:`network_from_edges` builds the arrays. Pure
computation: reading GraphML files and the npz cache is :mod:`loaders.graphs`, at the edge.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from dispatch.roads import RoadNetwork
from dispatch.speeds import SpeedProfile


def network_from_graph(graph: Any, *, speeds: SpeedProfile, name: str = "graph") -> RoadNetwork:
    """A RoadNetwork from an osmnx/networkx MultiDiGraph with lat/lon nodes (``x``, ``y``)
    and edge ``length`` in metres. Keeps the largest strongly connected component."""
    import networkx as nx

    if graph.number_of_nodes() == 0:
        raise ValueError(f"{name} has no nodes")
    component = max(nx.strongly_connected_components(graph), key=len)
    osm_ids = np.array(sorted(component), dtype=np.int64)
    position = {int(node): i for i, node in enumerate(osm_ids)}
    lat = np.array([float(graph.nodes[n].get("y", np.nan)) for n in osm_ids.tolist()])
    lon = np.array([float(graph.nodes[n].get("x", np.nan)) for n in osm_ids.tolist()])

    best: dict[tuple[int, int], tuple[float, float, list[tuple[float, float]]]] = {}
    for u, v, data in graph.edges(data=True):
        if u == v or u not in position or v not in position:
            continue
        length = float(data.get("length", np.nan))
        seconds = length / (speeds.speed_kmh(data.get("highway"), data.get("maxspeed")) / 3.6)
        if not (np.isfinite(seconds) and seconds > 0):
            raise ValueError(f"{name}: edge {u} -> {v} has no positive finite travel time (length {length!r} m)")
        key = (position[u], position[v])
        if key not in best or seconds < best[key][0]:
            best[key] = (seconds, length, _interior_points(data.get("geometry")))
    return network_from_edges(osm_ids, lat, lon, best, name=name)


def _interior_points(geometry: Any) -> list[tuple[float, float]]:
    if geometry is None:
        return []
    coords = list(geometry.coords)
    return [(float(y), float(x)) for x, y in coords[1:-1]]


def network_from_edges(
    osm_ids: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    edges: dict[tuple[int, int], tuple[float, float, list[tuple[float, float]]]],
    *,
    name: str,
) -> RoadNetwork:
    """Build the CSR arrays from ``{(u, v): (seconds, metres, interior points)}``."""
    keys = sorted(edges)
    n = len(osm_ids)
    rows = np.array([u for u, _ in keys], dtype=np.int64)
    cols = np.array([v for _, v in keys], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    seconds = np.array([edges[k][0] for k in keys], dtype=np.float64)
    meters = np.array([edges[k][1] for k in keys], dtype=np.float64)
    bad = ~(np.isfinite(seconds) & (seconds > 0))
    if bad.any():
        u, v = keys[int(np.flatnonzero(bad)[0])]
        raise ValueError(
            f"{name}: {int(bad.sum())} edges without a positive finite travel time, "
            f"first {osm_ids[u]} -> {osm_ids[v]} (length {meters[bad][0]!r} m)"
        )
    counts = np.array([len(edges[k][2]) for k in keys], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    coords = np.array([p for k in keys for p in edges[k][2]], dtype=np.float64).reshape(-1, 2)
    return RoadNetwork(
        osm_ids=osm_ids,
        lat=lat,
        lon=lon,
        time_s=csr_matrix((seconds, cols, indptr), shape=(n, n)),
        length_m=csr_matrix((meters, cols, indptr), shape=(n, n)),
        geometry_offsets=offsets,
        geometry_coords=coords,
        name=name,
    )
