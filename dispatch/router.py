"""Destination choice: the right emergency centre for every patient, jointly.

Pure decision core: given the patients in ambulances (pathways, urgency, ETAs to every centre),
the live state of every centre and what the router already decided, choose every patient's
destination at once with a min-cost flow (OR-Tools), and explain each choice in the crew's
language. The clinical table is :mod:`dispatch.pathways`; every rule below is in
``docs/clinical_rules.md`` with its source and its test (the R-codes).

- **R-DATUM** Every datum about a centre has a state and an age: declared yes, declared no,
  unknown (never reported, E-Gen ``-1`` or missing) or stale (older than
  ``stale_after_half_lives`` half-lives: read as unknown). A declaration's weight halves every
  half-life, so an old "yes" costs more than a fresh one and never less.
- **R-TIER** Each pathway's tiers, best first. Among the centres the crew can reach (ER not
  declared shut, not declined), those on the best tier any centre within the pathway's
  ``time_bound_s`` is on are the candidates; every centre on a worse tier or declaring "no" is
  excluded. "Unknown" costs ``unknown_penalty_s``; each tier below the first ``tier_penalty_s``.
- **R-NONE** When no centre within the bound is on any tier, the patient is never left without
  advice: the nearest open ER that can stabilise, with the pathway's "none fits" words, and the
  advice marked not definitive (the control room sees an alert).
- **R-ARREST / R-UNSTABLE** Cardiac arrest and patients too unstable to travel (the
  ``StabiliseRule``): the nearest open ER, beds ignored.
- **R-CLOSED** A centre on diversion (EMS traffic ``closed``) is excluded unless nothing else is
  within ``closed_margin_s`` of it; a closure report with no expiry older than
  ``diversion_stale_after_s`` reads as advisory (``advisory_penalty_s``).
- **R-BEDS** Beds that will really be there: the reported count minus our patients heading
  there; each patient's arc pays for the chance (Poisson) that walk-ins expected during its
  drive (the centre's own rate, ``CentreView.others_per_hour`` from :mod:`dispatch.nowcast`; the
  level's prior otherwise) take the spare beds first, and for the report's age (``unknown_beds_penalty_s`` × the
  share of confidence lost); an overcrowded ER has none; a centre that never reported (or
  reported long ago) offers ``unknown_bed_slots`` at ``unknown_beds_penalty_s``, never unlimited.
- **R-TEAM** A pathway with ``slots`` (cath lab, stroke team, trauma bay) is gated by the
  centre's declaration of that team and room, not by ER general beds: a centre on the pathway's
  first tier offers ``slots`` patients at once; declared yes, they go straight in; unknown (assumed,
  at its penalty), they need an ER bed too.
- **R-PRIORITY** Arriving with no bed or team left costs ``full_penalty_s`` × urgency², per
  patient, so a less urgent patient never takes the last bed or team a more urgent one needs.
  Urgency is the expected harm: ``max(KTAS weight, 1 + 4 p_critical)``.
- **R-CRIT** A critical call (``critical``) with ``p_critical`` at or above
  :data:`~dispatch.pathways.HARD_CRITICAL_P`, or graded 1-2 by the crew (R-CREW), is held to regional or local
  centres (a pathway); below it, a level 3-4 centre costs ``level_penalty_s`` × p_critical (expected harm).
- **R-COVER** A unit driving farther leaves its area uncovered for longer: each second of the drive there
  and back (the return taken as long as the drive) costs ``coverage_s_per_s`` × the cover gap of the
  unit's area (1 when no other free unit reaches it in 8 minutes, 1 / (1 + n) when n do; computed at
  the edge, :func:`dispatch.units.cover_gap`), whatever the patient's urgency. Not for arrest and unstable
  patients: time wins.
- **R-PROMISE** A centre that accepted the patient's transfer request (:mod:`dispatch.handshake`) holds
  its bed or team for them: the patient keeps it, decided before the joint flow, while it is still a
  candidate (not shut, not declared no, not declined).
- **R-STABLE** A patient keeps the destination already advised unless it left the candidates or
  another is better by ``switch_margin_s`` (weighted) or more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from dispatch import explain
from dispatch.errors import SolverError
from dispatch.explain import Text, say
from dispatch.pathways import (
    HARD_CRITICAL_P,
    ITEM_WORDS,
    PATHWAYS,
    Designation,
    Item,
    Pathway,
    PathwaySpec,
    StabiliseRule,
)
from dispatch.scenario import Centre
from telemetry.schemas import BedType, Capacity, Condition, TrafficStatus

#: Urgency by KTAS level (1 most urgent).
SEVERITY_WEIGHT = {1: 5.0, 2: 4.0, 3: 3.0, 4: 2.0, 5: 1.0}


@dataclass(frozen=True)
class RouterConfig:
    beds_half_life_s: float = 1800.0  # a bed count's weight halves every 30 min
    declaration_half_life_s: float = 3 * 3600.0  # a yes / no declaration's weight halves every 3 h
    stale_after_half_lives: float = 2.0  # older than this many half-lives: stale, read as unknown
    diversion_stale_after_s: float = 6 * 3600.0  # a closure with no expiry this old reads as advisory
    offload_stale_after_s: float = 3600.0
    closed_margin_s: float = 600.0  # a closed centre only if nothing else is within 10 min of it
    switch_margin_s: float = 120.0  # change an advised destination only for 2 min (weighted) or more
    #: Arriving with no bed or team left costs 3 h × urgency² (R-PRIORITY).
    full_penalty_s: float = 10_800.0
    unknown_penalty_s: float = 1200.0  # a needed item unknown or stale: 20 min (weighted)
    tier_penalty_s: float = 1800.0  # each tier below the pathway's first: 30 min (weighted)
    unknown_beds_penalty_s: float = 300.0  # beds never reported or stale: 5 min (weighted) ...
    unknown_bed_slots: int = 1  # ... and one bed assumed, not unlimited
    advisory_penalty_s: float = 300.0
    level_penalty_s: float = 1800.0  # R-CRIT below HARD_CRITICAL_P: level 3-4 costs this × p_critical
    #: R-COVER: a second of a unit out of an uncovered area costs this many seconds (not urgency-weighted).
    coverage_s_per_s: float = 0.5
    #: Walk-in and other arrivals expected per hour, by centre level (assumption, see docs/router.md).
    arrivals_per_hour: Mapping[int, float] = field(default_factory=lambda: {1: 4.0, 2: 3.0, 3: 1.5, 4: 0.5})
    stabilise: StabiliseRule = field(default_factory=StabiliseRule)


# --- what the router knows of a centre ---------------------------------------------------------


class State(StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"
    STALE = "stale"


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


# --- patients and choices ---------------------------------------------------------------------


def urgency(ktas: int, p_critical: float | None) -> float:
    """Urgency (R-PRIORITY): the expected harm of delay, by KTAS and by p_critical."""
    by_level = SEVERITY_WEIGHT.get(ktas, 3.0)
    return by_level if p_critical is None else max(by_level, 1.0 + 4.0 * p_critical)


@dataclass(frozen=True)
class PatientCase:
    """A patient to route: who, how sick, which pathways, and the ETA to every centre."""

    unit_id: str
    ktas: int
    needs: frozenset[Pathway]  # the pathways of the crew flags (general critical / non-critical implied)
    eta_s: Mapping[str, float]  # hpid -> seconds (inf = unreachable)
    current: str | None = None  # the destination already advised
    declined: frozenset[str] = frozenset()
    critical: bool = False
    p_critical: float | None = None  # the calibrated probability of KTAS 1-2 (None: not assessed)
    crew_ktas: int | None = None  # R-CREW: the crew's grade (Pre-KTAS or a flag's floor); None: not graded
    unstable: bool = False  # the StabiliseRule holds (computed at the edge from the vitals)
    cover_gap: float = 0.0  # R-COVER: 1 = no other free unit covers the unit's area, 0 = not counted
    confirmed: bool = False  # R-PROMISE: the centre ``current`` accepted the patient (dispatch.handshake)

    @property
    def weight(self) -> float:
        return urgency(self.ktas, self.p_critical)

    @property
    def hard_critical(self) -> bool:
        crew_critical = self.crew_ktas is not None and self.crew_ktas <= 2
        return self.critical and (self.p_critical is None or self.p_critical >= HARD_CRITICAL_P or crew_critical)

    def pathways(self) -> frozenset[Pathway]:
        """The pathways the router holds the patient to (R-CRIT decides general critical)."""
        if self.needs:
            return self.needs
        return frozenset({Pathway.GENERAL_CRITICAL if self.hard_critical else Pathway.NON_CRITICAL})


class Mode(StrEnum):
    DEFINITIVE = "definitive"  # on the pathway's tiers
    PARTIAL = "partial"  # the most time-critical pathway met, another not
    STABILISE = "stabilise"  # no centre fits within the bound: the nearest that can stabilise (R-NONE)
    NEAREST = "nearest"  # cardiac arrest or unstable: time wins
    ALL_DECLINED = "all_declined"  # every reachable centre declined: the nearest, the control room decides


@dataclass(frozen=True)
class Option:
    hpid: str
    name: str
    eta_s: float  # driving + offload
    beds_on_arrival: int | None
    reason: str  # Korean
    cost: float
    drawback: Text | None = None  # the main reason not to go there, if any ("응급실 포화")
    reason_en: str = ""


@dataclass(frozen=True)
class Choice:
    unit_id: str
    destination: Option
    alternatives: tuple[Option, ...]
    changed: bool  # differs from the destination advised before
    mode: Mode = Mode.DEFINITIVE
    pathway: Pathway | None = None  # the pathway that decided
    unmet: tuple[Pathway, ...] = ()  # pathways no centre within reach fits
    notice: Text | None = None  # what the crew and the control room must know first
    team: Pathway | None = None  # the pathway team and room taken at the destination
    takes_bed: bool = True  # an ER bed is taken there too (all but a declared team's patients)

    @property
    def definitive(self) -> bool:
        return self.mode in (Mode.DEFINITIVE, Mode.NEAREST)


# --- candidates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Arc:
    hpid: str
    cost: float  # weighted seconds, before the bed or team it takes
    texts: tuple[Text, ...]  # what the centre offers this patient
    drawbacks: tuple[Text, ...]
    team: Pathway | None  # the pathway team and room it takes (None: none)
    needs_bed: bool = True  # an ER bed too: all but a declared team, which takes the patient straight in


@dataclass(frozen=True)
class _Route:
    arcs: tuple[_Arc, ...]
    mode: Mode
    pathway: Pathway | None
    unmet: tuple[Pathway, ...] = ()
    notice: Text | None = None


@dataclass(frozen=True)
class _Fit:
    """Where a centre stands on one pathway."""

    tier: int  # the best tier it is on (0 = definitive care)
    extra_s: float  # what not knowing and lower tiers cost (weighted by the patient's urgency later)
    offers: tuple[Text, ...]
    drawbacks: tuple[Text, ...]
    declared: bool  # every group a yes: the team and room are declared, not assumed (R-TEAM)


def _tier_fit(centre: CentreView, spec: PathwaySpec, config: RouterConfig) -> _Fit | None:
    """The centre's best tier of the pathway, or None: a declared no on every tier (R-DATUM, R-TIER)."""
    half = config.declaration_half_life_s
    for index, tier in enumerate(spec.tiers):
        extra, drawbacks, declared = 0.0, list[Text](), True
        for group in tier.groups:
            data = [(item, centre.datum(item)) for item in group]
            states = [(item, d, d.state(half, config)) for item, d in data]
            yes = [(item, d) for item, d, s in states if s is State.YES]
            if yes:
                item, best = max(yes, key=lambda x: x[1].weight(half))
                extra += config.unknown_penalty_s * (1.0 - best.weight(half))
                if best.age_s is not None and best.age_s > half:
                    drawbacks.append(say("stale_item", item=ITEM_WORDS.get(item, (item.value,) * 2),
                                         age=explain.age(best.age_s)))  # fmt: skip
                continue
            maybe = [(item, d, s) for item, d, s in states if s is not State.NO]
            if not maybe:
                break  # every item of the group declared no: off this tier
            declared = False
            extra += config.unknown_penalty_s
            item, d, s = maybe[0]
            words = ITEM_WORDS.get(item, (item.value, item.value))
            if s is State.STALE and d.age_s is not None:
                drawbacks.append(say("stale_item", item=words, age=explain.age(d.age_s)))
            else:
                drawbacks.append(say("unknown_item", item=words))
        else:
            return _Fit(index, extra + index * config.tier_penalty_s, (tier.words,), tuple(drawbacks), declared)
    return None


