"""What the dashboard knows about the city, built only from the messages on the bus.

:class:`CityView` takes every message of the MQTT contract (:meth:`CityView.apply`) and keeps
the latest of each: units (status, position), advice per unit, vitals per unit (a short
history for the trend), capacity and pre-notification lists per centre, incidents and their
response times, the crews' decisions, and the acceptance handshake: each centre's transfer
requests waiting for an answer, where each unit's request stands, and the centres' answers (for the
control room's refusals by reason). It holds no MQTT and no Streamlit:
:mod:`dashboard.feed` fills it on the client's thread and hands the pages a
:meth:`CityView.snapshot`; the functions below turn a snapshot into KPI tiles and alerts.

Durations measured between two messages (call to unit on scene, arrival to handover) are
wall-clock seconds times ``clock_speed``: 1 in service, more when a simulated city runs
faster than real time (the demo).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch.router import RouterConfig
from telemetry import schemas, topics

KST = ZoneInfo("Asia/Seoul")
#: Vitals kept per unit for the trend on the crew tablet.
VITALS_KEPT = 60
#: Decisions kept for the control room's alerts.
DECISIONS_KEPT = 200
#: A centre's bed report older than this is stale: the router's half-life for bed counts (it then
#: counts half, and the crew's reason shows the report's age).
STALE_AFTER_S = RouterConfig().beds_half_life_s
#: A unit at a hospital for longer than this (city minutes) is a long offload.
LONG_OFFLOAD_MIN = 30.0
#: The response-time target the share is counted against.
TARGET_RESPONSE_MIN = 8.0
#: Centres' answers kept for the control room (one per request and kind of answer): a busy city's day.
ANSWERS_KEPT = 5000
#: A request past its time to answer stays on the control room's panel this long (by the unit's state),
#: or as long as it is still on the centre's list.
OVERDUE_SHOWN = timedelta(minutes=30)


@dataclass(frozen=True)
class UnitView:
    """One ambulance as the bus last described it."""

    id: str
    status: schemas.UnitStatus | None = None
    incident_id: str | None = None
    hpid: str | None = None
    status_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    speed_mps: float | None = None
    last_seen: datetime | None = None


@dataclass(frozen=True)
class Received:
    """A message and when the dashboard received it (the age shown to people)."""

    payload: schemas.Payload
    received_at: datetime


@dataclass(frozen=True)
class DecisionSeen:
    unit_id: str
    decision: schemas.Decision
    #: A decline of advice the crew had accepted: it drove there and had to go on.
    retransfer: bool


def silent(unit: UnitView, now: datetime, silent_after_s: float | None) -> bool:
    """A unit heard from once and not since ``silent_after_s`` (tablets report every second):
    offline for the control room even before the broker gives up on it and sends its Last Will."""
    return (
        silent_after_s is not None
        and unit.last_seen is not None
        and unit.status is not schemas.UnitStatus.OFFLINE
        and (now - unit.last_seen).total_seconds() > silent_after_s
    )


@dataclass(frozen=True)
class AnswerSeen:
    """A centre's answer to one of its transfer requests, as the bus carried it."""

    hpid: str
    answer: schemas.Answer
    received_at: datetime


#: A leading dispatcher whose status is older than this many of its heartbeats has stopped answering.
STALE_HEARTBEATS = 3


@dataclass(frozen=True)
class DispatcherSeen:
    """A region's dispatcher as its status (``ems/dispatchers/{region}/status``) last described it."""

    status: schemas.DispatcherStatus
    received_at: datetime
    #: When its ledger was first reported unreachable, while it still is (in this leader's term); None: reachable.
    ledger_down_since: datetime | None = None


