"""What the decision engine asks for (:meth:`dispatch.engine.DispatchEngine.apply`): frozen dataclasses,
turned into MQTT messages by :mod:`dispatch.wire` (live) or executed by a simulator."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.events import Origin
from dispatch.explain import Text
from dispatch.pathways import Pathway
from dispatch.roads import EtaMode
from dispatch.router import Option
from dispatch.severity.model import Severity


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


Command = Advise | ClearAdvice | NotifyInbound | AssignUnit | Refuse | NoticeToUnit
