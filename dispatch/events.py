"""What the decision engine is told (:meth:`dispatch.engine.DispatchEngine.apply`): frozen dataclasses,
one per kind of event, built from MQTT payloads by :mod:`dispatch.wire` (live) or by a simulator.

The clinical vocabulary is the core's own: a vitals event carries the ``ems.vitals/1`` payload the
severity model reads (:meth:`TrainedSeverity.assess_many`), a capacity event the report the router's
:func:`dispatch.centre_view.centre_view` reads, an incident :class:`dispatch.units.Incident`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatch.roads import EtaMode
from dispatch.severity.model import Severity
from dispatch.units import Incident
from telemetry.schemas import AnswerKind, Capacity, RefusalReason, UnitStatus, Vitals


@dataclass(frozen=True, slots=True)
class Origin:
    """The message an event came in (topic and raw payload): quoted when it is refused or held."""

    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class PositionReported:
    unit_id: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class VitalsReported:
    """A patient's vitals. ``severity`` None: the engine scores them, with the rest of the batch at once."""

    unit_id: str
    vitals: Vitals
    severity: Severity | None = None
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class StatusChanged:
    unit_id: str
    status: UnitStatus
    incident_id: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionMade:
    """A crew accepts (``accept``) or declines an advice version."""

    unit_id: str
    advice_version: int
    accept: bool
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class AdviceSeen:
    """Advice this engine did not issue, or issued before a restart (retained, or another worker's).

    ``stored``: the patient's newest stored vitals (needs and crew flags are not in the advice), when the
    shell could read them; the engine scores them only if it takes the patient over."""

    unit_id: str
    advice_version: int
    patient_id: str
    destination: str
    eta_s: float
    definitive: bool
    severity: Severity | None
    eta_mode: EtaMode
    ts: datetime
    stored: Vitals | None = None


@dataclass(frozen=True, slots=True)
class CapacityReported:
    hpid: str
    capacity: Capacity


@dataclass(frozen=True, slots=True)
class IncidentReported:
    incident: Incident


@dataclass(frozen=True, slots=True)
class AnswerReceived:
    """A centre answers one of its transfer requests (the acceptance handshake): seen, accept, or decline
    with a coded reason and, optionally, words."""

    hpid: str
    request_id: str
    answer: AnswerKind
    reason: RefusalReason | None = None
    text: str | None = None
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class UnitLeft:
    """A free unit crossed into another region (:mod:`dispatch.partition`): that region's dispatcher decides for
    it from now on, and this engine forgets it (it is no longer free for this region's incidents)."""

    unit_id: str


@dataclass(frozen=True, slots=True)
class BedsHeld:
    """ER beds of border centres held by other regions' patients (the bed ledger, read by the shell before a
    plan): counted like inbound patients of this region's own. ``full``: centres where the ledger has just
    refused a bed, read as having no bed left beyond those this region's patients already hold, for the plan of
    this batch only (the ledger's report may be newer than the engine's)."""

    held: tuple[tuple[str, int], ...] = ()
    full: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class BedLost:
    """The bed ledger refused (or expired) the bed the unit's patient was to have at ``hpid``: the patient is
    decided again at once, and advised even if the plan is the same (the advice promising that bed was not
    published). The centre is not declined: the crew said nothing against it."""

    unit_id: str
    hpid: str


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed with nothing new: pre-notification lists that waited for their turn go out, and
    transfer requests past their answer time are given up on."""


Event = (
    PositionReported
    | VitalsReported
    | StatusChanged
    | DecisionMade
    | AdviceSeen
    | CapacityReported
    | IncidentReported
    | AnswerReceived
    | UnitLeft
    | BedsHeld
    | BedLost
    | Tick
)
