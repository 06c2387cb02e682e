"""Which patients a centre's news concerns (dispatch/replan.py).

The property (hypothesis, 200 examples each; 500 seeded instances, 20,000 with ``-m slow``): after news about
centre X (a new capacity report: beds, declarations, diversion, the ER gate — anything), every patient
``affected`` leaves out, planned alone with everyone else where they are, is sent where it was sent before the
news. The patients are on random cities (the router property tests' centres and patients, and cities on a map),
each advised a destination (the router's, or any: a stale one), holding its bed or team there; their R-COVER gap
is known to the plan and not to ``affected`` (which assumes the most).

And the selection is selective: on a map of 80 centres, news about one concerns a few of 100 patients.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.centre_view import CentreView
from dispatch.engine import UnitState
from dispatch.pathways import Pathway
from dispatch.replan import Aboard, affected, case_of
from dispatch.router import PatientCase, RouterConfig, plan
from dispatch.severity.model import Severity
from telemetry.schemas import Condition, Equipment
from tests.dispatch.test_router import patient, view
from tests.dispatch.test_router_properties import random_centre
from tests.dispatch.test_router_pruning import map_city, random_city

CONFIG = RouterConfig()


@dataclass(frozen=True)
class Unit:
    """A unit as dispatch.engine.UnitState holds it (the fields dispatch.replan.Aboard reads)."""

    unit_id: str
    etas: Mapping[str, float]
    destination: str | None
    declined: frozenset[str]
    needs: frozenset[Pathway]
    critical: bool
    unstable: bool
    severity: Severity | None
    team: Pathway | None = None
    holds_bed: bool = True
    cover_gap: float = 0.0  # what the engine works out when it routes the unit (affected does not know it)
    confirmed: bool = field(default=False)


def unit_of(case: PatientCase, destination: str | None, team: Pathway | None, bed: bool) -> Unit:
    severity = Severity(case.ktas, case.p_critical or 0.0, 0.5, (), case.critical, case.crew_ktas)
    return Unit(case.unit_id, case.eta_s, destination, case.declined, case.needs, case.critical, case.unstable,
                severity, team, bed, case.cover_gap)  # fmt: skip


def routed(unit: Unit) -> PatientCase:
    """The case the engine would plan: its real cover gap."""
    case = case_of(unit, cover_gap=unit.cover_gap)
    assert case is not None
    return case


def holders(units: Sequence[Unit]) -> tuple[dict[str, int], dict[tuple[str, Pathway], int]]:
    beds: dict[str, int] = {}
    teams: dict[tuple[str, Pathway], int] = {}
    for u in units:
        if u.destination is None:
            continue
        if u.holds_bed:
            beds[u.destination] = beds.get(u.destination, 0) + 1
        if u.team is not None:
            teams[(u.destination, u.team)] = teams.get((u.destination, u.team), 0) + 1
    return beds, teams


def alone(unit: Unit, units: Sequence[Unit], centres: Sequence[CentreView], inbound: Mapping[str, int]) -> str | None:
    """Where the router sends the unit's patient planned alone, everyone else where they are."""
    beds, teams = holders([u for u in units if u.unit_id != unit.unit_id])
    for hpid, n in inbound.items():
        beds[hpid] = beds.get(hpid, 0) + n
    choices = plan([routed(unit)], centres, inbound_elsewhere=beds, teams_elsewhere=teams, config=CONFIG)
    return choices[0].destination.hpid if choices else None


def aboard(seed: int, centres: Sequence[CentreView], cases: Sequence[PatientCase], stale: float = 0.25) -> list[Unit]:
    """The patients advised: where the router sends each planned alone, or (a share ``stale``) anywhere."""
    rng = random.Random(seed)
    units: list[Unit] = []
    for case in cases:
        if rng.random() < stale:
            hpid = rng.choice([*(c.hpid for c in centres), None])
            units.append(unit_of(case, hpid, None, rng.random() < 0.9))
            continue
        choices = plan([case], centres, config=CONFIG)
        if not choices:
            units.append(unit_of(case, None, None, True))
            continue
        choice = choices[0]
        units.append(unit_of(case, choice.destination.hpid, choice.team, choice.takes_bed))
    return units


def news(seed: int, centres: Sequence[CentreView]) -> tuple[str, list[CentreView]]:
    """A new report from one centre: another random state of it (beds, declarations, diversion, ER gate)."""
    rng = random.Random(seed)
    k = rng.randrange(len(centres))
    fresh = random_centre(random.Random(rng.getrandbits(32)), centres[k].hpid)
    fresh = replace(fresh, name=centres[k].name, level=centres[k].level, trauma_centre=centres[k].trauma_centre)
    return centres[k].hpid, [*centres[:k], fresh, *centres[k + 1 :]]


