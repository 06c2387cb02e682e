"""Tests of the EDXL-HAVE 1.0 export (``hospital_capacity.have``): every document is parsed back
and validated against the official OASIS schema (``standards/edxl-have-1.0/`` of the data
directory, with lxml)."""

from __future__ import annotations

import functools
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped]  # no stubs shipped

from goldentime.settings import default_data_dir
from hospital_capacity import have
from hospital_capacity.have import GML_NS, HAVE_BED_TYPES, HAVE_NS, XNL_NS
from hospital_capacity.schemas import BedPublic, CapabilityPublic, HospitalPublic, StatusPublic
from telemetry.schemas import BedType, Condition, EmsTraffic, Equipment, TrafficStatus

H = f"{{{HAVE_NS}}}"
NS = {"have": HAVE_NS, "gml": GML_NS, "xnl": XNL_NS}
#: The BedType enumeration of the EDXL-HAVE 1.0 schema.
HAVE_1_0_BED_TYPES = {
    "AdultICU", "PediatricICU", "NeonatalICU", "EmergencyDepartment", "NurseryBeds", "MedicalSurgical",
    "RehabLongTermCare", "Burn", "Pediatrics", "AdultPsychiatric", "PediatricPsychiatric", "NegativeFlowIsolation",
    "OtherIsolation", "OperatingRooms",
}  # fmt: skip
AT = datetime(2026, 9, 14, 6, 0, tzinfo=UTC)
#: When the documents of these tests are exported.
EXPORTED = datetime(2026, 9, 14, 6, 30, tzinfo=UTC)
#: The entry point of the official schema, in the data directory (see its README).
HAVE_XSD = default_data_dir() / "standards" / "edxl-have-1.0" / "edxl-rm" / "1.0" / "edxl-have.xsd"


@functools.cache
def oasis_schema() -> etree.XMLSchema:
    """The OASIS EDXL-HAVE 1.0 schema (its imports resolve locally; no network)."""
    return etree.XMLSchema(etree.parse(str(HAVE_XSD)))


def assert_valid(doc: bytes) -> None:
    """``doc`` validates against the OASIS schema (the error log names line and element if not)."""
    schema = oasis_schema()
    if not schema.validate(etree.fromstring(doc)):
        raise AssertionError("\n".join(str(error) for error in schema.error_log) + "\n" + doc.decode())


def to_have_xml(hospitals: HospitalPublic | Sequence[HospitalPublic], *, now: datetime = EXPORTED) -> bytes:
    """The export of one centre or several, checked against the schema on the way."""
    doc = have.to_have_xml([hospitals] if isinstance(hospitals, HospitalPublic) else hospitals, now=now)
    assert_valid(doc)
    return doc


def bed(available: int | None, total: int | None, *, overcrowded: bool = False) -> BedPublic:
    return BedPublic(available=available, total=total, overcrowded=overcrowded, updated_at=AT)


def hospital(status: StatusPublic | None = None, **overrides: object) -> HospitalPublic:
    fields: dict[str, object] = {
        "hpid": "A1500002",
        "name": "전남대학교병원",
        "level": 1,
        "lat": 35.14230,
        "lon": 126.92140,
        "trauma_centre": True,
        "region": "전남광주통합특별시",
        "status": status or full_status(),
    }
    return HospitalPublic.model_validate(fields | overrides)


def full_status() -> StatusPublic:
    return StatusPublic(
        beds={
            BedType.ER_GENERAL: bed(6, 15),
            BedType.ER_PAEDIATRIC: bed(0, 2),
            BedType.ER_ISOLATION_NEGATIVE_PRESSURE: bed(None, 1),
            BedType.ER_ISOLATION_GENERAL: bed(0, None, overcrowded=True),
            BedType.ICU: bed(12, 29),
            BedType.OPERATING_ROOM: bed(20, 23),
            BedType.GENERAL_ADMISSION: bed(235, 763),
        },
        equipment={
            Equipment.CT: CapabilityPublic(available=True, updated_at=AT),
            Equipment.MRI: CapabilityPublic(available=None, updated_at=None),
        },
        conditions={Condition.STROKE_THROMBECTOMY: CapabilityPublic(available=False, updated_at=AT)},
        ems_traffic=EmsTraffic(
            status=TrafficStatus.CLOSED, reason="CT 고장", expires_at=AT + timedelta(hours=2), updated_at=AT
        ),
        offload_minutes=24.6,
        offload_updated_at=AT,
        updated_at=AT,
        updated_by="A1500002",
        age_s=12.0,
    )


