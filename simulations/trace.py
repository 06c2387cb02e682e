"""Trace replay: a fire HQ's own call log instead of the simulator's Poisson demand (``goldentime simulate --calls``).

A call log is a CSV file (UTF-8, with or without a BOM) whose header names at least ``time``, ``lat``,
``lon``, ``category`` and ``ktas`` (any order, any case; other columns are ignored). docs/call_log.md
is the user's description; in short:

- ``time``: ISO 8601 with a UTC offset (``2025-03-01T08:15:00+09:00``, or ``...Z``). Rows need not be
  sorted. The run starts at midnight of the earliest call's local date (in that call's offset), and a
  call's simulated time is the seconds since then.
- ``lat``, ``lon``: WGS84 degrees, within :data:`MARGIN_M` of the scenario's extent (its centres,
  stations and road graph).
- ``category``: a :class:`~dispatch.pathways.Pathway` value (``stroke``, ``stemi``, ``major_trauma``, ...),
  or ``medical`` / empty for a call with no crew flag (``general_critical`` and ``non_critical`` mean the
  same: they are the pathways of a patient without one).
- ``ktas``: 1-5, or empty when unknown.

Each call's patient is a row of the patient catalogue (:func:`simulations.patients.ambulance_patients`),
drawn by :class:`PatientMatcher` from a stream keyed by (seed, call): a patient of the call's KTAS whose
needs are exactly the category's (none for a medical call); when the catalogue has none, any patient of
that KTAS; when the KTAS is unknown, any patient of the category (any patient at all when the catalogue
has none of it). Another seed draws other patients for the same calls, so seeds still give intervals.

A bad file is refused as a whole, before any run, with a :class:`CallLogError` naming the row (as a
spreadsheet numbers it: the header is row 1) and the column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from dispatch.pathways import Pathway
from dispatch.scenario import Prepared
from simulations.errors import SimulationError
from simulations.patients import SimPatient
from simulations.world import Call

DAY_S = 86_400.0
#: Metres per degree of latitude (and of longitude at the equator).
M_PER_DEG = 111_320.0
#: How far outside the scenario's extent (bounding box of centres, stations and road nodes) a call may be.
MARGIN_M = 20_000.0
#: The columns a call log must have (header names, compared without case and surrounding spaces).
COLUMNS = ("time", "lat", "lon", "category", "ktas")
#: Categories that mean "no crew flag": the patient is on the general critical or non-critical pathway.
NO_FLAG = frozenset({"", "medical", Pathway.GENERAL_CRITICAL.value, Pathway.NON_CRITICAL.value})
#: The stream of the patient draws (``draw_city`` uses 1 for calls, 2 per call, 3 per centre).
PATIENT_STREAM = 4


class CallLogError(SimulationError, ValueError):
    """A call log that cannot be replayed, with the row and column to fix (one line)."""


@dataclass(frozen=True)
class LoggedCall:
    """One row of a call log, placed on the run's clock."""

    row: int  # the spreadsheet row (header = 1)
    t_s: float  # seconds since the run's start (midnight of the earliest call's date)
    lat: float
    lon: float
    category: Pathway | None  # None: no crew flag ("medical")
    ktas: int | None  # None: unknown


@dataclass(frozen=True)
class CallLog:
    """A call log read and checked against a scenario: its calls in time order (ties in row order)."""

    path: Path
    start: datetime  # t = 0: midnight of the earliest call's local date, in that call's offset
    calls: tuple[LoggedCall, ...]

    @property
    def span_days(self) -> int:
        """Whole days from the start through the last call's day (a call at midnight opens a new day)."""
        return math.floor(self.calls[-1].t_s / DAY_S) + 1

    def within(self, days: float) -> tuple[LoggedCall, ...]:
        """The calls of a run of ``days`` days (those before its end)."""
        return tuple(c for c in self.calls if c.t_s < days * DAY_S)


# --- reading -----------------------------------------------------------------------------------------


def _shown(value: str) -> str:
    """A cell as an error shows it: quoted, escapes for control characters, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 42 else text[:39] + "...'"


def _time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{_shown(text)} is not an ISO 8601 time such as 2025-03-01T08:15:00+09:00") from None
    if when.utcoffset() is None:
        raise ValueError(f"{_shown(text)} has no UTC offset; write it as e.g. {when.isoformat()}+09:00")
    return when


def _degrees(text: str, limit: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{_shown(text)} is not a number of degrees") from None
    if not math.isfinite(value) or abs(value) > limit:
        raise ValueError(f"{_shown(text)} is not between -{limit:g} and {limit:g}")
    return value


def _category(text: str) -> Pathway | None:
    name = text.strip().lower()
    if name in NO_FLAG:
        return None
    try:
        return Pathway(name)
    except ValueError:
        known = ", ".join(["medical", *(p.value for p in Pathway)])
        raise ValueError(f"{_shown(text)} is not a category; use one of: {known}, or leave it empty") from None


def _ktas(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if text not in {"1", "2", "3", "4", "5"}:
        raise ValueError(f"{_shown(text)} is not a KTAS level 1-5 (leave it empty when unknown)")
    return int(text)


@dataclass(frozen=True)
class Extent:
    """The scenario's bounding box (degrees), and how far outside it a point is."""

    south: float
    north: float
    west: float
    east: float

    @staticmethod
    def of(prepared: Prepared) -> Extent:
        points = [(c.lat, c.lon) for c in prepared.scenario.centres]
        points += [(s.lat, s.lon) for s in prepared.scenario.stations]
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        if prepared.network is not None:
            lats += [float(np.min(prepared.network.lat)), float(np.max(prepared.network.lat))]
            lons += [float(np.min(prepared.network.lon)), float(np.max(prepared.network.lon))]
        if not lats:
            raise CallLogError(f"scenario {prepared.scenario.name} has no centre or station to place calls around")
        return Extent(min(lats), max(lats), min(lons), max(lons))

    def outside_m(self, lat: float, lon: float) -> tuple[float, float]:
        """Metres north-south and east-west outside the box (0 inside)."""
        north = max(0.0, self.south - lat, lat - self.north) * M_PER_DEG
        east = max(0.0, self.west - lon, lon - self.east) * M_PER_DEG * math.cos(math.radians(lat))
        return north, east


