"""Tests of the E-Gen XML importer (``hospital_capacity.egen``).

The real captured response in the shared data directory (``hospitals/nemc_samples``) is the
reference for the bed operation; the severe-illness fixtures are built from the README's
MKioskTy1-28 table, as the data README asks, because no verbatim real response exists.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goldentime.settings import default_data_dir
from hospital_capacity.egen import (
    BASE_URL,
    BED_FIELDS,
    KIOSK_CONDITIONS,
    EgenError,
    EgenItem,
    build_url,
    parse,
    parse_beds,
    parse_severe,
)
from hospital_capacity.schemas import BedUpdate
from telemetry.schemas import BedType, Condition, Equipment

DATA = Path(os.environ.get("GOLDENTIME_DATA_DIR") or default_data_dir()) / "hospitals"
SAMPLE = DATA / "nemc_samples" / "getEmrrmRltmUsefulSckbdInfoInqire_A1100015_20240926.xml"

#: The README's MKioskTy table: number, Korean label, condition.
KIOSK_TABLE: list[tuple[int, str, Condition]] = [
    (1, "[재관류중재술] 심근경색", Condition.STEMI_PCI),
    (2, "[재관류중재술] 뇌경색", Condition.STROKE_THROMBECTOMY),
    (3, "[뇌출혈수술] 거미막하출혈", Condition.SAH_SURGERY),
    (4, "[뇌출혈수술] 거미막하출혈 외", Condition.ICH_SURGERY),
    (5, "[대동맥응급] 흉부", Condition.AORTIC_THORACIC),
    (6, "[대동맥응급] 복부", Condition.AORTIC_ABDOMINAL),
    (7, "[담낭담관질환] 담낭질환", Condition.GALLBLADDER),
    (8, "[담낭담관질환] 담도포함질환", Condition.BILIARY_DUCT),
    (9, "[복부응급수술] 비외상", Condition.ABDOMINAL_SURGERY),
    (10, "[장중첩/폐색] 영유아", Condition.INFANT_INTUSSUSCEPTION),
    (11, "[응급내시경] 성인 위장관", Condition.GI_ENDOSCOPY_ADULT),
    (12, "[응급내시경] 영유아 위장관", Condition.GI_ENDOSCOPY_INFANT),
    (13, "[응급내시경] 성인 기관지", Condition.BRONCHOSCOPY_ADULT),
    (14, "[응급내시경] 영유아 기관지", Condition.BRONCHOSCOPY_INFANT),
    (15, "[저체중출생아] 집중치료", Condition.LOW_BIRTH_WEIGHT),
    (16, "[산부인과응급] 분만", Condition.OBSTETRIC_DELIVERY),
    (17, "[산부인과응급] 산과수술", Condition.OBSTETRIC_SURGERY),
    (18, "[산부인과응급] 부인과수술", Condition.GYNAECOLOGIC_SURGERY),
    (19, "[중증화상] 전문치료", Condition.MAJOR_BURNS),
    (20, "[사지접합] 수족지접합", Condition.REPLANTATION_DIGIT),
    (21, "[사지접합] 수족지접합 외", Condition.REPLANTATION_OTHER),
    (22, "[응급투석] HD", Condition.DIALYSIS_HD),
    (23, "[응급투석] CRRT", Condition.DIALYSIS_CRRT),
    (24, "[정신과적응급] 폐쇄병동입원", Condition.PSYCHIATRIC_ADMISSION),
    (25, "[안과적수술] 응급", Condition.EYE_SURGERY),
    (26, "[영상의학혈관중재] 성인", Condition.INTERVENTIONAL_RADIOLOGY_ADULT),
    (27, "[영상의학혈관중재] 영유아", Condition.INTERVENTIONAL_RADIOLOGY_INFANT),
    (28, "응급실 (Emergency gate keeper)", Condition.ER_OPEN),
]


def document(*items: str, result_code: str = "00", result_msg: str = "NORMAL SERVICE.") -> bytes:
    """An E-Gen response with ``items`` (the inner XML of each ``<item>``)."""
    body = "".join(f"<item>{item}</item>" for item in items)
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f"<response><header><resultCode>{result_code}</resultCode><resultMsg>{result_msg}</resultMsg></header>"
        f"<body><items>{body}</items><numOfRows>10</numOfRows><pageNo>1</pageNo>"
        f"<totalCount>{len(items)}</totalCount></body></response>"
    ).encode()


def fields(**values: str) -> str:
    return "".join(f"<{name}>{escape(value)}</{name}>" for name, value in values.items())


def one(items: list[EgenItem]) -> EgenItem:
    assert len(items) == 1, items
    return items[0]


def bed(xml: bytes, bed_type: BedType = BedType.ER_GENERAL) -> BedUpdate:
    return one(parse_beds(xml)).update.beds[bed_type]


# --- the real sample ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> bytes:
    return SAMPLE.read_bytes()


def test_real_sample_beds(sample: bytes) -> None:
    item = one(parse_beds(sample))
    assert item.hpid == "A1100015"
    assert item.name == "연세대학교의과대학강남세브란스병원"
    expected = {
        BedType.ER_GENERAL: (6, 15),
        BedType.ER_PAEDIATRIC: (1, 2),
        BedType.ER_ISOLATION_NEGATIVE_PRESSURE: (1, 1),
        BedType.ER_ISOLATION_GENERAL: (2, 2),
        BedType.ICU: (12, 29),
        BedType.OPERATING_ROOM: (20, 23),
        BedType.GENERAL_ADMISSION: (235, 763),
    }
    assert {k: (v.available, v.total) for k, v in item.update.beds.items()} == expected
    assert not any(v.overcrowded for v in item.update.beds.values())
    assert item.warnings == ()


def test_real_sample_equipment_and_time(sample: bytes) -> None:
    update = one(parse_beds(sample)).update
    # hvoxyayn (hyperbaric oxygen, N1) is not one of our equipment fields; all seven others are Y.
    assert update.equipment == dict.fromkeys(Equipment, True)
    assert update.observed_at == datetime(2024, 9, 26, 11, 42, 23, tzinfo=UTC)
    assert update.conditions == {}
    assert update.ems_traffic is None


def test_real_sample_sets_every_bed_field_so_the_store_replaces_the_snapshot(sample: bytes) -> None:
    for change in one(parse_beds(sample)).update.beds.values():
        assert change.model_fields_set == {"available", "total", "overcrowded"}


def test_parse_detects_the_real_sample_as_beds(sample: bytes) -> None:
    kind, items = parse(sample)
    assert kind == "beds"
    assert items == parse_beds(sample)


# --- bed values ----------------------------------------------------------------------------------


def test_minus_one_is_unknown_not_zero() -> None:
    change = bed(document(fields(hpid="A1500002", hvec="-1", hvs01="20", hvidate="20260101120000")))
    assert (change.available, change.total, change.overcrowded) == (None, 20, False)


@pytest.mark.parametrize("value", ["-2", "-3", "-17"])
def test_minus_two_and_below_is_overcrowded_with_none_available(value: str) -> None:
    change = bed(document(fields(hpid="A1500002", hvec=value, hvs01="20", hvidate="20260101120000")))
    assert (change.available, change.total, change.overcrowded) == (0, 20, True)


@pytest.mark.parametrize("inner", ["<hvec></hvec>", "<hvec>  </hvec>", "<hvec/>", ""])
def test_empty_or_missing_available_is_unknown(inner: str) -> None:
    xml = document(f"<hpid>A1500002</hpid>{inner}<hvs01>12</hvs01><hvidate>20260101120000</hvidate>")
    change = bed(xml)
    assert (change.available, change.total, change.overcrowded) == (None, 12, False)


def test_missing_capacity_is_unknown_total() -> None:
    change = bed(document(fields(hpid="A1500002", hvec="4", hvidate="20260101120000")))
    assert (change.available, change.total) == (4, None)


def test_bed_types_absent_from_the_item_are_not_touched() -> None:
    item = one(parse_beds(document(fields(hpid="A1500002", hvicc="3", hvs17="10", hvidate="20260101120000"))))
    assert set(item.update.beds) == {BedType.ICU}
    assert item.update.equipment == {}


@pytest.mark.parametrize(("bed_type", "available_field", "capacity_field"), [(k, *v) for k, v in BED_FIELDS.items()])
def test_every_bed_type_reads_its_own_fields(bed_type: BedType, available_field: str, capacity_field: str) -> None:
    xml = document(
        f"<hpid>A1500002</hpid><{available_field}>3</{available_field}><{capacity_field}>9</{capacity_field}>"
    )
    item = one(parse_beds(xml))
    assert set(item.update.beds) == {bed_type}
    assert (item.update.beds[bed_type].available, item.update.beds[bed_type].total) == (3, 9)


def test_element_names_are_case_insensitive() -> None:
    xml = document(
        "<HPID>A1500002</HPID><HVEC>5</HVEC><HvS01>7</HvS01><HVCTAYN>y</HVCTAYN><HVIDATE>20260101120000</HVIDATE>"
    )
    item = one(parse_beds(xml))
    assert item.hpid == "A1500002"
    assert (item.update.beds[BedType.ER_GENERAL].available, item.update.beds[BedType.ER_GENERAL].total) == (5, 7)
    assert item.update.equipment == {Equipment.CT: True}
    assert item.update.observed_at == datetime(2026, 1, 1, 3, 0, tzinfo=UTC)


def test_available_above_total_keeps_available_drops_total_and_warns() -> None:
    item = one(parse_beds(document(fields(hpid="A1500002", hvec="9", hvs01="4", hvidate="20260101120000"))))
    change = item.update.beds[BedType.ER_GENERAL]
    assert (change.available, change.total) == (9, None)
    assert len(item.warnings) == 1
    assert "hvec 9" in item.warnings[0]
    assert "hvs01 4" in item.warnings[0]


def test_non_integer_count_is_unknown_with_a_warning() -> None:
    item = one(parse_beds(document(fields(hpid="A1500002", hvec="Y", hvs01="4", hvidate="20260101120000"))))
    assert item.update.beds[BedType.ER_GENERAL].available is None
    assert any("hvec" in w and "not an integer" in w for w in item.warnings)


def test_count_out_of_range_names_hpid_and_field() -> None:
    with pytest.raises(EgenError, match=r"A1500002.*er_general.*hvec"):
        parse_beds(document(fields(hpid="A1500002", hvec="20000", hvidate="20260101120000")))


@pytest.mark.parametrize(
    ("value", "expected"), [("Y", True), ("Y ", True), ("y", True), ("N", False), ("N1", False), ("X", False)]
)
def test_equipment_only_y_is_available(value: str, expected: bool) -> None:
    item = one(parse_beds(document(fields(hpid="A1500002", hvmriayn=value, hvidate="20260101120000"))))
    assert item.update.equipment == {Equipment.MRI: expected}


def test_missing_or_empty_equipment_is_not_named() -> None:
    item = one(parse_beds(document("<hpid>A1500002</hpid><hvctayn/><hvec>1</hvec><hvidate>20260101120000</hvidate>")))
    assert item.update.equipment == {}


@pytest.mark.parametrize("hvidate", [None, "", "2026-01-01 12:00", "20261301120000", "2026010112000"])
def test_missing_or_invalid_hvidate_is_unknown_with_a_warning(hvidate: str | None) -> None:
    inner = fields(hpid="A1500002", hvec="3") + ("" if hvidate is None else f"<hvidate>{hvidate}</hvidate>")
    item = one(parse_beds(document(inner)))
    assert item.update.observed_at is None
    assert any("hvidate" in w for w in item.warnings)


def test_items_without_usable_values_are_left_out_and_order_is_kept() -> None:
    xml = document(
        fields(hpid="A1500002", hvec="3", hvidate="20260101120000"),
        fields(hpid="A1500001", hv42="Y", hvidate="20260101120000"),  # delivery rooms: not one of ours
        fields(hpid="A1500021", hvgc="40", hvidate="20260101120000"),
    )
    assert [item.hpid for item in parse_beds(xml)] == ["A1500002", "A1500021"]


def test_duplicate_element_uses_the_first_and_warns() -> None:
    item = one(parse_beds(document("<hpid>A1500002</hpid><hvec>3</hvec><hvec>8</hvec>")))
    assert item.update.beds[BedType.ER_GENERAL].available == 3
    assert any("more than once" in w for w in item.warnings)


def test_item_without_hpid_is_named_by_index() -> None:
    xml = document(fields(hpid="A1500002", hvec="1"), fields(hvec="2"))
    with pytest.raises(EgenError, match=r"item 2 has no <hpid>"):
        parse_beds(xml)


def test_malformed_hpid_is_refused() -> None:
    with pytest.raises(EgenError, match=r"item 1: hpid"):
        parse_beds(document(fields(hpid="a1 5", hvec="1")))


# --- refused documents ----------------------------------------------------------------------------

ENVELOPE = b"""<OpenAPI_ServiceResponse>
  <cmmMsgHeader>
    <errMsg>SERVICE ERROR</errMsg>
    <returnAuthMsg>SERVICE_KEY_IS_NOT_REGISTERED_ERROR</returnAuthMsg>
    <returnReasonCode>30</returnReasonCode>
  </cmmMsgHeader>
