"""Ambulance speeds by road class: Korean defaults and emergency-vehicle factors.

Base speed of an edge: its signed ``maxspeed`` where OpenStreetMap has one (and the profile
trusts it), otherwise the default of its ``highway`` class below. An emergency-vehicle factor
per class then models lights and sirens: a little faster than the limit on arterials, where
traffic can pull over, no faster on narrow streets.

Defaults by class follow Korea's urban speed rules (안전속도 5030, in force nationwide since
April 2021): 50 km/h on urban arterial roads, 30 km/h on residential and school-zone
streets; 80-100 km/h on urban expressways and motorways. They are free-flow limits, not
traffic speeds: a profile for rush hour would lower them, and a scenario can override every
value.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

KOREAN_DEFAULT_KMH: Mapping[str, float] = MappingProxyType(
    {
        "motorway": 100.0,
        "motorway_link": 60.0,
        "trunk": 80.0,
        "trunk_link": 50.0,
        "primary": 50.0,
        "primary_link": 40.0,
        "secondary": 50.0,
        "secondary_link": 40.0,
        "tertiary": 40.0,
        "tertiary_link": 30.0,
        "unclassified": 30.0,
        "residential": 30.0,
        "road": 30.0,
        "living_street": 20.0,
        "service": 20.0,
    }
)

#: Lights-and-sirens factor on the base speed, by class (1.0 = no faster than the limit).
EMERGENCY_FACTOR: Mapping[str, float] = MappingProxyType(
    {
        "motorway": 1.1,
        "motorway_link": 1.0,
        "trunk": 1.15,
        "trunk_link": 1.0,
        "primary": 1.2,
        "primary_link": 1.1,
        "secondary": 1.2,
        "secondary_link": 1.1,
        "tertiary": 1.1,
        "tertiary_link": 1.0,
    }
)

_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class SpeedProfile:
    """How fast an ambulance drives on each class of road."""

    default_kmh: Mapping[str, float] = field(default_factory=lambda: dict(KOREAN_DEFAULT_KMH))
    emergency_factor: Mapping[str, float] = field(default_factory=lambda: dict(EMERGENCY_FACTOR))
    #: Use OSM ``maxspeed`` where present. Off for graphs whose maxspeed was filled in by
    #: class rather than signed (the central-Seoul graph: see its data README).
    trust_maxspeed: bool = True
    #: For a class missing from ``default_kmh``.
    fallback_kmh: float = 30.0

    def __post_init__(self) -> None:
        for name, table in (("default_kmh", self.default_kmh), ("emergency_factor", self.emergency_factor)):
            bad = {k: v for k, v in table.items() if not (math.isfinite(v) and v > 0)}
            if bad:
                raise ValueError(f"{name} must be positive and finite: {bad}")
        if not (math.isfinite(self.fallback_kmh) and self.fallback_kmh > 0):
            raise ValueError(f"fallback_kmh must be positive and finite, got {self.fallback_kmh}")

    def key(self) -> str:
        """A short hash of every value: part of the cache key of a prepared graph."""
        blob = json.dumps(
            [
                sorted(self.default_kmh.items()),
                sorted(self.emergency_factor.items()),
                self.trust_maxspeed,
                self.fallback_kmh,
            ],
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def speed_kmh(self, highway: Any, maxspeed: Any) -> float:
        """The ambulance speed on an edge with these OSM tags (either may be a list or missing)."""
        road_class = highway_class(highway)
        signed = parse_maxspeed(maxspeed) if self.trust_maxspeed else None
        base = signed if signed is not None else self.default_kmh.get(road_class, self.fallback_kmh)
        return base * self.emergency_factor.get(road_class, 1.0)


def highway_class(highway: Any) -> str:
    """The class of an edge; a merged edge with several classes takes its first."""
    if isinstance(highway, list | tuple):
        highway = highway[0] if highway else ""
    return str(highway or "")


def parse_maxspeed(value: Any) -> float | None:
    """km/h from an OSM ``maxspeed`` ("50", "30 mph", ["50", "60"]); None when not numeric
    ("KR:urban", "signals", "none")."""
    if isinstance(value, list | tuple):
        speeds = [s for s in (parse_maxspeed(v) for v in value) if s is not None]
        return sum(speeds) / len(speeds) if speeds else None
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value > 0 else None
    found = _NUMBER.match(str(value))
    if not found:
        return None
    speed = float(found.group(1)) * (1.609344 if (found.group(2) or "").lower() == "mph" else 1.0)
    return speed if speed > 0 else None
