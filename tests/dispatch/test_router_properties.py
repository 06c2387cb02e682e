"""Properties of the destination choice (dispatch/router.py) over random cities, reports and patient mixes.

Each property is a check ``(city, choices) -> violations`` that computes what it expects on its own,
from the clinical table (``PATHWAYS``) and what a centre declared (``CentreView.datum()`` /
``Datum.state()``), never from the router's private functions. The checks run twice:

- as hypothesis tests (200 examples each, in the default run), which shrink a failure to a small city;
- in one slow test, ``-m slow``, over at least 100,000 instances of a seeded generator (the same
  generator: a violation names the seed that reproduces it)::

      .venv/bin/python -m pytest -q -m slow tests/dispatch/test_router_properties.py -s

  which prints ``FIGURE router-properties instances=N violations=V seconds=S``.

The properties:

1. every patient who can reach a centre is advised, once (R-NONE);
2. no declared-no choice while a yes or unknown centre is within the pathway's bound, and the chosen
   centre is on the best tier any reachable centre within the bound is on (R-TIER, R-NONE);
3. no priority inversion over ER beds (R-PRIORITY, R-BEDS), within the bounds derived below;
4. stability never keeps the infeasible: a current destination that was declined, shut its ER or left
   the candidates is not kept while another candidate exists (R-STABLE, R-CLOSED, R-ARREST);
5. determinism: the same inputs in another order give the same choices (R-STABLE);
6. old is never better than new: a centre not chosen for a patient is not chosen once its bed count or
   one of its "yes" declarations is older (R-DATUM).

What they found is kept as the smallest examples, named tests below the properties: a bed count that
grew stale escaped the walk-in risk a fresh one pays (property 6, fixed); and the arrest rule they pin
(property 4): a centre on diversion only when no open ER is within the margin.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.centre_view import CentreView, Datum, State
from dispatch.pathways import HARD_CRITICAL_P, PATHWAYS, Pathway, PathwaySpec, declared_items
from dispatch.router import Choice, Mode, PatientCase, RouterConfig, plan
from telemetry.schemas import Condition, Equipment, TrafficStatus
from tests.dispatch.test_router import NO_WALK_INS, NOW, one, patient, view

DEFAULT = RouterConfig()
HOUR = 3600.0
#: What a centre can declare: every condition and piece of equipment some pathway asks for, and the ER gate.
CONDITIONS = tuple(i.value for i in declared_items() if isinstance(i, Condition))
EQUIPMENT = tuple(i.value for i in declared_items() if isinstance(i, Equipment))
FLAGGED: tuple[Pathway, ...] = tuple(p for p in Pathway if p not in (Pathway.GENERAL_CRITICAL, Pathway.NON_CRITICAL))
#: Bounds of the cities the priority property runs on (see :func:`check_no_priority_inversion`).
PRIORITY_MAX_ETA_S = 60 * 60
MAX_OFFLOAD_MIN = 30


# --- random cities ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    centres: tuple[CentreView, ...]
    cases: tuple[PatientCase, ...]
    config: RouterConfig = DEFAULT


def _age(rng: random.Random) -> float:
    """A report's age: fresh, up to 2 h, or up to 12 h (bed counts are stale after 1 h, declarations after 6 h)."""
    bucket = rng.random()
    if bucket < 0.5:
        return rng.uniform(0.0, 600.0)
    if bucket < 0.8:
        return rng.uniform(600.0, 2 * HOUR)
    return rng.uniform(2 * HOUR, 12 * HOUR)


def _declared(rng: random.Random, yes: float, no: float) -> bool | None:
    r = rng.random()
    return True if r < yes else False if r < yes + no else None