@dataclass
class CityView:
    """The latest state of everything on the bus. Not thread-safe: the feed holds a lock."""

    units: dict[str, UnitView] = field(default_factory=dict)
    advice: dict[str, Received] = field(default_factory=dict)
    vitals: dict[str, deque[schemas.Vitals]] = field(default_factory=dict)
    capacity: dict[str, Received] = field(default_factory=dict)
    inbound: dict[str, schemas.Inbound] = field(default_factory=dict)
    incidents: dict[str, schemas.Incident] = field(default_factory=dict)
    assignments: dict[str, schemas.Assignment] = field(default_factory=dict)
    #: Call to first unit on scene, in wall-clock seconds, per incident.
    responses_s: dict[str, tuple[datetime, float]] = field(default_factory=dict)
    decisions: deque[DecisionSeen] = field(default_factory=lambda: deque(maxlen=DECISIONS_KEPT))
    #: (unit, advice version) the crew accepted: a later decline of it is a re-transfer.
    accepted: set[tuple[str, int]] = field(default_factory=set)
    #: The newest refusal or notice the dispatcher sent each unit (``ems/units/{unit}/rejected``).
    refusals: dict[str, Received] = field(default_factory=dict)
    #: Each centre's transfer requests waiting for its answer (``ems.requests/1``), by HPID.
    requests: dict[str, Received] = field(default_factory=dict)
    #: Where each unit's transfer request stands (``ems.request/1``), by unit.
    unit_requests: dict[str, Received] = field(default_factory=dict)
    #: The centres' answers, one per (HPID, request, kind of answer): a repeated message or a second tap
    #: counts once. Oldest first, at most :data:`ANSWERS_KEPT`.
    answers: dict[tuple[str, str, str], AnswerSeen] = field(default_factory=dict)
    #: Each region's dispatcher (``ems.dispatcher_status/1``), by the id in its topic.
    dispatchers: dict[str, DispatcherSeen] = field(default_factory=dict)
    rejected: int = 0
    ignored: int = 0
    messages: int = 0

    def apply(self, topic: str, raw: bytes, now: datetime) -> None:
        """Take one message. Anything outside the contract or malformed is counted, not kept
        (the dispatcher and the recorder report it on ``ems/rejected/...``)."""
        self.messages += 1
        try:
            parsed = topics.parse(topic)
            if not raw:  # a cleared retained message
                self._clear(parsed)
                return
            payload = schemas.decode(parsed.kind, raw)
        except (topics.TopicError, schemas.PayloadError):
            self.ignored += 1
            return
        key = parsed.key
        if isinstance(payload, schemas.Position):
            unit = self._unit(key)
            self.units[key] = replace(
                unit, lat=payload.lat, lon=payload.lon, speed_mps=payload.speed_mps, last_seen=now
            )
        elif isinstance(payload, schemas.Status):
            self._status(key, payload, now)
        elif isinstance(payload, schemas.Vitals):
            history = self.vitals.setdefault(key, deque(maxlen=VITALS_KEPT))
            if history and history[-1].patient_id != payload.patient_id:
                history.clear()  # a new patient: the trend starts over
            history.append(payload)
        elif isinstance(payload, schemas.Advice):
            held = self.advice.get(key)
            if held is None or not _is_newer(held.payload, payload):
                self.advice[key] = Received(payload, now)
        elif isinstance(payload, schemas.Decision):
            self._decision(key, payload)
        elif isinstance(payload, schemas.Capacity):
            self.capacity[key] = Received(payload, now)
        elif isinstance(payload, schemas.Inbound):
            self.inbound[key] = payload
        elif isinstance(payload, schemas.Incident):
            self.incidents[key] = payload
        elif isinstance(payload, schemas.Assignment):
            self.assignments[key] = payload
        elif isinstance(payload, schemas.Rejected) and parsed.kind is topics.Kind.REJECTED:
            self.rejected += 1  # a unit's copy on ems/units/{unit}/rejected is not counted twice
        elif isinstance(payload, schemas.Rejected):
            self.refusals[key] = Received(payload, now)  # the unit's own copy: its tablet shows why
        elif isinstance(payload, schemas.Requests):
            self.requests[key] = Received(payload, now)
        elif isinstance(payload, schemas.UnitRequest):
            held = self.unit_requests.get(key)
            if held is None or not _is_later_state(held.payload, payload):
                self.unit_requests[key] = Received(payload, now)
        elif isinstance(payload, schemas.Answer):
            self._answer(key, payload, now)
        elif isinstance(payload, schemas.DispatcherStatus):
            self._dispatcher(key, payload, now)

    def _unit(self, key: str) -> UnitView:
        return self.units.get(key) or UnitView(key)

    def _clear(self, parsed: topics.Topic) -> None:
        if parsed.kind is topics.Kind.ADVICE:
            self.advice.pop(parsed.key, None)
        elif parsed.kind is topics.Kind.INBOUND:
            self.inbound.pop(parsed.key, None)
        elif parsed.kind is topics.Kind.REQUESTS:
            self.requests.pop(parsed.key, None)
        elif parsed.kind is topics.Kind.REQUEST_STATE:
            self.unit_requests.pop(parsed.key, None)
        elif parsed.kind is topics.Kind.DISPATCHER_STATUS:
            self.dispatchers.pop(parsed.key, None)

    def _dispatcher(self, key: str, payload: schemas.DispatcherStatus, now: datetime) -> None:
        held = self.dispatchers.get(key)
        if held is not None and held.status.epoch > payload.epoch and held.status.since >= payload.since:
            return  # an earlier leader's word (its Last Will) arriving after its successor's
        unreachable = payload.state is schemas.DispatcherState.LEADING and (
            payload.ledger is schemas.LedgerState.UNREACHABLE
        )
        down_since = None
        if unreachable:
            same_term = held is not None and held.status.epoch == payload.epoch
            down_since = (held.ledger_down_since if same_term and held is not None else None) or payload.ts
        self.dispatchers[key] = DispatcherSeen(payload, now, down_since)

    def _answer(self, hpid: str, answer: schemas.Answer, now: datetime) -> None:
        key = (hpid, answer.request_id, answer.answer.value)
        if key in self.answers:
            return  # a copy (QoS 1 delivers at least once) or the same answer tapped twice
        self.answers[key] = AnswerSeen(hpid, answer, now)
        while len(self.answers) > ANSWERS_KEPT:
            del self.answers[next(iter(self.answers))]

    def _status(self, key: str, payload: schemas.Status, now: datetime) -> None:
        unit = self._unit(key)
        offline = payload.status is schemas.UnitStatus.OFFLINE
        self.units[key] = replace(
            unit,
            status=payload.status,
            incident_id=payload.incident_id,
            hpid=payload.hpid,
            # A Last Will is written when the unit connects: it went offline when the broker sent it.
            status_at=now if offline else payload.ts,
            last_seen=unit.last_seen if offline else now,
        )
        incident = self.incidents.get(payload.incident_id or "")
        on_scene = payload.status is schemas.UnitStatus.ON_SCENE
        if on_scene and incident is not None and payload.incident_id not in self.responses_s:
            seconds = (payload.ts - incident.ts).total_seconds()
            self.responses_s[payload.incident_id or ""] = (incident.ts, max(0.0, seconds))
        if payload.status is schemas.UnitStatus.AVAILABLE:
            self.vitals.pop(key, None)  # the patient was handed over

    def _decision(self, key: str, payload: schemas.Decision) -> None:
        version = (key, payload.advice_version)
        if payload.decision is schemas.DecisionKind.ACCEPT:
            self.accepted.add(version)
            retransfer = False
        else:
            retransfer = version in self.accepted
        self.decisions.append(DecisionSeen(key, payload, retransfer))

    def snapshot(self) -> CityView:
        """A copy the pages can read while the feed goes on (payloads are immutable)."""
        return CityView(
            units=dict(self.units),
            advice=dict(self.advice),
            vitals={k: deque(v, maxlen=VITALS_KEPT) for k, v in self.vitals.items()},
            capacity=dict(self.capacity),
            inbound=dict(self.inbound),
            incidents=dict(self.incidents),
            assignments=dict(self.assignments),
            responses_s=dict(self.responses_s),
            decisions=deque(self.decisions, maxlen=DECISIONS_KEPT),
            accepted=set(self.accepted),
            refusals=dict(self.refusals),
            requests=dict(self.requests),
            unit_requests=dict(self.unit_requests),
            answers=dict(self.answers),
            dispatchers=dict(self.dispatchers),
            rejected=self.rejected,
            ignored=self.ignored,
            messages=self.messages,
        )


