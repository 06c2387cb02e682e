"""The FHIR R4 export of recorded vitals: every Observation and the Bundle validate with
``fhir.resources`` (its R4B models; R4B's Observation and Bundle are R4's) and keep to the R4
vital-signs profile; missing vitals give no Observation; ids are stable; the store is read with
its filters on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from telemetry import fhir, schemas, topics
from telemetry.fhir_export import DatabaseUnavailable, open_engine, read_vitals
from telemetry.store import StoredMessage, TelemetryStore

T0 = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PROFILE = "http://hl7.org/fhir/StructureDefinition/"

#: The issue's table: field -> (LOINC codes, UCUM code, R4 profile).
EXPECTED: dict[str, tuple[list[str], str, str]] = {
    "hr_bpm": (["8867-4"], "/min", "heartrate"),
    "rr_per_min": (["9279-1"], "/min", "resprate"),
    "spo2_pct": (["2708-6", "59408-5"], "%", "oxygensat"),
    "temp_c": (["8310-5"], "Cel", "bodytemp"),
    "gcs": (["9269-2"], "{score}", "vitalsigns"),
    "pain_nrs": (["72514-3"], "{score}", "vitalsigns"),
}
FULL: dict[str, Any] = {"hr_bpm": 112, "sbp_mmhg": 88, "dbp_mmhg": 54, "rr_per_min": 24, "spo2_pct": 91,
                        "temp_c": 38.4, "gcs": 13, "pain_nrs": 7}  # fmt: skip


def vitals(patient_id: str = "P-7f3a9c", ts: datetime = T0, **values: Any) -> schemas.Vitals:
    return schemas.Vitals.new(patient_id=patient_id, ts=ts, **values)


def rec(v: schemas.Vitals, unit: str = "U01-0") -> fhir.VitalsRecord:
    return fhir.VitalsRecord(f"ems/units/{unit}/vitals", v.msg_id, v)


def by_code(observations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["code"]["coding"][0]["code"]: o for o in observations}


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def assert_r4_vital_signs(observation: dict[str, Any]) -> None:
    """What fhir.resources does not check: the R4 vital-signs profile's own rules."""
    Observation.model_validate(observation)
    assert observation["status"] == "final"
    assert {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs",
            "display": "Vital Signs"} in observation["category"][0]["coding"]  # fmt: skip
    assert observation["meta"]["profile"][0].startswith(PROFILE)
    assert all(c["system"] == LOINC for c in observation["code"]["coding"])
    assert "reference" in observation["subject"] or "identifier" in observation["subject"]
    # vs-1: a dateTime effective precise to the day at least; our times carry a zone (Z).
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", observation["effectiveDateTime"])
    # vs-2: without components a value (never dataAbsentReason: a missing vital is no Observation).
    if "component" not in observation:
        quantity = observation["valueQuantity"]
        assert quantity["system"] == UCUM and quantity["code"] and quantity["unit"]
        assert isinstance(quantity["value"], int | float)
    # vs-3: every component has a value or a reason, never both (obs-6).
    for component in observation.get("component", []):
        assert ("valueQuantity" in component) != ("dataAbsentReason" in component)
    assert None not in list(walk(observation)), "a null in the FHIR output"


def test_every_vital_has_its_loinc_code_ucum_unit_and_profile() -> None:
    record = rec(vitals(**FULL))
    found = by_code(fhir.observations(record))
    assert set(found) == {"8867-4", "9279-1", "2708-6", "8310-5", "9269-2", "72514-3", "85354-9"}
    for field, (codes, unit, profile) in EXPECTED.items():
        observation = found[codes[0]]
        assert_r4_vital_signs(observation)
        assert [c["code"] for c in observation["code"]["coding"]] == codes
        assert observation["valueQuantity"] == {"value": FULL[field], "unit": observation["valueQuantity"]["unit"],
                                                "system": UCUM, "code": unit}  # fmt: skip
        assert observation["meta"]["profile"] == [PROFILE + profile]
    assert found["8867-4"]["valueQuantity"]["unit"] == "beats/minute"
    assert found["9279-1"]["valueQuantity"]["unit"] == "breaths/minute"