</OpenAPI_ServiceResponse>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<response><body><items><item><hpid>A1500002</hpid><hvec>&lol3;</hvec></item></items></body></response>"""


def test_error_envelope_with_http_200() -> None:
    with pytest.raises(EgenError) as caught:
        parse_beds(ENVELOPE)
    assert str(caught.value) == "E-Gen error envelope: returnReasonCode 30 (SERVICE_KEY_IS_NOT_REGISTERED_ERROR)"


def test_error_envelope_is_refused_by_parse_too() -> None:
    with pytest.raises(EgenError, match="returnReasonCode 30"):
        parse(ENVELOPE)


def test_result_code_other_than_00() -> None:
    with pytest.raises(EgenError) as caught:
        parse_beds(document(fields(hpid="A1500002", hvec="1"), result_code="03", result_msg="NODATA_ERROR"))
    assert str(caught.value) == "resultCode 03: NODATA_ERROR"


def test_no_items() -> None:
    with pytest.raises(EgenError, match=r"no <item> elements \(totalCount 0\)"):
        parse_beds(document())


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (b"", "not XML"),
        (b"   ", "not XML"),
        (b"Service Unavailable", "not XML"),
        (b"<response><header>", "not XML"),
        (b'{"response": {"header": {"resultCode": "00"}}}', "not XML"),
        ("<response/>".encode("utf-16"), "not XML"),
        (b"<html><body>502 Bad Gateway</body></html>", "not an E-Gen response"),
    ],
)
def test_not_xml_or_not_e_gen(xml: bytes, message: str) -> None:
    with pytest.raises(EgenError, match=message):
        parse(xml)


@pytest.mark.parametrize(
    "xml",
    [
        BILLION_LAUGHS,
        b'<!doctype response SYSTEM "http://example.com/x.dtd"><response/>',
        b"<response><!ENTITY x 'y'></response>",
    ],
)
def test_doctype_and_entity_declarations_are_refused_before_parsing(xml: bytes) -> None:
    with pytest.raises(EgenError, match="DOCTYPE or ENTITY"):
        parse_beds(xml)


def test_errors_are_value_errors_with_one_line_messages() -> None:
    for xml in (ENVELOPE, BILLION_LAUGHS, b"<a>\n<b>", document(), document("<hvec>1</hvec>")):
        with pytest.raises(ValueError) as caught:
            parse(xml)
        assert isinstance(caught.value, EgenError)
        assert "\n" not in str(caught.value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_egen_error(raw: bytes) -> None:
    with contextlib.suppress(EgenError):
        parse(raw)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["hvec", "hvs01", "hv28", "hvicc", "hvctayn", "hvidate"]), st.text(max_size=12)))
def test_arbitrary_field_text_gives_items_or_egen_error(values: dict[str, str]) -> None:
    try:
        items = parse_beds(document("<hpid>A1500002</hpid>" + fields(**values)))
    except EgenError:
        return
    for item in items:
        assert item.hpid == "A1500002"
        for change in item.update.beds.values():
            assert change.available is None or change.available >= 0


# --- severe-illness acceptance ------------------------------------------------------------------------


def test_kiosk_numbers_map_to_conditions_in_enum_order() -> None:
    assert {n: condition for n, _, condition in KIOSK_TABLE} == KIOSK_CONDITIONS
    assert list(KIOSK_CONDITIONS.values()) == list(Condition)[:28]
    assert Condition.MAJOR_TRAUMA not in KIOSK_CONDITIONS.values()


def test_kiosk_table_agrees_with_the_data_readme() -> None:
    """Each README row ``| MKioskTy5 / 6 | [대동맥응급] 흉부 / 복부 | ...`` names the category of our labels."""
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Severe-illness acceptance", 1)[1]
    labels = {n: label for n, label, _ in KIOSK_TABLE}
    seen = set()
    for numbers, label in re.findall(r"^\| MKioskTy([0-9 /]+) \| (.+?) \|", section, flags=re.MULTILINE):
        for number in (int(n) for n in numbers.split("/")):
            category = labels[number].split("]")[0] + "]" if "]" in labels[number] else labels[number].split()[0]
            assert category in label, (number, label)
            seen.add(number)
    assert seen == set(range(1, 29))


#: One centre with every value variant: number → text, None = element missing.
VARIANTS: dict[int, str | None] = {
    1: "Y",
    2: "Y ",
    3: "N",
    4: "N1",
    5: "불가능",
    6: "정보미제공",
    7: None,
    8: "",
    9: " y ",
    **{n: ("Y" if n % 2 else "N") for n in range(10, 28)},
    28: "Y",
}


def severe_fields(values: dict[int, str | None], *, name: str = "MKioskTy") -> str:
    return "".join(f"<{name}{n}>{escape(v)}</{name}{n}>" for n, v in values.items() if v is not None)


def test_severe_value_variants() -> None:
    xml = document(
        fields(hpid="A1500002", dutyName="전남대학교병원", hvidate="20260914150000") + severe_fields(VARIANTS)
    )
    item = one(parse_severe(xml))
    assert item.hpid == "A1500002"
    assert item.name == "전남대학교병원"
    assert item.update.observed_at == datetime(2026, 9, 14, 6, 0, tzinfo=UTC)
    conditions = item.update.conditions
    assert conditions[Condition.STEMI_PCI] is True  # Y
    assert conditions[Condition.STROKE_THROMBECTOMY] is True  # "Y "
    assert conditions[Condition.SAH_SURGERY] is False  # N
    assert conditions[Condition.ICH_SURGERY] is False  # N1
    assert conditions[Condition.AORTIC_THORACIC] is False  # 불가능
    assert Condition.AORTIC_ABDOMINAL not in conditions  # 정보미제공: unknown, not False
    assert Condition.GALLBLADDER not in conditions  # missing
    assert Condition.BILIARY_DUCT not in conditions  # empty
    assert conditions[Condition.ABDOMINAL_SURGERY] is True  # " y "
    for n in range(10, 28):
        assert conditions[KIOSK_CONDITIONS[n]] is (n % 2 == 1), n
    assert conditions[Condition.ER_OPEN] is True
    assert len(conditions) == 28 - 3
    assert list(conditions) == [c for c in Condition if c in conditions]
    assert item.update.beds == {}
    assert item.warnings == ()


def test_lower_case_mkioskty_names() -> None:
    xml = document(fields(hpid="A1500002") + "<mkioskty1>Y</mkioskty1><MKIOSKTY2>N</MKIOSKTY2>")
    assert one(parse_severe(xml)).update.conditions == {Condition.STEMI_PCI: True, Condition.STROKE_THROMBECTOMY: False}


def test_gate_keeper_n_closes_the_er() -> None:
    xml = document(fields(hpid="A1500019", MKioskTy1="Y", MKioskTy28="N"))
    conditions = one(parse_severe(xml)).update.conditions
    assert conditions[Condition.ER_OPEN] is False
    assert conditions[Condition.STEMI_PCI] is True


def test_hvidate_is_optional_for_severe_items() -> None:
    item = one(parse_severe(document(fields(hpid="A1500002", MKioskTy2="Y"))))
    assert item.update.observed_at is None
    assert item.warnings == ()


def test_age_limit_messages_become_warnings_not_conditions() -> None:
    xml = document(
        fields(hpid="A1500002", MKioskTy10="Y", MKioskTy10Msg="만 3세 이상", M_KOISK_TY12_MSG="신생아 불가")
        + "<MKioskTy15Msg/>"
    )
    item = one(parse_severe(xml))
    assert item.update.conditions == {Condition.INFANT_INTUSSUSCEPTION: True}
    assert item.warnings == ("MKioskTy10Msg: 만 3세 이상", "M_KOISK_TY12_MSG: 신생아 불가")


def test_unrecognised_severe_value_is_not_capable_with_a_warning() -> None:
    item = one(parse_severe(document(fields(hpid="A1500002", MKioskTy3="가능?", MKioskTy29="Y"))))
    assert item.update.conditions == {Condition.SAH_SURGERY: False}
    assert any("MKioskTy3" in w for w in item.warnings)
    assert any("MKioskTy29" in w for w in item.warnings)


def test_severe_item_with_only_unknowns_is_left_out() -> None:
    xml = document(
        fields(hpid="A1500002", MKioskTy1="정보미제공", MKioskTy2=""),
        fields(hpid="A1500001", MKioskTy1="N"),
    )
    assert [item.hpid for item in parse_severe(xml)] == ["A1500001"]


def test_parse_detects_severe() -> None:
    kind, items = parse(document(fields(hpid="A1500002", hvidate="20260914150000") + severe_fields(VARIANTS)))
    assert kind == "severe"
    assert len(one(items).update.conditions) == 25


# --- which operation ------------------------------------------------------------------------------

BASIC_INFO = document(
    fields(
        hpid="A1500002",
        dutyName="전남대학교병원",
        dutyAddr="광주광역시 동구 제봉로 42",
        hvec="5",
        hpbdn="1000",
        dutyTime1s="0830",
        MKioskTy1="Y",
        MKioskTy25="Y",
    )
)


@pytest.mark.parametrize("parser", [parse, parse_beds, parse_severe])
def test_basic_info_with_legacy_mkiosk_meanings_is_refused(parser: Callable[[bytes], object]) -> None:
    with pytest.raises(EgenError, match="getEgytBassInfoInqire"):
        parser(BASIC_INFO)


def test_document_with_both_kinds_is_refused() -> None:
    with pytest.raises(EgenError, match="both bed fields and MKioskTy"):
        parse(document(fields(hpid="A1500002", hvec="3", MKioskTy1="Y")))


def test_document_of_neither_kind_is_refused() -> None:
    with pytest.raises(EgenError, match="neither"):
        parse(document(fields(hpid="A1500002", dutyName="x", hvidate="20260914150000")))


def test_each_parser_refuses_the_other_operation(sample: bytes) -> None:
    with pytest.raises(EgenError, match="not severe-illness"):
        parse_severe(sample)
    with pytest.raises(EgenError, match="not real-time beds"):
        parse_beds(document(fields(hpid="A1500002", MKioskTy1="Y")))


# --- URLs ------------------------------------------------------------------------------------------


def test_build_url_encodes_korean_stages_and_a_decoded_key() -> None:
    url = build_url(
        "getEmrrmRltmUsefulSckbdInfoInqire", service_key="ab+c/d==", stage1="광주광역시", stage2="북구", page=2, rows=50
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == BASE_URL + "getEmrrmRltmUsefulSckbdInfoInqire"
    assert parts.query.startswith("serviceKey=ab%2Bc%2Fd%3D%3D&")
    assert "광" not in url and " " not in url
    assert parse_qs(parts.query) == {
        "serviceKey": ["ab+c/d=="],
        "STAGE1": ["광주광역시"],
        "STAGE2": ["북구"],
        "pageNo": ["2"],
        "numOfRows": ["50"],
    }


def test_build_url_does_not_double_encode_an_encoded_key() -> None:
    url = build_url("getSrsillDissAceptncPosblInfoInqire", service_key="ab%2Bc%2Fd%3D%3D", stage1=None, stage2=None,
                    page=1, rows=10)  # fmt: skip
    assert "serviceKey=ab%2Bc%2Fd%3D%3D&" in url
    assert "%25" not in url
    assert "STAGE1" not in url
    assert parse_qs(urlsplit(url).query)["serviceKey"] == ["ab+c/d=="]


@pytest.mark.parametrize(
    ("operation", "key", "stage1", "stage2", "page", "rows", "message"),
    [
        ("getNothing", "k", None, None, 1, 10, "unknown operation"),
        ("getEgytListInfoInqire", " ", None, None, 1, 10, "empty"),
        ("getEgytListInfoInqire", "ab%2 c", None, None, 1, 10, "percent-encoded"),
        ("getEgytListInfoInqire", "k", None, "북구", 1, 10, "stage2"),
        ("getEgytListInfoInqire", "k", None, None, 0, 10, "at least 1"),
        ("getEgytListInfoInqire", "k", None, None, 1, 0, "at least 1"),
    ],
)
def test_build_url_refuses(
    operation: str, key: str, stage1: str | None, stage2: str | None, page: int, rows: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_url(operation, service_key=key, stage1=stage1, stage2=stage2, page=page, rows=rows)
