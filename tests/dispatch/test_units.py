"""Tests of ``dispatch.units``: which unit goes.

A fake :class:`ResponseTimes` (a table of seconds per unit and incident) pins down the
choices; a brute force over every matching checks the flow encoding on random small
instances; the real central-Seoul graph checks :class:`RoadResponseTimes` against forward
shortest-path trees computed separately.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.roads import EARTH_RADIUS_M, EtaMode, FloatArray, RoadNetwork, haversine_m
from dispatch.scenario import Prepared
from dispatch.units import (
    MAX_RESPONSE_S,
    PRIORITY_WEIGHT,
    ApproximateResponseTimes,
    Incident,
    ResponseTimes,
    RoadResponseTimes,
    Unit,
    UnitChoice,
    assign_units,
    cover_gap,
    nearest_unit,
    response_times,
)
from goldentime.settings import default_data_dir
from loaders.scenarios import load_scenario, prepare

DATA_DIR = default_data_dir()


# --- a table of response times -----------------------------------------------------------


@dataclass(frozen=True)
class FakeTimes:
    """Seconds from unit to incident, looked up by the incident's coordinates; missing = inf."""

    incidents: Sequence[Incident]
    seconds: Mapping[tuple[str, str], float]  # (unit id, incident id) -> seconds
    mode: EtaMode = "road"
    calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def to(self, lat: float, lon: float, units: Sequence[Unit]) -> FloatArray:
        (incident,) = [i for i in self.incidents if (i.lat, i.lon) == (lat, lon)]
        self.calls.append((incident.id, tuple(u.id for u in units)))
        return np.array([self.seconds.get((u.id, incident.id), math.inf) for u in units], dtype=np.float64)


