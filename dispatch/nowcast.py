"""Bed nowcast: how fast each centre's free ER beds are taken by patients other than ours, learnt from
what the dispatcher has seen (issue 22: "a router may only use what a real deployment can know").

Between two reports of a centre, its free beds went from ``a`` to ``b`` while we delivered ``d`` of
our own patients there: others (walk-ins, other services, minus discharges) took ``a − b − d`` beds
in that time. :class:`BedNowcast` keeps, per centre, the hours observed and the beds others took,
both decayed with a half-life so the estimate follows the day; the rate it gives the router is that
evidence blended with a prior by centre level (``prior_per_hour``, worth ``prior_hours`` of
observation), never below 0 (a centre whose beds free up is not counted on to free more). A
report that says "overcrowded" or leaves the count out teaches nothing (the count is not known),
and neither does a report older than the last one.

Pure: the engine feeds it the reports and deliveries it sees; no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class _Trend:
    available: int | None = None  # free beds in the last report that gave a count
    at: datetime | None = None  # when that report was made
    delivered: int = 0  # our patients delivered there since
    hours: float = 0.0  # observed hours (decayed)
    taken: float = 0.0  # beds others took in them (decayed)


@dataclass
class BedNowcast:
    prior_per_hour: Mapping[int, float]  # RouterConfig.arrivals_per_hour: by centre level, before any evidence
    prior_hours: float = 2.0
    half_life_h: float = 6.0
    _trends: dict[str, _Trend] = field(default_factory=dict)

    def report(self, hpid: str, available: int | None, at: datetime) -> None:
        """A centre's report of ``available`` free ER beds (None: no count) made at ``at``."""
        trend = self._trends.setdefault(hpid, _Trend())
        if trend.at is not None and at <= trend.at:
            return  # a replay or an older report: nothing new
        if available is not None and trend.available is not None and trend.at is not None:
            hours = (at - trend.at).total_seconds() / 3600.0
            keep = 0.5 ** (hours / self.half_life_h)
            trend.hours = trend.hours * keep + hours
            trend.taken = trend.taken * keep + (trend.available - available - trend.delivered)
        trend.available, trend.at, trend.delivered = available, at, 0

    def delivered(self, hpid: str) -> None:
        """One of our patients was taken in at ``hpid`` (it took a bed the next report no longer shows)."""
        self._trends.setdefault(hpid, _Trend()).delivered += 1

    def per_hour(self, hpid: str, level: int) -> float:
        """Beds per hour others take at this centre: the evidence blended with the level's prior."""
        prior = self.prior_per_hour.get(level, 1.0)
        trend = self._trends.get(hpid)
        if trend is None or trend.hours <= 0:
            return prior
        rate = (prior * self.prior_hours + trend.taken) / (self.prior_hours + trend.hours)
        return max(0.0, rate) if math.isfinite(rate) else prior
