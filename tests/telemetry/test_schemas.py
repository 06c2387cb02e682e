"""Tests for telemetry.schemas: the payload half of the MQTT contract (DESIGN.md, "The MQTT contract")."""

from __future__ import annotations

import json
import math
import operator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from telemetry.schemas import (
    EXCERPT_CHARS,
    MAX_PAYLOAD_BYTES,
    MODELS,
    Advice,
    Answer,
    AnswerKind,
    Assignment,
    Avpu,
    BedCount,
    BedType,
    Capability,
    Capacity,
    Condition,
    CrewFlags,
    Decision,
    DecisionKind,
    DispatcherState,
    DispatcherStatus,
    EmsTraffic,
    Equipment,
    EtaMode,
    Inbound,
    InboundPatient,
    Incident,
    KeyVitals,
    LedgerState,
    Option,
    Payload,
    PayloadError,
    Position,
    RefusalReason,
    Rejected,
    Requests,
    RequestState,
    Severity,
    Sex,
    Status,
    TrafficStatus,
    TransferRequest,
    UnitRequest,
    UnitStatus,
    Vitals,
    decode,
    encode,
    excerpt,
    schema_of,
)
from telemetry.topics import ID_PATTERN, Kind

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL_KINDS = list(Kind)
KIND_IDS = [k.value for k in Kind]