def random_centre(rng: random.Random, hpid: str) -> CentreView:
    level = rng.randint(1, 4)
    trauma = rng.random() < (0.6 if level == 1 else 0.1)
    if rng.random() < 0.08:
        return view(hpid, level=level, trauma=trauma, never=True)
    kw: dict[str, Any] = {"age_s": _age(rng), "item_age_s": _age(rng), "traffic_age_s": _age(rng)}
    kw["overcrowded"] = rng.random() < 0.1  # an overcrowded ER reports no count (E-Gen hvec <= -2)
    beds = None if kw["overcrowded"] or rng.random() < 0.12 else rng.choice((0, 0, 1, 1, 1, 2, 2, 3, 4, 6))
    conditions = {c: _declared(rng, 0.4, 0.3) for c in CONDITIONS}
    conditions[Condition.ER_OPEN.value] = _declared(rng, 0.2, 0.12)
    kw["conditions"] = {c: v for c, v in conditions.items() if v is not None}
    equipment = {e: _declared(rng, 0.5, 0.25) for e in EQUIPMENT}
    kw["equipment"] = {e: v for e, v in equipment.items() if v is not None}
    if rng.random() < 0.4:
        kw["paediatric"] = rng.randint(0, 3)
    r = rng.random()
    kw["traffic"] = TrafficStatus.NORMAL if r < 0.7 else TrafficStatus.ADVISORY if r < 0.85 else TrafficStatus.CLOSED
    if rng.random() < 0.2:
        kw["expires_at"] = NOW + timedelta(minutes=rng.choice((-5, 30)))
    if rng.random() < 0.3:
        kw["offload_min"] = rng.randint(0, MAX_OFFLOAD_MIN)
    centre = view(hpid, level=level, beds=beds, trauma=trauma, **kw)
    if rng.random() < 0.3:  # every declaration of its own age
        centre = replace(centre, items={k: Datum(d.value, _age(rng)) for k, d in centre.items.items()})
    return centre


def random_case(rng: random.Random, unit: str, hpids: Sequence[str], max_eta_s: float) -> PatientCase:
    r = rng.random()
    needs: set[Pathway] = (
        set() if r < 0.35 else {rng.choice(list(Pathway))} if r < 0.85 else set(rng.sample(FLAGGED, 2))
    )
    eta: dict[str, float] = {}
    nowhere = rng.random() < 0.03  # a patient who can reach no centre at all
    for hpid in hpids:
        r = rng.random()
        if nowhere or r < 0.1:
            eta[hpid] = math.inf
        elif r >= 0.13:  # 0.1-0.13: not in the mapping (unreachable too)
            eta[hpid] = float(rng.randint(60, int(max_eta_s)))
    kw: dict[str, Any] = {
        "p_critical": None if rng.random() < 0.4 else rng.choice((0.0, 0.05, 0.3, 0.5, 0.7, 0.95, 1.0, rng.random())),
        "declined": frozenset(h for h in hpids if rng.random() < 0.08),
        "current": rng.choice(hpids) if rng.random() < 0.4 else None,
        "unstable": rng.random() < 0.08,
    }
    if rng.random() < 0.1:
        kw["critical"] = rng.random() < 0.5
    return patient(unit, eta=eta, ktas=rng.randint(1, 5), needs=needs, **kw)


def city_of(
    centre_seeds: Sequence[int],
    case_seeds: Sequence[int],
    *,
    max_eta_s: float = 90 * 60,
    config: RouterConfig = DEFAULT,
) -> City:
    """The city of these seeds: one centre per centre seed (C0, C1 ...), one patient per case seed (u00 ...).
    Hypothesis shrinks a failure to the fewest centres and patients, each from its own seed."""
    hpids = [f"C{i}" for i in range(len(centre_seeds))]
    centres = tuple(random_centre(random.Random(s), h) for s, h in zip(centre_seeds, hpids, strict=True))
    cases = tuple(random_case(random.Random(s), f"u{j:02d}", hpids, max_eta_s) for j, s in enumerate(case_seeds))
    return City(centres, cases, config)


def priority_city(centre_seeds: Sequence[int], case_seeds: Sequence[int]) -> City:
    """A city within the priority property's bounds: no walk-ins, ETAs within 60 min, offload within 30 min."""
    return city_of(centre_seeds, case_seeds, max_eta_s=PRIORITY_MAX_ETA_S, config=NO_WALK_INS)


