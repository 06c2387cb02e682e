"""Routing policies: who goes to which call, and which centre each patient is taken to.

A policy is a plug-in: any object with a ``name`` and the two methods of :class:`Policy`, and
optionally ``redirects(world, heading) -> {unit: hpid}`` (units on their way that should turn to
another centre; :meth:`GoldenTime.redirects`), ``phones_ahead(call) -> bool`` (the crew phones
centres from the scene before leaving; :meth:`PhoneAround.phones_ahead`) or the three methods of
:class:`AsksAhead` (the acceptance handshake: the policy's advice sends a transfer request, the
simulator has the centre answer it; :class:`GoldenTimeHandshake`). Those shipped here run through
the same engine:

- ``phone-around`` and ``egen-greedy``: today's practice (:class:`PhoneAround`, :class:`EgenGreedy`).
- ``nearest``: the nearest open ER.
- ``capable``: the nearest open centre designated for what the crew sees (crew flags, and a
  regional or local centre when the triage nurse's KTAS — the human estimate — is 1-2);
  the nearest open ER when none is.
- ``goldentime``: the product's own decision engine, not a copy: the :class:`dispatch.engine.DispatchEngine`
  the live worker runs, fed the city's events (:class:`GoldenTime`): it recommends the units, names
  the centres and turns units on their way. The crew drives without asking: the engine's transfer
  requests go unanswered (no centre has the screen).
- ``goldentime-handshake``: the same engine with the acceptance handshake (issue 23,
  :class:`GoldenTimeHandshake`): the crew, ready to leave, waits at the scene for the advised
  centre's answer to the engine's request, and leaves on a yes, on no answer in time, or after
  ``phone_max_calls`` declines.

After a refusal every policy tries again from that centre's door, never the same centre twice.
A planner adds a policy by writing a class and naming it ``package.module:Class`` on the
command line (``goldentime simulate --policy nearest,mypkg.policies:MyPolicy``).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeGuard

import numpy as np

from dispatch.commands import Advise, AssignUnit, ClearAdvice, ClearRequest, Command, TellRequest
from dispatch.engine import DispatchEngine
from dispatch.events import (
    AnswerReceived,
    CapacityReported,
    DecisionMade,
    Event,
    IncidentReported,
    PositionReported,
    StatusChanged,
    VitalsReported,
)
from dispatch.handshake import OPEN
from dispatch.pathways import Pathway
from dispatch.router import RouterConfig
from dispatch.units import Incident
from simulations.patients import OutOfFold, SimPatient
from simulations.world import REPORTED, Ask, Call, CentreState, Reply, SimUnit, Trip, World
from telemetry import schemas
from telemetry.schemas import AnswerKind, RefusalReason, UnitStatus


class Policy(Protocol):
    name: str

    def dispatch(self, world: World, calls: Sequence[Call], units: Sequence[SimUnit]) -> list[tuple[Call, SimUnit]]:
        """Free units for waiting calls (each at most once); calls left out keep waiting."""
        ...

    def destination(self, world: World, trip: Trip) -> str:
        """The hpid of the centre to drive this patient to now (never one in ``trip.tried``)."""
        ...


class AsksAhead(Protocol):
    """A policy whose advice asks the centre before the crew leaves the scene (the acceptance handshake). The
    simulator (:meth:`simulations.engine.Simulation._ask_around`) drives the waiting: it asks :meth:`ask` for
    the unit's open request, has the centre answer it by the acceptance model after its answer delay, and
    tells the policy the answer (:meth:`answered`); the policy's next request, if any, is waited on the same
    way."""

    def asks_ahead(self, call: Call) -> bool:
        """Whether the crew waits at the scene for an answer to its requests for this call."""
        ...

    def ask(self, world: World, trip: Trip) -> Ask | None:
        """The unit's open transfer request now (the first time for a call: the patient is reported ready to
        leave, and the advice sends it); None: none is open (the crew goes as advised)."""
        ...

    def answered(self, world: World, request: Ask, reply: Reply) -> bool:
        """The centre answered ``request`` now; False when it was no longer open (withdrawn for newer advice)."""
        ...


def asks(policy: object) -> TypeGuard[AsksAhead]:
    """Does ``policy`` ask ahead (has the methods of :class:`AsksAhead`)?"""
    return all(callable(getattr(policy, name, None)) for name in ("asks_ahead", "ask", "answered"))


def _untried(world: World, trip: Trip) -> list[CentreState]:
    return [c for c in world.open_centres() if c.hpid not in trip.tried]


def nearest_of(centres: Sequence[CentreState], etas: dict[str, float]) -> str:
    return min(centres, key=lambda c: (etas.get(c.hpid, math.inf), c.hpid)).hpid


class NearestUnits:
    """Calls in order of arrival, each to the free unit with the shortest road ETA."""

    def dispatch(self, world: World, calls: Sequence[Call], units: Sequence[SimUnit]) -> list[tuple[Call, SimUnit]]:
        free = sorted(units, key=lambda u: u.id)
        pairs = []
        for call in sorted(calls, key=lambda c: (c.t, c.id)):
            if not free:
                break
            seconds = world.response.to(call.lat, call.lon, [u.as_unit(world.now) for u in free])
            if not np.isfinite(seconds).any():
                continue
            pairs.append((call, free.pop(int(np.argmin(seconds)))))  # argmin: the first (smallest id) of ties
        return pairs


class Nearest(NearestUnits):
    name = "nearest"

    def destination(self, world: World, trip: Trip) -> str:
        return nearest_of(_untried(world, trip), world.etas_for(trip))


class Capable(NearestUnits):
    name = "capable"

    def destination(self, world: World, trip: Trip) -> str:
        return nearest_of(_crew_candidates(world, trip), world.etas_for(trip))


def nearest_er_first(patient: SimPatient) -> bool:
    """What every crew does today by protocol: a cardiac arrest, or a patient with Pre-KTAS level 1 signs on
    the vitals it measures (the stabilise-first rule, :class:`dispatch.pathways.StabiliseRule`), goes to the
    nearest open ER, beds and teams aside, without phoning first."""
    return patient.unstable or Pathway.CARDIAC_ARREST in patient.needs


def _crew_candidates(world: World, trip: Trip) -> list[CentreState]:
    """The untried open centres a crew would consider for what it sees: designated for the crew flags, and a
    regional or local centre when it judges the patient critical (the triage nurse's KTAS 1-2 stands in for
    the crew's judgement); every untried open centre when none is, or when the patient goes to the nearest ER
    first (:func:`nearest_er_first`)."""
    patient, untried = trip.call.patient, _untried(world, trip)
    if nearest_er_first(patient):
        return untried
    critical = patient.ktas_nurse is not None and patient.ktas_nurse <= 2
    capable = [c for c in untried if patient.needs <= c.designated and not (critical and c.centre.level > 2)]
    return capable or untried


def _posted_free(state: CentreState, needs: frozenset[Pathway]) -> bool:
    """The centre's last posting shows a free ER bed and, for every need it reports a team for, the team."""
    report = state.report
    if report is None:
        return False  # nothing posted: unknown is never available
    er = report.beds.get(schemas.BedType.ER_GENERAL)
    if er is None or not er.available:
        return False
    for need in needs & REPORTED.keys():
        shown = [
            report.conditions.get(i) if isinstance(i, schemas.Condition) else report.equipment.get(i)
            for i in REPORTED[need]
        ]
        if not any(s is not None and s.available for s in shown):
            return False
    return True


class EgenGreedy(NearestUnits):
    """What a crew with the E-Gen board does today: the nearest centre it would consider for what it sees
    (:func:`_crew_candidates`) whose last posting shows a free bed and the team; the nearest of them when no
    posting does. No phone call: it drives there."""

    name = "egen-greedy"

    def destination(self, world: World, trip: Trip) -> str:
        candidates, etas = _crew_candidates(world, trip), world.etas_for(trip)
        if nearest_er_first(trip.call.patient):
            return nearest_of(candidates, etas)
        posted = [c for c in candidates if _posted_free(c, trip.call.patient.needs)]
        return nearest_of(posted or candidates, etas)


class PhoneAround(NearestUnits):
    """What most crews do today: from the scene, phone the centres they would consider (:func:`_crew_candidates`)
    in order of distance until one says yes, then drive there (:meth:`phones_ahead`: the simulator makes the
    calls, each taking minutes, and the centres answer by the one acceptance model). A cardiac arrest or an
    unstable patient goes to the nearest open ER without a call (:func:`nearest_er_first`). After
    ``phone_max_calls`` refusals the crew drives to the nearest of them unannounced."""

    name = "phone-around"

    def phones_ahead(self, call: Call) -> bool:
        """Whether the crew phones from the scene for this call (not for a patient who goes to the nearest ER)."""
        return not nearest_er_first(call.patient)

    def destination(self, world: World, trip: Trip) -> str:
        return nearest_of(_crew_candidates(world, trip), world.etas_for(trip))


#: (now, events): one batch the GoldenTime policy gave its engine.
Batch = tuple[datetime, tuple[Event, ...]]


@dataclass
class _Ride:
    """A call a unit of the GoldenTime policy serves, as the policy has told its engine so far."""

    call: Call
    heading: str | None = None  # the centre the ambulance drives to now (None: to the scene, or on scene)
    tried: frozenset[str] = frozenset()  # the centres that refused the patient
    arrived: bool = False  # the engine was told the unit is at hospital (the centre took the patient)
    vitals_sent: int = 0
    asked: bool = False  # the engine was told the patient is ready to leave, at the scene (the handshake)


class GoldenTime:
    """The product's decision engine in the simulated city: the :class:`~dispatch.engine.DispatchEngine` the
    live worker (``dispatch.service``) runs, fed the events a live city would send, its commands executed.

    Events (``engine.apply(events, now)`` at every moment the simulator asks the policy something):

    - incidents: every call, when it first waits for a unit;
    - positions: of every unit at its base at the start, of the free units whenever units are dispatched,
      of a unit on leaving the scene, at the door of a centre that refused, and of every unit transporting
      a patient (on its straight-line leg) whenever the policy is asked anything;
    - statuses: available at the start, dispatched, transporting, at hospital (a unit at a door longer
      than a refusal takes: the centre took the patient), available (free again: the trip is over);
    - vitals: the patient's catalogue vitals stamped for the call, with the model's *out-of-fold*
      assessment (:class:`simulations.patients.OutOfFold`; also the engine's scorer);
    - capacity: each centre's report as it posts it (what it reports, never its true state);
    - declines: at the door of a centre that refused, the crew declines the advice that named it, and
      declines any advice naming a centre that already refused them.

    Its commands are carried out as a crew would: the units it recommends (``AssignUnit``) are dispatched,
    the centre of the newest advice is driven to, and a unit on its way whose advice changes turns there
    (:meth:`redirects`, which the simulator calls after every decision and every ``reroute_check_min``).
    So the engine plans jointly over every patient on the road, keeps advice stable, and re-advises units
    on their way when reports or other patients change the picture.

    ``record``: keep every batch fed to the engine (:attr:`batches`) and every command it gave
    (:attr:`commands`), for replaying the stream elsewhere (tests/simulations/test_engine_equivalence.py).
    One instance can serve several runs: a new world starts a new engine.
    """

    name = "goldentime"

    def __init__(self, config: RouterConfig | None = None, *, record: bool = False) -> None:
        self.config = config or RouterConfig()
        self.record = record
        self.batches: list[Batch] = []
        self.commands: list[Command] = []
        self.scorer = OutOfFold()
        self.engine: DispatchEngine | None = None
        self._world: World | None = None
        self._rides: dict[str, _Ride] = {}
        self._reports: dict[str, schemas.Capacity] = {}
        self._advice: dict[str, Advise] = {}  # unit -> the newest advice it was given
        self._reported: set[int] = set()  # calls the engine was told of
        self.unadvised: set[int] = set()  # calls whose crew had no advice when it had to choose a centre
        #: unit -> where its newest transfer request stands, and when it was sent (simulated seconds)
        self._requests: dict[str, tuple[TellRequest, float]] = {}
        self._observed_at = math.nan  # the simulated time of the last batch

    # --- the Policy protocol -----------------------------------------------------------------------

    def dispatch(self, world: World, calls: Sequence[Call], units: Sequence[SimUnit]) -> list[tuple[Call, SimUnit]]:
        self._start(world)
        events = self._observe(world)
        for call in calls:
            if call.id not in self._reported:
                self._reported.add(call.id)
                events.append(
                    IncidentReported(Incident(_incident_id(call), call.lat, call.lon, call.priority, call.category))
                )
        events += [PositionReported(u.id, *u.position(world.now)) for u in units]  # free units, where they are
        by_call = {_incident_id(c): c for c in calls}
        free = {u.id: u for u in units}
        pairs = []
        for command in self._apply(events, world.now_dt):
            if isinstance(command, AssignUnit) and command.incident_id in by_call and command.unit_id in free:
                pairs.append((by_call[command.incident_id], free.pop(command.unit_id)))
        dispatched: list[Event] = []
        for call, unit in pairs:
            self._rides[unit.id] = _Ride(call)
            dispatched.append(StatusChanged(unit.id, UnitStatus.DISPATCHED, _incident_id(call)))
        if dispatched:
            self._apply(dispatched, world.now_dt)
        return pairs

    def destination(self, world: World, trip: Trip) -> str:
        self._start(world)
        events = self._observe(world)
        unit_id = trip.unit_id
        ride = self._rides.setdefault(unit_id, _Ride(trip.call))
        ride.tried = trip.tried
        if trip.at is None or ride.arrived:  # leaving the scene (or back on the road with the patient)
            ride.arrived = False
            events.append(StatusChanged(unit_id, UnitStatus.TRANSPORTING, _incident_id(trip.call)))
        # every tablet says where it is (the live city's do every few seconds): free units give R-COVER its gaps
        events += [PositionReported(u.id, *u.position(world.now)) for u in world.units.values() if u.free]
        if trip.at is None:
            events.append(PositionReported(unit_id, trip.lat, trip.lon))
        else:
            door = world.centres[trip.at].centre
            events.append(PositionReported(unit_id, door.lat, door.lon))
        advice = self._advice.get(unit_id)
        leaving = trip.at is None and not ride.asked  # (asked ahead: the engine has had the vitals at the scene)
        if leaving or advice is None or advice.patient_id != _patient_id(trip.call):
            events.append(self._vitals(world, ride, unit_id, trip.call))
        elif advice.destination.hpid == trip.at:  # the centre the advice named refused at the door
            events.append(DecisionMade(unit_id, advice.advice_version, accept=False))
        self._apply(events, world.now_dt)
        hpid = self._advised(world, trip.unit_id, trip.call, trip.tried)
        if hpid is None:  # no advice: the nearest untried, as a crew would, and counted
            self.unadvised.add(trip.call.id)
            hpid = nearest_of(_untried(world, trip), world.etas_for(trip))
        ride.heading = hpid
        return hpid

    def redirects(self, world: World, heading: Mapping[str, str]) -> dict[str, str]:
        """The units on their way (``heading``: unit -> the centre it drives to) whose newest advice names
        another centre that can still take their patient: unit -> that centre. The simulator turns them."""
        self._start(world)
        if world.now != self._observed_at:
            self._apply(self._observe(world), world.now_dt)
        turns = {}
        for unit_id, hpid in heading.items():
            ride = self._rides.get(unit_id)
            if ride is None:
                continue
            advised = self._advised(world, unit_id, ride.call, ride.tried)
            if advised is not None and advised != hpid:
                turns[unit_id] = ride.heading = advised
        return turns

    def _vitals(self, world: World, ride: _Ride, unit_id: str, call: Call) -> VitalsReported:
        """The call's patient's vitals, stamped now, with the model's out-of-fold assessment."""
        ride.vitals_sent += 1
        vitals = self.scorer.stamp(
            call.patient,
            patient_id=_patient_id(call),
            msg_id=f"sim-call-{call.id:06d}-{ride.vitals_sent}",
            ts=world.now_dt,
        )
        return VitalsReported(unit_id, vitals, severity=call.patient.assessment)

    # --- the engine's side ------------------------------------------------------------------------

    def _start(self, world: World) -> DispatchEngine:
        """The engine of this world's run (a new world: a new run, a new engine on its centres)."""
        if self.engine is not None and world is self._world:
            return self.engine
        scenario = dataclasses.replace(
            world.prepared.scenario, centres=tuple(c.centre for c in world.centres.values())
        )  # the simulated centres only (a scenario may leave some out)
        prepared = dataclasses.replace(world.prepared, scenario=scenario)
        self.scorer = OutOfFold()
        self.engine = DispatchEngine(prepared, self.scorer, config=self.config)
        self._world = world
        self.batches, self.commands = [], []
        self._rides, self._reports, self._advice, self._reported = {}, {}, {}, set()
        self.unadvised, self._requests = set(), {}
        self._observed_at = math.nan
        # Every unit's tablet says where it is and that it is free, as the live city's units do at start.
        self._apply(
            [
                event
                for unit in world.units.values()
                for event in (StatusChanged(unit.id, UnitStatus.AVAILABLE), PositionReported(unit.id, *unit.base))
            ],
            world.now_dt,
        )
        return self.engine

    def _apply(self, events: list[Event], now: datetime) -> list[Command]:
        """Give the engine a batch; keep the advice it gives; its commands."""
        assert self.engine is not None and self._world is not None
        self._observed_at = self._world.now
        commands = self.engine.apply(events, now)
        if self.record:
            self.batches.append((now, tuple(events)))
            self.commands += commands
        for command in commands:
            if isinstance(command, Advise):
                self._advice[command.unit_id] = command
            elif isinstance(command, ClearAdvice):
                self._advice.pop(command.unit_id, None)
            elif isinstance(command, TellRequest):
                held = self._requests.get(command.unit_id)
                same = held is not None and held[0].request_id == command.request_id
                self._requests[command.unit_id] = (command, held[1] if held is not None and same else self._world.now)
            elif isinstance(command, ClearRequest):
                self._requests.pop(command.unit_id, None)
        return commands

    def _observe(self, world: World) -> list[Event]:
        """What changed since the policy was last asked: reports posted, trips over, units on their way."""
        events: list[Event] = []
        for state in world.centres.values():
            if state.report is not None and state.report is not self._reports.get(state.hpid):
                self._reports[state.hpid] = state.report
                events.append(CapacityReported(state.hpid, state.report))
        refusal_s = world.config.refusal_min * 60.0
        for unit_id, ride in list(self._rides.items()):
            unit = world.units[unit_id]
            if unit.free:  # handed over, free again
                events.append(StatusChanged(unit_id, UnitStatus.AVAILABLE))
                del self._rides[unit_id]
                continue
            if ride.heading is None or ride.arrived:
                continue
            leg_end = unit.leg[5]
            if world.now > leg_end + refusal_s:  # at the door for longer than a refusal takes: taken in
                ride.arrived = True
                events.append(StatusChanged(unit_id, UnitStatus.AT_HOSPITAL, _incident_id(ride.call)))
            elif world.now < leg_end:
                events.append(PositionReported(unit_id, *unit.position(world.now)))
        return events

    def _advised(self, world: World, unit_id: str, call: Call, tried: frozenset[str]) -> str | None:
        """The centre of the unit's newest advice for this call; advice naming a centre that cannot take the
        patient (it refused them already, or is closed) is declined, and the next advice taken. None: no
        advice is left."""
        for _ in range(len(world.centres)):
            advice = self._advice.get(unit_id)
            if advice is None or advice.patient_id != _patient_id(call):
                return None
            hpid = advice.destination.hpid
            centre = world.centres.get(hpid)
            if centre is not None and not centre.closed and hpid not in tried:
                return hpid
            self._apply([DecisionMade(unit_id, advice.advice_version, accept=False)], world.now_dt)
        return None


class GoldenTimeHandshake(GoldenTime):
    """:class:`GoldenTime` with the acceptance handshake (issue 23; ``dispatch.handshake``): when the crew is ready
    to leave the scene, the engine is told the patient (on scene: position, vitals) and its advice sends the
    advised centre a transfer request (the engine's ``TellRequest`` to the unit, ``PublishRequests`` to the
    centre); the simulator has the centre answer it (:class:`AsksAhead`) and the answer goes back to the engine
    as the centre's ``AnswerReceived``, at its simulated time. An acceptance holds the bed (R-PROMISE) and the
    crew leaves; a decline, with its coded reason, re-plans (R-REFUSED) and the next advice sends the next
    request; a request past its answer time is given up (R-ANSWER) and the crew goes as advised. The engine
    sends no request for the patients time wins for (cardiac arrest, unstable): their crew leaves at once."""

    name = "goldentime-handshake"

    def asks_ahead(self, call: Call) -> bool:
        """Every crew asks; the engine decides per patient whether a request is sent (none: leave at once)."""
        return True

    def ask(self, world: World, trip: Trip) -> Ask | None:
        self._start(world)
        events = self._observe(world)
        unit_id = trip.unit_id
        ride = self._rides.setdefault(unit_id, _Ride(trip.call))
        if not ride.asked:  # ready to leave: the tablet reports the patient from the scene
            ride.asked = True
            events += [PositionReported(u.id, *u.position(world.now)) for u in world.units.values() if u.free]
            events.append(StatusChanged(unit_id, UnitStatus.ON_SCENE, _incident_id(trip.call)))
            events.append(PositionReported(unit_id, trip.lat, trip.lon))
            events.append(self._vitals(world, ride, unit_id, trip.call))
        self._apply(events, world.now_dt)  # (and requests past their answer time are given up)
        return self._open_request(unit_id, trip.call)

    def answered(self, world: World, request: Ask, reply: Reply) -> bool:
        self._start(world)
        told, _ = self._requests.get(request.unit_id, (None, 0.0))
        if told is None or told.request_id != request.request_id or told.state not in OPEN:
            return False
        events = self._observe(world)
        if reply.accepted:
            events.append(AnswerReceived(request.hpid, request.request_id, AnswerKind.ACCEPT))
        else:
            reason = reply.reason or RefusalReason.OTHER
            events.append(AnswerReceived(request.hpid, request.request_id, AnswerKind.DECLINE, reason))
        self._apply(events, world.now_dt)
        return True

    def _open_request(self, unit_id: str, call: Call) -> Ask | None:
        """The unit's transfer request for this call's patient still waiting for an answer, if there is one."""
        (told, sent_at), advice = self._requests.get(unit_id, (None, 0.0)), self._advice.get(unit_id)
        if told is None or told.state not in OPEN or advice is None or advice.patient_id != _patient_id(call):
            return None
        return Ask(unit_id, told.request_id, told.hpid, sent_at, (told.answer_by - told.sent_at).total_seconds())


def _patient_id(call: Call) -> str:
    return f"sim-{call.id:06d}"


def _incident_id(call: Call) -> str:
    return f"call-{call.id}"


POLICIES: dict[str, type[Nearest] | type[Capable] | type[EgenGreedy] | type[PhoneAround] | type[GoldenTime]] = {
    "nearest": Nearest,
    "capable": Capable,
    "egen-greedy": EgenGreedy,
    "phone-around": PhoneAround,
    "goldentime": GoldenTime,
    "goldentime-handshake": GoldenTimeHandshake,
}


def load_policy(name: str) -> Policy:
    """A shipped policy by name, or ``package.module:Class`` (constructed without arguments)."""
    if name in POLICIES:
        return POLICIES[name]()
    if ":" not in name:
        raise ValueError(f"unknown policy {name!r}; shipped: {', '.join(POLICIES)}; or give package.module:Class")
    module_name, _, attr = name.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"policy {name!r} cannot be loaded: {exc}") from None
    policy = factory()
    for needed in ("name", "dispatch", "destination"):
        if not hasattr(policy, needed):
            raise ValueError(f"policy {name!r} has no {needed!r}")
    return policy  # type: ignore[no-any-return]
