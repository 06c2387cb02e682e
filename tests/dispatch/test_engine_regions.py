"""Regions on a shared bus, pure (issue 26): whose unit, incident, centre and answer each event is
(dispatch/partition.py, dispatch/regions.py ``Locator``), and the engine's side of the border-bed ledger: beds held
by other regions counted like inbound patients (``BedsHeld``), a refused bed decided again at once (``BedLost``),
a unit that crossed out forgotten (``UnitLeft``). Two hand-made regions, west (gwangju) and east (jeonnam), with a
border centre between them; no broker, no database, no clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch.commands import Advise, AssignUnit, Command, NotifyInbound, Refuse
from dispatch.engine import DispatchEngine
from dispatch.events import (
    AdviceSeen,
    AnswerReceived,
    BedLost,
    BedsHeld,
    CapacityReported,
    DecisionMade,
    Event,
    IncidentReported,
    Origin,
    PositionReported,
    StatusChanged,
    UnitLeft,
    VitalsReported,
)
from dispatch.explain import say
from dispatch.handshake import request_id
from dispatch.partition import WAITING_MAX, Item, Partition, RegionMap, fleet_regions
from dispatch.regions import Locator, Place, RegionError, region_at
from dispatch.scenario import Centre, Prepared, Scenario, Station, approximate_index
from dispatch.severity.model import TrainedSeverity
from dispatch.units import Incident
from telemetry.schemas import AnswerKind, UnitStatus
from tests.dispatch.bus import capacity, critical_vitals

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
LAT = 35.15
#: West of the border (lon 126.90) is gwangju's, east jeonnam's: the nearest stations say so.
WEST, EAST = (LAT, 126.88), (LAT, 126.92)
FAR_WEST, FAR_EAST = (LAT, 126.80), (LAT, 127.00)
G, X, J = "G0000001", "X0000001", "J0000001"  # gwangju's centre, the border centre, jeonnam's centre


def two_regions() -> Scenario:
    """West: gwangju's stations and its centre G; east: jeonnam's and J; X on the border, gwangju's, serving
    jeonnam too. X is the nearest centre from either side of the border."""
    centres = (
        Centre(G, "서부병원", 1, LAT, 126.82, region="gwangju"),
        Centre(X, "경계병원", 1, LAT, 126.90, region="gwangju", also_serves=("jeonnam",)),
        Centre(J, "동부병원", 1, LAT, 126.98, region="jeonnam"),
    )
    stations = (
        Station("서부119", LAT, 126.80, 2, "gwangju"),
        Station("경계서119", LAT, 126.86, 1, "gwangju"),
        Station("경계동119", LAT, 126.94, 1, "jeonnam"),
        Station("동부119", LAT, 127.00, 2, "jeonnam"),
    )
    return Scenario("two", "두 지역 (two regions)", Path(), Path("none.graphml"), centres, stations)


def prepared_of(scenario: Scenario) -> Prepared:
    return Prepared(scenario, approximate_index(scenario), None, ())


@pytest.fixture
def whole() -> Scenario:
    return two_regions()


def of(kind: type, commands: Sequence[Command]) -> list:  # type: ignore[type-arg]
    return [c for c in commands if isinstance(c, kind)]


def vitals_event(unit: str) -> VitalsReported:
    vitals = critical_vitals()
    return VitalsReported(unit, vitals, origin=Origin(f"ems/units/{unit}/vitals", b"{}"))


def position(unit: str, where: tuple[float, float]) -> PositionReported:
    return PositionReported(unit, *where)


# --- where a place is ---------------------------------------------------------------------------------------


def test_a_place_is_in_the_region_of_its_nearest_station(whole: Scenario) -> None:
    places = [Place(s.region, s.lat, s.lon) for s in whole.stations]
    locator = Locator(places)
    for where, expected in ((WEST, "gwangju"), (EAST, "jeonnam"), (FAR_WEST, "gwangju"), (FAR_EAST, "jeonnam")):
        assert locator.region_at(*where) == expected == region_at(*where, places)
    assert locator.regions_at([WEST[0], EAST[0]], [WEST[1], EAST[1]]) == ["gwangju", "jeonnam"]
    assert locator.regions == ("gwangju", "jeonnam")
    with pytest.raises(RegionError, match="at least one station"):
        Locator([Place("", LAT, 126.9)])


def test_the_locator_agrees_with_the_great_circle_on_the_national_stations() -> None:
    """The KD-tree on the unit sphere names the region of the nearest station by great-circle distance."""
    from goldentime.settings import default_data_dir
    from loaders.scenarios import load_scenario

    national = load_scenario("national", default_data_dir())
    places = [Place(s.region, s.lat, s.lon) for s in national.stations]
    locator = Locator(places)
    # a grid over Gwangju and its neighbours, and every station's own place
    grid = [(lat / 100, lon / 100) for lat in range(3480, 3560, 4) for lon in range(12620, 12740, 6)]
    assert locator.regions_at([p[0] for p in grid], [p[1] for p in grid]) == [region_at(*p, places) for p in grid]
    own = locator.regions_at([p.lat for p in places], [p.lon for p in places])
    assert sum(a != p.region for a, p in zip(own, places, strict=True)) == 0


def test_the_fleet_is_named_as_the_simulator_names_it(whole: Scenario) -> None:
    fleet = fleet_regions(whole.stations)
    assert fleet == {"U00-0": "gwangju", "U00-1": "gwangju", "U01-0": "gwangju", "U02-0": "jeonnam",
                     "U03-0": "jeonnam", "U03-1": "jeonnam"}  # fmt: skip


# --- whose events -------------------------------------------------------------------------------------------


@pytest.fixture
def west(whole: Scenario) -> Partition:
    return Partition(RegionMap.of(whole, "gwangju"))


@pytest.fixture
def east(whole: Scenario) -> Partition:
    return Partition(RegionMap.of(whole, "jeonnam"))


def test_a_fleet_unit_is_its_stations_region_wherever_it_is(west: Partition, east: Partition) -> None:
    events: list[Event] = [StatusChanged("U00-0", UnitStatus.TRANSPORTING), position("U00-0", FAR_EAST),
                           vitals_event("U00-0")]  # fmt: skip
    assert west.sort(events) == events  # gwangju's ambulance, in jeonnam: still gwangju's
    assert east.sort(events) == []
    assert east.stats.foreign == 3 and west.stats.foreign == 0


def test_an_unknown_unit_waits_for_its_first_position_then_goes_to_that_region(
    west: Partition, east: Partition
) -> None:
    held: list[Event] = [StatusChanged("tablet-1", UnitStatus.TRANSPORTING), vitals_event("tablet-1")]
    assert west.sort(held) == [] and east.sort(held) == []  # nobody's yet: held, neither refused nor noticed
    assert west.stats.waiting == 2
    first = position("tablet-1", EAST)
    assert west.sort([first]) == []
    assert east.sort([first]) == [*held, first]  # in order, with its position last
    assert east.owns("tablet-1") and not west.owns("tablet-1") and west.region_of("tablet-1") == "jeonnam"
    assert west.stats.waiting == 0 and east.stats.joined == 1


def test_a_free_unit_crossing_the_border_changes_region_a_unit_with_a_patient_does_not(
    west: Partition, east: Partition
) -> None:
    both = (west, east)

    def send(events: list[Event]) -> tuple[list[Item], list[Item]]:
        return west.sort(events), east.sort(events)

    available = StatusChanged("tablet-2", UnitStatus.AVAILABLE)
    send([available, position("tablet-2", WEST)])
    assert [p.owns("tablet-2") for p in both] == [True, False]
    w, e = send([position("tablet-2", EAST)])  # free: it crosses
    assert w == [UnitLeft("tablet-2")] and e == [available, position("tablet-2", EAST)]
    assert [p.owns("tablet-2") for p in both] == [False, True]
    # a patient aboard in the east: it stays jeonnam's across the border and back
    vitals = vitals_event("tablet-2")
    w, e = send([vitals, position("tablet-2", WEST), position("tablet-2", FAR_WEST)])
    assert w == [] and e == [vitals, position("tablet-2", WEST), position("tablet-2", FAR_WEST)]
    assert [p.owns("tablet-2") for p in both] == [False, True]
    # at hospital (in the west): the trip is over; its next position makes it gwangju's again
    arrived = StatusChanged("tablet-2", UnitStatus.AT_HOSPITAL)
    w, e = send([arrived, position("tablet-2", FAR_WEST)])
    assert e == [arrived, UnitLeft("tablet-2")] and w == [arrived, position("tablet-2", FAR_WEST)]
    assert [p.owns("tablet-2") for p in both] == [True, False]


def test_retained_advice_keeps_a_unit_in_the_region_of_its_first_position(west: Partition, east: Partition) -> None:
    """Advice for a patient counts as a patient aboard: the unit is not handed over while it drives."""
    seen = AdviceSeen("tablet-3", 5, "P-1", X, 300.0, True, None, "approximate", NOW)
    for p in (west, east):
        p.sort([seen, position("tablet-3", WEST)])
    assert east.sort([position("tablet-3", EAST)]) == [] and west.owns("tablet-3")


def test_a_refusal_of_a_units_message_is_sent_by_its_region_only(west: Partition, east: Partition) -> None:
    west.sort([position("U00-0", WEST)])
    east.sort([position("U00-0", WEST)])
    bad = Refuse(Origin("ems/units/U00-0/vitals", b"{"), say("malformed", detail="x"))
    assert west.sort([bad]) == [bad] and east.sort([bad]) == []
    decision = DecisionMade("U02-0", 3, True, origin=Origin("ems/units/U02-0/decision", b"{}"))
    assert west.sort([decision]) == [] and east.sort([decision]) == [decision]
    anyone = Refuse(Origin("ems/hospitals/X/capacity", b"{"), say("malformed", detail="x"))
    assert west.sort([anyone]) == [anyone] == east.sort([anyone])  # a centre's: every region tells the operators
    # a tablet with no region yet: its refusal waits for its first position, and goes to that region only
    early = Refuse(Origin("ems/units/tablet-4/status", b"{"), say("malformed", detail="x"))
    assert west.sort([early]) == [] == east.sort([early])
    assert west.sort([position("tablet-4", WEST)]) == [early, position("tablet-4", WEST)]
    assert east.sort([position("tablet-4", WEST)]) == []


def test_a_unit_waiting_for_its_first_position_keeps_its_newest_messages(west: Partition) -> None:
    many: list[Event] = [StatusChanged("tablet-5", UnitStatus.TRANSPORTING) for _ in range(WAITING_MAX + 5)]
    assert west.sort(many) == []
    assert west.stats.waiting == WAITING_MAX and west.stats.dropped == 5
    assert len(west.sort([position("tablet-5", WEST)])) == WAITING_MAX + 1


def test_incidents_centres_and_answers_go_to_their_region(west: Partition, east: Partition) -> None:
    here, there = Incident("I-W", *WEST, 1, "cardiac"), Incident("I-E", *EAST, 1, "cardiac")
    calls = [IncidentReported(here), IncidentReported(there)]
    assert west.sort(calls) == [calls[0]] and east.sort(calls) == [calls[1]]
    reports = [CapacityReported(h, capacity(NOW)) for h in (G, X, J)]
    assert west.sort(reports) == reports[:2]  # gwangju's part: G and the border centre X
    assert east.sort(reports) == reports[1:]  # jeonnam's: X and J
    for p in (west, east):
        p.sort([position("U00-0", WEST), position("U02-0", EAST)])
    to_west = AnswerReceived(X, request_id("U00-0", 4), AnswerKind.ACCEPT)
    to_east = AnswerReceived(X, request_id("U02-0", 4, second=True), AnswerKind.SEEN)
    assert west.sort([to_west, to_east]) == [to_west] and east.sort([to_west, to_east]) == [to_east]
    long_unit = "tablet-" + "x" * 60  # its requests name it by a hash
    for p in (west, east):
        p.sort([position(long_unit, EAST)])
    hashed = AnswerReceived(X, request_id(long_unit, 2), AnswerKind.ACCEPT)
    assert west.sort([hashed]) == [] and east.sort([hashed]) == [hashed]
    unknown = AnswerReceived(G, "nobody-v1", AnswerKind.ACCEPT)  # no unit: the centre's home region
    assert west.sort([unknown]) == [unknown] and east.sort([unknown]) == []


def test_a_new_leader_keeps_the_units_whose_patients_it_restored(west: Partition) -> None:
    west.claim([("tablet-6", *EAST)])
    assert west.owns("tablet-6")
    assert west.sort([position("tablet-6", FAR_EAST)]) == [position("tablet-6", FAR_EAST)]


# --- the engine's side --------------------------------------------------------------------------------------


@pytest.fixture
def gwangju(whole: Scenario, severity: TrainedSeverity) -> DispatchEngine:
    return DispatchEngine(prepared_of(whole.region("gwangju")), severity)


def reports(beds_x: int) -> list[Event]:
    """X's beds, and one at G: a critical patient takes the last bed at 4 minutes before one at 13 (not before
    nine there: walk-ins may take the last one first)."""
    return [CapacityReported(G, capacity(NOW, beds=1)), CapacityReported(X, capacity(NOW, beds=beds_x))]


def patient(unit: str, where: tuple[float, float]) -> list[Event]:
    return [StatusChanged(unit, UnitStatus.TRANSPORTING), position(unit, where), vitals_event(unit)]


def advice(commands: Sequence[Command], unit: str) -> Advise:
    (found,) = [c for c in commands if isinstance(c, Advise) and c.unit_id == unit]
    return found


def test_the_border_centre_is_nearest_and_has_the_bed_when_nobody_else_holds_it(gwangju: DispatchEngine) -> None:
    out = gwangju.apply([*reports(1), *patient("U01-0", WEST)], NOW)
    chosen = advice(out, "U01-0")
    assert chosen.destination.hpid == X and chosen.destination.beds_on_arrival == 1


def test_beds_held_by_another_region_count_like_inbound_patients(gwangju: DispatchEngine) -> None:
    out = gwangju.apply([*reports(1), BedsHeld(((X, 1),)), *patient("U01-0", WEST)], NOW)
    assert advice(out, "U01-0").destination.hpid == G  # X's one bed is jeonnam's


def test_a_centre_the_ledger_found_full_is_full_for_that_batch_only(gwangju: DispatchEngine) -> None:
    """The ledger's report may be newer than the engine's (2 beds here, none left there): ``full`` reads the
    centre as having no bed beyond this region's patients', for the batch it comes in."""
    out = gwangju.apply([*reports(2), BedsHeld((), frozenset({X})), *patient("U01-0", WEST)], NOW)
    assert advice(out, "U01-0").destination.hpid == G
    out = gwangju.apply(patient("U01-1", WEST), NOW + timedelta(seconds=1))
    assert advice(out, "U01-1").destination.hpid == X  # the next batch: X's two beds again


def test_a_refused_bed_has_the_patient_decided_again_and_advised_without_declining_the_centre(
    gwangju: DispatchEngine,
) -> None:
    first = advice(gwangju.apply([*reports(1), *patient("U01-0", WEST)], NOW), "U01-0")
    assert first.destination.hpid == X
    # the ledger refused X's bed (jeonnam took it): decided again in the same batch, with X counted as held
    again = gwangju.apply([BedsHeld(((X, 1),)), BedLost("U01-0", X)], NOW)
    second = advice(again, "U01-0")
    assert second.destination.hpid == G and second.advice_version > first.advice_version
    assert X not in gwangju.units["U01-0"].declined  # the crew declined nothing
    lists = {c.hpid: {p.unit_id for p in c.patients} for c in of(NotifyInbound, again)}
    assert "U01-0" in lists.get(G, {"U01-0"})
    # refused where it still is the best place to go (no bed anywhere else): advised again all the same
    gwangju.apply([CapacityReported(G, capacity(NOW, overcrowded=True))], NOW + timedelta(seconds=2))
    out = gwangju.apply([BedsHeld(((X, 1),)), BedLost("U01-0", X)], NOW + timedelta(seconds=3))
    assert [a.unit_id for a in of(Advise, out)] == ["U01-0"]


def test_a_unit_that_crossed_out_is_forgotten_and_sent_to_no_incident(gwangju: DispatchEngine) -> None:
    gwangju.apply([StatusChanged("tablet-7", UnitStatus.AVAILABLE), position("tablet-7", WEST)], NOW)
    assert "tablet-7" in gwangju.units
    gwangju.apply([UnitLeft("tablet-7")], NOW)
    assert "tablet-7" not in gwangju.units
    out = gwangju.apply([IncidentReported(Incident("I-1", *WEST, 1, "cardiac"))], NOW)
    assert of(AssignUnit, out) == []
    # a unit with a patient is never handed over: UnitLeft leaves it where it is
    gwangju.apply([*reports(3), *patient("U01-0", WEST)], NOW)
    gwangju.apply([UnitLeft("U01-0")], NOW)
    assert gwangju.units["U01-0"].has_patient
