"""The simulated city as policies see it: centres (beds, teams, reports), units, calls, ETAs.

The engine (:mod:`simulations.engine`) changes this state as simulated time goes on; a policy
(:mod:`simulations.policies`) reads it to decide. What a policy may know is the policy's own
business: the baselines read only the static facts (where centres are, what they are
designated for, which ER is closed); GoldenTime reads the centres' posted reports (as its
dispatcher reads ``ems/hospitals/+/capacity``) and the patients already on their way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dispatch.pathways import PATHWAYS, Designation, Item, Pathway, PathwaySpec, pathways_of
from dispatch.scenario import Centre, Prepared
from dispatch.units import ResponseTimes, Unit
from simulations.config import SimConfig
from simulations.patients import SimPatient
from telemetry import schemas

#: Simulated time 0 (a Monday, midnight, Korea time written as UTC: only the clock matters).
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)


def _reported() -> dict[Pathway, tuple[schemas.Condition | schemas.Equipment, ...]]:
    found = {}
    for spec in PATHWAYS.values():
        items = tuple(i for i in spec.items() if isinstance(i, schemas.Condition | schemas.Equipment))
        if items:
            found[spec.pathway] = items
    return found


#: Teams a centre reports, and the E-Gen items (conditions, equipment) it reports them under: the
#: items of the pathway's tiers (dispatch.pathways), so the router reads what the simulator means.
REPORTED: Mapping[Pathway, tuple[schemas.Condition | schemas.Equipment, ...]] = _reported()
#: The pathways whose team each item (designations aside) stands for: a centre has the item while one
#: of them is available there.
_TEAMS_OF: Mapping[Item, frozenset[Pathway]] = {
    item: frozenset(other.pathway for other in PATHWAYS.values() if item in other.items())
    for spec in PATHWAYS.values()
    for item in spec.items()
    if not isinstance(item, Designation)
}
#: Pathways no E-Gen item reports a team for (resuscitation bays, trauma centres, paediatric beds, the
#: regional designation): always staffed where designated.
ALWAYS_ON = frozenset(pathway for pathway in Pathway if pathway not in REPORTED)


@dataclass
class CentreState:
    centre: Centre
    beds: int
    designated: frozenset[Pathway]
    closed: bool = False
    on_duty: frozenset[Pathway] = frozenset()  # designated teams staffed in this shift
    occupancy: int = 0
    peak: int = 0
    area: float = 0.0  # occupancy x seconds, for the time-weighted mean
    since: float = 0.0
    arrivals: int = 0
    refusals: int = 0
    report: schemas.Capacity | None = None  # the latest posted report

    @property
    def hpid(self) -> str:
        return self.centre.hpid

    def available(self) -> frozenset[Pathway]:
        return (self.designated & ALWAYS_ON) | self.on_duty

    def treats(self, patient: SimPatient) -> bool:
        """Definitive care for this patient here now, as the pathway table means it: an open ER on
        one of the tiers of every pathway the patient is on (the general critical pathway, a
        regional or local centre, for a KTAS 1-2 patient without a crew flag), and never a level 3-4
        centre for a KTAS 1-2 patient; cardiac arrest: any open ER."""
        if self.closed:
            return False
        if any(PATHWAYS[p].nearest_open_er for p in patient.needs):
            return True
        if patient.ktas <= 2 and self.centre.level > 2:
            return False
        pathways = patient.needs or pathways_of({}, critical=patient.ktas <= 2)
        return all(self.on_a_tier(PATHWAYS[p]) for p in pathways)

    def on_a_tier(self, spec: PathwaySpec) -> bool:
        """On one of the pathway's tiers (none: any open ER): every group met by an item it has now."""
        return not spec.tiers or any(
            all(any(self.has(item) for item in group) for group in tier.groups) for tier in spec.tiers
        )

    def has(self, item: Item) -> bool:
        """What the centre really has now (the truth its reports may lag)."""
        if item is Designation.REGIONAL_OR_LOCAL:
            return self.centre.level <= 2
        if item is Designation.TRAUMA_CENTRE:
            return Pathway.MAJOR_TRAUMA in self.available()
        return bool(_TEAMS_OF.get(item, frozenset()) & self.available())

    def has_bed(self) -> bool:
        return self.occupancy < self.beds

    def change(self, now: float, delta: int) -> None:
        self.area += self.occupancy * (now - self.since)
        self.since = now
        self.occupancy += delta
        self.peak = max(self.peak, self.occupancy)

    def post_report(self, now: float) -> None:
        """Post beds and teams as E-Gen would show them (``ems.capacity/1``)."""
        at = EPOCH + timedelta(seconds=now)
        over = self.occupancy - self.beds
        er = schemas.BedCount(
            available=0 if over >= 2 else max(0, -over), total=self.beds, overcrowded=over >= 2, updated_at=at
        )
        conditions: dict[schemas.Condition, schemas.Capability] = {
            schemas.Condition.ER_OPEN: schemas.Capability(available=not self.closed, updated_at=at)
        }
        equipment: dict[schemas.Equipment, schemas.Capability] = {}
        for items in REPORTED.values():
            for item in items:
                state = schemas.Capability(available=self.has(item), updated_at=at)
                if isinstance(item, schemas.Condition):
                    conditions[item] = state
                else:
                    equipment[item] = state
        self.report = schemas.Capacity.new(
            beds={schemas.BedType.ER_GENERAL: er}, equipment=equipment, conditions=conditions, updated_at=at
        )


