"""The one model of the simulated city, shared by the what-if engine and the live city.

:class:`City` says, once, how the city behaves whatever clock drives it (``simpy.Environment`` for
:mod:`simulations.engine`, ``simpy.rt.RealtimeEnvironment`` for :mod:`simulations.live`):

- which centres and units there are (:func:`simulated_centres`, one unit per ambulance of a station);
- how beds fill and empty: the patients there at the start, the walk-ins, and every admitted
  patient's length of stay, all drawn in :class:`CityDraws`;
- which teams are on duty, shift by shift, and when each centre posts its report;
- how a centre answers a crew, on the phone or a transfer request on its screen (:meth:`City.phone`;
  :func:`handshake_answer_s`, how long the screen's answer takes) or at the door (:meth:`City.door`):
  the acceptance model of :mod:`simulations.acceptance`, and the last open centre takes a patient
  every other one refused;
- how long a unit drives (:meth:`City.drive_s`, :meth:`City.leg_s`): the road index's ETA, a
  4-hour leg where the road graph has no route.

What each run does with it (policies and records; MQTT and real tablets) stays in its own module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import simpy

from dispatch.pathways import PATHWAYS, Pathway
from dispatch.scenario import Centre, Prepared, ScenarioError
from dispatch.units import response_times
from simulations.acceptance import Answer, Reason, answer, draw_for
from simulations.config import DEFAULT_ONSET_MIN, SimConfig
from simulations.demand import PlaceSampler
from simulations.world import Call, CentreState, SimUnit, World

HOUR_S = 3_600.0
EIGHT_MIN_S = 480.0  # the response-time standard coverage is measured against
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
    or refused (``reason``); ``bed`` and ``treats`` say what the centre had (``treats``: definitive care
    for this patient; taken without it, the patient is a secondary transfer)."""

    accepted: bool
    forced: bool
    bed: bool
    treats: bool
    reason: Reason | None = None


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
        self._index = {hpid: k for k, hpid in enumerate(sorted(centres))}  # keys the answers' random streams

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

    def door(self, call: Call, centre: CentreState, tried: Iterable[str], *, promised: bool = False) -> Door:
        """The centre's answer to this call's patient at its door (``tried``: every centre this patient's crew
        has been to, this one included; ``promised``: the centre said yes on the phone). The acceptance model
        (:mod:`simulations.acceptance`) decides; counts the arrival and the refusal."""
        centre.arrivals += 1
        said = self._answer(call, centre, at_door=True)
        if said.accepted or promised:
            return Door(True, False, said.bed, said.definitive)
        been = set(tried)
        if all(c.hpid in been for c in self.world.open_centres()):
            return Door(True, True, said.bed, said.definitive)  # every open centre refused: the last one takes it
        centre.refusals += 1
        return Door(False, False, said.bed, said.definitive, said.reason)

    def phone(self, call: Call, centre: CentreState) -> Answer:
        """The centre's answer to a crew phoning ahead about this call's patient, or to the transfer request the
        dispatcher sent it (the same question asked on its screen: the same answer)."""
        return self._answer(call, centre, at_door=False)

    def _answer(self, call: Call, centre: CentreState, *, at_door: bool) -> Answer:
        draw = draw_for(self.draws.seed, call.id, self._index[centre.hpid], at_door=at_door)
        return answer(centre, call.patient, self.config, draw, at_door=at_door)

    # --- units --------------------------------------------------------------------------------------

    def drive_s(self, unit: SimUnit, to: tuple[float, float]) -> float:
        """Driving seconds for ``unit`` from where it is now to a point (the scene, its base)."""
        return finite_or(float(self.world.response.to(to[0], to[1], [unit.as_unit(self.env.now)])[0]), 0.0)

    def coverage(self, places: Sequence[tuple[float, float]]) -> float:
        """Share of ``places`` some free unit reaches within 8 minutes of a call (turnout included)."""
        free = [u.as_unit(self.env.now) for u in self.world.units.values() if u.free]
        if not free or not places:
            return 0.0
        limit = EIGHT_MIN_S - self.config.turnout_s
        reached = sum(float(np.min(self.world.response.to(lat, lon, free))) <= limit for lat, lon in places)
        return reached / len(places)

    def nearest_open(self, lat: float, lon: float) -> str | None:
        """The open ER nearest a point by road (None: none is open)."""
        etas = self.world.etas(lat, lon)
        open_ = [c.hpid for c in self.world.open_centres()]
        return min(open_, key=lambda h: (etas.get(h, math.inf), h)) if open_ else None

    def leg_s(self, etas: Mapping[str, float], hpid: str) -> float:
        """Driving seconds to centre ``hpid`` from where ``etas`` were measured."""
        return finite_or(etas.get(hpid, math.inf), NO_ROUTE_S)


# --- per-call draws (keyed by seed and call: the same for every policy) ---------------------------------------


def coverage_places(prepared: Prepared, config: SimConfig) -> list[tuple[float, float]]:
    """The places coverage is measured at: drawn like calls (:class:`~simulations.demand.PlaceSampler`) from a
    stream of their own, the same for every seed and policy."""
    rng = np.random.default_rng([0, 11])
    sampler = PlaceSampler(prepared)
    return [sampler.draw(rng) for _ in range(config.coverage_points)]


def lognormal_factor(seed: int, stream: int, *keys: int, sigma: float = 0.5) -> float:
    """A multiplier of median 1 (lognormal), from a stream keyed by (seed, stream, keys)."""
    return math.exp(sigma * float(np.random.default_rng([seed, stream, *keys]).standard_normal()))


def phone_call_s(seed: int, call: Call, attempt: int, config: SimConfig) -> float:
    """How long the crew's ``attempt``-th call to a centre about this patient takes."""
    return config.phone_call_min * 60.0 * lognormal_factor(seed, 8, call.id, attempt)


def handshake_answer_s(seed: int, call: Call, attempt: int, config: SimConfig) -> float:
    """How long the centre takes to answer the ``attempt``-th transfer request about this patient (the acceptance
    handshake): lognormal, median ``handshake_answer_median_s``, sigma ``handshake_answer_sigma``."""
    factor = lognormal_factor(seed, 10, call.id, attempt, sigma=config.handshake_answer_sigma)
    return config.handshake_answer_median_s * factor


def onset_s(seed: int, call: Call, config: SimConfig) -> float | None:
    """Symptom onset (or injury) to the 119 call, for a patient on a pathway with a golden time (None: not
    one). Lognormal, median ``onset_median_min`` of the patient's most urgent such pathway."""
    timed = [p for p in call.patient.needs if PATHWAYS[p].golden_time_s is not None]
    if not timed:
        return None
    pathway = min(timed, key=lambda p: (PATHWAYS[p].golden_time_s or 0.0, p.value))
    median_min = config.onset_median_min.get(pathway.value, DEFAULT_ONSET_MIN)
    return median_min * 60.0 * lognormal_factor(seed, 6, call.id, sigma=config.onset_sigma)


def _roster(centre: CentreState, teams: frozenset[Pathway]) -> None:
    centre.on_duty = teams
