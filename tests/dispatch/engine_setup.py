"""The set-up the decision engine's tests share (test_engine.py, test_engine_state.py): the time they run at, two
places beyond those of tests.dispatch.bus, the patients they take, the events of a unit taking its patient to
hospital and of a crew's decision, and the readings of the commands out. The engine itself is the ``engine`` fixture
of tests/dispatch/conftest.py; test_engine_handshake.py uses the same set-up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

from dispatch.commands import Advise, Command
from dispatch.engine import DispatchEngine
from dispatch.events import DecisionMade, Event, Origin, PositionReported, StatusChanged, VitalsReported
from telemetry import schemas
from telemetry.schemas import UnitStatus
from tests.dispatch.bus import Where, stable_vitals

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
#: Driving here from JONGNO_3GA moves the road ETA to the centre a stroke patient is advised by more than two
#: minutes; NEARBY by less than one (test_service_refusals.py checks both on the real roads too).
EAST: Where = (37.57267, 127.00967)
NEARBY: Where = (37.57072, 126.99461)

C = TypeVar("C", bound=Command)


def stroke() -> schemas.Vitals:
    return stable_vitals("right-sided weakness, slurred speech", fast_positive=True)


def stemi() -> schemas.Vitals:
    return stable_vitals("crushing chest pain", stemi=True)


def transport(unit: str, where: Where, vitals: schemas.Vitals) -> list[Event]:
    """A unit taking its patient to hospital: status, position, then the vitals that ask for advice."""
    return [
        StatusChanged(unit, UnitStatus.TRANSPORTING),
        PositionReported(unit, *where),
        VitalsReported(unit, vitals, origin=Origin(f"ems/units/{unit}/vitals", schemas.encode(vitals))),
    ]


def decision(unit: str, version: int, *, accept: bool = False) -> DecisionMade:
    """The crew's decision on advice ``version``: a decline unless ``accept``."""
    return DecisionMade(unit, version, accept, origin=Origin(f"ems/units/{unit}/decision", b"{}"))


def of(kind: type[C], commands: Sequence[Command]) -> list[C]:
    """The commands of one kind, in order."""
    return [c for c in commands if isinstance(c, kind)]


def advice(commands: Sequence[Command], unit: str) -> Advise:
    """The one advice of a batch for ``unit``."""
    (found,) = [c for c in of(Advise, commands) if c.unit_id == unit]
    return found


def by_distance_from(engine: DispatchEngine, where: Where) -> list[str]:
    """The engine's centres, nearest first by its road ETAs from ``where``."""
    found = engine.prepared.index.etas(*where)
    eta = dict(zip(found.target_ids, found.seconds.tolist(), strict=True))
    return sorted(eta, key=lambda h: (eta[h], h))