def incident(id_: str, priority: int = 3) -> Incident:
    """An incident at a point of its own (the fake finds incidents by their coordinates)."""
    n = int.from_bytes(id_.encode(), "big") % 10_000_019
    return Incident(id_, 37.0 + (n % 1000) * 1e-4, 127.0 + (n // 1000) * 1e-6, priority)


def unit(id_: str, available: bool = True) -> Unit:
    return Unit(id_, 37.55, 126.98, available)


def assigned(choices: Sequence[UnitChoice]) -> dict[str, str]:
    return {c.incident_id: c.unit_id for c in choices}


# --- nearest_unit --------------------------------------------------------------------------


def test_nearest_unit_is_the_fastest_with_the_next_two_as_alternatives() -> None:
    x = incident("X")
    units = [unit("A"), unit("B"), unit("C"), unit("D")]
    times = FakeTimes([x], {("A", "X"): 300, ("B", "X"): 120, ("C", "X"): 200, ("D", "X"): 250})
    assert nearest_unit(x, units, times) == UnitChoice("X", "B", 120.0, "road", (("C", 200.0), ("D", 250.0)))


def test_the_cover_gap_of_a_place_falls_with_every_free_unit_that_reaches_it_in_8_minutes() -> None:
    x = incident("X")
    times = FakeTimes([x], {("A", "X"): 300, ("B", "X"): 480, ("C", "X"): 481})
    assert cover_gap(x.lat, x.lon, [], times) == 1.0
    assert cover_gap(x.lat, x.lon, [unit("C")], times) == 1.0  # 8 min 1 s: not covered
    assert cover_gap(x.lat, x.lon, [unit("A")], times) == 0.5
    assert cover_gap(x.lat, x.lon, [unit("A"), unit("B"), unit("C")], times) == pytest.approx(1 / 3)


def test_nearest_unit_breaks_ties_by_unit_id() -> None:
    x = incident("X")
    times = FakeTimes([x], {("B", "X"): 100, ("A", "X"): 100, ("C", "X"): 100})
    choice = nearest_unit(x, [unit("C"), unit("B"), unit("A")], times)
    assert choice is not None
    assert choice.unit_id == "A"
    assert choice.alternatives == (("B", 100.0), ("C", 100.0))


def test_nearest_unit_skips_unavailable_and_unreachable_units() -> None:
    x = incident("X")
    units = [unit("A", available=False), unit("B"), unit("C")]
    times = FakeTimes([x], {("A", "X"): 10, ("B", "X"): 500})  # C cannot reach X
    assert nearest_unit(x, units, times) == UnitChoice("X", "B", 500.0, "road", ())
    assert times.calls == [("X", ("B", "C"))]  # unavailable units are not even asked about


def test_nearest_unit_is_none_without_a_unit_that_can_go() -> None:
    x = incident("X")
    times = FakeTimes([x], {("A", "X"): 10})
    assert nearest_unit(x, [], times) is None
    assert nearest_unit(x, [unit("A", available=False)], times) is None
    assert nearest_unit(x, [unit("B")], times) is None


def test_etas_beyond_a_day_count_as_unreachable() -> None:
    x = incident("X")
    times = FakeTimes([x], {("A", "X"): MAX_RESPONSE_S + 1, ("B", "X"): MAX_RESPONSE_S})
    choice = nearest_unit(x, [unit("A"), unit("B")], times)
    assert choice == UnitChoice("X", "B", MAX_RESPONSE_S, "road", ())
    assert assigned(assign_units([x], [unit("A")], times)) == {}


# --- assign_units --------------------------------------------------------------------------


def test_the_priority_1_incident_gets_the_only_unit_even_when_the_other_is_closer() -> None:
    urgent, minor = incident("X", priority=1), incident("Y", priority=3)
    times = FakeTimes([urgent, minor], {("A", "X"): 1500, ("A", "Y"): 60})
    assert assign_units([minor, urgent], [unit("A")], times) == [UnitChoice("X", "A", 1500.0, "road", ())]


def test_the_global_optimum_beats_nearest_first_greedy() -> None:
    # Greedy takes the fastest pair first (A -> X, 100 s) and is left with B -> Y (1000 s):
    # 1100 s in all. Sending A to Y and B to X costs 350 s.
    x, y = incident("X"), incident("Y")
    table = {("A", "X"): 100, ("A", "Y"): 200, ("B", "X"): 150, ("B", "Y"): 1000}
    choices = assign_units([x, y], [unit("A"), unit("B")], FakeTimes([x, y], table))
    assert choices == [
        UnitChoice("X", "B", 150.0, "road", (("A", 100.0),)),
        UnitChoice("Y", "A", 200.0, "road", (("B", 1000.0),)),
    ]


def test_the_optimum_weighs_response_time_by_priority() -> None:
    # Priority-first greedy gives X (priority 1) its nearest unit A, leaving Y (priority 2)
    # with B: 16 × 100 + 8 × 1000 = 9600. X <- B, Y <- A costs 16 × 120 + 8 × 100 = 2720.
    x, y = incident("X", priority=1), incident("Y", priority=2)
    table = {("A", "X"): 100, ("B", "X"): 120, ("A", "Y"): 100, ("B", "Y"): 1000}
    assert assigned(assign_units([x, y], [unit("A"), unit("B")], FakeTimes([x, y], table))) == {"X": "B", "Y": "A"}
    assert PRIORITY_WEIGHT == {1: 16.0, 2: 8.0, 3: 4.0, 4: 2.0, 5: 1.0}


def test_a_minute_of_an_urgent_call_outweighs_minutes_of_a_minor_one() -> None:
    # Unweighted, X <- B and Y <- A (200 + 100 s) would beat X <- A and Y <- B (100 + 1000 s);
    # weighted, 16 × 100 + 1 × 1000 = 2600 beats 16 × 200 + 1 × 100 = 3300.
    x, y = incident("X", priority=1), incident("Y", priority=5)
    table = {("A", "X"): 100, ("B", "X"): 200, ("A", "Y"): 100, ("B", "Y"): 1000}
    assert assigned(assign_units([x, y], [unit("A"), unit("B")], FakeTimes([x, y], table))) == {"X": "A", "Y": "B"}


def test_fewer_units_serve_the_most_urgent_incidents() -> None:
    incidents = [incident("P5", 5), incident("P1", 1), incident("P3", 3), incident("P2", 2)]
    table = {(u, i.id): 100.0 * (k + 1) + 7 * j for k, i in enumerate(incidents) for j, u in enumerate("AB")}
    choices = assign_units(incidents, [unit("A"), unit("B")], FakeTimes(incidents, table))
    assert [c.incident_id for c in choices] == ["P1", "P2"]  # sorted by priority


def test_a_blocked_urgent_incident_does_not_stop_a_lower_priority_one() -> None:
    # A alone reaches both priority-1 incidents; B reaches only the priority-4 one.
    incidents = [incident("X1", 1), incident("X2", 1), incident("Y", 4)]
    table = {("A", "X1"): 300, ("A", "X2"): 200, ("B", "Y"): 900, ("A", "Y"): 50}
    choices = assign_units(incidents, [unit("A"), unit("B")], FakeTimes(incidents, table))
    assert assigned(choices) == {"X2": "A", "Y": "B"}


def test_unreachable_pairs_are_never_assigned() -> None:
    incidents = [incident("X", 1), incident("Y", 1), incident("Z", 1)]
    table = {("A", "X"): 900, ("B", "Y"): 900, ("C", "X"): 10}  # nobody reaches Z; C only X
    choices = assign_units(incidents, [unit("A"), unit("B"), unit("C")], FakeTimes(incidents, table))
    assert assigned(choices) == {"X": "C", "Y": "B"}
    for choice in choices:
        assert (choice.unit_id, choice.incident_id) in table


def test_unavailable_units_are_never_assigned() -> None:
    x, y = incident("X", 1), incident("Y", 2)
    table = {("A", "X"): 10, ("A", "Y"): 10, ("B", "X"): 500, ("C", "Y"): 800}
    choices = assign_units([x, y], [unit("A", available=False), unit("B"), unit("C")], FakeTimes([x, y], table))
    assert assigned(choices) == {"X": "B", "Y": "C"}
    assert all(u != "A" for c in choices for u, _ in c.alternatives)


def test_fewer_incidents_than_units() -> None:
    x, y = incident("X", 2), incident("Y", 2)
    table = {("A", "X"): 5, ("A", "Y"): 9, ("B", "X"): 4, ("B", "Y"): 8, ("C", "X"): 3, ("C", "Y"): 7}
    table |= {("D", "X"): 2, ("D", "Y"): 4}
    units = [unit(u) for u in "ABCD"]
    choices = assign_units([x], units, FakeTimes([x], table))
    assert choices == [UnitChoice("X", "D", 2.0, "road", (("C", 3.0), ("B", 4.0)))]
    assert choices[0] == nearest_unit(x, units, FakeTimes([x], table))
    # D is the fastest to both; C -> X and D -> Y (3 + 4) beats D -> X and C -> Y (2 + 7).
    assert assigned(assign_units([x, y], units, FakeTimes([x, y], table))) == {"X": "C", "Y": "D"}


def test_alternatives_list_units_sent_elsewhere_but_never_the_chosen_one() -> None:
    # X <- B, Y <- A (110 + 50) beats X <- A, Y <- B (100 + 70): X's alternatives still show A.
    x, y = incident("X", 1), incident("Y", 1)
    table = {("A", "X"): 100, ("B", "X"): 110, ("C", "X"): 120, ("D", "X"): 130, ("A", "Y"): 50, ("B", "Y"): 70}
    choices = assign_units([x, y], [unit(u) for u in "DCBA"], FakeTimes([x, y], table))
    assert choices == [
        UnitChoice("X", "B", 110.0, "road", (("A", 100.0), ("C", 120.0))),
        UnitChoice("Y", "A", 50.0, "road", (("B", 70.0),)),
    ]


def test_ties_go_to_the_smaller_unit_id() -> None:
    x = incident("X")
    table = {(u, "X"): 100.0 for u in "EDCBA"}
    choices = assign_units([x], [unit(u) for u in "EDCBA"], FakeTimes([x], table))
    assert choices == [UnitChoice("X", "A", 100.0, "road", (("B", 100.0), ("C", 100.0)))]
    incidents = [incident(f"I{k}") for k in range(3)]
    table = {(u, i.id): 100.0 for u in "GFEDCBA" for i in incidents}
    choices = assign_units(incidents, [unit(u) for u in "GFEDCBA"], FakeTimes(incidents, table))
    assert sorted(c.unit_id for c in choices) == ["A", "B", "C"]
    # ... but only ties: a second faster wins whatever the id
    x = incident("X", priority=5)
    table = {("A", "X"): 102.0, ("B", "X"): 103.0, ("E", "X"): 101.0}
    assert assigned(assign_units([x], [unit(u) for u in "ABCDE"], FakeTimes([x], table))) == {"X": "E"}


def test_the_same_input_in_any_order_gives_the_same_assignment() -> None:
    rng = random.Random(11)
    incidents = [incident(f"I{k}", rng.randint(1, 5)) for k in range(7)]
    units = [unit(f"U{k}", available=k != 3) for k in range(6)]
    # many ties: only three distinct ETAs
    table = {(u.id, i.id): float(rng.choice([60, 120, 180])) for u in units for i in incidents if rng.random() < 0.8}
    expected = assign_units(incidents, units, FakeTimes(incidents, table))
    assert len(expected) == 5
    for _ in range(20):
        rng.shuffle(incidents)
        rng.shuffle(units)
        assert assign_units(incidents, units, FakeTimes(incidents, dict(reversed(table.items())))) == expected


def test_empty_inputs() -> None:
    x = incident("X")
    times = FakeTimes([x], {("A", "X"): 10})
    assert assign_units([], [unit("A")], times) == []
    assert assign_units([x], [], times) == []
    assert assign_units([x], [unit("A", available=False)], times) == []
    assert assign_units([x], [unit("B")], times) == []
    assert times.calls == [("X", ("B",))]


def test_the_mode_of_the_times_is_carried_into_every_choice() -> None:
    x = incident("X")
    times = FakeTimes([x], {("A", "X"): 10}, mode="approximate")
    (choice,) = assign_units([x], [unit("A")], times)
    assert choice.eta_mode == "approximate"


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("priority", [0, 6, -1, True, 2.5, "1"])
def test_priority_must_be_1_to_5(priority: object) -> None:
    with pytest.raises(ValueError, match="priority"):
        Incident("X", 37.5, 127.0, priority)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lat", "lon", "field_name"),
    [(math.nan, 127.0, "lat"), (37.5, math.inf, "lon"), (91.0, 127.0, "lat"), (37.5, -181.0, "lon"), ("37", 1, "lat")],
)
def test_coordinates_must_be_finite_wgs84(lat: object, lon: object, field_name: str) -> None:
    with pytest.raises(ValueError, match=field_name):
        Incident("X", lat, lon, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=field_name):
        Unit("A", lat, lon)  # type: ignore[arg-type]


def test_ids_must_be_present_and_unique() -> None:
    with pytest.raises(ValueError, match="id"):
        Unit("", 37.5, 127.0)
    with pytest.raises(ValueError, match="id"):
        Incident(7, 37.5, 127.0, 1)  # type: ignore[arg-type]
    x = incident("X")
    times = FakeTimes([x], {("A", "X"): 10})
    with pytest.raises(ValueError, match=r"unit\.id 'A'"):
        assign_units([x], [unit("A"), unit("A")], times)
    with pytest.raises(ValueError, match=r"incident\.id 'X'"):
        assign_units([x, x], [unit("A")], times)


def test_malformed_response_times_are_refused() -> None:
    x = incident("X")

    class Short:
        mode: EtaMode = "road"

        def to(self, lat: float, lon: float, units: Sequence[Unit]) -> FloatArray:
            return np.array([1.0, 2.0, 3.0])[: max(len(units) - 1, 0)]

    class Negative(Short):
        def to(self, lat: float, lon: float, units: Sequence[Unit]) -> FloatArray:
            return np.full(len(units), -1.0)

    with pytest.raises(ValueError, match="expected 2 values"):
        assign_units([x], [unit("A"), unit("B")], Short())
    with pytest.raises(ValueError, match="seconds >= 0"):
        nearest_unit(x, [unit("A")], Negative())


# --- the encoding against a brute force ----------------------------------------------------

Pair = tuple[str, str]  # (incident id, unit id)


def matchings(incident_ids: Sequence[str], reach: Mapping[str, Sequence[str]]) -> Iterator[list[Pair]]:
    """Every matching of incidents to the units that reach them (incidents may go unserved)."""
    if not incident_ids:
        yield []
        return
    first, rest = incident_ids[0], incident_ids[1:]
    for tail in matchings(rest, reach):
        yield tail
        used = {u for _, u in tail}
        for u in reach[first]:
            if u not in used:
                yield [(first, u), *tail]


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[Incident], list[Unit], dict[tuple[str, str], float]]:
    n_incidents = draw(st.integers(0, 5))
    n_units = draw(st.integers(0, 5))
    incidents = [incident(f"I{k}", draw(st.integers(1, 5))) for k in range(n_incidents)]
    units = [unit(f"U{k}", draw(st.booleans() | st.just(True))) for k in range(n_units)]
    table: dict[tuple[str, str], float] = {}
    for u in units:
        for i in incidents:
            seconds = draw(st.none() | st.integers(0, 3) | st.integers(0, 3600))  # near-ties too
            if seconds is not None:
                table[(u.id, i.id)] = float(seconds)
    return incidents, units, table