class _Board:
    """The centres as every patient of one plan sees them: judged once per plan, not once per patient."""

    def __init__(self, centres: Sequence[CentreView], config: RouterConfig) -> None:
        self.config = config
        self.centres = centres
        self.open = [c for c in centres if c.er_open(config)]
        self.closed = {c.hpid for c in centres if c.closed(config)}
        self._fits: dict[tuple[str, Pathway], _Fit | None] = {}

    def fit(self, centre: CentreView, spec: PathwaySpec) -> _Fit | None:
        key = (centre.hpid, spec.pathway)
        if key not in self._fits:
            self._fits[key] = _tier_fit(centre, spec, self.config)
        return self._fits[key]

    def open_or_only(self, centres: Sequence[CentreView], eta: Mapping[str, float]) -> list[CentreView]:
        """R-CLOSED: the centres left once those on diversion are dropped, unless nothing open is
        within ``closed_margin_s`` of them."""
        open_best = min((eta[c.hpid] for c in centres if c.hpid not in self.closed), default=math.inf)
        margin = self.config.closed_margin_s
        return [c for c in centres if c.hpid not in self.closed or open_best > eta[c.hpid] + margin]


def _route(case: PatientCase, board: _Board) -> _Route:
    """Which centres this patient may go to, at what cost, and in which mode (R-TIER ... R-NONE)."""
    eta = case.eta_s
    reachable = [c for c in board.open if math.isfinite(eta.get(c.hpid, math.inf)) and c.hpid not in case.declined]
    pathways = sorted(case.pathways(), key=lambda p: (PATHWAYS[p].priority, p.value))
    if Pathway.CARDIAC_ARREST in pathways or case.unstable:
        words = say("arrest") if Pathway.CARDIAC_ARREST in pathways else say("unstable")
        kept = board.config.switch_margin_s  # R-STABLE: no turn en route for an ER barely nearer
        arcs = tuple(
            _Arc(c.hpid, case.weight * (eta[c.hpid] - (kept if c.hpid == case.current else 0.0)), (words,), (), None)
            for c in board.open_or_only(reachable, eta)
        )
        if arcs:
            return _Route(arcs, Mode.NEAREST, pathways[0])
        return _all_declined(case, board.centres)
    tiered = [PATHWAYS[p] for p in pathways if PATHWAYS[p].tiers]
    if not tiered:
        arcs = _definitive(case, reachable, [], board)
        return _Route(arcs, Mode.DEFINITIVE, pathways[0]) if arcs else _all_declined(case, board.centres)
    # every pathway at once; when no centre meets them all, the most time-critical alone
    for specs in [tiered, *([tiered[:1]] if len(tiered) > 1 else [])]:
        arcs = _definitive(case, reachable, specs, board)
        if arcs:
            unmet = tuple(s.pathway for s in tiered if s not in specs)
            mode = Mode.PARTIAL if unmet else Mode.DEFINITIVE
            return _Route(arcs, mode, specs[0].pathway, unmet, PATHWAYS[unmet[0]].when_none if unmet else None)
    # R-NONE: no centre fits within the bound; the nearest that can stabilise, and say so.
    arcs = _definitive(case, reachable, [], board, stabilise=True)
    if not arcs:
        return _all_declined(case, board.centres)
    return _Route(arcs, Mode.STABILISE, tiered[0].pathway, tuple(s.pathway for s in tiered), tiered[0].when_none)


