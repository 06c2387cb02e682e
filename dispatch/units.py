"""Which unit goes: the ambulance to send to an incident, alone or several incidents at once.

A :class:`ResponseTimes` answers "how many seconds from each of these units to this point":
:class:`RoadResponseTimes` on the road graph (one cached reverse Dijkstra tree per incident,
plus the access legs of :mod:`dispatch.roads`), :class:`ApproximateResponseTimes` without one
(great-circle distance × detour factor, like :class:`dispatch.roads.ApproximateIndex`).

:func:`nearest_unit` picks the available unit with the shortest ETA for one incident.
:func:`assign_units` assigns units to several waiting incidents at once with a min-cost flow
(OR-Tools): the most urgent incidents are served first, then the priority-weighted response
time is as small as possible. Both are deterministic: units and incidents are ordered by id
before anything else, and ties go to the smaller unit id.

An ETA above :data:`MAX_RESPONSE_S` counts as unreachable: no ambulance answers a call a day
away, and the bound keeps the integer costs of the flow small.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

import numpy as np
from ortools.graph.python import min_cost_flow

from dispatch.errors import SolverError
from dispatch.roads import EtaMode, FloatArray, RoadNetwork, SnapError, haversine_m

if TYPE_CHECKING:
    from dispatch.scenario import Prepared

#: Weight of one second of response time, by priority (1 most urgent).
PRIORITY_WEIGHT: Final[dict[int, float]] = {1: 16.0, 2: 8.0, 3: 4.0, 4: 2.0, 5: 1.0}
#: ETAs above this many seconds are treated as unreachable.
MAX_RESPONSE_S: Final = 86_400.0
#: How many alternatives a choice carries for the dispatcher's display.
ALTERNATIVES: Final = 2


def _check_id(kind: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind}.id must be a non-empty string, got {value!r}")


def _check_point(kind: str, id_: str, lat: object, lon: object) -> None:
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
            raise ValueError(f"{kind} {id_!r}: {name} must be a number, got {value!r}")
        if not (math.isfinite(value) and -limit <= value <= limit):
            raise ValueError(f"{kind} {id_!r}: {name} must be finite and within ±{limit:g}, got {value!r}")


@dataclass(frozen=True)
class Unit:
    """An ambulance where it is now; only available units are ever chosen."""

    id: str
    lat: float
    lon: float
    available: bool = True

    def __post_init__(self) -> None:
        _check_id("unit", self.id)
        _check_point("unit", self.id, self.lat, self.lon)
        if not isinstance(self.available, bool | np.bool_):
            raise ValueError(f"unit {self.id!r}: available must be a bool, got {self.available!r}")


@dataclass(frozen=True)
class Incident:
    """A call waiting for a unit; ``priority`` 1 is the most urgent, 5 the least."""

    id: str
    lat: float
    lon: float
    priority: int
    category: str = ""

    def __post_init__(self) -> None:
        _check_id("incident", self.id)
        _check_point("incident", self.id, self.lat, self.lon)
        if isinstance(self.priority, bool) or self.priority not in PRIORITY_WEIGHT:
            raise ValueError(f"incident {self.id!r}: priority must be an integer from 1 to 5, got {self.priority!r}")


@dataclass(frozen=True)
class UnitChoice:
    """The unit to send to an incident, its ETA and the next fastest units (unit id, ETA)."""

    incident_id: str
    unit_id: str
    eta_s: float
    eta_mode: EtaMode
    alternatives: tuple[tuple[str, float], ...]  # up to ALTERNATIVES, fastest first


class ResponseTimes(Protocol):
    """Seconds from units to a point; ``inf`` where a unit cannot reach it."""

    @property
    def mode(self) -> EtaMode: ...

    def to(self, lat: float, lon: float, units: Sequence[Unit]) -> FloatArray:
        """Seconds from each of ``units`` (in their order) to the point."""
        ...


def _check_target(lat: float, lon: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"point ({lat}, {lon}) is not a WGS84 coordinate")


@dataclass(frozen=True, eq=False)
class RoadResponseTimes:
    """Response times on the road graph.

    One reverse shortest-path tree per incident (``network.times_to``, cached by the
    network) gives the time from every node to the incident's node at once. To it come the
    access legs, as in :mod:`dispatch.roads`: the straight line from a unit's GPS position to
    its nearest node and from the incident's node to the incident, at ``access_kmh``. A unit
    farther than ``max_snap_m`` from every road gets ``inf``, and so does every unit when the
    incident itself is that far off the graph."""

    network: RoadNetwork
    max_snap_m: float = 500.0
    access_kmh: float = 20.0
    mode: EtaMode = "road"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_snap_m) and self.max_snap_m >= 0):
            raise ValueError(f"max_snap_m must be a finite distance >= 0, got {self.max_snap_m!r}")
        if not (math.isfinite(self.access_kmh) and self.access_kmh > 0):
            raise ValueError(f"access_kmh must be a positive speed, got {self.access_kmh!r}")

    def to(self, lat: float, lon: float, units: Sequence[Unit]) -> FloatArray:
        _check_target(lat, lon)
        seconds = np.full(len(units), np.inf)
        if not units:
            return seconds
        try:
            node, incident_access_m = self.network.snap_point(lat, lon, max_distance_m=self.max_snap_m)
        except SnapError:
            return seconds
        snapped = self.network.nearest(np.array([u.lat for u in units]), np.array([u.lon for u in units]))
        on_graph = snapped.distance_m <= self.max_snap_m
        s_per_m = 3.6 / self.access_kmh
        tree = self.network.times_to(node)
        legs = tree[snapped.node] + (snapped.distance_m + incident_access_m) * s_per_m
        seconds[on_graph] = legs[on_graph]
        return seconds


@dataclass(frozen=True)
class ApproximateResponseTimes:
    """Response times without a road graph: great-circle distance × ``detour_factor`` at
    ``speed_kmh`` (the defaults and their reasons are those of
    :class:`dispatch.roads.ApproximateIndex`). Every consumer shows them as approximate."""

    detour_factor: float = 1.35
    speed_kmh: float = 35.0
    mode: EtaMode = "approximate"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.detour_factor) and self.detour_factor >= 1):
            raise ValueError(f"detour_factor must be >= 1, got {self.detour_factor!r}")
        if not (math.isfinite(self.speed_kmh) and self.speed_kmh > 0):
            raise ValueError(f"speed_kmh must be a positive speed, got {self.speed_kmh!r}")

    def to(self, lat: float, lon: float, units: Sequence[Unit]) -> FloatArray:
        _check_target(lat, lon)
        lats = np.array([u.lat for u in units], dtype=np.float64)
        lons = np.array([u.lon for u in units], dtype=np.float64)
        meters = haversine_m(lats, lons, lat, lon) * self.detour_factor
        return np.asarray(meters / (self.speed_kmh / 3.6), dtype=np.float64)


def response_times(prepared: Prepared) -> ResponseTimes:
    """The response times of a prepared scenario: on its roads, or approximate without a graph."""
    scenario = prepared.scenario
    if prepared.network is None:
        return ApproximateResponseTimes(detour_factor=scenario.detour_factor, speed_kmh=scenario.approximate_kmh)
    return RoadResponseTimes(prepared.network, max_snap_m=scenario.max_snap_m, access_kmh=scenario.access_kmh)


#: A place is covered when a free unit reaches it within this (the 8-minute response standard).
COVER_S: Final = 480.0


def cover_gap(
    lat: float, lon: float, free: Sequence[Unit], times: ResponseTimes, *, within_s: float = COVER_S
) -> float:
    """How thin the cover of a place is: 1 when no free unit reaches it within ``within_s``, 1 / (1 + n)
    when n do. The router's coverage cost (R-COVER) scales with it."""
    if not free:
        return 1.0
    reach = times.to(lat, lon, free)
    return 1.0 / (1.0 + int(np.count_nonzero(reach <= within_s)))


