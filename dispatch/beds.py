"""Beds that will really be there (R-BEDS): the count a centre reported and the confidence it still holds, the
walk-ins expected during a drive, what taking a bed costs a patient, and what arriving with no bed or team
left costs (R-PRIORITY).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from dispatch.centre_view import CentreView
from dispatch.pathways import PATHWAYS, Pathway
from dispatch.router_types import PatientCase, RouterConfig

# --- beds ---------------------------------------------------------------------------------------


def reported_beds(centre: CentreView, config: RouterConfig) -> tuple[int | None, float]:
    """(free ER beds as reported, the confidence the count still holds); None: unknown or stale (R-BEDS)."""
    if centre.overcrowded:
        return 0, 1.0
    if centre.er_available is None:
        return None, 0.0
    age = centre.beds_age_s or 0.0
    if age > config.stale_after_half_lives * config.beds_half_life_s:
        return None, 0.0
    return centre.er_available, 0.5 ** (age / config.beds_half_life_s)


def effective_beds(centre: CentreView, inbound: int, eta_s: float, config: RouterConfig) -> float | None:
    """Beds likely free on arrival: reported − our inbound − expected walk-ins (None: unknown or stale)."""
    beds, _ = reported_beds(centre, config)
    if beds is None:
        return None
    if centre.overcrowded:
        return -float(inbound)
    return beds - inbound - walk_ins(centre, eta_s, config)


def walk_ins(centre: CentreView, eta_s: float, config: RouterConfig) -> float:
    """Arrivals expected at the centre (walk-ins, other services) during a drive of ``eta_s``: the centre's
    own nowcast when there is one, else the prior by level."""
    per_hour = centre.others_per_hour
    if per_hour is None:
        per_hour = config.arrivals_per_hour.get(centre.level, 1.0)
    return per_hour * eta_s / 3600.0


def _at_least(k: int, mean: float) -> float:
    """P(N >= k) for N ~ Poisson(mean): the chance that k or more walk-ins come first."""
    if k <= 0:
        return 1.0
    term = total = math.exp(-mean)
    for j in range(1, k):
        term *= mean / j
        total += term
    return max(0.0, 1.0 - total)


def bed_capacity(centre: CentreView, held: int, config: RouterConfig) -> int:
    beds, _ = reported_beds(centre, config)
    return max(0, (config.unknown_bed_slots if beds is None else beds) - held)


def bed_cost(case: PatientCase, centre: CentreView, held: int, config: RouterConfig) -> float:
    """What taking a bed there costs this patient beyond the drive: not knowing (fully for unknown or
    stale beds, by the report's age otherwise), and the chance that walk-ins take the spare beds first
    (an unknown count is read as ``unknown_bed_slots``, so it is never better than that count reported)."""
    beds, confidence = reported_beds(centre, config)
    if beds is None:  # unknown or stale: as if it had reported ``unknown_bed_slots``, with no confidence
        beds, confidence = config.unknown_bed_slots, 0.0
    doubt = case.weight * config.unknown_beds_penalty_s * (1.0 - confidence)
    return doubt + _at_least(beds - held, walk_ins(centre, case.eta_s[centre.hpid], config)) * overflow(case, config)


def full_resources(
    centres: Sequence[CentreView],
    beds_held: Mapping[str, int],
    teams_held: Mapping[tuple[str, Pathway], int],
    *,
    config: RouterConfig = RouterConfig(),  # noqa: B008 (frozen: ruff sees it only where it is defined)
) -> set[tuple[str, Pathway | None]]:
    """The ER beds (team None) and pathway teams with nothing left once the patients heading there
    arrive: a worker that re-plans only some patients re-plans those holding these too, so a more
    urgent patient can still take the last bed or team (R-PRIORITY across plans)."""
    full: set[tuple[str, Pathway | None]] = {
        (c.hpid, None) for c in centres if beds_held.get(c.hpid, 0) >= bed_capacity(c, 0, config)
    }
    full |= {key for key, n in teams_held.items() if n >= (PATHWAYS[key[1]].slots or 0)}
    return full


def overflow(case: PatientCase, config: RouterConfig) -> float:
    return config.full_penalty_s * case.weight**2
