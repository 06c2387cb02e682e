"""Tests of ``dispatch.severity.features``: every quirk of the KTAS file, live payloads, KTAS modifiers, the matrix.

KTAS rows are built here as bytes in the file's own format (cp1254, ``;``, CRLF, the real header line), so
each quirk of the README is exercised on exactly the bytes the real file has.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dispatch.severity.features import (
    CATEGORIES,
    KTAS_ENCODING,
    LEAKING_COLUMNS,
    NUMERIC,
    ONE_HOT_NAMES,
    Presentation,
    avpu_from_gcs,
    category_row,
    feature_matrix,
    from_ktas_row,
    from_vitals,
    ktas_labels,
    ktas_rows,
    pain_level,
    vital_level,
)
from goldentime.settings import default_data_dir
from loaders.severity import KTAS_FILE, read_ktas
from telemetry.schemas import Avpu, CrewFlags, Sex, Vitals

#: The header line of ``ktas_triage_moon2019_dev.csv``, byte for byte (checked against the file below).
HEADER = (
    "Group;Sex;Age;Patients number per hour;Arrival mode;Injury;Chief_complain;Mental;Pain;NRS_pain;SBP;DBP;HR;RR;"
    "BT;Saturation;KTAS_RN;Diagnosis in ED;Disposition;KTAS_expert;Error_group;Length of stay_min;"
    "KTAS duration_min;mistriage"
)
COLUMNS = HEADER.split(";")

#: A complete, ordinary row (the first row of the real file): every test changes only what it is about.
BASE: dict[str, str] = {
    "Group": "2",
    "Sex": "2",
    "Age": "71",
    "Patients number per hour": "3",
    "Arrival mode": "3",
    "Injury": "2",
    "Chief_complain": "right ocular pain",
    "Mental": "1",
    "Pain": "1",
    "NRS_pain": "2",
    "SBP": "160",
    "DBP": "100",
    "HR": "84",
    "RR": "18",
    "BT": "36.6",
    "Saturation": "100",
    "KTAS_RN": "2",
    "Diagnosis in ED": "Corneal abrasion",
    "Disposition": "1",
    "KTAS_expert": "4",
    "Error_group": "2",
    "Length of stay_min": "86",
    "KTAS duration_min": "5,00",
    "mistriage": "1",
}

NULL_MARKER = "#BOŞ!"  # Turkish Excel's #NULL!, byte 0xDE in cp1254


def ktas_bytes(*rows: dict[str, str]) -> bytes:
    """A file in the KTAS data set's format with ``rows`` (each a change of BASE), CRLF after every line."""
    lines = [HEADER] + [";".join({**BASE, **row}[column] for column in COLUMNS) for row in rows]
    return "".join(line + "\r\n" for line in lines).encode(KTAS_ENCODING)


def presentations(*rows: dict[str, str]) -> list[Presentation]:
    """``rows`` written as KTAS bytes, read back and converted: the full path of a real file."""
    return [from_ktas_row(row) for row in ktas_rows(ktas_bytes(*rows))]


def one(**changes: str) -> Presentation:
    (presentation,) = presentations(changes)
    return presentation


def ktas_path() -> Path:
    return default_data_dir() / KTAS_FILE


# --- the format itself ------------------------------------------------------------------------------------------


def test_header_is_the_real_files_header() -> None:
    first_line = ktas_path().read_bytes().split(b"\r\n", 1)[0]
    assert first_line.decode(KTAS_ENCODING) == HEADER
    assert set(LEAKING_COLUMNS) <= set(COLUMNS)


def test_built_bytes_have_the_files_quirks() -> None:
    raw = ktas_bytes({"NRS_pain": NULL_MARKER, "Pain": "0"})
    assert raw.count(b"\r\n") == 2 and raw.endswith(b"\r\n")
    assert b"#BO\xde!" in raw  # Ş is the single byte 0xDE in cp1254, not UTF-8
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_base_row_reads_as_expected() -> None:
    assert one() == Presentation(
        age_years=71.0,
        female=False,
        ambulance=False,
        injury=True,
        avpu="A",
        pain=True,
        pain_nrs=2.0,
        sbp_mmhg=160.0,
        dbp_mmhg=100.0,
        hr_bpm=84.0,
        rr_per_min=18.0,
        temp_c=36.6,
        spo2_pct=100.0,
        complaint="right ocular pain",
    )


