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

- **R-PRUNE** Pruning (``RouterConfig.prune``, on by default) builds a patient's arcs only for the centres that
  can matter, and changes no choice. Its route (mode, pathway, best tier within the bound) is decided as without
  pruning; its candidates are then examined nearest first (:class:`_Walk`): the current destination, the three
  cheapest (the crew sees three) and, for the joint flow, as far as a candidate with a place left. The flow is
  solved on the arcs examined; its potentials (shortest distances in the residual graph) give each patient the
  cost below which an arc not examined could lower the total (:meth:`_Flow.reach`). No arc costs less than the
  weighted drive, so a patient whose next candidate is farther than that is done; the others are examined that
  far and the flow solved again. Checked against the plan that examines every centre in
  ``tests/dispatch/test_router_pruning.py``.
- **R-TIE** Ties between assignments of equal cost (whole weighted seconds) are broken by the problem, not by the
  solver (:class:`_Flow`): the least sum of (patient's rank by unit id) × (centre's rank by hpid; beyond its beds or
  team, after every centre) wins, so the plan is the same with or without the arcs no optimal assignment uses,
  and whatever the input order. Equal sums, and a flow too large to scale within 64 bits, are left to the solver.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

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

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

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
    #: Build each patient's arcs only for the centres that can matter (the same choices: "Pruning" above).
    prune: bool = True


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

    @cached_property
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
    notes: tuple[_Note, ...]  # what the crew is told against it: worded only for the arcs built (drawbacks)
    declared: bool  # every group a yes: the team and room are declared, not assumed (R-TEAM)

    @cached_property
    def drawbacks(self) -> tuple[Text, ...]:
        return _worded(self.notes)


#: A drawback of a centre on a pathway, not worded yet: (template, item, age in seconds).
_Note = tuple[str, Item, float | None]


def _worded(notes: Iterable[_Note]) -> tuple[Text, ...]:
    """The drawbacks of ``notes`` in the crew's words (built only for the arcs a plan looks at)."""
    found = []
    for template, item, age in notes:
        words = ITEM_WORDS.get(item, (item.value, item.value))
        found.append(say(template, item=words) if age is None else say(template, item=words, age=explain.age(age)))
    return tuple(found)


def _tier_fit(centre: CentreView, spec: PathwaySpec, config: RouterConfig) -> _Fit | None:
    """The centre's best tier of the pathway, or None: a declared no on every tier (R-DATUM, R-TIER)."""
    half = config.declaration_half_life_s
    for index, tier in enumerate(spec.tiers):
        extra, notes, declared = 0.0, list[_Note](), True
        for group in tier.groups:
            # the freshest yes of the group (the first of equals), else its first unknown or stale item
            best: tuple[Item, Datum, float] | None = None
            maybe: tuple[Item, Datum, State] | None = None
            for item in group:
                datum = centre.datum(item)
                state = datum.state(half, config)
                if state is State.YES:
                    weight = datum.weight(half)
                    if best is None or weight > best[2]:
                        best = (item, datum, weight)
                elif maybe is None and state is not State.NO:
                    maybe = (item, datum, state)
            if best is not None:
                item, datum, weight = best
                extra += config.unknown_penalty_s * (1.0 - weight)
                if datum.age_s is not None and datum.age_s > half:
                    notes.append(("stale_item", item, datum.age_s))
                continue
            if maybe is None:
                break  # every item of the group declared no: off this tier
            declared = False
            extra += config.unknown_penalty_s
            item, datum, state = maybe
            if state is State.STALE and datum.age_s is not None:
                notes.append(("stale_item", item, datum.age_s))
            else:
                notes.append(("unknown_item", item, None))
        else:
            return _Fit(index, extra + index * config.tier_penalty_s, (tier.words,), tuple(notes), declared)
    return None