def _is_newer(held: schemas.Payload, new: schemas.Payload) -> bool:
    """True when ``held`` is newer advice for the same patient than ``new`` (an out-of-order copy)."""
    assert isinstance(held, schemas.Advice) and isinstance(new, schemas.Advice)
    return held.patient_id == new.patient_id and held.advice_version > new.advice_version


def _is_later_state(held: schemas.Payload, new: schemas.Payload) -> bool:
    """True when ``held`` says later where the same request stands than ``new`` (an out-of-order copy)."""
    assert isinstance(held, schemas.UnitRequest) and isinstance(new, schemas.UnitRequest)
    return held.request_id == new.request_id and held.ts > new.ts


# --- what the pages show ---------------------------------------------------------------------


@dataclass(frozen=True)
class Kpis:
    response_p90_min: float | None
    within_target: float | None  # share of responses within TARGET_RESPONSE_MIN
    responses: int
    retransfers_today: int
    ed_occupied: int
    ed_total: int
    overcrowded: int  # centres reporting an overcrowded ER

    @property
    def ed_load(self) -> float | None:
        return self.ed_occupied / self.ed_total if self.ed_total else None


def today_start(now: datetime) -> datetime:
    """Midnight in Korea, the start of the control room's day."""
    local = now.astimezone(KST)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def kpis(view: CityView, now: datetime, *, clock_speed: float = 1.0) -> Kpis:
    """The KPI tiles: today's responses and re-transfers, the ED load of the latest reports."""
    since = today_start(now)
    minutes = sorted(s * clock_speed / 60.0 for at, s in view.responses_s.values() if at >= since)
    p90 = _percentile(minutes, 0.9) if minutes else None
    within = sum(m <= TARGET_RESPONSE_MIN for m in minutes) / len(minutes) if minutes else None
    retransfers = sum(d.retransfer and d.decision.ts >= since for d in view.decisions)
    occupied = total = overcrowded = 0
    for received in view.capacity.values():
        assert isinstance(received.payload, schemas.Capacity)
        er = received.payload.beds.get(schemas.BedType.ER_GENERAL)
        if er is None or er.total is None or er.available is None:
            continue
        total += er.total
        occupied += max(0, er.total - er.available)
        overcrowded += er.overcrowded
    return Kpis(p90, within, len(minutes), retransfers, occupied, total, overcrowded)


