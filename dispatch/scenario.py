"""Scenarios: which emergency centres, which ambulance bases, which road graph, which fleet.

A scenario is a small TOML file in ``dispatch/scenarios/`` naming files of the data
directory. This module is its pure part: the dataclasses, :func:`parse_spec` and
:func:`build_scenario` (the TOML's text and the CSV rows, already read, in; a checked
:class:`Scenario` out), what is on the road graph (:func:`off_graph`, :func:`on_graph`) and the
approximate ETA index. Reading the files, the road graph and the caches is
:mod:`loaders.scenarios` (``load_scenario``, ``prepare``), at the edge. Centres and stations
that do not snap onto the graph are reported, not silently moved, and left out of the index.

Every centre and station has a home region (시도, :mod:`dispatch.regions`), from its data: E-Gen's
``sido`` (with ``sigungu``) or address for a centre; for a station, the headquarters column when
the file has one (the nationwide 119 list's ``시도본부``), else its address. A centre also serves the
neighbouring regions of the border rule (:func:`dispatch.regions.border_regions`).
:meth:`Scenario.region` is one region's part of a scenario: its stations, its centres and the
border centres serving it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.errors import DispatchError
from dispatch.regions import (
    BorderRule,
    Place,
    RegionError,
    border_regions,
    ordered,
    region_code,
    region_of,
    region_of_address,
)
from dispatch.regions import region as region_named
from dispatch.roads import ApproximateIndex, EtaIndex, RoadNetwork, Target
from dispatch.speeds import SpeedProfile

#: In order of preference: the default scenario is the first whose data is complete.
SCENARIOS = ("gwangju", "seoul-central")
#: Shipped scenarios that are never a default nor offered where a whole day is simulated on one
#: page (the what-if page): too large for that. Loaded by name (``national``, or one region of it,
#: ``national:gwangju``).
LARGE_SCENARIOS = ("national",)


class ScenarioError(DispatchError, ValueError):
    """A scenario that cannot be used as written, with the reason."""


@dataclass(frozen=True)
class Centre:
    hpid: str
    name: str
    level: int  # 1 권역응급의료센터 ... 4 응급실운영신고기관
    lat: float
    lon: float
    trauma_centre: bool = False
    region: str = ""  # home region (dispatch.regions code); "" when built by hand without one
    also_serves: tuple[str, ...] = ()  # neighbouring regions it serves by the border rule

    def target(self) -> Target:
        return Target(self.hpid, self.lat, self.lon)

    def serves(self, region: str) -> bool:
        """Whether the centre takes patients of ``region`` (its own, or a neighbour's by the border rule)."""
        return region == self.region or region in self.also_serves


@dataclass(frozen=True)
class Station:
    name: str  # official name; not unique nationwide (nine 중앙119안전센터)
    lat: float
    lon: float
    ambulances: int = 1
    region: str = ""  # home region (dispatch.regions code); "" when built by hand without one


@dataclass(frozen=True)
class OffGraph:
    """A centre or station too far from the road graph to be used."""

    kind: str
    name: str
    distance_m: float


@dataclass(frozen=True)
class LeftOut:
    """A centre or station of the data that the scenario cannot place, and why (never silently lost)."""

    kind: str  # "centre" or "station"
    name: str
    region: str
    reason: str


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    data_dir: Path
    road_graph: Path
    centres: tuple[Centre, ...]
    stations: tuple[Station, ...]
    speeds: SpeedProfile = field(default_factory=SpeedProfile)
    max_snap_m: float = 500.0
    access_kmh: float = 20.0
    detour_factor: float = 1.35
    approximate_kmh: float = 35.0
    notes: str = ""
    border: BorderRule = field(default_factory=BorderRule)
    left_out: tuple[LeftOut, ...] = ()

    @property
    def fleet_size(self) -> int:
        return sum(s.ambulances for s in self.stations)

    def centre(self, hpid: str) -> Centre:
        for centre in self.centres:
            if centre.hpid == hpid:
                return centre
        raise KeyError(f"{hpid} is not a centre of scenario {self.name}")

    @property
    def regions(self) -> tuple[str, ...]:
        """The regions it dispatches in: its stations' home regions, in the order of
        :data:`dispatch.regions.REGIONS` (a region's part has one; its border centres come from others)."""
        return ordered({s.region for s in self.stations if s.region})

    def region(self, code: str) -> Scenario:
        """Region ``code``'s part: its stations, its own centres and the neighbours' centres serving it
        (border centres, :attr:`Centre.also_serves`), the places it left out; named ``{name}:{code}``."""
        try:
            place = region_named(code)
        except RegionError as exc:
            raise ScenarioError(f"{self.name}: {exc}") from None
        if code not in self.regions:
            raise ScenarioError(f"{self.name} has no region {code!r}; its regions: {', '.join(self.regions)}")
        centres = tuple(c for c in self.centres if c.serves(code))
        if not centres:
            raise ScenarioError(f"{self.name}: no emergency centre serves region {code!r}")
        return replace(
            self,
            name=f"{self.name}:{code}",
            title=f"{place.label()} — {self.title}",
            centres=centres,
            stations=tuple(s for s in self.stations if s.region == code),
            left_out=tuple(o for o in self.left_out if o.region == code),
        )


@dataclass(frozen=True)
class ScenarioFiles:
    """The files a scenario's TOML names, relative to the data directory, and their encodings."""

    centres: str
    stations: str
    road_graph: str
    centres_encoding: str = "utf-8"
    stations_encoding: str = "utf-8"


#: What a station row gives, and the column it is read from unless ``[stations] columns`` says otherwise.
STATION_COLUMNS = {"name": "name", "lat": "lat", "lon": "lon", "region": "sido", "address": "address"}


def parse_spec(text: str, source: str) -> dict[str, Any]:
    """The TOML of a scenario (its text, read by the caller from ``source``)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: {exc}") from None


def files_of(spec: Mapping[str, Any], source: str) -> ScenarioFiles:
    """The files the scenario ``spec`` (from ``source``) names."""
    try:
        return ScenarioFiles(
            spec["centres"]["file"],
            spec["stations"]["file"],
            spec["road_graph"],
            str(spec["centres"].get("encoding", "utf-8")),
            str(spec["stations"].get("encoding", "utf-8")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ScenarioError(f"{source}: {type(exc).__name__}: {exc}") from None


def _matches(row: Mapping[str, str], where: dict[str, Any]) -> bool:
    return all(row.get(column) == str(value) for column, value in where.items())


def _centre_region(row: Mapping[str, str], default: str | None) -> str:
    """A centre's home region: E-Gen's ``sido`` (and ``sigungu``), else its address, else ``default``."""
    if row.get("sido", "").strip():
        return region_of(row["sido"], row.get("sigungu", ""))
    if row.get("dutyAddr", "").strip():
        return region_of_address(row["dutyAddr"])
    if default:
        return region_code(default)
    raise RegionError(f"centre {row.get('hpid')} names no region (no sido, no dutyAddr, no [centres] region)")


def _station_region(row: Mapping[str, str], columns: Mapping[str, str], default: str | None) -> str:
    """A station's home region: its headquarters column (``시도본부``), else its address, else ``default``."""
    if row.get(columns["region"], "").strip():
        return region_of(row[columns["region"]])
    if row.get(columns["address"], "").strip():
        return region_of_address(row[columns["address"]])
    if default:
        return region_code(default)
    raise RegionError(f"station {row.get(columns['name'])} names no region (no headquarters, no address, "
                      "no [stations] region)")  # fmt: skip


def _stations(
    rows: Sequence[Mapping[str, str]], spec: Mapping[str, Any], fleet: Mapping[str, Any], source: str
) -> tuple[tuple[Station, ...], tuple[LeftOut, ...]]:
    """The stations the ``[stations]`` table selects, and those left out for want of coordinates
    (``unplaced = "leave_out"``; by default a station without coordinates is an error)."""
    columns = {**STATION_COLUMNS, **spec.get("columns", {})}
    unplaced = spec.get("unplaced", "error")
    if unplaced not in ("error", "leave_out"):
        raise ScenarioError(f'{source}: [stations] unplaced must be "error" or "leave_out", not {unplaced!r}')
    extra: dict[str, int] = fleet.get("extra", {})
    stations, left_out = [], []
    for row in rows:
        if not _matches(row, spec.get("where", {})):
            continue
        name, region = row[columns["name"]], _station_region(row, columns, spec.get("region"))
        if unplaced == "leave_out" and not (row[columns["lat"]].strip() and row[columns["lon"]].strip()):
            left_out.append(LeftOut("station", name, region, "no coordinates in the data"))
            continue
        ambulances = int(fleet.get("per_station", 1)) + int(extra.get(name, 0))
        stations.append(Station(name, float(row[columns["lat"]]), float(row[columns["lon"]]), ambulances, region))
    return tuple(stations), tuple(left_out)


def _with_borders(centres: Sequence[Centre], stations: Sequence[Station], rule: BorderRule) -> tuple[Centre, ...]:
    """``centres``, each with the neighbouring regions it serves by ``rule``."""
    served = border_regions(
        [Place(c.region, c.lat, c.lon, c.level) for c in centres],
        [Place(s.region, s.lat, s.lon) for s in stations],
        rule,
    )
    return tuple(replace(c, also_serves=also) for c, also in zip(centres, served, strict=True))


def build_scenario(
    name: str,
    spec: Mapping[str, Any],
    *,
    source: str,
    data_dir: Path,
    road_graph: Path,
    centre_rows: Sequence[Mapping[str, str]],
    station_rows: Sequence[Mapping[str, str]],
) -> Scenario:
    """Scenario ``name`` from its TOML ``spec`` (read from ``source``) and the rows of the centre and
    station files it names (:func:`files_of`), checked: a field missing or malformed, a region that
    cannot be told, a fleet that does not add up or no centre selected is a :class:`ScenarioError`
    naming ``source``. Every centre and station gets its home region; centres, the neighbouring
    regions they serve by the ``[regions]`` border rule (:mod:`dispatch.regions`)."""
    try:
        centres_spec, stations_spec = spec["centres"], spec["stations"]
        centres = tuple(
            Centre(
                hpid=row["hpid"],
                name=row["dutyName"],
                level=int(row["level"]),
                lat=float(row["wgs84Lat"]),
                lon=float(row["wgs84Lon"]),
                trauma_centre=row.get("regional_trauma_center") == "Y",
                region=_centre_region(row, centres_spec.get("region")),
            )
            for row in centre_rows
            if _matches(row, centres_spec.get("where", {})) and row["hpid"] not in centres_spec.get("exclude", [])
        )
        fleet = spec.get("fleet", {})
        extra: dict[str, int] = fleet.get("extra", {})
        stations, left_out = _stations(station_rows, stations_spec, fleet, source)
        unknown = set(extra) - {s.name for s in stations}
        if unknown:
            raise ScenarioError(f"{source}: fleet.extra names stations that are not in it: {sorted(unknown)}")
        names = [s.name for s in stations]
        ambiguous = sorted({n for n in extra if names.count(n) > 1})
        if ambiguous:
            raise ScenarioError(f"{source}: fleet.extra names stations that are not unique: {ambiguous}")
        rule = BorderRule(**{k: float(v) for k, v in spec.get("regions", {}).items()})
        speeds = spec.get("speeds", {})
        scenario = Scenario(
            name=spec.get("name", name),
            title=spec.get("title", name),
            data_dir=data_dir,
            road_graph=road_graph,
            centres=_with_borders(centres, stations, rule),
            stations=stations,
            speeds=SpeedProfile(trust_maxspeed=bool(speeds.get("trust_maxspeed", True))),
            max_snap_m=float(spec.get("max_snap_m", 500.0)),
            notes=spec.get("notes", ""),
            border=rule,
            left_out=left_out,
        )
        expected = fleet.get("total")
        expected = None if expected is None else int(expected)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        if isinstance(exc, ScenarioError):
            raise
        if isinstance(exc, RegionError):
            raise ScenarioError(f"{source}: {exc}") from None
        raise ScenarioError(f"{source}: {type(exc).__name__}: {exc}") from None
    if not scenario.centres:
        raise ScenarioError(f"{source}: no emergency centres selected")
    if expected is not None and scenario.fleet_size != expected:
        raise ScenarioError(f"{source}: fleet adds up to {scenario.fleet_size} ambulances, not {expected}")
    return scenario


def _snap_distances(scenario: Scenario, network: RoadNetwork) -> Any:
    """The distance from each centre, then each station, to the nearest node of ``network`` (metres)."""
    places = [(c.lat, c.lon) for c in scenario.centres] + [(s.lat, s.lon) for s in scenario.stations]
    return network.nearest(np.array([p[0] for p in places]), np.array([p[1] for p in places])).distance_m


def off_graph(scenario: Scenario, network: RoadNetwork) -> list[OffGraph]:
    """Centres and stations farther than ``max_snap_m`` from every node of ``network``."""
    places = [("centre", c.name) for c in scenario.centres] + [("station", s.name) for s in scenario.stations]
    return [
        OffGraph(kind, name, float(d))
        for (kind, name), d in zip(places, _snap_distances(scenario, network), strict=True)
        if d > scenario.max_snap_m
    ]


def on_graph(scenario: Scenario, network: RoadNetwork) -> Scenario:
    """The scenario without the centres and stations that do not snap onto ``network`` (each judged
    by its own position: station names are not unique nationwide)."""
    near = _snap_distances(scenario, network) <= scenario.max_snap_m
    n = len(scenario.centres)
    return replace(
        scenario,
        centres=tuple(c for c, ok in zip(scenario.centres, near[:n], strict=True) if ok),
        stations=tuple(s for s, ok in zip(scenario.stations, near[n:], strict=True) if ok),
    )


def approximate_index(scenario: Scenario) -> EtaIndex:
    return ApproximateIndex(
        tuple(c.target() for c in scenario.centres),
        detour_factor=scenario.detour_factor,
        speed_kmh=scenario.approximate_kmh,
    )


@dataclass(frozen=True)
class Prepared:
    """A scenario ready to answer ETAs: only what is on its graph, and what was left out."""

    scenario: Scenario
    index: EtaIndex
    network: RoadNetwork | None
    off_graph: tuple[OffGraph, ...]

    @property
    def exact(self) -> bool:
        return self.network is not None
