"""The one acceptance model every policy meets (simulations/acceptance.py), worked out by hand."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.pathways import FLAG_PATHWAYS, Pathway
from dispatch.scenario import Centre
from simulations.acceptance import Reason, answer, draw_for, refusal_probability
from simulations.config import SimConfig
from simulations.patients import SimPatient
from simulations.world import ALWAYS_ON, CentreState
from telemetry import schemas

CONFIG = SimConfig(refuse_no_specialist=0.8, refuse_no_bed=0.6, critical_bed_factor=0.5, door_factor=0.25)
FLAG_OF = {pathway: flag for flag, pathway in FLAG_PATHWAYS.items()}


def _patient(ktas: int, needs: frozenset[Pathway] = frozenset()) -> SimPatient:
    flags = schemas.CrewFlags(**{FLAG_OF[p]: True for p in needs})
    vitals = schemas.Vitals.new(patient_id="P-test", flags=flags)
    return SimPatient(0, ktas, ktas, flags, needs, vitals, "", ktas, ktas <= 2, 0.5)


def _centre(level: int, *, occupancy: int = 0, on_duty: bool = True, closed: bool = False) -> CentreState:
    centre = Centre("A0000001", "시험병원", level, 35.15, 126.85)
    designated = CONFIG.designated(centre)
    state = CentreState(centre, beds=4, designated=designated, closed=closed, occupancy=occupancy)
    state.on_duty = designated - ALWAYS_ON if on_duty else frozenset()
    return state


STROKE = frozenset({Pathway.STROKE})


def test_a_centre_that_can_treat_and_has_a_bed_takes_everyone() -> None:
    assert refusal_probability(_centre(1), _patient(2, STROKE), CONFIG, at_door=False) == 0.0
    assert refusal_probability(_centre(3), _patient(4), CONFIG, at_door=False) == 0.0


def test_no_specialist_no_bed_and_both() -> None:
    no_team = _centre(1, on_duty=False)
    assert refusal_probability(no_team, _patient(3, STROKE), CONFIG, at_door=False) == pytest.approx(0.8)
    full = _centre(1, occupancy=4)
    assert refusal_probability(full, _patient(4), CONFIG, at_door=False) == pytest.approx(0.6)
    both = _centre(1, occupancy=4, on_duty=False)
    assert refusal_probability(both, _patient(3, STROKE), CONFIG, at_door=False) == pytest.approx(1 - 0.2 * 0.4)


def test_a_full_regional_centre_makes_room_for_the_critical_and_a_local_institution_is_no_place_for_them() -> None:
    assert refusal_probability(_centre(1, occupancy=4), _patient(1), CONFIG, at_door=False) == pytest.approx(0.3)
    # KTAS 1-2 at a level-3 institution: not definitive care there ("no specialist"), beds or not
    assert refusal_probability(_centre(3), _patient(2), CONFIG, at_door=False) == pytest.approx(0.8)


def test_at_the_door_refusals_are_rarer_and_a_closed_er_and_an_arrest_are_absolute() -> None:
    full = _centre(1, occupancy=4)
    assert refusal_probability(full, _patient(4), CONFIG, at_door=True) == pytest.approx(0.6 * 0.25)
    assert refusal_probability(_centre(1, closed=True), _patient(4), CONFIG, at_door=True) == 1.0
    arrest = _patient(1, frozenset({Pathway.CARDIAC_ARREST}))
    assert refusal_probability(_centre(4, occupancy=9), arrest, CONFIG, at_door=False) == 0.0
    strict = dataclasses.replace(CONFIG, arrest_always_accepted=False)
    assert refusal_probability(_centre(4, occupancy=9), arrest, strict, at_door=False) > 0.0


def test_the_answer_follows_the_draw_and_names_the_reason() -> None:
    full = _centre(1, occupancy=4)
    assert answer(full, _patient(4), CONFIG, 0.59, at_door=False).reason is Reason.NO_BED
    taken = answer(full, _patient(4), CONFIG, 0.61, at_door=False)
    assert taken.accepted and taken.definitive and not taken.bed
    no_team = answer(_centre(1, occupancy=4, on_duty=False), _patient(3, STROKE), CONFIG, 0.0, at_door=False)
    assert (no_team.accepted, no_team.reason, no_team.definitive) == (False, Reason.NO_SPECIALIST, False)
    closed = answer(_centre(1, closed=True), _patient(4), CONFIG, 0.0, at_door=False)
    assert closed.reason is Reason.CLOSED


def test_the_same_question_gets_the_same_draw_for_every_policy() -> None:
    assert draw_for(3, 17, 2, at_door=True) == draw_for(3, 17, 2, at_door=True)
    draws = {draw_for(3, 17, k, at_door=d) for k in range(5) for d in (False, True)}
    assert len(draws) == 10 and all(0.0 <= d < 1.0 for d in draws)


@given(
    level=st.integers(1, 4),
    ktas=st.integers(1, 5),
    occupancy=st.integers(0, 8),
    on_duty=st.booleans(),
    at_door=st.booleans(),
)
def test_a_fuller_er_never_refuses_less(level: int, ktas: int, occupancy: int, on_duty: bool, at_door: bool) -> None:
    patient = _patient(ktas)
    now = refusal_probability(_centre(level, occupancy=occupancy, on_duty=on_duty), patient, CONFIG, at_door=at_door)
    fuller = _centre(level, occupancy=occupancy + 1, on_duty=on_duty)
    assert 0.0 <= now <= refusal_probability(fuller, patient, CONFIG, at_door=at_door) <= 1.0
