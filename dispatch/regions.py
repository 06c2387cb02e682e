"""Regions (시도): the one list of Korea's 17 first-level regions, the names the data gives them, and
which regions an emergency centre serves.

Decisions are partitioned by region (docs: DESIGN.md, "one active dispatcher per region"): beds
compete within a region, and each 119 headquarters (소방본부) dispatches its own 시도. Every
centre and station has one **home region**; a centre near a border also serves its neighbours.

Names. The data spells regions several ways: E-Gen's ``sido`` uses the newest administrative
names (강원특별자치도, 전북특별자치도, and 전남광주통합특별시 for Gwangju and Jeonnam together),
the 119 list's ``시도본부`` column names headquarters (강원도, 전라북도, 경기북부 for northern
Gyeonggi's own headquarters, 창원시 for Changwon's), addresses may abbreviate (경남, 제주).
:func:`region_code` maps all of them onto :data:`REGIONS`, one short code each. The merged
전남광주통합특별시 is split back by its 시군구 (:func:`region_of`): Gwangju's five autonomous 구
(동구, 서구, 남구, 북구, 광산구) are ``gwangju``, every other 시·군 ``jeonnam`` — the fire
headquarters, hence the dispatchers, are still two, and the hpid codes (A15…, A26…) agree.

Border rule (:func:`border_regions`). A centre ``c`` of level ``L`` (1 권역 … 4 신고기관) whose
home region is ``H`` also serves a region ``R ≠ H`` when at least one 119 safety centre ``s`` of
``R`` is

1. within ``border_km`` of ``c`` (default 10 km): the centre is just across the border; or
2. within ``reach_km`` of ``c`` (default 50 km) **and** nearer to ``c`` than to every centre of
   ``R`` of level ``L`` or better (every centre of ``R`` at least as capable): for some of ``R``'s
   patients needing that level, ``c`` is nearer than anything ``R`` has (another neighbour's centre
   may be nearer still, and serves ``R`` too).

Stations stand for where a region's patients are (calls happen around them). Distances are
great-circle, like the approximate ETAs; the rule is about who may plan with a centre, not an
ETA. The relation is not symmetric: a Seoul centre may serve Gyeonggi while a Gyeonggi centre
across the same border does not serve Seoul. A centre may serve several neighbours (충남대학교병원
in Daejeon serves five).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dispatch.errors import DispatchError
from dispatch.roads import haversine_m


class RegionError(DispatchError, ValueError):
    """A region name or code that is not one of the 17 시도, with what was given."""


@dataclass(frozen=True)
class Region:
    code: str  # short code: seoul, busan, ... jeju
    name: str  # the official name today, e.g. 강원특별자치도
    name_en: str
    short: str  # the usual abbreviation: 서울, 강원, 전북 ...
    egen: str  # the two digits after the letter of E-Gen hpids (A15… = Gwangju)
    aliases: tuple[str, ...] = ()  # other spellings found in the data

    def label(self) -> str:
        """Korean first, with the English counterpart: ``광주광역시 (Gwangju)``."""
        return f"{self.name} ({self.name_en})"


#: The 17 시도, in the order of their administrative codes (서울 11 … 제주 50).
REGIONS: tuple[Region, ...] = (
    Region("seoul", "서울특별시", "Seoul", "서울", "11", ("서울시",)),
    Region("busan", "부산광역시", "Busan", "부산", "12", ("부산시",)),
    Region("daegu", "대구광역시", "Daegu", "대구", "13", ("대구시",)),
    Region("incheon", "인천광역시", "Incheon", "인천", "14", ("인천시",)),
    Region("gwangju", "광주광역시", "Gwangju", "광주", "15", ("광주시",)),
    Region("daejeon", "대전광역시", "Daejeon", "대전", "16", ("대전시",)),
    Region("ulsan", "울산광역시", "Ulsan", "울산", "17", ("울산시",)),
    Region("sejong", "세종특별자치시", "Sejong", "세종", "18", ("세종시",)),
    # 경기북부: the 119 list's headquarters of northern Gyeonggi (경기도북부소방재난본부).
    Region("gyeonggi", "경기도", "Gyeonggi", "경기", "21", ("경기북부", "경기남부")),
    Region("gangwon", "강원특별자치도", "Gangwon", "강원", "22", ("강원도",)),
    Region("chungbuk", "충청북도", "Chungbuk (North Chungcheong)", "충북", "23"),
    Region("chungnam", "충청남도", "Chungnam (South Chungcheong)", "충남", "24"),
    Region("jeonbuk", "전북특별자치도", "Jeonbuk (North Jeolla)", "전북", "25", ("전라북도",)),
    Region("jeonnam", "전라남도", "Jeonnam (South Jeolla)", "전남", "26"),
    Region("gyeongbuk", "경상북도", "Gyeongbuk (North Gyeongsang)", "경북", "27"),
    # 창원시: the 119 list's headquarters of Changwon (창원소방본부), a city of 경상남도.
    Region("gyeongnam", "경상남도", "Gyeongnam (South Gyeongsang)", "경남", "28", ("창원시",)),
    Region("jeju", "제주특별자치도", "Jeju", "제주", "29", ("제주도",)),
)

#: Region names that stand for more than one region: the 시군구 decides (see :func:`region_of`).
MERGED = "전남광주통합특별시"
#: Gwangju's autonomous districts; every other 시·군 of :data:`MERGED` is Jeonnam.
GWANGJU_GU = frozenset({"동구", "서구", "남구", "북구", "광산구"})

_BY_CODE = {r.code: r for r in REGIONS}
_BY_NAME = {name: r.code for r in REGIONS for name in (r.code, r.name, r.short, *r.aliases)}


def region(code: str) -> Region:
    """The region of short code ``code``."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise RegionError(f"unknown region {code!r}; known: {', '.join(_BY_CODE)}") from None