class _Board:
    """The centres as every patient of one plan sees them: judged once per plan, not once per patient."""

    def __init__(self, centres: Sequence[CentreView], config: RouterConfig) -> None:
        self.config = config
        self.centres = centres
        self.is_open = [c.er_open(config) for c in centres]
        self.open = [c for c, is_open in zip(centres, self.is_open, strict=True) if is_open]
        self.closed = {c.hpid for c in centres if c.closed(config)}
        self._fits: dict[tuple[str, Pathway], _Fit | None] = {}
        self._combos: dict[tuple[str, tuple[Pathway, ...]], _ComboFit | None] = {}
        # for pruning (walks): the centres in this order as arrays
        self.hpids = tuple(c.hpid for c in centres)
        self.index = {hpid: k for k, hpid in enumerate(self.hpids)}
        self.open_mask = np.array(self.is_open, dtype=bool)
        #: per combination of pathways, each centre's tier: -1 off them, -2 not judged yet (filled as walks need)
        self._tiers: dict[tuple[Pathway, ...], NDArray[np.int16]] = {}
        self._bed_arrays: tuple[FloatArray, FloatArray, IntArray, FloatArray, FloatArray] | None = None
        #: Offload below 0 never comes from a report (the schema refuses it), but a lower bound must not assume it.
        self.min_offload_s = min([0.0, *(c.offload_s for c in centres)])
        self._keys: tuple[tuple[str, ...], IntArray, IntArray] | None = None

    def fit(self, centre: CentreView, spec: PathwaySpec) -> _Fit | None:
        key = (centre.hpid, spec.pathway)
        if key not in self._fits:
            self._fits[key] = _tier_fit(centre, spec, self.config)
        return self._fits[key]

    def tiers(self, specs: Sequence[PathwaySpec], indices: IntArray, eta: FloatArray) -> NDArray[np.int16]:
        """The tier of ``specs`` each of the centres at ``indices`` is on (-1: off them; -2: not judged, when a
        centre on the first tier is among them), each centre judged once per plan, nearest first."""
        key = tuple(s.pathway for s in specs)
        known = self._tiers.get(key)
        if known is None:
            known = self._tiers[key] = np.full(len(self.centres), -2, dtype=np.int16)
        found = known[indices]
        if not (found == 0).any():
            unjudged = indices[found == -2]
            for k in unjudged[np.argsort(eta[unjudged], kind="stable")].tolist():
                fit = self.combo(self.centres[k], specs)
                known[k] = -1 if fit is None else fit.tier
                if known[k] == 0:
                    break  # the first tier: the best there is
        return known[indices]

    def bed_arrays(self) -> tuple[FloatArray, FloatArray, IntArray, FloatArray, FloatArray]:
        """Per centre: offload (s), the advisory penalty (s, 0 where none), the ER beds read (reported, or
        ``unknown_bed_slots``), the share of confidence lost (R-BEDS) and the walk-ins expected per hour."""
        if self._bed_arrays is None:
            config = self.config
            rows = []
            for c in self.centres:
                beds, confidence = reported_beds(c, config)
                advisory = c.traffic is TrafficStatus.ADVISORY or (
                    c.traffic is TrafficStatus.CLOSED and c.hpid not in self.closed
                )
                per_hour = c.others_per_hour
                rows.append((c.offload_s, config.advisory_penalty_s if advisory else 0.0,
                             config.unknown_bed_slots if beds is None else beds, 1.0 - confidence,
                             config.arrivals_per_hour.get(c.level, 1.0) if per_hour is None else per_hour))  # fmt: skip
            columns = list(zip(*rows, strict=True))
            self._bed_arrays = (np.array(columns[0]), np.array(columns[1]), np.array(columns[2], dtype=np.int64),
                                np.array(columns[3]), np.array(columns[4]))  # fmt: skip
        return self._bed_arrays

    def combo(self, centre: CentreView, specs: Sequence[PathwaySpec]) -> _ComboFit | None:
        if not specs:
            return _ANY
        key = (centre.hpid, tuple(s.pathway for s in specs))
        if key not in self._combos:
            self._combos[key] = _combo_fit(centre, specs, self)
        return self._combos[key]

    def etas(self, eta: Mapping[str, float]) -> FloatArray:
        """A case's ETAs in the board's order, inf where it has none. Every case of an engine has its ETAs
        in the same order (its index's): the mapping from that order is worked out once."""
        keys = tuple(eta)
        known = self._keys
        if known is None or known[0] != keys:
            source = [k for k, hpid in enumerate(keys) if hpid in self.index]
            known = self._keys = (keys, np.array(source, dtype=np.int64),
                                  np.array([self.index[keys[k]] for k in source], dtype=np.int64))  # fmt: skip
        values = np.fromiter(eta.values(), dtype=np.float64, count=len(keys))
        found = np.full(len(self.hpids), math.inf)
        found[known[2]] = values[known[1]]
        return found

    def open_or_only(self, centres: Sequence[CentreView], eta: Mapping[str, float]) -> list[CentreView]:
        """R-CLOSED: the centres left once those on diversion are dropped, unless nothing open is
        within ``closed_margin_s`` of them."""
        open_best = min((eta[c.hpid] for c in centres if c.hpid not in self.closed), default=math.inf)
        margin = self.config.closed_margin_s
        return [c for c in centres if c.hpid not in self.closed or open_best > eta[c.hpid] + margin]


#: The last board built, with the very centre views it was built from: :func:`horizons` and :func:`plan` called
#: on the same views (the engine does, in one decision) judge every centre once. A memo, not state: a board is a
#: function of the views and the configuration (the views are compared by identity, and held until replaced).
_last: tuple[tuple[CentreView, ...], RouterConfig, dict[str, CentreView], _Board] | None = None


def _board(centres: Sequence[CentreView], config: RouterConfig) -> tuple[dict[str, CentreView], _Board]:
    global _last
    last = _last
    same = last is not None and last[1] is config and len(last[0]) == len(centres)
    if last is not None and same and all(a is b for a, b in zip(last[0], centres, strict=True)):
        return last[2], last[3]
    by_id = {c.hpid: c for c in sorted(centres, key=lambda c: c.hpid)}
    board = _Board(list(by_id.values()), config)
    _last = (tuple(centres), config, by_id, board)
    return by_id, board


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
    eta = case.eta_s
    fits = [(centre, fit) for centre in reachable if (fit := board.combo(centre, specs)) is not None]
    if specs:
        bound = min(s.time_bound_s for s in specs)
        within = [fit.tier for centre, fit in fits if eta[centre.hpid] <= bound]
        if not within:
            return ()
        best = min(within)
        fits = [f for f in fits if f[1].tier == best]
    soft = not specs and case.critical and not case.hard_critical
    allowed = {c.hpid for c in board.open_or_only([f[0] for f in fits], eta)}
    return tuple(_arc(case, centre, fit, board, soft, stabilise) for centre, fit in fits if centre.hpid in allowed)


@dataclass(frozen=True)
class _ComboFit:
    """Where a centre stands on every pathway of a combination at once (the worst tier, the costs summed)."""

    tier: int
    extra_s: float
    offers: tuple[Text, ...]
    notes: tuple[_Note, ...]
    team: Pathway | None  # R-TEAM: the first pathway with slots whose first tier it is on
    needs_bed: bool  # the team is assumed, not declared: the patient goes through the ER too

    @cached_property
    def drawbacks(self) -> tuple[Text, ...]:
        return _worded(self.notes)


#: Where a centre stands for a patient on no tiered pathway (or to stabilise): anywhere open.
_ANY = _ComboFit(0, 0.0, (), (), None, True)


