"""What a simulated centre reports and treats, read from the one pathway table (``dispatch.pathways``),
and the router agreeing with it: a centre the simulator says gives definitive care is one the router
calls definitive for the same patient, and the other way round."""

from __future__ import annotations

import itertools

import pytest

from dispatch.centre_view import centre_view
from dispatch.pathways import FLAG_PATHWAYS, PATHWAYS, Pathway
from dispatch.router import PatientCase, plan
from dispatch.scenario import Centre
from simulations.config import SimConfig
from simulations.patients import SimPatient
from simulations.world import ALWAYS_ON, EPOCH, REPORTED, CentreState
from telemetry import schemas

C, E = schemas.Condition, schemas.Equipment
FLAG_OF = {pathway: flag for flag, pathway in FLAG_PATHWAYS.items()}


def _patient(ktas: int, needs: frozenset[Pathway] = frozenset()) -> SimPatient:
    flags = schemas.CrewFlags(**{FLAG_OF[p]: True for p in needs})
    vitals = schemas.Vitals.new(patient_id="P-test", flags=flags)
    return SimPatient(0, ktas, ktas, flags, needs, vitals, "", ktas, ktas <= 2, 0.9 if ktas <= 2 else 0.05)


def _centre(
    level: int, *, trauma: bool = False, on_duty: bool = True, closed: bool = False, config: SimConfig | None = None
) -> CentreState:
    centre = Centre("A0000001", "시험병원", level, 35.15, 126.85, trauma)
    designated = (config or SimConfig()).designated(centre)
    state = CentreState(centre, beds=10, designated=designated, closed=closed)
    state.on_duty = designated - ALWAYS_ON if on_duty else frozenset()
    state.post_report(0.0)
    return state


def test_a_centre_reports_the_items_of_the_pathways_tiers() -> None:
    assert REPORTED[Pathway.STEMI] == (C.STEMI_PCI,)  # angiography is not PCI
    assert REPORTED[Pathway.STROKE] == (C.STROKE_THROMBECTOMY, E.CT)  # thrombectomy, then CT at a level 1-2 centre
    assert REPORTED[Pathway.OBSTETRIC] == (C.OBSTETRIC_DELIVERY, C.OBSTETRIC_SURGERY)
    for pathway, items in REPORTED.items():
        asked = {item for tier in PATHWAYS[pathway].tiers for group in tier.groups for item in group}
        assert set(items) <= asked, pathway
    # what no item reports is staffed around the clock where designated, and rostered never
    assert {Pathway.CARDIAC_ARREST, Pathway.MAJOR_TRAUMA, Pathway.PAEDIATRIC} <= ALWAYS_ON
    assert not ALWAYS_ON & set(REPORTED)


def test_the_report_says_which_teams_are_on_duty_and_nothing_of_angiography() -> None:
    on = _centre(1).report
    assert on is not None
    assert on.conditions[C.STEMI_PCI].available is True and on.conditions[C.STROKE_THROMBECTOMY].available is True
    assert on.equipment[E.CT].available is True and E.ANGIOGRAPHY not in on.equipment
    assert on.conditions[C.ER_OPEN].available is True
    off = _centre(1, on_duty=False).report
    assert off is not None
    assert off.conditions[C.STEMI_PCI].available is False and off.equipment[E.CT].available is False
    closed = _centre(1, closed=True).report
    assert closed is not None and closed.conditions[C.ER_OPEN].available is False


STROKE, STEMI, TRAUMA, ARREST = (frozenset({p}) for p in (Pathway.STROKE, Pathway.STEMI, Pathway.MAJOR_TRAUMA,
                                                          Pathway.CARDIAC_ARREST))  # fmt: skip


@pytest.mark.parametrize(
    ("centre", "patient", "treats"),
    [
        (_centre(3), _patient(2), False),  # KTAS 1-2: never a level 3-4 centre
        (_centre(3), _patient(4), True),
        (_centre(2), _patient(1), True),  # general critical: a regional or local centre
        (_centre(4), _patient(1, ARREST), True),  # cardiac arrest: any open ER
        (_centre(4, closed=True), _patient(1, ARREST), False),
        (_centre(1), _patient(2, STROKE), True),
        (_centre(1, on_duty=False), _patient(2, STROKE), False),
        (_centre(1, on_duty=False), _patient(2, STEMI), False),
        (_centre(1, trauma=True, on_duty=False), _patient(2, TRAUMA), True),  # trauma centres never close
        (_centre(2), _patient(2, TRAUMA), True),  # the second tier: a regional or local centre
        (_centre(3), _patient(3, TRAUMA), False),
        # a level 3 centre with a PCI team treats a STEMI, but not a KTAS 1-2 patient
        (_centre(3, config=SimConfig(capabilities={"A0000001": frozenset({Pathway.STEMI})})), _patient(3, STEMI), True),
        (
            _centre(3, config=SimConfig(capabilities={"A0000001": frozenset({Pathway.STEMI})})),
            _patient(2, STEMI),
            False,
        ),
    ],
)
def test_treats(centre: CentreState, patient: SimPatient, treats: bool) -> None:
    assert centre.treats(patient) is treats


PATIENTS = [frozenset[Pathway](), *(frozenset({p}) for p in sorted(set(FLAG_PATHWAYS.values())))]
CENTRES = [(1, True), (1, False), (2, False), (3, False), (4, False)]  # (level, trauma centre)


@pytest.mark.parametrize(("level", "trauma"), CENTRES)
def test_the_router_calls_definitive_what_the_simulated_centre_treats(level: int, trauma: bool) -> None:
    for needs, ktas, on_duty in itertools.product(PATIENTS, (2, 4), (True, False)):
        centre = _centre(level, trauma=trauma, on_duty=on_duty)
        patient = _patient(ktas, needs)
        case = PatientCase("U1", ktas, needs, {centre.hpid: 600.0}, critical=patient.model_critical,
                           p_critical=patient.model_p_critical)  # fmt: skip
        (choice,) = plan([case], [centre_view(centre.centre, centre.report, EPOCH)])
        assert choice.definitive == centre.treats(patient), (sorted(needs), ktas, on_duty, choice.mode)
