"""The engine on the two-centre toy city of toy.py (approximate ETAs), where every outcome can be worked out by
hand."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import pytest

from dispatch.pathways import Pathway
from dispatch.scenario import OffGraph, Prepared, Scenario, ScenarioError
from simulations.config import SimConfig
from simulations.engine import check_coverage, simulate
from simulations.policies import Capable, EgenGreedy, GoldenTime, Nearest, PhoneAround, load_policy
from simulations.world import Call, Trip, World
from tests.simulations import toy
from tests.simulations.toy import BASE, CONFIG, FAR, NEAR, SCENE


def test_nearest_takes_a_stroke_to_the_local_hospital_and_is_refused(tmp_path: Path) -> None:
    prepared = toy.prepared(tmp_path)
    draws = toy.draws(toy.one_call(toy.patient(2, frozenset({Pathway.STROKE}))))
    result = simulate(prepared, CONFIG, draws, Nearest(), days=1)
    (call,) = result.calls
    assert (call.first_hpid, call.final_hpid, call.retransfers, call.incapable_arrivals) == (
        NEAR.hpid,
        FAR.hpid,
        1,
        1,
    )
    assert call.definitive_s > call.response_s + 600.0 + 5 * 60  # on scene, then a refusal at the door


@pytest.mark.parametrize("policy", [Capable(), GoldenTime()])
def test_capable_policies_go_straight_to_the_stroke_centre(tmp_path: Path, policy: Capable | GoldenTime) -> None:
    draws = toy.draws(toy.one_call(toy.patient(2, frozenset({Pathway.STROKE}))))
    result = simulate(toy.prepared(tmp_path), CONFIG, draws, policy, days=1)
    (call,) = result.calls
    assert (call.first_hpid, call.final_hpid, call.retransfers) == (FAR.hpid, FAR.hpid, 0)


def test_goldentime_knows_the_stroke_team_is_off_duty_and_capable_does_not(tmp_path: Path) -> None:
    prepared = toy.prepared(tmp_path)
    draws = toy.draws(toy.one_call(toy.patient(3, frozenset({Pathway.STROKE}))), on_duty=frozenset())
    capable = simulate(prepared, CONFIG, draws, Capable(), days=1).calls[0]
    golden = simulate(prepared, CONFIG, draws, GoldenTime(), days=1).calls[0]
    assert capable.first_hpid == FAR.hpid and capable.incapable_arrivals >= 1
    assert golden.incapable_arrivals == capable.incapable_arrivals  # nobody can treat it: both end forced
    assert golden.forced and capable.forced


@pytest.mark.parametrize(("p_critical", "first"), [(0.9, FAR.hpid), (0.1, NEAR.hpid)])
def test_goldentime_weighs_the_models_p_critical(tmp_path: Path, p_critical: float, first: str) -> None:
    """A critical call the model is sure of goes to the regional centre; one it is not (p below
    HARD_CRITICAL_P) weighs the level 3 centre's nearness against a cost of p_critical (R-CRIT)."""
    draws = toy.draws(toy.one_call(toy.patient(3, model_ktas=2, p_critical=p_critical)))
    call = simulate(toy.prepared(tmp_path), CONFIG, draws, GoldenTime(), days=1).calls[0]
    assert (call.first_hpid, call.retransfers) == (first, 0)


def test_a_full_er_refuses_and_goldentime_avoids_it(tmp_path: Path) -> None:
    prepared = toy.prepared(tmp_path)
    draws = toy.draws(toy.one_call(toy.patient(4)), occupied={NEAR.hpid: 2})
    nearest = simulate(prepared, CONFIG, draws, Nearest(), days=1).calls[0]
    golden = simulate(prepared, CONFIG, draws, GoldenTime(), days=1).calls[0]
    assert (nearest.first_hpid, nearest.full_arrivals, nearest.retransfers) == (NEAR.hpid, 1, 1)
    assert (golden.first_hpid, golden.full_arrivals, golden.retransfers) == (FAR.hpid, 0, 0)
    assert golden.transport_s < nearest.transport_s