def empty_status() -> StatusPublic:
    return StatusPublic(
        beds={}, equipment={}, conditions={}, ems_traffic=EmsTraffic(), offload_minutes=None, offload_updated_at=None,
        updated_at=None, updated_by=None, age_s=None,
    )  # fmt: skip


def parsed(doc: bytes) -> ET.Element:
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    parser.feed(doc)
    return parser.close()


def is_comment(element: ET.Element) -> bool:
    return cast(object, element.tag) is ET.Comment


def text(root: ET.Element, path: str) -> str | None:
    found = root.find(path, NS)
    return None if found is None else found.text


def bed_capacities(root: ET.Element) -> dict[str, ET.Element]:
    """HAVE BedType → its BedCapacity element, keyed by the GoldenTime type named in CommentText."""
    found = {}
    for element in root.iterfind("have:Hospital/have:HospitalBedCapacityStatus/have:BedCapacity", NS):
        comment = element.findtext("have:CommentText", "", NS)
        found[comment.split(";")[0].removeprefix("GoldenTime ")] = element
    return found


def test_document_header_namespace_and_identity() -> None:
    doc = to_have_xml(hospital())
    assert doc.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    root = parsed(doc)
    assert root.tag == f"{H}HospitalStatus"
    info = "have:Hospital/have:Organization/have:OrganizationInformation/xnl:OrganisationName"
    name = root.find(info, NS)
    assert name is not None
    assert name.get(f"{{{XNL_NS}}}ID") == "A1500002"
    assert text(root, info + "/xnl:NameElement") == "전남대학교병원"
    comment = text(root, "have:Hospital/have:Organization/have:CommentText")
    assert comment == "E-Gen hpid A1500002; level 1; regional trauma centre; region 전남광주통합특별시"
    pos = text(root, "have:Hospital/have:Organization/have:OrganizationGeoLocation/gml:Point/gml:pos")
    assert pos is not None
    assert [float(v) for v in pos.split()] == [35.14230, 126.92140]
    assert text(root, "have:Hospital/have:LastUpdateTime") == "2026-09-14T06:00:00Z"


def test_element_order_of_hospital_follows_the_schema() -> None:
    root = parsed(to_have_xml(hospital()))
    node = root.find("have:Hospital", NS)
    assert node is not None
    tags = [child.tag.removeprefix(H) for child in node if isinstance(child.tag, str) and child.tag.startswith(H)]
    assert tags == ["Organization", "EmergencyDepartmentStatus", "HospitalBedCapacityStatus", "LastUpdateTime"]


def test_ems_traffic_and_offload() -> None:
    root = parsed(to_have_xml(hospital()))
    ems = "have:Hospital/have:EmergencyDepartmentStatus/have:EMSTraffic"
    assert text(root, ems + "/have:EMSTrafficStatus") == "Closed"
    assert text(root, ems + "/have:EMSTrafficReason") == "CT 고장"
    assert text(root, ems + "/have:CommentText") == "until 2026-09-14T08:00:00Z; updated 2026-09-14T06:00:00Z"
    minutes = "have:Hospital/have:EmergencyDepartmentStatus/have:EMSAmbulanceStatus/have:EMSOffloadMinutes"
    assert text(root, minutes) == "25"


def test_advisory_and_normal_traffic() -> None:
    for status, expected in ((TrafficStatus.ADVISORY, "Advisory"), (TrafficStatus.NORMAL, "Normal")):
        reason = "surge" if status is TrafficStatus.ADVISORY else None
        traffic = EmsTraffic(status=status, reason=reason, updated_at=AT)
        root = parsed(to_have_xml(hospital(full_status().model_copy(update={"ems_traffic": traffic}))))
        path = "have:Hospital/have:EmergencyDepartmentStatus/have:EMSTraffic/have:EMSTrafficStatus"
        assert text(root, path) == expected


