"""Which patients a centre's news concerns: after a capacity report (or a decline's reason, news about a centre
until its next report, R-REFUSED), re-plan those, not every patient of the region.

Pure: the patients aboard as the engine holds them (:class:`Aboard`, read-only), the centres as the router sees
them now, out the unit ids to decide again. No I/O, no clock.

The rule. News about centre X concerns a patient when

1. X is its current destination; or
2. it has no current destination the router could keep (none, unknown, declined, its ER shut, on diversion with
   an open centre within the margin, or no longer on the best tier): it would move anyway; or
3. X is within its **horizon** (:func:`dispatch.router.horizons`): planned alone, everyone else where they are,
   the patient pays at most ``stay`` at its current destination, and a centre farther than ``stay / weight`` is
   never cheaper, whatever it reports; nor does X's news change any other centre's arc unless X is within the
   pathway's drive bound (R-TIER) or within the diversion margin of a centre that could be chosen (R-CLOSED).

What it guarantees (``tests/dispatch/test_replan.py``, a property over random cities and reports): a patient
left out, planned alone against the new state with everyone else where they are, gets the destination it gets
against the old state — the news itself does not concern it. What it does not: the patients re-planned may move,
and their moves free a bed here and take one there; a patient left out holding the last bed of a centre they move
to gives way only through R-PRIORITY across plans (``dispatch.engine.giving_way``), as after any batch of vitals,
and one that would now prefer a bed they freed waits for its own next event. The shown alternatives of a patient
left out are refreshed at its next decision.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol

from dispatch.centre_view import CentreView
from dispatch.pathways import Pathway
from dispatch.router import PatientCase, RouterConfig, horizons


class Graded(Protocol):
    """What the router needs of a patient's severity (:class:`dispatch.severity.model.Severity`)."""

    @property
    def ktas(self) -> int: ...
    @property
    def p_critical(self) -> float: ...
    @property
    def crew_ktas(self) -> int | None: ...


class Aboard(Protocol):
    """A unit as the engine holds it (:class:`dispatch.engine.UnitState`): its patient, live ETAs to every centre,
    where it is advised to go and what it takes there."""

    @property
    def unit_id(self) -> str: ...
    @property
    def etas(self) -> Mapping[str, float]: ...
    @property
    def destination(self) -> str | None: ...
    @property
    def declined(self) -> Collection[str]: ...
    @property
    def needs(self) -> frozenset[Pathway]: ...
    @property
    def critical(self) -> bool: ...
    @property
    def unstable(self) -> bool: ...
    @property
    def severity(self) -> Graded | None: ...
    @property
    def team(self) -> Pathway | None: ...
    @property
    def holds_bed(self) -> bool: ...


def case_of(unit: Aboard, *, cover_gap: float = 1.0, promised: str | None = None) -> PatientCase | None:
    """The router's case of a unit with a patient (None: no patient assessed), ``current`` its destination, or
    ``promised``: the centre that accepted the patient (R-PROMISE). ``cover_gap`` 1, its most: the engine works it
    out only for the patients it routes (an upper bound here)."""
    severity = unit.severity
    if severity is None:
        return None
    return PatientCase(
        unit_id=unit.unit_id,
        ktas=severity.ktas,
        needs=unit.needs,
        eta_s=unit.etas,
        current=promised or unit.destination,
        declined=frozenset(unit.declined),
        critical=unit.critical,
        p_critical=severity.p_critical,
        crew_ktas=severity.crew_ktas,
        unstable=unit.unstable,
        cover_gap=cover_gap,
        confirmed=promised is not None,
    )


def affected(
    reported: Collection[str],
    aboard: Iterable[Aboard],
    centres: Sequence[CentreView],
    *,
    inbound: Mapping[str, int],
    teams: Mapping[tuple[str, Pathway], int],
    config: RouterConfig | None = None,
) -> frozenset[str]:
    """The units whose patient news about the ``reported`` centres concerns (the rule of the module docstring).

    ``aboard``: every unit with a patient the engine may route (others, with no severity, are left out: they have
    nothing to re-plan); ``centres``: the views now, the news included; ``inbound`` / ``teams``: the ER beds and
    pathway teams taken at each centre by every patient heading there, these included (the engine's holders)."""
    news = set(reported)
    if not news:
        return frozenset()
    units, cases, holding = [], [], []
    chosen: set[str] = set()
    for unit in aboard:
        case = case_of(unit)
        if case is None:
            continue
        if unit.destination is None or unit.destination in news:
            chosen.add(unit.unit_id)
            continue
        units.append(unit)
        cases.append(case)
        holding.append((unit.holds_bed, unit.team))
    reach = horizons(cases, centres, inbound=inbound, teams=teams, holding=holding, config=config or RouterConfig())
    for unit, horizon in zip(units, reach, strict=True):
        etas = unit.etas
        if horizon == math.inf or any(etas.get(hpid, math.inf) <= horizon for hpid in news):
            chosen.add(unit.unit_id)
    return frozenset(chosen)