# --- missing-value markers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "field"),
    [("SBP", "sbp_mmhg"), ("DBP", "dbp_mmhg"), ("HR", "hr_bpm"), ("RR", "rr_per_min"), ("BT", "temp_c")],
)
def test_question_marks_in_a_vital_sign_are_not_measured(column: str, field: str) -> None:
    presentation = one(**{column: "??"})
    assert getattr(presentation, field) is None
    # only that field changed
    assert dataclasses.replace(presentation, **{field: getattr(one(), field)}) == one()


def test_question_marks_in_every_vital_sign_at_once() -> None:
    p = one(SBP="??", DBP="??", HR="??", RR="??", BT="??", Saturation="??")
    assert (p.sbp_mmhg, p.dbp_mmhg, p.hr_bpm, p.rr_per_min, p.temp_c, p.spo2_pct) == (None,) * 6
    numeric = feature_matrix([p]).numeric[0]
    for name in ("sbp_mmhg", "dbp_mmhg", "hr_bpm", "rr_per_min", "temp_c", "shock_index"):
        assert math.isnan(numeric[NUMERIC.index(name)]), name
    assert numeric[NUMERIC.index("hypoxia")] == 0.0


def test_null_marker_in_nrs_pain_with_pain_is_unknown_severity() -> None:
    p = one(Pain="1", NRS_pain=NULL_MARKER)
    assert p.pain is True and p.pain_nrs is None
    assert pain_level(p) == "unknown"


def test_null_marker_in_nrs_pain_without_pain_is_no_pain() -> None:
    p = one(Pain="0", NRS_pain=NULL_MARKER)
    assert p.pain is False and p.pain_nrs == 0.0
    assert pain_level(p) == "none"


def test_null_marker_read_as_latin1_is_also_missing() -> None:
    # The README: decoding as latin-1 shows the marker as #BOÞ!; the feature function accepts it too.
    (row,) = ktas_rows(ktas_bytes({"NRS_pain": NULL_MARKER, "Pain": "1"}))
    assert row["NRS_pain"] == NULL_MARKER
    assert from_ktas_row({**row, "NRS_pain": "#BOÞ!"}).pain_nrs is None


def test_empty_saturation_is_not_measured() -> None:
    assert one(Saturation="").spo2_pct is None
    assert one(Saturation="??").spo2_pct is None
    assert one(Saturation="94").spo2_pct == 94.0


def test_unreadable_cells_are_missing_not_errors() -> None:
    p = one(SBP="abc", HR="nan", RR="inf", Age="")
    assert (p.sbp_mmhg, p.hr_bpm, p.rr_per_min, p.age_years) == (None, None, None, None)


# --- codings and number formats -----------------------------------------------------------------------------------


def test_pain_is_coded_one_yes_zero_no() -> None:
    assert one(Pain="1", NRS_pain="6").pain is True
    assert one(Pain="1", NRS_pain="6").pain_nrs == 6.0
    no_pain = one(Pain="0", NRS_pain="6")  # an NRS beside Pain = 0 does not make it painful
    assert no_pain.pain is False and no_pain.pain_nrs == 0.0
    assert one(Pain="", NRS_pain=NULL_MARKER).pain is None


def test_dbp_written_with_a_trailing_point() -> None:
    assert one(DBP="36.").dbp_mmhg == 36.0


def test_decimal_comma() -> None:
    assert one(BT="36,6").temp_c == pytest.approx(36.6)
    assert one(BT="38.5").temp_c == pytest.approx(38.5)


@pytest.mark.parametrize("text", ["??", "????", "?? ???", "??? ? ???", "  ?? "])
def test_complaint_lost_to_question_marks_is_empty(text: str) -> None:
    assert one(Chief_complain=text).complaint == ""