def test_bed_counts_and_capacity_status() -> None:
    beds = bed_capacities(parsed(to_have_xml(hospital())))
    assert set(beds) == {b.value for b in BedType}

    def capacity(bed_type: BedType) -> tuple[str | None, str | None, str | None, str | None]:
        element = beds[bed_type.value]
        return (
            element.findtext("have:BedType", None, NS),
            element.findtext("have:Capacity/have:CapacityStatus", None, NS),
            element.findtext("have:Capacity/have:AvailableCount", None, NS),
            element.findtext("have:Capacity/have:BaselineCount", None, NS),
        )

    assert capacity(BedType.ER_GENERAL) == ("EmergencyDepartment", "Vacant/Available", "6", "15")
    assert capacity(BedType.ER_PAEDIATRIC) == ("Pediatrics", "NotAvailable", "0", "2")
    assert capacity(BedType.ER_ISOLATION_NEGATIVE_PRESSURE) == ("NegativeFlowIsolation", None, None, "1")
    assert capacity(BedType.ER_ISOLATION_GENERAL) == ("OtherIsolation", "NotAvailable", "0", None)
    assert capacity(BedType.ICU) == ("AdultICU", "Vacant/Available", "12", "29")
    assert capacity(BedType.OPERATING_ROOM) == ("OperatingRooms", "Vacant/Available", "20", "23")
    assert capacity(BedType.GENERAL_ADMISSION) == ("MedicalSurgical", "Vacant/Available", "235", "763")
    unknown = beds[BedType.ER_ISOLATION_NEGATIVE_PRESSURE.value].findtext("have:CommentText", "", NS)
    assert unknown == "GoldenTime er_isolation_negative_pressure; availability unknown; updated 2026-09-14T06:00:00Z"
    assert "overcrowded" in beds[BedType.ER_ISOLATION_GENERAL.value].findtext("have:CommentText", "", NS)


def test_bed_type_mapping_uses_only_have_1_0_values() -> None:
    assert set(HAVE_BED_TYPES) == set(BedType)
    assert set(HAVE_BED_TYPES.values()) <= HAVE_1_0_BED_TYPES
    assert len(set(HAVE_BED_TYPES.values())) == len(HAVE_BED_TYPES)


def test_equipment_and_conditions_go_into_one_comment() -> None:
    root = parsed(to_have_xml(hospital()))
    node = root.find("have:Hospital", NS)
    assert node is not None
    comments = [child.text for child in node if is_comment(child)]
    assert comments == [" GoldenTime extension, not EDXL-HAVE: equipment ct=yes mri=unknown; "
                        "conditions stroke_thrombectomy=no "]  # fmt: skip


def test_never_updated_centre_is_valid_with_the_export_time_and_says_everything_is_unknown() -> None:
    """The schema requires LastUpdateTime: a centre that never reported gets the export time, and
    the document says so; no traffic status is claimed (the element is optional)."""
    root = parsed(to_have_xml(hospital(empty_status(), trauma_centre=False, region=None)))
    assert root.find("have:Hospital/have:HospitalBedCapacityStatus", NS) is None
    assert text(root, "have:Hospital/have:LastUpdateTime") == "2026-09-14T06:30:00Z"
    comments = [e.text for e in root.iterfind("have:Hospital/have:Organization/have:CommentText", NS)]
    assert comments == [
        "E-Gen hpid A1500002; level 1",
        "never reported: LastUpdateTime is the time of this export; every status unknown",
    ]
    assert root.find("have:Hospital/have:EmergencyDepartmentStatus/have:EMSAmbulanceStatus", NS) is None
    ems = "have:Hospital/have:EmergencyDepartmentStatus/have:EMSTraffic"
    assert root.find(ems + "/have:EMSTrafficStatus", NS) is None
    assert text(root, ems + "/have:CommentText") == "status unknown: never reported"
    assert not [c for c in root.iter() if is_comment(c)]


