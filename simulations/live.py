"""Live mode: the simulated city on a real-time clock, driving ambulances over MQTT.

The same city a planner simulates (:func:`simulations.engine.draw_city`) runs on
``simpy.rt.RealtimeEnvironment`` (``speed`` simulated seconds per real second) and talks to
the dispatcher worker (:mod:`dispatch.service`) as real tablets would: centres post retained
capacity, units publish status, positions and vitals, calls become ``ems/incidents/{id}``.
The simulated crews *follow* what the dispatcher publishes: the unit it recommends for an
incident (``.../assignment``), the destination it advises for a patient (``.../advice``),
with an ``accept`` decision, and a ``decline`` when a centre refuses at the door.

When the dispatcher is silent (not started, too slow) the crews fall back on what crews do
today, so the demo never stalls: the nearest free unit, the nearest untried open ER.

The centres answer the transfer requests the dispatcher sends them (the acceptance handshake,
``ems/hospitals/+/requests``; ``answer_requests``): each request by the acceptance model, the same
answer as on the phone (:meth:`City.phone`), after the same lognormal delay as in the what-if
engine (:func:`simulations.city.handshake_answer_s`, simulated seconds), published on
``ems/hospitals/{hpid}/answer``: accept, or decline with the coded reason. A crew ready to leave
waits while its request is open (the dispatcher's time-out is the limit), and a centre that
accepted takes the patient at its door (a promise, as on the phone).

Parked units report their position every ``parked_every_s``, as a tablet does, so a dashboard
started later sees them.

**One writer per centre** (:class:`Writers`). A centre's report (``ems/hospitals/{hpid}/capacity``,
retained) has one writer at a time, so the centre page, the control room and the dispatcher, which
all read the latest retained report, show the same state:

- the city writes the reports of its centres, unsigned (``updated_by`` absent); every report the
  capacity API publishes after an update through it is signed with the token's label (a charge
  nurse's form, the control room, an E-Gen import): that is a *person's* report;
- a person's report *holds* its centre: from the moment the city hears it, the city posts nothing
  for that centre, neither beds nor status, so the person's report stays the retained one (their
  status, reason, beds), and sending "normal" after "closed" is the next report everyone reads;
- the hold lasts :data:`HOLD_S` (``hold_s``, 30 minutes of wall-clock time) from the person's
  latest report (its ``updated_at``, or when it was heard if that is earlier), or until the
  advisory or closure it declares expires if that is later; each new person's report renews it.
  A report already past its hold when heard (an old state the API republishes on start) holds
  nothing. Clearing the retained report (an empty message on the topic) releases the centre at once;
- meanwhile the simulated centre lives on (beds fill and empty, teams change) and its door follows
  the person's report: closed while it diverts as the control room draws it (EMS traffic
  ``closed`` not past its expiry, or ``er_open`` declared false), open otherwise;
- when the hold ends the city's ER reopens and the city posts its own report at once: it writes
  again, with its own beds;
- if one of the city's reports crossed a person's on the way to the broker (sent just before the
  city heard theirs, it landed after it), the city puts the person's report back, unchanged but
  for its message id: the city never leaves its own report over a person's.

Simplifications, on purpose:

- the leg to the scene is a straight line driven in the road ETA (the dispatcher only needs
  plausible positions); legs to a centre follow the road geometry of a road index
  (:meth:`dispatch.roads.TravelTimeIndex.route`), a straight line on an approximate index;
- centres stamp their reports with the wall clock (the dispatcher judges staleness by its own
  clock), not with the simulated clock;
- the centres, the units, beds, walk-ins, rosters, reports and the answer at the door are the
  what-if engine's own (:class:`simulations.city.City`): definitive care and a free ER bed, a
  cardiac arrest always taken, a patient every open centre refused taken by the last.

All MQTT lives in this module. Messages arrive on the client's thread and are only stored
(under a lock); the simulation's processes poll them on the simulated clock.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import simpy
import simpy.rt

from dispatch.roads import TravelTimeIndex, haversine_m
from dispatch.scenario import Prepared
from simulations.acceptance import Reason, coded
from simulations.city import City, CityDraws, handshake_answer_s
from simulations.config import SimConfig
from simulations.policies import Nearest, NearestUnits
from simulations.world import EPOCH, Call, CentreState, SimUnit, Trip, World
from telemetry import schemas, topics
from telemetry.client import Delivery, Message, MqttClient

log = logging.getLogger(__name__)

Point = tuple[float, float]
ClientFactory = Callable[[], MqttClient]
#: A SimPy process (or a sub-process run with ``yield from``) that returns a ``T``.
T = TypeVar("T")
Process = Generator[simpy.Event, Any, T]
ProcessGenerator = Process[None]

#: Seconds (simulated) between two looks at what the dispatcher sent.
POLL_S = 1.0
NO_BED = "refused at the door: no bed"
NO_CAPABILITY = "no capability"
#: Who answers a transfer request in the live city (``ems.answer/1`` ``answered_by``).
ANSWERED_BY = "live city"
#: Real seconds the last QoS 1 messages get to reach the broker before the client stops.
FLUSH_S = 5.0
#: Wall-clock seconds a person's capacity report holds its centre (the city writes nothing for it meanwhile).
HOLD_S = 30 * 60.0


@dataclass(frozen=True)
class LiveSummary:
    """What a live run did, in the terms of the control room's KPIs."""

    calls: int  # calls that came in
    served: int  # patients handed over at a centre
    retransfers: int  # drives on to another centre after a refusal at the door
    full_arrivals: int  # arrivals at an ER with no free bed
    response_p90_min: float | None  # 90th percentile, call to unit on scene
    advice_followed: int  # legs driven to the centre the dispatcher advised
    simulated_min: float
    real_s: float
    requests_accepted: int = 0  # transfer requests the centres accepted (the acceptance handshake)
    requests_declined: int = 0  # ... and declined

    def lines(self) -> list[str]:
        p90 = "n/a" if self.response_p90_min is None else f"{self.response_p90_min:.1f} min"
        return [
            f"live run: {self.simulated_min:.0f} simulated minutes in {self.real_s:.0f} s",
            f"calls {self.calls}, patients handed over {self.served}, response p90 {p90}",
            f"re-transfers {self.retransfers}, arrivals at a full ER {self.full_arrivals}",
            f"legs driven on the dispatcher's advice {self.advice_followed}",
            f"transfer requests accepted {self.requests_accepted}, declined {self.requests_declined}",
        ]