def _all_declined(case: PatientCase, centres: Sequence[CentreView]) -> _Route:
    """Every reachable centre declined or shut: name the nearest, and hand the choice to the control room."""
    eta = case.eta_s
    reachable = sorted((c for c in centres if math.isfinite(eta.get(c.hpid, math.inf))), key=lambda c: eta[c.hpid])
    arcs = tuple(_Arc(c.hpid, case.weight * eta[c.hpid], (), (), None) for c in reachable[:3])
    return _Route(arcs, Mode.ALL_DECLINED, None, tuple(case.pathways()), say("all_declined"))


def _definitive(
    case: PatientCase,
    reachable: Sequence[CentreView],
    specs: Sequence[PathwaySpec],
    board: _Board,
    *,
    stabilise: bool = False,
) -> tuple[_Arc, ...]:
    eta, config = case.eta_s, board.config
    fits: list[tuple[CentreView, int, float, list[Text], list[Text], Pathway | None, bool]] = []
    for centre in reachable:
        tier, extra, texts, drawbacks, team, needs_bed = 0, 0.0, list[Text](), list[Text](), None, True
        for spec in specs:
            fit = board.fit(centre, spec)
            if fit is None:
                break
            tier, extra = max(tier, fit.tier), extra + fit.extra_s
            texts.extend(fit.offers)
            drawbacks.extend(fit.drawbacks)
            if team is None and spec.slots is not None and fit.tier == 0:
                # R-TEAM: the team and room take the patient; declared, straight in; assumed, through the ER
                team, needs_bed = spec.pathway, not fit.declared
        else:
            fits.append((centre, tier, extra, texts, drawbacks, team, needs_bed))
    if specs:
        bound = min(s.time_bound_s for s in specs)
        within = [tier for centre, tier, *_ in fits if eta[centre.hpid] <= bound]
        if not within:
            return ()
        best = min(within)
        fits = [f for f in fits if f[1] == best]
    soft = not specs and case.critical and not case.hard_critical
    allowed = {c.hpid for c in board.open_or_only([f[0] for f in fits], eta)}
    arcs = []
    for centre, _tier, extra, texts, drawbacks, team, needs_bed in fits:
        if centre.hpid not in allowed:
            continue
        closed = centre.hpid in board.closed
        cost_s = eta[centre.hpid] + centre.offload_s + extra
        minus = list(drawbacks)
        if centre.traffic is TrafficStatus.ADVISORY or (centre.traffic is TrafficStatus.CLOSED and not closed):
            cost_s += config.advisory_penalty_s
        if soft and centre.level > 2:
            cost_s += config.level_penalty_s * (case.p_critical or 0.0)
            minus.append(say("not_regional"))
        if centre.hpid == case.current:
            cost_s -= config.switch_margin_s
        shown = (say("stabilise_here"),) if stabilise else tuple(texts)
        cost = case.weight * cost_s + _coverage_cost(case, eta[centre.hpid], config)
        arcs.append(_Arc(centre.hpid, cost, shown, tuple(minus), team, needs_bed))
    return tuple(arcs)