def test_a_cardiac_arrest_is_taken_at_the_nearest_er_even_when_full(tmp_path: Path) -> None:
    draws = toy.draws(toy.one_call(toy.patient(1, frozenset({Pathway.CARDIAC_ARREST}))), occupied={NEAR.hpid: 2})
    for policy in (Nearest(), Capable(), GoldenTime()):
        call = simulate(toy.prepared(tmp_path), CONFIG, draws, policy, days=1).calls[0]
        assert (call.final_hpid, call.retransfers, call.full_arrivals) == (NEAR.hpid, 0, 1), policy.name


def test_a_closed_centre_receives_nobody(tmp_path: Path) -> None:
    draws = toy.draws([Call(i, 600.0 * i, SCENE[0], SCENE[1], toy.patient(4)) for i in range(6)])
    for policy in (Nearest(), Capable(), GoldenTime()):
        result = simulate(toy.prepared(tmp_path), CONFIG, draws, policy, days=1, closed=[NEAR.hpid])
        assert {c.final_hpid for c in result.calls} == {FAR.hpid}
        near = next(c for c in result.centres if c.hpid == NEAR.hpid)
        assert near.ambulance_arrivals == 0


def test_beds_fill_and_empty_and_the_peak_is_kept(tmp_path: Path) -> None:
    calls = [Call(i, 60.0 * i, SCENE[0], SCENE[1], toy.patient(4)) for i in range(3)]
    result = simulate(toy.prepared(tmp_path), CONFIG, toy.draws(calls), GoldenTime(), days=1)
    by_hpid = {c.hpid: c for c in result.centres}
    assert sum(c.final_hpid == NEAR.hpid for c in result.calls) <= 2  # two beds
    assert by_hpid[NEAR.hpid].peak_occupancy <= 2
    assert sum(c.peak_occupancy for c in result.centres) >= 2


class _TurnsBack(Nearest):
    """Heads for the far centre, and turns the unit to the near one when asked ``after_s`` after leaving."""

    name = "turns-back"

    def __init__(self, after_s: float = 0.0) -> None:
        self.after_s, self.left = after_s, 0.0
        self.asked: list[dict[str, str]] = []

    def destination(self, world: World, trip: Trip) -> str:
        self.left = world.now
        return FAR.hpid

    def redirects(self, world: World, heading: Mapping[str, str]) -> dict[str, str]:
        self.asked.append(dict(heading))
        if world.now < self.left + self.after_s:
            return {}
        return {unit: NEAR.hpid for unit, hpid in heading.items() if hpid == FAR.hpid}


def test_a_policy_turns_a_unit_on_its_way(tmp_path: Path) -> None:
    prepared = toy.prepared(tmp_path)
    draws = toy.draws(toy.one_call(toy.patient(4)))
    straight = simulate(prepared, CONFIG, draws, Nearest(), days=1).calls[0]
    policy = _TurnsBack()
    turned = simulate(prepared, CONFIG, draws, policy, days=1).calls[0]
    assert (turned.first_hpid, turned.final_hpid, turned.retransfers, turned.redirects) == (NEAR.hpid,) * 2 + (0, 1)
    assert straight.redirects == 0
    assert turned.transport_s < straight.transport_s + 60.0  # turned at once: hardly farther than going straight
    assert policy.asked[0] == {"U00-0": FAR.hpid}


def test_a_unit_turned_on_the_road_drives_on_from_where_it_is(tmp_path: Path) -> None:
    """Turned at a periodic check (every reroute_check_min) three minutes or more after leaving, the unit is past
    the near centre (on the way north): it drives back from there, longer than going straight."""
    prepared = toy.prepared(tmp_path)
    draws = toy.draws(toy.one_call(toy.patient(4)))
    straight = simulate(prepared, CONFIG, draws, Nearest(), days=1).calls[0]
    config = dataclasses.replace(CONFIG, reroute_check_min=1.5)
    turned = simulate(prepared, config, draws, _TurnsBack(after_s=180.0), days=1).calls[0]
    assert (turned.final_hpid, turned.redirects) == (NEAR.hpid, 1)
    assert turned.transport_s > 180.0 + (180.0 - straight.transport_s)