def test_complaint_partly_question_marks_is_kept_lower_case() -> None:
    assert one(Chief_complain="Pain, ?nus").complaint == "pain, ?nus"
    assert one(Chief_complain="  Chest PAIN ").complaint == "chest pain"


@pytest.mark.parametrize(("mental", "avpu"), [("1", "A"), ("2", "V"), ("3", "P"), ("4", "U"), ("??", None)])
def test_mental_is_avpu(mental: str, avpu: str | None) -> None:
    assert one(Mental=mental).avpu == avpu


@pytest.mark.parametrize(("sex", "female"), [("1", True), ("2", False), ("", None)])
def test_sex_one_is_female(sex: str, female: bool | None) -> None:
    assert one(Sex=sex).female is female


@pytest.mark.parametrize(("injury", "expected"), [("1", False), ("2", True), ("", None)])
def test_injury_two_is_injury(injury: str, expected: bool | None) -> None:
    assert one(Injury=injury).injury is expected


@pytest.mark.parametrize(("mode", "ambulance"), [("1", False), ("2", True), ("3", False), ("4", False), ("7", False)])
def test_only_arrival_mode_two_is_a_119_ambulance(mode: str, ambulance: bool) -> None:
    assert one(**{"Arrival mode": mode}).ambulance is ambulance


# --- leakage and the site -----------------------------------------------------------------------------------------

LEAK_CHANGES: dict[str, list[str]] = {
    "KTAS_RN": ["1", "5", ""],
    "Diagnosis in ED": ["", "Acute myocardial infarction", "Ureter stone’s"],
    "Disposition": ["3", "6", "7"],
    "Error_group": ["0 ", "4", "9"],
    "mistriage": ["0 ", "2", ""],
    "Length of stay_min": ["709510", "0", ""],
    "KTAS duration_min": ["1,00", "17,37", ""],
    "Group": ["1", ""],
    "KTAS_expert": ["1", "5"],
}


@pytest.mark.parametrize("column", sorted(LEAK_CHANGES))
def test_leaking_columns_and_site_never_reach_the_presentation(column: str) -> None:
    base = one()
    for value in LEAK_CHANGES[column]:
        assert one(**{column: value}) == base, (column, value)


def test_all_leaking_columns_changed_at_once() -> None:
    assert set(LEAKING_COLUMNS) <= set(LEAK_CHANGES)
    changed = {column: values[0] for column, values in LEAK_CHANGES.items()}
    assert presentations(changed) == presentations({})


def _same_features(a: list[Presentation], b: list[Presentation]) -> bool:
    fa, fb = feature_matrix(a), feature_matrix(b)
    return (
        np.array_equal(fa.numeric, fb.numeric, equal_nan=True)
        and np.array_equal(fa.one_hot, fb.one_hot)
        and fa.complaints == fb.complaints
    )


def test_missing_saturation_does_not_reveal_the_site() -> None:
    # Group 1 never has SpO2: a missing SpO2 must look exactly like a normal one to the model.
    missing = presentations({"Group": "1", "Saturation": ""})
    normal = presentations({"Group": "2", "Saturation": "98"})
    not_measurable = presentations({"Group": "2", "Saturation": "??"})
    assert missing[0].spo2_pct is None and normal[0].spo2_pct == 98.0
    assert _same_features(missing, normal)
    assert _same_features(missing, not_measurable)
    hypoxia = NUMERIC.index("hypoxia")
    assert feature_matrix(missing).numeric[0, hypoxia] == 0.0
    assert feature_matrix(normal).numeric[0, hypoxia] == 0.0


def test_low_saturation_is_a_hypoxia_deficit() -> None:
    hypoxia = NUMERIC.index("hypoxia")
    (low,) = presentations({"Saturation": "88"})
    assert feature_matrix([low]).numeric[0, hypoxia] == 6.0
    assert feature_matrix([one(Saturation="94")]).numeric[0, hypoxia] == 0.0
    assert not _same_features([low], presentations({"Saturation": ""}))


# --- the real file ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_rows() -> list[dict[str, str]]:
    return read_ktas(ktas_path())