def _combo_fit(centre: CentreView, specs: Sequence[PathwaySpec], board: _Board) -> _ComboFit | None:
    """The centre on all of ``specs`` at once (R-TIER, R-TEAM), or None: off one of them."""
    tier, extra, texts, notes, team, needs_bed = 0, 0.0, list[Text](), list[_Note](), None, True
    for spec in specs:
        fit = board.fit(centre, spec)
        if fit is None:
            return None
        tier, extra = max(tier, fit.tier), extra + fit.extra_s
        texts.extend(fit.offers)
        notes.extend(fit.notes)
        if team is None and spec.slots is not None and fit.tier == 0:
            # R-TEAM: the team and room take the patient; declared, straight in; assumed, through the ER
            team, needs_bed = spec.pathway, not fit.declared
    return _ComboFit(tier, extra, tuple(texts), tuple(notes), team, needs_bed)


def _arc(case: PatientCase, centre: CentreView, fit: _ComboFit, board: _Board, soft: bool, stabilise: bool) -> _Arc:
    """The arc of one candidate centre: its cost in weighted seconds, what it offers, its drawbacks."""
    minus = fit.drawbacks + ((say("not_regional"),) if soft and centre.level > 2 else ())
    shown = (say("stabilise_here"),) if stabilise else fit.offers
    return _Arc(centre.hpid, _arc_cost(case, centre, fit, board, soft), shown, minus, fit.team, fit.needs_bed)


def _arc_cost(case: PatientCase, centre: CentreView, fit: _ComboFit, board: _Board, soft: bool) -> float:
    """An arc's cost in weighted seconds (its words aside): the drive, offload, what not knowing and lower tiers
    cost, diversion not enforced, R-CRIT's level, R-STABLE's margin, then R-COVER."""
    config, eta_s = board.config, case.eta_s[centre.hpid]
    cost_s = eta_s + centre.offload_s + fit.extra_s
    if centre.traffic is TrafficStatus.ADVISORY or (
        centre.traffic is TrafficStatus.CLOSED and centre.hpid not in board.closed
    ):
        cost_s += config.advisory_penalty_s
    if soft and centre.level > 2:
        cost_s += config.level_penalty_s * (case.p_critical or 0.0)
    if centre.hpid == case.current:
        cost_s -= config.switch_margin_s
    return case.weight * cost_s + _coverage_cost(case, eta_s, config)


def _coverage_cost(case: PatientCase, eta_s: float, config: RouterConfig) -> float:
    """R-COVER: the unit is out of its area for the drive there and back (critical patients: their own time wins)."""
    if case.critical:
        return 0.0
    return config.coverage_s_per_s * case.cover_gap * 2.0 * eta_s


# --- pruning: each case's candidates nearest first, only as far as they can matter -----------------------


@dataclass(eq=False)
class _Walk:
    """A case's candidates (the centres :func:`_route` gives arcs) examined nearest first, so that a plan builds
    the arcs of only the centres that can matter (:func:`_bounds`). The mode, pathway and tier are decided
    first (:func:`_walk`), as :func:`_route` decides them."""

    case: PatientCase
    eta: FloatArray  # the case's ETAs in board order
    declined: frozenset[int]
    mode: Mode
    pathway: Pathway | None
    unmet: tuple[Pathway, ...]
    notice: Text | None
    specs: tuple[PathwaySpec, ...]
    best: int  # the tier every candidate is on
    words: Text | None  # time wins (arrest, unstable): what every arc says; None otherwise
    stabilise: bool
    soft: bool
    #: Every arc but the current destination's costs at least slope × ETA + floor (R-STABLE's margin aside).
    slope: float
    floor: float
    arcs: dict[str, _Arc] = field(default_factory=dict)  # the candidates examined, by hpid
    pos: int = 0  # the next position in ``order``
    open_best: float = math.inf  # the ETA of the nearest candidate not on diversion, once seen (R-CLOSED)
    waiting: list[int] = field(default_factory=list)  # candidates on diversion seen before it: undecided
    cheapest: list[float] = field(default_factory=list)  # the three lowest costs examined

    @property
    def third(self) -> float:
        """The third lowest cost examined: inf with fewer."""
        return self.cheapest[2] if len(self.cheapest) == 3 else math.inf

    def keep(self, arc: _Arc) -> None:
        self.arcs[arc.hpid] = arc
        if len(self.cheapest) < 3 or arc.cost < self.cheapest[2]:
            bisect.insort(self.cheapest, arc.cost)
            del self.cheapest[3:]

    @cached_property
    def order(self) -> IntArray:
        """Board indices by (ETA, hpid): sorted only when the walk steps (a horizon rarely needs it)."""
        return np.argsort(self.eta, kind="stable")

    @cached_property
    def sorted_eta(self) -> FloatArray:
        return self.eta[self.order]

    @property
    def done(self) -> bool:
        return self.pos >= len(self.order) and not self.waiting

    def frontier(self) -> float:
        """A lower bound of the cost of every candidate not examined yet (the current destination's aside)."""
        eta = float(self.sorted_eta[self.pos]) if self.pos < len(self.order) else math.inf
        if self.waiting:
            eta = min(eta, float(self.eta[self.waiting[0]]))
        return self.slope * eta + self.floor if eta < math.inf else math.inf

    def route(self, keep: Iterable[_Arc] | None = None) -> _Route:
        arcs = self.arcs.values() if keep is None else keep
        return _Route(tuple(sorted(arcs, key=lambda a: a.hpid)), self.mode, self.pathway, self.unmet, self.notice)