def test_a_reported_centre_has_no_never_reported_note_and_its_own_time() -> None:
    root = parsed(to_have_xml(hospital()))
    comments = [e.text for e in root.iterfind("have:Hospital/have:Organization/have:CommentText", NS)]
    assert len(comments) == 1 and "never reported" not in str(comments)
    assert text(root, "have:Hospital/have:LastUpdateTime") == "2026-09-14T06:00:00Z"


def test_beds_reported_but_traffic_never_is_not_claimed_normal() -> None:
    status = full_status().model_copy(update={"ems_traffic": EmsTraffic()})
    root = parsed(to_have_xml(hospital(status)))
    ems = "have:Hospital/have:EmergencyDepartmentStatus/have:EMSTraffic"
    assert root.find(ems + "/have:EMSTrafficStatus", NS) is None
    assert text(root, ems + "/have:CommentText") == "status unknown: never reported"


# --- every shape against the OASIS schema ------------------------------------------------------------


def shaped(**status: object) -> HospitalPublic:
    """A centre whose status is the empty one with ``status`` on top."""
    return hospital(empty_status().model_copy(update={"updated_at": AT, **status}))


SHAPES = {
    "never reported": hospital(empty_status()),
    "diverting (closed with expiry)": shaped(
        ems_traffic=EmsTraffic(
            status=TrafficStatus.CLOSED, reason="CT 고장", expires_at=AT + timedelta(hours=2), updated_at=AT
        ),
        beds={BedType.ER_GENERAL: bed(0, 15)},
    ),
    "unknown (E-Gen -1)": shaped(
        beds={BedType.ER_GENERAL: bed(None, 15), BedType.ICU: bed(None, None)},
        equipment={Equipment.CT: CapabilityPublic(available=None, updated_at=AT)},
    ),
    "overcrowded (E-Gen hvec <= -2)": shaped(beds={BedType.ER_GENERAL: bed(0, 15, overcrowded=True)}),
    "advisory": shaped(
        ems_traffic=EmsTraffic(status=TrafficStatus.ADVISORY, reason="소아 진료 불가", updated_at=AT),
        offload_minutes=35.0,
        offload_updated_at=AT,
    ),
    "expired closure (reads normal)": shaped(
        ems_traffic=EmsTraffic(status=TrafficStatus.NORMAL, reason="closed expired", updated_at=AT)
    ),
    "every part": hospital(),
}


def test_every_export_shape_validates_against_the_oasis_schema() -> None:
    assert HAVE_XSD.is_file(), f"the OASIS schema is missing from the data directory: {HAVE_XSD}"
    for name, centre in SHAPES.items():
        doc = have.to_have_xml([centre], now=EXPORTED)
        root = etree.fromstring(doc)
        assert oasis_schema().validate(root), (name, [str(e) for e in oasis_schema().error_log])


def test_a_document_of_every_shape_at_once_validates() -> None:
    centres = [c.model_copy(update={"hpid": f"A15{i:05d}"}) for i, c in enumerate(SHAPES.values())]
    root = parsed(to_have_xml(centres))
    assert [e.get(f"{{{XNL_NS}}}ID") for e in root.iterfind(".//xnl:OrganisationName", NS)] == [c.hpid for c in centres]
    assert len(root.findall("have:Hospital/have:LastUpdateTime", NS)) == len(centres)


def test_an_empty_list_is_refused_not_written_invalid() -> None:
    try:
        have.to_have_xml([], now=EXPORTED)
    except ValueError as exc:
        assert "at least one" in str(exc)
    else:
        raise AssertionError("an empty HospitalStatus was written")


def test_the_validator_catches_a_missing_last_update_time() -> None:
    """The check is real: the document of the old exporter (no LastUpdateTime) is refused."""
    doc = have.to_have_xml([hospital(empty_status())], now=EXPORTED)
    root = etree.fromstring(doc)
    for element in root.iter(f"{H}LastUpdateTime"):
        element.getparent().remove(element)
    assert not oasis_schema().validate(root)
    assert "LastUpdateTime" in str(oasis_schema().error_log)


def test_text_xml_cannot_carry_is_replaced() -> None:
    doc = to_have_xml(hospital(name="병원\x00\x1b이름\ud800"))
    info = "have:Hospital/have:Organization/have:OrganizationInformation/xnl:OrganisationName/xnl:NameElement"
    assert text(parsed(doc), info) == "병원\ufffd\ufffd이름\ufffd"


