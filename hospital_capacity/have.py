"""Centres' status as an OASIS EDXL-HAVE 1.0 document (pure function, no I/O).

Structure (namespace ``urn:oasis:names:tc:emergency:EDXL:HAVE:1.0``, prefix ``have``), one
``Hospital`` per centre (one for ``GET /hospitals/{hpid}/have.xml``, every centre for
``GET /hospitals/have.xml``)::

    HospitalStatus/Hospital+
      Organization
        OrganizationInformation      CIQ xPIL organisation details:
          xnl:OrganisationName[@xnl:ID = hpid]/xnl:NameElement = name
        OrganizationGeoLocation/gml:Point/gml:pos = "lat lon" (WGS84; left out if not finite)
        CommentText                  "E-Gen hpid A1500002; level 1; regional trauma centre"
        CommentText                  "never reported: ..." for a centre that never reported
      EmergencyDepartmentStatus
        EMSTraffic                   EMSTrafficStatus Normal | Advisory | Closed (left out while
                                     unknown), EMSTrafficReason, CommentText "until ...; updated ..."
                                     or "status unknown: ..."
        EMSAmbulanceStatus/EMSOffloadMinutes   when known (rounded to whole minutes)
      HospitalBedCapacityStatus/BedCapacity*   one per bed type the centre has reported
        BedType, Capacity(CapacityStatus?, AvailableCount?, BaselineCount?), CommentText
      <!-- equipment and severe-illness conditions (GoldenTime extension comment) -->
      LastUpdateTime                 StatusPublic.updated_at; the export time if never updated

**A centre that never reported.** The schema requires ``LastUpdateTime`` and has no "unknown"
for it. Such a centre gets the time of the export (the time at which the document states that
nothing is known), and says so twice: an ``Organization/CommentText`` "never reported:
LastUpdateTime is the time of this export; every status unknown", and an ``EMSTraffic`` with no
``EMSTrafficStatus`` (the element is optional; HAVE has no "unknown" status either) and the
comment "status unknown: never reported". No bed capacity is written. A centre that reported
beds but never its EMS traffic status is written the same way for its traffic: GoldenTime
reads an unreported status as normal, but the document does not claim what nobody said.

Bed types (HAVE 1.0 ``BedType`` enumeration):

======================================  ========================  ====================================
GoldenTime                              HAVE 1.0                  note
======================================  ========================  ====================================
``er_general``                          ``EmergencyDepartment``
``er_paediatric``                       ``Pediatrics``            HAVE has no paediatric-ED type
``er_isolation_negative_pressure``      ``NegativeFlowIsolation``
``er_isolation_general``                ``OtherIsolation``        HAVE's value for non-negative-flow
``icu``                                 ``AdultICU``              E-Gen ``hvicc``, the general ICU
``operating_room``                      ``OperatingRooms``
``general_admission``                   ``MedicalSurgical``       E-Gen ``hvgc``, general inpatient
======================================  ========================  ====================================

Because ``Pediatrics`` and ``OtherIsolation`` are approximations, every ``BedCapacity`` also
carries ``CommentText`` starting with the GoldenTime bed type (``"GoldenTime er_paediatric"``),
then ``overcrowded`` or ``availability unknown`` where that applies, then ``updated <time>``.

Capacity: HAVE 1.0's ``CapacityStatus`` has only ``Vacant/Available`` and ``NotAvailable``.
Available > 0 → ``Vacant/Available`` with ``AvailableCount``; 0 or overcrowded →
``NotAvailable`` with ``AvailableCount`` 0; unknown → neither element (the schema has no
"unknown"; the comment says so). The capacity (``total``) is ``BaselineCount``.

The schema has one ``LastUpdateTime`` per hospital, so the per-part update times go into the
``CommentText`` of the bed type and the EMS traffic. Times are xs:dateTime in UTC (``Z``);
naive datetimes are taken as UTC; a time within a day of year 1 or year 9999 that UTC cannot
express (never one the API accepted) is written as the nearest instant it can. HAVE 1.0 ``ServiceCoverageStatus`` and
``HospitalResourcesStatus`` have no faithful counterpart of E-Gen equipment and MKioskTy
conditions, so those are listed in one XML comment instead (``ct=yes``, ``mri=unknown`` ...),
not as HAVE elements. Text that XML 1.0 cannot carry (control characters, lone surrogates) is
replaced by U+FFFD. Every shape of the output (never reported, unknown, overcrowded, advisory,
closed with expiry, one centre and all of them) is validated against the official OASIS schema
in the tests (``standards/edxl-have-1.0/`` of the data directory, with lxml).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

from hospital_capacity.schemas import BedPublic, HospitalPublic, StatusPublic
from telemetry.schemas import BedType, Condition, EmsTraffic, Equipment, TrafficStatus

HAVE_NS = "urn:oasis:names:tc:emergency:EDXL:HAVE:1.0"
GML_NS = "http://www.opengis.net/gml"
XNL_NS = "urn:oasis:names:tc:ciq:xnl:3"
XPIL_NS = "urn:oasis:names:tc:ciq:xpil:3"

#: GoldenTime bed type → HAVE 1.0 BedType value.
HAVE_BED_TYPES: dict[BedType, str] = {
    BedType.ER_GENERAL: "EmergencyDepartment",
    BedType.ER_PAEDIATRIC: "Pediatrics",
    BedType.ER_ISOLATION_NEGATIVE_PRESSURE: "NegativeFlowIsolation",
    BedType.ER_ISOLATION_GENERAL: "OtherIsolation",
    BedType.ICU: "AdultICU",
    BedType.OPERATING_ROOM: "OperatingRooms",
    BedType.GENERAL_ADMISSION: "MedicalSurgical",
}
HAVE_TRAFFIC: dict[TrafficStatus, str] = {
    TrafficStatus.NORMAL: "Normal",
    TrafficStatus.ADVISORY: "Advisory",
    TrafficStatus.CLOSED: "Closed",
}
VACANT = "Vacant/Available"
NOT_AVAILABLE = "NotAvailable"

#: Characters XML 1.0 cannot carry.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


NEVER_REPORTED = "never reported: LastUpdateTime is the time of this export; every status unknown"
TRAFFIC_UNKNOWN = "status unknown: never reported"


def to_have_xml(hospitals: Sequence[HospitalPublic], *, now: datetime) -> bytes:
    """The EDXL-HAVE 1.0 ``HospitalStatus`` document of ``hospitals`` (at least one: the schema
    wants one ``Hospital`` or more), exported at ``now``, UTF-8 with an XML declaration."""
    if not hospitals:
        raise ValueError("an EDXL-HAVE HospitalStatus needs at least one hospital")
    root = ET.Element(
        "have:HospitalStatus",
        {"xmlns:have": HAVE_NS, "xmlns:gml": GML_NS, "xmlns:xnl": XNL_NS, "xmlns:xpil": XPIL_NS},
    )
    for hospital in hospitals:
        _hospital(root, hospital, now)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("utf-8") + b"\n"


def _hospital(root: ET.Element, hospital: HospitalPublic, now: datetime) -> None:
    node = ET.SubElement(root, "have:Hospital")
    status = hospital.status
    _organization(node, hospital, reported=status.updated_at is not None)
    _emergency_department(node, status)
    if status.beds:
        beds = ET.SubElement(node, "have:HospitalBedCapacityStatus")
        for bed_type in BedType:
            if bed_type in status.beds:
                _bed_capacity(beds, bed_type, status.beds[bed_type])
    extension = _extension_comment(status)
    if extension:
        node.append(ET.Comment(extension))
    _text(node, "have:LastUpdateTime", _time(status.updated_at if status.updated_at is not None else now))


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = _clean(text)
    return element


def _time(value: datetime) -> str:
    """xs:dateTime in UTC; naive values are taken as UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=None).isoformat() + "Z"
    try:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    except OverflowError:  # within a day of year 1 or 9999: the nearest instant UTC can express
        edge = datetime.min if value.year == datetime.min.year else datetime.max
        return edge.isoformat() + "Z"