def _walk(case: PatientCase, board: _Board) -> _Walk | None:
    """The case's route decided as :func:`_route` decides it (R-ARREST, R-UNSTABLE, R-TIER, R-NONE), its
    candidates left to examine; None when every reachable centre was declined (all declined: :func:`_route`)."""
    config = board.config
    eta = board.etas(case.eta_s)
    declined = frozenset(board.index[h] for h in case.declined if h in board.index)
    reachable = board.open_mask & np.isfinite(eta)
    if int(np.count_nonzero(reachable)) <= sum(1 for k in declined if reachable[k]):
        return None
    pathways = sorted(case.pathways(), key=lambda p: (PATHWAYS[p].priority, p.value))
    weight = case.weight
    if Pathway.CARDIAC_ARREST in pathways or case.unstable:
        words = say("arrest") if Pathway.CARDIAC_ARREST in pathways else say("unstable")
        return _Walk(case, eta, declined, Mode.NEAREST, pathways[0], (), None, (), 0, words,
                     False, False, weight, 0.0)  # fmt: skip
    # every other arc costs at least the weighted drive, offload (never below 0 in a report) and R-COVER
    slope = weight + (0.0 if case.critical else config.coverage_s_per_s * case.cover_gap * 2.0)
    floor = weight * board.min_offload_s
    soft = case.critical and not case.hard_critical  # R-CRIT, for the patients no tiered pathway holds

    def walk(mode: Mode, pathway: Pathway, unmet: tuple[Pathway, ...], notice: Text | None,
             specs: tuple[PathwaySpec, ...], best: int, stabilise: bool) -> _Walk:  # fmt: skip
        return _Walk(case, eta, declined, mode, pathway, unmet, notice, specs, best, None,
                     stabilise, soft and not specs, slope, floor)  # fmt: skip

    tiered = tuple(PATHWAYS[p] for p in pathways if PATHWAYS[p].tiers)
    if not tiered:
        return walk(Mode.DEFINITIVE, pathways[0], (), None, (), 0, False)
    for specs in [tiered, *([tiered[:1]] if len(tiered) > 1 else [])]:
        best = _best_within(eta, declined, specs, board)
        if best is not None:
            unmet = tuple(s.pathway for s in tiered if s not in specs)
            notice = PATHWAYS[unmet[0]].when_none if unmet else None
            return walk(Mode.PARTIAL if unmet else Mode.DEFINITIVE, specs[0].pathway, unmet, notice, specs, best, False)
    return walk(Mode.STABILISE, tiered[0].pathway, tuple(s.pathway for s in tiered), tiered[0].when_none, (), 0, True)


def _best_within(eta: FloatArray, declined: frozenset[int], specs: Sequence[PathwaySpec], board: _Board) -> int | None:
    """R-TIER: the best tier any reachable centre within the drive bound of ``specs`` is on (None: none is)."""
    within = np.flatnonzero((eta <= min(s.time_bound_s for s in specs)) & board.open_mask)
    if declined:
        within = within[~np.isin(within, list(declined))]
    tiers = board.tiers(specs, within, eta)
    fitting = tiers[tiers >= 0]
    return int(fitting.min()) if fitting.size else None


def _step(walk: _Walk, board: _Board) -> bool:
    """Examine the next centre of the walk; False when none is left."""
    if walk.pos >= len(walk.order) or not math.isfinite(walk.sorted_eta[walk.pos]):
        walk.pos = len(walk.order)
        _settle(walk, board, math.inf)  # no open candidate at all: those on diversion are allowed
        return False
    k, eta = int(walk.order[walk.pos]), float(walk.sorted_eta[walk.pos])
    _settle(walk, board, eta)
    walk.pos += 1
    centre = board.centres[k]
    if not board.is_open[k] or k in walk.declined:
        return True
    fit = _ANY if walk.words is not None else board.combo(centre, walk.specs)
    if fit is None or fit.tier != walk.best:
        return True
    if centre.hpid in board.closed:  # R-CLOSED: allowed only if no open candidate is within the margin of it
        if walk.open_best == math.inf:
            walk.waiting.append(k)
        return True
    if walk.open_best == math.inf:
        walk.open_best = eta
        for waiting in walk.waiting:
            if eta > walk.eta[waiting] + board.config.closed_margin_s:
                _add(walk, board, waiting)
        walk.waiting.clear()
    _add(walk, board, k)
    return True


def _settle(walk: _Walk, board: _Board, eta: float) -> None:
    """Candidates on diversion seen before any open one, decided once every centre nearer than ``eta`` was examined
    and none was open: the nearest open candidate is then ``eta`` away or farther."""
    if walk.open_best < math.inf:
        return
    margin = board.config.closed_margin_s
    while walk.waiting and eta > walk.eta[walk.waiting[0]] + margin:
        _add(walk, board, walk.waiting.pop(0))


def _add(walk: _Walk, board: _Board, k: int) -> None:
    centre, case = board.centres[k], walk.case
    if centre.hpid in walk.arcs:
        return
    if walk.words is not None:
        kept = board.config.switch_margin_s if centre.hpid == case.current else 0.0
        walk.keep(_Arc(centre.hpid, case.weight * (case.eta_s[centre.hpid] - kept), (walk.words,), (), None))
        return
    fit = board.combo(centre, walk.specs)
    assert fit is not None
    walk.keep(_arc(case, centre, fit, board, walk.soft, walk.stabilise))


def _current(walk: _Walk, board: _Board) -> None:
    """Examine the current destination when it is a candidate, wherever it is: R-STABLE's margin may make it
    cheaper than candidates nearer."""
    current = walk.case.current
    k = None if current is None else board.index.get(current)
    if k is None or current in walk.arcs or not board.is_open[k] or k in walk.declined:
        return
    eta = float(walk.eta[k])
    fit = _ANY if walk.words is not None else board.combo(board.centres[k], walk.specs)
    if not math.isfinite(eta) or fit is None or fit.tier != walk.best:
        return
    if current in board.closed:
        # a candidate only while no open one is within the margin: look that far (it is then examined, or not one)
        limit = eta + board.config.closed_margin_s
        while walk.open_best == math.inf and walk.pos < len(walk.order) and walk.sorted_eta[walk.pos] <= limit:
            _step(walk, board)
        _settle(walk, board, walk.sorted_eta[walk.pos] if walk.pos < len(walk.order) else math.inf)
        return
    _add(walk, board, k)