def test_blood_pressure_is_one_panel_with_systolic_and_diastolic_components() -> None:
    panel = by_code(fhir.observations(rec(vitals(**FULL))))["85354-9"]
    assert_r4_vital_signs(panel)
    assert panel["meta"]["profile"] == [PROFILE + "bp"]
    assert "valueQuantity" not in panel
    components = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in panel["component"]}
    assert components == {
        "8480-6": {"value": 88, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        "8462-4": {"value": 54, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
    }


def test_missing_vitals_give_no_observation_and_no_null() -> None:
    assert fhir.observations(rec(vitals())) == []
    only = fhir.observations(rec(vitals(hr_bpm=0, spo2_pct=None, sbp_mmhg=70)))  # arrest: 0 is a value
    found = by_code(only)
    assert set(found) == {"8867-4", "85354-9"}
    assert found["8867-4"]["valueQuantity"]["value"] == 0
    sides = {c["code"]["coding"][0]["code"]: c for c in found["85354-9"]["component"]}
    assert sides["8480-6"]["valueQuantity"]["value"] == 70
    assert sides["8462-4"]["dataAbsentReason"]["coding"][0]["code"] == "not-performed"
    for observation in only:
        assert_r4_vital_signs(observation)


def test_the_bundle_validates_and_holds_every_observation_in_order() -> None:
    records = [rec(vitals(**FULL)), rec(vitals("P-0002", T0 + timedelta(minutes=1), hr_bpm=80)), rec(vitals())]
    document = fhir.bundle(records, timestamp=T0 + timedelta(hours=1))
    parsed = Bundle.model_validate(document)
    assert parsed.type == "collection" and document["timestamp"] == "2026-11-24T10:30:00Z"
    assert len(document["entry"]) == 8
    for entry in document["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
        assert_r4_vital_signs(entry["resource"])
    assert [e["resource"]["subject"]["reference"] for e in document["entry"]][-1] == "Patient/P-0002"
    assert fhir.patients(document) == {"P-7f3a9c", "P-0002"}
    assert None not in list(walk(document))
    json.dumps(document, allow_nan=False)  # plain JSON


def test_ids_are_stable_and_differ_per_message_topic_and_code() -> None:
    first = rec(vitals(**FULL))
    again = fhir.bundle([rec(schemas.Vitals.model_validate(first.vitals.model_dump(mode="json", by_alias=True)))])
    assert fhir.bundle([first]) == again  # same records: same ids, same bundle id
    ids = [e["resource"]["id"] for e in again["entry"]]
    assert len(set(ids)) == len(ids)
    assert ids[0] == fhir.observation_id(first.topic, first.msg_id, "8867-4")
    # The same msg_id from another unit (it is unique per topic only) is another observation.
    other = fhir.VitalsRecord("ems/units/U02-0/vitals", first.msg_id, first.vitals)
    assert not set(ids) & {e["resource"]["id"] for e in fhir.bundle([other])["entry"]}
    assert fhir.bundle([first])["id"] != fhir.bundle([other])["id"]


def test_the_subject_is_the_pseudonymous_id_and_nothing_else_about_the_patient() -> None:
    v = vitals(age_years=67, sex="male", chief_complaint="sudden left-sided weakness", avpu="V", hr_bpm=90)
    (observation,) = fhir.observations(rec(v))
    assert observation["subject"] == {
        "reference": "Patient/P-7f3a9c",
        "identifier": {"system": fhir.PATIENT_ID_SYSTEM, "value": "P-7f3a9c"},
    }
    assert set(observation) == {"resourceType", "id", "meta", "status", "category", "code", "subject",
                                "effectiveDateTime", "valueQuantity"}  # fmt: skip
    assert "weakness" not in json.dumps(observation) and '"male"' not in json.dumps(observation)
    # '_' is allowed in a contract id but not in a FHIR id: the identifier alone carries it.
    (underscored,) = fhir.observations(rec(vitals("P_0001", hr_bpm=90)))
    assert underscored["subject"] == {"identifier": {"system": fhir.PATIENT_ID_SYSTEM, "value": "P_0001"}}
    assert_r4_vital_signs(underscored)


def test_effective_time_is_the_vitals_ts_in_utc() -> None:
    kst = datetime(2026, 11, 24, 18, 30, 0, 250_000, tzinfo=UTC).astimezone(ZoneInfo("Asia/Seoul"))
    (observation,) = fhir.observations(rec(vitals(ts=kst, hr_bpm=70)))
    assert observation["effectiveDateTime"] == "2026-11-24T18:30:00.250000Z"
    (plain,) = fhir.observations(rec(vitals(hr_bpm=70)))
    assert plain["effectiveDateTime"] == "2026-11-24T09:30:00Z"
    assert fhir.fhir_datetime(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05Z"  # FHIR: 4 digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-11-24T09:00:00Z", datetime(2026, 11, 24, 9, tzinfo=UTC)),
     ("2026-11-24T18:00:00+09:00", datetime(2026, 11, 24, 9, tzinfo=UTC)),
     (" 2026-11-24T09:00:00.5+00:00 ", datetime(2026, 11, 24, 9, 0, 0, 500_000, tzinfo=UTC))],
)  # fmt: skip
def test_parse_time_takes_iso_8601_with_a_zone(text: str, expected: datetime) -> None:
    parsed = fhir.parse_time(text)
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "says"),
    [("2026-11-24T09:00:00", "no time zone"), ("yesterday", "not an ISO 8601 time"), ("2026-13-01T00:00Z", "not an"),
     ("0001-01-01T00:00:00+09:00", "outside the years")],
)  # fmt: skip
def test_parse_time_refuses_what_it_cannot_place(text: str, says: str) -> None:
    with pytest.raises(fhir.FhirError, match=says):
        fhir.parse_time(text)