def seeds_of(rng: random.Random) -> tuple[list[int], list[int]]:
    """1-8 centre seeds and 1-12 case seeds, for the seeded run."""
    centres = [rng.getrandbits(32) for _ in range(rng.randint(1, 8))]
    return centres, [rng.getrandbits(32) for _ in range(rng.randint(1, 12))]


def choose(city: City) -> list[Choice]:
    return plan(city.cases, city.centres, config=city.config)


# --- what the rules say, computed here from the table and the declarations ------------------------------------


def _finite(case: PatientCase, hpid: str) -> bool:
    return math.isfinite(case.eta_s.get(hpid, math.inf))


def _state(centre: CentreView, item: Any, config: RouterConfig) -> State:
    return centre.datum(item).state(config.declaration_half_life_s, config)


def er_shut(centre: CentreView, config: RouterConfig) -> bool:
    """MKioskTy28 declared no, and fresh."""
    return _state(centre, Condition.ER_OPEN, config) is State.NO


def reachable(case: PatientCase, centres: Sequence[CentreView], config: RouterConfig) -> list[CentreView]:
    """The centres the crew can go to: a finite ETA, not declined, ER not declared shut."""
    return [c for c in centres if _finite(case, c.hpid) and c.hpid not in case.declined and not er_shut(c, config)]


def tier_of(centre: CentreView, spec: PathwaySpec, config: RouterConfig) -> int | None:
    """The first tier of ``spec`` the centre is on (pathways.py: every group has an item not declared a
    fresh "no"), None: off every tier."""
    for index, tier in enumerate(spec.tiers):
        if all(any(_state(centre, item, config) is not State.NO for item in group) for group in tier.groups):
            return index
    return None


def nearest_first(case: PatientCase) -> bool:
    """Cardiac arrest or too unstable to travel: R-ARREST / R-UNSTABLE."""
    return case.unstable or Pathway.CARDIAC_ARREST in case.pathways()


def single_pathway(case: PatientCase) -> PathwaySpec | None:
    """The patient's one pathway, when it has one and is not sent to the nearest ER whatever the pathway."""
    pathways = case.pathways()
    if nearest_first(case) or len(pathways) != 1:
        return None
    return PATHWAYS[next(iter(pathways))]


def best_tier(case: PatientCase, spec: PathwaySpec, centres: Sequence[CentreView], config: RouterConfig) -> int | None:
    """The best tier any reachable centre within the pathway's bound is on (None: none is, or no tiers)."""
    tiers = [
        tier_of(c, spec, config) for c in reachable(case, centres, config) if case.eta_s[c.hpid] <= spec.time_bound_s
    ]
    return min((t for t in tiers if t is not None), default=None)


def candidates(case: PatientCase, centres: Sequence[CentreView], config: RouterConfig) -> list[CentreView] | None:
    """Where the rules let the patient go (None: a patient with several pathways; not computed here).

    R-ARREST / R-UNSTABLE: every reachable centre. R-TIER: the reachable centres on the best tier
    within the bound (past the bound too); R-NONE when there is none: every reachable centre.
    R-CLOSED (all of them): a centre on diversion only when no other candidate is within
    ``closed_margin_s`` of it."""
    reach = reachable(case, centres, config)
    spec = single_pathway(case)
    if nearest_first(case):
        fits = reach
    elif spec is None:
        return None
    else:
        best = best_tier(case, spec, centres, config)
        fits = reach if best is None else [c for c in reach if tier_of(c, spec, config) == best]
    open_best = min((case.eta_s[c.hpid] for c in fits if not c.closed(config)), default=math.inf)
    return [c for c in fits if not (c.closed(config) and open_best <= case.eta_s[c.hpid] + config.closed_margin_s)]


# --- the properties -----------------------------------------------------------------------------------------------