def _coverage_cost(case: PatientCase, eta_s: float, config: RouterConfig) -> float:
    """R-COVER: the unit is out of its area for the drive there and back (critical patients: their own time wins)."""
    if case.critical:
        return 0.0
    return config.coverage_s_per_s * case.cover_gap * 2.0 * eta_s


# --- beds ---------------------------------------------------------------------------------------


def reported_beds(centre: CentreView, config: RouterConfig) -> tuple[int | None, float]:
    """(free ER beds as reported, the confidence the count still holds); None: unknown or stale (R-BEDS)."""
    if centre.overcrowded:
        return 0, 1.0
    if centre.er_available is None:
        return None, 0.0
    age = centre.beds_age_s or 0.0
    if age > config.stale_after_half_lives * config.beds_half_life_s:
        return None, 0.0
    return centre.er_available, 0.5 ** (age / config.beds_half_life_s)


def effective_beds(centre: CentreView, inbound: int, eta_s: float, config: RouterConfig) -> float | None:
    """Beds likely free on arrival: reported − our inbound − expected walk-ins (None: unknown or stale)."""
    beds, _ = reported_beds(centre, config)
    if beds is None:
        return None
    if centre.overcrowded:
        return -float(inbound)
    return beds - inbound - walk_ins(centre, eta_s, config)