def test_check_patient_id_refuses_a_name() -> None:
    assert fhir.check_patient_id("P-7f3a9c") == "P-7f3a9c"
    for bad in ("Hong Gildong", "P1", "홍길동-0001"):
        with pytest.raises(fhir.FhirError, match="not a patient id"):
            fhir.check_patient_id(bad)


def test_a_stored_payload_that_is_not_vitals_is_named_without_its_values() -> None:
    # a fixed msg_id: a random one could itself hold "900"
    payload = vitals(hr_bpm=80).model_dump(mode="json", by_alias=True) | {"hr_bpm": 900, "msg_id": "msg-fhir-0001"}
    with pytest.raises(fhir.FhirError, match="hr_bpm") as caught:
        fhir.record("ems/units/U01-0/vitals", payload)
    assert "900" not in str(caught.value) and payload["msg_id"] in str(caught.value)


# --- reading the recorder's store ---------------------------------------------------------


def stored(v: schemas.Vitals, unit: str = "U01-0") -> StoredMessage:
    """A vitals message as the recorder stores it (telemetry/recorder.py, Recorder.handle)."""
    payload = schemas.decode(topics.Kind.VITALS, schemas.encode(v))
    return StoredMessage(f"ems/units/{unit}/vitals", payload.msg_id, "vitals", unit, payload.ts, datetime.now(UTC),
                         payload.model_dump(mode="json", by_alias=True))  # fmt: skip


def test_the_store_is_read_with_the_patient_and_since_filters(database_url: str) -> None:
    store = TelemetryStore.open(database_url)
    a1, b1 = vitals("P-aaaa", T0, **FULL), vitals("P-bbbb", T0 + timedelta(minutes=1), hr_bpm=90)
    a2, a3 = vitals("P-aaaa", T0 + timedelta(minutes=5), hr_bpm=100), vitals("P-aaaa", T0 + timedelta(minutes=9))
    decision = schemas.Decision.new(advice_version=1, decision="accept")
    other = StoredMessage("ems/units/U01-0/decision", decision.msg_id, "decision", "U01-0", T0, T0,
                          decision.model_dump(mode="json", by_alias=True))  # fmt: skip
    try:
        store.write([stored(a3), stored(a2), stored(b1, "U02-0"), stored(a1), other], [])
        engine = open_engine(database_url)
        try:
            everything = read_vitals(engine)
            assert [r.msg_id for r in everything] == [a1.msg_id, b1.msg_id, a2.msg_id, a3.msg_id]  # by ts
            assert everything[0].vitals == a1 and everything[1].topic == "ems/units/U02-0/vitals"
            assert [r.msg_id for r in read_vitals(engine, patient="P-aaaa")] == [a1.msg_id, a2.msg_id, a3.msg_id]
            since = fhir.parse_time("2026-11-24T18:35:00+09:00")  # = 09:35 UTC: a2 (inclusive) and a3
            assert [r.msg_id for r in read_vitals(engine, since=since)] == [a2.msg_id, a3.msg_id]
            assert [r.msg_id for r in read_vitals(engine, patient="P-bbbb", since=since)] == []
            assert read_vitals(engine, patient="P-cccc") == []
            document = fhir.bundle(everything)
            Bundle.model_validate(document)
            assert len(document["entry"]) == 7 + 1 + 1  # a1 all seven, b1 and a2 one each, a3 none
        finally:
            engine.dispose()
    finally:
        store.close()


def test_a_database_without_recorder_tables_is_said_not_created(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailable, match="not a valid SQLAlchemy URL") as caught:
        open_engine("secret-password not a url")
    assert "secret" not in str(caught.value)
    missing = tmp_path / "none.sqlite3"
    with pytest.raises(DatabaseUnavailable, match="no recorder database"):
        open_engine(f"sqlite:///{missing}")
    assert not missing.exists()
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    engine = open_engine(f"sqlite:///{empty}")
    try:
        with pytest.raises(DatabaseUnavailable, match="no recorder tables"):
            read_vitals(engine)
    finally:
        engine.dispose()