@dataclass
class _Counters:
    calls: int = 0
    served: int = 0
    retransfers: int = 0
    full_arrivals: int = 0
    advice_followed: int = 0
    requests_accepted: int = 0
    requests_declined: int = 0
    responses_s: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Hold:
    """A person's report holding its centre (:class:`Writers`): the report, and until when (wall clock)."""

    report: schemas.Capacity
    until: datetime

    @property
    def by(self) -> str:
        return self.report.updated_by or ""

    def diverting(self, now: datetime) -> bool:
        """What the control room draws as a diversion: EMS traffic ``closed`` (not past its expiry), or
        ``er_open`` declared false."""
        traffic = self.report.ems_traffic
        closed = traffic.status is schemas.TrafficStatus.CLOSED and (
            traffic.expires_at is None or traffic.expires_at > now
        )
        er_open = self.report.conditions.get(schemas.Condition.ER_OPEN)
        return closed or (er_open is not None and er_open.available is False)


class Writers:
    """Who writes each centre's report now: the live city, or the person whose report holds it (the rule is
    in the module docstring). No I/O and no clock of its own: every call is given the wall clock ``now``."""

    def __init__(self, hold_s: float = HOLD_S) -> None:
        if not hold_s > 0:
            raise ValueError("hold_s must be positive")
        self.hold = timedelta(seconds=hold_s)
        self._holds: dict[str, Hold] = {}
        self._own: dict[str, str] = {}  # centre -> message id of the city's latest report
        self._crossed: set[str] = set()  # centres where a report of the city's landed after a person's

    def sent(self, hpid: str, report: schemas.Capacity) -> None:
        """The city sent ``report`` on ``hpid``'s topic (its own, or a person's it puts back)."""
        self._own[hpid] = report.msg_id

    def heard(self, hpid: str, report: schemas.Capacity | None, now: datetime) -> None:
        """A report on ``hpid``'s topic, heard at ``now`` (None: the retained report was cleared, a release).
        The broker passes a topic's messages on in the order it took them, so the last one heard is the
        retained one."""
        if report is None:
            self._holds.pop(hpid, None)
            return
        held = self._holds.get(hpid)
        if report.updated_by is not None and (held is None or report.updated_at >= held.report.updated_at):
            until = min(report.updated_at, now) + self.hold
            traffic = report.ems_traffic
            if traffic.status is not schemas.TrafficStatus.NORMAL and traffic.expires_at is not None:
                until = max(until, traffic.expires_at)
            self._holds[hpid] = Hold(report, until)  # the newest person's report holds the centre
            self._crossed.discard(hpid)
        elif held is not None and report.msg_id == self._own.get(hpid):
            self._crossed.add(hpid)  # a message of the city's landed after the person's: theirs must go back
        # anything else (an earlier person's state republished, a centre the API never heard from) changes nothing

    def held(self, hpid: str, now: datetime) -> Hold | None:
        """The hold on ``hpid`` at ``now``; None: the city writes it."""
        hold = self._holds.get(hpid)
        if hold is not None and now >= hold.until:
            del self._holds[hpid]
            return None
        return hold

    def crossed(self, now: datetime) -> list[tuple[str, schemas.Capacity]]:
        """The persons' reports to put back (a report of the city's landed after them), once each."""
        back = [(hpid, hold.report) for hpid in sorted(self._crossed) if (hold := self.held(hpid, now)) is not None]
        self._crossed.clear()
        return back