def walk_ins(centre: CentreView, eta_s: float, config: RouterConfig) -> float:
    """Arrivals expected at the centre (walk-ins, other services) during a drive of ``eta_s``: the centre's
    own nowcast when there is one, else the prior by level."""
    per_hour = centre.others_per_hour
    if per_hour is None:
        per_hour = config.arrivals_per_hour.get(centre.level, 1.0)
    return per_hour * eta_s / 3600.0


def _at_least(k: int, mean: float) -> float:
    """P(N >= k) for N ~ Poisson(mean): the chance that k or more walk-ins come first."""
    if k <= 0:
        return 1.0
    term = total = math.exp(-mean)
    for j in range(1, k):
        term *= mean / j
        total += term
    return max(0.0, 1.0 - total)


def _bed_capacity(centre: CentreView, held: int, config: RouterConfig) -> int:
    beds, _ = reported_beds(centre, config)
    return max(0, (config.unknown_bed_slots if beds is None else beds) - held)


def _bed_cost(case: PatientCase, centre: CentreView, held: int, config: RouterConfig) -> float:
    """What taking a bed there costs this patient beyond the drive: not knowing (fully for unknown or
    stale beds, by the report's age otherwise), and the chance that walk-ins take the spare beds first
    (an unknown count is read as ``unknown_bed_slots``, so it is never better than that count reported)."""
    beds, confidence = reported_beds(centre, config)
    if beds is None:  # unknown or stale: as if it had reported ``unknown_bed_slots``, with no confidence
        beds, confidence = config.unknown_bed_slots, 0.0
    doubt = case.weight * config.unknown_beds_penalty_s * (1.0 - confidence)
    return doubt + _at_least(beds - held, walk_ins(centre, case.eta_s[centre.hpid], config)) * _overflow(case, config)


