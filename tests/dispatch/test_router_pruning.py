"""Candidate pruning in the router (``RouterConfig.prune``, R-PRUNE in dispatch/router.py) never changes a plan.

A pruned plan builds each patient's arcs only for the centres that can matter: the current destination, the
three cheapest (the crew sees three), and every candidate that could lower the cost of the joint assignment
(nearer than the reach the flow's potentials give, ``dispatch.flow.Flow.reach``). The claim: the choices are those of
the plan that looks at every centre, field for field (destination, alternatives and their reasons, mode,
pathway, team). Checked here on random cities of two kinds, by hypothesis (each property 150 examples) and over a seeded
run of 600 instances (20,000 with ``-m slow``):

- the random cities of ``test_router_properties.py`` (every pathway, declarations, diversion, declines, unknown
  and overcrowded beds), grown to 4-30 centres and 1-25 patients;
- cities on a map: centres and patients at random points, ETAs by distance, so that a patient's near centres
  are its cheap ones and the far ones are pruned, and beds few enough that the last bed is contested.

And that pruning prunes: on a city of 60 centres far fewer arcs are built. And that ties between assignments of
equal cost are broken by the problem, not by the solver (R-TIE), which the claim needs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch import candidates, pruning
from dispatch.centre_view import CentreView
from dispatch.roads import ApproximateIndex, Target, haversine_m
from dispatch.router import Choice, PatientCase, RouterConfig, plan
from tests.dispatch.test_router import patient, view
from tests.dispatch.test_router_properties import random_case, random_centre

FULL = RouterConfig(prune=False)
PRUNED = RouterConfig(prune=True)


def both(
    cases: Sequence[PatientCase],
    centres: Sequence[CentreView],
    *,
    inbound: dict[str, int] | None = None,
) -> tuple[list[Choice], list[Choice]]:
    return (
        plan(cases, centres, inbound_elsewhere=inbound, config=FULL),
        plan(cases, centres, inbound_elsewhere=inbound, config=PRUNED),
    )


def random_city(seed: int) -> tuple[list[CentreView], list[PatientCase], dict[str, int]]:
    """The property tests' centres and patients, more of them: 4-30 centres, 1-25 patients, some beds taken."""
    rng = random.Random(seed)
    hpids = [f"C{i:02d}" for i in range(rng.randint(4, 30))]
    centres = [random_centre(random.Random(rng.getrandbits(32)), h) for h in hpids]
    cases = [random_case(random.Random(rng.getrandbits(32)), f"u{j:02d}", hpids, 90 * 60)
             for j in range(rng.randint(1, 25))]  # fmt: skip
    inbound = {h: rng.randint(0, 2) for h in hpids if rng.random() < 0.3}
    return centres, cases, inbound


def map_city(seed: int) -> tuple[list[CentreView], list[PatientCase], dict[str, int]]:
    """Centres and patients on a 40 x 40 km map, ETAs at 30 km/h (1.3 detour); 0-3 beds, so beds run out."""
    rng = random.Random(seed)
    hpids = [f"C{i:02d}" for i in range(rng.randint(5, 40))]
    centres = [random_centre(random.Random(rng.getrandbits(32)), h) for h in hpids]
    for k, centre in enumerate(centres):
        if centre.er_available is not None and not centre.overcrowded:
            centres[k] = replace(centre, er_available=rng.choice((0, 1, 1, 2, 3)))
    where = {h: (rng.uniform(0, 40_000), rng.uniform(0, 40_000)) for h in hpids}
    cases = []
    for j in range(rng.randint(1, 30)):
        base = random_case(random.Random(rng.getrandbits(32)), f"u{j:02d}", hpids, 90 * 60)
        x, y = rng.uniform(0, 40_000), rng.uniform(0, 40_000)
        eta = {h: round(math.dist((x, y), where[h]) * 1.3 / (30 / 3.6)) + 30.0 for h in hpids}
        if rng.random() < 0.05:
            eta[rng.choice(hpids)] = math.inf
        cover = rng.choice((0.0, 0.0, 0.25, 1.0))
        cases.append(replace(base, eta_s=eta, cover_gap=cover))
    inbound = {h: rng.randint(0, 2) for h in hpids if rng.random() < 0.2}
    return centres, cases, inbound


def differences(full: Sequence[Choice], pruned: Sequence[Choice]) -> list[str]:
    if [c.unit_id for c in full] != [c.unit_id for c in pruned]:
        return [f"advised {[c.unit_id for c in full]} vs {[c.unit_id for c in pruned]}"]
    return [f"{a.unit_id}: {a} != {b}" for a, b in zip(full, pruned, strict=True) if a != b]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_pruning_never_changes_a_choice_on_random_cities(seed: int) -> None:
    centres, cases, inbound = random_city(seed)
    assert differences(*both(cases, centres, inbound=inbound)) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_pruning_never_changes_a_choice_on_cities_on_a_map(seed: int) -> None:
    centres, cases, inbound = map_city(seed)
    assert differences(*both(cases, centres, inbound=inbound)) == []