@settings(max_examples=300, deadline=None)
@given(instances())
def test_the_assignment_is_the_best_matching(
    instance: tuple[list[Incident], list[Unit], dict[tuple[str, str], float]],
) -> None:
    incidents, units, table = instance
    choices = assign_units(incidents, units, FakeTimes(incidents, table))
    priority = {i.id: i.priority for i in incidents}
    available = {u.id for u in units if u.available}

    # a matching of reachable pairs of available units, with the table's ETAs
    served = [(c.incident_id, c.unit_id) for c in choices]
    assert len({i for i, _ in served}) == len({u for _, u in served}) == len(served)
    for c in choices:
        assert c.unit_id in available
        assert c.eta_s == table[(c.unit_id, c.incident_id)]
    assert choices == sorted(choices, key=lambda c: (priority[c.incident_id], c.incident_id))

    reach = {i.id: sorted(u for u in available if (u, i.id) in table) for i in incidents}
    every = list(matchings([i.id for i in incidents], reach))

    def bonus(m: Sequence[Pair]) -> int:
        return sum(6 - priority[i] for i, _ in m)

    def cost(m: Sequence[Pair]) -> float:
        return sum(PRIORITY_WEIGHT[priority[i]] * table[(u, i)] for i, u in m)

    # as many incidents of priority <= k as any matching serves, for every k ...
    for k in range(1, 6):
        best = max(sum(priority[i] <= k for i, _ in m) for m in every)
        assert sum(priority[i] <= k for i, _ in served) == best
    # ... and, among the matchings that do, the least priority-weighted response time
    best_bonus = max(bonus(m) for m in every)
    assert bonus(served) == best_bonus
    assert cost(served) == min(cost(m) for m in every if bonus(m) == best_bonus)

    # never worse than giving each incident, most urgent first, its nearest free unit
    greedy: list[Pair] = []
    for i in sorted(incidents, key=lambda i: (i.priority, i.id)):
        free = [u for u in reach[i.id] if u not in {g for _, g in greedy}]
        if free:
            greedy.append((i.id, min(free, key=lambda u: (table[(u, i.id)], u))))
    if bonus(greedy) == best_bonus:
        assert cost(served) <= cost(greedy)