def _percentile(ordered: list[float], q: float) -> float:
    """Linear-interpolated percentile of sorted values (numpy's default)."""
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class AlertKind:
    NO_DEFINITIVE = "no_definitive"  # the unit's advice: no definitive care within reach, stabilise
    STALE_CENTRE = "stale_centre"
    DECLINED = "declined"
    LONG_OFFLOAD = "long_offload"
    OFFLINE = "offline"
    SILENT = "silent"
    #: A region's dispatcher stopped (or died: its Last Will): no advice goes out until a standby takes over.
    DISPATCHER_OFFLINE = "dispatcher_offline"
    #: A region's dispatcher leads but its heartbeat is older than :data:`STALE_HEARTBEATS` beats.
    DISPATCHER_STALE = "dispatcher_stale"
    #: A region's border-bed ledger cannot be reached: it may promise a bed another region promised.
    LEDGER_DOWN = "ledger_down"


@dataclass(frozen=True)
class Alert:
    kind: str
    subject: str  # a unit id, an HPID, or a dispatcher's region
    #: how long (data age, offload time, time offline, time since the decline or the advice)
    minutes: float
    detail: str = ""  # the decline's reason, the centre of an offload, the pathway of a non-definitive advice
    #: Which occurrence of the condition this is (when it began, or the message that raised it): an acknowledgement
    #: holds while it stays the same. A new decline, a centre's report stale again, a unit silent again: new ones.
    condition: str = ""


def beds_age_s(capacity: schemas.Capacity, now: datetime) -> float:
    """Age of the ER bed report (the capacity's own time when the beds carry none)."""
    return max(0.0, (now - beds_reported_at(capacity)).total_seconds())


def beds_reported_at(capacity: schemas.Capacity) -> datetime:
    """When the ER beds were last reported (the capacity's own time when the beds carry none)."""
    er = capacity.beds.get(schemas.BedType.ER_GENERAL)
    return (er.updated_at if er is not None else None) or capacity.updated_at


