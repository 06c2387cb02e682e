"""Scenarios: which emergency centres, which ambulance bases, which road graph, which fleet.

A scenario is a small TOML file in ``dispatch/scenarios/`` naming files of the data
directory. :func:`load_scenario` reads it with its centres and stations;
:func:`prepare_eta_index` turns it into an ETA index: exact on the road graph when the graph
is there, explicitly approximate when it is not. Centres and stations that do not snap
onto the graph are reported, not silently moved, and left out of the index.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.graph_files import load_index, load_network, network_cache_key, resolve_graph
from dispatch.roads import ApproximateIndex, EtaIndex, RoadNetwork, Target
from dispatch.speeds import SpeedProfile

#: In order of preference: the default scenario is the first whose data is complete.
SCENARIOS = ("gwangju", "seoul-central")


class ScenarioError(ValueError):
    """A scenario that cannot be used as written, with the reason."""


@dataclass(frozen=True)
class Centre:
    hpid: str
    name: str
    level: int  # 1 권역응급의료센터 ... 4 응급실운영신고기관
    lat: float
    lon: float
    trauma_centre: bool = False

    def target(self) -> Target:
        return Target(self.hpid, self.lat, self.lon)


@dataclass(frozen=True)
class Station:
    name: str
    lat: float
    lon: float
    ambulances: int = 1


@dataclass(frozen=True)
class OffGraph:
    """A centre or station too far from the road graph to be used."""

    kind: str
    name: str
    distance_m: float


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

    @property
    def has_road_graph(self) -> bool:
        return self.road_graph.is_file()

    @property
    def fleet_size(self) -> int:
        return sum(s.ambulances for s in self.stations)

    def centre(self, hpid: str) -> Centre:
        for centre in self.centres:
            if centre.hpid == hpid:
                return centre
        raise KeyError(f"{hpid} is not a centre of scenario {self.name}")


def scenario_file(name: str) -> Path:
    path = Path(str(resources.files("dispatch") / "scenarios" / f"{name}.toml"))
    if not path.is_file():
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return path


def _read_csv(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    if not path.is_file():
        raise ScenarioError(f"{path} does not exist (run `goldentime data check`)")
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle))


def _matches(row: dict[str, str], where: dict[str, Any]) -> bool:
    return all(row.get(column) == str(value) for column, value in where.items())


def load_scenario(name: str, data_dir: Path, *, path: Path | None = None) -> Scenario:
    """Read scenario ``name`` (or the TOML at ``path``) with its centres and stations."""
    source = path or scenario_file(name)
    try:
        spec = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{source}: {exc}") from None
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
            )
            for row in _read_csv(data_dir / centres_spec["file"])
            if _matches(row, centres_spec.get("where", {})) and row["hpid"] not in centres_spec.get("exclude", [])
        )
        fleet = spec.get("fleet", {})
        extra: dict[str, int] = fleet.get("extra", {})
        stations = tuple(
            Station(
                name=row["name"],
                lat=float(row["lat"]),
                lon=float(row["lon"]),
                ambulances=int(fleet.get("per_station", 1)) + int(extra.get(row["name"], 0)),
            )
            for row in _read_csv(data_dir / stations_spec["file"])
            if _matches(row, stations_spec.get("where", {}))
        )
        unknown = set(extra) - {s.name for s in stations}
        if unknown:
            raise ScenarioError(f"{source}: fleet.extra names stations that are not in it: {sorted(unknown)}")
        speeds = spec.get("speeds", {})
        scenario = Scenario(
            name=spec.get("name", name),
            title=spec.get("title", name),
            data_dir=data_dir,
            road_graph=resolve_graph(data_dir / spec["road_graph"]),
            centres=centres,
            stations=stations,
            speeds=SpeedProfile(trust_maxspeed=bool(speeds.get("trust_maxspeed", True))),
            max_snap_m=float(spec.get("max_snap_m", 500.0)),
            notes=spec.get("notes", ""),
        )
        expected = fleet.get("total")
        expected = None if expected is None else int(expected)
    except (KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"{source}: {type(exc).__name__}: {exc}") from None
    if not scenario.centres:
        raise ScenarioError(f"{source}: no emergency centres selected")
    if expected is not None and scenario.fleet_size != expected:
        raise ScenarioError(f"{source}: fleet adds up to {scenario.fleet_size} ambulances, not {expected}")
    return scenario


def off_graph(scenario: Scenario, network: RoadNetwork) -> list[OffGraph]:
    """Centres and stations farther than ``max_snap_m`` from every node of ``network``."""
    places = [("centre", c.name, c.lat, c.lon) for c in scenario.centres]
    places += [("station", s.name, s.lat, s.lon) for s in scenario.stations]
    nearest = network.nearest(np.array([p[2] for p in places]), np.array([p[3] for p in places]))
    return [
        OffGraph(kind, name, float(d))
        for (kind, name, _, _), d in zip(places, nearest.distance_m, strict=True)
        if d > scenario.max_snap_m
    ]


def on_graph(scenario: Scenario, network: RoadNetwork) -> Scenario:
    """The scenario without the centres and stations that do not snap onto ``network``."""
    away = {(o.kind, o.name) for o in off_graph(scenario, network)}
    return Scenario(
        **{
            **scenario.__dict__,
            "centres": tuple(c for c in scenario.centres if ("centre", c.name) not in away),
            "stations": tuple(s for s in scenario.stations if ("station", s.name) not in away),
        }
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


def prepare(scenario: Scenario, *, cache_dir: Path | None) -> Prepared:
    """Load the road graph and build (or load) the ETA index; approximate without a graph."""
    if not scenario.has_road_graph:
        return Prepared(scenario, approximate_index(scenario), None, ())
    key = network_cache_key(scenario.road_graph, scenario.speeds)
    network = load_network(scenario.road_graph, speeds=scenario.speeds, cache_dir=cache_dir, key=key)
    away = tuple(off_graph(scenario, network))
    usable = on_graph(scenario, network)
    if not usable.centres:
        raise ScenarioError(f"no emergency centre of {scenario.name} is within {scenario.max_snap_m:g} m of its roads")
    index = load_index(
        network,
        [c.target() for c in usable.centres],
        network_key=key,
        cache_dir=cache_dir,
        access_kmh=scenario.access_kmh,
        max_snap_m=scenario.max_snap_m,
    )
    return Prepared(usable, index.warm_up(), network, away)


def default_scenario(data_dir: Path) -> str:
    """The first scenario of :data:`SCENARIOS` whose data (road graph included) is complete."""
    for name in SCENARIOS:
        try:
            if load_scenario(name, data_dir).has_road_graph:
                return name
        except ScenarioError:
            continue
    return SCENARIOS[-1]