# --- strategies ----------------------------------------------------------------------------


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value or null (not measured / unknown)."""
    return st.none() | strategy


#: Fixed offsets in whole minutes (what ISO 8601 and JSON can carry exactly).
fixed_zones = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=9)),
        timezone(-timedelta(hours=3, minutes=30)),
        timezone(timedelta(hours=5, minutes=45)),
        timezone(timedelta(hours=14)),
        timezone(-timedelta(hours=12)),
    ]
)
EARLIEST, LATEST = datetime(1970, 1, 1), datetime(2100, 12, 31)
#: For nested timestamps, which keep their offset.
aware_times = st.datetimes(EARLIEST, LATEST, timezones=fixed_zones)
#: For ``ts``, normalised to UTC: any zone, including historical second-level offsets.
any_zone_times = st.datetimes(EARLIEST, LATEST, timezones=fixed_zones | st.timezones())

ids = st.from_regex(ID_PATTERN, fullmatch=True)
patient_ids = st.from_regex(r"[A-Za-z0-9_-]{4,64}", fullmatch=True)
msg_ids = st.from_regex(r"[A-Za-z0-9_.:-]{8,64}", fullmatch=True)
#: Non-blank text of at most 300 characters (``ShortText`` strips whitespace).
short_texts = st.builds(operator.add, st.characters(categories=("L", "N", "P", "S")), st.text(max_size=299))
eta_seconds = st.floats(min_value=0, max_value=86_400)
probabilities = st.floats(min_value=0, max_value=1)
versions = st.integers(min_value=1)
common: dict[str, st.SearchStrategy[Any]] = {"ts": any_zone_times, "msg_id": msg_ids}

positions = st.builds(
    Position,
    lat=st.floats(min_value=-90, max_value=90),
    lon=st.floats(min_value=-180, max_value=180),
    speed_mps=opt(st.floats(min_value=0, max_value=100)),
    heading_deg=opt(st.floats(min_value=0, max_value=360, exclude_max=True)),
    accuracy_m=opt(st.floats(min_value=0, max_value=100_000)),
    **common,
)

crew_flags = st.builds(
    CrewFlags,
    fast_positive=st.booleans(),
    stemi=st.booleans(),
    major_trauma=st.booleans(),
    cardiac_arrest=st.booleans(),
    pregnancy=st.booleans(),
    burns=st.booleans(),
    paediatric=st.booleans(),
)


@st.composite
def vitals(draw: st.DrawFn) -> Vitals:
    sbp = draw(opt(st.integers(0, 300)))
    dbp = draw(opt(st.integers(0, 300 if sbp is None else sbp)))
    return Vitals(
        ts=draw(any_zone_times),
        msg_id=draw(msg_ids),
        patient_id=draw(patient_ids),
        age_years=draw(opt(st.integers(0, 120))),
        sex=draw(opt(st.sampled_from(Sex))),
        hr_bpm=draw(opt(st.integers(0, 300))),
        sbp_mmhg=sbp,
        dbp_mmhg=dbp,
        rr_per_min=draw(opt(st.integers(0, 80))),
        spo2_pct=draw(opt(st.integers(0, 100))),
        temp_c=draw(opt(st.floats(min_value=25, max_value=45))),
        avpu=draw(opt(st.sampled_from(Avpu))),
        gcs=draw(opt(st.integers(3, 15))),
        pain_nrs=draw(opt(st.integers(0, 10))),
        injury=draw(opt(st.booleans())),
        chief_complaint=draw(opt(st.text(max_size=200))),
        flags=draw(crew_flags),
        note=draw(opt(short_texts)),
    )


statuses = st.builds(Status, status=st.sampled_from(UnitStatus), incident_id=opt(ids), hpid=opt(ids), **common)
severities = st.builds(Severity, ktas=st.integers(1, 5), p_critical=probabilities, p_emergency=opt(probabilities))
options = st.builds(
    Option,
    hpid=ids,
    name=st.text(min_size=1, max_size=100),
    eta_s=eta_seconds,
    beds_on_arrival=opt(st.integers(0, 10_000)),
    reason=short_texts,
)
advices = st.builds(
    Advice,
    advice_version=versions,
    patient_id=patient_ids,
    destination=options,
    alternatives=st.lists(options, max_size=3).map(tuple),
    severity=opt(severities),
    eta_mode=st.sampled_from(EtaMode),
    **common,
)


@st.composite
def decisions(draw: st.DrawFn) -> Decision:
    kind = draw(st.sampled_from(DecisionKind))
    reason = draw(short_texts if kind is DecisionKind.DECLINE else opt(short_texts))
    return Decision(
        ts=draw(any_zone_times), msg_id=draw(msg_ids), advice_version=draw(versions), decision=kind, reason=reason
    )


bed_counts = st.builds(
    BedCount,
    available=opt(st.integers(0, 10_000)),
    total=opt(st.integers(0, 10_000)),
    overcrowded=st.just(False),
    updated_at=opt(aware_times),
) | st.builds(
    BedCount,
    available=st.sampled_from([None, 0]),
    total=opt(st.integers(0, 10_000)),
    overcrowded=st.just(True),
    updated_at=opt(aware_times),
)
capabilities = st.builds(Capability, available=opt(st.booleans()), updated_at=opt(aware_times))
traffic = st.builds(
    EmsTraffic,
    status=st.sampled_from(TrafficStatus),
    reason=opt(short_texts),
    expires_at=opt(aware_times),
    updated_at=opt(aware_times),
)
capacities = st.builds(
    Capacity,
    beds=st.dictionaries(st.sampled_from(BedType), bed_counts, max_size=4),
    equipment=st.dictionaries(st.sampled_from(Equipment), capabilities, max_size=4),
    conditions=st.dictionaries(st.sampled_from(Condition), capabilities, max_size=6),
    ems_traffic=traffic,
    offload_minutes=opt(st.floats(min_value=0, max_value=1440)),
    offload_updated_at=opt(aware_times),
    updated_at=aware_times,
    updated_by=opt(short_texts),
    **common,
)
inbound_patients = st.builds(
    InboundPatient,
    unit_id=ids,
    patient_id=opt(patient_ids),
    advice_version=versions,
    severity=opt(severities),
    eta_s=eta_seconds,
    eta_mode=st.sampled_from(EtaMode),
)
inbounds = st.builds(Inbound, patients=st.lists(inbound_patients, max_size=4).map(tuple), **common)
incidents = st.builds(
    Incident,
    lat=st.floats(min_value=-90, max_value=90),
    lon=st.floats(min_value=-180, max_value=180),
    category=st.from_regex(r"[a-z][a-z0-9_]{0,39}", fullmatch=True),
    priority=st.integers(1, 5),
    **common,
)
assignments = st.builds(Assignment, unit_id=ids, eta_s=eta_seconds, eta_mode=st.sampled_from(EtaMode), **common)
rejections = st.builds(
    Rejected,
    topic=st.text(max_size=1024),
    reason=st.text(min_size=1, max_size=2000),
    payload_excerpt=st.text(max_size=2048),
    reason_en=opt(st.text(min_size=1, max_size=2000)),
    payload_bytes=st.integers(min_value=0),
    **common,
)

pathways = st.from_regex(r"[a-z][a-z_]{0,39}", fullmatch=True)
key_vitals = st.builds(
    KeyVitals,
    age_years=opt(st.integers(0, 120)),
    sex=opt(st.sampled_from(Sex)),
    hr_bpm=opt(st.integers(0, 300)),
    sbp_mmhg=opt(st.integers(0, 300)),
    rr_per_min=opt(st.integers(0, 80)),
    spo2_pct=opt(st.integers(0, 100)),
    gcs=opt(st.integers(3, 15)),
    avpu=opt(st.sampled_from(Avpu)),
)
transfer_requests = st.builds(
    TransferRequest,
    request_id=ids,
    unit_id=ids,
    patient_id=patient_ids,
    advice_version=versions,
    pathway=opt(pathways),
    ktas=opt(st.integers(1, 5)),
    critical=st.booleans(),
    eta_s=eta_seconds,
    vitals=key_vitals,
    chief_complaint=opt(st.text(max_size=200)),
    note=opt(short_texts),
    sent_at=aware_times,
    answer_by=aware_times,
    seen=st.booleans(),
)
requests = st.builds(Requests, requests=st.lists(transfer_requests, max_size=3).map(tuple), **common)


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    """Seen, accept, or decline; only a decline carries (and always carries) a coded reason."""
    kind = draw(st.sampled_from(AnswerKind))
    return Answer(
        ts=draw(any_zone_times),
        msg_id=draw(msg_ids),
        request_id=draw(ids),
        answer=kind,
        reason=draw(st.sampled_from(RefusalReason)) if kind is AnswerKind.DECLINE else None,
        text=draw(opt(short_texts)),
        answered_by=draw(opt(short_texts)),
    )


unit_requests = st.builds(
    UnitRequest,
    request_id=ids,
    hpid=ids,
    name=st.text(min_size=1, max_size=100),
    advice_version=versions,
    state=st.sampled_from(RequestState),
    reason=opt(st.sampled_from(RefusalReason)),
    message=short_texts,
    message_en=opt(short_texts),
    sent_at=aware_times,
    answer_by=aware_times,
    answered_at=opt(aware_times),
    **common,
)

regions = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", fullmatch=True)
dispatcher_statuses = st.builds(
    DispatcherStatus,
    region=regions,
    state=st.sampled_from(DispatcherState),
    epoch=versions,
    since=aware_times,
    ledger=st.sampled_from(LedgerState),
    heartbeat_s=st.floats(min_value=1, max_value=3600),
    detail=opt(short_texts),
    **common,
)

PAYLOADS: dict[Kind, st.SearchStrategy[Payload]] = {
    Kind.POSITION: positions,
    Kind.VITALS: vitals(),
    Kind.STATUS: statuses,
    Kind.ADVICE: advices,
    Kind.DECISION: decisions(),
    Kind.CAPACITY: capacities,
    Kind.INBOUND: inbounds,
    Kind.INCIDENT: incidents,
    Kind.ASSIGNMENT: assignments,
    Kind.REJECTED: rejections,
    Kind.UNIT_REJECTED: rejections,
    Kind.REQUESTS: requests,
    Kind.ANSWER: answers(),
    Kind.REQUEST_STATE: unit_requests,
    Kind.DISPATCHER_STATUS: dispatcher_statuses,
}

#: JSON values of any shape (json.dumps writes NaN / Infinity for non-finite floats).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)

# --- helpers -------------------------------------------------------------------------------

TS = "2024-05-01T12:00:00Z"
#: The smallest valid payload of each kind (without schema / ts / msg_id).
BASE: dict[Kind, dict[str, Any]] = {
    Kind.POSITION: {"lat": 37.5665, "lon": 126.978},
    Kind.VITALS: {"patient_id": "pt-0001"},
    Kind.STATUS: {"status": "available"},
    Kind.ADVICE: {
        "advice_version": 1,
        "patient_id": "pt-0001",
        "destination": {"hpid": "A1100010", "name": "Seoul ER", "eta_s": 600, "reason": "closest PCI centre"},
    },
    Kind.DECISION: {"advice_version": 1, "decision": "accept"},
    Kind.CAPACITY: {"updated_at": TS},
    Kind.INBOUND: {},
    Kind.INCIDENT: {"lat": 37.5665, "lon": 126.978, "category": "chest_pain", "priority": 2},
    Kind.ASSIGNMENT: {"unit_id": "119-A01", "eta_s": 300},
    Kind.REJECTED: {"topic": "ems/units/x/vitals", "reason": "bad", "payload_excerpt": "{", "payload_bytes": 1},
    Kind.UNIT_REJECTED: {"topic": "ems/units/x/vitals", "reason": "거부", "payload_excerpt": "", "payload_bytes": 0},
    Kind.REQUESTS: {},
    Kind.ANSWER: {"request_id": "r-119-A01-1", "answer": "accept"},
    Kind.REQUEST_STATE: {
        "request_id": "r-119-A01-1",
        "hpid": "A1100010",
        "name": "Seoul ER",
        "advice_version": 1,
        "state": "sent",
        "message": "수용 요청 보냄",
        "sent_at": TS,
        "answer_by": TS,
    },
    Kind.DISPATCHER_STATUS: {
        "region": "seoul-central",
        "state": "leading",
        "epoch": 1,
        "since": TS,
        "ledger": "none",
        "heartbeat_s": 15.0,
    },
}
REQUIRED: list[tuple[Kind, str]] = [(k, f) for k in Kind for f in ("ts", "msg_id", *BASE[k])]


def valid(kind: Kind, **fields: Any) -> dict[str, Any]:
    """A valid payload of ``kind`` as a JSON object, with ``fields`` replaced."""
    return {"schema": schema_of(kind), "ts": TS, "msg_id": "msg-00000001", **BASE[kind], **fields}


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode("utf-8")


def with_token(kind: Kind, field: str, token: str, **fields: Any) -> bytes:
    """A payload whose ``field`` is the raw JSON text ``token`` (NaN, 1e400, deep nesting...)."""
    text = json.dumps(valid(kind, **{field: "@@TOKEN@@"}, **fields))
    assert text.count('"@@TOKEN@@"') == 1
    return text.replace('"@@TOKEN@@"', token).encode("utf-8")


def assert_one_line(error: PayloadError) -> str:
    reason = error.reason
    assert isinstance(reason, str)
    assert reason.strip(), "reason is empty"
    assert "\n" not in reason and "\r" not in reason
    assert reason.splitlines() == [reason]
    assert str(error) == reason
    return reason


def refused(kind: Kind, raw: bytes) -> str:
    """Assert ``raw`` is refused as ``kind`` with a one-line reason, and return the reason."""
    with pytest.raises(PayloadError) as info:
        decode(kind, raw)
    return assert_one_line(info.value)


def decodes_or_refuses(kind: Kind, raw: bytes) -> Payload | None:
    """The contract for any input: a model of the kind, or PayloadError with a one-line reason."""
    try:
        payload = decode(kind, raw)
    except PayloadError as exc:
        assert_one_line(exc)
        return None
    assert type(payload) is MODELS[kind]
    # whatever is accepted travels on unchanged
    assert decode(kind, encode(payload)) == payload
    return payload


# --- MODELS --------------------------------------------------------------------------------


def test_every_kind_has_a_model_and_a_strategy() -> None:
    assert set(MODELS) == set(Kind)
    assert set(PAYLOADS) == set(Kind)
    assert set(BASE) == set(Kind)
    assert len(set(MODELS.values())) == len(Kind) - 1  # but for the unit's refusals, a model of its own
    assert MODELS[Kind.UNIT_REJECTED] is MODELS[Kind.REJECTED]


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
def test_schema_id_names_the_kind(kind: Kind) -> None:
    model = MODELS[kind]
    assert issubclass(model, Payload)
    # Two kinds whose schema is named otherwise: the unit's refusals are the same report as the
    # operators' (ems.rejected/1), and a unit's request state is named by its topic's last level
    # (ems/units/{unit}/request -> ems.request/1); no two models share a schema, request or requests.
    # A dispatcher's status is named in full (its kind's value is short: the recorder's kind column holds 16).
    named = {
        Kind.UNIT_REJECTED: Kind.REJECTED.value,
        Kind.REQUEST_STATE: "request",
        Kind.DISPATCHER_STATUS: "dispatcher_status",
    }.get(kind, kind.value)
    assert model.model_fields["schema_id"].default == f"ems.{named}/1" == schema_of(kind)
    assert model.model_fields["schema_id"].alias == "schema"


def test_no_two_models_share_a_schema() -> None:
    by_schema = {schema_of(kind): MODELS[kind] for kind in Kind}
    assert len(by_schema) == len(set(MODELS.values()))
    assert by_schema["ems.requests/1"] is Requests
    assert by_schema["ems.request/1"] is UnitRequest
    assert by_schema["ems.answer/1"] is Answer


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
def test_minimal_payload_decodes(kind: Kind) -> None:
    payload = decode(kind, dumps(valid(kind)))
    assert type(payload) is MODELS[kind]
    assert payload.ts == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert payload.msg_id == "msg-00000001"


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
def test_payloads_are_frozen(kind: Kind) -> None:
    payload = decode(kind, dumps(valid(kind)))
    with pytest.raises(ValidationError):
        payload.msg_id = "msg-00000002"


def test_new_stamps_time_and_fresh_id() -> None:
    before = datetime.now(UTC)
    a = Status.new(status=UnitStatus.AVAILABLE)
    b = Status.new(status=UnitStatus.AVAILABLE)
    after = datetime.now(UTC)
    assert before <= a.ts <= after
    assert a.ts.utcoffset() == timedelta(0)
    assert a.msg_id != b.msg_id
    assert len(a.msg_id) == 32 and int(a.msg_id, 16) >= 0
    assert decode(Kind.STATUS, encode(a)) == a


def test_payload_error_is_a_value_error_with_reason() -> None:
    error = PayloadError("lat out of range")
    assert isinstance(error, ValueError)
    assert error.reason == "lat out of range" == str(error)


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@FAST
@given(data=st.data())
def test_encode_decode_round_trip(kind: Kind, data: st.DataObject) -> None:
    payload = data.draw(PAYLOADS[kind])
    raw = encode(payload)
    assert isinstance(raw, bytes)
    assert len(raw) <= MAX_PAYLOAD_BYTES
    decoded = decode(kind, raw)
    assert type(decoded) is MODELS[kind]
    assert decoded == payload
    assert encode(decoded) == raw
    assert decoded.ts == payload.ts
    assert decoded.ts.utcoffset() == timedelta(0)
    obj = json.loads(raw)
    assert obj["schema"] == schema_of(kind)
    assert "schema_id" not in obj
    assert datetime.fromisoformat(obj["ts"]).utcoffset() == timedelta(0)
    assert obj["msg_id"] == payload.msg_id


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_payload_is_refused_on_any_other_kind(kind: Kind, data: st.DataObject) -> None:
    raw = encode(data.draw(PAYLOADS[kind]))
    for other in Kind:
        if MODELS[other] is not MODELS[kind]:
            refused(other, raw)


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_truncation_is_refused(kind: Kind, data: st.DataObject) -> None:
    raw = encode(data.draw(PAYLOADS[kind]))
    cut = data.draw(st.integers(0, len(raw) - 1))
    refused(kind, raw[:cut])


def test_position_decoded_as_vitals_is_refused() -> None:
    raw = dumps(valid(Kind.POSITION))
    reason = refused(Kind.VITALS, raw)
    assert "schema" in reason or "lat" in reason or "patient_id" in reason


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("schema", ["ems.position/2", "ems.other/1", "", "EMS.POSITION/1", "position"])
def test_wrong_schema_id_is_refused(kind: Kind, schema: str) -> None:
    assert "schema" in refused(kind, dumps(valid(kind, schema=schema)))


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
def test_schema_of_another_kind_is_refused(kind: Kind) -> None:
    other = next(k for k in Kind if MODELS[k] is not MODELS[kind])
    assert "schema" in refused(kind, dumps(valid(kind, schema=schema_of(other))))


# --- vitals: physiological ranges ----------------------------------------------------------

INT_VITALS = [
    ("hr_bpm", 0, 300),
    ("sbp_mmhg", 0, 300),
    ("dbp_mmhg", 0, 300),
    ("rr_per_min", 0, 80),
    ("spo2_pct", 0, 100),
    ("gcs", 3, 15),
    ("pain_nrs", 0, 10),
    ("age_years", 0, 120),
]


@pytest.mark.parametrize(("field", "low", "high"), INT_VITALS)
def test_vital_range_edges_accepted(field: str, low: int, high: int) -> None:
    for value in (low, high):
        payload = decode(Kind.VITALS, dumps(valid(Kind.VITALS, **{field: value})))
        assert getattr(payload, field) == value


@pytest.mark.parametrize(("field", "low", "high"), INT_VITALS)
def test_vital_just_outside_range_refused(field: str, low: int, high: int) -> None:
    for value in (low - 1, high + 1):
        reason = refused(Kind.VITALS, dumps(valid(Kind.VITALS, **{field: value})))
        assert field in reason


@pytest.mark.parametrize(("field", "low", "high"), INT_VITALS)
@FAST
@given(value=st.integers(-1000, 1000) | st.integers())
def test_vital_accepted_iff_in_range(field: str, low: int, high: int, value: int) -> None:
    raw = dumps(valid(Kind.VITALS, **{field: value}))
    if low <= value <= high:
        assert getattr(decode(Kind.VITALS, raw), field) == value
    else:
        assert field in refused(Kind.VITALS, raw)


@pytest.mark.parametrize("value", [25.0, 25, 36.6, 45.0, 45, math.nextafter(25, 100), math.nextafter(45, 0)])
def test_temperature_edges_accepted(value: float) -> None:
    assert decode(Kind.VITALS, dumps(valid(Kind.VITALS, temp_c=value))).temp_c == value  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "value", [math.nextafter(25, 0), math.nextafter(45, 100), 24.9, 45.1, 24, 46, 0, -273.15, 100, 1e308, -1e308]
)
def test_temperature_just_outside_refused(value: float) -> None:
    assert "temp_c" in refused(Kind.VITALS, dumps(valid(Kind.VITALS, temp_c=value)))


@FAST
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_temperature_accepted_iff_in_range(value: float) -> None:
    raw = dumps(valid(Kind.VITALS, temp_c=value))
    if 25 <= value <= 45:
        assert decode(Kind.VITALS, raw).temp_c == value  # type: ignore[attr-defined]
    else:
        assert "temp_c" in refused(Kind.VITALS, raw)


@pytest.mark.parametrize("field", ["hr_bpm", "sbp_mmhg", "dbp_mmhg", "rr_per_min", "spo2_pct", "gcs", "pain_nrs"])
def test_fractional_count_refused(field: str) -> None:
    assert field in refused(Kind.VITALS, dumps(valid(Kind.VITALS, **{field: 72.5})))


@pytest.mark.parametrize("value", ["A", "V", "P", "U"])
def test_avpu_levels_accepted(value: str) -> None:
    assert decode(Kind.VITALS, dumps(valid(Kind.VITALS, avpu=value))).avpu == Avpu(value)  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["a", "alert", "Alert", "X", "", " A", "AV", 1, True, ["A"]])
def test_avpu_outside_enum_refused(value: object) -> None:
    assert "avpu" in refused(Kind.VITALS, dumps(valid(Kind.VITALS, avpu=value)))


@pytest.mark.parametrize("value", ["f", "FEMALE", "woman", "other", 0])
def test_sex_outside_enum_refused(value: object) -> None:
    assert "sex" in refused(Kind.VITALS, dumps(valid(Kind.VITALS, sex=value)))


@pytest.mark.parametrize(("sbp", "dbp"), [(120, 121), (0, 1), (80, 300), (299, 300)])
def test_diastolic_above_systolic_refused(sbp: int, dbp: int) -> None:
    reason = refused(Kind.VITALS, dumps(valid(Kind.VITALS, sbp_mmhg=sbp, dbp_mmhg=dbp)))
    assert "dbp_mmhg" in reason


@pytest.mark.parametrize(("sbp", "dbp"), [(120, 80), (120, 120), (0, 0), (300, 0), (None, 250), (60, None)])
def test_diastolic_not_above_systolic_accepted(sbp: int | None, dbp: int | None) -> None:
    payload = decode(Kind.VITALS, dumps(valid(Kind.VITALS, sbp_mmhg=sbp, dbp_mmhg=dbp)))
    assert (payload.sbp_mmhg, payload.dbp_mmhg) == (sbp, dbp)  # type: ignore[attr-defined]


def test_diastolic_above_systolic_refused_in_python_too() -> None:
    with pytest.raises(ValidationError):
        Vitals.new(patient_id="pt-0001", sbp_mmhg=90, dbp_mmhg=95)


VITAL_FIELDS = [
    "age_years",
    "sex",
    "hr_bpm",
    "sbp_mmhg",
    "dbp_mmhg",
    "rr_per_min",
    "spo2_pct",
    "temp_c",
    "avpu",
    "gcs",
    "pain_nrs",
    "injury",
    "chief_complaint",
]


def test_unmeasured_vitals_are_null_not_zero() -> None:
    payload = decode(Kind.VITALS, dumps(valid(Kind.VITALS)))
    obj = json.loads(encode(payload))
    for field in VITAL_FIELDS:
        assert getattr(payload, field) is None, field
        assert field in obj and obj[field] is None, field
    assert decode(Kind.VITALS, encode(payload)) == payload


@pytest.mark.parametrize("field", VITAL_FIELDS)
def test_explicit_null_equals_missing(field: str) -> None:
    missing = decode(Kind.VITALS, dumps(valid(Kind.VITALS)))
    explicit = decode(Kind.VITALS, dumps(valid(Kind.VITALS, **{field: None})))
    assert explicit == missing
    assert getattr(explicit, field) is None


@pytest.mark.parametrize("field", ["hr_bpm", "sbp_mmhg", "dbp_mmhg", "rr_per_min", "spo2_pct", "pain_nrs"])
def test_zero_is_a_measurement_not_null(field: str) -> None:
    payload = decode(Kind.VITALS, dumps(valid(Kind.VITALS, **{field: 0})))
    assert getattr(payload, field) == 0
    assert json.loads(encode(payload))[field] == 0


def test_unknown_crew_flag_refused() -> None:
    reason = refused(Kind.VITALS, dumps(valid(Kind.VITALS, flags={"telepathy": True})))
    assert "telepathy" in reason


@pytest.mark.parametrize("patient_id", ["abc", "a" * 65, "Kim Minsu", "pt/1", "pt.0001", "", "환자0001"])
def test_bad_patient_id_refused(patient_id: str) -> None:
    assert "patient_id" in refused(Kind.VITALS, dumps(valid(Kind.VITALS, patient_id=patient_id)))


# --- positions and incidents ----------------------------------------------------------------

COORDINATES = [("lat", -90, 90), ("lon", -180, 180)]


@pytest.mark.parametrize("kind", [Kind.POSITION, Kind.INCIDENT], ids=["position", "incident"])
@pytest.mark.parametrize(("field", "low", "high"), COORDINATES)
def test_coordinate_edges(kind: Kind, field: str, low: float, high: float) -> None:
    for value in (low, high, 0):
        assert getattr(decode(kind, dumps(valid(kind, **{field: value}))), field) == value
    for value in (math.nextafter(low, -1000), math.nextafter(high, 1000), low - 1, high + 1, 1e308):
        assert field in refused(kind, dumps(valid(kind, **{field: value})))


@pytest.mark.parametrize("kind", [Kind.POSITION, Kind.INCIDENT], ids=["position", "incident"])
@pytest.mark.parametrize(("field", "low", "high"), COORDINATES)
@FAST
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_coordinate_accepted_iff_in_range(kind: Kind, field: str, low: float, high: float, value: float) -> None:
    raw = dumps(valid(kind, **{field: value}))
    if low <= value <= high:
        assert getattr(decode(kind, raw), field) == value
    else:
        assert field in refused(kind, raw)


@pytest.mark.parametrize(
    ("field", "value"),
    [("speed_mps", -0.1), ("speed_mps", 100.5), ("heading_deg", 360), ("heading_deg", -1), ("accuracy_m", -1)],
)
def test_position_motion_ranges(field: str, value: float) -> None:
    assert field in refused(Kind.POSITION, dumps(valid(Kind.POSITION, **{field: value})))


@pytest.mark.parametrize("field", ["lat", "lon"])
def test_missing_coordinate_refused(field: str) -> None:
    obj = valid(Kind.POSITION)
    del obj[field]
    assert field in refused(Kind.POSITION, dumps(obj))


@pytest.mark.parametrize(
    ("field", "value"), [("priority", 0), ("priority", 6), ("category", "Chest pain"), ("category", "")]
)
def test_incident_fields(field: str, value: object) -> None:
    assert field in refused(Kind.INCIDENT, dumps(valid(Kind.INCIDENT, **{field: value})))


# --- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(
    "ts", ["2024-05-01T12:00:00", "2024-05-01T12:00:00.123456", "2024-05-01 12:00:00", "2024-05-01"]
)
def test_ts_without_timezone_refused(kind: Kind, ts: str) -> None:
    assert "ts" in refused(kind, dumps(valid(kind, ts=ts)))


@pytest.mark.parametrize("ts", ["yesterday", "", "2024-13-01T00:00:00Z", "2024-05-01T25:00:00Z", None, [TS]])
def test_ts_not_a_time_refused(ts: object) -> None:
    assert "ts" in refused(Kind.STATUS, dumps(valid(Kind.STATUS, ts=ts)))


@pytest.mark.parametrize(
    "ts",
    ["2024-05-01T21:00:00+09:00", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00+00:00", "2024-05-01T06:30:00-05:30"],
)
def test_ts_normalised_to_utc(ts: str) -> None:
    payload = decode(Kind.STATUS, dumps(valid(Kind.STATUS, ts=ts)))
    assert payload.ts == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert payload.ts.utcoffset() == timedelta(0)
    assert datetime.fromisoformat(json.loads(encode(payload))["ts"]) == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert datetime.fromisoformat(json.loads(encode(payload))["ts"]).utcoffset() == timedelta(0)


def test_ts_normalised_when_built_in_python() -> None:
    seoul = datetime(2024, 5, 1, 21, 0, tzinfo=ZoneInfo("Asia/Seoul"))
    payload = Status(ts=seoul, msg_id="msg-00000001", status=UnitStatus.AVAILABLE)
    assert payload.ts == seoul
    assert payload.ts.utcoffset() == timedelta(0)
    assert payload.ts.hour == 12
    with pytest.raises(ValidationError):
        Status(ts=datetime(2024, 5, 1, 12), msg_id="msg-00000001", status=UnitStatus.AVAILABLE)


@FAST
@given(moment=any_zone_times)
def test_any_zone_becomes_the_same_instant_in_utc(moment: datetime) -> None:
    payload = decode(Kind.STATUS, dumps(valid(Kind.STATUS, ts=moment.isoformat())))
    # compared in UTC: Python never finds a time in a DST fold equal to one in another zone
    assert payload.ts == moment.astimezone(UTC)
    assert payload.ts.timestamp() == moment.timestamp()
    assert payload.ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize("msg_id", ["short", "", "a" * 65, "has space!", "id/with/slash", "12345678\n"])
def test_bad_msg_id_refused(msg_id: str) -> None:
    assert "msg_id" in refused(Kind.STATUS, dumps(valid(Kind.STATUS, msg_id=msg_id)))


# --- decisions, capacity, advice, inbound ---------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   ", "\n\t"])
def test_decline_without_reason_refused(reason: str | None) -> None:
    obj = valid(Kind.DECISION, decision="decline", reason=reason)
    if reason is None:
        del obj["reason"]
    assert "reason" in refused(Kind.DECISION, dumps(obj))


def test_decline_with_reason_and_accept_without() -> None:
    declined = decode(Kind.DECISION, dumps(valid(Kind.DECISION, decision="decline", reason="  patient refused  ")))
    assert declined.reason == "patient refused"  # type: ignore[attr-defined]
    accepted = decode(Kind.DECISION, dumps(valid(Kind.DECISION, decision="accept")))
    assert accepted.reason is None  # type: ignore[attr-defined]
    with pytest.raises(ValidationError):
        Decision.new(advice_version=1, decision=DecisionKind.DECLINE)


@pytest.mark.parametrize("decision", ["maybe", "ACCEPT", "", None])
def test_unknown_decision_refused(decision: object) -> None:
    assert "decision" in refused(Kind.DECISION, dumps(valid(Kind.DECISION, decision=decision)))


@pytest.mark.parametrize("version", [0, -1, 1.5, None])
def test_advice_version_starts_at_one(version: object) -> None:
    assert "advice_version" in refused(Kind.DECISION, dumps(valid(Kind.DECISION, advice_version=version)))


@pytest.mark.parametrize("available", [1, 5, 10_000])
def test_overcrowded_with_available_beds_refused(available: int) -> None:
    beds = {"er_general": {"available": available, "total": 20, "overcrowded": True}}
    reason = refused(Kind.CAPACITY, dumps(valid(Kind.CAPACITY, beds=beds)))
    assert "beds" in reason and "er_general" in reason
    with pytest.raises(ValidationError):
        BedCount(available=available, overcrowded=True)


@pytest.mark.parametrize("available", [0, None])
def test_overcrowded_with_no_free_beds_accepted(available: int | None) -> None:
    beds = {"er_general": {"available": available, "total": 20, "overcrowded": True}}
    payload = decode(Kind.CAPACITY, dumps(valid(Kind.CAPACITY, beds=beds)))
    assert payload.beds[BedType.ER_GENERAL] == BedCount(available=available, total=20, overcrowded=True)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "beds",
    [
        {"er_general": {"available": -1}},  # E-Gen's "unknown" must arrive as null
        {"er_general": {"available": -2}},  # E-Gen's "overcrowded" must arrive as the flag
        {"er_general": {"total": 10_001}},
        {"hvec": {"available": 3}},
        {"er_general": {"available": 3, "hvec": 3}},
        {"er_general": {"available": 3, "updated_at": "2024-05-01T12:00:00"}},
    ],
)
def test_bad_bed_counts_refused(beds: dict[str, Any]) -> None:
    assert "beds" in refused(Kind.CAPACITY, dumps(valid(Kind.CAPACITY, beds=beds)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("offload_minutes", -1),
        ("offload_minutes", 1441),
        ("updated_at", None),
        ("updated_at", "2024-05-01T12:00:00"),
        ("ems_traffic", {"status": "diverting"}),
        ("ems_traffic", {"status": "closed", "until": TS}),
        ("equipment", {"ct": {"available": "maybe"}}),
        ("equipment", {"pet": {"available": True}}),
        ("conditions", {"stemi": {"available": True}}),
    ],
)
def test_bad_capacity_fields_refused(field: str, value: object) -> None:
    assert field in refused(Kind.CAPACITY, dumps(valid(Kind.CAPACITY, **{field: value})))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"severity": {"ktas": 0, "p_critical": 0.5}}, "ktas"),
        ({"severity": {"ktas": 6, "p_critical": 0.5}}, "ktas"),
        ({"severity": {"ktas": 3, "p_critical": 1.01}}, "p_critical"),
        ({"severity": {"ktas": 3, "p_critical": -0.01}}, "p_critical"),
        ({"severity": {"ktas": 3, "p_critical": 0.1, "colour": "red"}}, "colour"),
        ({"alternatives": [BASE[Kind.ADVICE]["destination"]] * 11}, "alternatives"),
        ({"destination": {**BASE[Kind.ADVICE]["destination"], "eta_s": -1}}, "eta_s"),
        ({"destination": {**BASE[Kind.ADVICE]["destination"], "eta_s": 86_401}}, "eta_s"),
        ({"destination": {**BASE[Kind.ADVICE]["destination"], "reason": " "}}, "reason"),
        ({"destination": {**BASE[Kind.ADVICE]["destination"], "hpid": "A/1"}}, "hpid"),
        ({"destination": {**BASE[Kind.ADVICE]["destination"], "phone": "119"}}, "phone"),
        ({"eta_mode": "helicopter"}, "eta_mode"),
    ],
)
def test_bad_advice_refused(change: dict[str, Any], field: str) -> None:
    assert field in refused(Kind.ADVICE, dumps(valid(Kind.ADVICE, **change)))


@pytest.mark.parametrize(
    ("patient", "field"),
    [
        ({"unit_id": "119-A01", "advice_version": 1}, "eta_s"),
        ({"unit_id": "119/A01", "advice_version": 1, "eta_s": 60}, "unit_id"),
        ({"unit_id": "119-A01", "advice_version": 0, "eta_s": 60}, "advice_version"),
        ({"unit_id": "119-A01", "advice_version": 1, "eta_s": 60, "name": "Kim"}, "name"),
    ],
)
def test_bad_inbound_patient_refused(patient: dict[str, Any], field: str) -> None:
    reason = refused(Kind.INBOUND, dumps(valid(Kind.INBOUND, patients=[patient])))
    assert "patients" in reason and field in reason


@pytest.mark.parametrize(
    ("field", "value"),
    [("unit_id", ""), ("unit_id", "u 1"), ("unit_id", "u1\n"), ("eta_s", -0.5), ("eta_s", 86_400.5)],
)
def test_bad_assignment_refused(field: str, value: object) -> None:
    assert field in refused(Kind.ASSIGNMENT, dumps(valid(Kind.ASSIGNMENT, **{field: value})))


@pytest.mark.parametrize(
    ("field", "value"),
    [("reason", ""), ("payload_bytes", -1), ("topic", "t" * 1025), ("payload_excerpt", "x" * 2049)],
)
def test_bad_rejected_refused(field: str, value: object) -> None:
    assert field in refused(Kind.REJECTED, dumps(valid(Kind.REJECTED, **{field: value})))
    assert field in refused(Kind.UNIT_REJECTED, dumps(valid(Kind.UNIT_REJECTED, **{field: value})))


def test_a_refusal_carries_its_reason_in_korean_and_english_on_both_refusal_topics() -> None:
    """``reason`` is what a crew reads first (Korean), ``reason_en`` the tablet's English switch; a report
    without ``reason_en`` (the recorder's, or one written before it existed) stays valid."""
    report = Rejected.of("ems/units/U1/decision", b'{"advice_version": 1}', "결정 거부", "decision refused")
    assert (report.reason, report.reason_en) == ("결정 거부", "decision refused")
    for kind in (Kind.REJECTED, Kind.UNIT_REJECTED):
        assert decode(kind, encode(report)) == report
        assert json.loads(encode(report))["schema"] == "ems.rejected/1"
        assert decode(kind, dumps(valid(kind))).reason_en is None  # type: ignore[attr-defined]
        assert "reason_en" in refused(kind, dumps(valid(kind, reason_en="")))
    assert Rejected.of("t", b"", "a\x00b", "c\x00d").reason_en == "c\ufffdd"  # storable, like the reason


# --- the acceptance handshake (issue 23): requests, answers, request state -----------------

TRANSFER: dict[str, Any] = {
    "request_id": "r-119-A01-1",
    "unit_id": "119-A01",
    "patient_id": "pt-0001",
    "advice_version": 2,
    "eta_s": 540,
    "sent_at": TS,
    "answer_by": "2024-05-01T12:03:00Z",
}


@pytest.mark.parametrize("reason", [None, "absent"])
def test_a_decline_without_a_reason_is_refused_naming_the_field(reason: str | None) -> None:
    obj = valid(Kind.ANSWER, answer="decline", reason=reason)
    if reason == "absent":
        del obj["reason"]
    message = refused(Kind.ANSWER, dumps(obj))
    assert "decline" in message and "reason" in message
    assert all(code.value in message for code in RefusalReason)  # and says what would do
    with pytest.raises(ValidationError):
        Answer.new(request_id="r1", answer=AnswerKind.DECLINE)


@pytest.mark.parametrize("answer", ["accept", "seen"])
@pytest.mark.parametrize("reason", list(RefusalReason))
def test_a_reason_on_anything_but_a_decline_is_refused(answer: str, reason: RefusalReason) -> None:
    message = refused(Kind.ANSWER, dumps(valid(Kind.ANSWER, answer=answer, reason=reason.value)))
    assert "reason" in message and answer in message
    with pytest.raises(ValidationError):
        Answer.new(request_id="r1", answer=AnswerKind(answer), reason=reason)


@pytest.mark.parametrize("code", ["full", "NO_BED", "no bed", "", "no_beds", 1, True, ["no_bed"], {"code": "no_bed"}])
def test_an_unknown_refusal_code_is_refused(code: object) -> None:
    message = refused(Kind.ANSWER, dumps(valid(Kind.ANSWER, answer="decline", reason=code)))
    assert message.startswith("answer payload invalid: reason:")
    message = refused(Kind.REQUEST_STATE, dumps(valid(Kind.REQUEST_STATE, state="declined", reason=code)))
    assert "reason" in message


@pytest.mark.parametrize("reason", list(RefusalReason))
def test_a_decline_with_each_code_is_accepted(reason: RefusalReason) -> None:
    raw = dumps(
        valid(Kind.ANSWER, answer="decline", reason=reason.value, text="  CT 고장  ", answered_by="응급실 책임간호사")
    )
    answer = decode(Kind.ANSWER, raw)
    assert isinstance(answer, Answer)
    assert (answer.answer, answer.reason, answer.text) == (AnswerKind.DECLINE, reason, "CT 고장")
    assert decode(Kind.ANSWER, encode(answer)) == answer


@pytest.mark.parametrize("answer", ["maybe", "DECLINE", "accepted", "", None])
def test_an_unknown_answer_is_refused(answer: object) -> None:
    assert "answer" in refused(Kind.ANSWER, dumps(valid(Kind.ANSWER, answer=answer)))


def test_a_transfer_request_round_trips() -> None:
    full = {
        **TRANSFER,
        "pathway": "stemi",
        "ktas": 1,
        "critical": True,
        "vitals": {"age_years": 67, "sex": "male", "hr_bpm": 48, "sbp_mmhg": 82, "spo2_pct": 91, "avpu": "V"},
        "chief_complaint": "흉통",
        "note": "  ST 상승, 아스피린 투여  ",
        "seen": True,
    }
    request = TransferRequest.model_validate_json(json.dumps(full), strict=True)
    assert request.note == "ST 상승, 아스피린 투여"
    assert request.answer_by == datetime(2024, 5, 1, 12, 3, tzinfo=UTC)
    assert request.vitals == KeyVitals(age_years=67, sex=Sex.MALE, hr_bpm=48, sbp_mmhg=82, spo2_pct=91, avpu=Avpu.VOICE)
    assert TransferRequest.model_validate_json(request.model_dump_json(), strict=True) == request
    # and inside the centre's retained list, oldest first, as it travels on the bus
    minimal = TransferRequest.model_validate_json(json.dumps({**TRANSFER, "request_id": "r-119-B02-1"}), strict=True)
    waiting = Requests.new(requests=(request, minimal))
    decoded = decode(Kind.REQUESTS, encode(waiting))
    assert isinstance(decoded, Requests) and decoded == waiting
    assert [r.request_id for r in decoded.requests] == ["r-119-A01-1", "r-119-B02-1"]
    assert (minimal.seen, minimal.critical, minimal.vitals) == (False, False, KeyVitals())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"eta_s": -1}, "eta_s"),
        ({"eta_s": 86_401}, "eta_s"),
        ({"advice_version": 0}, "advice_version"),
        ({"ktas": 6}, "ktas"),
        ({"pathway": "STEMI"}, "pathway"),
        ({"patient_id": "Kim Minsu"}, "patient_id"),
        ({"unit_id": "a/b"}, "unit_id"),
        ({"note": "   "}, "note"),
        ({"sent_at": "2024-05-01T12:00:00"}, "sent_at"),
        ({"vitals": {"spo2_pct": 101}}, "spo2_pct"),
        ({"vitals": {"temp_c": 37.0}}, "temp_c"),  # the key vitals only
        ({"bed": "icu"}, "bed"),
    ],
)
def test_a_bad_transfer_request_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    message = refused(Kind.REQUESTS, dumps(valid(Kind.REQUESTS, requests=[{**TRANSFER, **change}])))
    assert message.startswith("requests payload invalid: requests.0.")
    assert field in message