def check_every_patient_advised(city: City, choices: Sequence[Choice]) -> list[str]:
    """1. One choice per case that can reach a centre, none for the others; a destination it can reach;
    "every reachable centre declined" exactly when no centre is reachable."""
    out: list[str] = []
    ids = [c.unit_id for c in choices]
    if len(ids) != len(set(ids)):
        out.append(f"P1 a unit advised twice: {ids}")
    by_unit = {c.unit_id: c for c in choices}
    known = {c.hpid for c in city.centres}
    for case in city.cases:
        routable = any(_finite(case, h) for h in known)
        choice = by_unit.get(case.unit_id)
        if routable != (choice is not None):
            out.append(f"P1 {case.unit_id}: can reach a centre={routable}, advised={choice is not None}")
        if choice is None:
            continue
        if not _finite(case, choice.destination.hpid):
            out.append(f"P1 {case.unit_id}: sent to {choice.destination.hpid}, which it cannot reach")
        none_reachable = not reachable(case, city.centres, city.config)
        if none_reachable != (choice.mode is Mode.ALL_DECLINED):
            out.append(f"P1 {case.unit_id}: no centre reachable={none_reachable} but mode {choice.mode}")
    if set(by_unit) - {c.unit_id for c in city.cases}:
        out.append(f"P1 choices for units not asked: {set(by_unit) - {c.unit_id for c in city.cases}}")
    return out


def check_no_declared_no(city: City, choices: Sequence[Choice]) -> list[str]:
    """2. For a patient on one pathway (not arrest, not unstable): when a reachable centre within the
    bound is on a tier, the choice is definitive and on the best such tier (so never a declared "no",
    off every tier); when none is, the choice is STABILISE (ALL_DECLINED when nothing is reachable)."""
    out: list[str] = []
    config = city.config
    by_unit = {c.unit_id: c for c in choices}
    by_id = {c.hpid: c for c in city.centres}
    for case in city.cases:
        spec, choice = single_pathway(case), by_unit.get(case.unit_id)
        if spec is None or choice is None or choice.mode is Mode.ALL_DECLINED:
            continue  # ALL_DECLINED (nothing reachable) is property 1's
        chosen = by_id[choice.destination.hpid]
        tier = tier_of(chosen, spec, config) if spec.tiers else 0
        best = best_tier(case, spec, city.centres, config) if spec.tiers else 0
        if best is None:
            if choice.mode is not Mode.STABILISE:
                out.append(f"P2 {case.unit_id} ({spec.pathway}): no centre within the bound fits, mode {choice.mode}")
        elif choice.mode is not Mode.DEFINITIVE or tier != best:
            within = sorted(
                c.hpid
                for c in reachable(case, city.centres, config)
                if case.eta_s[c.hpid] <= spec.time_bound_s and tier_of(c, spec, config) == best
            )
            out.append(
                f"P2 {case.unit_id} ({spec.pathway}): sent to {chosen.hpid} (tier {tier}, mode {choice.mode}) "
                f"while {within} are on tier {best} within {spec.time_bound_s:g} s"
            )
    return out