def _room(arc: _Arc, by_id: Mapping[str, CentreView], held: _Held, config: RouterConfig) -> bool:
    """Whether the arc's centre has a place left for one more patient (a bed, or its team), before this plan."""
    if arc.team is not None and held.teams.get((arc.hpid, arc.team), 0) >= (PATHWAYS[arc.team].slots or 0):
        return False
    return not arc.needs_bed or _bed_capacity(by_id[arc.hpid], held.beds.get(arc.hpid, 0), config) > 0


def _ensure(walk: _Walk, board: _Board, target: float = -math.inf) -> None:
    """Examine the current destination, the three cheapest candidates (the crew is shown three) and every
    candidate that could cost ``target`` or less."""
    _current(walk, board)
    while walk.frontier() <= max(target, walk.third) and _step(walk, board):
        pass


# --- how far a centre's news reaches (dispatch.replan) --------------------------------------------------------


def horizons(
    cases: Sequence[PatientCase],
    centres: Sequence[CentreView],
    *,
    inbound: Mapping[str, int] | None = None,
    teams: Mapping[tuple[str, Pathway], int] | None = None,
    holding: Sequence[tuple[bool, Pathway | None]] | None = None,
    config: RouterConfig = RouterConfig(),
) -> list[float]:
    """For each case (``current``: where it is advised to go), an ETA beyond which news about a centre — a
    capacity report, a decline's reason — cannot change the destination :func:`plan` gives the case planned alone,
    everyone else where they are: inf when any centre's news could (``current`` unknown, shut, on diversion,
    declined, or no longer one of its candidates: it would move anyway).

    ``inbound`` / ``teams``: the ER beds and pathway teams every patient heading to a centre takes there, these
    cases included; ``holding``: what each case takes at its current destination (an ER bed, a team), so that it is
    not counted against itself. ``cover_gap`` is taken as given: give 1 (its most) when not known.

    The rule (:mod:`dispatch.replan`): planned alone, the case pays at most
    ``stay``, its price at its current destination (through its bed or team when a place is left there, else
    beyond). A centre X whose every arc would cost more — farther than ``stay / weight``, as no arc costs less than
    the weighted drive — is never chosen, whatever X reports. X's news changes no other arc unless (R-TIER, R-NONE)
    X is within the pathway's drive bound, where the best tier is decided — not when the current destination is on
    the first tier within it, the best there is — or (R-CLOSED) a centre on diversion that could be chosen, or the
    current destination on diversion, is within ``closed_margin_s`` of X: X open or not may allow it or not. The
    horizon is the farthest of these."""
    _, board = _board(centres, config)
    beds, team_count = dict(inbound or {}), dict(teams or {})
    found = [math.inf] * len(cases)
    plain: list[int] = []  # worked out together, below
    rows: list[tuple[PatientCase, int, float, _ComboFit, bool, int, bool]] = []
    for n, case in enumerate(cases):
        bed, team = holding[n] if holding is not None else (False, None)
        seen = _plain(case, board, beds, team_count, bed, team)
        if seen is None:
            found[n] = _horizon(case, board, beds, team_count, bed, team)
        else:
            k, eta, fit, soft, taken, room = seen
            plain.append(n)
            rows.append((case, k, eta, fit, soft, taken, room))
    if rows:
        for n, scope in zip(plain, _scopes(rows, board), strict=True):
            found[n] = _reach(cases[n], board, scope, 0.0)
    return found


def _plain(
    case: PatientCase,
    board: _Board,
    beds: Mapping[str, int],
    teams: Mapping[tuple[str, Pathway], int],
    holds_bed: bool,
    holds_team: Pathway | None,
) -> tuple[int, float, _ComboFit, bool, int, bool] | None:
    """A case whose horizon needs no route: its current destination open, not on diversion, reachable, and on its
    first tier within the bound (or no tiered pathway) — (centre index, ETA there, its fit, R-CRIT's level penalty
    applies, the beds others take there, a place is left). None: work it out one by one (:func:`_horizon`)."""
    current = case.current
    k = None if current is None else board.index.get(current)
    if k is None or current is None or current in board.closed or current in case.declined or not board.is_open[k]:
        return None
    eta = case.eta_s.get(current, math.inf)
    if not math.isfinite(eta) or case.unstable:
        return None
    needs = case.pathways()
    if Pathway.CARDIAC_ARREST in needs:
        return None
    soft, fit = case.critical and not case.hard_critical, _ANY
    tiered = tuple(
        PATHWAYS[p] for p in sorted(needs, key=lambda p: (PATHWAYS[p].priority, p.value)) if PATHWAYS[p].tiers
    )
    if tiered:
        first = board.combo(board.centres[k], tiered)
        if first is None or first.tier != 0 or eta > min(s.time_bound_s for s in tiered):
            return None
        fit, soft = first, False
    taken = beds.get(current, 0) - (1 if holds_bed else 0)
    room = True
    if fit.team is not None:
        others = teams.get((current, fit.team), 0) - (1 if holds_team is fit.team else 0)
        room = others < (PATHWAYS[fit.team].slots or 0)
    return k, eta, fit, soft and board.centres[k].level > 2, taken, room


