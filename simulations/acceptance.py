"""How a simulated centre answers a crew: the one acceptance model every policy meets.

No policy can see inside it: policies see what centres *post* (their reports) or hear what they
*say* (a phone answer, a refusal at the door). The model reads the centre's true state and the
patient's true condition:

- a closed ER takes nobody; an open ER takes a cardiac arrest always (resuscitation bay) when
  ``arrest_always_accepted``;
- **no specialist**: the patient needs what the centre cannot give now (no team on duty, not
  designated, or a KTAS 1-2 patient at a level 3-4 institution): refused with ``refuse_no_specialist``;
- **no bed**: no free ER bed: refused with ``refuse_no_bed``, times ``critical_bed_factor`` for a
  KTAS 1-2 patient at a regional or local centre (they make room for the critical);
- both: refused unless both let the patient in; the reason named is "no specialist", the most
  frequent cause of Korea's re-transfers (docs/korea_ems_figures.md);
- **at the door** the patient is already there: every refusal probability is multiplied by
  ``door_factor`` (on the phone it is not). A centre that said yes on the phone takes the patient.

A patient taken where the centre cannot give definitive care (``CentreState.treats`` is false) is a
**secondary transfer**: stabilised there, then moved on (:mod:`simulations.engine`).

Every answer is decided by one uniform number drawn from a stream keyed by (seed, call, centre,
mode), so every policy that asks the same centre the same question about the same patient gets the
same answer (common random numbers). A transfer request on the centre's screen (the acceptance
handshake) is the phone's question asked another way: the same answer, its reason coded as the
contract codes it (:func:`coded`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from dispatch.pathways import Pathway
from simulations.config import SimConfig
from simulations.patients import SimPatient
from simulations.world import CentreState
from telemetry.schemas import RefusalReason


class Reason(enum.Enum):
    """The refusal categories of the national re-transfer statistics (docs/korea_ems_figures.md)."""

    NO_BED = "no_bed"
    NO_SPECIALIST = "no_specialist"
    CLOSED = "closed"


#: A refusal's reason in the contract's coded list (``ems/hospitals/{hpid}/answer``; the national statistics'
#: categories): a closed ER is "other" (the model never says "no equipment" apart from "no specialist").
CODED: dict[Reason, RefusalReason] = {
    Reason.NO_BED: RefusalReason.NO_BED,
    Reason.NO_SPECIALIST: RefusalReason.NO_SPECIALIST,
    Reason.CLOSED: RefusalReason.OTHER,
}


def coded(reason: Reason) -> RefusalReason:
    """The coded reason a centre gives for this refusal (what it says, nothing of why the model refused)."""
    return CODED[reason]


@dataclass(frozen=True)
class Answer:
    accepted: bool
    reason: Reason | None  # why it refused (None: accepted)
    definitive: bool  # the centre can give this patient definitive care now
    bed: bool  # it had a free ER bed


def refusal_probability(centre: CentreState, patient: SimPatient, config: SimConfig, *, at_door: bool) -> float:
    """The probability that ``centre`` refuses ``patient`` now (see the module docstring)."""
    if centre.closed:
        return 1.0
    if Pathway.CARDIAC_ARREST in patient.needs and config.arrest_always_accepted:
        return 0.0
    keep = 1.0
    if not centre.treats(patient):
        keep *= 1.0 - config.refuse_no_specialist
    if not centre.has_bed():
        critical_here = patient.ktas <= 2 and centre.centre.level <= 2
        keep *= 1.0 - config.refuse_no_bed * (config.critical_bed_factor if critical_here else 1.0)
    refuse = 1.0 - keep
    return refuse * config.door_factor if at_door else refuse


def answer(centre: CentreState, patient: SimPatient, config: SimConfig, draw: float, *, at_door: bool) -> Answer:
    """The centre's answer, decided by ``draw`` (uniform in [0, 1), from :func:`draw_for`)."""
    definitive, bed = centre.treats(patient), centre.has_bed()
    if draw >= refusal_probability(centre, patient, config, at_door=at_door):
        return Answer(True, None, definitive, bed)
    if centre.closed:
        reason = Reason.CLOSED
    elif not definitive:
        reason = Reason.NO_SPECIALIST
    else:
        reason = Reason.NO_BED
    return Answer(False, reason, definitive, bed)


def draw_for(seed: int, call_id: int, centre_index: int, *, at_door: bool) -> float:
    """The uniform number deciding one answer: the same for every policy asking the same question."""
    return float(np.random.default_rng([seed, 7, call_id, centre_index, int(at_door)]).uniform())