def check_no_priority_inversion(city: City, choices: Sequence[Choice]) -> list[str]:
    """3. No priority inversion over ER beds (R-PRIORITY), in a city with no walk-ins, ETAs within 60 min
    and offload within 30 min.

    Observing beds: with no walk-ins, ``beds_on_arrival`` of an option is the reported count minus the
    patients seated there, the patient itself not counted. So a destination reading 0 is a patient
    that did *not* get a bed (seated, it would read at least 1), and an option or destination reading
    1 or more at X means X had a free bed after the others, or that patient holds one of X's beds.

    Why it must hold. Every arc of patient P to centre X costs c_P(X) = w_P × (drive + offload + extra
    [unknown items] + advisory + level [R-CRIT] − switch margin), plus, to take a bed, bed_P(X) ≤ w_P ×
    ``unknown_beds_penalty_s`` (the report's doubt; the walk-in term is 0 with no walk-ins and a
    free bed); beyond the beds, ``full_penalty_s`` F × w_P² instead. Arcs of one patient are all on
    one tier, so the tier penalty cancels and, within the bounds, c_P(X) − c_P(Y) + bed_P(X) ≤ w_P × S
    with S = 60 min drive + 30 min offload + 2 × ``unknown_penalty_s`` (a tier has 2 groups at most) +
    ``advisory_penalty_s`` + ``level_penalty_s`` × 0.5 (R-CRIT, p_critical below 0.5) +
    ``switch_margin_s`` + ``unknown_beds_penalty_s`` = 9,420 s (:func:`priority_spread_s`). Let A go
    without a bed to Y while X is among A's ER-bed candidates:

    - if X has a bed left, moving A there changes the cost by ≤ w_A × S − F w_A² < 0 since S < F
      (10,800 s) and w_A ≥ 1;
    - if B, with w_B ≤ w_A − 1, holds a bed at X, swapping (A takes it, B goes beyond the beds at X,
      B's own c_B(X) cancels) changes it by ≤ w_A × S − F (w_A² − w_B²) ≤ w_A S − F (2 w_A − 1) < 0
      since S < F (2 − 1/w_A), which is ≥ 1.5 F = 16,200 s as w_A ≥ w_B + 1 ≥ 2.

    Either way the flow was not of least cost (rounding to whole seconds moves it by 2 s at most).
    Patients A are on one pathway that uses ER beds (no team arc: ``slots`` None, or STABILISE)."""
    config = city.config
    assert all(v == 0.0 for v in config.arrivals_per_hour.values()), "the priority property needs no walk-ins"
    assert priority_spread_s(config) < config.full_penalty_s
    out: list[str] = []
    by_unit = {c.unit_id: c for c in choices}
    for a in city.cases:
        spec, ca = single_pathway(a), by_unit.get(a.unit_id)
        if spec is None or ca is None or not ca.takes_bed or ca.destination.beds_on_arrival != 0:
            continue  # only a patient on ER beds that got none
        if ca.mode is not Mode.STABILISE and not (ca.mode is Mode.DEFINITIVE and spec.slots is None):
            continue  # a team pathway: some of its arcs may take the team, not a bed
        assert all(a.eta_s[h] <= PRIORITY_MAX_ETA_S for h in a.eta_s if _finite(a, h))
        for alt in ca.alternatives:
            if alt.beds_on_arrival is not None and alt.beds_on_arrival >= 1:
                out.append(
                    f"P3 {a.unit_id} (w {a.weight:g}) has no bed at {ca.destination.hpid} while its alternative "
                    f"{alt.hpid} has {alt.beds_on_arrival} left"
                )
        allowed = {c.hpid for c in candidates(a, city.centres, config) or () if not c.closed(config)}
        for b in city.cases:
            cb = by_unit.get(b.unit_id)
            if b is a or cb is None or cb.destination.hpid not in allowed:
                continue
            on_arrival = cb.destination.beds_on_arrival
            if on_arrival is None or on_arrival < 1:
                continue
            if cb.mode in (Mode.NEAREST, Mode.ALL_DECLINED):
                continue  # time wins (R-ARREST, R-UNSTABLE): decided first, the bed is theirs whatever their urgency
            holds_bed = cb.takes_bed  # an ER bed, for an assumed team too (R-TEAM)
            if holds_bed and b.weight > a.weight - 1:
                continue  # B may hold that bed, and is not less urgent enough for the bound
            out.append(
                f"P3 {a.unit_id} (w {a.weight:g}) has no bed at {ca.destination.hpid} while "
                f"{b.unit_id} (w {b.weight:g}, {cb.mode}, team {cb.team}) reads {on_arrival} at its candidate "
                f"{cb.destination.hpid}"
            )
    return out


def priority_spread_s(config: RouterConfig) -> float:
    """S of :func:`check_no_priority_inversion`: how much more, per unit of urgency, one ER-bed arc of a
    patient can cost than another in a city within the bounds."""
    most_groups = max(len(t.groups) for s in PATHWAYS.values() if s.slots is None for t in s.tiers)
    return (
        PRIORITY_MAX_ETA_S
        + MAX_OFFLOAD_MIN * 60
        + most_groups * config.unknown_penalty_s
        + config.advisory_penalty_s
        + config.level_penalty_s * HARD_CRITICAL_P
        + config.switch_margin_s
        + config.unknown_beds_penalty_s
    )