# --- response times --------------------------------------------------------------------------


def test_approximate_response_times_are_great_circle_times_detour() -> None:
    units = [Unit("A", 37.55, 126.98), Unit("B", 37.60, 127.05), Unit("C", 37.56, 126.99)]
    times = ApproximateResponseTimes()
    seconds = times.to(37.56, 126.99, units)
    expected = haversine_m(37.56, 126.99, [u.lat for u in units], [u.lon for u in units]) * 1.35 / (35 / 3.6)
    np.testing.assert_allclose(seconds, expected, rtol=1e-12)
    assert seconds[2] == 0.0
    assert times.mode == "approximate"
    assert times.to(37.56, 126.99, []).shape == (0,)
    slower = ApproximateResponseTimes(detour_factor=1.5, speed_kmh=20.0)
    np.testing.assert_allclose(slower.to(37.56, 126.99, units), expected * (1.5 / 1.35) * (35 / 20))
    with pytest.raises(ValueError, match="WGS84"):
        times.to(math.nan, 126.99, units)
    with pytest.raises(ValueError, match="speed_kmh"):
        ApproximateResponseTimes(speed_kmh=0)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    return prepare(load_scenario("seoul-central", DATA_DIR), cache_dir=tmp_path_factory.mktemp("units-cache"))


