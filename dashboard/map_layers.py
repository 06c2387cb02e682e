"""The control room's map as plain rows: one per unit, centre, incident and route, each with its
colour, the table of centres, and where the map's labels go. Kept apart from pydeck and Streamlit so
what the map shows can be tested directly.

Colours (RGB): units by status (a unit gone silent like an offline one); centres by the ER beds left
once the units already heading there arrive (green 3+, amber 1-2, red none or overcrowded), purple on
diversion, grey when the report is stale or unknown.

Centres that would cover each other at the map's first zoom are drawn apart (:func:`spread`, with a
line to where they are), and every label is put beside its point where it covers no other point or
label at that zoom (:func:`place_labels`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dashboard.state import STALE_AFTER_S, CityView, beds_age_s, shown_status
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
#: A unit heard from once and not since: drawn as offline (black), listed as silent (무응답).
SILENT_COLOUR = UNIT_COLOURS[schemas.UnitStatus.OFFLINE]
GREEN, AMBER, RED, PURPLE, GREY = (46, 125, 50), (249, 168, 37), (198, 40, 40), (123, 31, 162), (158, 158, 158)
INCIDENT_COLOUR: Rgb = (255, 214, 0)
#: Incidents older than this with no unit on them are no longer drawn.
INCIDENT_SHOWN_FOR = timedelta(hours=2)
#: Markers' radii on the screen (pixels): the map keeps them this size at every zoom.
CENTRE_RADIUS_PX, UNIT_RADIUS_PX, INCIDENT_RADIUS_PX = 9, 6, 6
#: Labels' type size (pixels).
LABEL_PX = 14


@dataclass(frozen=True)
class CentrePoint:
    """A centre as the control room shows it: on the map and in the table of centres."""

    hpid: str
    name: str
    lat: float
    lon: float
    free: int | None  # ER beds left after the units heading there (None: unknown)
    inbound: int
    diverting: bool
    stale: bool
    colour: Rgb
    level: int = 0  # 1 권역응급의료센터 ... 4 응급실운영신고기관 (0: not known)
    available: int | None = None  # ER beds its report gives (before the units heading there)
    total: int | None = None
    overcrowded: bool = False
    reason: str | None = None  # why it does not take ambulances, in its report's words
    age_s: float | None = None  # age of its bed report (None: no report heard)
    offload_min: float | None = None  # the offload time it reports
    at_door: int = 0  # units at the hospital now
    longest_at_door_min: float | None = None  # the longest of them, in city minutes


@dataclass(frozen=True)
class UnitPoint:
    id: str
    lat: float
    lon: float
    status: str  # :func:`dashboard.state.shown_status`: a UnitStatus value, "silent" or "unknown"
    colour: Rgb


@dataclass(frozen=True)
class Line:
    unit_id: str
    start: tuple[float, float]  # (lat, lon)
    end: tuple[float, float]
    colour: Rgb


def centre_points(
    view: CityView, centres: tuple[Centre, ...], now: datetime, *, clock_speed: float = 1.0
) -> list[CentrePoint]:
    """Every centre of the scenario, in its order, with what its latest report and the units say."""
    points = []
    for centre in centres:
        received = view.capacity.get(centre.hpid)
        inbound = view.inbound.get(centre.hpid)
        heading = len(inbound.patients) if inbound is not None else 0
        free = available = total = None
        offload: float | None = None
        diverting = stale = overcrowded = False
        reason: str | None = None
        age_s: float | None = None
        if received is not None:
            capacity = received.payload
            assert isinstance(capacity, schemas.Capacity)
            er = capacity.beds.get(schemas.BedType.ER_GENERAL)
            if er is not None:
                available, total, overcrowded = er.available, er.total, er.overcrowded
            if overcrowded:
                free = 0  # an overcrowded ER reports no count: none to give
            elif available is not None:
                free = available - heading
            er_open = capacity.conditions.get(schemas.Condition.ER_OPEN)
            traffic = capacity.ems_traffic
            expired = traffic.expires_at is not None and traffic.expires_at <= now  # as the router reads it
            closed = traffic.status is schemas.TrafficStatus.CLOSED and not expired
            diverting = closed or (er_open is not None and er_open.available is False)
            reason = capacity.ems_traffic.reason if closed else None
            age_s = beds_age_s(capacity, now)
            stale = age_s > STALE_AFTER_S
            offload = capacity.offload_minutes
        at_door = [
            (now - u.status_at).total_seconds() * clock_speed / 60.0
            for u in view.units.values()
            if u.status is schemas.UnitStatus.AT_HOSPITAL and u.hpid == centre.hpid and u.status_at is not None
        ]
        points.append(
            CentrePoint(
                centre.hpid, centre.name, centre.lat, centre.lon, free, heading, diverting, stale,
                _centre_colour(free, diverting, stale), level=centre.level, available=available, total=total,
                overcrowded=overcrowded, reason=reason, age_s=age_s, offload_min=offload, at_door=len(at_door),
                longest_at_door_min=max(at_door) if at_door else None,
            )
        )  # fmt: skip
    return points


def _centre_colour(free: int | None, diverting: bool, stale: bool) -> Rgb:
    if diverting:
        return PURPLE
    if free is None or stale:
        return GREY
    return GREEN if free >= 3 else AMBER if free >= 1 else RED


def unit_points(view: CityView, now: datetime, *, silent_after_s: float | None = None) -> list[UnitPoint]:
    """Units where they last were; a silent one in the offline colour (and listed as silent on the board)."""
    points = []
    for u in sorted(view.units.values(), key=lambda u: u.id):
        if u.lat is None or u.lon is None:
            continue
        status = shown_status(u, now, silent_after_s)
        colour = SILENT_COLOUR if status == "silent" else UNIT_COLOURS[u.status]
        points.append(UnitPoint(u.id, u.lat, u.lon, status, colour))
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


# --- where things go on the screen -------------------------------------------------------------------

#: deck.gl's world at zoom 0 is 512 pixels wide (Web Mercator).
WORLD_PX = 512.0


def to_pixels(lat: float, lon: float, zoom: float) -> tuple[float, float]:
    """Web Mercator pixel coordinates at ``zoom`` (x east, y south), as deck.gl draws them."""
    scale = WORLD_PX * 2.0**zoom
    phi = math.radians(max(-85.0, min(85.0, lat)))
    return (lon + 180.0) / 360.0 * scale, (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0 * scale


def from_pixels(x: float, y: float, zoom: float) -> tuple[float, float]:
    """(lat, lon) of Web Mercator pixel coordinates at ``zoom``: the inverse of :func:`to_pixels`."""
    scale = WORLD_PX * 2.0**zoom
    lon = x / scale * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * y / scale))))
    return lat, lon


@dataclass(frozen=True)
class View:
    lat: float
    lon: float
    zoom: float


def fit_view(
    points: Sequence[tuple[float, float]], *, width_px: float, height_px: float, margin_px: float = 30
) -> View:
    """The centre and zoom (in quarter steps) at which all ``points`` (lat, lon) fit a map of that size."""
    xs, ys = zip(*(to_pixels(lat, lon, 0.0) for lat, lon in points), strict=True)
    span_x, span_y = max(max(xs) - min(xs), 1e-9), max(max(ys) - min(ys), 1e-9)
    zoom = math.log2(min((width_px - 2 * margin_px) / span_x, (height_px - 2 * margin_px) / span_y))
    lat, lon = from_pixels((max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2, 0.0)
    return View(lat, lon, math.floor(min(zoom, 17.0) * 4) / 4)


def spread(
    points: Sequence[tuple[float, float]], zoom: float, min_px: float, *, rounds: int = 60
) -> list[tuple[float, float]]:
    """Where to draw ``points`` (lat, lon) so that none is closer than ``min_px`` to another at ``zoom``: points
    that would cover each other are pushed apart, evenly, the others stay where they are."""
    start = [to_pixels(lat, lon, zoom) for lat, lon in points]
    xy = [list(p) for p in start]
    for _ in range(rounds):
        moved = False
        for i in range(len(xy)):
            for j in range(i + 1, len(xy)):
                dx, dy = xy[j][0] - xy[i][0], xy[j][1] - xy[i][1]
                distance = math.hypot(dx, dy)
                if distance >= min_px - 1e-6:
                    continue
                if distance < 1e-6:  # the very same place: apart along a direction of their own
                    angle = (i * 7 + j * 3) * 0.7
                    dx, dy, distance = math.cos(angle), math.sin(angle), 1.0
                push = (min_px - distance) / 2 + 0.5
                ux, uy = dx / distance, dy / distance
                xy[i][0] -= ux * push
                xy[i][1] -= uy * push
                xy[j][0] += ux * push
                xy[j][1] += uy * push
                moved = True
        if not moved:
            break
    return [
        point if (x, y) == first else from_pixels(x, y, zoom)
        for point, first, (x, y) in zip(points, start, xy, strict=True)
    ]


@dataclass(frozen=True)
class Placement:
    """Where a label goes, relative to its point: a pixel offset and the text's anchor and baseline (deck.gl's
    TextLayer ``getPixelOffset``, ``getTextAnchor``, ``getAlignmentBaseline``)."""

    offset: tuple[float, float]
    anchor: str  # start | middle | end
    baseline: str  # center | top | bottom
    clear: bool  # covers no other label or point at the zoom it was placed for


Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def text_width_px(text: str, size_px: float) -> float:
    """About how wide ``text`` is: Hangul and other wide characters a full em, the rest about 0.6 em."""
    return sum(size_px * (1.0 if ord(c) >= 0x1100 else 0.3 if c == " " else 0.62) for c in text)


def _candidates(radius: float, height: float) -> list[Placement]:
    """Beside the point first (right, left, at its corners, above, below), then a line or two farther up or down."""
    gap, corner = radius + 4, radius * 0.7 + 2
    out = [
        Placement((gap, 0), "start", "center", True),
        Placement((-gap, 0), "end", "center", True),
        Placement((corner, -corner), "start", "bottom", True),
        Placement((corner, corner), "start", "top", True),
        Placement((-corner, -corner), "end", "bottom", True),
        Placement((-corner, corner), "end", "top", True),
        Placement((0, -gap), "middle", "bottom", True),
        Placement((0, gap), "middle", "top", True),
    ]
    for step in (1, 2):
        out += [
            Placement((0, -gap - step * height), "middle", "bottom", True),
            Placement((0, gap + step * height), "middle", "top", True),
            Placement((gap, -step * height), "start", "center", True),
            Placement((gap, step * height), "start", "center", True),
            Placement((-gap, -step * height), "end", "center", True),
            Placement((-gap, step * height), "end", "center", True),
        ]
    return out


def _box(x: float, y: float, place: Placement, width: float, height: float) -> Box:
    ax, ay = x + place.offset[0], y + place.offset[1]
    x0 = ax if place.anchor == "start" else ax - width if place.anchor == "end" else ax - width / 2
    y0 = ay - height / 2 if place.baseline == "center" else ay - height if place.baseline == "bottom" else ay
    return x0, y0, x0 + width, y0 + height


def _overlap(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


@dataclass(frozen=True)
class LabelItem:
    lat: float
    lon: float
    text: str
    radius_px: float  # of its point's marker


def place_labels(
    items: Sequence[LabelItem],
    zoom: float,
    *,
    size_px: float = LABEL_PX,
    obstacles: Sequence[tuple[float, float, float]] = (),
    padding_px: float = 3.0,
    screen: View | None = None,
    screen_px: tuple[float, float] = (0.0, 0.0),
) -> list[Placement]:
    """A place for each label beside its point (in ``items`` order: the first are placed first) where it covers
    no marker (the items' own and ``obstacles``: lat, lon, radius) and no label placed before it at ``zoom``, and,
    with ``screen`` (the map's first view) and ``screen_px`` (its size), stays on the map; when every place is
    taken, the one that covers least (``clear`` False)."""
    height = size_px * 1.25 + 2 * padding_px
    inside: Box | None = None
    if screen is not None:
        cx, cy = to_pixels(screen.lat, screen.lon, zoom)
        inside = (cx - screen_px[0] / 2, cy - screen_px[1] / 2, cx + screen_px[0] / 2, cy + screen_px[1] / 2)
    markers: list[Box] = []
    for lat, lon, radius in [(i.lat, i.lon, i.radius_px) for i in items] + list(obstacles):
        x, y = to_pixels(lat, lon, zoom)
        markers.append((x - radius, y - radius, x + radius, y + radius))
    taken: list[Box] = []
    placements = []
    for item in items:
        x, y = to_pixels(item.lat, item.lon, zoom)
        width = text_width_px(item.text, size_px) + 2 * padding_px
        best: tuple[float, Placement, Box] | None = None
        for place in _candidates(item.radius_px, height):
            box = _box(x, y, place, width, height)
            covered = sum(_overlap(box, other) for other in taken + markers)
            if inside is not None:  # the part off the map counts as covered
                covered += (box[2] - box[0]) * (box[3] - box[1]) - _overlap(box, inside)
            if best is None or covered < best[0]:
                best = (covered, place, box)
            if covered == 0:
                break
        assert best is not None
        covered, place, box = best
        placements.append(Placement(place.offset, place.anchor, place.baseline, covered == 0))
        taken.append(box)
    return placements
