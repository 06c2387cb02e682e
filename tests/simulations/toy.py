"""The toy city of the simulator's tests: two centres on one meridian and one 119 base south of them, no road graph
(approximate ETAs), centres that refuse what they cannot do. Every outcome can be worked out by hand.

Shared by test_engine.py, test_sensitivity.py and test_handshake.py; each keeps its own variations (a larger base,
other on-duty teams, its own patients) local.
"""

from __future__ import annotations

from pathlib import Path

from dispatch.pathways import Pathway
from dispatch.scenario import Centre, Prepared, Scenario, Station
from loaders.scenarios import prepare
from simulations.city import CityDraws
from simulations.config import SimConfig
from simulations.patients import SimPatient
from simulations.world import Call
from telemetry import schemas

NEAR = Centre("A0000001", "가까운병원", 3, 35.150, 126.850)  # a local institution: no stroke team
FAR = Centre("A0000002", "먼대학병원", 1, 35.200, 126.850)  # regional centre, ~5.5 km north
BASE = Station("기지119안전센터", 35.140, 126.850)  # one ambulance
SCENE = (35.145, 126.850)
#: The far centre's teams, on duty all day unless a test says otherwise; the near centre has none.
TEAMS = frozenset({Pathway.STROKE, Pathway.STEMI})

#: Centres that always refuse what they cannot do (no bed, no team): every outcome can be worked out by hand.
CONFIG = SimConfig(
    calls_per_day=1.0,
    walkin_occupancy=0.0,
    beds={NEAR.hpid: 2, FAR.hpid: 2},
    refuse_no_specialist=1.0,
    refuse_no_bed=1.0,
    critical_bed_factor=1.0,
    door_factor=1.0,
)


def prepared(
    tmp_path: Path, centres: tuple[Centre, ...] = (NEAR, FAR), stations: tuple[Station, ...] = (BASE,)
) -> Prepared:
    """The toy city, prepared without a road graph (``tmp_path`` holds none) and without a cache."""
    scenario = Scenario("toy", "toy city", tmp_path, tmp_path / "no-graph.graphml", centres, stations)
    return prepare(scenario, cache_dir=None)


def patient(
    ktas: int,
    needs: frozenset[Pathway] = frozenset(),
    *,
    model_ktas: int | None = None,
    p_critical: float | None = None,
) -> SimPatient:
    """A patient of true level ``ktas`` (the nurse's too) with stable vitals; the model agrees unless told
    ``model_ktas``, and is sure of its call (p_critical 0.9 or 0.05) unless told ``p_critical``."""
    flags = schemas.CrewFlags(fast_positive=Pathway.STROKE in needs, cardiac_arrest=Pathway.CARDIAC_ARREST in needs)
    return SimPatient(
        row=0,
        ktas=ktas,
        ktas_nurse=ktas,
        flags=flags,
        needs=needs,
        vitals=schemas.Vitals.new(patient_id="P-test", flags=flags),
        complaint="",
        model_ktas=model_ktas or ktas,
        model_critical=(model_ktas or ktas) <= 2,
        model_p_critical=p_critical if p_critical is not None else 0.9 if (model_ktas or ktas) <= 2 else 0.05,
    )


def one_call(patient: SimPatient) -> list[Call]:
    """One call at the scene, an hour into the day."""
    return [Call(0, 3600.0, SCENE[0], SCENE[1], patient)]


def draws(
    calls: list[Call], *, occupied: dict[str, int] | None = None, on_duty: frozenset[Pathway] = TEAMS
) -> CityDraws:
    """The city's draws for ``calls``: 10 min on scene, an hour's stay, no walk-ins; ``occupied`` beds (by hpid)
    taken for good from the start; the far centre's ``on_duty`` teams all day."""
    occupied = occupied or {}
    return CityDraws(
        calls=tuple(calls),
        on_scene_s=tuple(600.0 for _ in calls),
        stay_s=tuple(3600.0 for _ in calls),
        walkins={NEAR.hpid: (), FAR.hpid: ()},
        initial={h: tuple(1e9 for _ in range(occupied.get(h, 0))) for h in (NEAR.hpid, FAR.hpid)},
        rosters={NEAR.hpid: (frozenset(),) * 4, FAR.hpid: (on_duty,) * 4},
        seed=1,
        surge=1.0,
    )