@pytest.fixture(scope="module")
def network(prepared: Prepared) -> RoadNetwork:
    assert prepared.network is not None
    return prepared.network


def _jittered(network: RoadNetwork, nodes: Sequence[int], rng: np.random.Generator) -> list[tuple[float, float]]:
    """Points within about 30 m of the given nodes."""
    return [
        (float(network.lat[n]) + rng.uniform(-2.5e-4, 2.5e-4), float(network.lon[n]) + rng.uniform(-3e-4, 3e-4))
        for n in nodes
    ]


def test_road_response_times_agree_with_forward_trees(network: RoadNetwork) -> None:
    rng = np.random.default_rng(20240926)
    unit_points = _jittered(network, rng.choice(network.node_count, 6, replace=False).tolist(), rng)
    units = [Unit(f"U{k}", lat, lon) for k, (lat, lon) in enumerate(unit_points)]
    times = RoadResponseTimes(network)
    assert times.mode == "road"
    s_per_m = 3.6 / 20.0
    for lat, lon in _jittered(network, rng.choice(network.node_count, 4, replace=False).tolist(), rng):
        got = times.to(lat, lon, units)
        incident_snap = network.nearest(lat, lon)
        incident_node, incident_m = int(incident_snap.node[0]), float(incident_snap.distance_m[0])
        for k, u in enumerate(units):
            unit_snap = network.nearest(u.lat, u.lon)
            unit_node, unit_m = int(unit_snap.node[0]), float(unit_snap.distance_m[0])
            assert unit_m > 0 and incident_m > 0
            expected = network.times_from(unit_node)[incident_node] + (unit_m + incident_m) * s_per_m
            assert math.isfinite(expected)
            assert got[k] == pytest.approx(expected, abs=1e-6)


