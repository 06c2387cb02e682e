"""What the decision engine asks for (:meth:`dispatch.engine.DispatchEngine.apply`): frozen dataclasses,
turned into MQTT messages by :mod:`dispatch.wire` (live) or executed by a simulator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatch.events import Origin
from dispatch.explain import Text
from dispatch.pathways import Pathway
from dispatch.roads import EtaMode
from dispatch.router import Option
from dispatch.severity.model import Severity
from telemetry.schemas import RefusalReason, RequestState, Vitals


@dataclass(frozen=True, slots=True)
class Advise:
    """Where the unit takes its patient, and why (a new advice version)."""

    unit_id: str
    advice_version: int
    patient_id: str
    destination: Option
    alternatives: tuple[Option, ...]
    severity: Severity | None
    eta_mode: EtaMode
    pathway: Pathway | None
    definitive: bool


@dataclass(frozen=True, slots=True)
class ClearAdvice:
    """The trip is over: the unit's advice is withdrawn."""

    unit_id: str


@dataclass(frozen=True, slots=True)
class InboundEntry:
    """One patient on a centre's pre-notification list."""

    unit_id: str
    patient_id: str | None
    advice_version: int
    severity: Severity | None
    eta_s: float
    eta_mode: EtaMode


@dataclass(frozen=True, slots=True)
class NotifyInbound:
    """A centre's pre-notification list: the units really heading there, soonest first."""

    hpid: str
    patients: tuple[InboundEntry, ...]


@dataclass(frozen=True, slots=True)
class AssignUnit:
    """The unit recommended for an incident."""

    incident_id: str
    unit_id: str
    eta_s: float
    eta_mode: EtaMode


@dataclass(frozen=True, slots=True)
class Refuse:
    """A message refused, with the reason (Korean, English): reported to the operators and, when a unit
    sent it (``unit_id``, or the unit of the origin's topic), to that unit. ``decision``: a crew's decision
    on advice that changed (or never was). ``origin`` None: an event that came with no message."""

    origin: Origin | None
    reason: Text
    unit_id: str | None = None
    decision: bool = False


@dataclass(frozen=True, slots=True)
class NoticeToUnit:
    """A unit's own message was kept but not acted on yet; the reason says why."""

    unit_id: str
    origin: Origin | None
    reason: Text


@dataclass(frozen=True, slots=True)
class RequestEntry:
    """One transfer request on a centre's list: who is coming, how sick, when, and by when to answer."""

    request_id: str
    unit_id: str
    patient_id: str
    advice_version: int
    pathway: Pathway | None
    severity: Severity | None
    critical: bool
    eta_s: float
    vitals: Vitals | None  # the newest vitals (key signs, complaint and the crew's note are read from them)
    sent_at: datetime
    answer_by: datetime
    seen: bool = False


@dataclass(frozen=True, slots=True)
class PublishRequests:
    """A centre's transfer requests waiting for its answer, oldest first (empty: none)."""

    hpid: str
    requests: tuple[RequestEntry, ...]


@dataclass(frozen=True, slots=True)
class TellRequest:
    """Where a unit's transfer request stands, in the crew's words (Korean, English)."""

    unit_id: str
    request_id: str
    hpid: str
    name: str
    advice_version: int
    state: RequestState
    reason: RefusalReason | None
    message: Text
    sent_at: datetime
    answer_by: datetime
    answered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ClearRequest:
    """The trip is over: the unit's request state is withdrawn from its topic."""

    unit_id: str


Command = (
    Advise
    | ClearAdvice
    | NotifyInbound
    | AssignUnit
    | Refuse
    | NoticeToUnit
    | PublishRequests
    | TellRequest
    | ClearRequest
)
