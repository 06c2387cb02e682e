"""What a simulated city needs beyond its map: ER beds, capabilities, demand and timings.

Everything here is read from the ``[simulation]`` table of the scenario's TOML file
(``dispatch/scenarios/{name}.toml``); what the table leaves out takes the documented defaults
below. The data directory has no ER bed totals (hospitals/README.md: the HIRA facts were not
exported) and no capability list, so both default by centre level and can be overridden per
centre (by hpid):

```toml
[simulation]
calls_per_day = 40
walkin_occupancy = 0.85
beds = { A1100010 = 45 }                        # ER beds of one centre
capabilities = { A1100017 = ["stroke", "stemi"] }  # what one centre is designated for
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatch.pathways import Pathway
from dispatch.scenario import Centre, ScenarioError

#: ER beds by level when the scenario gives none (assumption: a 권역 centre's ER is about 30
#: beds, a 지역응급의료센터 20, a 지역응급의료기관 12, a registered ER 6).
BEDS_BY_LEVEL: Mapping[int, int] = {1: 30, 2: 20, 3: 12, 4: 6}
#: What a centre of each level is designated to treat (assumption, after the designation
#: criteria: regional and local centres run stroke and PCI teams; burns only at regional
#: centres; local institutions and registered ERs stabilise and transfer). Major trauma is the
#: regional trauma centre flag of the data; cardiac arrest is every open ER.
CAPABILITIES_BY_LEVEL: Mapping[int, frozenset[Pathway]] = {
    1: frozenset(
        {Pathway.STROKE, Pathway.STEMI, Pathway.BURNS, Pathway.OBSTETRIC, Pathway.PAEDIATRIC, Pathway.PSYCHIATRIC}
    ),
    2: frozenset({Pathway.STROKE, Pathway.STEMI, Pathway.OBSTETRIC, Pathway.PAEDIATRIC}),
    3: frozenset(),
    4: frozenset(),
}
#: Probability that a designated team (stroke, PCI, burns, obstetrics) is staffed in a given
#: 12-hour shift, by level (assumption: the "no specialist" re-transfers of the surveys).
ON_DUTY_BY_LEVEL: Mapping[int, float] = {1: 0.95, 2: 0.8, 3: 0.0, 4: 0.0}
#: Median minutes from symptom onset (or injury) to the 119 call, by pathway with a golden time
#: (assumption, to be fitted to the national golden-time indicator in docs/simulation.md).
ONSET_MEDIAN_MIN: Mapping[str, float] = {
    Pathway.STEMI.value: 60.0,
    Pathway.STROKE.value: 60.0,
    Pathway.STROKE_HAEMORRHAGE.value: 60.0,
    Pathway.MAJOR_TRAUMA.value: 5.0,
}
DEFAULT_ONSET_MIN = 30.0


@dataclass(frozen=True)
class SimConfig:
    calls_per_day: float = 40.0
    #: Centres the simulation leaves out on purpose (e.g. off the road graph, at its edge),
    #: each with its reason in the scenario file; any other centre off the graph is refused.
    exclude: tuple[str, ...] = ()
    #: Share of its ER beds each centre's walk-in patients alone keep busy on average.
    walkin_occupancy: float = 0.85
    beds: Mapping[str, int] = field(default_factory=dict)
    capabilities: Mapping[str, frozenset[Pathway]] = field(default_factory=dict)
    on_duty_by_level: Mapping[int, float] = field(default_factory=lambda: dict(ON_DUTY_BY_LEVEL))
    shift_h: float = 12.0
    #: How often a centre posts its beds and teams (E-Gen is updated by hand; assumption).
    report_interval_min: float = 30.0
    turnout_s: float = 60.0  # from the call to wheels rolling
    on_scene_min: float = 15.0  # median time on scene
    handover_min: float = 15.0  # at the hospital, after acceptance, before the unit is free again
    refusal_min: float = 5.0  # lost at the door of a centre that refuses
    reroute_check_min: float = 2.0  # how often a policy that re-routes is asked about units on their way
    coverage_every_min: float = 60.0  # how often the area a free unit reaches in 8 minutes is measured
    coverage_points: int = 30  # places of the area it is measured at (the calls' own place distribution)
    #: A cardiac arrest is taken at any open ER, bed or no bed (resuscitation bay).
    arrest_always_accepted: bool = True
    # --- how a centre answers (simulations/acceptance.py; assumptions, in the sensitivity grid) ---
    #: A patient the centre cannot give definitive care now is refused with this probability ("no specialist").
    refuse_no_specialist: float = 0.8
    #: A patient arriving when no ER bed is free is refused with this probability ("no bed").
    refuse_no_bed: float = 0.7
    #: ... times this for a KTAS 1-2 patient at a regional or local centre (they make room for the critical).
    critical_bed_factor: float = 0.3
    #: At the door (the patient is there) refusals are this much as likely as on the phone.
    door_factor: float = 0.5
    #: A patient taken where they cannot get definitive care is moved on after a median of this (lognormal).
    secondary_transfer_min: float = 60.0
    # --- the crew on the phone (the phone-around policy) ---
    phone_call_min: float = 2.0  # median length of one call to a centre (lognormal)
    phone_max_calls: int = 6  # after this many refusals the crew drives to the nearest ER unannounced
    # --- the acceptance handshake (the goldentime-handshake policy; issue 23) ---
    #: Median seconds from a transfer request reaching a centre's screen to its answer (lognormal). Assumption:
    #: no published figure (Daejeon's 119 smart system, live since March 2025, reports none); the request waits
    #: on the ED desk's tablet for the charge nurse or doctor on shift, who reads it and taps accept or decline
    #: between other work, so tens of seconds, not the minutes of a phone call (``phone_call_min``: dialling,
    #: being put through, waiting for the doctor). 45 s puts about a third of the answers past the shortest
    #: time-out (60 s: STEMI, stroke, major trauma; ``dispatch.handshake.ANSWER_WITHIN_S``), and ~5 % past the
    #: longest (120 s): a busy desk often answers too late, and the crew then goes as advised.
    handshake_answer_median_s: float = 45.0
    handshake_answer_sigma: float = 0.6  # spread of the answer time (lognormal sigma; assumption, see above)
    # --- before the call (the golden-time indicator counts from onset) ---
    onset_median_min: Mapping[str, float] = field(default_factory=lambda: dict(ONSET_MEDIAN_MIN))
    onset_sigma: float = 1.0  # spread of onset-to-call (lognormal sigma)

    def beds_of(self, centre: Centre) -> int:
        return int(self.beds.get(centre.hpid, BEDS_BY_LEVEL.get(centre.level, 6)))

    def designated(self, centre: Centre) -> frozenset[Pathway]:
        base = self.capabilities.get(centre.hpid, CAPABILITIES_BY_LEVEL.get(centre.level, frozenset()))
        extra = {Pathway.CARDIAC_ARREST} | ({Pathway.MAJOR_TRAUMA} if centre.trauma_centre else set())
        return frozenset(base | extra)

    def on_duty_share(self, centre: Centre) -> float:
        return float(self.on_duty_by_level.get(centre.level, 0.0))


def _need(value: Any, where: str) -> Pathway:
    try:
        return Pathway(value)
    except ValueError:
        raise ScenarioError(f"{where}: {value!r} is not a need ({', '.join(n.value for n in Pathway)})") from None


def load_sim_config(scenario_file: Path) -> SimConfig:
    """The ``[simulation]`` table of a scenario file, on top of the defaults."""
    try:
        spec = tomllib.loads(scenario_file.read_text(encoding="utf-8")).get("simulation", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{scenario_file}: {exc}") from None
    where = f"{scenario_file} [simulation]"
    known = set(SimConfig.__dataclass_fields__)
    unknown = set(spec) - known
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")
    values: dict[str, Any] = dict(spec)
    try:
        if "beds" in spec:
            values["beds"] = {str(h): int(n) for h, n in spec["beds"].items()}
        if "capabilities" in spec:
            values["capabilities"] = {
                str(h): frozenset(_need(v, f"{where} capabilities.{h}") for v in needs)
                for h, needs in spec["capabilities"].items()
            }
        if "exclude" in spec:
            values["exclude"] = tuple(str(h) for h in spec["exclude"])
        if "onset_median_min" in spec:
            values["onset_median_min"] = {str(k): float(v) for k, v in spec["onset_median_min"].items()}
        if "on_duty_by_level" in spec:
            values["on_duty_by_level"] = {int(k): float(v) for k, v in spec["on_duty_by_level"].items()}
        config = SimConfig(**values)
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise ScenarioError(f"{where}: {exc}") from None
    _check(config, where)
    return config


def _check(config: SimConfig, where: str) -> None:
    positive = (
        "calls_per_day",
        "shift_h",
        "report_interval_min",
        "on_scene_min",
        "handover_min",
        "reroute_check_min",
        "coverage_every_min",
        "coverage_points",
        "phone_call_min",
        "phone_max_calls",
        "handshake_answer_median_s",
    )
    for name in positive:
        if not getattr(config, name) > 0:
            raise ScenarioError(f"{where}: {name} must be > 0, got {getattr(config, name)!r}")
    if not 0 <= config.walkin_occupancy < 1:
        raise ScenarioError(f"{where}: walkin_occupancy must be in [0, 1), got {config.walkin_occupancy!r}")
    for hpid, beds in config.beds.items():
        if beds < 1:
            raise ScenarioError(f"{where}: beds.{hpid} must be >= 1, got {beds}")
    for name in ("refuse_no_specialist", "refuse_no_bed", "critical_bed_factor", "door_factor"):
        if not 0 <= getattr(config, name) <= 1:
            raise ScenarioError(f"{where}: {name} must be in [0, 1], got {getattr(config, name)!r}")
    for key, minutes in config.onset_median_min.items():
        if key not in {p.value for p in Pathway} or not minutes > 0:
            raise ScenarioError(f"{where}: onset_median_min.{key} must name a pathway and be > 0, got {minutes!r}")
    if config.handshake_answer_sigma < 0:
        raise ScenarioError(f"{where}: handshake_answer_sigma must be >= 0, got {config.handshake_answer_sigma!r}")
    if config.onset_sigma < 0:
        raise ScenarioError(f"{where}: onset_sigma must be >= 0, got {config.onset_sigma!r}")
    if config.secondary_transfer_min < 0:
        raise ScenarioError(f"{where}: secondary_transfer_min must be >= 0, got {config.secondary_transfer_min!r}")
    for level, share in config.on_duty_by_level.items():
        if not 0 <= share <= 1:
            raise ScenarioError(f"{where}: on_duty_by_level.{level} must be in [0, 1], got {share}")