def check_stability_never_keeps_the_infeasible(city: City, choices: Sequence[Choice]) -> list[str]:
    """4. A current destination that was declined or shut its ER, or (one pathway, or arrest/unstable)
    left the candidates (off-tier, a worse tier, on diversion with another candidate open within the
    margin — for arrest and unstable patients too, as docs/clinical_rules.md R-ARREST says) is not kept
    while another candidate exists."""
    out: list[str] = []
    config = city.config
    by_unit = {c.unit_id: c for c in choices}
    by_id = {c.hpid: c for c in city.centres}
    for case in city.cases:
        choice = by_unit.get(case.unit_id)
        if case.current is None or choice is None or choice.destination.hpid != case.current:
            continue
        if not reachable(case, city.centres, config):
            continue  # every reachable centre declined or shut: ALL_DECLINED names the nearest, any
        current = by_id[case.current]
        allowed = candidates(case, city.centres, config)
        if case.current in case.declined:
            out.append(f"P4 {case.unit_id} kept {case.current}, which declined it")
        elif er_shut(current, config):
            out.append(f"P4 {case.unit_id} kept {case.current}, whose ER is declared shut")
        elif allowed is not None and case.current not in {c.hpid for c in allowed}:
            out.append(
                f"P4 {case.unit_id} kept {case.current}, no longer a candidate ({sorted(c.hpid for c in allowed)} are)"
            )
    return out


def check_deterministic(city: City, choices: Sequence[Choice], rng: random.Random) -> list[str]:
    """5. The same patients and centres in another order: the same choices, word for word."""
    cases, centres = list(city.cases), list(city.centres)
    rng.shuffle(cases)
    rng.shuffle(centres)
    again = plan(cases, centres, config=city.config)
    if again == list(choices):
        return []
    first = {c.unit_id: c.destination.hpid for c in choices}
    second = {c.unit_id: c.destination.hpid for c in again}
    return [f"P5 another order, other choices: {first} vs {second} (or other words)"]


def older(centre: CentreView, rng: random.Random, config: RouterConfig) -> tuple[CentreView, str] | None:
    """The centre with one "yes" older: its bed count (1 bed or more, not overcrowded) or one declaration
    declared yes (None: nothing to make older). Half the time the age grows by up to 12 h, half the time
    to just past stale (up to 10 min past ``stale_after_half_lives`` half-lives), where the read changes."""
    choices: list[str] = [k for k, d in sorted(centre.items.items()) if d.value is True and d.age_s is not None]
    if centre.er_available and centre.er_available >= 1 and not centre.overcrowded and centre.beds_age_s is not None:
        choices.append("beds")
    if not choices:
        return None
    what = rng.choice(choices)
    age = centre.beds_age_s if what == "beds" else centre.items[what].age_s
    assert age is not None
    half = config.beds_half_life_s if what == "beds" else config.declaration_half_life_s
    stale = config.stale_after_half_lives * half
    new = age + rng.uniform(0.0, 12 * HOUR) if rng.random() < 0.5 else max(age, stale) + rng.uniform(1.0, 600.0)
    how = f"{what} {'count' if what == 'beds' else 'yes'} aged {age:.0f} -> {new:.0f} s"
    if what == "beds":
        return replace(centre, beds_age_s=new), how
    return replace(centre, items={**centre.items, what: Datum(True, new)}), how


def check_old_never_better(city: City, rng: random.Random) -> list[str]:
    """6. One patient alone: a centre it was not sent to is not chosen once one of its "yes" is older (a
    bed count of 1 or more, or a declaration: R-DATUM, an old yes costs more, never less). A "no" (or 0
    beds) that grows stale reads as unknown and may win: that is the rule, not checked here."""
    if not city.cases:
        return []
    case = rng.choice(city.cases)
    before = plan([case], city.centres, config=city.config)
    if not before:
        return []
    chosen = before[0].destination.hpid
    others = [c for c in city.centres if c.hpid != chosen and _finite(case, c.hpid)]
    if not others:
        return []
    target = rng.choice(others)
    aged = older(target, rng, city.config)
    if aged is None:
        return []
    centre, how = aged
    after = plan([case], [centre if c is target else c for c in city.centres], config=city.config)
    if after[0].destination.hpid != target.hpid:
        return []
    return [f"P6 {case.unit_id}: {chosen} chosen, but {target.hpid} once its {how} (mode {after[0].mode})"]


