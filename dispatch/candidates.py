"""Each patient's candidates: the centres as one plan sees them (:class:`Board`), where a centre stands on a
patient's pathways (R-TIER, R-TEAM), the mode and the arcs of a patient's route (R-ARREST ... R-NONE,
R-CLOSED) and what each arc costs (R-CRIT, R-STABLE, R-COVER).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from dispatch import explain
from dispatch.beds import reported_beds
from dispatch.centre_view import CentreView, Datum, State
from dispatch.explain import Text, say
from dispatch.pathways import ITEM_WORDS, PATHWAYS, Item, Pathway, PathwaySpec
from dispatch.router_types import Mode, PatientCase, RouterConfig
from telemetry.schemas import TrafficStatus

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


# --- candidates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arc:
    hpid: str
    cost: float  # weighted seconds, before the bed or team it takes
    texts: tuple[Text, ...]  # what the centre offers this patient
    drawbacks: tuple[Text, ...]
    team: Pathway | None  # the pathway team and room it takes (None: none)
    needs_bed: bool = True  # an ER bed too: all but a declared team, which takes the patient straight in


@dataclass(frozen=True)
class Route:
    arcs: tuple[Arc, ...]
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


class Board:
    """The centres as every patient of one plan sees them: judged once per plan, not once per patient."""

    def __init__(self, centres: Sequence[CentreView], config: RouterConfig) -> None:
        self.config = config
        self.centres = centres
        self.is_open = [c.er_open(config) for c in centres]
        self.open = [c for c, is_open in zip(centres, self.is_open, strict=True) if is_open]
        self.closed = {c.hpid for c in centres if c.closed(config)}
        self._fits: dict[tuple[str, Pathway], _Fit | None] = {}
        self._combos: dict[tuple[str, tuple[Pathway, ...]], ComboFit | None] = {}
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

    def combo(self, centre: CentreView, specs: Sequence[PathwaySpec]) -> ComboFit | None:
        if not specs:
            return ANY
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


#: The last board built, with the very centre views it was built from: :func:`~dispatch.pruning.horizons` and
#: :func:`~dispatch.router.plan` called on the same views (the engine does, in one decision) judge every centre once.
#: A memo, not state: a board is a function of the views and the configuration (the views are compared by identity,
#: and held until replaced).
_last: tuple[tuple[CentreView, ...], RouterConfig, dict[str, CentreView], Board] | None = None


def board_of(centres: Sequence[CentreView], config: RouterConfig) -> tuple[dict[str, CentreView], Board]:
    global _last
    last = _last
    same = last is not None and last[1] is config and len(last[0]) == len(centres)
    if last is not None and same and all(a is b for a, b in zip(last[0], centres, strict=True)):
        return last[2], last[3]
    by_id = {c.hpid: c for c in sorted(centres, key=lambda c: c.hpid)}
    board = Board(list(by_id.values()), config)
    _last = (tuple(centres), config, by_id, board)
    return by_id, board


def route(case: PatientCase, board: Board) -> Route:
    """Which centres this patient may go to, at what cost, and in which mode (R-TIER ... R-NONE)."""
    eta = case.eta_s
    reachable = [c for c in board.open if math.isfinite(eta.get(c.hpid, math.inf)) and c.hpid not in case.declined]
    pathways = sorted(case.pathways(), key=lambda p: (PATHWAYS[p].priority, p.value))
    if Pathway.CARDIAC_ARREST in pathways or case.unstable:
        words = say("arrest") if Pathway.CARDIAC_ARREST in pathways else say("unstable")
        kept = board.config.switch_margin_s  # R-STABLE: no turn en route for an ER barely nearer
        arcs = tuple(
            Arc(c.hpid, case.weight * (eta[c.hpid] - (kept if c.hpid == case.current else 0.0)), (words,), (), None)
            for c in board.open_or_only(reachable, eta)
        )
        if arcs:
            return Route(arcs, Mode.NEAREST, pathways[0])
        return _all_declined(case, board.centres)
    tiered = [PATHWAYS[p] for p in pathways if PATHWAYS[p].tiers]
    if not tiered:
        arcs = _definitive(case, reachable, [], board)
        return Route(arcs, Mode.DEFINITIVE, pathways[0]) if arcs else _all_declined(case, board.centres)
    # every pathway at once; when no centre meets them all, the most time-critical alone
    for specs in [tiered, *([tiered[:1]] if len(tiered) > 1 else [])]:
        arcs = _definitive(case, reachable, specs, board)
        if arcs:
            unmet = tuple(s.pathway for s in tiered if s not in specs)
            mode = Mode.PARTIAL if unmet else Mode.DEFINITIVE
            return Route(arcs, mode, specs[0].pathway, unmet, PATHWAYS[unmet[0]].when_none if unmet else None)
    # R-NONE: no centre fits within the bound; the nearest that can stabilise, and say so.
    arcs = _definitive(case, reachable, [], board, stabilise=True)
    if not arcs:
        return _all_declined(case, board.centres)
    return Route(arcs, Mode.STABILISE, tiered[0].pathway, tuple(s.pathway for s in tiered), tiered[0].when_none)


def _all_declined(case: PatientCase, centres: Sequence[CentreView]) -> Route:
    """Every reachable centre declined or shut: name the nearest, and hand the choice to the control room."""
    eta = case.eta_s
    reachable = sorted((c for c in centres if math.isfinite(eta.get(c.hpid, math.inf))), key=lambda c: eta[c.hpid])
    arcs = tuple(Arc(c.hpid, case.weight * eta[c.hpid], (), (), None) for c in reachable[:3])
    unmet = tuple(sorted(case.pathways(), key=lambda p: (PATHWAYS[p].priority, p.value)))  # one order in every process
    return Route(arcs, Mode.ALL_DECLINED, None, unmet, say("all_declined"))


def _definitive(
    case: PatientCase,
    reachable: Sequence[CentreView],
    specs: Sequence[PathwaySpec],
    board: Board,
    *,
    stabilise: bool = False,
) -> tuple[Arc, ...]:
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
    return tuple(arc(case, centre, fit, board, soft, stabilise) for centre, fit in fits if centre.hpid in allowed)


@dataclass(frozen=True)
class ComboFit:
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
ANY = ComboFit(0, 0.0, (), (), None, True)


def _combo_fit(centre: CentreView, specs: Sequence[PathwaySpec], board: Board) -> ComboFit | None:
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
    return ComboFit(tier, extra, tuple(texts), tuple(notes), team, needs_bed)


def arc(case: PatientCase, centre: CentreView, fit: ComboFit, board: Board, soft: bool, stabilise: bool) -> Arc:
    """The arc of one candidate centre: its cost in weighted seconds, what it offers, its drawbacks."""
    minus = fit.drawbacks + ((say("not_regional"),) if soft and centre.level > 2 else ())
    shown = (say("stabilise_here"),) if stabilise else fit.offers
    return Arc(centre.hpid, arc_cost(case, centre, fit, board, soft), shown, minus, fit.team, fit.needs_bed)


def arc_cost(case: PatientCase, centre: CentreView, fit: ComboFit, board: Board, soft: bool) -> float:
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