def test_real_file_rows_and_labels(real_rows: list[dict[str, str]]) -> None:
    assert len(real_rows) == 1014
    assert list(real_rows[0]) == COLUMNS
    labels = ktas_labels(real_rows)
    assert labels.dtype == np.int64
    assert [int((labels == k).sum()) for k in range(1, 6)] == [21, 176, 390, 367, 60]
    nurse = ktas_labels(real_rows, "KTAS_RN")
    assert set(nurse.tolist()) == {1, 2, 3, 4, 5}


def test_real_file_reads_the_same_from_path_and_bytes(real_rows: list[dict[str, str]]) -> None:
    assert ktas_rows(ktas_path().read_bytes()) == real_rows


def test_every_real_row_converts(real_rows: list[dict[str, str]]) -> None:
    converted = [from_ktas_row(row) for row in real_rows]
    assert len(converted) == 1014
    matrix = feature_matrix(converted)
    assert matrix.numeric.shape == (1014, len(NUMERIC))
    assert (matrix.one_hot.sum(axis=1) == len(CATEGORIES)).all()
    # the markers were all recognised: the NRS marker decodes as cp1254, no other text leaks into numbers
    assert {row["NRS_pain"] for row in real_rows if not row["NRS_pain"].isdigit()} == {NULL_MARKER}
    assert all(p.avpu in ("A", "V", "P", "U") for p in converted)
    assert all(p.pain is not None for p in converted)
    for row, p in zip(real_rows, converted, strict=True):
        if row["Pain"] == "0":
            assert p.pain is False and p.pain_nrs == 0.0
        if row["Group"] == "1":
            assert p.spo2_pct is None  # the site quirk
    assert sum(p.sbp_mmhg is None for p in converted) == 20
    assert sum(p.complaint == "" for p in converted) == 19
    assert any(row["DBP"] == "36." for row in real_rows)
    assert {p.dbp_mmhg for row, p in zip(real_rows, converted, strict=True) if row["DBP"] == "36."} == {36.0}


def test_ktas_labels_refuse_a_missing_or_invalid_level() -> None:
    rows = ktas_rows(ktas_bytes({}, {"KTAS_expert": ""}))
    with pytest.raises(ValueError, match=r"row 2: KTAS_expert '' is not a KTAS level 1-5"):
        ktas_labels(rows)
    for bad in ("0", "6", "2.5", "??"):
        with pytest.raises(ValueError):
            ktas_labels(ktas_rows(ktas_bytes({"KTAS_expert": bad})))
    with pytest.raises(ValueError):
        ktas_labels([{"Group": "1"}])  # no label column at all
    assert ktas_labels([]).shape == (0,)


# --- live vitals ------------------------------------------------------------------------------------------------


def vitals(**fields: Any) -> Vitals:
    return Vitals.new(patient_id="pt-0001", **fields)


def test_from_vitals_maps_every_field() -> None:
    p = from_vitals(
        vitals(
            age_years=67,
            sex=Sex.FEMALE,
            hr_bpm=112,
            sbp_mmhg=98,
            dbp_mmhg=60,
            rr_per_min=24,
            spo2_pct=91,
            temp_c=38.2,
            avpu=Avpu.VOICE,
            gcs=9,
            pain_nrs=7,
            injury=False,
            chief_complaint="  Chest Pain ",
        )
    )
    assert p == Presentation(
        age_years=67.0,
        female=True,
        ambulance=True,
        injury=False,
        avpu="V",  # AVPU given: the GCS is not used
        pain=True,
        pain_nrs=7.0,
        sbp_mmhg=98.0,
        dbp_mmhg=60.0,
        hr_bpm=112.0,
        rr_per_min=24.0,
        temp_c=38.2,
        spo2_pct=91.0,
        complaint="chest pain",
    )


def test_from_vitals_with_nothing_measured() -> None:
    assert from_vitals(vitals()) == Presentation(ambulance=True)