class _Inbox:
    """The latest retained assignment per incident and advice per unit, and who writes each centre's report,
    filled on the client's thread, read by the simulation's thread."""

    def __init__(self, hold_s: float = HOLD_S) -> None:
        self._lock = threading.Lock()
        self._assignments: dict[str, schemas.Assignment] = {}
        self._advice: dict[str, schemas.Advice] = {}
        #: Who writes each centre's report (the one-writer rule).
        self._writers = Writers(hold_s)
        #: Each centre's transfer requests waiting for its answer (the retained list the dispatcher keeps).
        self._requests: dict[str, tuple[schemas.TransferRequest, ...]] = {}

    def on_message(self, message: Message) -> None:
        """Store what the crews follow; anything else or malformed is dropped (debug log)."""
        try:
            topic = topics.parse(message.topic)
            if not message.payload:  # a cleared retained message
                with self._lock:
                    if topic.kind is topics.Kind.ADVICE:
                        self._advice.pop(topic.key, None)
                    elif topic.kind is topics.Kind.REQUESTS:
                        self._requests.pop(topic.key, None)
                    elif topic.kind is topics.Kind.CAPACITY:
                        self._writers.heard(topic.key, None, schemas.utc_now())
                return
            payload = schemas.decode(topic.kind, message.payload)
        except (topics.TopicError, schemas.PayloadError) as exc:
            log.debug("live city ignores a message on %s: %s", message.topic, exc)
            return
        with self._lock:
            if isinstance(payload, schemas.Assignment):
                self._assignments[topic.key] = payload
            elif isinstance(payload, schemas.Advice):
                held = self._advice.get(topic.key)
                if (
                    held is None
                    or held.patient_id != payload.patient_id
                    or held.advice_version < payload.advice_version
                ):
                    self._advice[topic.key] = payload
            elif isinstance(payload, schemas.Capacity):
                self._writers.heard(topic.key, payload, schemas.utc_now())
            elif isinstance(payload, schemas.Requests):
                self._requests[topic.key] = payload.requests
            else:
                log.debug("live city ignores an unexpected %s on %s", topic.kind.value, message.topic)

    def assignment(self, incident_id: str) -> schemas.Assignment | None:
        with self._lock:
            return self._assignments.get(incident_id)

    def held(self, hpid: str, now: datetime) -> Hold | None:
        """The person's report holding ``hpid`` (None: the city writes its report)."""
        with self._lock:
            return self._writers.held(hpid, now)

    def sent(self, hpid: str, report: schemas.Capacity) -> None:
        with self._lock:
            self._writers.sent(hpid, report)

    def crossed(self, now: datetime) -> list[tuple[str, schemas.Capacity]]:
        with self._lock:
            return self._writers.crossed(now)

    def requests(self) -> list[tuple[str, schemas.TransferRequest]]:
        """Every centre's transfer requests waiting for its answer: (hpid, request), by centre, oldest first."""
        with self._lock:
            return [(hpid, r) for hpid, listed in sorted(self._requests.items()) for r in listed]

    def pending(self, unit_id: str, patient_id: str) -> schemas.TransferRequest | None:
        """The unit's request for this patient still waiting for an answer, if one is listed."""
        found = [r for _, r in self.requests() if r.unit_id == unit_id and r.patient_id == patient_id]
        return max(found, key=lambda r: r.advice_version) if found else None

    def advice(self, unit_id: str, patient_id: str, *, newer_than: int = 0) -> schemas.Advice | None:
        """The unit's advice for this patient, if its version is above ``newer_than``."""
        with self._lock:
            advice = self._advice.get(unit_id)
        if advice is None or advice.patient_id != patient_id or advice.advice_version <= newer_than:
            return None
        return advice