def _organization(parent: ET.Element, hospital: HospitalPublic, *, reported: bool) -> None:
    organization = ET.SubElement(parent, "have:Organization")
    information = ET.SubElement(organization, "have:OrganizationInformation")
    name = ET.SubElement(information, "xnl:OrganisationName", {"xnl:ID": _clean(hospital.hpid)})
    _text(name, "xnl:NameElement", hospital.name)
    if math.isfinite(hospital.lat) and math.isfinite(hospital.lon):
        location = ET.SubElement(organization, "have:OrganizationGeoLocation")
        point = ET.SubElement(location, "gml:Point", {"srsName": "urn:ogc:def:crs:EPSG::4326"})
        _text(point, "gml:pos", f"{hospital.lat!r} {hospital.lon!r}")
    facts = [f"E-Gen hpid {hospital.hpid}", f"level {hospital.level}"]
    if hospital.trauma_centre:
        facts.append("regional trauma centre")
    if hospital.region:
        facts.append(f"region {hospital.region}")
    _text(organization, "have:CommentText", "; ".join(facts))
    if not reported:
        _text(organization, "have:CommentText", NEVER_REPORTED)


def _emergency_department(parent: ET.Element, status: StatusPublic) -> None:
    department = ET.SubElement(parent, "have:EmergencyDepartmentStatus")
    traffic: EmsTraffic = status.ems_traffic
    ems = ET.SubElement(department, "have:EMSTraffic")
    if traffic == EmsTraffic():  # the default: nobody ever reported it
        _text(ems, "have:CommentText", TRAFFIC_UNKNOWN)
    else:
        _traffic(ems, traffic)
    minutes = status.offload_minutes
    if minutes is not None and math.isfinite(minutes) and minutes >= 0:
        ambulance = ET.SubElement(department, "have:EMSAmbulanceStatus")
        _text(ambulance, "have:EMSOffloadMinutes", str(round(minutes)))


