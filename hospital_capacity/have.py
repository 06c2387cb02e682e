"""One centre's status as an OASIS EDXL-HAVE 1.0 document (pure function, no I/O).

Structure (namespace ``urn:oasis:names:tc:emergency:EDXL:HAVE:1.0``, prefix ``have``)::

    HospitalStatus/Hospital
      Organization
        OrganizationInformation      CIQ xPIL organisation details:
          xnl:OrganisationName[@xnl:ID = hpid]/xnl:NameElement = name
        OrganizationGeoLocation/gml:Point/gml:pos = "lat lon" (WGS84; left out if not finite)
        CommentText                  "E-Gen hpid A1500002; level 1; regional trauma centre"
      EmergencyDepartmentStatus
        EMSTraffic                   EMSTrafficStatus Normal | Advisory | Closed, EMSTrafficReason,
                                     CommentText "until ...; updated ..." when known
        EMSAmbulanceStatus/EMSOffloadMinutes   when known (rounded to whole minutes)
      HospitalBedCapacityStatus/BedCapacity*   one per bed type the centre has reported
        BedType, Capacity(CapacityStatus?, AvailableCount?, BaselineCount?), CommentText
      <!-- equipment and severe-illness conditions (GoldenTime extension comment) -->
      LastUpdateTime                 StatusPublic.updated_at (left out if never updated)

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
naive datetimes are taken as UTC. HAVE 1.0 ``ServiceCoverageStatus`` and
``HospitalResourcesStatus`` have no faithful counterpart of E-Gen equipment and MKioskTy
conditions, so those are listed in one XML comment instead (``ct=yes``, ``mri=unknown`` ...),
not as HAVE elements. Text that XML 1.0 cannot carry (control characters, lone surrogates) is
replaced by U+FFFD. The output has not been validated against the OASIS XSD (not available
offline); element names, order and enumerations follow HAVE 1.0.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
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


def to_have_xml(hospital: HospitalPublic) -> bytes:
    """The EDXL-HAVE 1.0 ``HospitalStatus`` document of one centre, UTF-8 with an XML declaration."""
    root = ET.Element(
        "have:HospitalStatus",
        {"xmlns:have": HAVE_NS, "xmlns:gml": GML_NS, "xmlns:xnl": XNL_NS, "xmlns:xpil": XPIL_NS},
    )
    node = ET.SubElement(root, "have:Hospital")
    _organization(node, hospital)
    status = hospital.status
    _emergency_department(node, status)
    if status.beds:
        beds = ET.SubElement(node, "have:HospitalBedCapacityStatus")
        for bed_type in BedType:
            if bed_type in status.beds:
                _bed_capacity(beds, bed_type, status.beds[bed_type])
    extension = _extension_comment(status)
    if extension:
        node.append(ET.Comment(extension))
    if status.updated_at is not None:
        _text(node, "have:LastUpdateTime", _time(status.updated_at))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.encode("utf-8") + b"\n"


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
    except OverflowError:  # at the edge of the datetime range: keep the original offset
        return value.isoformat()


def _organization(parent: ET.Element, hospital: HospitalPublic) -> None:
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


def _emergency_department(parent: ET.Element, status: StatusPublic) -> None:
    department = ET.SubElement(parent, "have:EmergencyDepartmentStatus")
    traffic: EmsTraffic = status.ems_traffic
    ems = ET.SubElement(department, "have:EMSTraffic")
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
    minutes = status.offload_minutes
    if minutes is not None and math.isfinite(minutes) and minutes >= 0:
        ambulance = ET.SubElement(department, "have:EMSAmbulanceStatus")
        _text(ambulance, "have:EMSOffloadMinutes", str(round(minutes)))


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