def test_a_centres_list_is_bounded() -> None:
    assert len(decode(Kind.REQUESTS, dumps(valid(Kind.REQUESTS, requests=[TRANSFER] * 200))).requests) == 200  # type: ignore[attr-defined]
    assert "requests" in refused(Kind.REQUESTS, dumps(valid(Kind.REQUESTS, requests=[TRANSFER] * 201)))


@pytest.mark.parametrize("state", list(RequestState))
def test_every_request_state_is_accepted(state: RequestState) -> None:
    raw = dumps(valid(Kind.REQUEST_STATE, state=state.value, message_en="request sent", answered_at=TS))
    decoded = decode(Kind.REQUEST_STATE, raw)
    assert isinstance(decoded, UnitRequest)
    assert decoded.state is state
    assert decode(Kind.REQUEST_STATE, encode(decoded)) == decoded


@pytest.mark.parametrize(
    ("field", "value"),
    [("state", "pending"), ("message", ""), ("message", "  "), ("name", ""), ("hpid", "a/b"), ("answer_by", "soon")],
)
def test_a_bad_request_state_is_refused_naming_the_field(field: str, value: object) -> None:
    assert field in refused(Kind.REQUEST_STATE, dumps(valid(Kind.REQUEST_STATE, **{field: value})))


def test_the_crews_note_on_vitals_is_short_text() -> None:
    assert decode(Kind.VITALS, dumps(valid(Kind.VITALS, note="  의식 저하  "))).note == "의식 저하"  # type: ignore[attr-defined]
    assert decode(Kind.VITALS, dumps(valid(Kind.VITALS))).note is None  # type: ignore[attr-defined]
    for bad in ("", "   ", "x" * 301, 5):
        assert "note" in refused(Kind.VITALS, dumps(valid(Kind.VITALS, note=bad)))


