"""When and where 119 calls come, and how long the ED's patients stay.

Every figure here is an **assumption**, stated as such; a scenario file can override them.

- Calls arrive as a non-homogeneous Poisson process whose rate is constant within each hour
  of the day: ``per_day / 24 × HOURLY_PROFILE[hour] × surge``. The shape of
  :data:`HOURLY_PROFILE` is an assumption, not a statistic: quietest in the small hours
  (about half the mean around 04-06), rising through the morning to its highest around 09-12
  (about 1.3 × the mean), high through the day and early evening, falling after 22.
- Incidents happen on the road network's nodes, drawn uniformly: node density stands in for
  population density (a dense street grid is where people live and work). Without a network
  (approximate mode), near an ambulance station drawn in proportion to its ambulances (the
  fleet was placed where the calls are), scattered by a Gaussian of ``spread_m``.
- ED length of stay is lognormal with a median by true KTAS level (:data:`LOS_MEDIAN_H`) and
  shape :data:`LOS_SIGMA`. The KTAS data's ``Length of stay_min`` column is not used: it is
  unreliable (its README: 189 values above two days, 71 above 10,000 minutes, apparently
  conversion artefacts). Korean EDs hold critical patients for hours while they wait for a
  ward or ICU bed, so the most urgent stay longest.
- Walk-ins (everyone not brought by 119) arrive at the rate that, by Little's law, keeps a
  given share of the ED's beds busy on average on their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from dispatch.scenario import Prepared

#: Relative weights (an hourly profile, a KTAS mix): a sequence or a numpy array.
Weights = Sequence[float] | npt.NDArray[np.float64]

HOUR_S = 3600.0
DAY_H = 24
#: Metres per degree of latitude (and of longitude at the equator).
M_PER_DEG = 111_320.0

#: Relative call rate by hour of day, 00-01 ... 23-24 (assumption; see the module docstring).
_HOURLY_SHAPE = (
    0.80, 0.68, 0.60, 0.55, 0.50, 0.50,  # 00-06: the small hours
    0.62, 0.82, 1.08, 1.30, 1.34, 1.34,  # 06-12: rising to the late-morning peak
    1.30, 1.26, 1.24, 1.22, 1.22, 1.22,  # 12-18: high through the day
    1.22, 1.18, 1.12, 1.06, 0.96, 0.86,  # 18-24: early evening, then falling
)  # fmt: skip


def _mean_one(values: Sequence[float]) -> tuple[float, ...]:
    mean = math.fsum(values) / len(values)
    return tuple(float(v) / mean for v in values)


#: The hourly profile, scaled to mean 1 so that ``per_day`` stays the mean number of calls a day.
HOURLY_PROFILE: tuple[float, ...] = _mean_one(_HOURLY_SHAPE)

#: Median ED length of stay in hours by true KTAS level (assumption; see the module docstring).
LOS_MEDIAN_H: Mapping[int, float] = MappingProxyType({1: 7.0, 2: 6.0, 3: 4.0, 4: 2.5, 5: 1.5})
#: Shape (sigma of the log) of the lognormal length of stay (assumption).
LOS_SIGMA: float = 0.6


# --- when ----------------------------------------------------------------------------------------


def _check_profile(profile: Weights) -> np.ndarray:
    values = np.asarray(profile, dtype=np.float64)
    if values.shape != (DAY_H,):
        raise ValueError(f"profile needs {DAY_H} hourly values, got {values.size}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("profile values must be finite and non-negative")
    if values.mean() <= 0:
        raise ValueError("profile needs a positive mean")
    return np.asarray(values / values.mean())


def _check_positive(name: str, value: float, *, zero_ok: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name} must be {'non-negative' if zero_ok else 'positive'} and finite, got {value!r}")


def call_times(
    rng: np.random.Generator,
    days: float,
    per_day: float,
    *,
    surge: float = 1.0,
    profile: Weights = HOURLY_PROFILE,
) -> np.ndarray:
    """Call times in seconds from midnight (t = 0), sorted, over ``days`` days.

    Exact for a piecewise-constant rate: a Poisson count per hour (a partial last hour gets its
    share), each call uniform within its hour. ``profile`` is relative: it is scaled to mean 1,
    so ``per_day × surge`` is the mean number of calls a day whatever its scale."""
    _check_positive("days", days)
    _check_positive("per_day", per_day, zero_ok=True)
    _check_positive("surge", surge)
    shape = _check_profile(profile)
    starts = np.arange(math.ceil(days * DAY_H), dtype=np.float64)  # hour index since t = 0
    lengths = np.minimum(1.0, days * DAY_H - starts)  # hours; the last one may be partial
    rates = per_day / DAY_H * shape[starts.astype(np.int64) % DAY_H] * surge  # calls per hour
    counts = rng.poisson(rates * lengths)
    hours = np.repeat(starts, counts) + rng.uniform(size=int(counts.sum())) * np.repeat(lengths, counts)
    return np.sort(hours * HOUR_S)


# --- where ---------------------------------------------------------------------------------------


class PlaceSampler:
    """Where incidents happen: a road node drawn uniformly, or without a road network a point
    near a station drawn by its ambulances (the module docstring says why)."""

    def __init__(self, prepared: Prepared, *, spread_m: float = 1500.0) -> None:
        _check_positive("spread_m", spread_m, zero_ok=True)
        self.spread_m = spread_m
        self.exact = prepared.network is not None
        self._weights: np.ndarray | None
        if prepared.network is not None:
            self._lat = np.asarray(prepared.network.lat, dtype=np.float64)
            self._lon = np.asarray(prepared.network.lon, dtype=np.float64)
            self._weights = None
            return
        stations = prepared.scenario.stations
        weights = np.array([s.ambulances for s in stations], dtype=np.float64)
        if weights.size == 0 or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(f"scenario {prepared.scenario.name} has no road network and no station with ambulances")
        self._lat = np.array([s.lat for s in stations], dtype=np.float64)
        self._lon = np.array([s.lon for s in stations], dtype=np.float64)
        self._weights = weights / weights.sum()

    def draw(self, rng: np.random.Generator) -> tuple[float, float]:
        """One incident place, (lat, lon)."""
        if self._weights is None:
            i = int(rng.integers(self._lat.size))
            return float(self._lat[i]), float(self._lon[i])
        i = int(rng.choice(self._lat.size, p=self._weights))
        north_m, east_m = rng.normal(0.0, self.spread_m, size=2)
        lat = float(self._lat[i]) + float(north_m) / M_PER_DEG
        lon = float(self._lon[i]) + float(east_m) / (M_PER_DEG * math.cos(math.radians(float(self._lat[i]))))
        return lat, lon


# --- how long ------------------------------------------------------------------------------------


def _median_h(ktas: int, medians_h: Mapping[int, float]) -> float:
    if ktas not in medians_h:
        raise ValueError(f"ktas must be one of {sorted(medians_h)}, got {ktas!r}")
    median = float(medians_h[ktas])
    _check_positive(f"medians_h[{ktas}]", median)
    return median


def length_of_stay_s(
    rng: np.random.Generator,
    ktas: int,
    *,
    medians_h: Mapping[int, float] = LOS_MEDIAN_H,
    sigma: float = LOS_SIGMA,
) -> float:
    """One ED length of stay in seconds: lognormal with the level's median and shape ``sigma``."""
    _check_positive("sigma", sigma, zero_ok=True)
    median_s = _median_h(ktas, medians_h) * HOUR_S
    return float(median_s * math.exp(sigma * float(rng.standard_normal())))


