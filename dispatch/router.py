"""Destination choice: the right emergency centre for every patient, jointly.

Pure decision core: given the patients in ambulances (severity, needs, ETAs to every centre),
the live state of every centre and what the router already decided, choose every patient's
destination at once with a min-cost flow (OR-Tools), so two ambulances are not sent to the
last bed, and explain each choice in words a crew reads at a glance.

The rules (each has a test):

- **Feasibility.** A centre whose ER is shut (E-Gen ``MKioskTy28`` = N) takes nobody. A need
  (from crew flags or the severity model) requires a capability: stroke (FAST+) → ischaemic
  stroke thrombectomy, else CT; STEMI → PCI, else angiography; major trauma → a trauma
  centre; burns, pregnancy, psychiatric → the matching acceptance; paediatric → a regional or
  local centre or paediatric ER beds. A critical patient (KTAS 1–2) goes to a level 1–2 centre.
  Cardiac arrest overrides all of these: the nearest open ER, time wins. A capability
  reported as unknown is allowed at a cost (``unknown_penalty_s``); one reported absent is not.
- **Closed centres** (EMS traffic ``closed``) are excluded unless no other feasible centre is
  reachable within ``closed_margin_s`` of the closed one.
- **Beds that will really be there**: reported available, minus patients we already send
  there, minus expected walk-in arrivals during the trip; a report older than
  ``stale_after_s`` counts for ``stale_weight`` of its value; an overcrowded ER has none.
- **Objective**: Σ severity weight × (ETA + offload) + a per-patient cost for arriving at a
  centre with no effective bed left; declined centres are never offered again to that patient.
- **Stability**: a patient keeps the destination already advised unless it became
  infeasible or another is better by ``switch_margin_s`` (weighted) or more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from dispatch.scenario import Centre
from telemetry.schemas import BedType, Capacity, Condition, Equipment, TrafficStatus


class Need(StrEnum):
    CARDIAC_ARREST = "cardiac_arrest"
    STROKE = "stroke"
    STEMI = "stemi"
    MAJOR_TRAUMA = "major_trauma"
    BURNS = "burns"
    OBSTETRIC = "obstetric"
    PAEDIATRIC = "paediatric"
    PSYCHIATRIC = "psychiatric"


#: The need each crew flag of ``ems.vitals/1`` (``CrewFlags`` field) stands for.
FLAG_NEEDS = {
    "cardiac_arrest": Need.CARDIAC_ARREST,
    "fast_positive": Need.STROKE,
    "stemi": Need.STEMI,
    "major_trauma": Need.MAJOR_TRAUMA,
    "burns": Need.BURNS,
    "pregnancy": Need.OBSTETRIC,
    "paediatric": Need.PAEDIATRIC,
}

#: What each need asks of a centre: any one of these conditions / equipment, in order of preference.
_REQUIRES: dict[Need, tuple[Condition | Equipment, ...]] = {
    Need.STROKE: (Condition.STROKE_THROMBECTOMY, Equipment.CT),
    Need.STEMI: (Condition.STEMI_PCI, Equipment.ANGIOGRAPHY),
    Need.MAJOR_TRAUMA: (Condition.MAJOR_TRAUMA,),
    Need.BURNS: (Condition.MAJOR_BURNS,),
    Need.OBSTETRIC: (Condition.OBSTETRIC_DELIVERY, Condition.OBSTETRIC_SURGERY),
    Need.PSYCHIATRIC: (Condition.PSYCHIATRIC_ADMISSION,),
}
CAPABILITY_WORDS: dict[Condition | Equipment, str] = {
    Condition.STROKE_THROMBECTOMY: "thrombectomy",
    Equipment.CT: "CT",
    Condition.STEMI_PCI: "PCI",
    Equipment.ANGIOGRAPHY: "angiography",
    Condition.MAJOR_TRAUMA: "trauma centre",
    Condition.MAJOR_BURNS: "burns unit",
    Condition.OBSTETRIC_DELIVERY: "obstetrics",
    Condition.OBSTETRIC_SURGERY: "obstetric surgery",
    Condition.PSYCHIATRIC_ADMISSION: "psychiatric ward",
}
SEVERITY_WEIGHT = {1: 5.0, 2: 4.0, 3: 3.0, 4: 2.0, 5: 1.0}


@dataclass(frozen=True)
class RouterConfig:
    stale_after_s: float = 1800.0  # a bed report older than 30 min is discounted
    stale_weight: float = 0.5
    closed_margin_s: float = 600.0  # a closed centre only if nothing else is within 10 min of it
    switch_margin_s: float = 120.0  # change an advised destination only for 2 min (weighted) or more
    #: Arriving where no effective bed is left costs 3 h (weighted): with a free bed anywhere within
    #: reach, nobody is sent to a full ER (the re-transfer the product exists to prevent).
    full_penalty_s: float = 10_800.0
    unknown_penalty_s: float = 900.0  # a needed capability reported unknown costs 15 min (weighted)
    unknown_beds_penalty_s: float = 60.0  # beds never reported: a small cost, not a ban
    #: Second-choice capability (CT instead of thrombectomy, angiography instead of PCI) costs 30 min
    #: (weighted): used when no first-choice centre is within about half an hour more.
    fallback_penalty_s: float = 1800.0
    #: Walk-in and other arrivals expected per hour, by centre level (assumption, see docs/router.md).
    arrivals_per_hour: Mapping[int, float] = field(default_factory=lambda: {1: 4.0, 2: 3.0, 3: 1.5, 4: 0.5})


@dataclass(frozen=True)
class CentreView:
    """A centre as the router sees it now: static facts plus its latest capacity report."""

    hpid: str
    name: str
    level: int
    trauma_centre: bool
    er_available: int | None  # None = unknown
    overcrowded: bool
    beds_age_s: float | None
    capabilities: Mapping[str, bool | None]  # Condition / Equipment value -> reported availability
    traffic: TrafficStatus
    traffic_reason: str | None
    offload_s: float

    def capability(self, item: Condition | Equipment) -> bool | None:
        if item is Condition.MAJOR_TRAUMA and self.trauma_centre:
            return True
        return self.capabilities.get(item.value)

    @property
    def er_open(self) -> bool:
        return self.capabilities.get(Condition.ER_OPEN.value) is not False


def centre_view(centre: Centre, capacity: Capacity | None, now: datetime) -> CentreView:
    """Combine a scenario centre with its latest ``ems.capacity/1`` message (None: never reported)."""
    if capacity is None:
        return CentreView(centre.hpid, centre.name, centre.level, centre.trauma_centre, None, False, None, {},
                          TrafficStatus.NORMAL, None, 0.0)  # fmt: skip
    er = capacity.beds.get(BedType.ER_GENERAL)
    capabilities: dict[str, bool | None] = {k.value: v.available for k, v in capacity.equipment.items()}
    capabilities |= {k.value: v.available for k, v in capacity.conditions.items()}
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
        beds_age_s=max(0.0, (now - beds_at).total_seconds()) if er else None,
        capabilities=capabilities,
        traffic=status,
        traffic_reason=traffic.reason,
        offload_s=(capacity.offload_minutes or 0.0) * 60.0,
    )


@dataclass(frozen=True)
class PatientCase:
    """A patient to route: who, how sick, what they need, and the ETA to every centre."""

    unit_id: str
    ktas: int
    needs: frozenset[Need]
    eta_s: Mapping[str, float]  # hpid -> seconds (inf = unreachable)
    current: str | None = None  # the destination already advised
    declined: frozenset[str] = frozenset()
    critical: bool = False

    @property
    def weight(self) -> float:
        return SEVERITY_WEIGHT.get(self.ktas, 3.0)


@dataclass(frozen=True)
class Option:
    hpid: str
    name: str
    eta_s: float  # driving + offload
    beds_on_arrival: int | None
    reason: str
    cost: float
    drawback: str = ""  # the main reason not to go there, if any ("reports ER full")


@dataclass(frozen=True)
class Choice:
    unit_id: str
    destination: Option
    alternatives: tuple[Option, ...]
    changed: bool  # differs from the destination advised before


# --- feasibility -----------------------------------------------------------------------------


def _matched(case: PatientCase, centre: CentreView, config: RouterConfig) -> tuple[bool, list[str], float]:
    """(feasible, capabilities matched in words, extra cost in seconds) of a centre for a patient."""
    if not centre.er_open or centre.hpid in case.declined:
        return False, [], 0.0
    if Need.CARDIAC_ARREST in case.needs:
        return True, ["nearest ER (cardiac arrest)"], 0.0
    words: list[str] = []
    extra = 0.0
    for need in sorted(case.needs, key=lambda n: n.value):
        if need is Need.PAEDIATRIC:
            if centre.level > 2:
                return False, [], 0.0
            continue
        options = _REQUIRES.get(need, ())
        states = [centre.capability(item) for item in options]
        if any(states):
            best = states.index(True)
            words.append(CAPABILITY_WORDS[options[best]] + " available")
            extra += config.fallback_penalty_s if best > 0 else 0.0
        elif any(s is None for s in states):
            words.append(f"{CAPABILITY_WORDS[options[0]]} not reported")
            extra += config.unknown_penalty_s
        else:
            return False, [], 0.0
    if case.critical and centre.level > 2:
        return False, [], 0.0
    return True, words, extra


def effective_beds(centre: CentreView, inbound: int, eta_s: float, config: RouterConfig) -> float | None:
    """Beds likely free on arrival: reported (discounted when stale) − our inbound − expected arrivals."""
    if centre.overcrowded:
        return -float(inbound)
    if centre.er_available is None:
        return None
    reported = float(centre.er_available)
    if centre.beds_age_s is not None and centre.beds_age_s > config.stale_after_s:
        reported *= config.stale_weight
    expected = config.arrivals_per_hour.get(centre.level, 1.0) * eta_s / 3600.0
    return reported - inbound - expected


# --- the joint assignment -------------------------------------------------------------------------


def plan(
    cases: Sequence[PatientCase],
    centres: Sequence[CentreView],
    *,
    inbound_elsewhere: Mapping[str, int] | None = None,
    config: RouterConfig = RouterConfig(),
) -> list[Choice]:
    """Destinations for every case, chosen together (see the module docstring).

    ``inbound_elsewhere``: patients already heading to each centre that are not in ``cases``
    (their beds are taken)."""
    from ortools.graph.python import min_cost_flow

    by_id = {c.hpid: c for c in centres}
    order = sorted(cases, key=lambda c: c.unit_id)
    held = dict(inbound_elsewhere or {})
    arcs: list[list[tuple[str, float, list[str]]]] = []
    for case in order:
        arcs.append(_candidates(case, centres, held, config))

    flow = min_cost_flow.SimpleMinCostFlow()
    n_cases, centre_ids = len(order), sorted(by_id)
    centre_node = {hpid: n_cases + i for i, hpid in enumerate(centre_ids)}
    sink = n_cases + len(centre_ids)
    for i, candidates in enumerate(arcs):
        arrest = Need.CARDIAC_ARREST in order[i].needs
        for hpid, cost, _ in candidates:
            # cardiac arrest: time wins, beds do not limit (straight to the sink)
            flow.add_arc_with_capacity_and_unit_cost(i, sink if arrest else centre_node[hpid], 1, _int(cost))
        flow.set_node_supply(i, 1 if candidates else 0)
    for hpid in centre_ids:
        free = _free_beds(by_id[hpid], held.get(hpid, 0), config)
        if free > 0:
            flow.add_arc_with_capacity_and_unit_cost(centre_node[hpid], sink, free, 0)
        # beyond the free beds: still possible, at the cost of a patient waiting for a bed
        weight = max((case.weight for case in order), default=1.0)
        flow.add_arc_with_capacity_and_unit_cost(centre_node[hpid], sink, n_cases, _int(config.full_penalty_s * weight))
    routed = sum(1 for candidates in arcs if candidates)
    flow.set_node_supply(sink, -routed)
    if routed and flow.solve() != flow.OPTIMAL:
        raise RuntimeError("destination assignment has no solution")
    chosen: dict[int, str] = {}
    arc = 0
    for i, candidates in enumerate(arcs):  # arcs were added case by case, candidate by candidate
        for hpid, _, _ in candidates:
            if flow.flow(arc) > 0:
                chosen[i] = hpid
            arc += 1

    taken = dict(held)
    for hpid in chosen.values():
        taken[hpid] = taken.get(hpid, 0) + 1
    choices = []
    for i, case in enumerate(order):
        if i not in chosen:
            continue
        others = {**taken, chosen[i]: taken[chosen[i]] - 1}  # beds on arrival: before this patient takes one
        options = [_option(case, by_id[h], words, cost, others, config) for h, cost, words in arcs[i]]
        options.sort(key=lambda o: (o.hpid != chosen[i], o.cost, o.hpid))
        destination, alternatives = options[0], tuple(options[1:3])
        choices.append(
            Choice(
                case.unit_id,
                _with_comparison(destination, alternatives),
                alternatives,
                destination.hpid != case.current,
            )
        )
    return choices


def _int(seconds: float) -> int:
    return round(seconds)


def _free_beds(centre: CentreView, held: int, config: RouterConfig) -> int:
    beds = effective_beds(centre, held, 0.0, config)
    if beds is None:
        return 1_000_000  # unknown: not a capacity limit (priced by unknown_beds_penalty_s instead)
    return max(0, math.floor(beds))


def _candidates(
    case: PatientCase, centres: Sequence[CentreView], held: Mapping[str, int], config: RouterConfig
) -> list[tuple[str, float, list[str]]]:
    """(hpid, cost, capability words) of every centre this patient may go to."""
    feasible: list[tuple[CentreView, float, list[str], float]] = []
    for centre in sorted(centres, key=lambda c: c.hpid):
        eta = case.eta_s.get(centre.hpid, math.inf)
        ok, words, extra = _matched(case, centre, config)
        if ok and math.isfinite(eta):
            feasible.append((centre, eta, words, extra))
    if Need.CARDIAC_ARREST in case.needs:  # time wins: nothing but the drive counts
        return [(c.hpid, eta, words) for c, eta, words, _ in feasible if c.traffic is not TrafficStatus.CLOSED] or [
            (c.hpid, eta, words) for c, eta, words, _ in feasible
        ]
    open_best = min((eta for c, eta, _, _ in feasible if c.traffic is not TrafficStatus.CLOSED), default=math.inf)
    result = []
    for centre, eta, words, extra in feasible:
        if centre.traffic is TrafficStatus.CLOSED and open_best <= eta + config.closed_margin_s:
            continue
        cost = case.weight * (eta + centre.offload_s + extra)
        if centre.er_available is None and not centre.overcrowded:
            cost += case.weight * config.unknown_beds_penalty_s
        if centre.hpid == case.current:
            cost -= case.weight * config.switch_margin_s
        result.append((centre.hpid, cost, words))
    return result


def _option(
    case: PatientCase, centre: CentreView, words: list[str], cost: float, taken: Mapping[str, int], config: RouterConfig
) -> Option:
    eta = case.eta_s[centre.hpid] + centre.offload_s
    beds = effective_beds(centre, taken.get(centre.hpid, 0), case.eta_s[centre.hpid], config)
    on_arrival = None if beds is None else max(0, math.floor(beds + 0.5))
    facts = [f"{centre.name}: {math.ceil(eta / 60)} min", *words]
    drawbacks = []
    if centre.overcrowded:
        drawbacks.append("reports ER full")
    elif on_arrival is None:
        facts.append("beds not reported")
    elif on_arrival == 0:
        drawbacks.append("no bed left after inbound")
    else:
        facts.append(f"{on_arrival} bed{'s' if on_arrival != 1 else ''} after inbound")
    if centre.traffic is not TrafficStatus.NORMAL:
        drawbacks.append(centre.traffic.value + (f" ({centre.traffic_reason})" if centre.traffic_reason else ""))
    if centre.beds_age_s is not None and centre.beds_age_s > config.stale_after_s:
        drawbacks.append(f"bed report {int(centre.beds_age_s // 60)} min old")
    drawbacks += [w for w in words if w.endswith("not reported")]
    if centre.offload_s:
        facts.append(f"offload {int(centre.offload_s // 60)} min")
    reason = ", ".join(facts + [d for d in drawbacks if d not in facts])
    return Option(centre.hpid, centre.name, eta, on_arrival, reason, cost, drawbacks[0] if drawbacks else "")


def _with_comparison(destination: Option, alternatives: Sequence[Option]) -> Option:
    """Add to the destination's reason why a faster alternative was not chosen."""
    faster = [a for a in alternatives if a.eta_s < destination.eta_s]
    if not faster:
        return destination
    nearest = min(faster, key=lambda a: a.eta_s)
    why = nearest.drawback or "costlier overall (severity, beds, offload)"
    reason = f"{destination.reason}; {nearest.name} is {math.ceil(nearest.eta_s / 60)} min but {why}"
    return replace(destination, reason=reason[:300])