def region_code(name: str) -> str:
    """The short code of region ``name`` in any spelling the data uses (not :data:`MERGED`)."""
    try:
        return _BY_NAME[name.strip()]
    except KeyError:
        if name.strip() == MERGED:
            raise RegionError(f"{MERGED} is Gwangju or Jeonnam: its 시군구 decides") from None
        raise RegionError(f"unknown region (시도) {name!r}") from None


def region_of(sido: str, sigungu: str = "") -> str:
    """The region of a place from its 시도 and 시군구 (the merged 전남광주통합특별시 split by 시군구)."""
    if sido.strip() == MERGED:
        if not sigungu.strip():
            raise RegionError(f"{MERGED} without its 시군구: Gwangju or Jeonnam cannot be told")
        return "gwangju" if sigungu.strip() in GWANGJU_GU else "jeonnam"
    return region_code(sido)


def region_of_address(address: str) -> str:
    """The region of a Korean address that starts with its 시도 (``광주광역시 광산구 …``)."""
    words = address.split()
    if not words:
        raise RegionError("an empty address names no region")
    return region_of(words[0], words[1] if len(words) > 1 else "")


def ordered(codes: Iterable[str]) -> tuple[str, ...]:
    """``codes`` without repeats, in the order of :data:`REGIONS`."""
    wanted = set(codes)
    unknown = wanted - set(_BY_CODE)
    if unknown:
        raise RegionError(f"unknown regions {sorted(unknown)}; known: {', '.join(_BY_CODE)}")
    return tuple(r.code for r in REGIONS if r.code in wanted)


@dataclass(frozen=True)
class BorderRule:
    """The border rule of the module docstring, in kilometres."""

    border_km: float = 10.0
    reach_km: float = 50.0

    def __post_init__(self) -> None:
        if not (0 <= self.border_km <= self.reach_km):
            raise RegionError(f"border rule needs 0 <= border_km <= reach_km, not {self.border_km}, {self.reach_km}")


@dataclass(frozen=True)
class Place:
    """What the border rule needs of a centre or a station."""

    region: str
    lat: float
    lon: float
    level: int = 0  # centres only: 1 (권역) … 4