def left_out_that_move(seed: int, city: str) -> list[str]:
    rng = random.Random(seed)
    centres, cases, inbound = (map_city if city == "map" else random_city)(rng.getrandbits(32))
    cases = [replace(c, current=None, confirmed=False) for c in cases]
    units = aboard(rng.getrandbits(32), centres, cases)
    hpid, after = news(rng.getrandbits(32), centres)
    beds, teams = holders(units)
    for h, n in inbound.items():
        beds[h] = beds.get(h, 0) + n
    chosen = affected([hpid], units, after, inbound=beds, teams=teams, config=CONFIG)
    moved = []
    for unit in units:
        if unit.unit_id in chosen or unit.severity is None:
            continue
        before, now = alone(unit, units, centres, inbound), alone(unit, units, after, inbound)
        if before != now:
            moved.append(f"{unit.unit_id} at {unit.destination}: {before} -> {now} after news of {hpid}")
    return moved


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_a_patient_left_out_is_sent_where_it_was_on_random_cities(seed: int) -> None:
    assert left_out_that_move(seed, "random") == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_a_patient_left_out_is_sent_where_it_was_on_cities_on_a_map(seed: int) -> None:
    assert left_out_that_move(seed, "map") == []


def seeded_moves(instances: int, seed: int) -> list[tuple[int, int, str]]:
    rng = random.Random(seed)
    return [(n, city, moved[0]) for n in range(instances)
            if (moved := left_out_that_move(city := rng.getrandbits(32), "map" if n % 2 else "random"))]  # fmt: skip


def test_a_patient_left_out_is_sent_where_it_was_over_500_seeded_cities() -> None:
    assert seeded_moves(500, 2026) == []


@pytest.mark.slow
def test_a_patient_left_out_is_sent_where_it_was_over_20000_seeded_cities() -> None:
    """``-m slow``: about 4 minutes."""
    assert seeded_moves(20_000, 26) == []


def test_news_about_one_centre_concerns_a_few_patients_not_everyone() -> None:
    """80 centres on a 120 km square (every one reporting 8 free beds, CT, thrombectomy and PCI), 100 patients at
    random places, advised together: news about a centre (its beds gone) concerns the patients heading there and
    those near it, not the 100."""
    rng = random.Random(7)
    yes = {c.value: True for c in (Condition.STROKE_THROMBECTOMY, Condition.STEMI_PCI)}
    centres = [view(f"C{i:02d}", level=rng.choice((1, 2, 2, 3, 4)), beds=8, conditions=yes,
                    equipment={Equipment.CT.value: True}) for i in range(80)]  # fmt: skip
    where = {c.hpid: (rng.uniform(0, 120_000), rng.uniform(0, 120_000)) for c in centres}
    cases = []
    for j in range(100):
        x, y = rng.uniform(0, 120_000), rng.uniform(0, 120_000)
        eta = {h: math.dist((x, y), p) * 1.3 / (40 / 3.6) for h, p in where.items()}
        needs = rng.choice((set(), set(), set(), {Pathway.STROKE}, {Pathway.STEMI}, {Pathway.CARDIAC_ARREST}))
        cases.append(patient(f"u{j:03d}", eta=eta, ktas=rng.randint(1, 5), needs=needs, cover_gap=rng.random()))
    by_unit = {c.unit_id: c for c in plan(cases, centres, config=CONFIG)}  # planned together, as an engine does
    units = [unit_of(c, by_unit[c.unit_id].destination.hpid, by_unit[c.unit_id].team, by_unit[c.unit_id].takes_bed)
             for c in cases]  # fmt: skip
    beds, teams = holders(units)
    sizes = []
    for hpid in rng.sample(sorted(where), 10):
        after = [replace(c, er_available=0) if c.hpid == hpid else c for c in centres]
        chosen = affected([hpid], units, after, inbound=beds, teams=teams, config=CONFIG)
        assert {u.unit_id for u in units if u.destination == hpid} <= chosen
        sizes.append(len(chosen))
    assert sum(sizes) / len(sizes) < 8, sizes  # 2.4 when written


def engine_units_are_aboard(unit: UnitState) -> Aboard:
    """Checked by mypy: the engine's units are what dispatch.replan reads (it calls affected with them)."""
    return unit


def test_no_news_concerns_nobody_a_patient_with_no_destination_always_and_no_patient_never() -> None:
    centres, cases, _ = map_city(11)
    units = aboard(1, centres, cases)
    assert affected([], units, centres, inbound={}, teams={}) == frozenset()
    unknown = replace(units[0], destination=None)
    assert unknown.unit_id in affected([centres[0].hpid], [unknown], centres, inbound={}, teams={})
    nobody = replace(units[0], severity=None)
    assert affected([centres[0].hpid], [nobody], centres, inbound={}, teams={}) == frozenset()
    engine_unit = UnitState("e1")  # no patient yet
    assert affected([centres[0].hpid], [engine_units_are_aboard(engine_unit)], centres, inbound={}, teams={}) == set()
