"""The decision engine: events in, commands out (DESIGN.md, "The decision engine").

:meth:`DispatchEngine.apply` takes a batch of :mod:`dispatch.events` and the time, updates the state of
units, patients, centres and incidents, decides once for every patient the batch concerns (jointly, with
:func:`dispatch.router.plan`), and returns the :mod:`dispatch.commands` that follow: advice, withdrawn
advice, pre-notification lists, unit recommendations, refusals and notices. It does no I/O, reads no
clock (``now`` is given) and starts no thread: the MQTT worker (:mod:`dispatch.service`) is a shell
around it, and a test or a simulator drives it directly.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from dispatch.beds import full_resources
from dispatch.centre_view import CentreView, centre_view
from dispatch.commands import (
    Advise,
    AssignUnit,
    ClearAdvice,
    ClearRequest,
    Command,
    InboundEntry,
    NoticeToUnit,
    NotifyInbound,
    PublishRequests,
    Refuse,
    RequestEntry,
    TellRequest,
)
from dispatch.decision_state import (
    EPOCH_SPAN,
    EngineState,
    PatientState,
    RegionState,
    StateChanges,
    TrendState,
)
from dispatch.events import (
    AdviceSeen,
    AnswerReceived,
    BedLost,
    BedsHeld,
    CapacityReported,
    DecisionMade,
    Event,
    IncidentReported,
    PositionReported,
    StatusChanged,
    Tick,
    UnitLeft,
    VitalsReported,
)
from dispatch.explain import Text, say
from dispatch.handshake import (
    DUAL_PATHWAYS,
    DUAL_WITHIN_S,
    HandshakeError,
    Request,
    RequestBook,
    answer_within_s,
    refused_view,
    request_id,
)
from dispatch.nowcast import BedNowcast, _Trend
from dispatch.pathways import Pathway, needs_of
from dispatch.replan import affected, case_of
from dispatch.roads import EtaMode, SnapError
from dispatch.router import Choice, Mode, Option, RouterConfig, plan, urgency
from dispatch.scenario import Centre, Prepared, approximate_index
from dispatch.severity.model import Scorer, Severity
from dispatch.units import ApproximateResponseTimes, Incident, Unit, assign_units, cover_gap, response_times
from telemetry.schemas import BedType, Capacity, RequestState, UnitStatus, Vitals

_CLOSED = (UnitStatus.AT_HOSPITAL, UnitStatus.AVAILABLE)
#: What the crew says of a patient that later vitals without it keep (R-CREW).
CREW_FIELDS = ("pre_ktas", "chief_complaint")
#: Pre-notification lists the soonest arrivals, at most this many (the schema's limit).
INBOUND_MAX = 500
#: A centre's list of transfer requests holds at most this many, oldest first: 25 of the largest requests (a
#: 300-character Korean note, a 200-character complaint) stay under the 64 KiB a payload may have.
REQUESTS_MAX = 25
#: A centre's pre-notification list is sent at most this often (a list of hundreds of inbound
#: patients must not be rebuilt for every vitals message of a national fleet).
INBOUND_INTERVAL_S = 1.0
#: Advice is published again when its ETA moved by this much (or the destination changed); a position
#: that moves the road ETA to the advised destination this much has the patient decided again at once.
ETA_REPUBLISH_S = 60.0
#: Advice versions of the current patient remembered per unit (version -> destination): a decision on
#: one of them is applied while the newest advice still names the same destination.
VERSIONS_KEPT = 32
#: A centre's ER beds (pathway None) or one of its pathway teams.
Resource = tuple[str, Pathway | None]
#: (urgency, unit) of the patients holding a resource.
Holders = list[tuple[float, str]]


@dataclass
class UnitState:
    unit_id: str
    lat: float | None = None
    lon: float | None = None
    status: UnitStatus | None = None
    patient_id: str | None = None
    severity: Severity | None = None
    needs: frozenset[Pathway] = frozenset()
    critical: bool = False
    unstable: bool = False  # the router's StabiliseRule holds on the newest vitals
    vitals: Vitals | None = None  # the newest vitals (the transfer request carries their key signs)
    team: Pathway | None = None  # the pathway team and room the advised destination holds for this patient
    holds_bed: bool = True  # and an ER bed there (all but the patients a declared team takes straight in)
    definitive: bool = True  # the advised destination gives the pathway's definitive care
    bed: bool | None = None  # the advice said a bed (or team) is left on arrival; None: unknown
    destination: str | None = None
    declined: set[str] = field(default_factory=set)
    advice_version: int = 0
    #: The current patient's advice versions this engine saw or issued -> the destination each named.
    versions: dict[int, str] = field(default_factory=dict)
    advised_eta_s: float | None = None
    #: The road ETA (no offload) the advised ETA stands for: positions are compared with it, cheaply.
    advised_road_s: float | None = None
    eta_mode: EtaMode = "road"
    etas: dict[str, float] = field(default_factory=dict)
    vitals_ts: datetime | None = None  # when the newest vitals this engine handled were taken
    #: This engine handled the patient's latest vitals (with shared subscriptions, another
    #: worker may own it: then it only counts towards its centre's inbound patients).
    owned: bool = False
    _urgency_of: Severity | None = field(default=None, repr=False, compare=False)
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


class DispatchEngine:
    """The state of units, patients, centres and incidents, and the decisions on them.

    ``share_group``: the engine is one worker of a group sharing the work (it never takes over a patient
    from advice it did not issue). ``epoch``: the leadership epoch of the region's dispatcher (its lease, see
    ``telemetry.leader``); advice versions of epoch ``e`` start above ``(e - 1) * EPOCH_SPAN``, so the advice of a
    deposed leader is recognisably older than its successor's."""

    def __init__(
        self,
        prepared: Prepared,
        severity: Scorer,
        *,
        config: RouterConfig | None = None,
        share_group: str | None = None,
        epoch: int = 1,
    ) -> None:
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
            raise ValueError(f"epoch must be a positive integer, got {epoch!r}")
        self.prepared = prepared
        self.epoch = epoch
        self.severity = severity
        self.config = config or RouterConfig()
        self.share_group = share_group
        self.units: dict[str, UnitState] = {}
        self.capacity: dict[str, Capacity] = {}
        self.incidents: dict[str, Incident] = {}
        self.assigned: dict[str, str] = {}  # incident -> the unit that took it
        self.plans = 0  # joint plans made
        self.routed = 0  # patients the last plan decided for (the others kept their destination)
        self.requests = RequestBook()  # the acceptance handshake (dispatch.handshake)
        self._requests_dirty: set[str] = set()  # centres whose list of requests changed in this batch
        self.nowcast = BedNowcast(self.config.arrivals_per_hour)  # beds others take, per centre
        #: centre -> {unit heading there: (what its entry depends on, the entry, when its ETA was worked out)}
        self._now: datetime | None = None  # the batch being applied (None outside one: a restore)
        self._heading: dict[str, dict[str, tuple[tuple[object, ...], InboundEntry, datetime | None]]] = {
            c.hpid: {} for c in prepared.scenario.centres
        }
        self._inbound_sent: dict[str, datetime] = {}  # centre -> when its list was last sent
        self._tracked: dict[str, str] = {}  # unit -> the centre whose inbound list holds it
        self._inbound_dirty: set[str] = set()  # centres whose inbound list may have changed
        self._dirty: set[str] = set()  # units whose patient needs a decision at the next plan
        self._news: set[str] = set()  # centres with news (a report, a decline's reason): re-plan whom it concerns
        self._approximate = approximate_index(prepared.scenario)
        self._response = response_times(prepared)
        scenario = prepared.scenario  # R-COVER's gaps: approximate times are enough to count units nearby
        self._cover = ApproximateResponseTimes(detour_factor=scenario.detour_factor, speed_kmh=scenario.approximate_kmh)
        self._centres = {c.hpid: c for c in prepared.scenario.centres}
        # per batch: commands so far, severities scored for the batch, what the batch asks for
        self._out: list[Command] = []
        self._scored: dict[int, Severity] = {}
        self._replan = self._reassign = False
        self._changed: set[str] = set()  # units whose patient's decision state may have changed (see changes())
        self._restored: set[str] = set()  # units whose patient came back from a snapshot (restore())
        self._resume = False  # restored: the next batch decides again for the restored patients
        #: ER beds of border centres held by other regions' patients (BedsHeld: the bed ledger, via the shell)
        self._elsewhere: dict[str, int] = {}
        #: centres whose last bed the ledger just refused, read as full for this batch only (BedsHeld.full)
        self._ledger_full: frozenset[str] = frozenset()

    # --- the one entry point ---------------------------------------------------------------------

    def apply(self, events: Sequence[Event], now: datetime) -> list[Command]:
        """Apply a batch of events, then decide once for every patient the batch concerns; the commands
        that follow, in the order they are to be carried out."""
        self._out, self._replan, self._reassign = [], self._resume, self._resume
        self._resume = False
        self._now = now  # when this batch's ETAs are worked out (the inbound entries keep it)
        events = self._keep_crew_grade(events)
        # Every vitals of the batch through the model at once: one row costs about what fifty do.
        raw = [e.vitals for e in events if type(e) is VitalsReported and e.severity is None]
        raw += [e.stored for e in events if type(e) is AdviceSeen and e.stored is not None]
        self._scored = dict(zip(map(id, raw), self.severity.assess_many(raw, explain_inputs=False), strict=True))
        for event in events:
            unit: UnitState | None = None
            match event:
                case PositionReported():
                    unit = self._position(event)
                case VitalsReported():
                    unit = self._vitals(event)
                case StatusChanged():
                    unit = self._status(event)
                case DecisionMade():
                    unit = self._decision(event)
                case AdviceSeen():
                    unit = self._advice_seen(event)
                case CapacityReported():
                    self._capacity(event)
                case IncidentReported():
                    self._incident(event)
                case AnswerReceived():
                    unit = self._answer(event, now)
                case UnitLeft():
                    self._left(event)
                case BedsHeld():
                    self._elsewhere = {hpid: n for hpid, n in event.held if n > 0}
                    self._ledger_full = event.full
                case BedLost():
                    unit = self._bed_lost(event)
                case Tick():
                    pass
            if unit is not None:
                self._track(unit)
                if type(event) is not PositionReported:
                    self._changed.add(unit.unit_id)
        for event in events:
            # Kept, not refused: these vitals decide the patient's advice when the unit's first position comes.
            if type(event) is VitalsReported and self.units[event.unit_id].lat is None:
                self._out.append(NoticeToUnit(event.unit_id, event.origin, say("held_no_position")))
        self._expire(now)
        if self._replan:
            self._decide(now)
        self._inbound(now)  # new destinations, and live ETAs of the units on their way
        self._send_requests()
        if self._reassign or self._replan:
            self._assign_incidents()
        self._scored = {}
        self._ledger_full = frozenset()
        out, self._out = self._out, []
        return out

    def _keep_crew_grade(self, events: Sequence[Event]) -> Sequence[Event]:
        """R-CREW: the crew's Pre-KTAS and chief complaint stand for the patient until the crew sends others, so
        vitals without them (a monitor's) keep the unit's last ones for the same patient."""
        if not any(type(e) is VitalsReported for e in events):
            return events
        last = {u.unit_id: u.vitals for u in self.units.values() if u.vitals is not None}
        kept: list[Event] = []
        for event in events:
            if type(event) is VitalsReported and event.severity is None:
                vitals, before = event.vitals, last.get(event.unit_id)
                if before is not None and before.patient_id == vitals.patient_id:
                    update = {k: getattr(before, k) for k in CREW_FIELDS if getattr(vitals, k) is None}
                    if any(v is not None for v in update.values()):
                        event = replace(event, vitals=vitals.model_copy(update=update))
                last[event.unit_id] = event.vitals
            kept.append(event)
        return kept

    # --- events: one method per kind ------------------------------------------------------------------

    def _unit(self, unit_id: str) -> UnitState:
        unit = self.units.get(unit_id)
        if unit is None:
            unit = self.units[unit_id] = UnitState(unit_id)
        return unit

    def _position(self, event: PositionReported) -> UnitState:
        unit = self._unit(event.unit_id)
        first = unit.lat is None
        unit.lat, unit.lon = event.lat, event.lon
        if unit.owned and unit.has_patient and not first:
            unit.etas = self._etas(unit)  # keeps the inbound list's ETAs live
            if self._eta_moved(unit):  # the crew's advice must tell the ETA it now has
                self._dirty.add(unit.unit_id)
                self._replan = True
            return unit
        if unit.has_patient and first:
            self._dirty.add(unit.unit_id)
            self._replan = True
        if unit.status is UnitStatus.AVAILABLE and first:
            self._reassign = True
        return unit

    def _vitals(self, event: VitalsReported) -> UnitState:
        unit = self._unit(event.unit_id)
        vitals = event.vitals
        # assessed with the whole batch, without explanations (the advice carries no reasons)
        result = event.severity or self._scored[id(vitals)]
        if unit.patient_id != vitals.patient_id:
            unit.destination, unit.declined, unit.versions = None, set(), {}
            unit.advised_eta_s = unit.advised_road_s = None
        unit.patient_id, unit.vitals_ts = vitals.patient_id, vitals.ts
        if not unit.owned:
            unit.advised_eta_s = None  # advise again: the new version tells other workers who owns it now
        unit.owned = True
        self._assessed(unit, vitals, result)
        self._dirty.add(unit.unit_id)
        self._replan = True
        return unit

    def _status(self, event: StatusChanged) -> UnitState:
        unit = self._unit(event.unit_id)
        unit.status = event.status
        if event.status is UnitStatus.AT_HOSPITAL and unit.has_patient and unit.destination is not None:
            self.nowcast.delivered(unit.destination)
        if event.status in _CLOSED and unit.has_patient:
            self._close_trip(unit)
        if event.incident_id:
            self.assigned[event.incident_id] = unit.unit_id
        if unit.has_patient:
            self._dirty.add(unit.unit_id)
            self._replan = True
        self._reassign = True
        return unit

    def _decision(self, event: DecisionMade) -> UnitState:
        unit = self._unit(event.unit_id)
        refusal = self._refusal(unit, event.advice_version)
        if refusal is not None:
            self._out.append(Refuse(event.origin, refusal, unit_id=unit.unit_id, decision=True))
            return unit
        if not event.accept and unit.destination is not None:
            self._settled(self.requests.withdraw(unit.unit_id))
            unit.declined.add(unit.destination)
            unit.owned = unit.has_patient
            self._dirty.add(unit.unit_id)
            self._replan = True
        return unit  # accepted: the advice stands

    def _advice_seen(self, event: AdviceSeen) -> UnitState:
        unit = self._unit(event.unit_id)
        if event.advice_version <= unit.advice_version:
            return unit  # our own advice coming back, or an older one
        if unit.patient_id not in (None, event.patient_id) and unit.vitals_ts and unit.vitals_ts > event.ts:
            # About an earlier patient: after a restart, the vitals the broker kept for us can come before the
            # retained advice. The newer patient stays; our advice for them gets a version above this one.
            unit.advice_version, unit.advised_eta_s, unit.advised_road_s = event.advice_version, None, None
            self._dirty.add(unit.unit_id)
            self._replan = True
            return unit
        # Advice this engine did not issue: a restart (take the patient over when working alone) or
        # another worker of the share group (its patient: count it, do not route it).
        rebuilding = self.rebuilds(unit.unit_id)
        if unit.patient_id != event.patient_id:
            unit.versions = {}
        unit.advice_version = event.advice_version
        _remember(unit, event.advice_version, event.destination)
        unit.patient_id = event.patient_id
        unit.destination, unit.definitive = event.destination, event.definitive
        unit.advised_eta_s, unit.advised_road_s = event.eta_s, None
        unit.severity = event.severity
        unit.critical = event.severity is not None and event.severity.critical
        unit.eta_mode = event.eta_mode
        unit.owned = rebuilding
        stored = event.stored
        if rebuilding and stored is not None and stored.patient_id == event.patient_id:
            # the patient's newest stored vitals: needs and crew flags are not in the advice
            self._assessed(unit, stored, self._scored[id(stored)])
        if rebuilding:
            self._dirty.add(unit.unit_id)
        self._replan = True
        return unit

    def _capacity(self, event: CapacityReported) -> None:
        self.capacity[event.hpid] = event.capacity
        er = event.capacity.beds.get(BedType.ER_GENERAL)
        counted = er is not None and not er.overcrowded
        at = (er.updated_at if er is not None else None) or event.capacity.updated_at
        self.nowcast.report(event.hpid, er.available if counted and er is not None else None, at)
        self._news.add(event.hpid)  # a centre changed: the patients it concerns may be better off elsewhere
        self._replan = True

    def _incident(self, event: IncidentReported) -> None:
        self.incidents[event.incident.id] = event.incident
        self._reassign = True

    def _left(self, event: UnitLeft) -> None:
        """A free unit now another region's: forgotten (a unit with a patient is never handed over mid-transport,
        so one that still has a patient here stays)."""
        unit = self.units.get(event.unit_id)
        if unit is None or unit.has_patient:
            return
        self._end_request(unit.unit_id)
        self._track(unit)  # off any inbound list
        del self.units[unit.unit_id]
        self._dirty.discard(unit.unit_id)
        self._restored.discard(unit.unit_id)
        self._changed.add(unit.unit_id)  # a stored patient state of it (if any) is gone
        self._reassign = True

    def _bed_lost(self, event: BedLost) -> UnitState | None:
        """The ledger refused the bed of ``hpid`` to the unit's patient: their request there is withdrawn and
        they are decided again, free of that destination (the advice naming it was not published), and
        advised whatever the plan (:class:`dispatch.events.BedLost`)."""
        unit = self.units.get(event.unit_id)
        if unit is None or not unit.has_patient:
            return unit
        request = self.requests.current(unit.unit_id)
        if request is not None and request.hpid == event.hpid:
            self._settled(self.requests.withdraw(unit.unit_id))
        if unit.destination == event.hpid:
            unit.destination = None
        unit.advised_eta_s = unit.advised_road_s = None
        self._dirty.add(unit.unit_id)
        self._replan = True
        return unit

    def rebuilds(self, unit_id: str) -> bool:
        """Would advice seen now for this unit have the engine take its patient over (a restart, working
        alone)? The shell reads the patient's stored vitals only then."""
        unit = self.units.get(unit_id)
        return not self.share_group and (unit is None or unit.advice_version == 0 or unit_id in self._restored)

    def _refusal(self, unit: UnitState, version: int) -> Text | None:
        """Why a crew's decision cannot be applied, or None. It applies to the newest advice, and to an
        older version of the same patient's advice that named the destination the newest one names (the
        engine re-advises as the ETA moves: the crew may be looking at the version before)."""
        current = unit.advice_version
        if not unit.has_patient or unit.destination is None:
            return say("decision_no_advice", v=version)
        name = self._name(unit.destination)
        if version > current:
            return say("decision_future", v=version, current=current, name=name)
        named = unit.destination if version == current else unit.versions.get(version)
        if named is None:
            return say("decision_unknown", v=version, current=current, name=name)
        if named != unit.destination:
            return say("decision_changed", v=version, old=self._name(named), current=current, name=name)
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

    def _assessed(self, unit: UnitState, vitals: Vitals, result: Severity) -> None:
        """The patient as the router sees them: severity, crew-flag pathways, stability."""
        unit.severity, unit.vitals = result, vitals
        unit.critical = result.critical
        unit.needs = needs_of(vitals.flags)
        unit.unstable = self.config.stabilise.unstable(
            spo2_pct=vitals.spo2_pct, rr_per_min=vitals.rr_per_min, sbp_mmhg=vitals.sbp_mmhg
        )

    def _close_trip(self, unit: UnitState) -> None:
        """The patient arrived: the trip is over, the advice is withdrawn (by its owner)."""
        if unit.owned:
            self._out.append(ClearAdvice(unit.unit_id))
        self._end_request(unit.unit_id)
        unit.patient_id = unit.severity = unit.destination = unit.advised_eta_s = unit.advised_road_s = None
        unit.declined, unit.owned, unit.etas, unit.team, unit.definitive = set(), False, {}, None, True
        unit.holds_bed, unit.versions = True, {}

    # --- deciding -------------------------------------------------------------------------------------

    def _etas(self, unit: UnitState) -> dict[str, float]:
        assert unit.lat is not None and unit.lon is not None
        try:
            etas = self.prepared.index.etas(unit.lat, unit.lon)
        except SnapError:  # off the road graph: approximate, and say so
            etas = self._approximate.etas(unit.lat, unit.lon)
        unit.eta_mode = etas.mode
        return dict(zip(etas.target_ids, etas.seconds.tolist(), strict=True))

    def _decide(self, now: datetime) -> None:
        """Decide destinations jointly for the patients whose situation changed, those news about a centre
        concerns (R-NEWS, :func:`dispatch.replan.affected`) and those who may have to give way to them; the
        others keep their destination and count against its beds."""
        per_hour = self.nowcast.per_hour
        views = [self._view(c, now, per_hour(c.hpid, c.level)) for c in self.prepared.scenario.centres]
        candidates = [self.units[u] for u in self._dirty if u in self.units]
        holders = self._holders()
        beds = {hpid: len(held) for (hpid, team), held in holders.items() if team is None}
        for held_at, n in self._elsewhere.items():  # other regions' patients, counted like ours (the bed ledger)
            beds[held_at] = beds.get(held_at, 0) + n
        for held_at in self._ledger_full:  # the ledger has no bed left there beyond those our patients hold
            beds[held_at] = max(beds.get(held_at, 0), self._reported_free(held_at))
        teams = {(hpid, team): len(held) for (hpid, team), held in holders.items() if team is not None}
        if self._news:
            aboard = [u for u in self.units.values() if self._routable(u)]
            concerned = affected(self._news, aboard, views, inbound=beds, teams=teams, config=self.config)
            candidates += [self.units[unit_id] for unit_id in sorted(concerned)]
        full = full_resources(views, beds, teams, config=self.config)
        wanting = [(u.urgency, u.needs) for u in candidates if u.has_patient]
        giving = giving_way(wanting, {key: holders.get(key, []) for key in full})
        candidates += [self.units[unit_id] for unit_id in sorted(giving)]
        routed = list({u.unit_id: u for u in candidates if self._routable(u)}.values())
        self._dirty.clear()
        self._news.clear()
        # beds and pathway teams already taken by patients not being decided now
        for unit in routed:
            hpid = self._tracked.get(unit.unit_id)
            if hpid is not None and unit.holds_bed:
                beds[hpid] -= 1
            if hpid is not None and unit.team is not None:
                teams[(hpid, unit.team)] -= 1
        cases = []
        free = self._free_units()
        for unit in routed:
            unit.etas = self._etas(unit)
            assert unit.lat is not None and unit.lon is not None
            gap = cover_gap(unit.lat, unit.lon, free, self._cover)
            case = case_of(unit, cover_gap=gap, promised=self._promised(unit))
            assert case is not None  # routable: it has a severity
            cases.append(case)
        choices = plan(cases, views, inbound_elsewhere=beds, teams_elsewhere=teams, config=self.config)
        self.plans += 1
        self.routed = len(cases)
        for choice in choices:
            self._advise(self.units[choice.unit_id], choice, now)
        for unit in routed:
            self._track(unit)  # new destinations and fresh ETAs
        self._changed.update(u.unit_id for u in routed)

    @staticmethod
    def _routable(unit: UnitState) -> bool:
        """A patient this engine decides for: its own, aboard, located, not yet handed over."""
        return unit.owned and unit.has_patient and unit.lat is not None and unit.status not in _CLOSED

    def _reported_free(self, hpid: str) -> int:
        """The free ER beds of the centre's last report (0 when overcrowded or not reported)."""
        capacity = self.capacity.get(hpid)
        er = None if capacity is None else capacity.beds.get(BedType.ER_GENERAL)
        if er is None or er.overcrowded or er.available is None:
            return 0
        return er.available

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

    def _advise(self, unit: UnitState, choice: Choice, now: datetime) -> None:
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
        unit.advice_version = max(unit.advice_version, (self.epoch - 1) * EPOCH_SPAN) + 1
        _remember(unit, unit.advice_version, destination.hpid)
        unit.advised_eta_s, unit.advised_road_s = destination.eta_s, _finite(road)
        assert unit.patient_id is not None
        self._out.append(
            Advise(
                unit_id=unit.unit_id,
                advice_version=unit.advice_version,
                patient_id=unit.patient_id,
                destination=destination,
                alternatives=choice.alternatives,
                severity=unit.severity,
                eta_mode=unit.eta_mode,
                pathway=choice.pathway,
                definitive=choice.definitive,
            )
        )
        self._request(unit, choice, now)

    # --- the acceptance handshake (dispatch.handshake) ------------------------------------------------

    def _view(self, centre: Centre, now: datetime, others_per_hour: float | None) -> CentreView:
        """The centre as the router sees it: its latest report and what declines since said (R-REFUSED)."""
        capacity = self.capacity.get(centre.hpid)
        view = centre_view(centre, capacity, now, others_per_hour=others_per_hour)
        refusals = self.requests.held(centre.hpid, None if capacity is None else capacity.updated_at, now)
        return refused_view(view, refusals, now) if refusals else view

    def _promised(self, unit: UnitState) -> str | None:
        """The centre that accepted the unit's current patient (R-PROMISE), if one did."""
        request = self.requests.current(unit.unit_id)
        accepted = request is not None and request.state is RequestState.ACCEPTED
        return request.hpid if accepted and request is not None and request.patient_id == unit.patient_id else None

    def _request(self, unit: UnitState, choice: Choice, now: datetime) -> None:
        """With advice naming a new centre, a transfer request to it (the earlier one withdrawn); none for the
        patients time wins for (R-ANSWER): they go at once, pre-notified by the inbound list."""
        before = self.requests.current(unit.unit_id)
        same = before is not None and (before.hpid, before.patient_id) == (unit.destination, unit.patient_id)
        if same and before is not None and before.state is not RequestState.WITHDRAWN:
            return  # the same centre: its request (and answer) stands
        if choice.mode in (Mode.NEAREST, Mode.ALL_DECLINED):
            self._settled(self.requests.withdraw(unit.unit_id))
            return
        for withdrawn in self.requests.send(self._new_request(unit, choice, choice.destination, now)):
            self._requests_changed(withdrawn.hpid)
        self._told(self.requests.by_unit[unit.unit_id])
        alternative = choice.alternatives[0] if choice.alternatives else None
        dual = choice.mode is Mode.DEFINITIVE and unit.critical and choice.pathway in DUAL_PATHWAYS
        if dual and alternative is not None and alternative.eta_s - choice.destination.eta_s <= DUAL_WITHIN_S:
            self.requests.also(self._new_request(unit, choice, alternative, now, second=True))
            self._requests_changed(alternative.hpid)

    def _new_request(
        self, unit: UnitState, choice: Choice, option: Option, now: datetime, *, second: bool = False
    ) -> Request:
        assert unit.patient_id is not None
        return Request(
            request_id=request_id(unit.unit_id, unit.advice_version, second=second),
            unit_id=unit.unit_id,
            hpid=option.hpid,
            name=option.name,
            patient_id=unit.patient_id,
            advice_version=unit.advice_version,
            pathway=choice.pathway,
            critical=unit.critical,
            eta_s=option.eta_s,
            sent_at=now,
            answer_by=now + timedelta(seconds=answer_within_s(choice.pathway)),
        )

    def _settled(self, requests: Sequence[Request]) -> None:
        """Requests withdrawn or given up on leave their centres' lists; the crew hears of its current one."""
        for request in requests:
            if request is self.requests.current(request.unit_id):
                self._told(request)
            else:
                self._requests_changed(request.hpid)

    def _answer(self, event: AnswerReceived, now: datetime) -> UnitState | None:
        try:
            answered = self.requests.answer(event.hpid, event.request_id, event.answer, event.reason, now)
        except HandshakeError as exc:
            self._out.append(Refuse(event.origin, say("answer_refused", why=str(exc))))
            return None
        request = answered.request
        if answered.first or answered.current is request:
            self._told(request)
        else:
            self._requests_changed(request.hpid)  # a second centre's no: the crew hears of its current request
        if answered.current is not None and answered.current is not request:
            self._told(answered.current)  # the other centre's request stands, now the unit's
        self._settled(answered.withdrawn)
        unit = self.units.get(request.unit_id)
        if unit is None or request.state is RequestState.SEEN:
            return unit
        self._dirty.add(unit.unit_id)
        self._replan = True  # accepted: the patient goes there, held (R-PROMISE)
        if request.state is RequestState.DECLINED:
            unit.declined.add(request.hpid)
            self._news.add(request.hpid)  # what the decline says about the centre is news for everyone
        return unit

    def _expire(self, now: datetime) -> None:
        deadline = self.requests.next_deadline()
        if deadline is None or deadline > now:
            return
        expired = self.requests.expire(now)
        self._changed.update(r.unit_id for r in expired)
        self._settled(expired)

    def _end_request(self, unit_id: str) -> None:
        requests = self.requests.forget(unit_id)
        for request in requests:
            if request.open:
                self._requests_changed(request.hpid)
        if requests:
            self._out.append(ClearRequest(unit_id))

    def _told(self, request: Request) -> None:
        """The unit hears where its request stands, and the centre's list follows."""
        self._out.append(
            TellRequest(
                request.unit_id,
                request.request_id,
                request.hpid,
                request.name,
                request.advice_version,
                request.state,
                request.reason,
                request.words(),
                request.sent_at,
                request.answer_by,
                request.answered_at,
            )
        )
        self._requests_changed(request.hpid)

    def _requests_changed(self, hpid: str) -> None:
        """The centre's list of requests changed: sent once, at the end of the batch (:meth:`_send_requests`)."""
        self._requests_dirty.add(hpid)

    def _send_requests(self) -> None:
        """Each changed centre's list of requests waiting for its answer, oldest first, at most ``REQUESTS_MAX``
        (a request beyond them goes unseen and times out: the crew goes as advised)."""
        for hpid in sorted(self._requests_dirty):
            self._out.append(
                PublishRequests(hpid, tuple(self._entry(r) for r in self.requests.pending(hpid)[:REQUESTS_MAX]))
            )
        self._requests_dirty.clear()

    def _entry(self, request: Request) -> RequestEntry:
        unit = self.units.get(request.unit_id)
        return RequestEntry(
            request.request_id,
            request.unit_id,
            request.patient_id,
            request.advice_version,
            request.pathway,
            None if unit is None else unit.severity,
            request.critical,
            request.eta_s,
            None if unit is None else unit.vitals,
            request.sent_at,
            request.answer_by,
            seen=request.state is RequestState.SEEN,
        )

    # --- pre-notification and incidents -----------------------------------------------------------------

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
            entry = InboundEntry(
                unit.unit_id, unit.patient_id, max(unit.advice_version, 1), unit.severity, eta, unit.eta_mode
            )
            self._heading[new][unit.unit_id] = (key, entry, self._now)
            self._tracked[unit.unit_id] = new
            self._inbound_dirty.add(new)

    def _inbound(self, now: datetime) -> None:
        """The pre-notification list of each centre whose list changed, at most once per
        ``INBOUND_INTERVAL_S`` (later changes wait for a later batch or tick): only units
        really heading there, the soonest arrivals first."""
        if not self._inbound_dirty:
            return
        sent = self._inbound_sent
        due = {h for h in self._inbound_dirty if h not in sent or (now - sent[h]).total_seconds() >= INBOUND_INTERVAL_S}
        self._inbound_dirty -= due
        for hpid in sorted(due):
            sent[hpid] = now
            # An entry's ETA as of now: a list goes out again when another unit changes it, and the centre counts
            # the minutes left from the list's time (the crew card from its advice's: both must say the same).
            aged = (
                replace(p, eta_s=max(0.0, p.eta_s - (now - (at or now)).total_seconds()))
                for _, p, at in self._heading[hpid].values()
            )
            held = sorted(aged, key=lambda p: (p.eta_s, p.unit_id))
            self._out.append(NotifyInbound(hpid, tuple(held[:INBOUND_MAX])))

    def _free_units(self) -> list[Unit]:
        """The units free for a call, where they last said they were."""
        return [
            Unit(u.unit_id, u.lat, u.lon, available=True)
            for u in self.units.values()
            if u.status is UnitStatus.AVAILABLE and u.lat is not None and u.lon is not None
        ]

    def _assign_incidents(self) -> None:
        """Recommend a unit for every waiting incident (jointly, by priority-weighted response time)."""
        waiting = [i for i in self.incidents.values() if i.id not in self.assigned]
        if not waiting:
            return
        for choice in assign_units(waiting, self._free_units(), self._response):
            self._out.append(
                AssignUnit(choice.incident_id, choice.unit_id, min(choice.eta_s, 86_400.0), choice.eta_mode)
            )

    @property
    def pending_inbound(self) -> bool:
        """Pre-notification lists changed but not sent yet (waiting for their turn): a tick sends them."""
        return bool(self._inbound_dirty)

    @property
    def resuming(self) -> bool:
        """Restored patients wait to be decided again (:meth:`restore` with ``advise_again``): any batch, a tick
        included, decides them."""
        return self._resume

    def due(self, now: datetime) -> bool:
        """A tick has work now: pre-notification lists waiting for their turn, or a transfer request past its
        answer time."""
        deadline = self.requests.next_deadline()
        return self.pending_inbound or (deadline is not None and deadline <= now)

    # --- decision state across a failover (dispatch.decision_state) ------------------------------------

    def snapshot(self) -> EngineState:
        """Every patient's decision state and the region's, as frozen values (:meth:`restore` takes them back)."""
        patients = tuple(self._patient_state(u) for u in sorted(self.units.values(), key=lambda u: u.unit_id))
        return EngineState(self.epoch, tuple(p for p in patients if p is not None), self._region_state())

    def changes(self) -> StateChanges:
        """The decision state of the patients that may have changed since the last call (or since :meth:`restore`),
        the units whose patient is gone, and the region's state: what a store writes after each batch."""
        states, gone = [], []
        for unit_id in sorted(self._changed):
            unit = self.units.get(unit_id)
            state = None if unit is None else self._patient_state(unit)
            if state is None:
                gone.append(unit_id)
            else:
                states.append(state)
        self._changed.clear()
        return StateChanges(tuple(states), tuple(gone), self._region_state())

    def restore(self, state: EngineState, *, advise_again: bool = False) -> None:
        """Take back a :meth:`snapshot` (or the states a store kept of :meth:`changes`), into an engine that has
        decided nothing yet. Units, patients, requests, waiting incidents and what declines and bed reports said
        come back as they were; what the bus retains (capacity, statuses, advice) comes again from the bus.

        ``advise_again``: the next batch decides again for every restored patient and publishes their advice with
        a version of this engine's epoch, even where nothing changed (a new leader's first batch: its
        predecessor may have died between storing a decision and publishing it, or a deposed leader may have
        overwritten the retained advice), and sends the centres' lists again."""
        for saved in state.patients:
            unit = self._unit(saved.unit_id)
            unit.lat, unit.lon, unit.status = saved.lat, saved.lon, saved.status
            unit.patient_id, unit.advice_version, unit.owned = saved.patient_id, saved.advice_version, saved.owned
            unit.severity, unit.vitals, unit.vitals_ts = saved.severity, saved.vitals, saved.vitals_ts
            unit.needs, unit.critical, unit.unstable = saved.needs, saved.critical, saved.unstable
            unit.declined, unit.destination, unit.definitive = set(saved.declined), saved.destination, saved.definitive
            unit.bed, unit.team, unit.holds_bed = saved.bed, saved.team, saved.holds_bed
            unit.versions = dict(saved.versions)
            unit.advised_eta_s, unit.advised_road_s, unit.eta_mode = (
                saved.advised_eta_s,
                saved.advised_road_s,
                saved.eta_mode,
            )
            if unit.lat is not None and unit.has_patient:
                unit.etas = self._etas(unit)
                unit.eta_mode = saved.eta_mode  # as advised (the fresh ETAs say their own mode next time)
            for book, request in ((self.requests.by_unit, saved.request), (self.requests.second, saved.second)):
                if request is not None:
                    book[saved.unit_id] = request
            self._track(unit)
            self._restored.add(saved.unit_id)
            if advise_again and unit.owned:
                unit.advised_eta_s = None  # told again: the same destination gets a version of this epoch
                self._dirty.add(saved.unit_id)
                self._changed.add(saved.unit_id)
                self._resume = True
        region = state.region
        for incident in region.incidents:
            self.incidents[incident.id] = incident
        for hpid, refusal in region.refusals:
            self.requests.refusals.setdefault(hpid, []).append(refusal)
        for trend in region.trends:
            self.nowcast._trends[trend.hpid] = _Trend(
                trend.available, trend.at, trend.delivered, trend.hours, trend.taken
            )
        if advise_again:
            self._requests_dirty.update(r.hpid for r in self.requests._all() if r.open)
            self._resume = self._resume or bool(region.incidents)  # their units recommended again

    def _patient_state(self, unit: UnitState) -> PatientState | None:
        if unit.patient_id is None:
            return None
        return PatientState(
            unit_id=unit.unit_id,
            patient_id=unit.patient_id,
            advice_version=unit.advice_version,
            owned=unit.owned,
            severity=unit.severity,
            vitals=unit.vitals,
            vitals_ts=unit.vitals_ts,
            needs=unit.needs,
            critical=unit.critical,
            unstable=unit.unstable,
            declined=frozenset(unit.declined),
            destination=unit.destination,
            definitive=unit.definitive,
            bed=unit.bed,
            team=unit.team,
            holds_bed=unit.holds_bed,
            versions=tuple(sorted(unit.versions.items())),
            advised_eta_s=unit.advised_eta_s,
            advised_road_s=unit.advised_road_s,
            eta_mode=unit.eta_mode,
            request=self.requests.by_unit.get(unit.unit_id),
            second=self.requests.second.get(unit.unit_id),
            status=unit.status,
            lat=unit.lat,
            lon=unit.lon,
        )

    def _region_state(self) -> RegionState:
        waiting = tuple(i for i in sorted(self.incidents.values(), key=lambda i: i.id) if i.id not in self.assigned)
        refusals = tuple((hpid, r) for hpid in sorted(self.requests.refusals) for r in self.requests.refusals[hpid])
        trends = tuple(
            TrendState(hpid, t.available, t.at, t.delivered, t.hours, t.taken)
            for hpid, t in sorted(self.nowcast._trends.items())
        )
        return RegionState(waiting, refusals, trends)


def _remember(unit: UnitState, version: int, hpid: str) -> None:
    """Keep which destination advice ``version`` named (the newest ``VERSIONS_KEPT`` of them)."""
    unit.versions[version] = hpid
    while len(unit.versions) > VERSIONS_KEPT:
        del unit.versions[min(unit.versions)]


def _finite(seconds: float) -> float | None:
    return seconds if math.isfinite(seconds) else None
