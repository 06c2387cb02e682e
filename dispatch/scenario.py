"""Scenarios: which emergency centres, which ambulance bases, which road graph, which fleet.

A scenario is a small TOML file in ``dispatch/scenarios/`` naming files of the data
directory. This module is its pure part: the dataclasses, :func:`parse_spec` and
:func:`build_scenario` (the TOML's text and the CSV rows, already read, in; a checked
:class:`Scenario` out), what is on the road graph (:func:`off_graph`, :func:`on_graph`) and the
approximate ETA index. Reading the files, the road graph and the caches is
:mod:`loaders.scenarios` (``load_scenario``, ``prepare``), at the edge. Centres and stations
that do not snap onto the graph are reported, not silently moved, and left out of the index.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.errors import DispatchError
from dispatch.roads import ApproximateIndex, EtaIndex, RoadNetwork, Target
from dispatch.speeds import SpeedProfile

#: In order of preference: the default scenario is the first whose data is complete.
SCENARIOS = ("gwangju", "seoul-central")


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
    def fleet_size(self) -> int:
        return sum(s.ambulances for s in self.stations)

    def centre(self, hpid: str) -> Centre:
        for centre in self.centres:
            if centre.hpid == hpid:
                return centre
        raise KeyError(f"{hpid} is not a centre of scenario {self.name}")


@dataclass(frozen=True)
class ScenarioFiles:
    """The files a scenario's TOML names, relative to the data directory."""

    centres: str
    stations: str
    road_graph: str


def parse_spec(text: str, source: str) -> dict[str, Any]:
    """The TOML of a scenario (its text, read by the caller from ``source``)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: {exc}") from None


def files_of(spec: Mapping[str, Any], source: str) -> ScenarioFiles:
    """The files the scenario ``spec`` (from ``source``) names."""
    try:
        return ScenarioFiles(spec["centres"]["file"], spec["stations"]["file"], spec["road_graph"])
    except (KeyError, TypeError) as exc:
        raise ScenarioError(f"{source}: {type(exc).__name__}: {exc}") from None


def _matches(row: Mapping[str, str], where: dict[str, Any]) -> bool:
    return all(row.get(column) == str(value) for column, value in where.items())


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
    station files it names (:func:`files_of`), checked: a field missing or malformed, a fleet that does
    not add up or no centre selected is a :class:`ScenarioError` naming ``source``."""
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
            for row in centre_rows
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
            for row in station_rows
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
            road_graph=road_graph,
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