@dataclass
class SimUnit:
    """An ambulance: where it is (moving in a straight line between two points over a time
    window, for positions between events) and whether it can take a call."""

    id: str
    base: tuple[float, float]
    free: bool = True
    leg: tuple[float, float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        self.park(*self.base)

    def park(self, lat: float, lon: float) -> None:
        self.leg = (lat, lon, lat, lon, 0.0, 0.0)

    def move(self, to: tuple[float, float], start: float, end: float, now: float) -> None:
        lat, lon = self.position(now)
        self.leg = (lat, lon, to[0], to[1], start, end)

    def position(self, now: float) -> tuple[float, float]:
        lat0, lon0, lat1, lon1, t0, t1 = self.leg
        if now >= t1 or t1 <= t0:
            return lat1, lon1
        share = max(0.0, (now - t0) / (t1 - t0))
        return lat0 + (lat1 - lat0) * share, lon0 + (lon1 - lon0) * share

    def as_unit(self, now: float) -> Unit:
        lat, lon = self.position(now)
        return Unit(self.id, lat, lon, available=self.free)


@dataclass(frozen=True)
class Call:
    id: int
    t: float
    lat: float
    lon: float
    patient: SimPatient

    @property
    def priority(self) -> int:
        """The call-taker's priority: the triage nurse's KTAS stands in for it (the same for every policy)."""
        return self.patient.ktas_nurse or 3

    @property
    def category(self) -> str:
        """What the call-taker writes down: the patient's first pathway, else "medical"."""
        return min((n.value for n in self.patient.needs), default="medical")


@dataclass(frozen=True)
class Trip:
    """A patient on board who needs a destination: from where, and the centres already tried."""

    unit_id: str
    call: Call
    lat: float
    lon: float
    tried: frozenset[str]
    at: str | None = None  # the centre whose door the ambulance is at (it refused), None: the scene


@dataclass(frozen=True)
class Ask:
    """A transfer request a policy's advice sent a centre for a unit's patient (the acceptance handshake): the
    simulator has the centre answer it (:class:`Reply`), by the acceptance model, unless the answer would come
    after ``answer_within_s``. Times are simulated seconds."""

    unit_id: str
    request_id: str
    hpid: str
    sent_at: float
    answer_within_s: float  # the request's answer time (answer_by - sent_at): later, the crew goes as advised

    @property
    def answer_by(self) -> float:
        return self.sent_at + self.answer_within_s


@dataclass(frozen=True)
class Reply:
    """What a centre answers a transfer request: accept, or decline with a coded reason. What it says, nothing of
    why (no policy sees inside the acceptance model)."""

    accepted: bool
    reason: schemas.RefusalReason | None = None


@dataclass
class World:
    prepared: Prepared
    config: SimConfig
    response: ResponseTimes
    centres: dict[str, CentreState]
    units: dict[str, SimUnit]
    now: float = 0.0
    inbound: dict[str, int] = field(default_factory=dict)  # centre -> units driving there now
    _centre_etas: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def now_dt(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now)

    def open_centres(self) -> list[CentreState]:
        return [c for c in self.centres.values() if not c.closed]

    def etas(self, lat: float, lon: float) -> dict[str, float]:
        """Driving seconds from a point to every centre (road index, or approximate)."""
        etas = self.prepared.index.etas(lat, lon)
        return dict(zip(etas.target_ids, etas.seconds.tolist(), strict=True))

    def etas_from_centre(self, hpid: str) -> dict[str, float]:
        if hpid not in self._centre_etas:
            centre = self.centres[hpid].centre
            self._centre_etas[hpid] = self.etas(centre.lat, centre.lon)
        return self._centre_etas[hpid]

    def etas_for(self, trip: Trip) -> dict[str, float]:
        """From the scene, or from the door of the last centre that refused."""
        return self.etas_from_centre(trip.at) if trip.at is not None else self.etas(trip.lat, trip.lon)
