"""The discrete-event engine (SimPy): a city's calls, ambulances and emergency departments.

One run = one policy, one seed. Everything random is drawn before the run from streams keyed
by the seed alone (calls, places, patients, times on scene, lengths of stay, walk-ins, team
rosters), so every policy meets exactly the same city: the differences between policies are
the policies' doing (common random numbers).

A call waits for a free ambulance (the policy dispatches), which drives to the scene
(turnout + road ETA), stays on scene, and drives to the centre the policy names. A centre
takes the patient only when it can give definitive care (:meth:`CentreState.treats`) and has
a free ER bed (a cardiac arrest needs no bed); otherwise it refuses, the crew loses
``refusal_min`` at the door and drives on to the policy's next choice — the re-transfer the
project exists to prevent. Accepted patients stay for a length of stay drawn by their true
KTAS; walk-in patients fill the same beds. Centres post their beds and teams every
``report_interval_min`` (what GoldenTime sees); teams are on or off duty by 12-hour shift.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import simpy

from dispatch.pathways import Pathway
from dispatch.scenario import Centre, Prepared, Scenario, ScenarioError
from dispatch.units import response_times
from simulations.config import SimConfig
from simulations.demand import HOURLY_PROFILE, PlaceSampler, call_times, length_of_stay_s, walkin_rate_per_h
from simulations.errors import UnservedCalls
from simulations.patients import SimPatient
from simulations.policies import Policy
from simulations.records import CallRecord, CentreRecord, RunResult
from simulations.world import ALWAYS_ON, Call, CentreState, SimUnit, Trip, World

DAY_S = 86_400.0
HOUR_S = 3_600.0


@dataclass(frozen=True)
class CityDraws:
    """Everything random about one seed of a city, drawn once for every policy."""

    calls: tuple[Call, ...]
    on_scene_s: tuple[float, ...]  # by call
    stay_s: tuple[float, ...]  # by call: the patient's ED length of stay
    walkins: dict[str, tuple[tuple[float, float], ...]]  # centre -> (arrival, length of stay)
    initial: dict[str, tuple[float, ...]]  # centre -> remaining stays of the patients there at t=0
    rosters: dict[str, tuple[frozenset[Pathway], ...]]  # centre -> teams on duty, by shift
    seed: int
    surge: float


def check_coverage(scenario: Scenario, prepared: Prepared, config: SimConfig) -> None:
    """Refuse a scenario whose road graph leaves out some of its centres (other than those its
    ``[simulation] exclude`` names): a simulation that silently drops an emergency centre
    would route through nothing. ``scenario`` is the scenario as loaded, before ``prepare``."""
    unknown = set(config.exclude) - {c.hpid for c in scenario.centres}
    if unknown:
        raise ScenarioError(f"[simulation] exclude names centres not in {scenario.name}: {sorted(unknown)}")
    excluded = {c.name for c in scenario.centres if c.hpid in config.exclude}
    centres = [o for o in prepared.off_graph if o.kind == "centre" and o.name not in excluded]
    if centres:
        names = ", ".join(f"{o.name} ({o.distance_m:,.0f} m away)" for o in centres)
        raise ScenarioError(
            f"the road graph of {prepared.scenario.name} does not cover these emergency centres: {names}; "
            "fetch a larger graph (goldentime data fetch) or exclude them in the scenario file"
        )


def draw_city(
    prepared: Prepared,
    config: SimConfig,
    patients: Sequence[SimPatient],
    walkin_mix: Sequence[float],
    *,
    seed: int,
    days: float,
    surge: float = 1.0,
) -> CityDraws:
    if not patients:
        raise ValueError("no patients to draw from")
    rng = np.random.default_rng([seed, 1])
    times = call_times(rng, days, config.calls_per_day, surge=surge)
    places = PlaceSampler(prepared)
    calls, on_scene, stays = [], [], []
    median_scene = config.on_scene_min * 60.0
    for i, t in enumerate(times.tolist()):
        lat, lon = places.draw(rng)
        patient = patients[int(rng.integers(len(patients)))]
        calls.append(Call(i, float(t), lat, lon, patient))
        own = np.random.default_rng([seed, 2, i])
        on_scene.append(float(median_scene * math.exp(0.4 * own.standard_normal())))
        stays.append(length_of_stay_s(own, patient.ktas))
    walkins: dict[str, tuple[tuple[float, float], ...]] = {}
    initial: dict[str, tuple[float, ...]] = {}
    rosters: dict[str, tuple[frozenset[Pathway], ...]] = {}
    shifts = math.ceil(days * 24 / config.shift_h) + 1
    ktas_levels = np.arange(1, 6)
    mix = np.asarray(walkin_mix, dtype=float) / float(np.sum(walkin_mix))
    for k, centre in enumerate(simulated_centres(prepared, config)):
        own = np.random.default_rng([seed, 3, k])
        beds = config.beds_of(centre)
        rate_h = walkin_rate_per_h(beds, config.walkin_occupancy, mix) * surge_walkins(surge)
        arrivals = call_times(own, days, rate_h * 24.0, profile=HOURLY_PROFILE)
        walkins[centre.hpid] = tuple(
            (float(t), length_of_stay_s(own, int(own.choice(ktas_levels, p=mix)))) for t in arrivals.tolist()
        )
        present = int(own.poisson(config.walkin_occupancy * beds))
        initial[centre.hpid] = tuple(
            float(own.uniform()) * length_of_stay_s(own, int(own.choice(ktas_levels, p=mix))) for _ in range(present)
        )
        share = config.on_duty_share(centre)
        teams = sorted(config.designated(centre) - ALWAYS_ON, key=lambda n: n.value)
        rosters[centre.hpid] = tuple(frozenset(n for n in teams if own.uniform() < share) for _ in range(shifts))
    return CityDraws(tuple(calls), tuple(on_scene), tuple(stays), walkins, initial, rosters, seed, surge)


def simulated_centres(prepared: Prepared, config: SimConfig) -> list[Centre]:
    return sorted((c for c in prepared.scenario.centres if c.hpid not in config.exclude), key=lambda c: c.hpid)


def surge_walkins(surge: float) -> float:
    """A surge (a heat wave, an epidemic, a mass-casualty day) brings walk-ins too, half as much."""
    return 1.0 + (surge - 1.0) / 2.0


class Simulation:
    def __init__(
        self,
        prepared: Prepared,
        config: SimConfig,
        draws: CityDraws,
        policy: Policy,
        *,
        closed: Iterable[str] = (),
    ) -> None:
        self.env = simpy.Environment()
        self.config, self.draws, self.policy = config, draws, policy
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
        self.waiting: list[Call] = []
        self.records: list[CallRecord] = []

    # --- scheduling helpers ----------------------------------------------------------------

    def _at(self, delay: float, action: Callable[[], None]) -> None:
        event = self.env.timeout(max(0.0, delay))
        event.callbacks.append(lambda _: self._do(action))

    def _do(self, action: Callable[[], None]) -> None:
        self.world.now = self.env.now
        action()

    def _admit(self, centre: CentreState, stay_s: float) -> None:
        centre.change(self.env.now, +1)
        self._at(stay_s, lambda: centre.change(self.env.now, -1))

    # --- the city ----------------------------------------------------------------------------

    def run(self, days: float) -> RunResult:
        end = days * DAY_S
        for k, (hpid, centre) in enumerate(self.world.centres.items()):
            for remaining in self.draws.initial[hpid]:
                self._admit(centre, remaining)
            for t, stay in self.draws.walkins[hpid]:
                self._at(t, lambda c=centre, s=stay: self._admit(c, s))  # type: ignore[misc]
            roster = self.draws.rosters[hpid]
            for shift, teams in enumerate(roster):
                self._at(shift * self.config.shift_h * HOUR_S, lambda c=centre, t=teams: self._roster(c, t))  # type: ignore[misc]
            self.env.process(self._reports(centre, phase=k / len(self.world.centres)))
        for call in self.draws.calls:
            self._at(call.t, lambda c=call: self._call(c))  # type: ignore[misc]
        self.env.run(until=end + 2 * DAY_S)  # calls of the last day finish; none is cut off
        return self._result(days)

    def _roster(self, centre: CentreState, teams: frozenset[Pathway]) -> None:
        centre.on_duty = teams

    def _reports(self, centre: CentreState, *, phase: float) -> simpy.events.ProcessGenerator:
        """Reports at every interval, centres spread evenly over it (``phase``: share of an interval)."""
        interval = self.config.report_interval_min * 60.0
        centre.post_report(0.0)
        yield self.env.timeout(phase * interval)
        while True:
            self.world.now = self.env.now
            centre.post_report(self.env.now)
            yield self.env.timeout(interval)

    def _call(self, call: Call) -> None:
        self.waiting.append(call)
        self._dispatch()

    def _dispatch(self) -> None:
        free = [u for u in self.world.units.values() if u.free]
        if not self.waiting or not free:
            return
        for call, unit in self.policy.dispatch(self.world, list(self.waiting), free):
            self.waiting.remove(call)
            unit.free = False
            self.env.process(self._serve(call, unit))

    def _serve(self, call: Call, unit: SimUnit) -> simpy.events.ProcessGenerator:
        env, world, config = self.env, self.world, self.config
        drive = float(world.response.to(call.lat, call.lon, [unit.as_unit(env.now)])[0])
        drive = drive if math.isfinite(drive) else 0.0
        unit.move((call.lat, call.lon), env.now + config.turnout_s, env.now + config.turnout_s + drive, env.now)
        yield env.timeout(config.turnout_s + drive)
        response = env.now - call.t
        yield env.timeout(self.draws.on_scene_s[call.id])
        left = env.now
        patient, at = call.patient, None
        tried: list[str] = []
        lat, lon = call.lat, call.lon
        full = incapable = 0
        forced = False
        while True:
            world.now = env.now
            trip = Trip(unit.id, call, lat, lon, frozenset(tried), at)
            hpid = self.policy.destination(world, trip)
            centre = world.centres[hpid]
            eta = world.etas_for(trip).get(hpid, math.inf)
            eta = eta if math.isfinite(eta) else 4 * HOUR_S
            unit.move((centre.centre.lat, centre.centre.lon), env.now, env.now + eta, env.now)
            world.inbound[hpid] = world.inbound.get(hpid, 0) + 1
            yield env.timeout(eta)
            world.inbound[hpid] -= 1
            tried.append(hpid)
            centre.arrivals += 1
            bed, treats = centre.has_bed(), centre.treats(patient)
            full += not bed
            incapable += not treats
            arrest = Pathway.CARDIAC_ARREST in patient.needs and config.arrest_always_accepted
            if treats and (bed or arrest):
                break
            if all(c.hpid in tried for c in world.open_centres()):
                forced = True  # every open centre refused: the last one has to take the patient
                break
            centre.refusals += 1
            yield env.timeout(config.refusal_min * 60.0)
            lat, lon, at = centre.centre.lat, centre.centre.lon, hpid
        self._admit(centre, self.draws.stay_s[call.id])
        self.records.append(
            CallRecord(
                call_id=call.id,
                t_call_s=call.t,
                ktas=patient.ktas,
                needs=tuple(sorted(n.value for n in patient.needs)),
                response_s=response,
                transport_s=env.now - left,
                definitive_s=env.now - call.t,
                first_hpid=tried[0],
                final_hpid=centre.hpid,
                retransfers=len(tried) - 1,
                full_arrivals=full,
                incapable_arrivals=incapable,
                forced=forced,
            )
        )
        yield env.timeout(config.handover_min * 60.0)
        self._free(unit, centre)

    def _free(self, unit: SimUnit, centre: CentreState) -> None:
        env, world = self.env, self.world
        here = (centre.centre.lat, centre.centre.lon)
        unit.park(*here)
        back = float(world.response.to(unit.base[0], unit.base[1], [unit.as_unit(env.now)])[0])
        back = back if math.isfinite(back) else 0.0
        unit.move(unit.base, env.now, env.now + back, env.now)
        unit.free = True
        world.now = env.now
        self._dispatch()

    def _result(self, days: float) -> RunResult:
        now = self.env.now
        centres = []
        for c in self.world.centres.values():
            c.change(now, 0)
            mean = c.area / now if now else 0.0
            centres.append(
                CentreRecord(c.hpid, c.centre.name, c.centre.level, c.beds, c.peak, mean, c.arrivals, c.refusals)
            )
        calls = tuple(sorted(self.records, key=lambda r: r.call_id))
        if self.waiting:
            raise UnservedCalls(f"{len(self.waiting)} calls were never served (no ambulance can reach them)")
        return RunResult(self.policy.name, self.draws.seed, days, self.draws.surge, calls, tuple(centres))


def simulate(
    prepared: Prepared,
    config: SimConfig,
    draws: CityDraws,
    policy: Policy,
    *,
    days: float,
    closed: Iterable[str] = (),
) -> RunResult:
    """One run of ``policy`` through the city ``draws`` describes."""
    return Simulation(prepared, config, draws, policy, closed=closed).run(days)
