"""Payload schemas of the MQTT contract: one pydantic model per topic kind.

Every payload carries ``schema`` (for example ``"ems.vitals/1"``), ``ts`` (UTC, ISO 8601)
and ``msg_id`` (for de-duplication). Units are in the field names. A value that was not
measured is ``null``, never 0. Identifiers of units, centres and incidents live in the
topic, not in the payload, so the two can never disagree.

:func:`decode` turns raw bytes into a model or raises :class:`PayloadError` whose
``reason`` is one line a person can act on; :func:`encode` is its inverse.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from telemetry.errors import TelemetryError
from telemetry.topics import ID_PATTERN, Kind

#: Payloads larger than this are refused before parsing.
MAX_PAYLOAD_BYTES = 64 * 1024

Id = Annotated[str, StringConstraints(pattern=rf"^{ID_PATTERN}$")]
#: Pseudonymous patient id: letters, digits, '_' and '-', never a name.
PatientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{4,64}$")]
MsgId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{8,64}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(ge=0.0, le=86_400.0)]
Ktas = Annotated[int, Field(ge=1, le=5)]


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00 is past the year 9999 in UTC
        raise ValueError(f"{value.isoformat()} is outside the years 1-9999 in UTC") from None


#: A timestamp with a time zone, stored in UTC (so it round-trips to the microsecond).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


class PayloadError(TelemetryError, ValueError):
    """A payload that is not valid for its topic. ``reason`` says why, in one line;
    ``loggable`` says the same without the values (they may be a patient's), for logs."""

    def __init__(self, reason: str, loggable: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.loggable = reason if loggable is None else loggable


def new_msg_id() -> str:
    """A fresh message id (UUID4, 32 hex characters)."""
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    """Fields every payload carries. Subclasses fix ``schema``."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=True, ser_json_inf_nan="null"
    )

    schema_id: str = Field(alias="schema")
    ts: UtcDatetime
    msg_id: MsgId

    @classmethod
    def new(cls, **fields: Any) -> Self:
        """Build a payload stamped now with a fresh message id."""
        fields.setdefault("ts", utc_now())
        fields.setdefault("msg_id", new_msg_id())
        return cls(**fields)


# --- units -----------------------------------------------------------------------------


class Position(Payload):
    """``ems/units/{unit}/position``: where the unit is (OwnTracks-like)."""

    schema_id: Literal["ems.position/1"] = Field(default="ems.position/1", alias="schema")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    speed_mps: float | None = Field(default=None, ge=0, le=100)
    heading_deg: float | None = Field(default=None, ge=0, lt=360)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


class Avpu(StrEnum):
    """Level of consciousness: Alert, responds to Voice, to Pain, Unresponsive."""

    ALERT = "A"
    VOICE = "V"
    PAIN = "P"
    UNRESPONSIVE = "U"


class CrewFlags(BaseModel):
    """What the crew has recognised on scene."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fast_positive: bool = False
    stemi: bool = False
    major_trauma: bool = False
    cardiac_arrest: bool = False
    pregnancy: bool = False
    burns: bool = False
    paediatric: bool = False


class Vitals(Payload):
    """``ems/units/{unit}/vitals``: one set of patient observations."""

    schema_id: Literal["ems.vitals/1"] = Field(default="ems.vitals/1", alias="schema")
    patient_id: PatientId
    age_years: int | None = Field(default=None, ge=0, le=120)
    sex: Sex | None = None
    hr_bpm: int | None = Field(default=None, ge=0, le=300)
    sbp_mmhg: int | None = Field(default=None, ge=0, le=300)
    dbp_mmhg: int | None = Field(default=None, ge=0, le=300)
    rr_per_min: int | None = Field(default=None, ge=0, le=80)
    spo2_pct: int | None = Field(default=None, ge=0, le=100)
    temp_c: float | None = Field(default=None, ge=25, le=45)
    avpu: Avpu | None = None
    gcs: int | None = Field(default=None, ge=3, le=15)
    pain_nrs: int | None = Field(default=None, ge=0, le=10)
    injury: bool | None = None
    chief_complaint: str | None = Field(default=None, max_length=200)
    #: The crew's own Pre-KTAS level (1-5), when graded: the router treats the patient as at least this urgent.
    #: It stands for the patient until the crew sends another (a monitor's later vitals without it keep it).
    pre_ktas: Ktas | None = None
    flags: CrewFlags = CrewFlags()
    #: The crew's free-text note for the receiving centre (travels with the transfer request).
    note: ShortText | None = None

    @model_validator(mode="after")
    def _diastolic_below_systolic(self) -> Self:
        if self.sbp_mmhg is not None and self.dbp_mmhg is not None and self.dbp_mmhg > self.sbp_mmhg:
            raise ValueError(f"dbp_mmhg {self.dbp_mmhg} is above sbp_mmhg {self.sbp_mmhg}")
        return self


class UnitStatus(StrEnum):
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    TRANSPORTING = "transporting"
    AT_HOSPITAL = "at_hospital"
    OUT_OF_SERVICE = "out_of_service"
    #: Published by the broker as the unit's Last Will.
    OFFLINE = "offline"


class Status(Payload):
    """``ems/units/{unit}/status`` (retained; the Last Will says ``offline``)."""

    schema_id: Literal["ems.status/1"] = Field(default="ems.status/1", alias="schema")
    status: UnitStatus
    incident_id: Id | None = None
    hpid: Id | None = None


class Decider(StrEnum):
    """Who set the urgency the router used: the severity model, or the crew (Pre-KTAS or a flag) raising it."""

    MODEL = "model"
    CREW = "crew"


class Severity(BaseModel):
    """How sick the patient is: ``ktas`` the likeliest level (or the crew's, if more urgent); ``critical`` the
    recall-first call (absent from older senders: read as ``ktas <= 2``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    ktas: Ktas
    p_critical: Probability
    p_emergency: Probability | None = None
    critical: bool | None = None
    decided_by: Decider | None = None


class Option(BaseModel):
    """One destination the crew could take."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    hpid: Id
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    eta_s: Seconds
    beds_on_arrival: int | None = Field(default=None, ge=0, le=10_000)
    reason: ShortText  # in the dispatcher's language, Korean by default
    reason_en: ShortText | None = None  # the same reason in English, for the tablet's language switch


class EtaMode(StrEnum):
    ROAD = "road"
    APPROXIMATE = "approximate"


class Advice(Payload):
    """``ems/units/{unit}/advice`` (retained): where to take the patient, and why."""

    schema_id: Literal["ems.advice/1"] = Field(default="ems.advice/1", alias="schema")
    advice_version: int = Field(ge=1)
    patient_id: PatientId
    destination: Option
    alternatives: tuple[Option, ...] = Field(default=(), max_length=10)
    severity: Severity | None = None
    eta_mode: EtaMode = EtaMode.ROAD
    #: The clinical pathway that decided (dispatch.pathways.Pathway value), when known.
    pathway: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,39}$")] | None = None
    #: False when no centre within reach gives the pathway's definitive care and the patient is
    #: taken to be stabilised (the reason says so first; the control room gets an alert).
    definitive: bool = True


class DecisionKind(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"


class Decision(Payload):
    """``ems/units/{unit}/decision``: the crew accepts or declines an advice version."""

    schema_id: Literal["ems.decision/1"] = Field(default="ems.decision/1", alias="schema")
    advice_version: int = Field(ge=1)
    decision: DecisionKind
    reason: ShortText | None = None

    @model_validator(mode="after")
    def _decline_needs_reason(self) -> Self:
        if self.decision is DecisionKind.DECLINE and not self.reason:
            raise ValueError("a decline needs a reason")
        return self


# --- emergency centres --------------------------------------------------------------------


class BedType(StrEnum):
    """Bed types, named after EDXL-HAVE and mapped from E-Gen (``hvec``, ``hv28`` ...)."""

    ER_GENERAL = "er_general"
    ER_PAEDIATRIC = "er_paediatric"
    ER_ISOLATION_NEGATIVE_PRESSURE = "er_isolation_negative_pressure"
    ER_ISOLATION_GENERAL = "er_isolation_general"
    ICU = "icu"
    OPERATING_ROOM = "operating_room"
    GENERAL_ADMISSION = "general_admission"


class Equipment(StrEnum):
    CT = "ct"
    MRI = "mri"
    ANGIOGRAPHY = "angiography"
    VENTILATOR = "ventilator"
    ECMO = "ecmo"
    CRRT = "crrt"
    HYPOTHERMIA = "hypothermia"


class Condition(StrEnum):
    """Severe-illness acceptance: E-Gen ``MKioskTy1``-``28`` (getSrsillDissAceptncPosblInfoInqire),
    plus the regional trauma centre designation."""

    STEMI_PCI = "stemi_pci"  # MKioskTy1
    STROKE_THROMBECTOMY = "stroke_thrombectomy"  # 2
    SAH_SURGERY = "sah_surgery"  # 3
    ICH_SURGERY = "ich_surgery"  # 4
    AORTIC_THORACIC = "aortic_thoracic"  # 5
    AORTIC_ABDOMINAL = "aortic_abdominal"  # 6
    GALLBLADDER = "gallbladder"  # 7
    BILIARY_DUCT = "biliary_duct"  # 8
    ABDOMINAL_SURGERY = "abdominal_surgery"  # 9
    INFANT_INTUSSUSCEPTION = "infant_intussusception"  # 10
    GI_ENDOSCOPY_ADULT = "gi_endoscopy_adult"  # 11
    GI_ENDOSCOPY_INFANT = "gi_endoscopy_infant"  # 12
    BRONCHOSCOPY_ADULT = "bronchoscopy_adult"  # 13
    BRONCHOSCOPY_INFANT = "bronchoscopy_infant"  # 14
    LOW_BIRTH_WEIGHT = "low_birth_weight"  # 15
    OBSTETRIC_DELIVERY = "obstetric_delivery"  # 16
    OBSTETRIC_SURGERY = "obstetric_surgery"  # 17
    GYNAECOLOGIC_SURGERY = "gynaecologic_surgery"  # 18
    MAJOR_BURNS = "major_burns"  # 19
    REPLANTATION_DIGIT = "replantation_digit"  # 20
    REPLANTATION_OTHER = "replantation_other"  # 21
    DIALYSIS_HD = "dialysis_hd"  # 22
    DIALYSIS_CRRT = "dialysis_crrt"  # 23
    PSYCHIATRIC_ADMISSION = "psychiatric_admission"  # 24
    EYE_SURGERY = "eye_surgery"  # 25
    INTERVENTIONAL_RADIOLOGY_ADULT = "interventional_radiology_adult"  # 26
    INTERVENTIONAL_RADIOLOGY_INFANT = "interventional_radiology_infant"  # 27
    ER_OPEN = "er_open"  # 28, the gate keeper: N excludes the centre for everything
    MAJOR_TRAUMA = "major_trauma"  # regional trauma centre (권역외상센터), not an MKioskTy item


class BedCount(BaseModel):
    """Beds of one type. ``available is None`` means unknown (E-Gen ``-1``); overcrowded
    (E-Gen ``<= -2``) is its own flag with ``available`` 0, never a negative count."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    available: int | None = Field(default=None, ge=0, le=10_000)
    total: int | None = Field(default=None, ge=0, le=10_000)
    overcrowded: bool = False
    updated_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _overcrowded_means_none_free(self) -> Self:
        if self.overcrowded and self.available not in (None, 0):
            raise ValueError("an overcrowded bed type cannot also report available beds")
        return self


class Capability(BaseModel):
    """Whether a piece of equipment or a severe-illness treatment is available; ``None`` = unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    available: bool | None = None
    updated_at: UtcDatetime | None = None


class TrafficStatus(StrEnum):
    """EDXL-HAVE EMS traffic status."""

    NORMAL = "normal"
    ADVISORY = "advisory"
    CLOSED = "closed"


class EmsTraffic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: TrafficStatus = TrafficStatus.NORMAL
    reason: ShortText | None = None
    expires_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None


class Capacity(Payload):
    """``ems/hospitals/{hpid}/capacity`` (retained): what a centre can take now. Every
    field carries its own update time."""

    schema_id: Literal["ems.capacity/1"] = Field(default="ems.capacity/1", alias="schema")
    beds: dict[BedType, BedCount] = Field(default_factory=dict)
    equipment: dict[Equipment, Capability] = Field(default_factory=dict)
    conditions: dict[Condition, Capability] = Field(default_factory=dict)
    ems_traffic: EmsTraffic = EmsTraffic()
    offload_minutes: float | None = Field(default=None, ge=0, le=1440)
    offload_updated_at: UtcDatetime | None = None
    updated_at: UtcDatetime
    updated_by: ShortText | None = None


class InboundPatient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    unit_id: Id
    patient_id: PatientId | None = None
    advice_version: int = Field(ge=1)
    severity: Severity | None = None
    eta_s: Seconds
    eta_mode: EtaMode = EtaMode.ROAD


class Inbound(Payload):
    """``ems/hospitals/{hpid}/inbound`` (retained): units really heading there (pre-notification)."""

    schema_id: Literal["ems.inbound/1"] = Field(default="ems.inbound/1", alias="schema")
    patients: tuple[InboundPatient, ...] = Field(default=(), max_length=500)


# --- incidents ---------------------------------------------------------------------------


class Incident(Payload):
    """``ems/incidents/{id}``: a call that needs an ambulance."""

    schema_id: Literal["ems.incident/1"] = Field(default="ems.incident/1", alias="schema")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    category: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    priority: int = Field(ge=1, le=5, description="1 = most urgent")


class Assignment(Payload):
    """``ems/incidents/{id}/assignment`` (retained): which unit the dispatcher recommends."""

    schema_id: Literal["ems.assignment/1"] = Field(default="ems.assignment/1", alias="schema")
    unit_id: Id
    eta_s: Seconds
    eta_mode: EtaMode = EtaMode.ROAD


class Rejected(Payload):
    """``ems/rejected/{source}``: a message a consumer refused, with the reason. The dispatcher sends
    the same report about a unit's own message to ``ems/units/{unit}/rejected`` too (the one the
    unit may read), where a notice about a message that was kept but not yet acted on also goes."""

    schema_id: Literal["ems.rejected/1"] = Field(default="ems.rejected/1", alias="schema")
    topic: Annotated[str, StringConstraints(max_length=1024)]
    #: Why, in the consumer's language: Korean for what a crew reads.
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    #: The same reason in English (the tablet's language switch), when the consumer gives one.
    reason_en: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    payload_excerpt: Annotated[str, StringConstraints(max_length=2048)]
    payload_bytes: int = Field(ge=0)

    @classmethod
    def of(cls, topic: str, raw: bytes, reason: str, reason_en: str | None = None) -> Rejected:
        """The report of a refused message: where it came, why (and why in English), and how it started."""
        return cls.new(
            topic=_storable(topic[:1024]),
            reason=_storable(reason[:2000]),
            reason_en=None if reason_en is None else _storable(reason_en[:2000]),
            payload_excerpt=_storable(excerpt(raw)),
            payload_bytes=len(raw),
        )


# --- the acceptance handshake (a transfer request and the centre's answer) ------------------


class RefusalReason(StrEnum):
    """Why a centre declines, in the categories of the national refusal statistics."""

    NO_BED = "no_bed"
    NO_SPECIALIST = "no_specialist"
    NO_EQUIPMENT = "no_equipment"
    OTHER = "other"


class KeyVitals(BaseModel):
    """The vital signs a receiving centre reads first."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    age_years: int | None = Field(default=None, ge=0, le=120)
    sex: Sex | None = None
    hr_bpm: int | None = Field(default=None, ge=0, le=300)
    sbp_mmhg: int | None = Field(default=None, ge=0, le=300)
    rr_per_min: int | None = Field(default=None, ge=0, le=80)
    spo2_pct: int | None = Field(default=None, ge=0, le=100)
    gcs: int | None = Field(default=None, ge=3, le=15)
    avpu: Avpu | None = None


class TransferRequest(BaseModel):
    """One patient a crew asks a centre to take."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    request_id: Id
    unit_id: Id
    patient_id: PatientId
    advice_version: int = Field(ge=1)
    pathway: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,39}$")] | None = None
    ktas: Ktas | None = None
    critical: bool = False
    eta_s: Seconds
    vitals: KeyVitals = KeyVitals()
    chief_complaint: str | None = Field(default=None, max_length=200)
    note: ShortText | None = None
    sent_at: UtcDatetime
    #: No answer by then: the crew goes on as it would without one (and is told so).
    answer_by: UtcDatetime
    seen: bool = False


class Requests(Payload):
    """``ems/hospitals/{hpid}/requests`` (retained): the centre's transfer requests waiting for an answer,
    oldest first. The dispatcher is the one writer."""

    schema_id: Literal["ems.requests/1"] = Field(default="ems.requests/1", alias="schema")
    requests: tuple[TransferRequest, ...] = Field(default=(), max_length=200)


class AnswerKind(StrEnum):
    SEEN = "seen"
    ACCEPT = "accept"
    DECLINE = "decline"


class Answer(Payload):
    """``ems/hospitals/{hpid}/answer``: the centre's answer to one of its requests."""

    schema_id: Literal["ems.answer/1"] = Field(default="ems.answer/1", alias="schema")
    request_id: Id
    answer: AnswerKind
    reason: RefusalReason | None = None
    text: ShortText | None = None
    #: Who answered (a name or role on the ward), for the centre's own record.
    answered_by: ShortText | None = None

    @model_validator(mode="after")
    def _decline_needs_reason(self) -> Self:
        if self.answer is AnswerKind.DECLINE and self.reason is None:
            raise ValueError("a decline needs a reason: no_bed, no_specialist, no_equipment or other")
        if self.answer is not AnswerKind.DECLINE and self.reason is not None:
            raise ValueError(f"only a decline has a reason (answer is {self.answer.value})")
        return self


class RequestState(StrEnum):
    SENT = "sent"
    SEEN = "seen"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    NO_ANSWER = "no_answer"
    WITHDRAWN = "withdrawn"


class UnitRequest(Payload):
    """``ems/units/{unit}/request`` (retained): where the unit's transfer request stands."""

    schema_id: Literal["ems.request/1"] = Field(default="ems.request/1", alias="schema")
    request_id: Id
    hpid: Id
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    advice_version: int = Field(ge=1)
    state: RequestState
    reason: RefusalReason | None = None
    #: What the crew reads, Korean by default, and the same in English.
    message: ShortText
    message_en: ShortText | None = None
    sent_at: UtcDatetime
    answer_by: UtcDatetime
    answered_at: UtcDatetime | None = None


# --- the dispatchers ------------------------------------------------------------------------


class DispatcherState(StrEnum):
    #: The region's active dispatcher, holding its lease: advice goes out.
    LEADING = "leading"
    #: Stopped, or gone (its Last Will): no advice goes out until a standby takes the lease over.
    OFFLINE = "offline"


class LedgerState(StrEnum):
    """The border-bed ledger as the leader last found it."""

    OK = "ok"
    #: The last call failed: the region advises on its own plan and may promise a bed another region promised.
    UNREACHABLE = "unreachable"
    #: The region has no border centre, so no ledger.
    NONE = "none"


#: A region's name as ``goldentime dispatcher --region`` takes it (telemetry.leader.REGION_PATTERN).
RegionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


class DispatcherStatus(Payload):
    """``ems/dispatchers/{region}/status`` (retained): whether the region's dispatcher leads, published by the leader
    when it takes the lease, when its ledger's state changes and every ``heartbeat_s``; its Last Will (and a clean
    stop) says ``offline``. Codes only: the screens put them in words."""

    schema_id: Literal["ems.dispatcher_status/1"] = Field(default="ems.dispatcher_status/1", alias="schema")
    region: RegionName
    state: DispatcherState
    #: The lease's epoch: a standby that takes over leads with a higher one.
    epoch: int = Field(ge=1)
    #: When this leader took the lease.
    since: UtcDatetime
    ledger: LedgerState
    #: How often a leader sends this again: a ``leading`` status older than three of these is a dispatcher that
    #: stopped answering (frozen, cut off) without its Last Will being sent yet.
    heartbeat_s: float = Field(ge=1, le=3600)
    #: A short technical note: the ledger's error while it is unreachable, why the dispatcher went offline.
    detail: ShortText | None = None


MODELS: dict[Kind, type[Payload]] = {
    Kind.POSITION: Position,
    Kind.VITALS: Vitals,
    Kind.STATUS: Status,
    Kind.ADVICE: Advice,
    Kind.DECISION: Decision,
    Kind.CAPACITY: Capacity,
    Kind.INBOUND: Inbound,
    Kind.INCIDENT: Incident,
    Kind.ASSIGNMENT: Assignment,
    Kind.REJECTED: Rejected,
    Kind.UNIT_REJECTED: Rejected,  # the same report, on the unit's own topic
    Kind.REQUESTS: Requests,
    Kind.ANSWER: Answer,
    Kind.REQUEST_STATE: UnitRequest,
    Kind.DISPATCHER_STATUS: DispatcherStatus,
}


def schema_of(kind: Kind) -> str:
    """The ``schema`` a payload of ``kind`` carries (``ems.rejected/1`` on both refusal topics)."""
    default = MODELS[kind].model_fields["schema_id"].default
    assert isinstance(default, str)
    return default


#: How many characters of a refused payload travel in ``Rejected.payload_excerpt``.
EXCERPT_CHARS = 512


def excerpt(raw: bytes) -> str:
    """The start of a raw payload as text, for rejection reports (invalid UTF-8 replaced)."""
    return raw[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def _storable(text: str) -> str:
    """``text`` with NUL characters and lone surrogates replaced by U+FFFD: PostgreSQL text cannot
    hold NUL, JSON not a lone surrogate, and a report the recorder cannot store would stall its
    writer on that batch for ever."""
    return text.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _one_line(text: str) -> str:
    """``text`` with line breaks and other unprintable characters escaped (keys come from the payload)."""
    return text if text.isprintable() else repr(text)[1:-1]


def _describe(error: ValidationError, kind: Kind, *, values: bool = True) -> str:
    """One line naming every invalid field, the first few with what is wrong (and, with
    ``values``, what was there)."""
    errors = error.errors(include_url=False)
    where = [".".join(_one_line(str(p)) for p in item["loc"]) or "payload" for item in errors]
    parts = []
    for place, item in zip(where[:3], errors[:3], strict=False):
        got = item.get("input")
        shown = "" if isinstance(got, dict | list) or not values else f" (got {str(got)[:40]!r})"
        parts.append(f"{place}: {_one_line(item['msg'])}{shown}")
    tail = f"; also invalid: {', '.join(where[3:])}" if len(where) > 3 else ""
    return f"{kind.value} payload invalid: " + "; ".join(parts) + tail


def decode(kind: Kind, raw: bytes) -> Payload:
    """Validate ``raw`` as the payload of ``kind``. Raises :class:`PayloadError`."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload is {len(raw)} bytes, more than the {MAX_PAYLOAD_BYTES} allowed")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"payload is not UTF-8 (byte {exc.start})") from None
    try:
        # Strict: JSON true is not a heart rate, "72" is not a number, 1714564800 is not a time.
        payload = MODELS[kind].model_validate_json(raw, strict=True)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise PayloadError(f"payload is not JSON: {exc.errors()[0]['msg']}") from None
        raise PayloadError(_describe(exc, kind), _describe(exc, kind, values=False)) from None
    if "schema_id" not in payload.model_fields_set:  # in code it is filled in; on the wire it must be stated
        raise PayloadError(f"{kind.value} payload invalid: schema is missing")
    return payload


def encode(payload: Payload) -> bytes:
    """The JSON bytes of ``payload`` as they travel on the bus."""
    return payload.model_dump_json(by_alias=True).encode("utf-8")
