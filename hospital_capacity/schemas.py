"""The capacity API's boundary models (schema families ``XCreate / XUpdate / XPublic``).

Bed, equipment, condition and traffic types are those of the MQTT contract
(:mod:`telemetry.schemas`), so what a centre posts is exactly what the dispatcher reads.
E-Gen's "unknown" (``-1``) and "overcrowded" (``≤ -2``) are explicit: ``available: null`` and
``overcrowded: true``, never negative numbers.

Values are taken as the OpenAPI document types them: counts are JSON integers, booleans JSON
booleans and times ISO 8601 strings with a time zone (``"3"``, ``1`` for true or ``0`` for a
time are refused, naming the field). Text carries no control characters (U+0000-U+001F,
U+007F-U+009F): PostgreSQL cannot query a JSON value holding a NUL. The rules on times that
need the server's clock (:data:`MAX_FUTURE_SKEW`, :data:`EARLIEST_OBSERVATION`, an expiry
already past) are checked by :mod:`hospital_capacity.state`, where they are documented too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from telemetry.schemas import (
    AnswerKind,
    BedType,
    Condition,
    EmsTraffic,
    Equipment,
    RefusalReason,
    TrafficStatus,
)

#: An observation may be this far ahead of the server's clock (clocks of centres drift); one
#: further in the future is refused, so that it cannot stay "fresh" for ever.
MAX_FUTURE_SKEW = timedelta(minutes=5)
#: No observation is older than this: ``observed_at: 0`` (1970) or an E-Gen ``hvidate`` of
#: 00010101000000 is a default value, not a time anybody observed.
EARLIEST_OBSERVATION = datetime(2000, 1, 1, tzinfo=UTC)
#: Characters no text field may carry (C0 and C1 controls, DEL).
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"

Hpid = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{2,15}$")]


def _a_json_number(value: Any) -> Any:
    """``value`` if it is a number; text ("3") and booleans are refused, not read as counts.
    (An integral float, 3.0, is a JSON Schema integer and is taken.)"""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


#: A bed count: a JSON integer 0-10,000.
Count = Annotated[int, Field(ge=0, le=10_000), BeforeValidator(_a_json_number)]


def _not_blank(value: str) -> str:
    """``value`` without surrounding spaces; refused when nothing else is left."""
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


#: One line of text a person wrote (a reason): 1-300 characters, no control characters, not
#: blank; surrounding spaces are dropped.
Line = Annotated[
    str, StringConstraints(min_length=1, max_length=300, pattern=NO_CONTROL_CHARACTERS), AfterValidator(_not_blank)
]
#: A name or label: 1-100 characters, no control characters.
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_CONTROL_CHARACTERS)]

_ISO_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")


def _in_utc_range(value: datetime) -> datetime:
    """``value`` unchanged, if it has a UTC equivalent: the state is published as ``ems.capacity/1``,
    whose times are UTC, and a time past year 9999 in UTC would stop the publisher."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside the years 1-9999 in UTC") from None
    return value