def _north_of(network: RoadNetwork, meters: float) -> tuple[float, float]:
    top = int(np.argmax(network.lat))
    return float(network.lat[top]) + math.degrees(meters / EARTH_RADIUS_M), float(network.lon[top])


def test_units_and_incidents_off_the_map_are_unreachable(network: RoadNetwork) -> None:
    times = RoadResponseTimes(network)
    centre = int(np.argmin(np.abs(network.lat - np.median(network.lat)) + np.abs(network.lon - np.median(network.lon))))
    here = (float(network.lat[centre]), float(network.lon[centre]))
    away = _north_of(network, 5_000)
    units = [Unit("near", *here), Unit("off-map", *away)]
    seconds = times.to(*here, units)
    assert seconds[0] == pytest.approx(0.0, abs=1e-9)
    assert seconds[1] == math.inf
    assert np.all(times.to(*away, units) == math.inf)
    lost = Incident("lost", *away, priority=1)
    assert nearest_unit(lost, units, times) is None
    assert assign_units([lost], units, times) == []
    with pytest.raises(ValueError, match="WGS84"):
        times.to(math.inf, 127.0, units)
    with pytest.raises(ValueError, match="max_snap_m"):
        RoadResponseTimes(network, max_snap_m=-1)


def test_assign_units_on_the_seoul_roads(prepared: Prepared) -> None:
    times = response_times(prepared)
    assert isinstance(times, RoadResponseTimes)
    assert times.max_snap_m == prepared.scenario.max_snap_m
    stations = prepared.scenario.stations
    units = [Unit(f"amb-{k:02d}", s.lat, s.lon) for k, s in enumerate(stations)]
    centres = prepared.scenario.centres
    incidents = [Incident(f"call-{k}", c.lat + 0.001, c.lon - 0.001, k % 5 + 1) for k, c in enumerate(centres)]
    choices = assign_units(incidents, units, times)
    assert len(choices) == len(incidents)
    assert {c.eta_mode for c in choices} == {"road"}
    for choice in choices:
        assert 0 < choice.eta_s < 3600
        assert len(choice.alternatives) == 2
    first = incidents[0]
    nearest = nearest_unit(first, units, times)
    assert nearest is not None
    assert nearest.eta_s <= min(c.eta_s for c in choices if c.incident_id == first.id)


def test_response_times_without_a_road_graph_are_approximate(prepared: Prepared) -> None:
    without = Prepared(prepared.scenario, prepared.index, None, ())
    times: ResponseTimes = response_times(without)
    assert times == ApproximateResponseTimes(detour_factor=1.35, speed_kmh=35.0)
    assert times.mode == "approximate"