@pytest.mark.parametrize(
    ("field", "value"), [("status", "busy"), ("status", "AVAILABLE"), ("incident_id", "a/b"), ("hpid", "")]
)
def test_bad_status_refused(field: str, value: object) -> None:
    assert field in refused(Kind.STATUS, dumps(valid(Kind.STATUS, **{field: value})))


@pytest.mark.parametrize("status", list(UnitStatus))
def test_every_unit_status_accepted(status: UnitStatus) -> None:
    assert decode(Kind.STATUS, dumps(valid(Kind.STATUS, status=status.value))).status is status  # type: ignore[attr-defined]


def test_offline_is_a_status_for_the_last_will() -> None:
    assert UnitStatus("offline") is UnitStatus.OFFLINE


# --- garbage -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@FAST
@given(raw=st.binary(max_size=2000))
def test_arbitrary_bytes_decode_or_refuse(kind: Kind, raw: bytes) -> None:
    decodes_or_refuses(kind, raw)


@FAST
@given(kind=st.sampled_from(ALL_KINDS), value=json_values)
def test_arbitrary_json_decodes_or_refuses(kind: Kind, value: Any) -> None:
    decodes_or_refuses(kind, dumps(value))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Kind, bytes]:
    """A valid payload with a few fields replaced, removed or added, anywhere in the tree."""
    kind = draw(st.sampled_from(ALL_KINDS))
    obj = json.loads(encode(draw(PAYLOADS[kind])))
    for _ in range(draw(st.integers(1, 3))):
        node: Any = obj
        while True:
            children = [v for v in (node.values() if isinstance(node, dict) else node) if isinstance(v, dict | list)]
            if not children or not draw(st.booleans()):
                break
            node = draw(st.sampled_from(children))
        if isinstance(node, list):
            if len(node) > 0 and draw(st.booleans()):
                node[draw(st.integers(0, len(node) - 1))] = draw(json_values)
            else:
                node.append(draw(json_values))
            continue
        key = draw(st.sampled_from(sorted(node)) | st.text(max_size=12)) if node else draw(st.text(max_size=12))
        if key in node and draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(json_values)
    return kind, dumps(obj)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated())
