"""What the router knows of a centre (R-DATUM): every declared fact with its state and its age, and a centre's
static facts combined with its latest capacity report (:func:`centre_view`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dispatch.pathways import Designation, Item
from dispatch.router_types import RouterConfig
from dispatch.scenario import Centre
from telemetry.schemas import BedType, Capacity, Condition, TrafficStatus

# --- what the router knows of a centre ---------------------------------------------------------


class State(StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class Datum:
    """One declared fact: ``value`` None = unknown; ``age_s`` None = a static designation (no age)."""

    value: bool | None = None
    age_s: float | None = None

    def weight(self, half_life_s: float) -> float:
        if self.value is None:
            return 0.0
        return 1.0 if self.age_s is None else 0.5 ** (self.age_s / half_life_s)

    def state(self, half_life_s: float, config: RouterConfig) -> State:
        if self.value is None:
            return State.UNKNOWN
        if self.age_s is not None and self.age_s > config.stale_after_half_lives * half_life_s:
            return State.STALE
        return State.YES if self.value else State.NO


@dataclass(frozen=True, slots=True)
class CentreView:
    """A centre as the router sees it now: static facts plus its latest capacity report, every
    datum with its age."""

    hpid: str
    name: str
    level: int
    trauma_centre: bool
    er_available: int | None  # None = unknown
    overcrowded: bool
    beds_age_s: float | None
    items: Mapping[str, Datum]  # Condition / Equipment / BedType value -> declaration
    traffic: TrafficStatus
    traffic_reason: str | None
    offload_s: float
    traffic_age_s: float | None = None
    offload_age_s: float | None = None
    #: Beds per hour others take here, learnt from its reports (dispatch.nowcast); None: the level's prior.
    others_per_hour: float | None = None

    def datum(self, item: Item) -> Datum:
        if item is Designation.REGIONAL_OR_LOCAL:
            return Datum(self.level <= 2)
        if item is Designation.TRAUMA_CENTRE:
            reported = self.items.get(Condition.MAJOR_TRAUMA.value)
            if reported is not None and reported.value is not None:
                return reported  # a trauma centre saying its bays are full, or a hospital taking trauma
            return Datum(self.trauma_centre)
        return self.items.get(item.value, Datum())

    def er_open(self, config: RouterConfig) -> bool:
        """The ER gate keeper (E-Gen ``MKioskTy28``): only a declared, fresh "no" shuts it."""
        return self.datum(Condition.ER_OPEN).state(config.declaration_half_life_s, config) is not State.NO

    def closed(self, config: RouterConfig) -> bool:
        if self.traffic is not TrafficStatus.CLOSED:
            return False
        return self.traffic_age_s is None or self.traffic_age_s <= config.diversion_stale_after_s


def _age(now: datetime, at: datetime | None) -> float | None:
    return None if at is None else max(0.0, (now - at).total_seconds())


def centre_view(
    centre: Centre, capacity: Capacity | None, now: datetime, *, others_per_hour: float | None = None
) -> CentreView:
    """Combine a scenario centre with its latest ``ems.capacity/1`` message (None: never reported) and, when
    known, the beds per hour others take there (:mod:`dispatch.nowcast`)."""
    if capacity is None:
        return CentreView(centre.hpid, centre.name, centre.level, centre.trauma_centre, None, False, None, {},
                          TrafficStatus.NORMAL, None, 0.0, others_per_hour=others_per_hour)  # fmt: skip
    er = capacity.beds.get(BedType.ER_GENERAL)
    items: dict[str, Datum] = {}
    for reported in (capacity.equipment, capacity.conditions):
        for key, cap in reported.items():
            items[key.value] = Datum(cap.available, _age(now, cap.updated_at or capacity.updated_at))
    paediatric = capacity.beds.get(BedType.ER_PAEDIATRIC)
    if paediatric is not None and (paediatric.available is not None or paediatric.overcrowded):
        free = bool(paediatric.available) and not paediatric.overcrowded
        items[BedType.ER_PAEDIATRIC.value] = Datum(free, _age(now, paediatric.updated_at or capacity.updated_at))
    traffic = capacity.ems_traffic
    status = traffic.status
    if traffic.expires_at is not None and traffic.expires_at <= now:
        status = TrafficStatus.NORMAL
    beds_at = (er.updated_at if er else None) or capacity.updated_at
    return CentreView(
        hpid=centre.hpid,
        name=centre.name,
        level=centre.level,
        trauma_centre=centre.trauma_centre,
        er_available=None if er is None else er.available,
        overcrowded=bool(er and er.overcrowded),
        beds_age_s=_age(now, beds_at) if er else None,
        items=items,
        traffic=status,
        traffic_reason=traffic.reason,
        offload_s=(capacity.offload_minutes or 0.0) * 60.0,
        # a closure that expires is trusted until it does; one without expiry ages
        traffic_age_s=None if traffic.expires_at is not None else _age(now, traffic.updated_at or capacity.updated_at),
        offload_age_s=_age(now, capacity.offload_updated_at or capacity.updated_at)
        if capacity.offload_minutes is not None
        else None,
        others_per_hour=others_per_hour,
    )