def alerts(
    view: CityView,
    now: datetime,
    *,
    clock_speed: float = 1.0,
    declined_within: timedelta = timedelta(minutes=30),
    silent_after_s: float | None = None,
    centres: Collection[str] | None = None,
) -> list[Alert]:
    """What needs a dispatcher's eye, the most urgent kinds first. With ``centres`` (the HPIDs of the city's
    scenario), only those centres' reports can raise an alert: a capacity feed carrying the whole country would
    otherwise bury the city's own alerts under hundreds of stale reports from elsewhere."""
    found = dispatcher_alerts(view, now)
    for key, unit in sorted(view.units.items()):
        if silent(unit, now, silent_after_s):
            assert unit.last_seen is not None
            minutes = (now - unit.last_seen).total_seconds() / 60.0
            found.append(Alert(AlertKind.SILENT, key, minutes, condition=unit.last_seen.isoformat()))
            continue
        since = unit.status_at
        if since is None:
            continue
        minutes = (now - since).total_seconds() / 60.0
        if unit.status is schemas.UnitStatus.OFFLINE:
            found.append(Alert(AlertKind.OFFLINE, key, minutes, condition=since.isoformat()))
        elif unit.status is schemas.UnitStatus.AT_HOSPITAL and minutes * clock_speed > LONG_OFFLOAD_MIN:
            found.append(
                Alert(AlertKind.LONG_OFFLOAD, key, minutes * clock_speed, unit.hpid or "", condition=since.isoformat())
            )
    for key, received in sorted(view.advice.items()):
        advice = received.payload
        assert isinstance(advice, schemas.Advice)
        status = view.units[key].status if key in view.units else None
        if not advice.definitive and status is not schemas.UnitStatus.AVAILABLE:
            age_min = max(0.0, (now - advice.ts).total_seconds()) / 60.0
            # The same patient going to the same centre is the same condition, whatever the advice's version.
            condition = f"{advice.patient_id}>{advice.destination.hpid}"
            found.append(Alert(AlertKind.NO_DEFINITIVE, key, age_min, advice.pathway or "", condition=condition))
    for seen in reversed(view.decisions):
        decision, age = seen.decision, now - seen.decision.ts
        if decision.decision is schemas.DecisionKind.DECLINE and age <= declined_within:
            minutes, reason = age.total_seconds() / 60.0, decision.reason or ""
            found.append(Alert(AlertKind.DECLINED, seen.unit_id, minutes, reason, condition=decision.msg_id))
    for hpid, received in sorted(view.capacity.items()):
        if centres is not None and hpid not in centres:
            continue
        assert isinstance(received.payload, schemas.Capacity)
        stale_s = beds_age_s(received.payload, now)
        if stale_s > STALE_AFTER_S:
            reported = beds_reported_at(received.payload).isoformat()
            found.append(Alert(AlertKind.STALE_CENTRE, hpid, stale_s / 60.0, condition=reported))
    return sorted(found, key=lambda a: ALERT_ORDER.index(a.kind))


def dispatcher_alerts(view: CityView, now: datetime) -> list[Alert]:
    """The regions' dispatchers: stopped or gone (urgent), silent for more than :data:`STALE_HEARTBEATS` heartbeats
    (urgent), or leading without their border-bed ledger (a warning, with the ledger's error as the detail). The
    subject is the region; the condition the leader's term (and when it went silent, or lost the ledger)."""
    found: list[Alert] = []
    for _, seen in sorted(view.dispatchers.items()):
        status = seen.status
        term = f"{status.epoch}@{status.since.isoformat()}"
        if status.state is schemas.DispatcherState.OFFLINE:
            # A Last Will is written when the leader connects: it went offline when the broker sent it.
            minutes = max(0.0, (now - seen.received_at).total_seconds()) / 60.0
            found.append(Alert(AlertKind.DISPATCHER_OFFLINE, status.region, minutes, condition=term))
            continue
        silent_s = (now - status.ts).total_seconds()
        if silent_s > STALE_HEARTBEATS * status.heartbeat_s:
            condition = f"{term}>{status.ts.isoformat()}"
            found.append(Alert(AlertKind.DISPATCHER_STALE, status.region, silent_s / 60.0, condition=condition))
            continue
        if status.ledger is schemas.LedgerState.UNREACHABLE:
            since = seen.ledger_down_since or status.ts
            minutes = max(0.0, (now - since).total_seconds()) / 60.0
            condition = f"{term}>{since.isoformat()}"
            found.append(Alert(AlertKind.LEDGER_DOWN, status.region, minutes, status.detail or "", condition=condition))
    return found