@pytest.mark.parametrize(("sex", "female"), [(Sex.FEMALE, True), (Sex.MALE, False), (Sex.UNKNOWN, None), (None, None)])
def test_from_vitals_sex(sex: Sex | None, female: bool | None) -> None:
    assert from_vitals(vitals(sex=sex)).female is female


@pytest.mark.parametrize("gcs", range(3, 16))
def test_from_vitals_gcs_only_gives_avpu(gcs: int) -> None:
    assert from_vitals(vitals(gcs=gcs)).avpu == avpu_from_gcs(gcs)


@pytest.mark.parametrize(
    ("gcs", "avpu"), [(15, "A"), (14, "A"), (13, "V"), (10, "V"), (9, "P"), (6, "P"), (5, "U"), (3, "U")]
)
def test_avpu_from_gcs_bands(gcs: int, avpu: str) -> None:
    assert avpu_from_gcs(gcs) == avpu


def test_from_vitals_trauma_and_burns_flags_are_injury() -> None:
    assert from_vitals(vitals(flags=CrewFlags(major_trauma=True))).injury is True
    assert from_vitals(vitals(injury=False, flags=CrewFlags(major_trauma=True))).injury is True
    assert from_vitals(vitals(injury=False, flags=CrewFlags(burns=True))).injury is True
    assert from_vitals(vitals(injury=False, flags=CrewFlags(stemi=True))).injury is False
    assert from_vitals(vitals()).injury is None


def test_from_vitals_pain() -> None:
    unknown = from_vitals(vitals())
    assert unknown.pain is None and unknown.pain_nrs is None
    assert pain_level(unknown) == "unknown"
    none = from_vitals(vitals(pain_nrs=0))
    assert none.pain is False and none.pain_nrs == 0.0
    assert pain_level(none) == "none"
    some = from_vitals(vitals(pain_nrs=3))
    assert some.pain is True and some.pain_nrs == 3.0


def test_from_vitals_complaint_of_question_marks_is_empty() -> None:
    assert from_vitals(vitals(chief_complaint="???")).complaint == ""
    assert from_vitals(vitals(chief_complaint=None)).complaint == ""


def test_live_and_ktas_paths_agree() -> None:
    # The same patient typed into the tablet and written in a KTAS row gives the same model inputs (except
    # ambulance, which is always True live: use a 119 arrival in the row).
    row = one(**{"Arrival mode": "2", "Sex": "1", "Injury": "1", "Pain": "1", "NRS_pain": "5", "BT": "37.1"})
    live = from_vitals(
        vitals(
            age_years=71,
            sex=Sex.FEMALE,
            injury=False,
            avpu=Avpu.ALERT,
            pain_nrs=5,
            sbp_mmhg=160,
            dbp_mmhg=100,
            hr_bpm=84,
            rr_per_min=18,
            temp_c=37.1,
            spo2_pct=100,
            chief_complaint="right ocular pain",
        )
    )
    assert live == row
    assert _same_features([live], [row])


# --- KTAS modifiers -------------------------------------------------------------------------------------------------


def pain(nrs: float | None, complaint: str, present: bool | None = True) -> Presentation:
    return Presentation(pain=present, pain_nrs=nrs, complaint=complaint)


@pytest.mark.parametrize(
    ("nrs", "complaint", "level"),
    [
        (9, "chest pain", "2"),
        (8, "abd pain", "2"),
        (10, "headache", "2"),
        (9, "ankle pain", "3"),
        (8, "finger laceration", "3"),
        (5, "chest pain", "3"),
        (4, "flank pain", "3"),
        (7, "knee pain", "4"),
        (3, "epigastric pain", "4"),
        (1, "back pain", "4"),
        (3, "wrist pain", "5"),
        (1, "", "5"),
    ],
)
def test_pain_level(nrs: float, complaint: str, level: str) -> None:
    assert pain_level(pain(nrs, complaint)) == level


def test_pain_level_none_and_unknown() -> None:
    assert pain_level(pain(0, "chest pain")) == "none"
    assert pain_level(pain(None, "chest pain", present=False)) == "none"
    assert pain_level(pain(None, "chest pain", present=None)) == "unknown"
    assert pain_level(pain(None, "chest pain", present=True)) == "unknown"