def test_phone_around_calls_the_stroke_centre_first_and_drives_there_promised(tmp_path: Path) -> None:
    draws = toy.draws(toy.one_call(toy.patient(2, frozenset({Pathway.STROKE}))))
    call = simulate(toy.prepared(tmp_path), CONFIG, draws, PhoneAround(), days=1).calls[0]
    assert (call.phone_calls, call.first_hpid, call.final_hpid, call.retransfers) == (1, FAR.hpid, FAR.hpid, 0)
    assert call.scene_search_s > 0  # one call's length, at the scene
    direct = simulate(toy.prepared(tmp_path), CONFIG, draws, Capable(), days=1).calls[0]
    assert call.definitive_s == pytest.approx(direct.definitive_s + call.scene_search_s)


def test_phone_around_refused_everywhere_drives_unannounced_and_is_refused_at_the_door(tmp_path: Path) -> None:
    draws = toy.draws(toy.one_call(toy.patient(2, frozenset({Pathway.STROKE}))), occupied={FAR.hpid: 2})
    call = simulate(toy.prepared(tmp_path), CONFIG, draws, PhoneAround(), days=1).calls[0]
    assert call.phone_calls == 2  # the stroke centre (full), then the local institution (no stroke team)
    assert (call.first_hpid, call.retransfers, call.forced) == (FAR.hpid, 1, True)


def test_egen_greedy_skips_a_centre_whose_posting_shows_no_bed(tmp_path: Path) -> None:
    draws = toy.draws(toy.one_call(toy.patient(4)), occupied={NEAR.hpid: 2})
    call = simulate(toy.prepared(tmp_path), CONFIG, draws, EgenGreedy(), days=1).calls[0]
    assert (call.first_hpid, call.retransfers, call.phone_calls) == (FAR.hpid, 0, 0)
    free = simulate(
        toy.prepared(tmp_path), CONFIG, toy.draws(toy.one_call(toy.patient(4))), EgenGreedy(), days=1
    ).calls[0]
    assert free.first_hpid == NEAR.hpid


def test_todays_crews_take_an_arrest_to_the_nearest_er_without_a_call_or_a_look_at_the_board(tmp_path: Path) -> None:
    draws = toy.draws(toy.one_call(toy.patient(1, frozenset({Pathway.CARDIAC_ARREST}))), occupied={NEAR.hpid: 2})
    for policy in (EgenGreedy(), PhoneAround()):
        call = simulate(toy.prepared(tmp_path), CONFIG, draws, policy, days=1).calls[0]
        assert (call.first_hpid, call.phone_calls, call.nearest_first) == (NEAR.hpid, 0, True), policy.name


def test_a_patient_taken_without_definitive_care_is_moved_on(tmp_path: Path) -> None:
    """A local institution that takes a stroke patient (it may: refuse_no_specialist 0) stabilises and transfers:
    definitive care comes later, at the stroke centre."""
    config = dataclasses.replace(CONFIG, refuse_no_specialist=0.0)
    draws = toy.draws(toy.one_call(toy.patient(3, frozenset({Pathway.STROKE}))))
    call = simulate(toy.prepared(tmp_path), config, draws, Nearest(), days=1).calls[0]
    assert (call.final_hpid, call.retransfers, call.secondary_transfer, call.definitive_hpid) == (
        NEAR.hpid,
        0,
        True,
        FAR.hpid,
    )
    at_near = call.response_s + 600.0 + call.transport_s  # the call's wait, on scene, the drive
    assert call.definitive_s > at_near + 10 * 60  # stabilised (median 60 min) and driven on
    assert call.onset_s is not None and call.onset_s > 0  # a stroke has a golden time: onset drawn


