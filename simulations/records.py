"""What one simulation run leaves behind: a row per call and a row per emergency centre.

These are the only inputs of :mod:`simulations.kpis` and :mod:`simulations.report`; the engine
fills them. Times are seconds of simulated time from the start of the run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallRecord:
    """One 119 call, from the call to the patient's acceptance at an emergency centre."""

    call_id: int
    t_call_s: float  # when the call came in
    ktas: int  # the patient's true level (the expert KTAS of the data row), 1-5
    needs: tuple[str, ...]  # dispatch.pathways.Pathway values the patient has, sorted ("stroke", ...)
    response_s: float  # call -> ambulance on scene (includes waiting for a free ambulance)
    transport_s: float  # leaving the scene -> accepted at a centre (every leg, re-transfers included)
    definitive_s: float  # call -> at a centre that can treat the patient (definitive care; after a secondary transfer)
    first_hpid: str  # the first centre the ambulance reached
    final_hpid: str  # the centre that accepted the patient
    retransfers: int  # refusals before acceptance ("응급실 뺑뺑이")
    full_arrivals: int  # arrivals at an ER with no free bed
    incapable_arrivals: int  # arrivals at a centre that cannot treat this patient
    forced: bool = False  # accepted only because every centre had refused
    redirects: int = 0  # turns on the way to another centre, on the policy's newer advice
    scene_search_s: float = 0.0  # at the scene, ready to leave, spent finding a centre (phoning ahead)
    phone_calls: int = 0  # calls the crew made to centres from the scene
    secondary_transfer: bool = False  # taken where they could not get definitive care, then moved on
    definitive_hpid: str = ""  # where the patient got definitive care (final_hpid, or the secondary transfer's)
    onset_s: float | None = None  # symptom onset to the call, for a patient on a pathway with a golden time
    accepted_s: float = 0.0  # call -> accepted at a hospital (the last door; before any secondary transfer)
    advised: bool | None = None  # the policy had advice at every choice of centre (None: a policy without advice)
    nearest_first: bool = True  # the first centre reached was the open ER nearest the scene
    unstable: bool = False  # Pre-KTAS level 1 signs on the vitals (the stabilise-first rule applies)
    requests: int = 0  # transfer requests the crew waited on at the scene (the acceptance handshake)
    #: Ready to leave (end of on-scene care) -> the first centre that accepted the patient: a yes on the phone, a
    #: transfer request accepted, or else the door that took the patient. None: not measured.
    ready_to_accepted_s: float | None = None
    #: Every refusal the patient met, in order: (where, coded reason), where "phone", "request" (the handshake) or
    #: "door", the reason a telemetry.schemas.RefusalReason value ("no_bed", "no_specialist", "other", ...).
    refusals: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CentreRecord:
    """One emergency centre over the run."""

    hpid: str
    name: str
    level: int
    beds: int  # ER beds
    peak_occupancy: int  # most patients in the ER at once (walk-ins and ambulances)
    mean_occupancy: float  # time-weighted
    ambulance_arrivals: int  # arrivals of ambulances (accepted or refused)
    refusals: int


@dataclass(frozen=True)
class RunResult:
    """One policy, one seed."""

    policy: str
    seed: int
    days: float
    surge: float
    calls: tuple[CallRecord, ...]
    centres: tuple[CentreRecord, ...]
    units: int = 0  # ambulances in the city
    #: Share of the area's sample places a free unit reaches within 8 minutes of a call, at each measurement.
    coverage: tuple[float, ...] = ()
    #: Seconds the ambulances spent busy (dispatched until back at their station), summed over every call.
    busy_s: float = 0.0
