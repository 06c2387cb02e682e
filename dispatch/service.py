"""The dispatcher worker: the decision core on the MQTT bus (``goldentime dispatcher``).

It subscribes to unit positions, vitals, status and decisions, centre capacity and incidents;
keeps the state; re-plans every active patient jointly after each batch of events that
matters; and publishes retained advice to ``ems/units/{unit}/advice``, pre-notification to
``ems/hospitals/{hpid}/inbound`` and unit recommendations to ``ems/incidents/{id}/assignment``.
A malformed message goes to ``ems/rejected/dispatcher`` and the loop goes on; a unit's own message
that is refused (malformed, empty, a decision on advice that changed since) is also reported to that
unit on ``ems/units/{unit}/rejected``, which its account may read, and vitals that wait for the
unit's first position are kept and the unit is told so there. On start it
rebuilds its state from the retained messages (unit status, advice, capacity), so no patient
loses their advice across a restart.

This is the only module of ``dispatch`` that touches the bus (through ``telemetry.client``).
"""

from __future__ import annotations

import heapq
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dispatch.explain import EN, KO, Text, say
from dispatch.pathways import FLAG_PATHWAYS, Pathway
from dispatch.roads import SnapError
from dispatch.router import (
    Choice,
    Option,
    PatientCase,
    RouterConfig,
    centre_view,
    full_resources,
    plan,
    urgency,
)
from dispatch.scenario import Prepared, approximate_index
from dispatch.severity.model import Severity, TrainedSeverity
from dispatch.units import Incident, Unit, assign_units, response_times
from telemetry import schemas, topics
from telemetry.client import Message, MqttClient

log = logging.getLogger(__name__)

SOURCE = "dispatcher"
_ACTIVE = {schemas.UnitStatus.DISPATCHED, schemas.UnitStatus.ON_SCENE, schemas.UnitStatus.TRANSPORTING}
_UNIT_KINDS = {topics.Kind.POSITION, topics.Kind.VITALS, topics.Kind.STATUS, topics.Kind.DECISION, topics.Kind.ADVICE}
#: What a unit itself publishes: a refusal of one of these is reported to the unit too.
_UNIT_SENT = {topics.Kind.POSITION, topics.Kind.VITALS, topics.Kind.STATUS, topics.Kind.DECISION}
_CLOSED = (schemas.UnitStatus.AT_HOSPITAL, schemas.UnitStatus.AVAILABLE)
#: Pre-notification lists the soonest arrivals, at most this many (the schema's limit).
INBOUND_MAX = 500
#: A centre's pre-notification list is sent at most this often (a list of hundreds of inbound
#: patients must not be rebuilt for every vitals message of a national fleet).
INBOUND_INTERVAL_S = 1.0
#: Advice is published again when its ETA moved by this much (or the destination changed); a position
#: that moves the road ETA to the advised destination this much has the patient decided again at once.
ETA_REPUBLISH_S = 60.0
#: A centre's ER beds (pathway None) or one of its pathway teams.
Resource = tuple[str, Pathway | None]
#: (urgency, unit) of the patients holding a resource.
Holders = list[tuple[float, str]]
#: Advice versions of the current patient remembered per unit (version -> destination): a decision on
#: one of them is applied while the newest advice still names the same destination.
VERSIONS_KEPT = 32


