"""A centre's current state and how an update changes it (pure functions, no I/O).

The state has exactly the fields of the ``ems.capacity/1`` payload, so publishing it is a
copy. Every part keeps its own update time: a centre that posted ER beds five minutes ago may
not have touched its CT status for a day, and the dispatcher must see both ages.

**The newest observation wins, part by part.** A part is one bed type (available, total and
overcrowded together, as E-Gen reports them), one piece of equipment, one condition, the EMS
traffic status or the offload time. An update replaces a part only when it was observed at or
after the stored one (on a tie the later arrival wins); otherwise the stored part is kept and
named in :attr:`Applied.kept_newer`. So an E-Gen snapshot from an hour ago cannot undo what a
centre posted a minute ago, whichever arrives last, and the E-Gen feed still wins for the parts
it carries once it is newer.

**Times are checked against the server's clock** (:func:`check_times`): an observation more
than :data:`~hospital_capacity.schemas.MAX_FUTURE_SKEW` (5 minutes) ahead, or before
:data:`~hospital_capacity.schemas.EARLIEST_OBSERVATION` (2000-01-01), is refused, and so is an
advisory or closure whose ``expires_at`` is not later than both now and its observation time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hospital_capacity.errors import CapacityError
from hospital_capacity.schemas import (
    EARLIEST_OBSERVATION,
    MAX_FUTURE_SKEW,
    BedPublic,
    CapabilityPublic,
    StatusPublic,
    StatusUpdate,
)
from telemetry.schemas import BedCount, Capability, Capacity, EmsTraffic, TrafficStatus

Loc = tuple[str | int, ...]


class UpdateRejected(CapacityError, ValueError):
    """An update that would leave the centre in an impossible state; nothing is stored.

    ``loc`` is the path of the field at fault within the update (``("observed_at",)``), empty
    when the refusal is about the update as a whole."""

    def __init__(self, message: str, *, loc: Loc = ()) -> None:
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True)
class Applied:
    """The state after an update, and the parts it did not replace because they were newer."""

    state: dict[str, Any]
    kept_newer: tuple[str, ...]


def empty_state() -> dict[str, Any]:
    return {
        "beds": {},
        "equipment": {},
        "conditions": {},
        "ems_traffic": EmsTraffic().model_dump(mode="json"),
        "offload_minutes": None,
        "offload_updated_at": None,
        "updated_at": None,
        "updated_by": None,
    }


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def check_times(update: StatusUpdate, now: datetime) -> None:
    """Raise :class:`UpdateRejected` (naming the field) for a time the clock ``now`` refuses: an
    observation before 2000 or more than five minutes ahead, an expiry that is already past."""
    observed = update.observed_at
    if observed is not None:
        if observed < EARLIEST_OBSERVATION:
            raise UpdateRejected(
                f"{observed.isoformat()} is before {EARLIEST_OBSERVATION:%Y-%m-%d}: not a real observation time",
                loc=("observed_at",),
            )
        if observed > now + MAX_FUTURE_SKEW:
            raise UpdateRejected(
                f"{observed.isoformat()} is in the future: more than {MAX_FUTURE_SKEW.total_seconds() / 60:g} "
                f"minutes after the server's clock ({now.isoformat(timespec='seconds')})",
                loc=("observed_at",),
            )
    traffic = update.ems_traffic
    if traffic is not None and traffic.expires_at is not None:
        start = max(now, observed) if observed is not None else now
        if traffic.expires_at <= start:
            raise UpdateRejected(
                f"{traffic.expires_at.isoformat()} is already past: an expiry must be later than now "
                f"({now.isoformat(timespec='seconds')}) and than observed_at",
                loc=("ems_traffic", "expires_at"),
            )


def apply(state: dict[str, Any], update: StatusUpdate, *, at: datetime, by: str) -> Applied:
    """The state after ``update`` (observed at ``at`` by ``by``): every part it names replaces
    the stored one unless that was observed later. Raises :class:`UpdateRejected`."""
    new = {**state, "beds": dict(state["beds"]), "equipment": dict(state["equipment"])}
    new["conditions"] = dict(state["conditions"])
    kept: list[str] = []
    changed = False

    def newer(stored: object, name: str) -> bool:
        """True (and ``name`` noted) when the stored part was observed after ``at``."""
        time = _time(stored)
        if time is not None and time > at:
            kept.append(name)
            return True
        return False

    stamp = at.isoformat()
    for bed_type, change in update.beds.items():
        old = state["beds"].get(bed_type.value, {})
        if newer(old.get("updated_at"), f"beds.{bed_type.value}"):
            continue
        given = change.model_fields_set
        available = change.available if "available" in given else old.get("available")
        total = change.total if "total" in given else old.get("total")
        overcrowded = change.overcrowded if "overcrowded" in given else (
            False if "available" in given else old.get("overcrowded", False)
        )  # fmt: skip
        if overcrowded and available:
            raise UpdateRejected(
                f"beds.{bed_type.value}: overcrowded but {available} available", loc=("beds", bed_type.value)
            )
        if available is not None and total is not None and available > total:
            raise UpdateRejected(
                f"beds.{bed_type.value}: available {available} is greater than total {total}",
                loc=("beds", bed_type.value, "available"),
            )
        new["beds"][bed_type.value] = {
            "available": 0 if overcrowded and available is None else available,
            "total": total,
            "overcrowded": overcrowded,
            "updated_at": stamp,
        }
        changed = True
    for part, changes in (("equipment", update.equipment), ("conditions", update.conditions)):
        for key, available in changes.items():
            if newer(state[part].get(key.value, {}).get("updated_at"), f"{part}.{key.value}"):
                continue
            new[part][key.value] = {"available": available, "updated_at": stamp}
            changed = True
    if update.ems_traffic is not None and not newer(state["ems_traffic"].get("updated_at"), "ems_traffic"):
        traffic = update.ems_traffic
        new["ems_traffic"] = EmsTraffic(
            status=traffic.status, reason=traffic.reason, expires_at=traffic.expires_at, updated_at=at
        ).model_dump(mode="json")
        changed = True
    if update.offload_minutes is not None and not newer(state["offload_updated_at"], "offload_minutes"):
        new["offload_minutes"] = update.offload_minutes
        new["offload_updated_at"] = stamp
        changed = True
    latest = _time(state["updated_at"])
    if changed and (latest is None or at >= latest):
        new["updated_at"] = stamp
        new["updated_by"] = by
    return Applied(new, tuple(kept))


def effective_traffic(state: dict[str, Any], now: datetime) -> EmsTraffic:
    """The EMS traffic status now: an advisory or closure past its expiry is normal again."""
    traffic = EmsTraffic.model_validate(state["ems_traffic"])
    if traffic.status is not TrafficStatus.NORMAL and traffic.expires_at is not None and traffic.expires_at <= now:
        return EmsTraffic(
            status=TrafficStatus.NORMAL, reason=f"{traffic.status.value} expired", updated_at=traffic.expires_at
        )
    return traffic


def to_public(state: dict[str, Any], now: datetime) -> StatusPublic:
    updated_at = datetime.fromisoformat(state["updated_at"]) if state["updated_at"] else None
    return StatusPublic(
        beds={k: BedPublic.model_validate(v) for k, v in state["beds"].items()},
        equipment={k: CapabilityPublic.model_validate(v) for k, v in state["equipment"].items()},
        conditions={k: CapabilityPublic.model_validate(v) for k, v in state["conditions"].items()},
        ems_traffic=effective_traffic(state, now),
        offload_minutes=state["offload_minutes"],
        offload_updated_at=state["offload_updated_at"],
        updated_at=updated_at,
        updated_by=state["updated_by"],
        age_s=None if updated_at is None else max(0.0, (now - updated_at).total_seconds()),
    )


def to_payload(state: dict[str, Any], now: datetime) -> Capacity:
    """The retained ``ems.capacity/1`` message of a state."""
    return Capacity.new(
        beds={k: BedCount.model_validate(v) for k, v in state["beds"].items()},
        equipment={k: Capability.model_validate(v) for k, v in state["equipment"].items()},
        conditions={k: Capability.model_validate(v) for k, v in state["conditions"].items()},
        ems_traffic=effective_traffic(state, now),
        offload_minutes=state["offload_minutes"],
        offload_updated_at=state["offload_updated_at"],
        updated_at=state["updated_at"] or now,
        updated_by=state["updated_by"],
    )