# --- the properties, 200 random cities each -------------------------------------------------------------------

SEED = st.integers(0, 2**32 - 1)
#: A city: its centres' seeds and its patients' seeds.
CITY = st.tuples(st.lists(SEED, min_size=1, max_size=8), st.lists(SEED, min_size=1, max_size=12))
Seeds = tuple[list[int], list[int]]


def _holds(found: list[str], city: City, seeds: Seeds, *more: int) -> None:
    """No violation; else the violations, the seeds that rebuild the city (hypothesis 6.170 prints its
    arguments blank under pytest) and the city itself."""
    assert not found, f"{found}\nseeds {seeds} {more}\n{city!r}"


@settings(max_examples=200, deadline=None)
@given(seeds=CITY)
def test_every_patient_who_can_reach_a_centre_is_advised_once(seeds: Seeds) -> None:
    city = city_of(*seeds)
    _holds(check_every_patient_advised(city, choose(city)), city, seeds)


@settings(max_examples=200, deadline=None)
@given(seeds=CITY)
def test_no_declared_no_is_chosen_while_a_yes_or_unknown_is_within_the_bound(seeds: Seeds) -> None:
    city = city_of(*seeds)
    _holds(check_no_declared_no(city, choose(city)), city, seeds)


@settings(max_examples=200, deadline=None)
@given(seeds=CITY)
def test_no_less_urgent_patient_takes_a_bed_a_more_urgent_one_then_lacks(seeds: Seeds) -> None:
    city = priority_city(*seeds)
    _holds(check_no_priority_inversion(city, choose(city)), city, seeds)


@settings(max_examples=200, deadline=None)
@given(seeds=CITY)
def test_a_destination_that_left_the_candidates_is_not_kept(seeds: Seeds) -> None:
    city = city_of(*seeds)
    _holds(check_stability_never_keeps_the_infeasible(city, choose(city)), city, seeds)


@settings(max_examples=200, deadline=None)
@given(seeds=CITY, order=SEED)
def test_the_same_inputs_in_another_order_give_the_same_choices(seeds: Seeds, order: int) -> None:
    city = city_of(*seeds)
    _holds(check_deterministic(city, choose(city), random.Random(order)), city, seeds, order)


@settings(max_examples=200, deadline=None)
@given(seeds=CITY, which=SEED)
def test_an_older_yes_never_makes_a_centre_chosen(seeds: Seeds, which: int) -> None:
    city = city_of(*seeds)
    _holds(check_old_never_better(city, random.Random(which)), city, seeds, which)


# --- what the properties found: the smallest examples --------------------------------------------------------------


def test_a_bed_count_grown_stale_does_not_win_where_the_same_count_fresh_lost() -> None:
    """Property 6 (R-DATUM, R-BEDS). A fresh count of 1 bed at a busy centre 30 min away pays for the
    walk-ins likely to take that bed first (4 an hour at level 1: P = 0.86 of the overflow cost). The
    same count past 2 half-lives reads as unknown; when an unknown count paid ``unknown_beds_penalty_s``
    only, with no walk-in term, the older report won where the fresher lost (_general seeds 436, 5194
    of the slow run). An unknown count must pay the walk-in chance on its ``unknown_bed_slots`` too."""
    quiet = view("quiet", level=4, beds=3, age_s=0)
    case = patient(eta={"busy": 1800, "quiet": 2200})
    for age_s in (0, 1800, 3500):  # fresh, one half-life, just short of stale: the busy centre loses
        assert one(case, [view("busy", level=1, beds=1, age_s=age_s), quiet]).destination.hpid == "quiet", age_s
    stale = view("busy", level=1, beds=1, age_s=3700)  # the same count, 62 min old
    assert one(case, [stale, quiet]).destination.hpid == "quiet"


