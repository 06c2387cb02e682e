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
  pruning; its candidates are then examined nearest first (:class:`~dispatch.pruning.Walk`): the current
  destination, the three cheapest (the crew sees three) and, for the joint flow, as far as a candidate with a place
  left. The flow is solved on the arcs examined; its potentials (shortest distances in the residual graph) give each
  patient the cost below which an arc not examined could lower the total (:meth:`~dispatch.flow.Flow.reach`). No
  arc costs less than the weighted drive, so a patient whose next candidate is farther than that is done; the
  others are examined that far and the flow solved again. Checked against the plan that examines every centre in
  ``tests/dispatch/test_router_pruning.py``.
- **R-TIE** Ties between assignments of equal cost (whole weighted seconds) are broken by the problem, not by the
  solver (:class:`~dispatch.flow.Flow`): the least sum of (patient's rank by unit id) × (centre's rank by hpid;
  beyond its beds or team, after every centre) wins, so the plan is the same with or without the arcs no optimal
  assignment uses, and whatever the input order. Equal sums, and a flow too large to scale within 64 bits, are
  left to the solver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dispatch.beds import bed_capacity
from dispatch.candidates import Arc, board_of, route
from dispatch.centre_view import CentreView
from dispatch.flow import Flow, Held, choice, decided_first
from dispatch.pathways import PATHWAYS, Pathway
from dispatch.pruning import Walk, ensure, horizons, step, walk_of
from dispatch.router_types import (
    SEVERITY_WEIGHT,
    Choice,
    Mode,
    Option,
    PatientCase,
    RouterConfig,
    RouterError,
    urgency,
)

#: The router's public API: :func:`plan` and :func:`horizons`, and the types they take and give.
__all__ = [
    "SEVERITY_WEIGHT",
    "Choice",
    "Mode",
    "Option",
    "PatientCase",
    "RouterConfig",
    "RouterError",
    "horizons",
    "plan",
    "urgency",
]


def plan(
    cases: Sequence[PatientCase],
    centres: Sequence[CentreView],
    *,
    inbound_elsewhere: Mapping[str, int] | None = None,
    teams_elsewhere: Mapping[tuple[str, Pathway], int] | None = None,
    config: RouterConfig = RouterConfig(),  # noqa: B008 (frozen: ruff sees it only where it is defined)
) -> list[Choice]:
    """Destinations for every case, chosen together (see the module docstring): one choice for
    every case that can reach any centre at all.

    ``inbound_elsewhere``: patients already heading to each centre's ER beds that are not in
    ``cases``; ``teams_elsewhere``: those already taking a centre's pathway team (cath lab ...).

    With ``config.prune`` (the default) each case's arcs are built only for the centres that can matter: the
    choices are those of the plan that examines every centre ("Pruning" in the module docstring)."""
    by_id, board = board_of(centres, config)
    order = sorted(cases, key=lambda c: c.unit_id)
    held = Held(dict(inbound_elsewhere or {}), dict(teams_elsewhere or {}))
    walks: list[Walk | None] = [None] * len(order)
    if config.prune:
        walks = [walk_of(case, board) for case in order]
        for walk in walks:
            if walk is not None:
                ensure(walk, board)  # the current destination and the three cheapest: enough to decide first
                # and, to spare the flow a round, as far as a candidate with a place left (the flow decides)
                while not any(_room(arc, by_id, held, config) for arc in walk.arcs.values()) and step(walk, board):
                    pass
    routes = [route(case, board) if walk is None else walk.route() for case, walk in zip(order, walks, strict=True)]
    chosen = decided_first(order, routes, held)
    seated = set(chosen)  # cases that took a free bed or team (the others go beyond them)
    flowing = [i for i, route in enumerate(routes) if route.arcs and i not in chosen]
    prices: dict[tuple[int, str], tuple[int, int]] = {}
    while True:
        flow = Flow([(order[i], routes[i]) for i in flowing], by_id, held, config, prices)
        # Pruned: optimal over the arcs examined; optimal over every arc when no arc left unexamined could lower
        # the cost (its reduced cost under the flow's potentials would be negative). Otherwise look farther.
        farther = [(i, walk, reach) for i, reach in zip(flowing, flow.reach(), strict=True)
                   if (walk := walks[i]) is not None and walk.frontier() <= reach]  # fmt: skip
        if not farther:
            break
        for i, walk, reach in farther:
            ensure(walk, board, reach)
            routes[i] = walk.route()
    for i, hpid, took in flow.found():
        chosen[flowing[i]] = hpid
        if took:
            seated.add(flowing[i])
            held.take(hpid, flow.team(i), bed=flow.needs_bed(i))
    choices = []
    for i, case in enumerate(order):
        if i in chosen:
            choices.append(choice(case, routes[i], chosen[i], i in seated, by_id, held, config))
    return choices


def _room(arc: Arc, by_id: Mapping[str, CentreView], held: Held, config: RouterConfig) -> bool:
    """Whether the arc's centre has a place left for one more patient (a bed, or its team), before this plan."""
    if arc.team is not None and held.teams.get((arc.hpid, arc.team), 0) >= (PATHWAYS[arc.team].slots or 0):
        return False
    return not arc.needs_bed or bed_capacity(by_id[arc.hpid], held.beds.get(arc.hpid, 0), config) > 0
