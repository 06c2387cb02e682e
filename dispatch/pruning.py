"""Pruning (R-PRUNE): each case's candidates examined nearest first, only as far as they can matter
(:class:`Walk`); and how far a centre's news reaches (:func:`horizons`, for :mod:`dispatch.replan`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from dispatch.beds import bed_capacity, bed_cost, overflow
from dispatch.candidates import ANY, Arc, Board, ComboFit, FloatArray, IntArray, Route, arc, arc_cost, board_of
from dispatch.centre_view import CentreView
from dispatch.explain import Text, say
from dispatch.flow import int_cost
from dispatch.pathways import PATHWAYS, Pathway, PathwaySpec
from dispatch.router_types import Mode, PatientCase, RouterConfig

# --- pruning: each case's candidates nearest first, only as far as they can matter -----------------------


@dataclass(eq=False)
class Walk:
    """A case's candidates (the centres :func:`~dispatch.candidates.route` gives arcs) examined nearest first, so
    that a plan builds the arcs of only the centres that can matter (:func:`ensure`). The mode, pathway and tier
    are decided first (:func:`walk_of`), as :func:`~dispatch.candidates.route` decides them."""

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
    arcs: dict[str, Arc] = field(default_factory=dict)  # the candidates examined, by hpid
    pos: int = 0  # the next position in ``order``
    open_best: float = math.inf  # the ETA of the nearest candidate not on diversion, once seen (R-CLOSED)
    waiting: list[int] = field(default_factory=list)  # candidates on diversion seen before it: undecided
    cheapest: list[float] = field(default_factory=list)  # the three lowest costs examined

    @property
    def third(self) -> float:
        """The third lowest cost examined: inf with fewer."""
        return self.cheapest[2] if len(self.cheapest) == 3 else math.inf

    def keep(self, arc: Arc) -> None:
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

    def route(self, keep: Iterable[Arc] | None = None) -> Route:
        arcs = self.arcs.values() if keep is None else keep
        return Route(tuple(sorted(arcs, key=lambda a: a.hpid)), self.mode, self.pathway, self.unmet, self.notice)


def walk_of(case: PatientCase, board: Board) -> Walk | None:
    """The case's route decided as :func:`~dispatch.candidates.route` decides it (R-ARREST, R-UNSTABLE, R-TIER,
    R-NONE), its candidates left to examine; None when every reachable centre was declined (all declined:
    :func:`~dispatch.candidates.route`)."""
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
        return Walk(case, eta, declined, Mode.NEAREST, pathways[0], (), None, (), 0, words,
                     False, False, weight, 0.0)  # fmt: skip
    # every other arc costs at least the weighted drive, offload (never below 0 in a report) and R-COVER
    slope = weight + (0.0 if case.critical else config.coverage_s_per_s * case.cover_gap * 2.0)
    floor = weight * board.min_offload_s
    soft = case.critical and not case.hard_critical  # R-CRIT, for the patients no tiered pathway holds

    def walk(mode: Mode, pathway: Pathway, unmet: tuple[Pathway, ...], notice: Text | None,
             specs: tuple[PathwaySpec, ...], best: int, stabilise: bool) -> Walk:  # fmt: skip
        return Walk(case, eta, declined, mode, pathway, unmet, notice, specs, best, None,
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


def _best_within(eta: FloatArray, declined: frozenset[int], specs: Sequence[PathwaySpec], board: Board) -> int | None:
    """R-TIER: the best tier any reachable centre within the drive bound of ``specs`` is on (None: none is)."""
    within = np.flatnonzero((eta <= min(s.time_bound_s for s in specs)) & board.open_mask)
    if declined:
        within = within[~np.isin(within, list(declined))]
    tiers = board.tiers(specs, within, eta)
    fitting = tiers[tiers >= 0]
    return int(fitting.min()) if fitting.size else None


def step(walk: Walk, board: Board) -> bool:
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
    fit = ANY if walk.words is not None else board.combo(centre, walk.specs)
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


def _settle(walk: Walk, board: Board, eta: float) -> None:
    """Candidates on diversion seen before any open one, decided once every centre nearer than ``eta`` was examined
    and none was open: the nearest open candidate is then ``eta`` away or farther."""
    if walk.open_best < math.inf:
        return
    margin = board.config.closed_margin_s
    while walk.waiting and eta > walk.eta[walk.waiting[0]] + margin:
        _add(walk, board, walk.waiting.pop(0))


def _add(walk: Walk, board: Board, k: int) -> None:
    centre, case = board.centres[k], walk.case
    if centre.hpid in walk.arcs:
        return
    if walk.words is not None:
        kept = board.config.switch_margin_s if centre.hpid == case.current else 0.0
        walk.keep(Arc(centre.hpid, case.weight * (case.eta_s[centre.hpid] - kept), (walk.words,), (), None))
        return
    fit = board.combo(centre, walk.specs)
    assert fit is not None
    walk.keep(arc(case, centre, fit, board, walk.soft, walk.stabilise))


def _current(walk: Walk, board: Board) -> None:
    """Examine the current destination when it is a candidate, wherever it is: R-STABLE's margin may make it
    cheaper than candidates nearer."""
    current = walk.case.current
    k = None if current is None else board.index.get(current)
    if k is None or current in walk.arcs or not board.is_open[k] or k in walk.declined:
        return
    eta = float(walk.eta[k])
    fit = ANY if walk.words is not None else board.combo(board.centres[k], walk.specs)
    if not math.isfinite(eta) or fit is None or fit.tier != walk.best:
        return
    if current in board.closed:
        # a candidate only while no open one is within the margin: look that far (it is then examined, or not one)
        limit = eta + board.config.closed_margin_s
        while walk.open_best == math.inf and walk.pos < len(walk.order) and walk.sorted_eta[walk.pos] <= limit:
            step(walk, board)
        _settle(walk, board, walk.sorted_eta[walk.pos] if walk.pos < len(walk.order) else math.inf)
        return
    _add(walk, board, k)


def ensure(walk: Walk, board: Board, target: float = -math.inf) -> None:
    """Examine the current destination, the three cheapest candidates (the crew is shown three) and every
    candidate that could cost ``target`` or less."""
    _current(walk, board)
    while walk.frontier() <= max(target, walk.third) and step(walk, board):
        pass


# --- how far a centre's news reaches (dispatch.replan) --------------------------------------------------------


def horizons(
    cases: Sequence[PatientCase],
    centres: Sequence[CentreView],
    *,
    inbound: Mapping[str, int] | None = None,
    teams: Mapping[tuple[str, Pathway], int] | None = None,
    holding: Sequence[tuple[bool, Pathway | None]] | None = None,
    config: RouterConfig = RouterConfig(),  # noqa: B008 (frozen: ruff sees it only where it is defined)
) -> list[float]:
    """For each case (``current``: where it is advised to go), an ETA beyond which news about a centre — a
    capacity report, a decline's reason — cannot change the destination :func:`~dispatch.router.plan` gives the case
    planned alone, everyone else where they are: inf when any centre's news could (``current`` unknown, shut, on
    diversion, declined, or no longer one of its candidates: it would move anyway).

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
    _, board = board_of(centres, config)
    beds, team_count = dict(inbound or {}), dict(teams or {})
    found = [math.inf] * len(cases)
    plain: list[int] = []  # worked out together, below
    rows: list[tuple[PatientCase, int, float, ComboFit, bool, int, bool]] = []
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
    board: Board,
    beds: Mapping[str, int],
    teams: Mapping[tuple[str, Pathway], int],
    holds_bed: bool,
    holds_team: Pathway | None,
) -> tuple[int, float, ComboFit, bool, int, bool] | None:
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
    soft, fit = case.critical and not case.hard_critical, ANY
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


