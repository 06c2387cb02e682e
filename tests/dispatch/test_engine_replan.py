"""The engine re-plans whom a centre's news concerns (R-NEWS, dispatch/replan.py), not every patient: a report
from a centre far beyond every patient's horizon re-plans nobody; one from the centre patients are heading to
re-plans them, and moves them when it no longer fits. Hand-made centres on a line, approximate ETAs, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch.commands import Advise
from dispatch.engine import DispatchEngine
from dispatch.events import CapacityReported, Event, Origin, PositionReported, StatusChanged, VitalsReported
from dispatch.scenario import Centre, Prepared, Scenario, Station, approximate_index
from dispatch.severity.model import TrainedSeverity
from telemetry.schemas import UnitStatus
from tests.dispatch.bus import capacity, critical_vitals, minor_vitals

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
LAT = 35.15
#: Two centres near the patients, one 10 km east of them, one ~90 km east (beyond any horizon).
NEAR, NEXT, EAST, FAR = "N0000001", "N0000002", "E0000001", "F0000001"
LONS = {NEAR: 126.80, NEXT: 126.82, EAST: 126.91, FAR: 127.80}
UNITS = [f"U{k}" for k in range(6)]


@pytest.fixture
def engine(severity: TrainedSeverity) -> DispatchEngine:
    centres = tuple(Centre(hpid, hpid, 1, LAT, lon, region="gwangju") for hpid, lon in LONS.items())
    stations = (Station("서부119", LAT, 126.79, 6, "gwangju"),)
    scenario = Scenario("line", "일직선 (a line)", Path(), Path("none.graphml"), centres, stations)
    engine = DispatchEngine(Prepared(scenario, approximate_index(scenario), None, ()), severity)
    engine.apply([CapacityReported(hpid, capacity(NOW, beds=10)) for hpid in LONS], NOW)
    events: list[Event] = []
    for k, unit in enumerate(UNITS):
        vitals = critical_vitals() if k % 2 else minor_vitals()
        events += [
            StatusChanged(unit, UnitStatus.TRANSPORTING),
            PositionReported(unit, LAT, 126.795 + k * 0.002),
            VitalsReported(unit, vitals, origin=Origin(f"ems/units/{unit}/vitals", b"{}")),
        ]
    engine.apply(events, NOW + timedelta(seconds=1))
    assert engine.routed == len(UNITS)
    return engine


def heading(engine: DispatchEngine) -> dict[str, str | None]:
    return {unit: engine.units[unit].destination for unit in UNITS}


def test_a_report_from_a_centre_beyond_every_horizon_re_plans_nobody(engine: DispatchEngine) -> None:
    before, plans = heading(engine), engine.plans
    assert FAR not in before.values()
    commands = engine.apply([CapacityReported(FAR, capacity(NOW, beds=30))], NOW + timedelta(seconds=2))
    assert engine.plans == plans + 1 and engine.routed == 0
    assert [c for c in commands if isinstance(c, Advise)] == [] and heading(engine) == before


def test_a_report_from_where_patients_are_heading_re_plans_them_and_moves_them_when_it_no_longer_fits(
    engine: DispatchEngine,
) -> None:
    before = heading(engine)
    there = [unit for unit, hpid in before.items() if hpid == NEAR]
    assert there, before
    engine.apply([CapacityReported(NEAR, capacity(NOW, beds=10))], NOW + timedelta(seconds=2))
    assert engine.routed >= len(there) and heading(engine) == before  # re-planned, nothing changed: they stay
    commands = engine.apply([CapacityReported(NEAR, capacity(NOW, overcrowded=True))], NOW + timedelta(seconds=3))
    moved = {c.unit_id: c.destination.hpid for c in commands if isinstance(c, Advise)}
    assert set(there) <= set(moved) and NEAR not in moved.values()
    assert engine.routed >= len(there)