def full_resources(
    centres: Sequence[CentreView],
    beds_held: Mapping[str, int],
    teams_held: Mapping[tuple[str, Pathway], int],
    *,
    config: RouterConfig = RouterConfig(),
) -> set[tuple[str, Pathway | None]]:
    """The ER beds (team None) and pathway teams with nothing left once the patients heading there
    arrive: a worker that re-plans only some patients re-plans those holding these too, so a more
    urgent patient can still take the last bed or team (R-PRIORITY across plans)."""
    full: set[tuple[str, Pathway | None]] = {
        (c.hpid, None) for c in centres if beds_held.get(c.hpid, 0) >= _bed_capacity(c, 0, config)
    }
    full |= {key for key, n in teams_held.items() if n >= (PATHWAYS[key[1]].slots or 0)}
    return full


def _overflow(case: PatientCase, config: RouterConfig) -> float:
    return config.full_penalty_s * case.weight**2


# --- the joint assignment -------------------------------------------------------------------------


#: Modes where time wins: the nearest, whatever the beds (decided before the joint flow).
_TIME_WINS = (Mode.NEAREST, Mode.ALL_DECLINED)


def plan(
    cases: Sequence[PatientCase],
    centres: Sequence[CentreView],
    *,
    inbound_elsewhere: Mapping[str, int] | None = None,
    teams_elsewhere: Mapping[tuple[str, Pathway], int] | None = None,
    config: RouterConfig = RouterConfig(),
) -> list[Choice]:
    """Destinations for every case, chosen together (see the module docstring): one choice for
    every case that can reach any centre at all.

    ``inbound_elsewhere``: patients already heading to each centre's ER beds that are not in
    ``cases``; ``teams_elsewhere``: those already taking a centre's pathway team (cath lab ...)."""
    by_id = {c.hpid: c for c in sorted(centres, key=lambda c: c.hpid)}
    order = sorted(cases, key=lambda c: c.unit_id)
    held = _Held(dict(inbound_elsewhere or {}), dict(teams_elsewhere or {}))
    board = _Board(list(by_id.values()), config)
    routes = [_route(case, board) for case in order]
    # Time wins for arrest, unstable and all-declined patients: the nearest, decided first, and the
    # bed they take there counts for everyone else (R-ARREST, R-BEDS).
    chosen: dict[int, str] = {}
    for i, route in enumerate(routes):
        if route.mode in _TIME_WINS and route.arcs:
            chosen[i] = min(route.arcs, key=lambda a: (a.cost, a.hpid)).hpid
            held.take(chosen[i], None, bed=True)
    # R-PROMISE: a centre that accepted the patient holds its bed for them, while it is still a candidate.
    for i, route in enumerate(routes):
        promised = next((a for a in route.arcs if a.hpid == order[i].current), None) if order[i].confirmed else None
        if i not in chosen and promised is not None:
            chosen[i] = promised.hpid
            held.take(promised.hpid, promised.team, bed=promised.needs_bed)
    seated = set(chosen)  # cases that took a free bed or team (the others go beyond them)
    flowing = [i for i, route in enumerate(routes) if route.arcs and i not in chosen]
    for i, hpid, took in _assign([(order[i], routes[i]) for i in flowing], by_id, held, config):
        chosen[flowing[i]] = hpid
        if took:
            seated.add(flowing[i])
    choices = []
    for i, case in enumerate(order):
        if i in chosen:
            choices.append(_choice(case, routes[i], chosen[i], i in seated, by_id, held, config))
    return choices