def seeded_differences(instances: int, seed: int) -> list[tuple[int, int, str]]:
    """(kind, seed, first difference) over ``instances`` seeded cities, both kinds in turn."""
    rng = random.Random(seed)
    failed = []
    for n in range(instances):
        city = rng.getrandbits(32)
        centres, cases, inbound = (map_city if n % 2 else random_city)(city)
        if found := differences(*both(cases, centres, inbound=inbound)):
            failed.append((n % 2, city, found[0][:300]))
    return failed


def test_pruning_never_changes_a_choice_over_600_seeded_cities() -> None:
    assert seeded_differences(600, 26) == []


@pytest.mark.slow
def test_pruning_never_changes_a_choice_over_20000_seeded_cities() -> None:
    """``-m slow``: about 3 minutes."""
    assert seeded_differences(20_000, 2026) == []


def test_pruning_builds_far_fewer_arcs(monkeypatch: pytest.MonkeyPatch) -> None:
    """60 centres on a line 1 km apart, ten patients near one end, every centre with beds to spare: the pruned
    plan builds the arcs of a few centres per patient, the full one of all 60 (and both choose alike)."""
    centres = [view(f"C{i:02d}", beds=10) for i in range(60)]
    cases = [
        patient(f"u{j}", eta={c.hpid: 60.0 + 120.0 * abs(i - j) for i, c in enumerate(centres)}, ktas=3)
        for j in range(10)
    ]
    built = {"arcs": 0}
    real = candidates.arc

    def counted(*args: object, **kwargs: object) -> candidates.Arc:
        built["arcs"] += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    # the full plan builds its arcs in dispatch.candidates, the pruned one in dispatch.pruning: count both
    monkeypatch.setattr(candidates, "arc", counted)
    monkeypatch.setattr(pruning, "arc", counted)
    full = plan(cases, centres, config=FULL)
    everything, built["arcs"] = built["arcs"], 0
    pruned = plan(cases, centres, config=PRUNED)
    assert everything == 600
    assert 30 <= built["arcs"] <= 100  # at least each patient's three cheapest: both patches count
    assert differences(full, pruned) == []
    assert [c.destination.hpid for c in pruned] == [f"C{j:02d}" for j in range(10)]


def test_the_approximate_index_builds_its_arrays_once_and_answers_as_the_great_circle_does() -> None:
    """ApproximateIndex (national ETAs) keeps the targets' coordinates as arrays, read from the targets once, not
    on every query; the ETAs are those of haversine_m × detour at the class speed, to the last bit."""
    reads = {"lat": 0}

    class Counted(Target):
        def __getattribute__(self, name: str) -> Any:
            if name == "lat":
                reads["lat"] += 1
            return super().__getattribute__(name)

    rng = random.Random(3)
    points = [(rng.uniform(33.0, 38.5), rng.uniform(125.0, 129.5)) for _ in range(300)]
    lats, lons = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    index = ApproximateIndex(tuple(Counted(f"T{i}", lat, lon) for i, (lat, lon) in enumerate(points)))
    for _ in range(20):
        lat, lon = rng.uniform(33.0, 38.5), rng.uniform(125.0, 129.5)
        found = index.etas(lat, lon)
        meters = haversine_m(lat, lon, lats, lons) * index.detour_factor
        assert found.target_ids == tuple(f"T{i}" for i in range(300))
        assert np.array_equal(found.meters, meters)
        assert np.array_equal(found.seconds, meters / (index.speed_kmh / 3.6))
    assert reads["lat"] == 300  # once per target, for all 20 queries


def test_ties_are_broken_by_the_problem_not_by_the_solver() -> None:
    """R-TIE: four patients alike, four centres alike at the same ETA, every assignment of them the same cost; three
    far centres no optimal assignment uses. The plan is the same with the far centres or without them, pruned or
    not, and whatever the order of the patients and centres (with the solver breaking ties, it was not: found by
    running this test with the tie-break term left out)."""
    rng = random.Random(5)
    for beds in (1, 5):  # the last beds contested, and beds to spare (each patient alone among equal centres)
        near = [view(f"N{i}", beds=beds) for i in range(4)]
        far = [view(f"F{i}", beds=beds) for i in range(3)]
        cases = [patient(f"u{j}", eta={**{c.hpid: 300.0 for c in near}, **{c.hpid: 3000.0 for c in far}})
                 for j in range(4)]  # fmt: skip
        first = plan(cases, near, config=FULL)
        if beds == 1:
            assert sorted(c.destination.hpid for c in first) == [c.hpid for c in near]  # one each: 24 ways, one cost
        runs = [plan(cases, [*near, *far], config=config) for config in (FULL, PRUNED)]
        for _ in range(5):
            shuffled_cases, shuffled_centres = rng.sample(cases, len(cases)), rng.sample([*near, *far], 7)
            runs += [plan(shuffled_cases, shuffled_centres, config=config) for config in (FULL, PRUNED)]
        chosen = [c.destination.hpid for c in first]
        for run in runs:
            assert [c.destination.hpid for c in run] == chosen, (beds, chosen, [c.destination.hpid for c in run])
            assert differences(runs[0], run) == []