@dataclass
class UnitState:
    unit_id: str
    lat: float | None = None
    lon: float | None = None
    status: schemas.UnitStatus | None = None
    patient_id: str | None = None
    severity: schemas.Severity | None = None
    needs: frozenset[Pathway] = frozenset()
    critical: bool = False
    unstable: bool = False  # the router's StabiliseRule holds on the newest vitals
    team: Pathway | None = None  # the pathway team and room the advised destination holds for this patient
    holds_bed: bool = True  # and an ER bed there (all but the patients a declared team takes straight in)
    definitive: bool = True  # the advised destination gives the pathway's definitive care
    bed: bool | None = None  # the advice said a bed (or team) is left on arrival; None: unknown
    destination: str | None = None
    declined: set[str] = field(default_factory=set)
    advice_version: int = 0
    #: The current patient's advice versions this worker saw or sent -> the destination each named.
    versions: dict[int, str] = field(default_factory=dict)
    advised_eta_s: float | None = None
    #: The road ETA (no offload) the advised ETA stands for: positions are compared with it, cheaply.
    advised_road_s: float | None = None
    eta_mode: schemas.EtaMode = schemas.EtaMode.ROAD
    etas: dict[str, float] = field(default_factory=dict)
    vitals_ts: datetime | None = None  # when the newest vitals this worker handled were taken
    #: This worker handled the patient's latest vitals (with shared subscriptions, another
    #: worker may own it: then it only counts towards its centre's inbound patients).
    owned: bool = False
    _urgency_of: schemas.Severity | None = field(default=None, repr=False, compare=False)
    _urgency: float = field(default=0.0, repr=False, compare=False)

    @property
    def has_patient(self) -> bool:
        return self.patient_id is not None and self.severity is not None

    @property
    def urgency(self) -> float:
        """The router's urgency of the patient (R-PRIORITY), worked out again only when the severity changed."""
        if self.severity is None:
            return 0.0
        if self._urgency_of is not self.severity:
            self._urgency_of, self._urgency = self.severity, urgency(self.severity.ktas, self.severity.p_critical)
        return self._urgency


def giving_way(wanting: list[tuple[float, frozenset[Pathway]]], full: Mapping[Resource, Holders]) -> set[str]:
    """R-PRIORITY across batches: who may have to give a full bed or team to a patient being decided.

    ``wanting``: (urgency, pathways) of the patients being decided; ``full``: the holders of each full
    resource. Per resource, its holders from the least urgent up, as long as each has a more urgent
    patient being decided who could take its place (any patient for an ER bed, one on that pathway for a
    team). Re-deciding everyone who holds a full resource would re-plan the whole region on every batch
    once beds run out.
    """
    chosen: set[str] = set()
    for (_, team), held in full.items():
        want = sorted((level for level, needs in wanting if team is None or team in needs), reverse=True)
        for (level, unit_id), stronger in zip(heapq.nsmallest(len(want), held), want, strict=False):
            if level >= stronger:
                break
            chosen.add(unit_id)
    return chosen


@dataclass
class DispatcherStats:
    messages: int = 0
    vitals: int = 0
    rejected: int = 0
    refused_decisions: int = 0  # of those, crews' decisions on advice that changed (or never was)
    notices: int = 0  # messages kept but not yet acted on, told to their unit (vitals before any position)
    plans: int = 0
    advice: int = 0
    last_plan_ms: float = 0.0


