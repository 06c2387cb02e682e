"""The joint assignment: the patients decided first (time wins, R-PROMISE), the min-cost flow of the others'
routes through the beds and teams left (R-PRIORITY, R-TIE) with how far each patient's arcs not examined must
stay for it to be optimal (R-PRUNE), and the advice in the crew's words.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from dispatch import explain
from dispatch.beds import bed_capacity, bed_cost, effective_beds, overflow
from dispatch.candidates import Arc, Route
from dispatch.centre_view import CentreView
from dispatch.explain import Text, say
from dispatch.pathways import ITEM_WORDS, PATHWAYS, Pathway
from dispatch.router_types import Choice, Mode, Option, PatientCase, RouterConfig, RouterError
from telemetry.schemas import TrafficStatus

# --- the joint assignment -------------------------------------------------------------------------


#: Modes where time wins: the nearest, whatever the beds (decided before the joint flow).
_TIME_WINS = (Mode.NEAREST, Mode.ALL_DECLINED)


def decided_first(order: Sequence[PatientCase], routes: Sequence[Route], held: Held) -> dict[int, str]:
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
class Held:
    """ER beds and pathway teams taken at each centre by patients already decided."""

    beds: dict[str, int]
    teams: dict[tuple[str, Pathway], int]

    def take(self, hpid: str, team: Pathway | None, *, bed: bool) -> None:
        if bed:
            self.beds[hpid] = self.beds.get(hpid, 0) + 1
        if team is not None:
            self.teams[(hpid, team)] = self.teams.get((hpid, team), 0) + 1


class Flow:
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
        cases: Sequence[tuple[PatientCase, Route]],
        by_id: Mapping[str, CentreView],
        held: Held,
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
        priced: list[list[tuple[Arc, _Node, tuple[int, int]]]] = []
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
                    bed = bed_cost(case, by_id[arc.hpid], held.beds.get(arc.hpid, 0), config) if arc.needs_bed else 0.0
                    # beyond the free beds or team: still possible, at this patient's own price (R-PRIORITY)
                    price = prices[(i, arc.hpid)] = (
                        int_cost(arc.cost + bed),
                        int_cost(arc.cost + overflow(case, config)),
                    )
                row.append((arc, key, price))
            priced.append(row)
        largest = max((max(abs(p[0]), abs(p[1])) for row in priced for _, _, p in row), default=0)
        self.scale = scale = 2 * len(cases) ** 2 * span + 1
        if (largest + 1) * scale * (sink + len(nodes) + 2) >= 2**62:
            scale = self.scale = 1  # too large to scale safely: no tie-break
        #: per case, its arcs: (arc, node, cost through the beds or team, cost beyond them)
        self.arcs: list[list[tuple[Arc, _Node, int, int]]] = []
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
                free = bed_capacity(by_id[hpid], held.beds.get(hpid, 0), config)
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


def choice(
    case: PatientCase,
    route: Route,
    hpid: str,
    seated: bool,
    by_id: Mapping[str, CentreView],
    held: Held,
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


def int_cost(seconds: float) -> int:
    return round(seconds)


def _option(
    case: PatientCase,
    centre: CentreView,
    arc: Arc,
    seated: bool,
    held: Held,
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