@dataclass
class _Trip:
    """One patient's journey, as the crew lives it."""

    call: Call
    unit: SimUnit
    incident_id: str
    patient_id: str
    aboard: bool = True
    tried: list[str] = field(default_factory=list)
    version: int = 0  # the advice version the crew is following (0: none)
    requests: int = 0  # transfer requests about this patient the centres answered
    declined: int = 0  # ... of which declined
    promised: str | None = None  # the centre that accepted a request about this patient


class LiveCity:
    """The city on a real-time clock, over MQTT. See the module docstring."""

    def __init__(
        self,
        prepared: Prepared,
        config: SimConfig,
        draws: CityDraws,
        *,
        url: str | None = None,
        protocol: str | None = "3.1.1",
        client_factory: ClientFactory | None = None,
        speed: float = 10.0,
        position_every_s: float = 5.0,
        vitals_every_s: float = 30.0,
        parked_every_s: float = 20.0,
        assignment_wait_s: float = 30.0,
        advice_wait_s: float = 60.0,
        run_id: str | None = None,
        answer_requests: bool = True,
        hold_s: float = HOLD_S,
    ) -> None:
        if min(speed, position_every_s, vitals_every_s, parked_every_s, hold_s) <= 0:
            raise ValueError("speed, position_every_s, vitals_every_s, parked_every_s and hold_s must be positive")
        if client_factory is None and url is None:
            raise ValueError("give the broker's url or a client_factory")
        self.config, self.draws, self.speed = config, draws, speed
        self.position_every_s, self.vitals_every_s = position_every_s, vitals_every_s
        self.parked_every_s = parked_every_s
        self.assignment_wait_s, self.advice_wait_s = assignment_wait_s, advice_wait_s
        #: The centres answer the dispatcher's transfer requests, and crews wait for the answer (the handshake);
        #: False: centres without the screen (requests go unanswered, crews leave as advised).
        self.answer_requests = answer_requests
        self._trips: dict[str, _Trip] = {}  # patient id -> the journey of the patient aboard
        self._answered: set[str] = set()  # requests a centre has taken up (answered, or is answering)
        #: Incident ids carry it, so a persistent broker's retained assignments of an earlier run never match.
        self.run_id = topics.check_id(run_id or f"S{draws.seed}", what="run id")
        self.env = simpy.rt.RealtimeEnvironment(factor=1.0 / speed, strict=False)
        self.city = City(self.env, prepared, config, draws)
        self.world: World = self.city.world
        self._routes = prepared.index if isinstance(prepared.index, TravelTimeIndex) else None
        self._inbox = _Inbox(hold_s)
        self._held: set[str] = set()  # centres a person's report holds, as last applied to the simulated city
        if client_factory is None:
            assert url is not None
            self.client = MqttClient(url, f"live-city-{self.run_id}", protocol=protocol)
        else:
            self.client = client_factory()
        self.client.on_message = self._inbox.on_message
        self.counters = _Counters()
        #: Recent QoS 1 messages, awaited before stopping: the last status must not be lost.
        self._unacknowledged: deque[Delivery] = deque(maxlen=1000)
        self._nearest_units = NearestUnits()
        self._nearest = Nearest()
        self._stop = threading.Event()

    # --- running ---------------------------------------------------------------------------

    def run(self, minutes: float) -> LiveSummary:
        """Run for ``minutes`` of real time, or until every call's patient is handed over."""
        kinds = [topics.Kind.ASSIGNMENT, topics.Kind.ADVICE, topics.Kind.CAPACITY]
        kinds += [topics.Kind.REQUESTS] if self.answer_requests else []
        for kind in kinds:
            self.client.subscribe(topics.subscription(kind), qos=1)
        self.client.start()
        try:
            self._start_city()
            if self.answer_requests:
                self.env.process(self._answering())
            calls = [self.env.process(self._call(c)) for c in self.draws.calls]
            deadline = self.env.timeout(minutes * 60.0 * self.speed)
            stopped = self.env.process(self._until_stopped())
            self.env.sync()  # the real clock starts now, not when the setup began
            started = self._wall_seconds()
            self.env.run(until=self.env.any_of([deadline, self.env.all_of(calls), stopped]))
            real_s = self._wall_seconds() - started
            self._flush()
        finally:
            self.client.stop()
        return self._summary(real_s)

    def stop(self) -> None:
        """Ask :meth:`run` (on another thread) to end within a second of simulated time."""
        self._stop.set()

    def _until_stopped(self) -> ProcessGenerator:
        """Ends when :meth:`stop` is called; meanwhile applies the persons' reports (the one-writer rule)."""
        while not self._stop.is_set():
            self._apply_holds(schemas.utc_now())
            yield self.env.timeout(POLL_S)

    def _apply_holds(self, now: datetime) -> None:
        """At wall-clock ``now``: a held centre's door follows the person's report; a centre whose hold ended
        reopens and the city posts its report at once; a person's report one of the city's landed after is put
        back."""
        for hpid, centre in self.world.centres.items():
            hold = self._inbox.held(hpid, now)
            if hold is not None:
                if hpid not in self._held:
                    log.info("live city: %s is held by %s's report; the city stops writing it", hpid, hold.by)
                    self._held.add(hpid)
                centre.closed = hold.diverting(now)
            elif hpid in self._held:
                log.info("live city: the hold on %s ended; the city writes its report again", hpid)
                self._held.discard(hpid)
                centre.closed = False
                self._post(centre, now)
        for hpid, report in self._inbox.crossed(now):
            log.info("live city: its report on %s landed after %s's; putting theirs back", hpid, report.updated_by)
            back = report.model_copy(update={"msg_id": schemas.new_msg_id(), "ts": now})
            self._inbox.sent(hpid, back)
            self._send(topics.Kind.CAPACITY, hpid, back)

    def _flush(self) -> None:
        deadline = time.monotonic() + FLUSH_S
        while self._unacknowledged:
            if not self._unacknowledged.popleft().wait(max(0.0, deadline - time.monotonic())):
                log.warning("the broker did not acknowledge the live city's last messages within %g s", FLUSH_S)
                return

    def _summary(self, real_s: float) -> LiveSummary:
        c = self.counters
        p90 = float(np.percentile(c.responses_s, 90)) / 60.0 if c.responses_s else None
        return LiveSummary(
            calls=c.calls,
            served=c.served,
            retransfers=c.retransfers,
            full_arrivals=c.full_arrivals,
            response_p90_min=p90,
            advice_followed=c.advice_followed,
            simulated_min=self.env.now / 60.0,
            real_s=real_s,
            requests_accepted=c.requests_accepted,
            requests_declined=c.requests_declined,
        )

    def _start_city(self) -> None:
        """The city's own life (:meth:`City.start`), reports sent on the bus; units say they are available
        at their bases and keep reporting where they are."""
        self.city.start(self._post)
        for k, unit in enumerate(self.world.units.values()):
            self._status(unit, schemas.UnitStatus.AVAILABLE)
            self._position(unit, unit.base)
            self.env.process(self._parked(unit, phase=k / len(self.world.units)))

    # --- publishing helpers -------------------------------------------------------------------

    @staticmethod
    def _wall_seconds() -> float:
        """The wall clock as seconds after :data:`EPOCH`, so ``CentreState.post_report`` stamps
        reports with the time the dispatcher lives in."""
        return (schemas.utc_now() - EPOCH) / timedelta(seconds=1)

    def _send(self, kind: topics.Kind, key: str, payload: schemas.Payload) -> None:
        delivery = self.client.send(topics.Topic(kind, key), payload)
        if topics.CONTRACT[kind].qos > 0:
            self._unacknowledged.append(delivery)

    def _status(self, unit: SimUnit, status: schemas.UnitStatus, **fields: str | None) -> None:
        self._send(topics.Kind.STATUS, unit.id, schemas.Status.new(status=status, **fields))

    def _position(self, unit: SimUnit, at: Point, *, speed_mps: float | None = None) -> None:
        unit.park(*at)
        speed = None if speed_mps is None else min(max(speed_mps, 0.0), 100.0)
        self._send(topics.Kind.POSITION, unit.id, schemas.Position.new(lat=at[0], lon=at[1], speed_mps=speed))

    def _parked(self, unit: SimUnit, *, phase: float) -> ProcessGenerator:
        """A free unit's tablet still reports where it is, every ``parked_every_s`` (units spread over it)."""
        yield self.env.timeout(phase * self.parked_every_s)
        while True:
            if unit.free:
                self._position(unit, unit.position(self.env.now))
            yield self.env.timeout(self.parked_every_s)

    def _post(self, centre: CentreState, now: datetime | None = None) -> None:
        """The centre's report, unless a person's report holds the centre at ``now`` (default: the wall clock)."""
        if self._inbox.held(centre.hpid, now or schemas.utc_now()) is not None:
            return
        centre.post_report(self._wall_seconds())
        assert centre.report is not None
        self._inbox.sent(centre.hpid, centre.report)
        self._send(topics.Kind.CAPACITY, centre.hpid, centre.report)

    # --- driving -----------------------------------------------------------------------------

    def _drive(
        self, unit: SimUnit, path: list[Point], duration_s: float, *, stop: Callable[[], bool] | None = None
    ) -> Process[bool]:
        """Drive along ``path`` in ``duration_s``, a position every ``position_every_s``.
        Returns True at the end of the path, False when it stopped early (where it was)
        because ``stop()`` turned true."""
        start = self.env.now
        lengths = [float(haversine_m(a[0], a[1], b[0], b[1])) for a, b in itertools.pairwise(path)]
        total = sum(lengths)
        speed = total / duration_s if duration_s > 0 else 0.0
        while True:
            elapsed = self.env.now - start
            # Within a millisecond of the end is the end: far into a run, env.now + a tiny remainder
            # is env.now again (float precision), and the drive would never arrive.
            share = 1.0 if duration_s - elapsed <= 1e-3 else elapsed / duration_s
            self._position(unit, _along(path, lengths, share * total), speed_mps=speed if share < 1.0 else 0.0)
            if share >= 1.0:
                return True
            if stop is not None and stop():
                return False
            yield self.env.timeout(min(self.position_every_s, duration_s - elapsed))

    def _path_to_centre(self, start: Point, hpid: str) -> list[Point]:
        """Road geometry on a road index, else the straight line."""
        centre = self.world.centres[hpid].centre
        end = (centre.lat, centre.lon)
        if self._routes is not None:
            try:
                route = self._routes.route(start[0], start[1], hpid)
            except ValueError as exc:  # SnapError: off the graph
                log.debug("no road route from %s to %s: %s", start, hpid, exc)
            else:
                if len(route) >= 2:
                    return [*route, end]
        return [start, end]

    # --- a call --------------------------------------------------------------------------------

    def _call(self, call: Call) -> ProcessGenerator:
        yield self.env.timeout(max(0.0, call.t - self.env.now))
        self.counters.calls += 1
        incident_id = f"{self.run_id}-{call.id}"
        incident = schemas.Incident.new(lat=call.lat, lon=call.lon, priority=call.priority, category=call.category)
        self._send(topics.Kind.INCIDENT, incident_id, incident)
        unit: SimUnit | None = None
        while unit is None:
            yield self.env.timeout(POLL_S)
            unit = self._unit_for(call, incident_id)
        unit.free = False
        trip = _Trip(call, unit, incident_id, f"P-{self.draws.seed}-{call.id}")
        self._trips[trip.patient_id] = trip
        try:
            yield from self._serve(trip)
        finally:
            del self._trips[trip.patient_id]

    def _unit_for(self, call: Call, incident_id: str) -> SimUnit | None:
        """The unit the dispatcher recommends if it is free; after ``assignment_wait_s``
        without one, the nearest free unit; None: wait on."""
        assignment = self._inbox.assignment(incident_id)
        if assignment is not None:
            advised = self.world.units.get(assignment.unit_id)
            if advised is not None and advised.free:
                return advised
        if self.env.now - call.t < self.assignment_wait_s:
            return None
        free = [u for u in self.world.units.values() if u.free]
        self.world.now = self.env.now
        pairs = self._nearest_units.dispatch(self.world, [call], free)
        return pairs[0][1] if pairs else None

    def _serve(self, trip: _Trip) -> ProcessGenerator:
        call, unit, config = trip.call, trip.unit, self.config
        self._status(unit, schemas.UnitStatus.DISPATCHED, incident_id=trip.incident_id)
        yield self.env.timeout(config.turnout_s)
        here = unit.position(self.env.now)
        yield from self._drive(unit, [here, (call.lat, call.lon)], self.city.drive_s(unit, (call.lat, call.lon)))
        self.counters.responses_s.append(self.env.now - call.t)
        self._status(unit, schemas.UnitStatus.ON_SCENE, incident_id=trip.incident_id)
        self.env.process(self._vitals(trip))
        yield self.env.timeout(self.draws.on_scene_s[call.id])
        if self.answer_requests:
            yield from self._await_answer(trip)
        self._status(unit, schemas.UnitStatus.TRANSPORTING, incident_id=trip.incident_id)
        centre = yield from self._transport(trip)
        self.city.admit(centre, self.draws.stay_s[call.id])
        self.counters.served += 1
        self._status(unit, schemas.UnitStatus.AT_HOSPITAL, incident_id=trip.incident_id, hpid=centre.hpid)
        yield self.env.timeout(config.handover_min * 60.0)
        trip.aboard = False
        unit.free = True
        self._status(unit, schemas.UnitStatus.AVAILABLE)
        self.env.process(self._return(unit))

    def _vitals(self, trip: _Trip) -> ProcessGenerator:
        """Observations every ``vitals_every_s`` while the patient is aboard."""
        template = trip.call.patient.vitals
        while trip.aboard:
            update = {"patient_id": trip.patient_id, "ts": schemas.utc_now(), "msg_id": schemas.new_msg_id()}
            self._send(topics.Kind.VITALS, trip.unit.id, template.model_copy(update=update))
            yield self.env.timeout(self.vitals_every_s)

    def _return(self, unit: SimUnit) -> ProcessGenerator:
        """Back to base; a new call (the unit no longer free) ends the drive where it is."""
        here = unit.position(self.env.now)
        yield from self._drive(unit, [here, unit.base], self.city.drive_s(unit, unit.base), stop=lambda: not unit.free)

    # --- the transport ------------------------------------------------------------------------

    def _transport(self, trip: _Trip) -> Process[CentreState]:
        """Drive to the advised centre, following new advice on the way; at the door the
        engine's acceptance rule; after a refusal, a decline and the next advice."""
        while True:
            hpid = yield from self._destination(trip)
            arrived = yield from self._drive_to(trip, hpid)
            if not arrived:
                continue  # new advice on the way: follow it from here
            centre = self.world.centres[hpid]
            trip.tried.append(hpid)
            if self._accepts(trip, centre):
                return centre
            self.counters.retransfers += 1
            yield self.env.timeout(self.config.refusal_min * 60.0)

    def _destination(self, trip: _Trip) -> Process[str]:
        """The advised centre (accepted), waiting up to ``advice_wait_s``; else the nearest untried open ER."""
        deadline = self.env.now + self.advice_wait_s
        while True:
            advice = self._inbox.advice(trip.unit.id, trip.patient_id, newer_than=trip.version)
            if advice is not None and advice.destination.hpid in self.world.centres:
                trip.version = advice.advice_version
                decision = schemas.Decision.new(advice_version=trip.version, decision=schemas.DecisionKind.ACCEPT)
                self._send(topics.Kind.DECISION, trip.unit.id, decision)
                self.counters.advice_followed += 1
                return advice.destination.hpid
            if self.env.now >= deadline:
                break
            yield self.env.timeout(POLL_S)
        lat, lon = trip.unit.position(self.env.now)
        self.world.now = self.env.now
        at = trip.tried[-1] if trip.tried else None
        fallback = Trip(trip.unit.id, trip.call, lat, lon, frozenset(trip.tried), at)
        if not any(c.hpid not in trip.tried for c in self.world.open_centres()):
            fallback = Trip(trip.unit.id, trip.call, lat, lon, frozenset(), at)  # every centre refused: start over
        log.info("no advice for %s within %.0f s: nearest untried ER", trip.patient_id, self.advice_wait_s)
        return self._nearest.destination(self.world, fallback)

    def _drive_to(self, trip: _Trip, hpid: str) -> Process[bool]:
        """Drive to ``hpid``; False when newer advice came on the way (the drive stopped)."""
        unit = trip.unit
        here = unit.position(self.env.now)
        eta = self.city.leg_s(self.world.etas(here[0], here[1]), hpid)
        version = trip.version

        def diverted() -> bool:
            advice = self._inbox.advice(unit.id, trip.patient_id, newer_than=version)
            return advice is not None and advice.destination.hpid != hpid

        self.world.inbound[hpid] = self.world.inbound.get(hpid, 0) + 1
        try:
            arrived = yield from self._drive(unit, self._path_to_centre(here, hpid), eta, stop=diverted)
        finally:
            self.world.inbound[hpid] -= 1
        return arrived

    def _accepts(self, trip: _Trip, centre: CentreState) -> bool:
        """The city's answer at the door (:meth:`City.door`: a centre that accepted the patient's transfer request
        takes them); a refusal is declined on the bus with its reason."""
        door = self.city.door(trip.call, centre, trip.tried, promised=centre.hpid == trip.promised)
        self.counters.full_arrivals += not door.bed
        if door.accepted:
            return True
        if trip.version > 0:
            reason = NO_CAPABILITY if door.reason is Reason.NO_SPECIALIST else NO_BED
            decision = schemas.Decision.new(
                advice_version=trip.version, decision=schemas.DecisionKind.DECLINE, reason=reason
            )
            self._send(topics.Kind.DECISION, trip.unit.id, decision)
        return False

    # --- the acceptance handshake: the centres' side, and the crew waiting for it ------------------------------

    def _answering(self) -> ProcessGenerator:
        """Every ``POLL_S``, each centre takes up the requests newly on its list (for a patient of this city)."""
        while True:
            for hpid, request in self._inbox.requests():
                trip = self._trips.get(request.patient_id)
                if request.request_id in self._answered or trip is None or hpid not in self.world.centres:
                    continue
                self._answered.add(request.request_id)
                self.env.process(self._answer(hpid, request, trip))
            yield self.env.timeout(POLL_S)

    def _answer(self, hpid: str, request: schemas.TransferRequest, trip: _Trip) -> ProcessGenerator:
        """The centre answers one request after its delay (the what-if engine's own draw for this patient's
        request), by the acceptance model; a request withdrawn meanwhile (gone from its list) is not answered."""
        attempt, trip.requests = trip.requests, trip.requests + 1
        yield self.env.timeout(handshake_answer_s(self.draws.seed, trip.call, attempt, self.config))
        if all(r.request_id != request.request_id for h, r in self._inbox.requests() if h == hpid):
            return  # withdrawn (newer advice), or given up on by the dispatcher
        self.world.now = self.env.now
        said = self.city.phone(trip.call, self.world.centres[hpid])
        if said.accepted:
            kind, reason = schemas.AnswerKind.ACCEPT, None
            trip.promised = hpid
            self.counters.requests_accepted += 1
        else:
            kind = schemas.AnswerKind.DECLINE
            reason = coded(said.reason) if said.reason is not None else schemas.RefusalReason.OTHER
            trip.declined += 1
            self.counters.requests_declined += 1
        answer = schemas.Answer.new(request_id=request.request_id, answer=kind, reason=reason, answered_by=ANSWERED_BY)
        self._send(topics.Kind.ANSWER, hpid, answer)

    def _await_answer(self, trip: _Trip) -> ProcessGenerator:
        """Ready to leave: wait while the patient's request is listed and its answer time (the dispatcher's clock)
        has not passed, until a centre accepts or ``phone_max_calls`` declined; then go as advised. (Between a
        decline and the next request reaching the list the crew may leave: it then follows the newest advice.)"""
        while trip.promised is None and trip.declined < self.config.phone_max_calls:
            request = self._inbox.pending(trip.unit.id, trip.patient_id)
            if request is None or schemas.utc_now() >= request.answer_by:
                return
            yield self.env.timeout(POLL_S)


def _along(path: list[Point], lengths: list[float], distance_m: float) -> Point:
    """The point ``distance_m`` along a polyline (its end beyond its length)."""
    for (a, b), length in zip(itertools.pairwise(path), lengths, strict=True):
        if distance_m <= length and length > 0:
            share = distance_m / length
            return (a[0] + (b[0] - a[0]) * share, a[1] + (b[1] - a[1]) * share)
        distance_m -= length
    return path[-1]