def test_cardiac_arrest_goes_to_a_centre_on_diversion_only_when_no_open_er_is_within_the_margin() -> None:
    """Property 4 (R-ARREST, docs/clinical_rules.md: "a centre on diversion only when no open ER is
    within closed_margin_s of it"; R-UNSTABLE the same): time wins, but a diverting ER is the last resort."""
    centres = [view("diverting", traffic=TrafficStatus.CLOSED), view("open")]
    far = {"diverting": 100.0, "open": 100.0 + DEFAULT.closed_margin_s + 60}
    near = {"diverting": 100.0, "open": 100.0 + DEFAULT.closed_margin_s - 60}
    for eta, expected in ((far, "diverting"), (near, "open")):
        assert one(patient(eta=eta, ktas=1, needs={Pathway.CARDIAC_ARREST}), centres).destination.hpid == expected
        assert one(patient(eta=eta, ktas=2, unstable=True), centres).destination.hpid == expected


def test_the_priority_bound_holds_for_the_default_costs() -> None:
    """The arithmetic of :func:`check_no_priority_inversion`: S < F, and S < F (2 − 1/w) for w ≥ 2."""
    spread = priority_spread_s(NO_WALK_INS)
    assert spread == 3600 + 1800 + 2 * 1200 + 300 + 900 + 120 + 300 == 9420
    assert spread < NO_WALK_INS.full_penalty_s < 1.5 * NO_WALK_INS.full_penalty_s


# --- 100,000 instances --------------------------------------------------------------------------------------------


def _general(rng: random.Random) -> list[str]:
    """A random city (default costs, walk-ins on): properties 1, 2, 4, 5 and 6."""
    city = city_of(*seeds_of(rng))
    choices = choose(city)
    found = check_every_patient_advised(city, choices)
    found += check_no_declared_no(city, choices)
    found += check_stability_never_keeps_the_infeasible(city, choices)
    found += check_deterministic(city, choices, rng)
    found += check_old_never_better(city, rng)
    return found


def _priority(rng: random.Random) -> list[str]:
    """A city within the priority bounds (no walk-ins): properties 3 and 1."""
    city = priority_city(*seeds_of(rng))
    choices = choose(city)
    return check_no_priority_inversion(city, choices) + check_every_patient_advised(city, choices)


def run_seeds(first: int, last: int) -> tuple[int, int, list[str]]:
    """(instances, instances with a violation, every violation with its seed) for seeds first..last-1:
    instance ``_general`` and ``_priority`` of seed k each from ``random.Random(f"{name}-{k}")``."""
    instances = violations = 0
    found: list[str] = []
    for seed in range(first, last):
        for check in (_general, _priority):
            broken = check(random.Random(f"{check.__name__}-{seed}"))
            instances += 1
            violations += bool(broken)
            found += [f"{check.__name__} seed {seed}: {b}" for b in broken]
    return instances, violations, found


@pytest.mark.slow
def test_every_property_over_100000_instances() -> None:
    """50,000 seeds, two instances each, over every CPU (forked workers; the result does not depend on
    how many). Prints the figure, the violations by property and the first of each."""
    seeds, chunk = 50_000, 250
    firsts = range(0, seeds, chunk)
    start = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("fork")) as pool:
        results = list(pool.map(run_seeds, firsts, [min(f + chunk, seeds) for f in firsts]))
    seconds = time.perf_counter() - start
    instances, violations = sum(r[0] for r in results), sum(r[1] for r in results)
    found = [v for r in results for v in r[2]]
    by_property = Counter(v.split(": ", 1)[1][:2] for v in found)
    print(f"\nFIGURE router-properties instances={instances} violations={violations} seconds={seconds:.1f}")
    for prop, count in sorted(by_property.items()):
        print(f"{prop}: {count} violations, first: {next(v for v in found if v.split(': ', 1)[1].startswith(prop))}")
    assert instances >= 100_000
    assert violations == 0, found[:10]