@dataclass
class _Held:
    """ER beds and pathway teams taken at each centre by patients already decided."""

    beds: dict[str, int]
    teams: dict[tuple[str, Pathway], int]

    def take(self, hpid: str, team: Pathway | None, *, bed: bool) -> None:
        if bed:
            self.beds[hpid] = self.beds.get(hpid, 0) + 1
        if team is not None:
            self.teams[(hpid, team)] = self.teams.get((hpid, team), 0) + 1


def _assign(
    cases: Sequence[tuple[PatientCase, _Route]], by_id: Mapping[str, CentreView], held: _Held, config: RouterConfig
) -> list[tuple[int, str, bool]]:
    """The joint min-cost flow: (case index, centre, took a free bed or team — not beyond them) for every
    case; the beds and teams taken are added to ``held``."""
    from ortools.graph.python import min_cost_flow

    flow = min_cost_flow.SimpleMinCostFlow()
    sink = len(cases)
    nodes: dict[tuple[str, Pathway | None], int] = {}  # a centre's ER beds (None) and its pathway teams
    through_er: dict[tuple[str, Pathway], bool] = {}  # an assumed team's patients also need an ER bed
    arc_of: list[tuple[int, _Arc, bool]] = []  # arc index -> (case index, arc, beyond its beds)
    for i, (case, route) in enumerate(cases):
        for arc in route.arcs:
            key = (arc.hpid, arc.team)
            nodes.setdefault(key, sink + 1 + len(nodes))
            if arc.team is not None:
                through_er[(arc.hpid, arc.team)] = arc.needs_bed
                if arc.needs_bed:
                    nodes.setdefault((arc.hpid, None), sink + 1 + len(nodes))
            beds = held.beds.get(arc.hpid, 0)
            bed = _bed_cost(case, by_id[arc.hpid], beds, config) if arc.needs_bed else 0.0
            flow.add_arc_with_capacity_and_unit_cost(i, nodes[key], 1, _int(arc.cost + bed))
            # beyond the free beds or team: still possible, at this patient's own price (R-PRIORITY)
            flow.add_arc_with_capacity_and_unit_cost(i, sink, 1, _int(arc.cost + _overflow(case, config)))
            arc_of += [(i, arc, False), (i, arc, True)]
        flow.set_node_supply(i, 1)
    for (hpid, team), index in nodes.items():
        to = sink
        if team is None:
            free = _bed_capacity(by_id[hpid], held.beds.get(hpid, 0), config)
        else:
            free = max(0, (PATHWAYS[team].slots or 0) - held.teams.get((hpid, team), 0))
            to = nodes[(hpid, None)] if through_er[(hpid, team)] else sink
        if free:
            flow.add_arc_with_capacity_and_unit_cost(index, to, free, 0)
        flow.set_node_supply(index, 0)
    flow.set_node_supply(sink, -len(cases))
    if cases and flow.solve() != flow.OPTIMAL:
        raise RouterError("destination assignment has no solution")
    found: list[tuple[int, str, bool]] = []
    for index, (i, arc, beyond) in enumerate(arc_of):
        if flow.flow(index) > 0:
            found.append((i, arc.hpid, not beyond))
            if not beyond:
                held.take(arc.hpid, arc.team, bed=arc.needs_bed)
    return found