def _scopes(rows: Sequence[tuple[PatientCase, int, float, _ComboFit, bool, int, bool]], board: _Board) -> list[float]:
    """(stay + 1 - floor) / weight of each plain case (:func:`_plain`), as :func:`_horizon` works it out one by one
    (:func:`_arc_cost`, :func:`_bed_cost`), for all of them at once; one second more for the sums taken in another
    order (a bound needs no more)."""
    from scipy.special import gammainc

    config = board.config
    offload, advisory, places, doubt, per_hour = board.bed_arrays()
    k = np.array([r[1] for r in rows], dtype=np.int64)
    eta = np.array([r[2] for r in rows])
    weight = np.array([r[0].weight for r in rows])
    extra = np.array([r[3].extra_s for r in rows])
    needs_bed = np.array([r[3].needs_bed for r in rows], dtype=bool)
    level = np.array([config.level_penalty_s * (r[0].p_critical or 0.0) if r[4] else 0.0 for r in rows])
    cover = np.array([0.0 if r[0].critical else config.coverage_s_per_s * r[0].cover_gap * 2.0 for r in rows])
    taken = np.array([r[5] for r in rows], dtype=np.int64)
    team_room = np.array([r[6] for r in rows], dtype=bool)
    cost = weight * (eta + offload[k] + extra + advisory[k] + level - config.switch_margin_s) + cover * eta
    over = config.full_penalty_s * weight**2
    left = places[k] - taken  # the beds left once the others arrive
    risk = np.where(left <= 0, 1.0, gammainc(np.maximum(left, 1), per_hour[k] * eta / 3600.0))
    bed = np.where(needs_bed, weight * config.unknown_beds_penalty_s * doubt[k] + risk * over, 0.0)
    room = team_room & (~needs_bed | (np.maximum(left, 0) > 0))
    stay = np.where(room, np.minimum(np.rint(cost + bed), np.rint(cost + over)), np.rint(cost + over))
    floor = weight * board.min_offload_s
    return ((stay + 2.0 - floor) / weight).tolist()  # type: ignore[no-any-return]


def _horizon(
    case: PatientCase,
    board: _Board,
    beds: Mapping[str, int],
    teams: Mapping[tuple[str, Pathway], int],
    holds_bed: bool,
    holds_team: Pathway | None,
) -> float:
    config, current = board.config, case.current
    k = None if current is None else board.index.get(current)
    if current is None or k is None or current in case.declined or not board.is_open[k]:
        return math.inf
    eta = case.eta_s.get(current, math.inf)
    if not math.isfinite(eta):
        return math.inf
    centre, weight = board.centres[k], case.weight
    pathways = sorted(case.pathways(), key=lambda p: (PATHWAYS[p].priority, p.value))
    if current in board.closed:
        # on diversion: a candidate only while no open one is within the margin of it (R-CLOSED); X within the margin
        # of it may change that, and the horizon reaches that far
        walk = _walk(case, board)
        if walk is None:
            return math.inf
        _current(walk, board)
        if current not in walk.arcs:
            return math.inf  # not a candidate now: the case moves whatever the news
    if Pathway.CARDIAC_ARREST in pathways or case.unstable:  # time wins: the drive is the cost, beds ignored
        return _reach(case, board, (weight * (eta - config.switch_margin_s) + 1.0) / weight, 0.0)
    tiered = tuple(PATHWAYS[p] for p in pathways if PATHWAYS[p].tiers)
    bound, soft, fit = 0.0, case.critical and not case.hard_critical, _ANY
    if tiered:
        first = board.combo(centre, tiered)
        if first is not None and first.tier == 0 and eta <= min(s.time_bound_s for s in tiered):
            # on the first tier of every pathway within the bound: the best tier stays the first whatever X says
            fit, soft = first, False
        else:
            # not plainly: decide the route as plan does; X within the bound may change the tier (R-TIER, R-NONE)
            bound = max(s.time_bound_s for s in tiered)
            walk = _walk(case, board)
            found = None if walk is None or walk.words is not None else board.combo(centre, walk.specs)
            if walk is None or found is None or found.tier != walk.best:
                return math.inf  # not a candidate now: the case moves whatever the news
            fit, soft = found, walk.soft
    cost = _arc_cost(case, centre, fit, board, soft)
    taken = beds.get(current, 0) - (1 if holds_bed else 0)
    room = not fit.needs_bed or _bed_capacity(centre, taken, config) > 0
    if fit.team is not None:
        others = teams.get((current, fit.team), 0) - (1 if holds_team is fit.team else 0)
        room = room and others < (PATHWAYS[fit.team].slots or 0)
    bed = _bed_cost(case, centre, taken, config) if fit.needs_bed else 0.0
    beyond = _int(cost + _overflow(case, config))
    stay = min(_int(cost + bed), beyond) if room else beyond
    floor = weight * board.min_offload_s  # no arc costs less than the weighted drive (R-COVER adds, never takes)
    return _reach(case, board, (stay + 1.0 - floor) / weight, bound)


