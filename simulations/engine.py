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
All of that is :class:`simulations.city.City`, the model the live city runs too.

A policy may turn a unit on its way (``redirects``, :mod:`simulations.policies`): it is asked after
every decision and every ``reroute_check_min``, and a unit it turns drives on to the new centre from
where it is (``CallRecord.redirects`` counts the turns).

Ready to leave the scene, a crew may first find a centre that says yes: by phone (a policy that
``phones_ahead``: :meth:`Simulation._phone_around`) or by the acceptance handshake (a policy that
:func:`~simulations.policies.asks`: :meth:`Simulation._ask_around`), the centres answering by the
same acceptance model either way. Each call records the time from ready to leave to the first yes
(``ready_to_accepted_s``) and every refusal met, with its coded reason (``refusals``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import simpy

from dispatch.pathways import Pathway
from dispatch.scenario import Prepared, Scenario, ScenarioError
from simulations.acceptance import coded
from simulations.city import (
    City,
    CityDraws,
    coverage_places,
    handshake_answer_s,
    lognormal_factor,
    onset_s,
    phone_call_s,
    simulated_centres,
)
from simulations.config import SimConfig
from simulations.demand import HOURLY_PROFILE, PlaceSampler, call_times, length_of_stay_s, walkin_rate_per_h
from simulations.errors import UnservedCalls
from simulations.patients import SimPatient
from simulations.policies import AsksAhead, Policy, asks
from simulations.records import CallRecord, CentreRecord, RunResult
from simulations.world import ALWAYS_ON, Call, CentreState, Reply, SimUnit, Trip
from telemetry.schemas import RefusalReason

DAY_S = 86_400.0


@dataclass(frozen=True)
class _Ahead:
    """What the crew settled at the scene before leaving: the centre that said yes (None: nobody did), when,
    the phone calls made, the transfer requests waited on, and the refusals heard, (where, coded reason)."""

    promised: str | None = None
    accepted_at: float | None = None
    calls: int = 0
    requests: int = 0
    refusals: tuple[tuple[str, str], ...] = ()


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
    calls: Sequence[Call] | None = None,
) -> CityDraws:
    """Everything random about seed ``seed`` of the city. ``calls`` replace the Poisson calls: a fire HQ's
    logged calls with this seed's patients (:func:`simulations.trace.replayed_calls`; ids 0, 1, ... in time
    order, all within ``days``); on-scene times, lengths of stay, walk-ins, occupancy and rosters are drawn
    from the seed either way."""
    if not patients:
        raise ValueError("no patients to draw from")
    rng = np.random.default_rng([seed, 1])
    drawn: list[Call] = []
    if calls is None:
        times = call_times(rng, days, config.calls_per_day, surge=surge)
        places = PlaceSampler(prepared)
        for i, t in enumerate(times.tolist()):
            lat, lon = places.draw(rng)
            drawn.append(Call(i, float(t), lat, lon, patients[int(rng.integers(len(patients)))]))
    else:
        for i, call in enumerate(calls):
            if call.id != i or not 0 <= call.t < days * DAY_S or (i and call.t < calls[i - 1].t):
                raise ValueError(f"replayed calls need ids 0, 1, ... in time order within {days:g} days: not call {i}")
            drawn.append(call)
    on_scene, stays = [], []
    median_scene = config.on_scene_min * 60.0
    for call in drawn:
        own = np.random.default_rng([seed, 2, call.id])
        on_scene.append(float(median_scene * math.exp(0.4 * own.standard_normal())))
        stays.append(length_of_stay_s(own, call.patient.ktas))
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
    return CityDraws(tuple(drawn), tuple(on_scene), tuple(stays), walkins, initial, rosters, seed, surge)


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
        self.city = City(self.env, prepared, config, draws, closed=closed)
        self.world = self.city.world
        self.waiting: list[Call] = []
        self.records: list[CallRecord] = []
        self._serving: dict[str, simpy.Process] = {}  # unit -> the process of the call it serves
        self._heading: dict[str, str] = {}  # unit -> the centre it is driving to now, with a patient
        self.coverage: list[float] = []  # share of the area a free unit reaches in 8 minutes, over time
        self._busy_since: dict[str, float] = {}  # unit -> when it was dispatched
        self.busy_s = 0.0  # dispatched -> back at the station, summed over the calls served

    # --- the city ----------------------------------------------------------------------------

    def run(self, days: float) -> RunResult:
        end = days * DAY_S
        self.city.start(lambda centre: centre.post_report(self.env.now))
        for call in self.draws.calls:
            self.city.at(call.t, lambda c=call: self._call(c))  # type: ignore[misc]
        if hasattr(self.policy, "redirects"):
            self.env.process(self._redirect_checks())
        self.env.process(self._coverage(end))
        self.env.run(until=end + 2 * DAY_S)  # calls of the last day finish; none is cut off
        return self._result(days)

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
            self._busy_since[unit.id] = self.env.now
            self._serving[unit.id] = self.env.process(self._serve(call, unit))
        self._redirect()

    def _coverage(self, end: float) -> simpy.events.ProcessGenerator:
        """Measure the area a free unit reaches in 8 minutes every ``coverage_every_min`` of the run's days."""
        places = coverage_places(self.world.prepared, self.config)
        while self.env.now < end:
            self.coverage.append(self.city.coverage(places))
            yield self.env.timeout(self.config.coverage_every_min * 60.0)

    # --- re-routing en route ---------------------------------------------------------------------

    def _redirect_checks(self) -> simpy.events.ProcessGenerator:
        """Ask the policy every ``reroute_check_min`` whether a unit on its way should head elsewhere."""
        while True:
            yield self.env.timeout(self.config.reroute_check_min * 60.0)
            if self._heading:
                self.world.now = self.env.now
                self._redirect()

    def _redirect(self) -> None:
        """Turn the units the policy sends elsewhere (a policy with ``redirects``; see :mod:`simulations.policies`)."""
        redirects = getattr(self.policy, "redirects", None)
        if redirects is None or not self._heading:
            return
        for unit_id, hpid in redirects(self.world, dict(self._heading)).items():
            if self._heading.get(unit_id) not in (None, hpid) and hpid in self.world.centres:
                self._heading[unit_id] = hpid
                self._serving[unit_id].interrupt(hpid)

    def _leg(self, unit: SimUnit, hpid: str, seconds: float) -> simpy.events.ProcessGenerator:
        """Drive to centre ``hpid``; returns None on arrival, or the centre the policy turned the unit to."""
        world, env = self.world, self.env
        centre = world.centres[hpid].centre
        unit.move((centre.lat, centre.lon), env.now, env.now + seconds, env.now)
        world.inbound[hpid] = world.inbound.get(hpid, 0) + 1
        self._heading[unit.id] = hpid
        try:
            yield env.timeout(seconds)
            return None
        except simpy.Interrupt as turn:
            return str(turn.cause)
        finally:
            world.inbound[hpid] -= 1
            del self._heading[unit.id]

    # --- one call --------------------------------------------------------------------------------

    def _serve(self, call: Call, unit: SimUnit) -> simpy.events.ProcessGenerator:
        env, world, config, city = self.env, self.world, self.config, self.city
        drive = city.drive_s(unit, (call.lat, call.lon))
        unit.move((call.lat, call.lon), env.now + config.turnout_s, env.now + config.turnout_s + drive, env.now)
        yield env.timeout(config.turnout_s + drive)
        response = env.now - call.t
        yield env.timeout(self.draws.on_scene_s[call.id])
        search = env.now  # ready to leave: on-scene care is over
        trip = Trip(unit.id, call, call.lat, call.lon, frozenset(), None)
        ahead = _Ahead()
        phones_ahead = getattr(self.policy, "phones_ahead", None)
        if phones_ahead is not None and phones_ahead(call):
            ahead = yield from self._phone_around(trip)
            trip = Trip(unit.id, call, call.lat, call.lon, frozenset(), None)
        elif asks(self.policy) and self.policy.asks_ahead(call):
            ahead = yield from self._ask_around(self.policy, trip)
        promised = ahead.promised
        left = env.now
        tried: list[str] = []
        refusals = list(ahead.refusals)
        full = incapable = redirects = 0
        while True:
            world.now = env.now
            if promised is not None and not tried and not ahead.requests:
                hpid = promised  # the centre that said yes on the phone
            else:  # (a request's yes is kept by the policy's own advice: R-PROMISE)
                hpid = self.policy.destination(world, trip)
            self._redirect()
            etas = world.etas_for(trip)
            while True:
                turned = yield from self._leg(unit, hpid, city.leg_s(etas, hpid))
                if turned is None:
                    break
                redirects += 1
                lat, lon = unit.position(env.now)
                hpid, etas = turned, world.etas(lat, lon)
            centre = world.centres[hpid]
            tried.append(hpid)
            door = city.door(call, centre, tried, promised=hpid == promised)
            full += not door.bed
            incapable += not door.treats
            if door.accepted:
                break
            if door.reason is not None:
                refusals.append(("door", coded(door.reason).value))
            yield env.timeout(config.refusal_min * 60.0)
            trip = Trip(unit.id, call, centre.centre.lat, centre.centre.lon, frozenset(tried), hpid)
        city.admit(centre, self.draws.stay_s[call.id])
        accepted_s = definitive_s = env.now - call.t
        yes_at = ahead.accepted_at if ahead.accepted_at is not None else env.now  # else: the door that took them
        definitive_hpid = centre.hpid
        if not door.treats:
            definitive_s, definitive_hpid = self._secondary(call, centre, definitive_s)
        self.records.append(
            CallRecord(
                call_id=call.id,
                t_call_s=call.t,
                ktas=call.patient.ktas,
                needs=tuple(sorted(n.value for n in call.patient.needs)),
                response_s=response,
                transport_s=env.now - left,
                definitive_s=definitive_s,
                first_hpid=tried[0],
                final_hpid=centre.hpid,
                retransfers=len(tried) - 1,
                full_arrivals=full,
                incapable_arrivals=incapable,
                forced=door.forced,
                redirects=redirects,
                scene_search_s=left - search,
                phone_calls=ahead.calls,
                secondary_transfer=not door.treats,
                definitive_hpid=definitive_hpid,
                onset_s=onset_s(self.draws.seed, call, config),
                accepted_s=accepted_s,
                nearest_first=tried[0] == city.nearest_open(call.lat, call.lon),
                unstable=call.patient.unstable,
                requests=ahead.requests,
                ready_to_accepted_s=yes_at - search,
                refusals=tuple(refusals),
            )
        )
        yield env.timeout(config.handover_min * 60.0)
        self._free(unit, centre)

    def _phone_around(self, trip: Trip) -> simpy.events.ProcessGenerator:
        """The crew phones centres from the scene, in the policy's order, until one says yes (the promised
        centre) or ``phone_max_calls`` said no (None: drive unannounced); returns :class:`_Ahead`."""
        env, world, config = self.env, self.world, self.config
        refused: set[str] = set()
        said: list[tuple[str, str]] = []
        for attempt in range(config.phone_max_calls):
            world.now = env.now
            if not any(c.hpid not in refused for c in world.open_centres()):
                break
            hpid = self.policy.destination(world, dataclasses.replace(trip, tried=frozenset(refused)))
            yield env.timeout(phone_call_s(self.draws.seed, trip.call, attempt, config))
            answer = self.city.phone(trip.call, world.centres[hpid])
            if answer.accepted:
                return _Ahead(hpid, env.now, calls=attempt + 1, refusals=tuple(said))
            refused.add(hpid)
            if answer.reason is not None:
                said.append(("phone", coded(answer.reason).value))
        return _Ahead(calls=len(refused), refusals=tuple(said))

    def _ask_around(self, policy: AsksAhead, trip: Trip) -> simpy.events.ProcessGenerator:
        """The acceptance handshake at the scene (a policy that :func:`~simulations.policies.asks`): the policy's
        advice sends a transfer request, the centre answers it by the acceptance model (:meth:`City.phone`, the
        same answer as on the phone) after a lognormal delay (:func:`handshake_answer_s`); a decline is told to
        the policy, whose advice sends the next request. The crew waits until a centre accepts (the promised
        centre), an answer would come at or after the request's answer time (it goes as advised when that time
        is up), no request is open (a patient time wins for: at once), or ``phone_max_calls`` requests were
        waited on. Returns :class:`_Ahead`."""
        env, world, config = self.env, self.world, self.config
        call = trip.call
        asked: list[str] = []  # the requests waited on, in order
        done: set[str] = set()  # the requests answered (or withdrawn before their answer)
        said: list[tuple[str, str]] = []
        while True:
            world.now = env.now
            request = policy.ask(world, trip)
            if request is None or request.request_id in done:
                break  # no request open: go as advised
            if request.request_id not in asked:
                if len(asked) == config.phone_max_calls:
                    break
                asked.append(request.request_id)
            delay = handshake_answer_s(self.draws.seed, call, len(asked) - 1, config)
            answered_at = max(env.now, request.sent_at + delay)
            if answered_at >= request.answer_by:  # too late: the crew goes as advised when the time is up
                yield env.timeout(max(0.0, request.answer_by - env.now))
                break
            yield env.timeout(answered_at - env.now)
            world.now = env.now
            done.add(request.request_id)
            answer = self.city.phone(call, world.centres[request.hpid])
            reply = Reply(answer.accepted, None if answer.reason is None else coded(answer.reason))
            if not policy.answered(world, request, reply):
                continue  # withdrawn meanwhile (newer advice named another centre): wait on the newer request
            if reply.accepted:
                return _Ahead(request.hpid, env.now, requests=len(asked), refusals=tuple(said))
            said.append(("request", (reply.reason or RefusalReason.OTHER).value))
        return _Ahead(requests=len(asked), refusals=tuple(said))

    def _secondary(self, call: Call, centre: CentreState, accepted_s: float) -> tuple[float, str]:
        """A patient taken where they cannot get definitive care is stabilised and moved on: the time to
        definitive care at the nearest centre that can give it (beds aside), and that centre."""
        delay = self.config.secondary_transfer_min * 60.0 * lognormal_factor(self.draws.seed, 9, call.id)
        etas = self.world.etas_from_centre(centre.hpid)
        able = [c for c in self.world.centres.values() if c.treats(call.patient)]
        if not able:
            return accepted_s + delay, centre.hpid
        best = min(able, key=lambda c: (etas.get(c.hpid, math.inf), c.hpid))
        return accepted_s + delay + self.city.leg_s(etas, best.hpid), best.hpid

    def _free(self, unit: SimUnit, centre: CentreState) -> None:
        env, world = self.env, self.world
        unit.park(centre.centre.lat, centre.centre.lon)
        back = self.city.drive_s(unit, unit.base)
        unit.move(unit.base, env.now, env.now + back, env.now)
        self.busy_s += env.now + back - self._busy_since.pop(unit.id)
        unit.free = True
        del self._serving[unit.id]
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
        unadvised = getattr(self.policy, "unadvised", None)  # a policy that advises says whom it could not
        records = self.records
        if unadvised is not None:
            records = [dataclasses.replace(r, advised=r.call_id not in unadvised) for r in records]
        calls = tuple(sorted(records, key=lambda r: r.call_id))
        if self.waiting:
            raise UnservedCalls(f"{len(self.waiting)} calls were never served (no ambulance can reach them)")
        policy, seed, surge = self.policy.name, self.draws.seed, self.draws.surge
        units, coverage = len(self.world.units), tuple(self.coverage)
        return RunResult(
            policy, seed, days, surge, calls, tuple(centres), units=units, coverage=coverage, busy_s=self.busy_s
        )


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
