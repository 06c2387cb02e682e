"""The router's vocabulary, shared by its parts: its configuration, the urgency of a patient, the case it routes,
the modes and the choice it gives. Imported from :mod:`dispatch.router`, which re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from dispatch.errors import SolverError
from dispatch.explain import Text
from dispatch.pathways import HARD_CRITICAL_P, Pathway, StabiliseRule

#: Urgency by KTAS level (1 most urgent).
SEVERITY_WEIGHT = {1: 5.0, 2: 4.0, 3: 3.0, 4: 2.0, 5: 1.0}


@dataclass(frozen=True)
class RouterConfig:
    beds_half_life_s: float = 1800.0  # a bed count's weight halves every 30 min
    declaration_half_life_s: float = 3 * 3600.0  # a yes / no declaration's weight halves every 3 h
    stale_after_half_lives: float = 2.0  # older than this many half-lives: stale, read as unknown
    diversion_stale_after_s: float = 6 * 3600.0  # a closure with no expiry this old reads as advisory
    offload_stale_after_s: float = 3600.0
    closed_margin_s: float = 600.0  # a closed centre only if nothing else is within 10 min of it
    switch_margin_s: float = 120.0  # change an advised destination only for 2 min (weighted) or more
    #: Arriving with no bed or team left costs 3 h × urgency² (R-PRIORITY).
    full_penalty_s: float = 10_800.0
    unknown_penalty_s: float = 1200.0  # a needed item unknown or stale: 20 min (weighted)
    tier_penalty_s: float = 1800.0  # each tier below the pathway's first: 30 min (weighted)
    unknown_beds_penalty_s: float = 300.0  # beds never reported or stale: 5 min (weighted) ...
    unknown_bed_slots: int = 1  # ... and one bed assumed, not unlimited
    advisory_penalty_s: float = 300.0
    level_penalty_s: float = 1800.0  # R-CRIT below HARD_CRITICAL_P: level 3-4 costs this × p_critical
    #: R-COVER: a second of a unit out of an uncovered area costs this many seconds (not urgency-weighted).
    coverage_s_per_s: float = 0.5
    #: Walk-in and other arrivals expected per hour, by centre level (assumption, see docs/router.md).
    arrivals_per_hour: Mapping[int, float] = field(default_factory=lambda: {1: 4.0, 2: 3.0, 3: 1.5, 4: 0.5})
    stabilise: StabiliseRule = field(default_factory=StabiliseRule)
    #: Build each patient's arcs only for the centres that can matter (the same choices: R-PRUNE, dispatch.router).
    prune: bool = True


# --- patients and choices ---------------------------------------------------------------------


def urgency(ktas: int, p_critical: float | None) -> float:
    """Urgency (R-PRIORITY): the expected harm of delay, by KTAS and by p_critical."""
    by_level = SEVERITY_WEIGHT.get(ktas, 3.0)
    return by_level if p_critical is None else max(by_level, 1.0 + 4.0 * p_critical)


@dataclass(frozen=True)
class PatientCase:
    """A patient to route: who, how sick, which pathways, and the ETA to every centre."""

    unit_id: str
    ktas: int
    needs: frozenset[Pathway]  # the pathways of the crew flags (general critical / non-critical implied)
    eta_s: Mapping[str, float]  # hpid -> seconds (inf = unreachable)
    current: str | None = None  # the destination already advised
    declined: frozenset[str] = frozenset()
    critical: bool = False
    p_critical: float | None = None  # the calibrated probability of KTAS 1-2 (None: not assessed)
    crew_ktas: int | None = None  # R-CREW: the crew's grade (Pre-KTAS or a flag's floor); None: not graded
    unstable: bool = False  # the StabiliseRule holds (computed at the edge from the vitals)
    cover_gap: float = 0.0  # R-COVER: 1 = no other free unit covers the unit's area, 0 = not counted
    confirmed: bool = False  # R-PROMISE: the centre ``current`` accepted the patient (dispatch.handshake)

    @cached_property
    def weight(self) -> float:
        return urgency(self.ktas, self.p_critical)

    @property
    def hard_critical(self) -> bool:
        crew_critical = self.crew_ktas is not None and self.crew_ktas <= 2
        return self.critical and (self.p_critical is None or self.p_critical >= HARD_CRITICAL_P or crew_critical)

    def pathways(self) -> frozenset[Pathway]:
        """The pathways the router holds the patient to (R-CRIT decides general critical)."""
        if self.needs:
            return self.needs
        return frozenset({Pathway.GENERAL_CRITICAL if self.hard_critical else Pathway.NON_CRITICAL})


class Mode(StrEnum):
    DEFINITIVE = "definitive"  # on the pathway's tiers
    PARTIAL = "partial"  # the most time-critical pathway met, another not
    STABILISE = "stabilise"  # no centre fits within the bound: the nearest that can stabilise (R-NONE)
    NEAREST = "nearest"  # cardiac arrest or unstable: time wins
    ALL_DECLINED = "all_declined"  # every reachable centre declined: the nearest, the control room decides


@dataclass(frozen=True)
class Option:
    hpid: str
    name: str
    eta_s: float  # driving + offload
    beds_on_arrival: int | None
    reason: str  # Korean
    cost: float
    drawback: Text | None = None  # the main reason not to go there, if any ("응급실 포화")
    reason_en: str = ""


@dataclass(frozen=True)
class Choice:
    unit_id: str
    destination: Option
    alternatives: tuple[Option, ...]
    changed: bool  # differs from the destination advised before
    mode: Mode = Mode.DEFINITIVE
    pathway: Pathway | None = None  # the pathway that decided
    unmet: tuple[Pathway, ...] = ()  # pathways no centre within reach fits
    notice: Text | None = None  # what the crew and the control room must know first
    team: Pathway | None = None  # the pathway team and room taken at the destination
    takes_bed: bool = True  # an ER bed is taken there too (all but a declared team's patients)

    @property
    def definitive(self) -> bool:
        return self.mode in (Mode.DEFINITIVE, Mode.NEAREST)


class RouterError(SolverError):
    """The assignment could not be solved (a bug: every case has an overflow arc)."""