class Dispatcher:
    def __init__(
        self,
        client: MqttClient,
        prepared: Prepared,
        severity: TrainedSeverity,
        *,
        config: RouterConfig | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        share_group: str | None = None,
        last_vitals: Callable[[str], schemas.Vitals | None] | None = None,
    ) -> None:
        self.client = client
        self.prepared = prepared
        self.severity = severity
        self.config = config or RouterConfig()
        self.clock = clock
        self.share_group = share_group
        #: The newest stored vitals of a unit (the recorder's store), to restore a patient's
        #: needs and severity exactly after a restart; None: rebuild from retained advice alone.
        self.last_vitals = last_vitals
        self.units: dict[str, UnitState] = {}
        self.capacity: dict[str, schemas.Capacity] = {}
        self.incidents: dict[str, Incident] = {}
        #: centre -> {unit heading there: (what its entry depends on, the entry)}
        self._heading: dict[str, dict[str, tuple[tuple[object, ...], schemas.InboundPatient]]] = {
            c.hpid: {} for c in prepared.scenario.centres
        }
        self._inbound_sent: dict[str, float] = {}  # centre -> when its list was last sent (monotonic)
        self._tracked: dict[str, str] = {}  # unit -> the centre whose inbound list holds it
        self._inbound_dirty: set[str] = set()  # centres whose inbound list may have changed
        self.assigned: dict[str, str] = {}
        self.stats = DispatcherStats()
        self._queue: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._dirty: set[str] = set()  # units whose patient needs a decision at the next plan
        self._everyone = False  # capacity changed: re-plan every patient
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._approximate = approximate_index(prepared.scenario)
        self._response = response_times(prepared)
        self._centres = {c.hpid: c for c in prepared.scenario.centres}
        client.on_message = self._queue.put

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> Dispatcher:
        # State every worker needs: where units are, what they do, what was advised (retained:
        # rebuilds the state after a restart), what centres can take.
        for kind in (topics.Kind.POSITION, topics.Kind.STATUS, topics.Kind.ADVICE, topics.Kind.CAPACITY):
            self.client.subscribe(topics.subscription(kind), qos=topics.CONTRACT[kind].qos)
        # Work: with a share group, each message goes to one worker of the group only.
        prefix = f"$share/{self.share_group}/" if self.share_group else ""
        for kind in (topics.Kind.VITALS, topics.Kind.DECISION, topics.Kind.INCIDENT):
            self.client.subscribe(prefix + topics.subscription(kind), qos=topics.CONTRACT[kind].qos)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
        self._thread.start()
        self.client.start(timeout_s)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.client.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._queue.get(timeout=0.2)]
            except queue.Empty:
                if self._inbound_dirty:
                    self._publish_inbound()  # changes that waited for their turn
                continue
            while True:  # everything already waiting is planned together
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.handle_batch(batch)
            except Exception:  # the loop never dies; the error is logged with its traceback
                log.exception("dispatcher failed on a batch of %d messages", len(batch))
            for message in batch:  # with manual_ack: only now may the broker forget them (see start_dispatcher)
                self.client.ack(message)

    # --- events ------------------------------------------------------------------------------

    def handle_batch(self, batch: list[Message]) -> None:
        """Apply a batch of messages, then decide once for every patient the batch concerns."""
        replan = incidents_changed = False
        decoded: list[tuple[Message, topics.Topic, schemas.Payload]] = []
        for message in batch:
            self.stats.messages += 1
            try:
                topic = topics.parse(message.topic)
                if not message.payload:
                    if not topic.route.retained:  # only a retained message is cleared by an empty one
                        self._reject(message, say("empty_payload", kind=topic.kind.value))
                    continue  # a cleared retained message
                decoded.append((message, topic, schemas.decode(topic.kind, message.payload)))
            except topics.TopicError as exc:
                self._reject(message, say("off_contract", detail=str(exc)))
            except schemas.PayloadError as exc:
                self._reject(message, say("malformed", detail=str(exc)))
        # Every vitals of the batch through the model at once: one row costs about what fifty do.
        vitals = [payload for _, _, payload in decoded if isinstance(payload, schemas.Vitals)]
        assessed = dict(zip(map(id, vitals), self.severity.assess_many(vitals, explain_inputs=False), strict=True))
        for message, topic, payload in decoded:
            matters, incident_event = self._apply(topic, payload, assessed, message)
            if topic.kind in _UNIT_KINDS:
                self._track(self.units[topic.key])
            replan |= matters
            incidents_changed |= incident_event
        for message, topic, payload in decoded:
            # Kept, not refused: these vitals decide the patient's advice when the unit's first position comes.
            if isinstance(payload, schemas.Vitals) and self.units[topic.key].lat is None:
                self._notify(message, topic.key, say("held_no_position"))
        if replan:
            self.replan(everyone=self._everyone)
        elif batch:
            self._publish_inbound()  # live ETAs of the units on their way
        if incidents_changed or replan:
            self.assign_incidents()

    def _reject(self, message: Message, reason: Text) -> None:
        """Report a refused message on ``ems/rejected/dispatcher`` (operators) and, when a unit sent it,
        the same report on ``ems/units/{unit}/rejected`` (the unit). A report is never reported again."""
        self.stats.rejected += 1
        if message.topic.startswith(f"{topics.ROOT}/rejected/"):
            return
        report = schemas.Rejected.of(message.topic, message.payload, reason[KO], reason[EN])
        self.client.send(topics.Topic(topics.Kind.REJECTED, SOURCE), report)
        unit = _sender(message.topic)
        if unit is not None:
            self.client.send(topics.Topic(topics.Kind.UNIT_REJECTED, unit), report)

    def _notify(self, message: Message, unit_id: str, notice: Text) -> None:
        """Tell a unit that a message of its own was kept but not acted on yet (its reason says so)."""
        self.stats.notices += 1
        report = schemas.Rejected.of(message.topic, message.payload, notice[KO], notice[EN])
        self.client.send(topics.Topic(topics.Kind.UNIT_REJECTED, unit_id), report)

    def _unit(self, unit_id: str) -> UnitState:
        return self.units.setdefault(unit_id, UnitState(unit_id))

    def _apply(
        self, topic: topics.Topic, payload: schemas.Payload, assessed: dict[int, Severity], message: Message
    ) -> tuple[bool, bool]:
        """Update the state; returns (destinations must be re-planned, incidents must be re-assigned)."""
        if isinstance(payload, schemas.Position):
            unit = self._unit(topic.key)
            first = unit.lat is None
            unit.lat, unit.lon = payload.lat, payload.lon
            if unit.owned and unit.has_patient and not first:
                unit.etas = self._etas(unit)  # keeps the inbound list's ETAs live
                if self._eta_moved(unit):  # the crew's advice must tell the ETA it now has
                    self._dirty.add(unit.unit_id)
                    return True, False
            if unit.has_patient and first:
                self._dirty.add(unit.unit_id)
            return unit.has_patient and first, unit.status is schemas.UnitStatus.AVAILABLE and first
        if isinstance(payload, schemas.Vitals):
            unit = self._unit(topic.key)
            # assessed with the whole batch, without explanations (the advice carries no reasons)
            result = assessed[id(payload)]
            if unit.patient_id != payload.patient_id:
                unit.destination, unit.declined, unit.versions = None, set(), {}
                unit.advised_eta_s = unit.advised_road_s = None
            unit.patient_id, unit.vitals_ts = payload.patient_id, payload.ts
            if not unit.owned:
                unit.advised_eta_s = None  # advise again: the new version tells other workers who owns it now
            unit.owned = True
            self.stats.vitals += 1
            self._assessed(unit, payload, result)
            self._dirty.add(unit.unit_id)
            return True, False
        if isinstance(payload, schemas.Status):
            unit = self._unit(topic.key)
            unit.status = payload.status
            if payload.status in _CLOSED and unit.has_patient:
                self._close_trip(unit)
            if payload.incident_id:
                self.assigned[payload.incident_id] = topic.key
            if unit.has_patient:
                self._dirty.add(unit.unit_id)
            return unit.has_patient, True
        if isinstance(payload, schemas.Decision):
            unit = self._unit(topic.key)
            refusal = self._refusal(unit, payload)
            if refusal is not None:
                self.stats.refused_decisions += 1
                self._reject(message, refusal)
                return False, False
            if payload.decision is schemas.DecisionKind.DECLINE and unit.destination is not None:
                unit.declined.add(unit.destination)
                unit.owned = unit.has_patient
                self._dirty.add(unit.unit_id)
                return True, False
            return False, False  # accepted: the advice stands
        if isinstance(payload, schemas.Advice):
            unit = self._unit(topic.key)
            if payload.advice_version <= unit.advice_version:
                return False, False  # our own advice coming back, or an older one
            if unit.patient_id not in (None, payload.patient_id) and unit.vitals_ts and unit.vitals_ts > payload.ts:
                # About an earlier patient: after a restart, the vitals the broker kept for us can come before the
                # retained advice. The newer patient stays; our advice for them gets a version above this one.
                unit.advice_version, unit.advised_eta_s, unit.advised_road_s = payload.advice_version, None, None
                self._dirty.add(unit.unit_id)
                return True, False
            # Advice this worker did not publish: a restart (take the patient over when working
            # alone) or another worker of the share group (its patient: count it, do not route it).
            rebuilding = unit.advice_version == 0 and not self.share_group
            if unit.patient_id != payload.patient_id:
                unit.versions = {}
            unit.advice_version = payload.advice_version
            _remember(unit, payload.advice_version, payload.destination.hpid)
            unit.patient_id = payload.patient_id
            unit.destination, unit.definitive = payload.destination.hpid, payload.definitive
            unit.advised_eta_s, unit.advised_road_s = payload.destination.eta_s, None
            unit.severity = payload.severity
            unit.critical = payload.severity is not None and payload.severity.ktas <= 2
            unit.eta_mode = payload.eta_mode
            unit.owned = rebuilding
            if rebuilding and self.last_vitals is not None:
                self._restore(unit, payload.patient_id)
            if rebuilding:
                self._dirty.add(unit.unit_id)
            return True, False
        if isinstance(payload, schemas.Capacity):
            self.capacity[topic.key] = payload
            self._everyone = True  # a centre changed: every patient may be better off elsewhere
            return True, False
        if isinstance(payload, schemas.Incident):
            self.incidents[topic.key] = Incident(
                topic.key, payload.lat, payload.lon, payload.priority, payload.category
            )
            return False, True
        return False, False

    def _refusal(self, unit: UnitState, decision: schemas.Decision) -> Text | None:
        """Why a crew's decision cannot be applied, or None. It applies to the newest advice, and to an
        older version of the same patient's advice that named the destination the newest one names (the
        dispatcher re-advises as the ETA moves: the crew may be looking at the version before)."""
        version, current = decision.advice_version, unit.advice_version
        if not unit.has_patient or unit.destination is None:
            return say("decision_no_advice", v=version)
        newest = (version, current, self._name(unit.destination))
        if version > current:
            return say("decision_future", v=version, current=current, name=newest[2])
        named = unit.destination if version == current else unit.versions.get(version)
        if named is None:
            return say("decision_unknown", v=version, current=current, name=newest[2])
        if named != unit.destination:
            return say("decision_changed", v=version, old=self._name(named), current=current, name=newest[2])
        return None

    def _name(self, hpid: str) -> str:
        centre = self._centres.get(hpid)
        return f"{centre.name} ({hpid})" if centre is not None else hpid

    def _eta_moved(self, unit: UnitState) -> bool:
        """Has the road ETA to the advised destination moved by ``ETA_REPUBLISH_S`` since it was advised?
        (A dictionary look-up and a subtraction: positions come every second from every unit.)"""
        if unit.destination is None or unit.advised_road_s is None or unit.status in _CLOSED:
            return False
        road = unit.etas.get(unit.destination)
        return road is not None and abs(road - unit.advised_road_s) >= ETA_REPUBLISH_S

    def _restore(self, unit: UnitState, patient_id: str) -> None:
        """Re-assess the patient's newest stored vitals (needs and crew flags are not in the advice)."""
        assert self.last_vitals is not None
        try:
            vitals = self.last_vitals(unit.unit_id)
        except Exception:  # the store is an aid to recovery, never a reason to stop
            log.exception("could not read the stored vitals of %s", unit.unit_id)
            return
        if vitals is None or vitals.patient_id != patient_id:
            return
        self._assessed(unit, vitals, self.severity.assess(vitals, explain_inputs=False))

    def _assessed(self, unit: UnitState, vitals: schemas.Vitals, result: Severity) -> None:
        """The patient as the router sees them: severity, crew-flag pathways, stability."""
        unit.severity = schemas.Severity(ktas=result.ktas, p_critical=result.p_critical, p_emergency=result.p_emergency)
        unit.critical = result.critical
        unit.needs = frozenset(p for flag, p in FLAG_PATHWAYS.items() if getattr(vitals.flags, flag))
        unit.unstable = self.config.stabilise.unstable(
            spo2_pct=vitals.spo2_pct, rr_per_min=vitals.rr_per_min, sbp_mmhg=vitals.sbp_mmhg
        )

    def _close_trip(self, unit: UnitState) -> None:
        """The patient arrived: the trip is over, the advice is withdrawn (by its owner)."""
        if unit.owned:
            self.client.clear_retained(topics.build(topics.Kind.ADVICE, unit.unit_id))
        unit.patient_id = unit.severity = unit.destination = unit.advised_eta_s = unit.advised_road_s = None
        unit.declined, unit.owned, unit.etas, unit.team, unit.definitive = set(), False, {}, None, True
        unit.holds_bed, unit.versions = True, {}

    # --- planning ------------------------------------------------------------------------------

    def _etas(self, unit: UnitState) -> dict[str, float]:
        assert unit.lat is not None and unit.lon is not None
        try:
            etas = self.prepared.index.etas(unit.lat, unit.lon)
            unit.eta_mode = schemas.EtaMode(etas.mode)
        except SnapError:  # off the road graph: approximate, and say so
            etas = self._approximate.etas(unit.lat, unit.lon)
            unit.eta_mode = schemas.EtaMode.APPROXIMATE
        return dict(zip(etas.target_ids, etas.seconds.tolist(), strict=True))

    def replan(self, *, everyone: bool = True) -> None:
        """Decide destinations jointly: for every patient (``everyone``, e.g. after a capacity
        change) or for those whose situation changed; the others keep their destination and
        count against its beds."""
        started = time.perf_counter()
        now = self.clock()
        views = [centre_view(c, self.capacity.get(c.hpid), now) for c in self.prepared.scenario.centres]
        candidates = list(self.units.values()) if everyone else [self.units[u] for u in self._dirty if u in self.units]
        holders = self._holders()
        beds = {hpid: len(held) for (hpid, team), held in holders.items() if team is None}
        teams = {(hpid, team): len(held) for (hpid, team), held in holders.items() if team is not None}
        if not everyone:
            full = full_resources(views, beds, teams, config=self.config)
            wanting = [(u.urgency, u.needs) for u in candidates if u.has_patient]
            giving = giving_way(wanting, {key: holders.get(key, []) for key in full})
            candidates += [self.units[unit_id] for unit_id in sorted(giving)]
        active = [u for u in candidates if u.owned and u.has_patient and u.lat is not None and u.status not in _CLOSED]
        routed = list({u.unit_id: u for u in active}.values())
        self._dirty.clear()
        self._everyone = False
        # beds and pathway teams already taken by patients not being decided now
        for unit in routed:
            hpid = self._tracked.get(unit.unit_id)
            if hpid is not None and unit.holds_bed:
                beds[hpid] -= 1
            if hpid is not None and unit.team is not None:
                teams[(hpid, unit.team)] -= 1
        cases = []
        for unit in routed:
            unit.etas = self._etas(unit)
            assert unit.severity is not None
            cases.append(
                PatientCase(
                    unit_id=unit.unit_id,
                    ktas=unit.severity.ktas,
                    needs=unit.needs,
                    eta_s=unit.etas,
                    current=unit.destination,
                    declined=frozenset(unit.declined),
                    critical=unit.critical,
                    p_critical=unit.severity.p_critical,
                    unstable=unit.unstable,
                )
            )
        choices = plan(cases, views, inbound_elsewhere=beds, teams_elsewhere=teams, config=self.config)
        self.stats.plans += 1
        self.stats.last_plan_ms = (time.perf_counter() - started) * 1000
        for choice in choices:
            self._advise(self.units[choice.unit_id], choice)
        for unit in routed:
            self._track(unit)  # new destinations and fresh ETAs
        self._publish_inbound()

    def _holders(self) -> dict[Resource, Holders]:
        """Who holds each ER bed (team None) and pathway team of each centre: (urgency, unit) of the
        patients heading there."""
        holders: dict[Resource, Holders] = {}
        for unit_id, hpid in self._tracked.items():
            unit = self.units[unit_id]
            if unit.holds_bed:
                holders.setdefault((hpid, None), []).append((unit.urgency, unit_id))
            if unit.team is not None:
                holders.setdefault((hpid, unit.team), []).append((unit.urgency, unit_id))
        return holders

    def _advise(self, unit: UnitState, choice: Choice) -> None:
        destination = choice.destination
        unit.team, unit.holds_bed = choice.team, choice.takes_bed
        moved = unit.advised_eta_s is None or abs(destination.eta_s - unit.advised_eta_s) >= ETA_REPUBLISH_S
        bed = None if destination.beds_on_arrival is None else destination.beds_on_arrival > 0
        same = (destination.hpid, choice.definitive, bed) == (unit.destination, unit.definitive, unit.bed)
        road = unit.etas.get(destination.hpid, math.inf)
        if same and not moved:
            # the crew is told again only what changes their plan: where, whether definitive, a bed or not, the
            # ETA by a minute; the advised ETA as a road ETA under today's offload, for the next positions
            assert unit.advised_eta_s is not None
            unit.advised_road_s = _finite(unit.advised_eta_s - (destination.eta_s - road))
            return
        unit.destination, unit.definitive, unit.bed = destination.hpid, choice.definitive, bed
        unit.advice_version += 1
        _remember(unit, unit.advice_version, destination.hpid)
        unit.advised_eta_s, unit.advised_road_s = destination.eta_s, _finite(road)
        assert unit.patient_id is not None

        def option(o: Option) -> schemas.Option:
            eta = o.eta_s if math.isfinite(o.eta_s) else 86_400.0
            return schemas.Option(hpid=o.hpid, name=o.name, eta_s=min(eta, 86_400.0), beds_on_arrival=o.beds_on_arrival,
                                  reason=o.reason[:300], reason_en=o.reason_en[:300] or None)  # fmt: skip

        advice = schemas.Advice.new(
            advice_version=unit.advice_version,
            patient_id=unit.patient_id,
            destination=option(destination),
            alternatives=tuple(option(a) for a in choice.alternatives),
            severity=unit.severity,
            eta_mode=unit.eta_mode,
            pathway=choice.pathway.value if choice.pathway else None,
            definitive=choice.definitive,
        )
        self.client.send(topics.Topic(topics.Kind.ADVICE, unit.unit_id), advice)
        self.stats.advice += 1

    def _track(self, unit: UnitState) -> None:
        """Keep the centre -> inbound patients index current; a centre's list is marked for
        sending again only when it really changed: a unit came or went, or its ETA (whole
        minutes), severity, patient or advice changed."""
        old = self._tracked.get(unit.unit_id)
        new = unit.destination if unit.has_patient and unit.destination in self._heading else None
        if old is not None and old != new:
            del self._heading[old][unit.unit_id]
            del self._tracked[unit.unit_id]
            self._inbound_dirty.add(old)
        if new is None:
            return
        eta = min(unit.etas.get(new, unit.advised_eta_s or 0.0), 86_400.0)
        key = (int(eta // 60), unit.severity, unit.patient_id, unit.advice_version, unit.eta_mode)
        held = self._heading[new].get(unit.unit_id)
        if held is None or held[0] != key:
            patient = schemas.InboundPatient(
                unit_id=unit.unit_id,
                patient_id=unit.patient_id,
                advice_version=max(unit.advice_version, 1),
                severity=unit.severity,
                eta_s=eta,
                eta_mode=unit.eta_mode,
            )
            self._heading[new][unit.unit_id] = (key, patient)
            self._tracked[unit.unit_id] = new
            self._inbound_dirty.add(new)

    def _publish_inbound(self) -> None:
        """Retained pre-notification for each centre whose list changed, at most once per
        ``INBOUND_INTERVAL_S`` (later changes wait for the next turn of the loop): only units
        really heading there, the soonest arrivals first."""
        now = time.monotonic()
        due = {h for h in self._inbound_dirty if now - self._inbound_sent.get(h, -math.inf) >= INBOUND_INTERVAL_S}
        self._inbound_dirty -= due
        for hpid in sorted(due):
            self._inbound_sent[hpid] = now
            held = sorted((p for _, p in self._heading[hpid].values()), key=lambda p: (p.eta_s, p.unit_id))
            patients = tuple(held[:INBOUND_MAX])  # the message holds at most INBOUND_MAX of them
            self.client.send(topics.Topic(topics.Kind.INBOUND, hpid), schemas.Inbound.new(patients=patients))

    def assign_incidents(self) -> None:
        """Recommend a unit for every waiting incident (jointly, by priority-weighted response time)."""
        waiting = [i for i in self.incidents.values() if i.id not in self.assigned]
        if not waiting:
            return
        units = [
            Unit(u.unit_id, u.lat, u.lon, available=True)
            for u in self.units.values()
            if u.status is schemas.UnitStatus.AVAILABLE and u.lat is not None and u.lon is not None
        ]
        for choice in assign_units(waiting, units, self._response):
            payload = schemas.Assignment.new(
                unit_id=choice.unit_id, eta_s=min(choice.eta_s, 86_400.0), eta_mode=schemas.EtaMode(choice.eta_mode)
            )
            self.client.send(topics.Topic(topics.Kind.ASSIGNMENT, choice.incident_id), payload)


def _sender(topic: str) -> str | None:
    """The unit that published on ``topic`` (one of its own topics), or None."""
    try:
        parsed = topics.parse(topic)
    except topics.TopicError:
        return None
    return parsed.key if parsed.kind in _UNIT_SENT else None


def _remember(unit: UnitState, version: int, hpid: str) -> None:
    """Keep which destination advice ``version`` named (the newest ``VERSIONS_KEPT`` of them)."""
    unit.versions[version] = hpid
    while len(unit.versions) > VERSIONS_KEPT:
        del unit.versions[min(unit.versions)]


def _finite(seconds: float) -> float | None:
    return seconds if math.isfinite(seconds) else None