@dataclass(frozen=True)
class AlertGroup:
    """The alerts of one kind about one subject, as one line: a unit's declines together, the units held at one
    centre's door together (``subject`` is then the centre and ``units`` the units)."""

    kind: str
    subject: str  # a unit id or an HPID
    #: The newest member's age (a decline, the advice), or the longest (an offload, time offline, data age).
    minutes: float
    detail: str  # the newest member's detail
    count: int
    units: tuple[str, ...] = ()
    #: Changes when any member's condition does (a new decline, one more unit held at the door): an acknowledgement
    #: is kept under this key, so a changed condition is shown again.
    key: str = ""


#: Alert kinds grouped by centre rather than by their subject (the unit): their detail is the centre.
BY_CENTRE = (AlertKind.LONG_OFFLOAD,)
#: Alert kinds whose newest member is the one to show (its age and detail); the others show the longest.
NEWEST_FIRST = (AlertKind.DECLINED, AlertKind.NO_DEFINITIVE)


def group_alerts(found: Sequence[Alert]) -> list[AlertGroup]:
    """One line per kind and subject (per kind and centre for a long offload) with a count, in the order of
    :func:`alerts` (the most urgent kinds first)."""
    groups: dict[tuple[str, str], list[Alert]] = {}
    for alert in found:
        subject = alert.detail if alert.kind in BY_CENTRE and alert.detail else alert.subject
        groups.setdefault((alert.kind, subject), []).append(alert)
    grouped = []
    for (kind, subject), members in groups.items():
        shown = min(members, key=lambda a: a.minutes) if kind in NEWEST_FIRST else max(members, key=lambda a: a.minutes)
        units = tuple(sorted({a.subject for a in members})) if kind in BY_CENTRE else ()
        key = f"{kind}|{subject}|" + ",".join(sorted(f"{a.subject}@{a.condition}" for a in members))
        grouped.append(AlertGroup(kind, subject, shown.minutes, shown.detail, len(members), units, key))
    return grouped


# --- the unit board ----------------------------------------------------------------------------

#: The board's and the map's status of a unit heard from once and not since (:func:`silent`): no answer, drawn
#: like an offline unit, never as the status it last sent (a silent unit "available" may not be).
SILENT = "silent"


def shown_status(unit: UnitView, now: datetime, silent_after_s: float | None) -> str:
    """The status the control room shows for ``unit``: :data:`SILENT` when it went quiet, else its own
    (``unknown`` before its first status)."""
    if silent(unit, now, silent_after_s):
        return SILENT
    return unit.status.value if unit.status is not None else "unknown"


@dataclass(frozen=True)
class BoardRow:
    """One line of the unit board."""

    unit_id: str
    status: str  # :func:`shown_status`
    incident_id: str
    #: Where it is heading (the advice's centre while busy) or the centre it reported being at.
    destination_hpid: str | None
    destination_name: str | None  # the advice's name for it, when it came from the advice
    eta_s: float | None  # the advice's ETA, as of ``advised_at``
    advised_at: datetime | None
    last_seen_s: float | None  # since anything was heard from it


def unit_board(view: CityView, now: datetime, *, silent_after_s: float | None = None) -> list[BoardRow]:
    """The unit board, by unit id; a silent unit shows as :data:`SILENT`, as the map draws it."""
    rows = []
    for unit in sorted(view.units.values(), key=lambda u: u.id):
        received = view.advice.get(unit.id)
        advice = received.payload if received is not None else None
        busy = unit.status not in (schemas.UnitStatus.AVAILABLE, None)
        hpid: str | None = unit.hpid
        name: str | None = None
        eta: float | None = None
        advised_at: datetime | None = None
        if busy and isinstance(advice, schemas.Advice):
            hpid, name, eta = advice.destination.hpid, advice.destination.name, advice.destination.eta_s
            advised_at = advice.ts
        seen = (now - unit.last_seen).total_seconds() if unit.last_seen is not None else None
        status = shown_status(unit, now, silent_after_s)
        rows.append(BoardRow(unit.id, status, unit.incident_id or "", hpid, name, eta, advised_at, seen))
    return rows


