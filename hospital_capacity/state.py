"""A centre's current state and how an update changes it (pure functions, no I/O).

The state has exactly the fields of the ``ems.capacity/1`` payload, so publishing it is a
copy. Every part keeps its own update time: a centre that posted ER beds five minutes ago may
not have touched its CT status for a day, and the dispatcher must see both ages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hospital_capacity.schemas import BedPublic, CapabilityPublic, StatusPublic, StatusUpdate
from telemetry.schemas import BedCount, Capability, Capacity, EmsTraffic, TrafficStatus


class UpdateRejected(ValueError):
    """An update that would leave the centre in an impossible state; nothing is stored."""


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


def apply(state: dict[str, Any], update: StatusUpdate, *, at: datetime, by: str) -> dict[str, Any]:
    """The state after ``update`` (observed at ``at`` by ``by``). Raises :class:`UpdateRejected`."""
    new = {**state, "beds": dict(state["beds"]), "equipment": dict(state["equipment"])}
    new["conditions"] = dict(state["conditions"])
    stamp = at.isoformat()
    for bed_type, change in update.beds.items():
        old = state["beds"].get(bed_type.value, {})
        given = change.model_fields_set
        available = change.available if "available" in given else old.get("available")
        total = change.total if "total" in given else old.get("total")
        overcrowded = change.overcrowded if "overcrowded" in given else (
            False if "available" in given else old.get("overcrowded", False)
        )  # fmt: skip
        if overcrowded and available:
            raise UpdateRejected(f"beds.{bed_type.value}: overcrowded but {available} available")
        if available is not None and total is not None and available > total:
            raise UpdateRejected(f"beds.{bed_type.value}: available {available} is greater than total {total}")
        new["beds"][bed_type.value] = {
            "available": 0 if overcrowded and available is None else available,
            "total": total,
            "overcrowded": overcrowded,
            "updated_at": stamp,
        }
    for part, changes in (("equipment", update.equipment), ("conditions", update.conditions)):
        for key, available in changes.items():
            new[part][key.value] = {"available": available, "updated_at": stamp}
    if update.ems_traffic is not None:
        traffic = update.ems_traffic
        new["ems_traffic"] = EmsTraffic(
            status=traffic.status, reason=traffic.reason, expires_at=traffic.expires_at, updated_at=at
        ).model_dump(mode="json")
    if update.offload_minutes is not None:
        new["offload_minutes"] = update.offload_minutes
        new["offload_updated_at"] = stamp
    new["updated_at"] = stamp
    new["updated_by"] = by
    return new


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
