"""The capacity API's boundary models (schema families ``XCreate / XUpdate / XPublic``).

Bed, equipment, condition and traffic types are those of the MQTT contract
(:mod:`telemetry.schemas`), so what a centre posts is exactly what the dispatcher reads.
E-Gen's "unknown" (``-1``) and "overcrowded" (``≤ -2``) are explicit: ``available: null`` and
``overcrowded: true``, never negative numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from telemetry.schemas import (
    BedType,
    Condition,
    EmsTraffic,
    Equipment,
    TrafficStatus,
)

Hpid = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{2,15}$")]
Count = Annotated[int, Field(ge=0, le=10_000)]


def _in_utc_range(value: datetime) -> datetime:
    """``value`` unchanged, if it has a UTC equivalent: the state is published as ``ems.capacity/1``,
    whose times are UTC, and a time past year 9999 in UTC would stop the publisher."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside the years 1-9999 in UTC") from None
    return value


#: A time with a time zone that can be expressed in UTC.
Timestamp = Annotated[AwareDatetime, AfterValidator(_in_utc_range)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- centres -------------------------------------------------------------------------------


class HospitalCreate(_Strict):
    """A centre as seeded from the E-Gen institution list."""

    hpid: Hpid
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    level: int = Field(
        ge=1, le=4, description="1 권역응급의료센터, 2 지역응급의료센터, 3 지역응급의료기관, 4 응급실운영신고기관"
    )
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    trauma_centre: bool = False
    region: str | None = Field(default=None, max_length=40, description="시도, e.g. 전남광주통합특별시")


# --- status updates ------------------------------------------------------------------------------


class BedUpdate(_Strict):
    """Beds of one type. Omit a field to leave it unchanged; ``available: null`` = unknown."""

    available: Count | None = None
    total: Count | None = None
    overcrowded: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.overcrowded and self.available not in (None, 0):
            raise ValueError("an overcrowded bed type cannot also report available beds")
        if self.available is not None and self.total is not None and self.available > self.total:
            raise ValueError(f"available {self.available} is greater than total {self.total}")
        return self


class TrafficUpdate(_Strict):
    status: TrafficStatus
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = None
    expires_at: Timestamp | None = None

    @model_validator(mode="after")
    def _closing_needs_reason(self) -> Self:
        if self.status is not TrafficStatus.NORMAL and not self.reason:
            raise ValueError(f"a status of {self.status.value} needs a reason")
        return self


class StatusUpdate(_Strict):
    """``PATCH /hospitals/{hpid}/status``: only what changed. Every field named here replaces
    the stored value and gets its own update time; everything else stays as it was."""

    beds: dict[BedType, BedUpdate] = Field(default_factory=dict)
    equipment: dict[Equipment, bool | None] = Field(default_factory=dict)
    conditions: dict[Condition, bool | None] = Field(default_factory=dict)
    ems_traffic: TrafficUpdate | None = None
    offload_minutes: float | None = Field(default=None, ge=0, le=1440)
    observed_at: Timestamp | None = Field(
        default=None, description="when the centre observed these values (E-Gen hvidate); default: now"
    )

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not (self.beds or self.equipment or self.conditions or self.ems_traffic or self.offload_minutes is not None):
            raise ValueError("the update changes nothing: name at least one of beds, equipment, conditions, "
                             "ems_traffic, offload_minutes")  # fmt: skip
        return self


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


class ImportResult(_Strict):
    updated: list[str]
    unknown_hpids: list[str]
    operation: str


class TokenCreate(_Strict):
    hpid: Hpid | None = Field(default=None, description="the centre this token may update; null = control room")
    label: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Health(_Strict):
    status: str
    database: bool
    mqtt: bool
    hospitals: int
    unpublished: int
