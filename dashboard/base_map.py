"""The control room's base map: the scenario's own road network, drawn by the map itself, so the map
shows streets with no tile server (a fire HQ network may reach none).

:func:`road_paths` turns a :class:`~dispatch.roads.RoadNetwork` into lines for a pydeck ``PathLayer``:
each street once (its two directions are one line), along its shape, simplified to
:data:`TOLERANCE_M` and rounded to about a metre, so the map stays light enough to send on every
refresh. :func:`scenario_roads` reads the scenario's road graph (from the cache the dispatcher
prepared, :mod:`loaders.graphs`) once per dashboard process.

The map draws no tiles by default: its background is :data:`OFFLINE_STYLE`, a map style with
nothing to fetch. Tiles (CARTO) are an option; the roads are then drawn over them.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from dispatch.roads import EARTH_RADIUS_M, RoadNetwork
from dispatch.scenario import Scenario
from dispatch.speeds import SpeedProfile
from loaders.graphs import load_network

Rgb = tuple[int, int, int]
#: The streets' colour: a blue-grey no marker of the map uses.
ROAD_COLOUR: Rgb = (168, 178, 196)
#: The land under the streets.
BACKGROUND = "#f4f2ee"
#: A shape point closer than this to the straight line between its neighbours is left out.
TOLERANCE_M = 2.0
#: Coordinates are rounded to this many decimals of a degree (1e-5°: about a metre).
DECIMALS = 5
#: A map style (MapLibre) with a plain background and nothing to fetch: the map with no tiles.
OFFLINE_STYLE = "data:application/json," + urllib.parse.quote(
    json.dumps(
        {
            "version": 8,
            "sources": {},
            "layers": [{"id": "background", "type": "background", "paint": {"background-color": BACKGROUND}}],
        },
        separators=(",", ":"),
    )
)
#: CARTO's light map (needs the internet), under the roads when asked for.
TILE_STYLE = "https://basemaps.cartocdn.com/gl/positron-gl-style/style.json"

Point = tuple[float, float]  # (lon, lat), as deck.gl takes them


@dataclass(frozen=True)
class RoadPaths:
    """The streets of a road network as lines of (lon, lat) points, and their extent."""

    paths: tuple[tuple[Point, ...], ...]
    south: float
    west: float
    north: float
    east: float

    @property
    def points(self) -> int:
        return sum(len(p) for p in self.paths)

    def rows(self) -> list[dict[str, list[list[float]]]]:
        """The PathLayer's data: one row per street."""
        return [{"path": [list(p) for p in path]} for path in self.paths]


def simplify(points: list[tuple[float, float]], tolerance_m: float) -> list[tuple[float, float]]:
    """Douglas-Peucker on (lat, lon) points, measured in local metres: the ends are always kept."""
    if len(points) <= 2:
        return points
    lat0 = math.radians(points[0][0])
    ky, kx = math.radians(1.0) * EARTH_RADIUS_M, math.radians(1.0) * EARTH_RADIUS_M * math.cos(lat0)
    xy = [(lon * kx, lat * ky) for lat, lon in points]
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = xy[first], xy[last]
        dx, dy = x2 - x1, y2 - y1
        length = math.hypot(dx, dy)
        far, far_at = 0.0, -1
        for k in range(first + 1, last):
            x, y = xy[k]
            distance = abs(dy * (x - x1) - dx * (y - y1)) / length if length else math.hypot(x - x1, y - y1)
            if distance > far:
                far, far_at = distance, k
        if far > tolerance_m:
            keep[far_at] = True
            stack += [(first, far_at), (far_at, last)]
    return [p for p, kept in zip(points, keep, strict=True) if kept]


def join(streets: Sequence[tuple[Point, ...]]) -> tuple[tuple[Point, ...], ...]:
    """The streets as fewer, longer lines: walking from street to street where they meet, starting at the
    crossings where an odd number of streets meet (a line must end there), each street drawn once. A third of the
    points fewer, and a fraction of the lines."""
    ends: dict[Point, list[int]] = {}
    for i, street in enumerate(streets):
        ends.setdefault(street[0], []).append(i)
        ends.setdefault(street[-1], []).append(i)
    used = [False] * len(streets)
    lines: list[tuple[Point, ...]] = []
    starts = [p for p, touching in ends.items() if len(touching) % 2] + list(ends)
    for start in starts:
        while True:
            line, node = [start], start
            while (found := next((i for i in ends[node] if not used[i]), None)) is not None:
                used[found] = True
                street = streets[found] if streets[found][0] == node else streets[found][::-1]
                line.extend(street[1:])
                node = street[-1]
            if len(line) == 1:
                break
            lines.append(tuple(line))
    return tuple(lines)


def road_paths(network: RoadNetwork, *, tolerance_m: float = TOLERANCE_M, decimals: int = DECIMALS) -> RoadPaths:
    """Every street of ``network`` once, along its shape (the edge u -> v and the edge v -> u are one street, the
    first found), simplified to ``tolerance_m``, rounded to ``decimals`` and joined into lines (:func:`join`)."""
    indptr, indices = network.time_s.indptr, network.time_s.indices
    seen: set[tuple[int, int]] = set()
    paths: list[tuple[Point, ...]] = []
    for u in range(network.node_count):
        for position in range(int(indptr[u]), int(indptr[u + 1])):
            v = int(indices[position])
            street = (min(u, v), max(u, v))
            if street in seen:
                continue
            seen.add(street)
            lo, hi = int(network.geometry_offsets[position]), int(network.geometry_offsets[position + 1])
            shape = [(float(network.lat[u]), float(network.lon[u]))]
            shape += [(float(a), float(b)) for a, b in network.geometry_coords[lo:hi]]
            shape.append((float(network.lat[v]), float(network.lon[v])))
            paths.append(
                tuple((round(lon, decimals), round(lat, decimals)) for lat, lon in simplify(shape, tolerance_m))
            )
    return RoadPaths(
        join(paths),
        south=float(np.min(network.lat)),
        west=float(np.min(network.lon)),
        north=float(np.max(network.lat)),
        east=float(np.max(network.lon)),
    )


@st.cache_resource(show_spinner=False)
def _roads(graph: str, cache_dir: str | None, _speeds: SpeedProfile) -> RoadPaths:
    """Once per dashboard process (``_speeds`` is not part of the key: it names the dispatcher's cache file, the
    streets' shapes do not depend on it)."""
    network = load_network(Path(graph), speeds=_speeds, cache_dir=Path(cache_dir) if cache_dir else None)
    return road_paths(network)


def scenario_roads(scenario: Scenario, cache_dir: Path | None) -> RoadPaths | None:
    """The streets of the scenario's road graph, or None when the graph is not in the data directory (the map then
    shows the centres and units alone, or over tiles)."""
    if not scenario.road_graph.is_file():
        return None
    return _roads(str(scenario.road_graph), str(cache_dir) if cache_dir else None, scenario.speeds)
