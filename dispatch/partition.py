"""Which region's dispatcher decides for what comes on the shared bus (issue 26: one dispatcher per region).

Every region's dispatcher subscribes to every unit's topics (``ems/units/+/...``: a unit's id does not name its
region), so each must pick out its own, or two regions would advise the same unit and refuse each other's
messages. :class:`Partition` is that choice, pure (no I/O, no clock): the events a region's dispatcher takes from
the bus, in order, and what it must be told when a unit joins or leaves the region.

Who belongs where (:class:`RegionMap`):

- **A unit of the scenario's fleet** belongs to its station's region, wherever it drives (each 119 headquarters
  dispatches its own ambulances). The fleet's ids are the simulator's (``U{station:02d}-{k}``, the stations
  numbered in the order of the whole scenario: :func:`fleet_regions`).
- **Any other unit** (a real tablet) belongs to the region its position is in, the region of the nearest 119
  station (:class:`dispatch.regions.Locator`): decided at its first position, and again at each position while
  it has no patient, so a free unit crossing a border changes region; while it has a patient (vitals, or advice
  for one, until it is at hospital or available again) it keeps its region: a patient is never handed between
  regions mid-transport. What it sends before its first position is held (at most :data:`WAITING_MAX` messages a
  unit) and handed, in order, to the region its first position names; the others drop it.
- **An incident** belongs to the region it is in; **a centre's report** to every region whose part has the
  centre; **a centre's answer** to the region of the unit its request names (the request id starts with the
  unit's id), else to the centre's home region.
- A unit that joins the region (its first position here, or a free unit crossing in) is announced to the engine
  with its last status and position; one that leaves (free, crossing out) with
  :class:`dispatch.events.UnitLeft`.

A refusal of a unit's own message (malformed, off the contract) is the unit's region's to send: the others say
nothing on ``ems/units/{unit}/rejected``. A refusal of anything else (a centre's or an incident's malformed
message) is reported by every region to the operators (``ems/rejected/dispatcher``): none can tell whose it is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from dispatch.commands import Refuse
from dispatch.events import (
    AdviceSeen,
    AnswerReceived,
    CapacityReported,
    DecisionMade,
    Event,
    IncidentReported,
    PositionReported,
    StatusChanged,
    UnitLeft,
    VitalsReported,
)
from dispatch.regions import Locator, Place
from dispatch.regions import region as region_named
from dispatch.scenario import Scenario, Station
from dispatch.wire import sender
from telemetry.schemas import UnitStatus

#: Messages of a unit with no region yet (no position) held for the region of its first position, per unit.
WAITING_MAX = 32
#: Units whose messages are held at once; beyond it the oldest unit's are dropped (and counted).
WAITING_UNITS_MAX = 20_000
#: A unit's status after which it has no patient (its trip closed: at hospital, or free again).
_FREE = (UnitStatus.AT_HOSPITAL, UnitStatus.AVAILABLE)
#: A request id: the unit's id (or its hash), then the advice version (handshake.request_id).
_REQUEST = re.compile(r"^(?P<unit>.+)-v\d+b?$")

Item = Event | Refuse


def fleet_regions(stations: Sequence[Station]) -> dict[str, str]:
    """The scenario's fleet: each ambulance's id (the simulator's, ``U{station:02d}-{k}`` in station order) and
    its station's region."""
    return {
        f"U{s:02d}-{k}": station.region
        for s, station in enumerate(stations)
        if station.region
        for k in range(station.ambulances)
    }


@dataclass(frozen=True)
class RegionMap:
    """What a region's dispatcher needs to tell its own from the others': its region, where every region's 119
    stations are, the fleet's home regions, every centre's home region and the centres its own part plans with."""

    region: str
    locator: Locator
    fleet: Mapping[str, str]
    centres: Mapping[str, str]  # hpid -> home region, every centre of the whole scenario
    planned: frozenset[str]  # the centres of the region's part (its own and the border centres serving it)

    @classmethod
    def of(cls, scenario: Scenario, region: str) -> RegionMap:
        """Region ``region`` of the whole ``scenario`` (every region's stations: a unit or an incident near a
        border is told by the stations on both sides)."""
        part = scenario.region(region)  # a ScenarioError for a region the scenario does not have
        code = region_named(region).code
        return cls(
            region=code,
            locator=Locator([Place(s.region, s.lat, s.lon) for s in scenario.stations]),
            fleet=fleet_regions(scenario.stations),
            centres={c.hpid: c.region for c in scenario.centres},
            planned=frozenset(c.hpid for c in part.centres),
        )


@dataclass
class _Unit:
    region: str | None = None
    carrying: bool = False  # has a patient: keeps its region
    status: StatusChanged | None = None
    position: PositionReported | None = None
    waiting: list[Item] = field(default_factory=list)  # before its region is known, oldest first


@dataclass
class PartitionStats:
    foreign: int = 0  # messages of other regions' units, incidents, centres and answers, left to them
    waiting: int = 0  # messages held now for units with no region yet
    dropped: int = 0  # held messages dropped (a unit's beyond WAITING_MAX, units beyond WAITING_UNITS_MAX)
    joined: int = 0  # units that joined this region (first position here, or crossing in while free)
    left: int = 0  # free units that crossed out


class Partition:
    """The events of one region, picked out of everything on the bus (see the module docstring)."""

    def __init__(self, regions: RegionMap) -> None:
        self.map = regions
        self.region = regions.region
        self.units: dict[str, _Unit] = {}
        self.stats = PartitionStats()
        self._hashed: dict[str, str] = {}  # sha256 prefix of a long unit id (handshake.request_id) -> the id

    def claim(self, units: Iterable[tuple[str, float | None, float | None]]) -> None:
        """Units whose patients this region's stored decision state holds (a new leader's): ours, with a
        patient, where they were last (unit id, lat, lon)."""
        for unit_id, lat, lon in units:
            unit = self._unit(unit_id)
            unit.region, unit.carrying = self.region, True
            if lat is not None and lon is not None:
                unit.position = PositionReported(unit_id, lat, lon)

    def owns(self, unit_id: str) -> bool:
        """Whether this region decides for the unit now."""
        unit = self.units.get(unit_id)
        return unit is not None and unit.region == self.region

    def region_of(self, unit_id: str) -> str | None:
        """The unit's region (None: not known yet)."""
        unit = self.units.get(unit_id)
        return None if unit is None else unit.region

    def sort(self, items: Sequence[Item]) -> list[Item]:
        """This region's events and refusals of ``items`` (a batch from the bus, in order), with what the engine
        must be told of units joining or leaving it; the rest is left to the other regions."""
        places = self._places(items)
        out: list[Item] = []
        for k, item in enumerate(items):
            match item:
                case PositionReported():
                    self._position(item, places.get(k), out)
                case VitalsReported() | StatusChanged() | DecisionMade() | AdviceSeen():
                    self._unit_event(item.unit_id, item, out)
                case Refuse():
                    unit_id = item.unit_id or (None if item.origin is None else sender(item.origin.topic))
                    if unit_id is None:
                        out.append(item)  # nobody can tell whose: reported by every region
                    else:
                        self._unit_event(unit_id, item, out)
                case IncidentReported():
                    self._keep(places.get(k) == self.region, item, out)
                case CapacityReported():
                    self._keep(item.hpid in self.map.planned, item, out)
                case AnswerReceived():
                    self._keep(self._answer_region(item) in (self.region, None), item, out)
                case _:
                    out.append(item)
        self.stats.waiting = sum(len(u.waiting) for u in self.units.values())
        return out

    # --- internals ---------------------------------------------------------------------------------------

    def _places(self, items: Sequence[Item]) -> dict[int, str]:
        """The region of every position (of units the fleet does not know) and incident of the batch, at once."""
        wanted: list[tuple[int, float, float]] = []
        for k, item in enumerate(items):
            if type(item) is PositionReported and item.unit_id not in self.map.fleet:
                wanted.append((k, item.lat, item.lon))
            elif type(item) is IncidentReported:
                wanted.append((k, item.incident.lat, item.incident.lon))
        if not wanted:
            return {}
        found = self.map.locator.regions_at([w[1] for w in wanted], [w[2] for w in wanted])
        return {k: code for (k, _, _), code in zip(wanted, found, strict=True)}

    def _keep(self, ours: bool, item: Item, out: list[Item]) -> None:
        if ours:
            out.append(item)
        else:
            self.stats.foreign += 1

    def _unit(self, unit_id: str) -> _Unit:
        unit = self.units.get(unit_id)
        if unit is None:
            unit = self.units[unit_id] = _Unit(region=self.map.fleet.get(unit_id))
            if len(unit_id) > 48:  # long enough for its requests to name it by a hash (handshake.request_id)
                self._hashed[hashlib.sha256(unit_id.encode()).hexdigest()[:16]] = unit_id
        return unit

    def _position(self, event: PositionReported, place: str | None, out: list[Item]) -> None:
        unit = self._unit(event.unit_id)
        unit.position = event
        before = unit.region
        if place is not None and (before is None or not unit.carrying):
            unit.region = place
        if unit.region == self.region:
            if before != self.region:  # joined: what it said before, then where it is
                self.stats.joined += 1
                if before is not None and unit.status is not None:
                    out.append(replace(unit.status, incident_id=None))
                out.extend(unit.waiting)
            out.append(event)
        else:
            if before == self.region:
                self.stats.left += 1
                out.append(UnitLeft(event.unit_id))
            self.stats.foreign += 1 + len(unit.waiting)
        unit.waiting = []

    def _unit_event(self, unit_id: str, item: Item, out: list[Item]) -> None:
        unit = self._unit(unit_id)
        if type(item) is VitalsReported or (type(item) is AdviceSeen and item.patient_id):
            unit.carrying = True
        elif type(item) is StatusChanged:
            unit.status = item
            if item.status in _FREE:
                unit.carrying = False
        if unit.region is None:
            self._wait(unit, item)
        elif unit.region == self.region:
            out.append(item)
        else:
            self.stats.foreign += 1

    def _wait(self, unit: _Unit, item: Item) -> None:
        unit.waiting.append(item)
        if len(unit.waiting) > WAITING_MAX:
            del unit.waiting[0]
            self.stats.dropped += 1
        if len(self.units) > WAITING_UNITS_MAX:  # forget the oldest unit still without a position
            oldest = next((k for k, u in self.units.items() if u.region is None and u is not unit), None)
            if oldest is not None:
                self.stats.dropped += len(self.units.pop(oldest).waiting)

    def _answer_region(self, answer: AnswerReceived) -> str | None:
        """The region of the unit the answered request names; else the centre's home region (None: neither
        known, so every region hears it and the one holding the request answers)."""
        match = _REQUEST.match(answer.request_id)
        if match is not None:
            named = match["unit"]
            unit = self.units.get(named) or self.units.get(self._hashed.get(named, ""))
            if unit is not None and unit.region is not None:
                return unit.region
        return self.map.centres.get(answer.hpid)