def test_mutated_payloads_decode_or_refuse(case: tuple[Kind, bytes]) -> None:
    decodes_or_refuses(*case)


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b" ",
        b"not json",
        b"{",
        b"}",
        b"{'lat': 1}",
        b'{"lat": 1,}',
        b'{"lat" 1}',
        b"\x00",
        b"\xef\xbb\xbf{}",
        b"{}{}",
        b"{} x",
    ],
)
def test_non_json_refused(kind: Kind, raw: bytes) -> None:
    refused(kind, raw)


def test_non_json_reason_says_so() -> None:
    assert "JSON" in refused(Kind.POSITION, b"not json")


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",
        b"\xff\xfe{}",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b'{"schema": "\xff"}',
        b'{"lat": 1, "lon": 2, "msg_id": "caf\xe9caf\xe9"}',
        "{}".encode("utf-16"),
    ],
)
def test_non_utf8_refused(kind: Kind, raw: bytes) -> None:
    assert "UTF-8" in refused(kind, raw)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
@pytest.mark.parametrize(
    ("kind", "field", "extra"),
    [
        (Kind.POSITION, "lat", {}),
        (Kind.POSITION, "speed_mps", {}),
        (Kind.VITALS, "hr_bpm", {}),
        (Kind.VITALS, "temp_c", {}),
        (Kind.VITALS, "spo2_pct", {}),
        (Kind.CAPACITY, "offload_minutes", {}),
        (Kind.ASSIGNMENT, "eta_s", {}),
        (Kind.INCIDENT, "lon", {}),
        (Kind.INCIDENT, "priority", {}),
        (Kind.DECISION, "advice_version", {}),
        (Kind.REJECTED, "payload_bytes", {}),
    ],
)
def test_non_finite_numbers_refused(token: str, kind: Kind, field: str, extra: dict[str, Any]) -> None:
    assert field in refused(kind, with_token(kind, field, token, **extra))


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("field", ["eta_s", "p_critical"])
def test_non_finite_numbers_refused_when_nested(token: str, field: str) -> None:
    patient = {"unit_id": "119-A01", "advice_version": 1, "eta_s": 60, "severity": {"ktas": 2, "p_critical": 0.3}}
    text = json.dumps(valid(Kind.INBOUND, patients=[patient])).replace(f'"{field}": ', f'"{field}": {token}, "x": ')
    reason = refused(Kind.INBOUND, text.encode())
    assert "patients" in reason


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        (Kind.VITALS, "hr_bpm", "seventy"),
        (Kind.VITALS, "hr_bpm", [72]),
        (Kind.VITALS, "hr_bpm", {"value": 72}),
        (Kind.VITALS, "hr_bpm", ""),
        (Kind.VITALS, "temp_c", "warm"),
        (Kind.VITALS, "patient_id", 12345678),
        (Kind.VITALS, "chief_complaint", 5),
        (Kind.VITALS, "flags", None),
        (Kind.VITALS, "flags", ["stemi"]),
        (Kind.VITALS, "injury", "maybe"),
        (Kind.POSITION, "lat", "north"),
        (Kind.POSITION, "lat", [37.5]),
        (Kind.POSITION, "lat", {}),
        (Kind.STATUS, "status", 1),
        (Kind.ADVICE, "destination", "A1100010"),
        (Kind.ADVICE, "alternatives", {"hpid": "A1"}),
        (Kind.CAPACITY, "beds", ["er_general"]),
        (Kind.INBOUND, "patients", {"unit_id": "x"}),
        (Kind.REJECTED, "payload_bytes", "twelve"),
        (Kind.ASSIGNMENT, "eta_s", "soon"),
        (Kind.DECISION, "advice_version", "latest"),
        (Kind.STATUS, "msg_id", 12345678),
        (Kind.STATUS, "ts", "now"),
        (Kind.STATUS, "ts", True),
    ],
)
def test_wrong_types_refused(kind: Kind, field: str, value: object) -> None:
    assert field in refused(kind, dumps(valid(kind, **{field: value})))


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        (Kind.VITALS, "hr_bpm", True),
        (Kind.VITALS, "hr_bpm", "72"),
        (Kind.VITALS, "temp_c", "37.2"),
        (Kind.VITALS, "ts", 1714564800),
        (Kind.REJECTED, "payload_bytes", "12"),
    ],
)
def test_lax_coercions_refused(kind: Kind, field: str, value: object) -> None:
    assert field in refused(kind, dumps(valid(kind, **{field: value})))


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
def test_missing_schema_refused(kind: Kind) -> None:
    obj = valid(kind)
    del obj["schema"]
    assert "schema" in refused(kind, dumps(obj))


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("raw", [b"[]", b"[{}]", b"null", b"1", b"1.5", b'"payload"', b"true", b"{}", b"[[]]"])
def test_payload_that_is_not_an_object_refused(kind: Kind, raw: bytes) -> None:
    refused(kind, raw)