def test_naive_and_offset_times_are_written_in_utc() -> None:
    kst = timezone(timedelta(hours=9))
    status = empty_status().model_copy(update={"updated_at": datetime(2026, 9, 14, 15, 0, tzinfo=kst)})
    assert text(parsed(to_have_xml(hospital(status))), "have:Hospital/have:LastUpdateTime") == "2026-09-14T06:00:00Z"
    status = empty_status().model_copy(update={"updated_at": datetime(2026, 9, 14, 6, 0)})
    assert text(parsed(to_have_xml(hospital(status))), "have:Hospital/have:LastUpdateTime") == "2026-09-14T06:00:00Z"


def test_non_finite_coordinates_and_offload_are_left_out() -> None:
    status = empty_status().model_copy(update={"offload_minutes": math.nan})
    root = parsed(to_have_xml(hospital(status, lat=math.inf)))
    assert root.find("have:Hospital/have:Organization/have:OrganizationGeoLocation", NS) is None
    assert root.find("have:Hospital/have:EmergencyDepartmentStatus/have:EMSAmbulanceStatus", NS) is None


# --- property: any status exports and parses back ------------------------------------------------------

ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-14, minutes=-30))])
ANY_TIME = st.none() | st.datetimes(timezones=ZONES)
AWARE_TIME = st.none() | st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.sampled_from([UTC])
)
TEXT = st.text(max_size=40)
BEDS = st.builds(
    BedPublic,
    available=st.none() | st.integers(),
    total=st.none() | st.integers(),
    overcrowded=st.booleans(),
    updated_at=ANY_TIME,
)
CAPABILITY = st.builds(CapabilityPublic, available=st.none() | st.booleans(), updated_at=ANY_TIME)
TRAFFIC = st.builds(
    EmsTraffic,
    status=st.sampled_from(TrafficStatus),
    reason=st.none() | st.text(min_size=1, max_size=300).filter(lambda s: bool(s.strip())),
    expires_at=AWARE_TIME,
    updated_at=AWARE_TIME,
)
STATUS = st.builds(
    StatusPublic,
    beds=st.dictionaries(st.sampled_from(BedType), BEDS),
    equipment=st.dictionaries(st.sampled_from(Equipment), CAPABILITY),
    conditions=st.dictionaries(st.sampled_from(Condition), CAPABILITY),
    ems_traffic=TRAFFIC,
    offload_minutes=st.none() | st.floats(),
    offload_updated_at=ANY_TIME,
    updated_at=ANY_TIME,
    updated_by=st.none() | TEXT,
    age_s=st.none() | st.floats(),
)
HOSPITALS = st.builds(
    HospitalPublic,
    hpid=TEXT,
    name=TEXT,
    level=st.integers(),
    lat=st.floats(),
    lon=st.floats(),
    trauma_centre=st.booleans(),
    region=st.none() | TEXT,
    status=STATUS,
)


@settings(max_examples=300, deadline=None)
@given(HOSPITALS)
def test_any_hospital_exports_a_valid_have_document(centre: HospitalPublic) -> None:
    doc = to_have_xml(centre)  # validated against the OASIS schema
    root = parsed(doc)
    assert root.tag == f"{H}HospitalStatus"
    assert len(root.findall("have:Hospital/have:HospitalBedCapacityStatus/have:BedCapacity", NS)) == len(
        centre.status.beds
    )
    status_path = "have:Hospital/have:EmergencyDepartmentStatus/have:EMSTraffic/have:EMSTrafficStatus"
    assert text(root, status_path) in {"Normal", "Advisory", "Closed", None}
    for element in root.iterfind(".//have:CapacityStatus", NS):
        assert element.text in {"Vacant/Available", "NotAvailable"}
    for element in root.iterfind(".//have:AvailableCount", NS):
        assert element.text is not None and int(element.text) >= 0
    assert root.find("have:Hospital/have:LastUpdateTime", NS) is not None
    never = "never reported" in "".join(
        e.text or "" for e in root.iterfind(".//have:Organization/have:CommentText", NS)
    )
    assert never is (centre.status.updated_at is None)