def _scopes(rows: Sequence[tuple[PatientCase, int, float, ComboFit, bool, int, bool]], board: Board) -> list[float]:
    """(stay + 1 - floor) / weight of each plain case (:func:`_plain`), as :func:`_horizon` works it out one by one
    (:func:`~dispatch.candidates.arc_cost`, :func:`~dispatch.beds.bed_cost`), for all of them at once; one second
    more for the sums taken in another order (a bound needs no more)."""
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
    board: Board,
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
        walk = walk_of(case, board)
        if walk is None:
            return math.inf
        _current(walk, board)
        if current not in walk.arcs:
            return math.inf  # not a candidate now: the case moves whatever the news
    if Pathway.CARDIAC_ARREST in pathways or case.unstable:  # time wins: the drive is the cost, beds ignored
        return _reach(case, board, (weight * (eta - config.switch_margin_s) + 1.0) / weight, 0.0)
    tiered = tuple(PATHWAYS[p] for p in pathways if PATHWAYS[p].tiers)
    bound, soft, fit = 0.0, case.critical and not case.hard_critical, ANY
    if tiered:
        first = board.combo(centre, tiered)
        if first is not None and first.tier == 0 and eta <= min(s.time_bound_s for s in tiered):
            # on the first tier of every pathway within the bound: the best tier stays the first whatever X says
            fit, soft = first, False
        else:
            # not plainly: decide the route as plan does; X within the bound may change the tier (R-TIER, R-NONE)
            bound = max(s.time_bound_s for s in tiered)
            walk = walk_of(case, board)
            found = None if walk is None or walk.words is not None else board.combo(centre, walk.specs)
            if walk is None or found is None or found.tier != walk.best:
                return math.inf  # not a candidate now: the case moves whatever the news
            fit, soft = found, walk.soft
    cost = arc_cost(case, centre, fit, board, soft)
    taken = beds.get(current, 0) - (1 if holds_bed else 0)
    room = not fit.needs_bed or bed_capacity(centre, taken, config) > 0
    if fit.team is not None:
        others = teams.get((current, fit.team), 0) - (1 if holds_team is fit.team else 0)
        room = room and others < (PATHWAYS[fit.team].slots or 0)
    bed = bed_cost(case, centre, taken, config) if fit.needs_bed else 0.0
    beyond = int_cost(cost + overflow(case, config))
    stay = min(int_cost(cost + bed), beyond) if room else beyond
    floor = weight * board.min_offload_s  # no arc costs less than the weighted drive (R-COVER adds, never takes)
    return _reach(case, board, (stay + 1.0 - floor) / weight, bound)


def _reach(case: PatientCase, board: Board, scope: float, bound: float) -> float:
    """The horizon of a case whose choice costs no more than a centre ``scope`` away at least costs, and whose
    tiers X's news may change within ``bound``: a centre on diversion within the scope (or the current
    destination, on diversion) can be allowed or not by X's news when X is within ``closed_margin_s`` of it."""
    margin, eta = board.config.closed_margin_s, case.eta_s
    current = case.current if case.current in board.closed else None
    near = current is not None or any(eta.get(hpid, math.inf) <= scope for hpid in board.closed)
    return max(bound, scope + margin if near else scope, eta[current] + margin if current is not None else 0.0)