def _choice(
    case: PatientCase,
    route: _Route,
    hpid: str,
    seated: bool,
    by_id: Mapping[str, CentreView],
    held: _Held,
    config: RouterConfig,
) -> Choice:
    """The advice for one patient: the destination and the two best alternatives, in words."""
    shown = sorted(route.arcs, key=lambda a: (a.hpid != hpid, a.cost, a.hpid))[:3]  # the crew sees three
    options = [_option(case, by_id[a.hpid], a, a.hpid == hpid and seated, held, config) for a in shown]
    destination = _with_comparison(options[0], options[1:], route.notice)
    arc = next(a for a in route.arcs if a.hpid == hpid)
    return Choice(
        case.unit_id,
        destination,
        tuple(options[1:]),
        destination.hpid != case.current,
        route.mode,
        route.pathway,
        route.unmet,
        route.notice,
        arc.team,
        arc.needs_bed,
    )


class RouterError(SolverError):
    """The assignment could not be solved (a bug: every case has an overflow arc)."""


def _int(seconds: float) -> int:
    return round(seconds)


def _option(
    case: PatientCase,
    centre: CentreView,
    arc: _Arc,
    seated: bool,
    held: _Held,
    config: RouterConfig,
) -> Option:
    eta = case.eta_s[centre.hpid] + centre.offload_s
    facts: list[Text] = [say("minutes", n=explain.minutes(eta)), *arc.texts]
    drawbacks: list[Text] = []
    on_arrival: int | None = None
    if arc.team is not None:
        taken = held.teams.get((centre.hpid, arc.team), 0) - (1 if seated else 0)
        if taken >= (PATHWAYS[arc.team].slots or 0):
            drawbacks.append(say("team_busy", team=ITEM_WORDS.get(PATHWAYS[arc.team].tiers[0].groups[0][0], ("", ""))))
    others = held.beds.get(centre.hpid, 0) - (1 if seated and arc.needs_bed else 0)
    beds = effective_beds(centre, others, case.eta_s[centre.hpid], config)
    on_arrival = None if beds is None else max(0, math.floor(beds + 0.5))
    if centre.overcrowded:
        drawbacks.append(say("er_full"))
    elif on_arrival is None:
        if centre.er_available is not None and centre.beds_age_s is not None:
            drawbacks.append(say("stale_beds", age=explain.age(centre.beds_age_s)))
        else:
            facts.append(say("beds_unknown"))
    elif on_arrival == 0 and arc.needs_bed:
        drawbacks.append(say("no_bed"))
    else:
        facts.append(say("bed_after" if on_arrival == 1 else "beds_after", n=on_arrival))
        if centre.beds_age_s is not None and centre.beds_age_s > config.beds_half_life_s:
            drawbacks.append(say("stale_beds", age=explain.age(centre.beds_age_s)))
    if centre.traffic is TrafficStatus.CLOSED:
        if centre.closed(config):
            drawbacks.append(say("closed", why=explain.because(centre.traffic_reason)))
        elif centre.traffic_age_s is not None:
            drawbacks.append(say("stale_closure", age=explain.age(centre.traffic_age_s)))
    elif centre.traffic is TrafficStatus.ADVISORY:
        drawbacks.append(say("advisory", why=explain.because(centre.traffic_reason)))
    drawbacks += arc.drawbacks
    if centre.offload_s:
        facts.append(say("offload", n=int(centre.offload_s // 60)))
        if centre.offload_age_s is not None and centre.offload_age_s > config.offload_stale_after_s:
            drawbacks.append(say("stale_offload", age=explain.age(centre.offload_age_s)))
    reason = explain.headed(centre.name, facts + [d for d in drawbacks if d not in facts])
    return Option(
        centre.hpid, centre.name, eta, on_arrival, reason[0], arc.cost, drawbacks[0] if drawbacks else None, reason[1]
    )


def _with_comparison(destination: Option, alternatives: Sequence[Option], notice: Text | None) -> Option:
    """Put what the crew must know first (no centre fits), and why a faster alternative was not chosen."""
    reason: Text = (destination.reason, destination.reason_en)
    faster = [a for a in alternatives if a.eta_s < destination.eta_s]
    if faster:
        nearest = min(faster, key=lambda a: a.eta_s)
        why = nearest.drawback or say("costlier")
        faster_one = say("faster", name=nearest.name, n=explain.minutes(nearest.eta_s), why=why)
        reason = explain.join([reason, faster_one], "; ")
    if notice is not None:
        reason = explain.join([notice, reason], " · ")
    return replace(destination, reason=reason[0][:300], reason_en=reason[1][:300])