def read_call_log(path: Path, prepared: Prepared, *, margin_m: float = MARGIN_M) -> CallLog:
    """Read and check the call log at ``path`` for ``prepared``'s city (module docstring).

    Raises :class:`CallLogError` (one line: file, row, column, what is wrong) for the first bad cell, a missing
    column, an unreadable or empty file."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise CallLogError(f"call log {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise CallLogError(
            f"call log {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 (a CP949/EUC-KR export?)"
        ) from None
    except (OSError, csv.Error) as exc:
        raise CallLogError(f"call log {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not rows:
        raise CallLogError(f"call log {path} is empty: it needs a header ({','.join(COLUMNS)}) and at least one call")
    header = [name.strip().lower() for name in rows[0]]
    where: dict[str, int] = {}
    for name in COLUMNS:
        found = [k for k, h in enumerate(header) if h == name]
        if not found:
            raise CallLogError(
                f"{path}: row 1 (header), column {name!r}: missing; the header needs {', '.join(COLUMNS)}"
                + (" (its values may be empty)" if name in ("category", "ktas") else "")
            )
        if len(found) > 1:
            raise CallLogError(f"{path}: row 1 (header), column {name!r}: named {len(found)} times")
        where[name] = found[0]
    extent = Extent.of(prepared)
    parsed: list[tuple[datetime, int, float, float, Pathway | None, int | None]] = []
    for n, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, as spreadsheets leave at the end
        column = "time"
        try:
            value = {name: (cells[k] if k < len(cells) else "") for name, k in where.items()}
            if not value["time"].strip():
                raise ValueError("empty; every call needs its time")
            when = _time(value["time"].strip())
            column = "lat"
            lat = _degrees(value["lat"].strip(), 90.0)
            column = "lon"
            lon = _degrees(value["lon"].strip(), 180.0)
            north, east = extent.outside_m(lat, lon)
            if math.hypot(north, east) > margin_m:
                column = "lat" if north >= east else "lon"
                raise ValueError(
                    f"({lat:g}, {lon:g}) is {math.hypot(north, east) / 1000:.0f} km outside "
                    f"{prepared.scenario.name} (more than {margin_m / 1000:g} km from its centres, stations and roads)"
                )
            column = "category"
            category = _category(value["category"])
            column = "ktas"
            ktas = _ktas(value["ktas"])
        except ValueError as exc:
            raise CallLogError(f"{path}: row {n}, column {column!r}: {exc}") from None
        parsed.append((when, n, lat, lon, category, ktas))
    if not parsed:
        raise CallLogError(f"call log {path} has a header but no call")
    first = min(parsed, key=lambda p: (p[0], p[1]))[0]
    start = first.replace(hour=0, minute=0, second=0, microsecond=0)
    calls = sorted(
        (
            LoggedCall(n, (when - start).total_seconds(), lat, lon, category, ktas)
            for when, n, lat, lon, category, ktas in parsed
        ),
        key=lambda c: (c.t_s, c.row),
    )
    return CallLog(path, start, tuple(calls))


# --- patients ----------------------------------------------------------------------------------------


class PatientMatcher:
    """Which catalogue patients a logged call may get (module docstring), and the draw for one seed."""

    def __init__(self, patients: Sequence[SimPatient]) -> None:
        if not patients:
            raise ValueError("no patients to draw from")
        self.patients = tuple(patients)

    def pool(self, category: Pathway | None, ktas: int | None) -> tuple[tuple[SimPatient, ...], bool]:
        """The candidates for a call, and whether they match both its KTAS and category (False: a fallback)."""
        wanted = frozenset() if category is None else frozenset({category})
        same = tuple(p for p in self.patients if p.needs == wanted)
        if ktas is None:
            return (same, True) if same else (self.patients, False)
        level = tuple(p for p in self.patients if p.ktas == ktas)
        exact = tuple(p for p in level if p.needs == wanted)
        if exact:
            return exact, True
        return (level or same or self.patients), False

    def draw(self, call: LoggedCall, *, seed: int, index: int) -> SimPatient:
        """The patient of call ``index`` (its place in time order) for ``seed``."""
        pool, _ = self.pool(call.category, call.ktas)
        rng = np.random.default_rng([seed, PATIENT_STREAM, index])
        return pool[int(rng.integers(len(pool)))]

    def fallbacks(self, calls: Iterable[LoggedCall]) -> int:
        """How many of ``calls`` have no catalogue patient of their KTAS and category (the same for every seed)."""
        return sum(not self.pool(c.category, c.ktas)[1] for c in calls)


def replayed_calls(calls: Sequence[LoggedCall], patients: Sequence[SimPatient], *, seed: int) -> tuple[Call, ...]:
    """The engine's calls for the logged ``calls`` (in time order, :meth:`CallLog.within` a run; id = index), each
    with its patient for ``seed``: what :func:`simulations.engine.draw_city` takes as ``calls``."""
    matcher = PatientMatcher(patients)
    return tuple(
        Call(i, call.t_s, call.lat, call.lon, matcher.draw(call, seed=seed, index=i)) for i, call in enumerate(calls)
    )