def _reach(case: PatientCase, board: _Board, scope: float, bound: float) -> float:
    """The horizon of a case whose choice costs no more than a centre ``scope`` away at least costs, and whose
    tiers X's news may change within ``bound``: a centre on diversion within the scope (or the current
    destination, on diversion) can be allowed or not by X's news when X is within ``closed_margin_s`` of it."""
    margin, eta = board.config.closed_margin_s, case.eta_s
    current = case.current if case.current in board.closed else None
    near = current is not None or any(eta.get(hpid, math.inf) <= scope for hpid in board.closed)
    return max(bound, scope + margin if near else scope, eta[current] + margin if current is not None else 0.0)


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
    ``cases``; ``teams_elsewhere``: those already taking a centre's pathway team (cath lab ...).

    With ``config.prune`` (the default) each case's arcs are built only for the centres that can matter: the
    choices are those of the plan that examines every centre ("Pruning" in the module docstring)."""
    by_id, board = _board(centres, config)
    order = sorted(cases, key=lambda c: c.unit_id)
    held = _Held(dict(inbound_elsewhere or {}), dict(teams_elsewhere or {}))
    walks: list[_Walk | None] = [None] * len(order)
    if config.prune:
        walks = [_walk(case, board) for case in order]
        for walk in walks:
            if walk is not None:
                _ensure(walk, board)  # the current destination and the three cheapest: enough to decide first
                # and, to spare the flow a round, as far as a candidate with a place left (the flow decides)
                while not any(_room(arc, by_id, held, config) for arc in walk.arcs.values()) and _step(walk, board):
                    pass
    routes = [_route(case, board) if walk is None else walk.route() for case, walk in zip(order, walks, strict=True)]
    chosen = _decided_first(order, routes, held)
    seated = set(chosen)  # cases that took a free bed or team (the others go beyond them)
    flowing = [i for i, route in enumerate(routes) if route.arcs and i not in chosen]
    prices: dict[tuple[int, str], tuple[int, int]] = {}
    while True:
        flow = _Flow([(order[i], routes[i]) for i in flowing], by_id, held, config, prices)
        # Pruned: optimal over the arcs examined; optimal over every arc when no arc left unexamined could lower
        # the cost (its reduced cost under the flow's potentials would be negative). Otherwise look farther.
        farther = [(i, walk, reach) for i, reach in zip(flowing, flow.reach(), strict=True)
                   if (walk := walks[i]) is not None and walk.frontier() <= reach]  # fmt: skip
        if not farther:
            break
        for i, walk, reach in farther:
            _ensure(walk, board, reach)
            routes[i] = walk.route()
    for i, hpid, took in flow.found():
        chosen[flowing[i]] = hpid
        if took:
            seated.add(flowing[i])
            held.take(hpid, flow.team(i), bed=flow.needs_bed(i))
    choices = []
    for i, case in enumerate(order):
        if i in chosen:
            choices.append(_choice(case, routes[i], chosen[i], i in seated, by_id, held, config))
    return choices


def _decided_first(order: Sequence[PatientCase], routes: Sequence[_Route], held: _Held) -> dict[int, str]:
    """The cases decided before the joint flow, their beds and teams added to ``held``."""
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
    return chosen


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


class _Flow:
    """The joint min-cost flow of the cases' routes, solved (OR-Tools): who goes where, through the beds or team
    or beyond them, and how far each case's unexamined arcs must stay for the assignment to be optimal over every
    arc (:meth:`reach`). ``prices``: the arcs' integer costs worked out by an earlier flow of the same cases
    (a pruned plan solves again with more arcs), by (case index, centre); filled in here.

    Ties are broken by the problem, not by the solver: every arc's cost (whole seconds) is scaled by more than the
    sum of the tie-break terms any assignment can have, and the term (case rank) × (centre rank; beyond the beds
    ranked after every centre) added. Among assignments of equal cost one is then cheapest (in practice), and the
    same whichever arcs no optimal assignment uses are left out (pruning). A flow too large for the scaled costs to
    stay well within 64 bits (thousands of patients at once) goes without: ties are then the solver's."""

    def __init__(
        self,
        cases: Sequence[tuple[PatientCase, _Route]],
        by_id: Mapping[str, CentreView],
        held: _Held,
        config: RouterConfig,
        prices: dict[tuple[int, str], tuple[int, int]] | None = None,
    ) -> None:
        from ortools.graph.python import min_cost_flow

        prices = {} if prices is None else prices
        rank = {hpid: k + 1 for k, hpid in enumerate(sorted(by_id))}
        span = len(rank)
        sink = len(cases)
        nodes: dict[_Node, int] = {}  # a centre's ER beds (None) and its pathway teams
        through_er: dict[_Node, bool] = {}  # an assumed team's patients also need an ER bed
        priced: list[list[tuple[_Arc, _Node, tuple[int, int]]]] = []
        for i, (case, route) in enumerate(cases):
            row = []
            for arc in route.arcs:
                key = (arc.hpid, arc.team)
                if key not in nodes:
                    nodes[key] = sink + 1 + len(nodes)
                if arc.team is not None:
                    through_er[key] = arc.needs_bed
                    if arc.needs_bed and (arc.hpid, None) not in nodes:
                        nodes[(arc.hpid, None)] = sink + 1 + len(nodes)
                price = prices.get((i, arc.hpid))
                if price is None:
                    bed = _bed_cost(case, by_id[arc.hpid], held.beds.get(arc.hpid, 0), config) if arc.needs_bed else 0.0
                    # beyond the free beds or team: still possible, at this patient's own price (R-PRIORITY)
                    price = prices[(i, arc.hpid)] = (_int(arc.cost + bed), _int(arc.cost + _overflow(case, config)))
                row.append((arc, key, price))
            priced.append(row)
        largest = max((max(abs(p[0]), abs(p[1])) for row in priced for _, _, p in row), default=0)
        self.scale = scale = 2 * len(cases) ** 2 * span + 1
        if (largest + 1) * scale * (sink + len(nodes) + 2) >= 2**62:
            scale = self.scale = 1  # too large to scale safely: no tie-break
        #: per case, its arcs: (arc, node, cost through the beds or team, cost beyond them)
        self.arcs: list[list[tuple[_Arc, _Node, int, int]]] = []
        tails: list[int] = []
        heads: list[int] = []
        costs: list[int] = []
        for i, row in enumerate(priced):
            arcs = []
            for arc, key, (seat_s, beyond_s) in row:
                tie = scale > 1
                seat = seat_s * scale + ((i + 1) * rank[arc.hpid] if tie else 0)
                beyond = beyond_s * scale + ((i + 1) * (rank[arc.hpid] + span) if tie else 0)
                tails += (i, i)
                heads += (nodes[key], sink)
                costs += (seat, beyond)
                arcs.append((arc, key, seat, beyond))
            self.arcs.append(arcs)
        #: per node: the node its patients go on to (None: the sink), and its free places
        self.next: dict[_Node, _Node | None] = {}
        self.free: dict[_Node, int] = {}
        capacities = [1] * len(tails)
        for key, index in nodes.items():
            hpid, team = key
            to, onward = sink, None
            if team is None:
                free = _bed_capacity(by_id[hpid], held.beds.get(hpid, 0), config)
            else:
                free = max(0, (PATHWAYS[team].slots or 0) - held.teams.get((hpid, team), 0))
                if through_er[key]:
                    onward = (hpid, None)
                    to = nodes[onward]
            self.next[key], self.free[key] = onward, free
            if free:
                tails.append(index)
                heads.append(to)
                capacities.append(free)
                costs.append(0)
        flow = min_cost_flow.SimpleMinCostFlow()
        if tails:
            flow.add_arcs_with_capacity_and_unit_cost(
                np.array(tails, dtype=np.int32),
                np.array(heads, dtype=np.int32),
                np.array(capacities, dtype=np.int64),
                np.array(costs, dtype=np.int64),
            )
        supplies = np.zeros(sink + 1 + len(nodes), dtype=np.int64)
        supplies[:sink] = 1
        supplies[sink] = -len(cases)
        flow.set_nodes_supplies(np.arange(len(supplies), dtype=np.int32), supplies)
        if cases and flow.solve() != flow.OPTIMAL:
            raise RouterError("destination assignment has no solution")
        #: per case: the index of its arc taken, and whether beyond the beds or team
        self.used: list[tuple[int, bool]] = []
        taken = np.flatnonzero(flow.flows(np.arange(2 * sum(len(a) for a in self.arcs), dtype=np.int32)) > 0).tolist()
        first = 0
        for arcs, index in zip(self.arcs, taken, strict=True):  # one unit of flow per case, on its own arcs
            k, beyond = divmod(index - first, 2)
            self.used.append((k, beyond == 1))
            first += 2 * len(arcs)

    def found(self) -> list[tuple[int, str, bool]]:
        """(case index, centre, took a free bed or team — not beyond them) for every case."""
        return [(i, self.arcs[i][k][0].hpid, not beyond) for i, (k, beyond) in enumerate(self.used)]

    def team(self, i: int) -> Pathway | None:
        return self.arcs[i][self.used[i][0]][0].team

    def needs_bed(self, i: int) -> bool:
        return self.arcs[i][self.used[i][0]][0].needs_bed

    def reach(self) -> list[float]:
        """For each case, the cost (weighted seconds) below which an arc not in the flow could make a cheaper
        assignment: the assignment is optimal over every arc when each case's unexamined arcs cost more.

        Potentials: shortest distances in the residual graph from a root joined to every node but the cases at
        cost 0 (the flow is optimal: no negative cycle). Every node then has a potential of 0 or less, a node not
        in the flow can be given 0, and an arc from case i costing c has a reduced cost of at least c + π(i): it
        cannot lower the cost when c ≥ -π(i). π(i) is the potential of the node of its arc taken less that arc's
        cost (its only way in)."""
        sink: _Node = ("", None)
        used = self._used()
        # the residual graph between nodes: through a case (back along its arc taken, out along another) ...
        holding: dict[_Node, list[int]] = {}  # node -> the cases whose arc taken ends there (sink: beyond)
        onwards: list[list[tuple[_Node, int]]] = []  # case -> (node, cost) of its arcs not taken
        for i, (arcs, (taken, beyond)) in enumerate(zip(self.arcs, self.used, strict=True)):
            holding.setdefault(sink if beyond else arcs[taken][1], []).append(i)
            onwards.append(
                [(key, seat) for k, (_, key, seat, _) in enumerate(arcs) if k != taken or beyond]
                + [(sink, over) for k, (_, _, _, over) in enumerate(arcs) if k != taken or not beyond]
            )
        # ... and from a node to the next (free places left) or back (places taken), at no cost
        links: dict[_Node, list[_Node]] = {}
        for key, onward in self.next.items():
            to = sink if onward is None else onward
            if used.get(key, 0) < self.free[key]:
                links.setdefault(key, []).append(to)
            if used.get(key, 0) > 0:
                links.setdefault(to, []).append(key)
        potential: dict[_Node, int] = dict.fromkeys(self.next, 0)
        potential[sink] = 0
        queue, queued = deque(potential), set(potential)  # shortest paths with negative arcs (SPFA)
        while queue:
            node = queue.popleft()
            queued.discard(node)
            here = potential[node]
            reached = [(to, here) for to in links.get(node, ())]
            for i in holding.get(node, ()):
                k, beyond = self.used[i]
                mine = here - (self.arcs[i][k][3] if beyond else self.arcs[i][k][2])
                reached += [(to, mine + cost) for to, cost in onwards[i]]
            for to, distance in reached:
                if distance < potential[to]:
                    potential[to] = distance
                    if to not in queued:
                        queue.append(to)
                        queued.add(to)
        own = []
        for arcs, (k, beyond) in zip(self.arcs, self.used, strict=True):
            _, key, seat, over = arcs[k]
            own.append(potential[sink] - over if beyond else potential[key] - seat)
        return [-mine / self.scale + 1.0 for mine in own]

    def _used(self) -> dict[_Node, int]:
        """Patients through each node (a team's through the ER count at the ER beds too)."""
        used: dict[_Node, int] = {}
        for arcs, (k, beyond) in zip(self.arcs, self.used, strict=True):
            if not beyond:
                key: _Node | None = arcs[k][1]
                while key is not None:
                    used[key] = used.get(key, 0) + 1
                    key = self.next[key]
        return used


#: A centre's ER beds (team None) or one of its pathway teams: a node of the joint flow.
_Node = tuple[str, Pathway | None]


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
