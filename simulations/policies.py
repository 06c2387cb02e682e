"""Routing policies: who goes to which call, and which centre each patient is taken to.

A policy is a plug-in: any object with a ``name`` and the two methods of :class:`Policy`.
The three shipped here run through the same engine:

- ``nearest``: the nearest open ER, as crews often do today.
- ``capable``: the nearest open centre designated for what the crew sees (crew flags, and a
  regional or local centre when the triage nurse's KTAS — the human estimate — is 1-2);
  the nearest open ER when none is.
- ``goldentime``: the product's own decision core, not a copy: ``dispatch.router.plan`` on the
  centres' posted reports and the patients already inbound, with the severity model's
  (out-of-fold) assessment, and ``dispatch.units.assign_units`` for units.

After a refusal every policy tries again from that centre's door, never the same centre twice.
A planner adds a policy by writing a class and naming it ``package.module:Class`` on the
command line (``goldentime simulate --policy nearest,mypkg.policies:MyPolicy``).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from dispatch.pathways import Pathway
from dispatch.router import PatientCase, RouterConfig, centre_view, plan
from dispatch.units import Incident, assign_units
from simulations.world import Call, CentreState, SimUnit, Trip, World


class Policy(Protocol):
    name: str

    def dispatch(self, world: World, calls: Sequence[Call], units: Sequence[SimUnit]) -> list[tuple[Call, SimUnit]]:
        """Free units for waiting calls (each at most once); calls left out keep waiting."""
        ...

    def destination(self, world: World, trip: Trip) -> str:
        """The hpid of the centre to drive this patient to now (never one in ``trip.tried``)."""
        ...


def _untried(world: World, trip: Trip) -> list[CentreState]:
    return [c for c in world.open_centres() if c.hpid not in trip.tried]


def nearest_of(centres: Sequence[CentreState], etas: dict[str, float]) -> str:
    return min(centres, key=lambda c: (etas.get(c.hpid, math.inf), c.hpid)).hpid


class NearestUnits:
    """Calls in order of arrival, each to the free unit with the shortest road ETA."""

    def dispatch(self, world: World, calls: Sequence[Call], units: Sequence[SimUnit]) -> list[tuple[Call, SimUnit]]:
        free = sorted(units, key=lambda u: u.id)
        pairs = []
        for call in sorted(calls, key=lambda c: (c.t, c.id)):
            if not free:
                break
            seconds = world.response.to(call.lat, call.lon, [u.as_unit(world.now) for u in free])
            if not np.isfinite(seconds).any():
                continue
            pairs.append((call, free.pop(int(np.argmin(seconds)))))  # argmin: the first (smallest id) of ties
        return pairs


class Nearest(NearestUnits):
    name = "nearest"

    def destination(self, world: World, trip: Trip) -> str:
        return nearest_of(_untried(world, trip), world.etas_for(trip))


class Capable(NearestUnits):
    name = "capable"

    def destination(self, world: World, trip: Trip) -> str:
        patient, etas = trip.call.patient, world.etas_for(trip)
        untried = _untried(world, trip)
        if Pathway.CARDIAC_ARREST in patient.needs:
            return nearest_of(untried, etas)
        critical = patient.ktas_nurse is not None and patient.ktas_nurse <= 2
        capable = [c for c in untried if patient.needs <= c.designated and not (critical and c.centre.level > 2)]
        return nearest_of(capable or untried, etas)


class GoldenTime:
    name = "goldentime"

    def __init__(self, config: RouterConfig | None = None) -> None:
        self.config = config or RouterConfig()

    def dispatch(self, world: World, calls: Sequence[Call], units: Sequence[SimUnit]) -> list[tuple[Call, SimUnit]]:
        by_call = {str(c.id): c for c in calls}
        by_unit = {u.id: u for u in units}
        incidents = [Incident(str(c.id), c.lat, c.lon, c.priority) for c in calls]
        choices = assign_units(incidents, [u.as_unit(world.now) for u in units], world.response)
        return [(by_call[c.incident_id], by_unit[c.unit_id]) for c in choices]

    def destination(self, world: World, trip: Trip) -> str:
        patient, etas = trip.call.patient, world.etas_for(trip)
        now = world.now_dt
        views = [centre_view(c.centre, c.report, now) for c in world.centres.values()]
        case = PatientCase(
            unit_id=trip.unit_id,
            ktas=patient.model_ktas,
            needs=patient.needs,
            eta_s=etas,
            declined=trip.tried,
            critical=patient.model_critical,
            p_critical=patient.model_p_critical,
        )
        # plan gives every case that can reach a centre a choice (stabilise or all-declined modes included)
        for choice in plan([case], views, inbound_elsewhere=world.inbound, config=self.config):
            if choice.destination.hpid not in trip.tried:
                return choice.destination.hpid
        return nearest_of(_untried(world, trip), etas)  # no centre reachable (or only tried ones): the nearest untried


POLICIES: dict[str, type[Nearest] | type[Capable] | type[GoldenTime]] = {
    "nearest": Nearest,
    "capable": Capable,
    "goldentime": GoldenTime,
}


def load_policy(name: str) -> Policy:
    """A shipped policy by name, or ``package.module:Class`` (constructed without arguments)."""
    if name in POLICIES:
        return POLICIES[name]()
    if ":" not in name:
        raise ValueError(f"unknown policy {name!r}; shipped: {', '.join(POLICIES)}; or give package.module:Class")
    module_name, _, attr = name.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"policy {name!r} cannot be loaded: {exc}") from None
    policy = factory()
    for needed in ("name", "dispatch", "destination"):
        if not hasattr(policy, needed):
            raise ValueError(f"policy {name!r} has no {needed!r}")
    return policy  # type: ignore[no-any-return]
