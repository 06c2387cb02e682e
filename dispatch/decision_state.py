"""What a region's dispatcher knows of its patients, as frozen values: what survives a failover.

The engine (:class:`dispatch.engine.DispatchEngine`) keeps each patient's decision state in memory: their
needs (the crew's flags as pathways), the centres the crew or a centre declined, the advice versions issued and
the destination each named, the transfer requests. A standby taking over a region must not lose them: with
the needs lost, a stroke patient declined at one centre was sent to a centre with no thrombectomy and no CT
(issue 26). :meth:`DispatchEngine.snapshot` and :meth:`DispatchEngine.changes` give these values,
:meth:`DispatchEngine.restore` takes them back; the dispatcher's shell stores them after every batch, before
the batch's messages are acknowledged, and the next leader reads them when it takes over (``docs/scaling.md``).

Pure values and their JSON form (:func:`encode_patient`, :func:`decode_patient`, :func:`encode_region`,
:func:`decode_region`: what a store keeps, one document per patient and one per region); no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from dispatch.handshake import Refusal, Request
from dispatch.pathways import Pathway
from dispatch.roads import EtaMode
from dispatch.severity.model import Severity
from dispatch.units import Incident
from telemetry.schemas import UnitStatus, Vitals

#: Advice versions of one leadership epoch: the leader of epoch ``e`` numbers its advice from
#: ``(e - 1) * EPOCH_SPAN + 1``, so any advice of a deposed leader has a lower version than the new leader's.
EPOCH_SPAN = 1_000_000


def epoch_of(advice_version: int) -> int:
    """The leadership epoch an advice version was issued in (1 for versions below ``EPOCH_SPAN``)."""
    return max(advice_version - 1, 0) // EPOCH_SPAN + 1


@dataclass(frozen=True, slots=True)
class PatientState:
    """One unit's current patient as the engine decides for them.

    ``owned``: this engine decides for the patient (the owner of the patient's decisions); ``versions``: the
    advice versions of this patient and the destination each named, oldest first (a crew's decision on one of
    them is applied while the newest still names the same centre); ``request`` and ``second``: the transfer
    requests of the acceptance handshake; ``lat``/``lon``/``status``: the unit as last seen, so the next leader
    can decide before the unit's next position."""

    unit_id: str
    patient_id: str
    advice_version: int
    owned: bool
    severity: Severity | None
    vitals: Vitals | None
    vitals_ts: datetime | None
    needs: frozenset[Pathway]
    critical: bool
    unstable: bool
    declined: frozenset[str]
    destination: str | None
    definitive: bool
    bed: bool | None
    team: Pathway | None
    holds_bed: bool
    versions: tuple[tuple[int, str], ...]
    advised_eta_s: float | None
    advised_road_s: float | None
    eta_mode: EtaMode
    request: Request | None
    second: Request | None
    status: UnitStatus | None
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class TrendState:
    """What the bed nowcast learnt of one centre (:class:`dispatch.nowcast.BedNowcast`)."""

    hpid: str
    available: int | None
    at: datetime | None
    delivered: int
    hours: float
    taken: float


@dataclass(frozen=True, slots=True)
class RegionState:
    """What is not a patient's: incidents still waiting for a unit, what centres' declines say about them
    (R-REFUSED), and the bed nowcast."""

    incidents: tuple[Incident, ...] = ()
    refusals: tuple[tuple[str, Refusal], ...] = ()
    trends: tuple[TrendState, ...] = ()


@dataclass(frozen=True, slots=True)
class EngineState:
    """Everything :meth:`DispatchEngine.restore` needs: every patient, and the region's state. ``epoch``: the
    leadership epoch of the engine that made it."""

    epoch: int
    patients: tuple[PatientState, ...]
    region: RegionState


@dataclass(frozen=True, slots=True)
class StateChanges:
    """What changed since the last :meth:`DispatchEngine.changes`: the patients whose state may have changed
    (their state now), the units whose patient is gone, and the region's state (always given: it is small; a
    store may compare it with the last one it wrote)."""

    patients: tuple[PatientState, ...]
    gone: tuple[str, ...]
    region: RegionState


_PATIENT: TypeAdapter[PatientState] = TypeAdapter(PatientState)
_REGION: TypeAdapter[RegionState] = TypeAdapter(RegionState)


def encode_patient(state: PatientState) -> dict[str, Any]:
    """A patient's state as a JSON document."""
    document: dict[str, Any] = _PATIENT.dump_python(state, mode="json", by_alias=True)
    return document


def decode_patient(document: dict[str, Any]) -> PatientState:
    """A patient's state from :func:`encode_patient`'s document (raises ``pydantic.ValidationError``)."""
    return _PATIENT.validate_python(document)


def encode_region(state: RegionState) -> dict[str, Any]:
    document: dict[str, Any] = _REGION.dump_python(state, mode="json", by_alias=True)
    return document


def decode_region(document: dict[str, Any]) -> RegionState:
    return _REGION.validate_python(document)