# --- choosing --------------------------------------------------------------------------

_Item = TypeVar("_Item", Unit, Incident)


def _by_id(items: Sequence[_Item], kind: str) -> list[_Item]:
    ordered = sorted(items, key=lambda item: item.id)
    for a, b in itertools.pairwise(ordered):
        if a.id == b.id:
            raise ValueError(f"{kind}.id {a.id!r} appears more than once")
    return ordered


def _available(units: Sequence[Unit]) -> list[Unit]:
    return [u for u in _by_id(units, "unit") if u.available]


def _eta_row(times: ResponseTimes, incident: Incident, units: Sequence[Unit]) -> FloatArray:
    """Seconds from ``units`` to ``incident``, checked; inf where unreachable or too far."""
    row = np.array(times.to(incident.lat, incident.lon, units), dtype=np.float64)
    if row.shape != (len(units),):
        raise ValueError(f"response times for incident {incident.id!r}: expected {len(units)} values, got {row.shape}")
    if np.any(np.isnan(row)) or np.any(row < 0):
        raise ValueError(f"response times for incident {incident.id!r} must be seconds >= 0 or inf")
    row[row > MAX_RESPONSE_S] = np.inf
    return row


def _ranked(row: FloatArray, units: Sequence[Unit]) -> list[tuple[str, float]]:
    """(unit id, seconds) of the units that can reach the incident, fastest first, ties by id."""
    return sorted(((u.id, float(s)) for u, s in zip(units, row, strict=True) if math.isfinite(s)), key=_eta_then_id)


def _eta_then_id(pair: tuple[str, float]) -> tuple[float, str]:
    return pair[1], pair[0]


def nearest_unit(incident: Incident, units: Sequence[Unit], times: ResponseTimes) -> UnitChoice | None:
    """The available unit with the shortest ETA (ties: the smaller unit id), with the next
    :data:`ALTERNATIVES` fastest; None when no available unit can reach the incident."""
    available = _available(units)
    if not available:
        return None
    ranked = _ranked(_eta_row(times, incident, available), available)
    if not ranked:
        return None
    (unit_id, eta_s), *others = ranked
    return UnitChoice(incident.id, unit_id, eta_s, times.mode, tuple(others[:ALTERNATIVES]))