def test_coverage_is_measured_over_the_run_and_falls_while_the_only_unit_is_out(tmp_path: Path) -> None:
    config = dataclasses.replace(CONFIG, turnout_s=60.0, coverage_every_min=10.0, coverage_points=20)
    idle = simulate(toy.prepared(tmp_path), config, toy.draws([]), Nearest(), days=1)
    assert len(idle.coverage) == 24 * 6 and len(set(idle.coverage)) == 1 and idle.coverage[0] > 0.0
    busy = simulate(toy.prepared(tmp_path), config, toy.draws(toy.one_call(toy.patient(4))), Nearest(), days=1)
    assert min(busy.coverage) == 0.0  # the city's only ambulance is on the call: nobody is covered
    assert busy.coverage[0] == idle.coverage[0]


def test_goldentime_says_which_patients_it_had_no_advice_for(tmp_path: Path) -> None:
    calls = [Call(i, 900.0 * i, SCENE[0], SCENE[1], toy.patient(1 + i % 5)) for i in range(6)]
    golden = simulate(toy.prepared(tmp_path), CONFIG, toy.draws(calls), GoldenTime(), days=1)
    assert [c.advised for c in golden.calls] == [True] * 6  # the engine advised every patient
    nearest = simulate(toy.prepared(tmp_path), CONFIG, toy.draws(calls), Nearest(), days=1)
    assert {c.advised for c in nearest.calls} == {None}


def test_each_call_records_whether_its_first_centre_was_the_nearest_open_er(tmp_path: Path) -> None:
    draws = toy.draws(toy.one_call(toy.patient(2, frozenset({Pathway.STROKE}))))
    capable = simulate(toy.prepared(tmp_path), CONFIG, draws, Capable(), days=1).calls[0]
    nearest = simulate(toy.prepared(tmp_path), CONFIG, draws, Nearest(), days=1).calls[0]
    assert (capable.nearest_first, nearest.nearest_first) == (False, True)  # the stroke centre is the far one
    assert not capable.unstable  # the test patient's vitals are stable


def test_a_waiting_call_is_served_when_the_only_unit_comes_free(tmp_path: Path) -> None:
    calls = [Call(0, 0.0, SCENE[0], SCENE[1], toy.patient(4)), Call(1, 10.0, SCENE[0], SCENE[1], toy.patient(4))]
    result = simulate(toy.prepared(tmp_path), CONFIG, toy.draws(calls), Nearest(), days=1)
    first, second = result.calls
    assert second.response_s > first.response_s + 600.0  # it waited for the unit to finish the first patient


def test_same_draws_same_result(tmp_path: Path) -> None:
    calls = [Call(i, 900.0 * i, SCENE[0], SCENE[1], toy.patient(1 + i % 5)) for i in range(8)]
    draws = toy.draws(calls, occupied={NEAR.hpid: 1})
    runs = [simulate(toy.prepared(tmp_path), CONFIG, draws, GoldenTime(), days=1) for _ in range(2)]
    assert runs[0] == runs[1]


def test_coverage_refuses_centres_off_the_graph_unless_excluded(tmp_path: Path) -> None:
    scenario = Scenario("toy", "toy", tmp_path, tmp_path / "g.graphml", (NEAR, FAR), (BASE,))
    prepared = Prepared(scenario, toy.prepared(tmp_path).index, None, (OffGraph("centre", FAR.name, 900.0),))
    with pytest.raises(ScenarioError, match="does not cover"):
        check_coverage(scenario, prepared, CONFIG)
    check_coverage(scenario, prepared, SimConfig(exclude=(FAR.hpid,)))
    with pytest.raises(ScenarioError, match="not in toy"):
        check_coverage(scenario, prepared, SimConfig(exclude=("A9999999",)))


def test_policies_load_by_name_or_dotted_path() -> None:
    assert load_policy("nearest").name == "nearest"
    assert load_policy("simulations.policies:Capable").name == "capable"
    with pytest.raises(ValueError, match="unknown policy"):
        load_policy("fastest")
    with pytest.raises(ValueError, match="cannot be loaded"):
        load_policy("simulations.policies:Nope")