#: Alert kinds, the most urgent first: a region's dispatcher down or silent (no advice for any of its crews), a
#: patient with no definitive care within reach (the control room arranges what comes after stabilisation), then
#: units out of contact, then declined advice, then a region deciding without its border-bed ledger.
ALERT_ORDER = (
    AlertKind.DISPATCHER_OFFLINE,
    AlertKind.DISPATCHER_STALE,
    AlertKind.NO_DEFINITIVE,
    AlertKind.OFFLINE,
    AlertKind.SILENT,
    AlertKind.DECLINED,
    AlertKind.LEDGER_DOWN,
    AlertKind.LONG_OFFLOAD,
    AlertKind.STALE_CENTRE,
)


# --- the acceptance handshake ------------------------------------------------------------------


def pending_requests(view: CityView, hpid: str) -> tuple[schemas.TransferRequest, ...]:
    """The centre's transfer requests waiting for its answer, oldest first (as the dispatcher lists them)."""
    received = view.requests.get(hpid)
    payload = received.payload if received is not None else None
    return payload.requests if isinstance(payload, schemas.Requests) else ()


def unit_request(view: CityView, unit: str, hpid: str | None = None) -> schemas.UnitRequest | None:
    """Where the unit's transfer request stands; with ``hpid``, only a request to that centre (the advice's
    destination: the advice gets new versions as its ETA moves, while its request stands)."""
    received = view.unit_requests.get(unit)
    request = received.payload if received is not None else None
    if not isinstance(request, schemas.UnitRequest):
        return None
    return request if hpid is None or request.hpid == hpid else None


#: A request's states in which the crew is still waiting for the centre.
WAITING = (schemas.RequestState.SENT, schemas.RequestState.SEEN)


@dataclass(frozen=True)
class OverdueRequest:
    """A transfer request not answered by its ``answer_by``."""

    request_id: str
    hpid: str
    unit_id: str | None
    #: sent or seen (still waiting), or no_answer (the dispatcher gave up on it and the crew went on)
    state: schemas.RequestState
    name: str | None
    waited_s: float  # since it was sent (until now)
    over_s: float  # past its answer_by


def overdue_requests(view: CityView, now: datetime, *, shown_for: timedelta = OVERDUE_SHOWN) -> list[OverdueRequest]:
    """Requests waiting past their time to answer, the longest overdue first: those still on a centre's
    list, and those the units' states show waiting or given up on within ``shown_for``."""
    found: dict[str, OverdueRequest] = {}
    for hpid in sorted(view.requests):
        for r in pending_requests(view, hpid):
            if r.answer_by < now:
                state = schemas.RequestState.SEEN if r.seen else schemas.RequestState.SENT
                found[r.request_id] = OverdueRequest(
                    r.request_id, hpid, r.unit_id, state, None, _seconds(r.sent_at, now), _seconds(r.answer_by, now)
                )
    for unit, received in sorted(view.unit_requests.items()):
        u = received.payload
        if not isinstance(u, schemas.UnitRequest) or u.answer_by >= now:
            continue
        if u.state not in (*WAITING, schemas.RequestState.NO_ANSWER):
            found.pop(u.request_id, None)  # answered or withdrawn: the centre's list is not updated yet
        elif u.request_id in found or now - u.answer_by <= shown_for:
            found[u.request_id] = OverdueRequest(
                u.request_id, u.hpid, unit, u.state, u.name, _seconds(u.sent_at, now), _seconds(u.answer_by, now)
            )
    return sorted(found.values(), key=lambda o: (-o.over_s, o.request_id))


def _seconds(since: datetime, now: datetime) -> float:
    return max(0.0, (now - since).total_seconds())


def answers_today(view: CityView, now: datetime) -> list[AnswerSeen]:
    """The centres' answers given since midnight in Korea (by the answer's own time), oldest first."""
    since = today_start(now)
    return sorted((a for a in view.answers.values() if a.answer.ts >= since), key=lambda a: a.answer.ts)


def refusals_today(view: CityView, now: datetime) -> dict[str, dict[schemas.RefusalReason, int]]:
    """Today's declines per centre and reason (the national refusal statistics' categories), each request
    counted once per centre."""
    counts: dict[str, dict[schemas.RefusalReason, int]] = {}
    for seen in answers_today(view, now):
        answer = seen.answer
        if answer.answer is schemas.AnswerKind.DECLINE and answer.reason is not None:
            by_reason = counts.setdefault(seen.hpid, dict.fromkeys(schemas.RefusalReason, 0))
            by_reason[answer.reason] += 1
    return counts