def assign_units(incidents: Sequence[Incident], units: Sequence[Unit], times: ResponseTimes) -> list[UnitChoice]:
    """Assign available units to waiting incidents, each unit and each incident at most once.

    The objective, in order: serve the most urgent incidents first, then minimise the
    priority-weighted response time ``sum(PRIORITY_WEIGHT[priority] * eta_s)`` over the
    served incidents, then prefer smaller unit ids. Precisely, no other assignment serves
    more incidents of priority <= k, for any k; so a priority-1 incident is left waiting while
    a priority-3 one is served only when no unit that reaches it can be freed for it.

    The encoding, a min-cost flow (OR-Tools ``SimpleMinCostFlow``, integer costs):
    ``source -> unit`` (capacity 1), ``unit -> incident`` (capacity 1, one arc per reachable
    pair), ``incident -> sink`` (capacity 1), and a bypass ``source -> sink`` (capacity K, cost
    0), with K = min(#available units, #incidents) units of flow. The bypass makes every K
    feasible, so no maximum matching has to be computed first. A unit -> incident arc costs
    ``c - bonus[priority]`` where

    - ``c = round(weight * eta_s) * T + rank(unit)``: integer weighted seconds, scaled by
      ``T = U * K + 1`` (U available units) so that the ranks of the units used, which sum to
      less than T, only break ties (smaller ids first);
    - ``bonus[p] = M * (6 - p)``, with ``M`` = 1 + the sum over incidents of their largest
      ``c``: more than the ``c``-cost of any assignment.

    Every arc is then negative, so flow takes the bypass only where no unit can serve. Two
    assignments that serve different sets of priorities differ in bonus by a multiple of M,
    more than any difference in ``c``: the solver first maximises the total bonus, then
    minimises time, then ranks. The incident sets that one assignment can serve together form
    a (transversal) matroid, and a maximum-weight set of a matroid is one that greedy picking
    in order of weight reaches; ``6 - p`` is positive and falls with priority, so the most
    bonus means the most incidents served and, for every k, the most of priority <= k.

    Returns one :class:`UnitChoice` per served incident, sorted by (priority, incident id),
    each with up to :data:`ALTERNATIVES` other units that could reach it, fastest first,
    whether or not they went elsewhere. Incidents that no available unit can reach, or that
    lost out for lack of units, are not in the list.
    """
    ordered = _by_id(incidents, "incident")
    available = _available(units)
    if not ordered or not available:
        return []
    etas = np.vstack([_eta_row(times, incident, available) for incident in ordered])
    pairs = _solve(etas, [incident.priority for incident in ordered])
    choices = []
    for i, u in pairs:
        others = [pair for pair in _ranked(etas[i], available) if pair[0] != available[u].id]
        choices.append(
            UnitChoice(ordered[i].id, available[u].id, float(etas[i, u]), times.mode, tuple(others[:ALTERNATIVES]))
        )
    priority = {incident.id: incident.priority for incident in ordered}
    return sorted(choices, key=lambda choice: (priority[choice.incident_id], choice.incident_id))


def _solve(etas: FloatArray, priorities: Sequence[int]) -> list[tuple[int, int]]:
    """(incident row, unit column) pairs of the flow described in :func:`assign_units`."""
    n_incidents, n_units = etas.shape
    k = min(n_incidents, n_units)
    reachable = np.isfinite(etas)
    weight = np.array([PRIORITY_WEIGHT[p] for p in priorities])
    weighted = np.zeros(etas.shape, dtype=np.int64)
    weighted[reachable] = np.rint((etas * weight[:, None])[reachable]).astype(np.int64)
    cost = weighted * (n_units * k + 1) + np.arange(n_units, dtype=np.int64)[None, :]
    big_m = int(np.max(cost, axis=1, where=reachable, initial=0).sum()) + 1
    bonus = big_m * (6 - np.array(priorities, dtype=np.int64))

    rows, cols = np.nonzero(reachable)  # row-major: a fixed arc order for a fixed input
    source, sink = 0, 1 + n_units + n_incidents
    units_at, incidents_at = 1, 1 + n_units
    tails = np.concatenate(
        [np.zeros(n_units), units_at + cols, incidents_at + np.arange(n_incidents), [source]]
    ).astype(np.int32)
    heads = np.concatenate(
        [units_at + np.arange(n_units), incidents_at + rows, np.full(n_incidents, sink), [sink]]
    ).astype(np.int32)
    capacities = np.concatenate([np.ones(n_units + len(rows) + n_incidents), [k]]).astype(np.int64)
    costs = np.concatenate(
        [np.zeros(n_units, dtype=np.int64), cost[rows, cols] - bonus[rows], np.zeros(n_incidents + 1, dtype=np.int64)]
    )

    flow = min_cost_flow.SimpleMinCostFlow()
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, capacities, costs)
    flow.set_node_supply(source, k)
    flow.set_node_supply(sink, -k)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise SolverError(f"the unit assignment flow was not solved: {status.name}")
    used = np.asarray(flow.flows(arcs))[n_units : n_units + len(rows)] > 0
    return sorted(zip(rows[used].tolist(), cols[used].tolist(), strict=True))
