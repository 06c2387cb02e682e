"""The one model of the simulated city, shared by the what-if engine and the live city.

:class:`City` says, once, how the city behaves whatever clock drives it (``simpy.Environment`` for
:mod:`simulations.engine`, ``simpy.rt.RealtimeEnvironment`` for :mod:`simulations.live`):

- which centres and units there are (:func:`simulated_centres`, one unit per ambulance of a station);
- how beds fill and empty: the patients there at the start, the walk-ins, and every admitted
  patient's length of stay, all drawn in :class:`CityDraws`;
- which teams are on duty, shift by shift, and when each centre posts its report;
- how a centre answers at the door (:meth:`City.door`): definitive care and a free ER bed, a
  cardiac arrest always taken, and the last open centre takes a patient every other one refused;
- how long a unit drives (:meth:`City.drive_s`, :meth:`City.leg_s`): the road index's ETA, a
  4-hour leg where the road graph has no route.

What each run does with it (policies and records; MQTT and real tablets) stays in its own module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import simpy

from dispatch.pathways import Pathway
from dispatch.scenario import Centre, Prepared, ScenarioError
from dispatch.units import response_times
from simulations.config import SimConfig
from simulations.patients import SimPatient
from simulations.world import Call, CentreState, SimUnit, World

HOUR_S = 3_600.0
#: A leg the road graph has no route for takes this long (it is driven, never skipped).
NO_ROUTE_S = 4 * HOUR_S


@dataclass(frozen=True)
class CityDraws:
    """Everything random about one seed of a city, drawn once for every policy (``engine.draw_city``)."""

    calls: tuple[Call, ...]
    on_scene_s: tuple[float, ...]  # by call
    stay_s: tuple[float, ...]  # by call: the patient's ED length of stay
    walkins: dict[str, tuple[tuple[float, float], ...]]  # centre -> (arrival, length of stay)
    initial: dict[str, tuple[float, ...]]  # centre -> remaining stays of the patients there at t=0
    rosters: dict[str, tuple[frozenset[Pathway], ...]]  # centre -> teams on duty, by shift
    seed: int
    surge: float


@dataclass(frozen=True)
class Door:
    """What happened at a centre's door: taken in (``forced``: only because every open centre refused),
    or refused; ``bed`` and ``treats`` say what the centre had."""

    accepted: bool
    forced: bool
    bed: bool
    treats: bool


def simulated_centres(prepared: Prepared, config: SimConfig) -> list[Centre]:
    return sorted((c for c in prepared.scenario.centres if c.hpid not in config.exclude), key=lambda c: c.hpid)


def finite_or(seconds: float, fallback: float) -> float:
    return seconds if math.isfinite(seconds) else fallback


class City:
    """Centres, units and the city's own processes on a SimPy clock. See the module docstring."""

    def __init__(
        self,
        env: simpy.Environment,
        prepared: Prepared,
        config: SimConfig,
        draws: CityDraws,
        *,
        closed: Iterable[str] = (),
    ) -> None:
        self.env, self.config, self.draws = env, config, draws
        closed = set(closed)
        unknown = closed - {c.hpid for c in prepared.scenario.centres}
        if unknown:
            raise ScenarioError(f"--close names centres that are not in {prepared.scenario.name}: {sorted(unknown)}")
        centres = {
            c.hpid: CentreState(c, config.beds_of(c), config.designated(c), closed=c.hpid in closed)
            for c in simulated_centres(prepared, config)
        }
        units = {}
        for s, station in enumerate(prepared.scenario.stations):
            for k in range(station.ambulances):
                unit_id = f"U{s:02d}-{k}"
                units[unit_id] = SimUnit(unit_id, (station.lat, station.lon))
        if not units:
            raise ScenarioError(f"{prepared.scenario.name} has no ambulance on its roads")
        self.world = World(prepared, config, response_times(prepared), centres, units)

    # --- the clock --------------------------------------------------------------------------------

    def at(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` ``delay`` seconds from now, with the world's clock set."""
        event = self.env.timeout(max(0.0, delay))
        event.callbacks.append(lambda _: self._do(action))

    def _do(self, action: Callable[[], None]) -> None:
        self.world.now = self.env.now
        action()

    # --- centres ----------------------------------------------------------------------------------

    def start(self, post: Callable[[CentreState], None]) -> None:
        """The centres' own life: beds fill with the patients already there and the walk-ins, teams change
        by shift, and every centre posts its report every ``report_interval_min`` (``post``), the centres
        spread evenly over the interval."""
        centres = list(self.world.centres.values())
        for k, centre in enumerate(centres):
            for remaining in self.draws.initial[centre.hpid]:
                self.admit(centre, remaining)
            for t, stay in self.draws.walkins[centre.hpid]:
                self.at(t, lambda c=centre, s=stay: self.admit(c, s))  # type: ignore[misc]
            for shift, teams in enumerate(self.draws.rosters[centre.hpid]):
                self.at(shift * self.config.shift_h * HOUR_S, lambda c=centre, t=teams: _roster(c, t))  # type: ignore[misc]
            self.env.process(self._reports(centre, post, phase=k / len(centres)))

    def _reports(
        self, centre: CentreState, post: Callable[[CentreState], None], *, phase: float
    ) -> simpy.events.ProcessGenerator:
        interval = self.config.report_interval_min * 60.0
        post(centre)
        yield self.env.timeout(phase * interval)
        while True:
            self.world.now = self.env.now
            post(centre)
            yield self.env.timeout(interval)

    def admit(self, centre: CentreState, stay_s: float) -> None:
        """A patient takes a bed for ``stay_s``."""
        centre.change(self.env.now, +1)
        self.at(stay_s, lambda: centre.change(self.env.now, -1))

    def door(self, patient: SimPatient, centre: CentreState, tried: Iterable[str]) -> Door:
        """The centre's answer to this patient at its door (``tried``: every centre this patient's crew has
        been to, this one included). Counts the arrival and the refusal."""
        centre.arrivals += 1
        bed, treats = centre.has_bed(), centre.treats(patient)
        arrest = Pathway.CARDIAC_ARREST in patient.needs and self.config.arrest_always_accepted
        if treats and (bed or arrest):
            return Door(True, False, bed, treats)
        been = set(tried)
        if all(c.hpid in been for c in self.world.open_centres()):
            return Door(True, True, bed, treats)  # every open centre refused: the last one has to take the patient
        centre.refusals += 1
        return Door(False, False, bed, treats)

    # --- units --------------------------------------------------------------------------------------

    def drive_s(self, unit: SimUnit, to: tuple[float, float]) -> float:
        """Driving seconds for ``unit`` from where it is now to a point (the scene, its base)."""
        return finite_or(float(self.world.response.to(to[0], to[1], [unit.as_unit(self.env.now)])[0]), 0.0)

    def leg_s(self, etas: Mapping[str, float], hpid: str) -> float:
        """Driving seconds to centre ``hpid`` from where ``etas`` were measured."""
        return finite_or(etas.get(hpid, math.inf), NO_ROUTE_S)


def _roster(centre: CentreState, teams: frozenset[Pathway]) -> None:
    centre.on_duty = teams