def test_list_of_valid_payloads_refused() -> None:
    refused(Kind.POSITION, dumps([valid(Kind.POSITION)]))


@pytest.mark.parametrize(("kind", "field"), REQUIRED, ids=[f"{k.value}-{f}" for k, f in REQUIRED])
def test_null_for_required_field_refused(kind: Kind, field: str) -> None:
    assert field in refused(kind, dumps(valid(kind, **{field: None})))


@pytest.mark.parametrize(("kind", "field"), REQUIRED, ids=[f"{k.value}-{f}" for k, f in REQUIRED])
def test_missing_required_field_refused(kind: Kind, field: str) -> None:
    obj = valid(kind)
    del obj[field]
    assert field in refused(kind, dumps(obj))


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
def test_null_schema_refused(kind: Kind) -> None:
    assert "schema" in refused(kind, dumps(valid(kind, schema=None)))


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("name", ["extra", "schema_id", "unit_id_x", "LAT", "_private", "hvec"])
def test_unknown_top_level_field_refused(kind: Kind, name: str) -> None:
    assert name in refused(kind, dumps(valid(kind, **{name: 1})))


@pytest.mark.parametrize(
    ("kind", "change", "name"),
    [
        (Kind.VITALS, {"flags": {"stemi": True, "sepsis": True}}, "sepsis"),
        (Kind.ADVICE, {"severity": {"ktas": 2, "p_critical": 0.2, "why": "x"}}, "why"),
        (Kind.CAPACITY, {"beds": {"icu": {"available": 1, "free": 1}}}, "free"),
        (Kind.CAPACITY, {"ems_traffic": {"status": "normal", "note": "x"}}, "note"),
        (Kind.CAPACITY, {"conditions": {"stemi_pci": {"available": True, "since": TS}}}, "since"),
        (
            Kind.INBOUND,
            {"patients": [{"unit_id": "u1", "advice_version": 1, "eta_s": 1, "hospital": "x"}]},
            "hospital",
        ),
    ],
)
def test_unknown_nested_field_refused(kind: Kind, change: dict[str, Any], name: str) -> None:
    assert name in refused(kind, dumps(valid(kind, **change)))


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(
    "name", ["a\nb", "\n", "line1\r\nline2", "a\rb", "a\u2028b", "a\u2029b", "a\x85b", "a\x0bb", "a\x1cb", "a\x00b"]
)
def test_reason_stays_one_line_when_field_name_has_line_breaks(kind: Kind, name: str) -> None:
    refused(kind, dumps(valid(kind, **{name: "x\ny"})))