def _check_mix(ktas_mix: Weights) -> np.ndarray:
    mix = np.asarray(ktas_mix, dtype=np.float64)
    if mix.shape != (5,) or not np.all(np.isfinite(mix)) or np.any(mix < 0) or mix.sum() <= 0:
        raise ValueError(f"ktas_mix needs 5 non-negative shares of KTAS 1..5 with a positive sum, got {ktas_mix!r}")
    return np.asarray(mix / mix.sum())


def mean_length_of_stay_s(
    ktas_mix: Weights,
    *,
    medians_h: Mapping[int, float] = LOS_MEDIAN_H,
    sigma: float = LOS_SIGMA,
) -> float:
    """Expected length of stay (s) of a patient drawn from ``ktas_mix`` (shares of KTAS 1..5,
    normalised here): the mix-weighted lognormal means, median × exp(sigma² / 2)."""
    mix = _check_mix(ktas_mix)
    _check_positive("sigma", sigma, zero_ok=True)
    medians = np.array([_median_h(level, medians_h) for level in range(1, 6)])
    return float(np.dot(mix, medians)) * HOUR_S * math.exp(sigma**2 / 2)


def walkin_rate_per_h(
    beds: int,
    occupancy: float,
    ktas_mix: Weights,
    *,
    medians_h: Mapping[int, float] = LOS_MEDIAN_H,
    sigma: float = LOS_SIGMA,
) -> float:
    """Walk-in arrivals per hour that alone keep ``occupancy`` of ``beds`` busy on average.

    Little's law, L = λW: λ = occupancy × beds / mean stay."""
    if beds < 0:
        raise ValueError(f"beds must be non-negative, got {beds!r}")
    if not math.isfinite(occupancy) or not 0 <= occupancy <= 1:
        raise ValueError(f"occupancy must be between 0 and 1, got {occupancy!r}")
    mean_h = mean_length_of_stay_s(ktas_mix, medians_h=medians_h, sigma=sigma) / HOUR_S
    return occupancy * beds / mean_h