def _traffic(ems: ET.Element, traffic: EmsTraffic) -> None:
    _text(ems, "have:EMSTrafficStatus", HAVE_TRAFFIC[traffic.status])
    if traffic.reason:
        _text(ems, "have:EMSTrafficReason", traffic.reason)
    notes = []
    if traffic.expires_at is not None:
        notes.append(f"until {_time(traffic.expires_at)}")
    if traffic.updated_at is not None:
        notes.append(f"updated {_time(traffic.updated_at)}")
    if notes:
        _text(ems, "have:CommentText", "; ".join(notes))


def _bed_capacity(parent: ET.Element, bed_type: BedType, bed: BedPublic) -> None:
    element = ET.SubElement(parent, "have:BedCapacity")
    _text(element, "have:BedType", HAVE_BED_TYPES[bed_type])
    capacity = ET.SubElement(element, "have:Capacity")
    notes = [f"GoldenTime {bed_type.value}"]
    if bed.overcrowded:
        available: int | None = 0
        notes.append("overcrowded")
    elif bed.available is None or bed.available < 0:
        available = None
        notes.append("availability unknown")
    else:
        available = bed.available
    if available is not None:
        _text(capacity, "have:CapacityStatus", VACANT if available > 0 else NOT_AVAILABLE)
        _text(capacity, "have:AvailableCount", str(available))
    if bed.total is not None and bed.total >= 0:
        _text(capacity, "have:BaselineCount", str(bed.total))
    if bed.updated_at is not None:
        notes.append(f"updated {_time(bed.updated_at)}")
    _text(element, "have:CommentText", "; ".join(notes))


def _extension_comment(status: StatusPublic) -> str:
    """Equipment and conditions as one comment line, e.g. ``equipment ct=yes mri=unknown``."""

    def word(available: bool | None) -> str:
        return "unknown" if available is None else "yes" if available else "no"

    parts = []
    equipment = [f"{k.value}={word(status.equipment[k].available)}" for k in Equipment if k in status.equipment]
    conditions = [f"{k.value}={word(status.conditions[k].available)}" for k in Condition if k in status.conditions]
    if equipment:
        parts.append("equipment " + " ".join(equipment))
    if conditions:
        parts.append("conditions " + " ".join(conditions))
    return f" GoldenTime extension, not EDXL-HAVE: {'; '.join(parts)} " if parts else ""