def _iso_only(value: Any) -> Any:
    """An ISO 8601 string (or a datetime, from Python callers), never a number: ``0`` or ``"0.5"``
    would otherwise be read as seconds since 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE_TIME.match(value):
        raise PydanticCustomError(
            "datetime_type", "give an ISO 8601 date and time with a time zone, e.g. 2026-11-24T09:30:00+09:00"
        )
    return value


#: A time with a time zone that can be expressed in UTC, written as ISO 8601.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(_in_utc_range)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- centres -------------------------------------------------------------------------------


class HospitalCreate(_Strict):
    """A centre as seeded from the E-Gen institution list."""

    hpid: Hpid
    name: Name
    level: int = Field(
        ge=1, le=4, description="1 권역응급의료센터, 2 지역응급의료센터, 3 지역응급의료기관, 4 응급실운영신고기관"
    )
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    trauma_centre: bool = False
    region: Annotated[str, StringConstraints(max_length=40, pattern=NO_CONTROL_CHARACTERS)] | None = Field(
        default=None, description="시도, e.g. 전남광주통합특별시"
    )


# --- status updates ------------------------------------------------------------------------------


class BedUpdate(_Strict):
    """Beds of one type. Omit a field to leave it unchanged; ``available: null`` = unknown."""

    available: Count | None = None
    total: Count | None = None
    overcrowded: StrictBool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.overcrowded and self.available not in (None, 0):
            raise ValueError("an overcrowded bed type cannot also report available beds")
        if self.available is not None and self.total is not None and self.available > self.total:
            raise ValueError(f"available {self.available} is greater than total {self.total}")
        return self


class TrafficUpdate(_Strict):
    status: TrafficStatus
    reason: Line | None = Field(default=None, description="required unless normal; no control characters")
    expires_at: Timestamp | None = Field(
        default=None, description="when the advisory or closure ends; must be later than now and than observed_at"
    )

    @model_validator(mode="after")
    def _closing_needs_reason(self) -> Self:
        if self.status is not TrafficStatus.NORMAL and not self.reason:
            raise ValueError(f"a status of {self.status.value} needs a reason")
        return self


class StatusUpdate(_Strict):
    """``PATCH /hospitals/{hpid}/status``: only what changed. Every part named here replaces the
    stored one and gets its own observation time, unless the stored one was observed later (the
    newest observation wins, part by part); everything else stays as it was. A body that names
    no part (``{}``) changes nothing and is answered with the current state."""

    beds: dict[BedType, BedUpdate] = Field(default_factory=dict)
    equipment: dict[Equipment, StrictBool | None] = Field(default_factory=dict)
    conditions: dict[Condition, StrictBool | None] = Field(default_factory=dict)
    ems_traffic: TrafficUpdate | None = None
    offload_minutes: float | None = Field(default=None, ge=0, le=1440, strict=True)
    observed_at: Timestamp | None = Field(
        default=None,
        description="when the centre observed these values (E-Gen hvidate); default: now. Not before "
        f"{EARLIEST_OBSERVATION:%Y-%m-%d}, and at most {MAX_FUTURE_SKEW.total_seconds() / 60:g} minutes ahead "
        "of the server's clock.",
    )

    def changes_nothing(self) -> bool:
        """True when no part is named: applying it would change nothing."""
        return not (
            self.beds or self.equipment or self.conditions or self.ems_traffic or self.offload_minutes is not None
        )


# --- answers to transfer requests ---------------------------------------------------------------


class AnswerCreate(_Strict):
    """``POST /hospitals/{hpid}/requests/{request_id}/answer``: the centre's answer to one transfer request,
    published as ``ems.answer/1`` on ``ems/hospitals/{hpid}/answer``. ``seen`` says the request is on a
    screen; ``accept`` takes the patient; ``decline`` needs a ``reason`` (the national refusal statistics'
    categories), and only a decline has one."""

    answer: AnswerKind
    reason: RefusalReason | None = Field(
        default=None, validate_default=True, description="required for a decline, absent otherwise"
    )
    text: Line | None = Field(default=None, description="free text for the crew and the dispatcher")
    answered_by: Name | None = Field(default=None, description="who answered; default: the token's label")

    @field_validator("reason")
    @classmethod
    def _reason_only_for_a_decline(cls, reason: RefusalReason | None, info: ValidationInfo) -> RefusalReason | None:
        answer = info.data.get("answer")  # absent when the answer itself was invalid: that error is enough
        if answer is AnswerKind.DECLINE and reason is None:
            *first, last = (r.value for r in RefusalReason)
            raise ValueError(f"a decline needs a reason: {', '.join(first)} or {last}")
        if answer is not None and answer is not AnswerKind.DECLINE and reason is not None:
            raise ValueError(f"only a decline has a reason (answer is {answer.value})")
        return reason


# --- what the API returns -------------------------------------------------------------------------


class BedPublic(_Strict):
    available: int | None
    total: int | None
    overcrowded: bool
    updated_at: datetime | None


class CapabilityPublic(_Strict):
    available: bool | None
    updated_at: datetime | None


class StatusPublic(_Strict):
    """The latest known state of a centre; every part carries its own update time."""

    beds: dict[BedType, BedPublic]
    equipment: dict[Equipment, CapabilityPublic]
    conditions: dict[Condition, CapabilityPublic]
    ems_traffic: EmsTraffic
    offload_minutes: float | None
    offload_updated_at: datetime | None
    updated_at: datetime | None
    updated_by: str | None
    age_s: float | None = Field(description="seconds since the last update of any part; null if never updated")


class HospitalPublic(_Strict):
    hpid: str
    name: str
    level: int
    lat: float
    lon: float
    trauma_centre: bool
    region: str | None
    status: StatusPublic


class UpdatePublic(_Strict):
    """One past update, as it was accepted."""

    id: int
    hpid: str
    received_at: datetime
    updated_by: str
    source: str  # "api", "egen", "seed"
    update: StatusUpdate


class ImportRefusal(_Strict):
    """One E-Gen item that was not imported, and why."""

    hpid: str
    reason: str


class ImportResult(_Strict):
    updated: list[str] = Field(description="centres updated, in the document's order")
    unknown_hpids: list[str] = Field(description="hpids this service does not know: not imported")
    operation: str = Field(description="beds or severe")
    refused: list[ImportRefusal] = Field(
        default_factory=list, description="items refused (e.g. an hvidate in the future); the others were imported"
    )
    kept_newer: dict[str, list[str]] = Field(
        default_factory=dict,
        description="hpid → the parts (beds.er_general, equipment.ct ...) the item did not replace because the "
        "stored value was observed later",
    )


class ErrorMessage(_Strict):
    """A refusal that is not about one field (401, 403, 404, 413)."""

    detail: str


class ValidationProblem(BaseModel):
    """Where and what (FastAPI's ``ValidationError`` shape)."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationProblems(BaseModel):
    """A 422: every problem found, each naming its field."""

    detail: list[ValidationProblem]


class TokenCreate(_Strict):
    hpid: Hpid | None = Field(default=None, description="the centre this token may update; null = control room")
    label: Name


class Health(_Strict):
    status: str
    database: bool
    mqtt: bool
    hospitals: int
    unpublished: int