NORMAL = Presentation(
    age_years=45, avpu="A", sbp_mmhg=125, dbp_mmhg=80, hr_bpm=80, rr_per_min=16, temp_c=36.8, spo2_pct=98
)


@pytest.mark.parametrize(
    ("changes", "level"),
    [
        ({}, 5),
        ({"sbp_mmhg": 75}, 1),
        ({"spo2_pct": 85}, 1),
        ({"avpu": "U"}, 1),
        ({"avpu": "P"}, 1),
        ({"spo2_pct": 91}, 2),
        ({"sbp_mmhg": 85}, 2),
        ({"hr_bpm": 135}, 2),
        ({"hr_bpm": 40}, 2),
        ({"rr_per_min": 30}, 2),
        ({"rr_per_min": 8}, 2),
        ({"avpu": "V"}, 2),
        ({"hr_bpm": 115}, 3),
        ({"sbp_mmhg": 210}, 3),
        ({"rr_per_min": 26}, 3),
        ({"spo2_pct": 93}, 3),
        ({"temp_c": 38.5}, 3),
        ({"spo2_pct": 95, "hr_bpm": 110, "temp_c": 38.4}, 5),
        ({"sbp_mmhg": None, "hr_bpm": None, "spo2_pct": None, "avpu": None}, 5),
        ({"sbp_mmhg": 75, "hr_bpm": 115}, 1),  # the most urgent modifier wins
    ],
)
def test_vital_level(changes: dict[str, Any], level: int) -> None:
    assert vital_level(dataclasses.replace(NORMAL, **changes)) == level


# --- the feature matrix -----------------------------------------------------------------------------------------


def test_feature_matrix_shapes_and_one_hot() -> None:
    rows = [
        NORMAL,
        Presentation(),
        dataclasses.replace(NORMAL, avpu="U", sbp_mmhg=70, pain=True, pain_nrs=9, complaint="chest pain"),
        one(Saturation="", NRS_pain=NULL_MARKER, Pain="1", SBP="??", Age="85"),
    ]
    matrix = feature_matrix(rows)
    assert matrix.numeric.shape == (4, len(NUMERIC))
    assert matrix.one_hot.shape == (4, len(ONE_HOT_NAMES)) == (4, sum(len(v) for v in CATEGORIES.values()))
    assert set(np.unique(matrix.one_hot).tolist()) <= {0.0, 1.0}
    assert (matrix.one_hot.sum(axis=1) == len(CATEGORIES)).all()
    for row, p in enumerate(rows):  # exactly one column per category, the one category_row names
        hot = {ONE_HOT_NAMES[i] for i in np.flatnonzero(matrix.one_hot[row])}
        assert hot == {f"{name}={value}" for name, value in category_row(p).items()}
    assert matrix.complaints == ("", "", "chest pain", "right ocular pain")
    last = dict(zip(NUMERIC, matrix.numeric[3], strict=True))
    assert math.isnan(last["sbp_mmhg"]) and math.isnan(last["shock_index"]) and math.isnan(last["pain_nrs"])
    assert category_row(rows[3])["age_band"] == "80+" and category_row(rows[3])["pain_level"] == "unknown"
    first = dict(zip(NUMERIC, matrix.numeric[0], strict=True))
    assert first["shock_index"] == pytest.approx(80 / 125) and first["news2"] == 0.0
    assert math.isnan(first["female"]) and first["ambulance"] == 1.0


def test_feature_matrix_of_nothing() -> None:
    matrix = feature_matrix([])
    assert matrix.numeric.shape == (0, len(NUMERIC))
    assert matrix.one_hot.shape == (0, len(ONE_HOT_NAMES))
    assert matrix.complaints == ()


def test_age_bands() -> None:
    bands = Counter(category_row(Presentation(age_years=a))["age_band"] for a in (16, 39.9, 40, 64, 65, 79, 80, 96))
    assert bands == {"<40": 2, "40-64": 2, "65-79": 2, "80+": 2}
    assert category_row(Presentation())["age_band"] == "unknown"
