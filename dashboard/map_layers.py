"""The control room's map as plain rows: one per unit, centre, incident and route, each with its
colour. Kept apart from pydeck and Streamlit so what the map shows can be tested directly.

Colours (RGB): units by status; centres by the ER beds left once the units already heading
there arrive (green 3+, amber 1-2, red none or overcrowded), purple on diversion, grey when
the report is stale or unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dashboard.state import STALE_AFTER_S, CityView, beds_age_s, silent
from dispatch.scenario import Centre
from telemetry import schemas

Rgb = tuple[int, int, int]

UNIT_COLOURS: dict[schemas.UnitStatus | None, Rgb] = {
    schemas.UnitStatus.AVAILABLE: (30, 136, 229),  # blue
    schemas.UnitStatus.DISPATCHED: (251, 140, 0),  # orange
    schemas.UnitStatus.ON_SCENE: (229, 57, 53),  # red
    schemas.UnitStatus.TRANSPORTING: (216, 27, 96),  # magenta
    schemas.UnitStatus.AT_HOSPITAL: (94, 53, 177),  # violet
    schemas.UnitStatus.OUT_OF_SERVICE: (120, 120, 120),
    schemas.UnitStatus.OFFLINE: (40, 40, 40),
    None: (120, 120, 120),
}
GREEN, AMBER, RED, PURPLE, GREY = (46, 125, 50), (249, 168, 37), (198, 40, 40), (123, 31, 162), (158, 158, 158)
INCIDENT_COLOUR: Rgb = (255, 214, 0)
#: Incidents older than this with no unit on them are no longer drawn.
INCIDENT_SHOWN_FOR = timedelta(hours=2)


@dataclass(frozen=True)
class CentrePoint:
    hpid: str
    name: str
    lat: float
    lon: float
    free: int | None  # ER beds left after the units heading there (None: unknown)
    inbound: int
    diverting: bool
    stale: bool
    colour: Rgb


@dataclass(frozen=True)
class UnitPoint:
    id: str
    lat: float
    lon: float
    status: str
    colour: Rgb


@dataclass(frozen=True)
class Line:
    unit_id: str
    start: tuple[float, float]  # (lat, lon)
    end: tuple[float, float]
    colour: Rgb


def centre_points(view: CityView, centres: tuple[Centre, ...], now: datetime) -> list[CentrePoint]:
    points = []
    for centre in centres:
        received = view.capacity.get(centre.hpid)
        inbound = view.inbound.get(centre.hpid)
        heading = len(inbound.patients) if inbound is not None else 0
        free: int | None = None
        diverting = stale = False
        if received is not None:
            capacity = received.payload
            assert isinstance(capacity, schemas.Capacity)
            er = capacity.beds.get(schemas.BedType.ER_GENERAL)
            if er is not None and er.available is not None:
                free = 0 if er.overcrowded else er.available - heading
            er_open = capacity.conditions.get(schemas.Condition.ER_OPEN)
            diverting = capacity.ems_traffic.status is schemas.TrafficStatus.CLOSED or (
                er_open is not None and er_open.available is False
            )
            stale = beds_age_s(capacity, now) > STALE_AFTER_S
        points.append(
            CentrePoint(centre.hpid, centre.name, centre.lat, centre.lon, free, heading, diverting, stale,
                        _centre_colour(free, diverting, stale))
        )  # fmt: skip
    return points


def _centre_colour(free: int | None, diverting: bool, stale: bool) -> Rgb:
    if diverting:
        return PURPLE
    if free is None or stale:
        return GREY
    return GREEN if free >= 3 else AMBER if free >= 1 else RED


def unit_points(view: CityView, now: datetime, *, silent_after_s: float | None = None) -> list[UnitPoint]:
    """Units where they last were; a silent one in the offline colour."""
    points = []
    for u in sorted(view.units.values(), key=lambda u: u.id):
        if u.lat is None or u.lon is None:
            continue
        status = schemas.UnitStatus.OFFLINE if silent(u, now, silent_after_s) else u.status
        points.append(UnitPoint(u.id, u.lat, u.lon, status.value if status else "unknown", UNIT_COLOURS[status]))
    return points


def open_incidents(view: CityView, now: datetime) -> list[tuple[str, schemas.Incident]]:
    """Calls still being answered: recent ones no unit has reached yet, and those a unit is on."""
    reached = set(view.responses_s)
    worked = {u.incident_id for u in view.units.values() if u.status is not schemas.UnitStatus.AVAILABLE}
    return [
        (key, incident)
        for key, incident in sorted(view.incidents.items())
        if key not in reached and (now - incident.ts <= INCIDENT_SHOWN_FOR or key in worked)
    ]


def routes(view: CityView, centres: tuple[Centre, ...]) -> list[Line]:
    """Where each busy unit is heading: the scene when dispatched, the advised centre when transporting."""
    where = {c.hpid: (c.lat, c.lon) for c in centres}
    lines = []
    for unit in sorted(view.units.values(), key=lambda u: u.id):
        if unit.lat is None or unit.lon is None:
            continue
        end: tuple[float, float] | None = None
        if unit.status is schemas.UnitStatus.DISPATCHED and unit.incident_id in view.incidents:
            incident = view.incidents[unit.incident_id]
            end = (incident.lat, incident.lon)
        elif unit.status is schemas.UnitStatus.TRANSPORTING and unit.id in view.advice:
            advice = view.advice[unit.id].payload
            assert isinstance(advice, schemas.Advice)
            end = where.get(advice.destination.hpid)
        if end is not None:
            lines.append(Line(unit.id, (unit.lat, unit.lon), end, UNIT_COLOURS[unit.status]))
    return lines