@pytest.mark.parametrize("name", ["a\nb", "x\r\ny", "\u2028"])
def test_reason_stays_one_line_for_bad_dict_keys(name: str) -> None:
    refused(Kind.CAPACITY, dumps(valid(Kind.CAPACITY, beds={name: {"available": 1}})))
    refused(Kind.CAPACITY, dumps(valid(Kind.CAPACITY, conditions={name: {}})))


@pytest.mark.parametrize("value", ["x\ny", "\n" * 100, "a\u2028b", "\r"])
def test_reason_stays_one_line_when_value_has_line_breaks(value: str) -> None:
    refused(Kind.VITALS, dumps(valid(Kind.VITALS, patient_id=value)))
    refused(Kind.STATUS, dumps(valid(Kind.STATUS, status=value)))


# --- size and depth ------------------------------------------------------------------------


def test_payload_of_exactly_max_size_accepted() -> None:
    body = dumps(valid(Kind.POSITION))
    raw = body + b" " * (MAX_PAYLOAD_BYTES - len(body))
    assert len(raw) == MAX_PAYLOAD_BYTES
    assert isinstance(decode(Kind.POSITION, raw), Position)


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("extra", [1, 1000, MAX_PAYLOAD_BYTES * 9])
def test_payload_over_max_size_refused_with_size(kind: Kind, extra: int) -> None:
    body = dumps(valid(kind))
    raw = body + b" " * (MAX_PAYLOAD_BYTES + extra - len(body))
    reason = refused(kind, raw)
    assert str(len(raw)) in reason
    assert str(MAX_PAYLOAD_BYTES) in reason


