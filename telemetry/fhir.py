"""Recorded vitals as FHIR R4: a ``Bundle`` (type ``collection``) of vital-signs ``Observation``\\ s.

Pure functions, no I/O: :func:`record` checks one stored ``ems.vitals/1`` payload,
:func:`observations` turns one set of vitals into Observations, :func:`bundle` puts many in a
Bundle. :mod:`telemetry.fhir_export` reads the recorder's store and writes the file.

Every Observation follows the R4 vital-signs profile (``http://hl7.org/fhir/StructureDefinition/
vitalsigns``, and the specific profile where R4 has one): status ``final``, category
``vital-signs``, a LOINC code, a UCUM ``valueQuantity``, the vitals' ``ts`` as
``effectiveDateTime`` and the pseudonymous patient id as subject, nothing else about the patient.
A vital that was not measured (``null``) gives no Observation; blood pressure is one panel
(85354-9) with systolic and diastolic components, as the profile requires, and a side that was
not measured is a component with ``dataAbsentReason`` ``not-performed``.

Ids are stable: a UUID derived from the message's topic, its ``msg_id`` and the LOINC code, so
two exports of the same records give the same ids (the topic is part of it because ``msg_id``
is unique per topic only, see :mod:`telemetry.store`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError

from telemetry import schemas
from telemetry.errors import TelemetryError

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
CATEGORY_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
PROFILE_BASE: Final = "http://hl7.org/fhir/StructureDefinition/"
#: The system of the patient identifier carried beside the ``Patient/<id>`` reference.
PATIENT_ID_SYSTEM: Final = "urn:goldentime:patient-id"
#: Where the stable observation ids come from (uuid5 of topic, msg_id and LOINC code).
ID_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:goldentime:fhir:observation")

#: A FHIR ``id``: what may follow ``Patient/`` in a literal reference.
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_PATIENT_ID = re.compile(r"^[A-Za-z0-9_-]{4,64}$")


class FhirError(TelemetryError, ValueError):
    """Input the FHIR export cannot use; the message is one line (never a patient's values)."""


@dataclass(frozen=True, slots=True)
class Coding:
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class Unit:
    """A UCUM unit: ``code`` is the UCUM code, ``unit`` what a person reads."""

    code: str
    unit: str


@dataclass(frozen=True, slots=True)
class Vital:
    """One field of ``ems.vitals/1`` and how it is coded."""

    field: str
    codings: tuple[Coding, ...]
    unit: Unit
    profile: str

    @property
    def code(self) -> str:
        return self.codings[0].code


PER_MIN_HR = Unit("/min", "beats/minute")
PER_MIN_RR = Unit("/min", "breaths/minute")
MM_HG = Unit("mm[Hg]", "mmHg")
PERCENT = Unit("%", "%")
CELSIUS = Unit("Cel", "Cel")
SCORE = Unit("{score}", "{score}")

#: Every vital exported as its own Observation (blood pressure is :data:`BP_PANEL`).
VITALS: Final = (
    Vital("hr_bpm", (Coding("8867-4", "Heart rate"),), PER_MIN_HR, "heartrate"),
    Vital("rr_per_min", (Coding("9279-1", "Respiratory rate"),), PER_MIN_RR, "resprate"),
    Vital(
        "spo2_pct",
        (
            Coding("2708-6", "Oxygen saturation in Arterial blood"),
            Coding("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
        ),
        PERCENT,
        "oxygensat",
    ),
    Vital("temp_c", (Coding("8310-5", "Body temperature"),), CELSIUS, "bodytemp"),
    # No specific R4 profile for these two: the base vital-signs profile.
    Vital("gcs", (Coding("9269-2", "Glasgow coma score total"),), SCORE, "vitalsigns"),
    Vital(
        "pain_nrs",
        (Coding("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),),
        SCORE,
        "vitalsigns",
    ),
)
BP_PANEL: Final = Coding("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC: Final = Vital("sbp_mmhg", (Coding("8480-6", "Systolic blood pressure"),), MM_HG, "bp")
DIASTOLIC: Final = Vital("dbp_mmhg", (Coding("8462-4", "Diastolic blood pressure"),), MM_HG, "bp")


@dataclass(frozen=True, slots=True)
class VitalsRecord:
    """One stored vitals message: the topic it came on and its payload."""

    topic: str
    msg_id: str
    vitals: schemas.Vitals


def record(topic: str, payload: Mapping[str, Any]) -> VitalsRecord:
    """A stored ``ems.vitals/1`` payload (as the recorder keeps it) checked against the contract.
    Raises :class:`FhirError` naming the message, never its values."""
    try:
        vitals = schemas.Vitals.model_validate(dict(payload))
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "payload" for e in exc.errors(include_url=False))
        msg_id = str(payload.get("msg_id", "?"))[:64]
        raise FhirError(f"stored vitals {msg_id!r} on {topic[:200]!r} are not valid ems.vitals/1: {fields}") from None
    return VitalsRecord(topic, vitals.msg_id, vitals)


def check_patient_id(value: str) -> str:
    """``value`` if it is a pseudonymous patient id of the contract, else :class:`FhirError`."""
    if not _PATIENT_ID.match(value):
        raise FhirError(f"{value[:80]!r} is not a patient id (4-64 of A-Z a-z 0-9 _ -)")
    return value


def parse_time(value: str) -> datetime:
    """An ISO 8601 time with a time zone (``2026-11-24T09:00:00Z``, ``...+09:00``), in UTC.
    Raises :class:`FhirError` for anything else, a time without a zone included."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FhirError(f"{value[:80]!r} is not an ISO 8601 time, e.g. 2026-11-24T09:00:00Z") from None
    if parsed.tzinfo is None:
        raise FhirError(f"{value[:80]!r} has no time zone: add Z (UTC) or an offset, e.g. 2026-11-24T09:00:00+09:00")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise FhirError(f"{value[:80]!r} is outside the years 1-9999 in UTC") from None


def fhir_datetime(value: datetime) -> str:
    """A FHIR ``dateTime``/``instant`` in UTC: ``2026-11-24T09:30:00Z`` (microseconds when there are some)."""
    return value.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"  # four-digit years, always


def observation_id(topic: str, msg_id: str, code: str) -> str:
    """The stable id of the Observation of LOINC ``code`` from message ``msg_id`` on ``topic``."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{topic}\n{msg_id}\n{code}"))


def subject(patient_id: str) -> dict[str, Any]:
    """The patient reference: ``Patient/<patient_id>`` and the same id as an identifier. A patient id
    with ``_`` (allowed by the contract, not in a FHIR id) is carried by the identifier alone."""
    reference: dict[str, Any] = {}
    if _FHIR_ID.match(patient_id):
        reference["reference"] = f"Patient/{patient_id}"
    reference["identifier"] = {"system": PATIENT_ID_SYSTEM, "value": patient_id}
    return reference


def _concept(codings: Iterable[Coding]) -> dict[str, Any]:
    items = list(codings)
    return {
        "coding": [{"system": LOINC, "code": c.code, "display": c.display} for c in items],
        "text": items[-1].display,  # the most specific: SpO2 by pulse oximetry
    }


def _quantity(value: float, unit: Unit) -> dict[str, Any]:
    return {"value": value, "unit": unit.unit, "system": UCUM, "code": unit.code}


def _category() -> dict[str, Any]:
    return {
        "coding": [{"system": CATEGORY_SYSTEM, "code": "vital-signs", "display": "Vital Signs"}],
        "text": "Vital Signs",
    }


def _not_performed() -> dict[str, Any]:
    return {
        "coding": [{"system": DATA_ABSENT_SYSTEM, "code": "not-performed", "display": "Not Performed"}],
        "text": "not measured",
    }


def _observation(rec: VitalsRecord, code: str, profile: str, codings: Iterable[Coding]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": observation_id(rec.topic, rec.msg_id, code),
        "meta": {"profile": [PROFILE_BASE + profile]},
        "status": "final",
        "category": [_category()],
        "code": _concept(codings),
        "subject": subject(rec.vitals.patient_id),
        "effectiveDateTime": fhir_datetime(rec.vitals.ts),
    }


def _component(vital: Vital, value: int | None) -> dict[str, Any]:
    component: dict[str, Any] = {"code": _concept(vital.codings)}
    if value is None:
        component["dataAbsentReason"] = _not_performed()
    else:
        component["valueQuantity"] = _quantity(value, vital.unit)
    return component


def observations(rec: VitalsRecord) -> list[dict[str, Any]]:
    """The Observations of one set of vitals, in a fixed order; none for a vital not measured."""
    vitals = rec.vitals
    found: list[dict[str, Any]] = []
    for vital in VITALS:
        value = getattr(vitals, vital.field)
        if value is None:
            continue
        observation = _observation(rec, vital.code, vital.profile, vital.codings)
        observation["valueQuantity"] = _quantity(value, vital.unit)
        found.append(observation)
    if vitals.sbp_mmhg is not None or vitals.dbp_mmhg is not None:
        panel = _observation(rec, BP_PANEL.code, "bp", [BP_PANEL])
        panel["component"] = [_component(SYSTOLIC, vitals.sbp_mmhg), _component(DIASTOLIC, vitals.dbp_mmhg)]
        found.append(panel)
    return found


def bundle(records: Iterable[VitalsRecord], *, timestamp: datetime | None = None) -> dict[str, Any]:
    """A FHIR R4 ``Bundle`` of type ``collection`` with the Observations of ``records``, in their
    order. Its id is derived from the Observations' ids; ``timestamp`` (when the export was made)
    is the only part that differs between two exports of the same records."""
    found = [observation for rec in records for observation in observations(rec)]
    entries = [{"fullUrl": f"urn:uuid:{o['id']}", "resource": o} for o in found]
    bundle_id = uuid.uuid5(ID_NAMESPACE, "bundle\n" + "\n".join(o["id"] for o in found))
    result: dict[str, Any] = {"resourceType": "Bundle", "id": str(bundle_id), "type": "collection"}
    if timestamp is not None:
        result["timestamp"] = fhir_datetime(timestamp)
    result["entry"] = entries
    return result


def patients(fhir_bundle: Mapping[str, Any]) -> set[str]:
    """The patient ids the Observations of ``fhir_bundle`` are about."""
    return {e["resource"]["subject"]["identifier"]["value"] for e in fhir_bundle.get("entry", [])}