def border_regions(
    centres: Sequence[Place], stations: Sequence[Place], rule: BorderRule = BorderRule()
) -> tuple[tuple[str, ...], ...]:
    """For each of ``centres``, the regions other than its own that it serves (:data:`REGIONS`
    order) by ``rule``, given every region's ``stations``."""
    if not centres or not stations:
        return tuple(() for _ in centres)
    c_lat = np.array([c.lat for c in centres])
    c_lon = np.array([c.lon for c in centres])
    s_lat = np.array([s.lat for s in stations])
    s_lon = np.array([s.lon for s in stations])
    km = haversine_m(s_lat[:, None], s_lon[:, None], c_lat[None, :], c_lon[None, :]) / 1000.0  # stations x centres
    c_region = np.array([c.region for c in centres])
    s_region = np.array([s.region for s in stations])
    levels = np.array([c.level for c in centres])
    served: list[set[str]] = [set() for _ in centres]
    for code in ordered(s_region.tolist()):
        rows = km[s_region == code]  # this region's stations x every centre
        own = c_region == code
        # for each station, the distance to the nearest own centre of level <= L, for L = 1..4
        best = np.full((rows.shape[0], 5), np.inf)
        for level in range(1, 5):
            capable = own & (levels <= level)
            if capable.any():
                best[:, level] = rows[:, capable].min(axis=1)
        lv = np.clip(levels, 1, 4)
        near = rows <= rule.border_km
        nearest = (rows <= rule.reach_km) & (rows < best[:, lv])
        for k in np.flatnonzero((near | nearest).any(axis=0) & ~own):
            served[int(k)].add(code)
    return tuple(ordered(s) for s in served)


def counts(items: Iterable[str]) -> Mapping[str, int]:
    """How many of ``items`` (region codes) each region has, every region listed (0 included)."""
    tally = dict.fromkeys(_BY_CODE, 0)
    for code in items:
        tally[region(code).code] += 1
    return tally


class Locator:
    """Which region a place is in: the region of the nearest 119 safety centre (station). Stations stand for
    where a region's calls are answered, as in the border rule; the nearest one by great-circle distance names
    the region (a KD-tree on the unit sphere, where the chord orders places as the great circle does).

    Used for what carries no region of its own: a unit the scenario's fleet does not know (a real tablet) and
    an incident (:mod:`dispatch.partition`)."""

    def __init__(self, stations: Sequence[Place]) -> None:
        from scipy.spatial import cKDTree

        placed = [s for s in stations if s.region]
        if not placed:
            raise RegionError("a region locator needs at least one station with a region")
        self._regions = np.array([region(s.region).code for s in placed])
        self._tree = cKDTree(_unit_sphere(np.array([s.lat for s in placed]), np.array([s.lon for s in placed])))

    @property
    def regions(self) -> tuple[str, ...]:
        """The regions it can name (:data:`REGIONS` order)."""
        return ordered(self._regions.tolist())

    def region_at(self, lat: float, lon: float) -> str:
        """The region of the station nearest to (``lat``, ``lon``)."""
        return self.regions_at([lat], [lon])[0]

    def regions_at(self, lats: Sequence[float], lons: Sequence[float]) -> list[str]:
        """:meth:`region_at` of many places at once."""
        if len(lats) != len(lons):
            raise RegionError(f"{len(lats)} latitudes but {len(lons)} longitudes")
        if not len(lats):
            return []
        _, nearest = self._tree.query(_unit_sphere(np.asarray(lats, dtype=float), np.asarray(lons, dtype=float)))
        return [str(code) for code in self._regions[nearest]]


def region_at(lat: float, lon: float, stations: Sequence[Place]) -> str:
    """The region a place is in: that of the 119 station nearest to it (great-circle distance; ties to the
    first listed). For many places, build a :class:`Locator` once."""
    stations = [s for s in stations if s.region]
    if not stations:
        raise RegionError("no station with a region to tell a region by")
    km = haversine_m(lat, lon, np.array([s.lat for s in stations]), np.array([s.lon for s in stations]))
    return region(stations[int(np.argmin(km))].region).code


def _unit_sphere(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(lat), np.radians(lon)
    return np.column_stack((np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)))