def test_size_is_checked_before_encoding() -> None:
    raw = b"\xff" * (MAX_PAYLOAD_BYTES + 1)
    assert str(MAX_PAYLOAD_BYTES + 1) in refused(Kind.VITALS, raw)


def test_large_but_allowed_inbound_list_accepted() -> None:
    patient = {"unit_id": "119-A01", "advice_version": 1, "eta_s": 600}
    raw = dumps(valid(Kind.INBOUND, patients=[patient] * 500))
    assert len(raw) <= MAX_PAYLOAD_BYTES
    assert len(decode(Kind.INBOUND, raw).patients) == 500  # type: ignore[attr-defined]
    raw = dumps(valid(Kind.INBOUND, patients=[patient] * 501))
    assert "patients" in refused(Kind.INBOUND, raw)


DEEP = 30_000


@pytest.mark.parametrize("kind", ALL_KINDS, ids=KIND_IDS)
@pytest.mark.parametrize(
    "raw",
    [
        b"[" * DEEP + b"]" * DEEP,
        b"[" * DEEP,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b'{"a":' * 10_000,
        b'{"a":[' * 6_000 + b"]}" * 6_000,
    ],
    ids=["lists", "open-lists", "objects", "open-objects", "mixed"],
)
def test_deeply_nested_json_refused(kind: Kind, raw: bytes) -> None:
    assert len(raw) <= MAX_PAYLOAD_BYTES
    refused(kind, raw)


@pytest.mark.parametrize("depth", [50, 150, 250, 5_000])
@pytest.mark.parametrize(
    ("kind", "field"),
    [(Kind.POSITION, "lat"), (Kind.VITALS, "flags"), (Kind.CAPACITY, "beds"), (Kind.INBOUND, "patients")],
)
def test_deep_nesting_inside_a_field_refused(depth: int, kind: Kind, field: str) -> None:
    refused(kind, with_token(kind, field, "[" * depth + "1" + "]" * depth))
    refused(kind, with_token(kind, field, '{"a":' * depth + "1" + "}" * depth))


def test_deep_nesting_in_an_unknown_field_refused() -> None:
    refused(Kind.STATUS, with_token(Kind.STATUS, "junk", "[" * 5_000 + "]" * 5_000))


# --- excerpt -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=5000))
def test_excerpt_never_raises_and_is_short(raw: bytes) -> None:
    text = excerpt(raw)
    assert isinstance(text, str)
    assert len(text) <= 512
    assert EXCERPT_CHARS == 512


@FAST
@given(text=st.text(max_size=2000))
def test_excerpt_of_text_is_its_start(text: str) -> None:
    assert excerpt(text.encode("utf-8")) == text[:512]


def test_excerpt_examples() -> None:
    assert excerpt(b"") == ""
    assert excerpt(b"a" * 10_000) == "a" * 512
    assert excerpt("😀".encode() * 600) == "😀" * 512
    assert excerpt(b"ab\xffcd") == "ab\ufffdcd"
    assert len(excerpt(b"\xff" * 100_000)) == 512
    assert len(excerpt(b"\x80" * (MAX_PAYLOAD_BYTES * 2))) == 512


def test_nested_timestamp_with_second_offset_round_trips() -> None:
    lmt = timezone(timedelta(hours=8, minutes=27, seconds=52))  # Asia/Seoul before 1908
    payload = Capacity.new(updated_at=datetime(2024, 5, 1, 12, tzinfo=lmt))
    assert decode(Kind.CAPACITY, encode(payload)) == payload


# --- a region's dispatcher: ems/dispatchers/{region}/status ---------------------------------


def test_a_dispatcher_status_round_trips_with_codes_only() -> None:
    """Codes in the payload (leading / offline, ok / unreachable / none): the screens put them in words."""
    status = DispatcherStatus.new(
        region="national:gwangju",
        state=DispatcherState.LEADING,
        epoch=7,
        since=datetime(2026, 12, 6, 18, 30, tzinfo=timezone(timedelta(hours=9))),
        ledger=LedgerState.UNREACHABLE,
        heartbeat_s=15.0,
        detail="bed ledger at postgresql://db/gt: connection refused",
    )
    raw = encode(status)
    obj = json.loads(raw)
    assert obj["schema"] == "ems.dispatcher_status/1" == schema_of(Kind.DISPATCHER_STATUS)
    assert (obj["state"], obj["ledger"], obj["epoch"], obj["region"]) == (
        "leading",
        "unreachable",
        7,
        "national:gwangju",
    )
    assert obj["since"] == "2026-12-06T09:30:00Z"
    assert decode(Kind.DISPATCHER_STATUS, raw) == status
    offline = decode(Kind.DISPATCHER_STATUS, dumps(valid(Kind.DISPATCHER_STATUS, state="offline")))
    assert isinstance(offline, DispatcherStatus) and offline.state is DispatcherState.OFFLINE and offline.detail is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("state", "standby"),
        ("state", "LEADING"),
        ("state", None),
        ("ledger", "down"),
        ("ledger", None),
        ("epoch", 0),
        ("epoch", -1),
        ("epoch", 1.5),
        ("epoch", "3"),
        ("since", "2026-12-06T09:30:00"),
        ("since", None),
        ("region", ""),
        ("region", "seoul central"),
        ("region", "서울"),
        ("region", "a" * 65),
        ("region", ":gwangju"),
        ("heartbeat_s", 0),
        ("heartbeat_s", 0.5),
        ("heartbeat_s", -15),
        ("heartbeat_s", 3601),
        ("detail", ""),
        ("detail", "x" * 301),
    ],
)
def test_a_dispatcher_status_out_of_its_codes_or_ranges_is_refused(field: str, value: object) -> None:
    assert field in refused(Kind.DISPATCHER_STATUS, dumps(valid(Kind.DISPATCHER_STATUS, **{field: value})))


def test_a_dispatcher_status_says_nothing_else() -> None:
    assert "words" in refused(Kind.DISPATCHER_STATUS, dumps(valid(Kind.DISPATCHER_STATUS, words="디스패처 중단")))
    obj = valid(Kind.DISPATCHER_STATUS)
    del obj["ledger"]
    assert "ledger" in refused(Kind.DISPATCHER_STATUS, dumps(obj))
