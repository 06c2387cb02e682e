"""The clinical vocabulary: every pathway a patient can be on, and what it asks of a centre.

This is the one table the crew flags, the severity model's floors, the router, the simulator
and the dashboard read. Adding a pathway touches this file and its tests, nothing else. Each
row says, in E-Gen terms, what *definitive care now* means (its tiers, best first), its golden
time, how far we drive for it before stabilising nearer instead, how many patients a
declaring centre's team and room take at once, and what to do when no centre fits. Every rule
has its source in ``docs/clinical_rules.md``.

A tier is a list of groups; a centre is on the tier when, for every group, at least one item
of the group is declared "yes" or is unknown (a declared, fresh "no" to every item of a group
keeps the centre off the tier). Items are E-Gen severe-illness conditions (``MKioskTy*``),
equipment, bed types with free beds, and the designations of the national lists (regional
trauma centre, regional or local emergency centre).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dispatch.explain import Text
from telemetry.schemas import BedType, Condition, CrewFlags, Equipment


class Pathway(StrEnum):
    CARDIAC_ARREST = "cardiac_arrest"
    STEMI = "stemi"
    STROKE = "stroke"  # FAST+: large-vessel occlusion until imaging says otherwise
    STROKE_HAEMORRHAGE = "stroke_haemorrhage"
    MAJOR_TRAUMA = "major_trauma"
    BURNS = "burns"
    OBSTETRIC = "obstetric"
    PAEDIATRIC = "paediatric"
    PSYCHIATRIC = "psychiatric"
    GENERAL_CRITICAL = "general_critical"
    NON_CRITICAL = "non_critical"


class Designation(StrEnum):
    """Static facts of the national lists, read as declarations."""

    TRAUMA_CENTRE = "trauma_centre"  # 권역외상센터 (E-Gen getStrmListInfoInqire)
    REGIONAL_OR_LOCAL = "regional_or_local"  # 권역·지역응급의료센터 (level 1-2)


Item = Condition | Equipment | BedType | Designation


@dataclass(frozen=True)
class Tier:
    """One level of care on a pathway: every group must be met by one of its items."""

    groups: tuple[tuple[Item, ...], ...]
    words: Text  # what the crew is told the centre offers ("PCI 가능")


@dataclass(frozen=True)
class PathwaySpec:
    pathway: Pathway
    name: Text
    flags: tuple[str, ...]  # crew flags of ems.vitals/1 that put a patient on this pathway
    ktas_floor: int | None  # the most urgent KTAS a crew flag of this pathway implies
    tiers: tuple[Tier, ...]  # best first; empty: any open ER is definitive
    golden_time_s: float | None  # the national indicator's onset-to-definitive-care time
    #: A declared "no" is excluded whenever a "yes" or "unknown" centre is within this drive; past it,
    #: the patient is stabilised at the nearest open ER instead.
    time_bound_s: float
    #: Patients a declaring centre takes at once on this pathway (its cath lab, stroke team, trauma
    #: bays); None: the pathway uses the ER's general beds.
    slots: int | None
    #: Time wins: the nearest open ER, beds and designations ignored (resuscitation first).
    nearest_open_er: bool
    when_none: Text  # what the crew is told when no centre fits
    priority: int  # lower = more time-critical: which pathway decides first when they conflict

    def items(self) -> tuple[Item, ...]:
        """Every item the pathway's tiers ask for, in the table's order, each once."""
        return tuple(dict.fromkeys(item for tier in self.tiers for group in tier.groups for item in group))


_MIN = 60.0
_HOUR = 3600.0


def _tier(groups: tuple[tuple[Item, ...], ...], ko: str, en: str) -> Tier:
    return Tier(groups, (ko, en))


_THROMBECTOMY = _tier(((Condition.STROKE_THROMBECTOMY,),), "혈전제거술 가능", "thrombectomy available")
_THROMBOLYSIS = _tier(((Equipment.CT,), (Designation.REGIONAL_OR_LOCAL,)), "CT·혈전용해 가능", "CT, thrombolysis")
_REGIONAL = _tier(((Designation.REGIONAL_OR_LOCAL,),), "권역·지역응급의료센터", "regional or local emergency centre")
_HAEMORRHAGE = _tier(((Condition.SAH_SURGERY, Condition.ICH_SURGERY),), "뇌출혈 수술 가능", "neurosurgery available")
_OBSTETRICS = (Condition.OBSTETRIC_DELIVERY, Condition.OBSTETRIC_SURGERY)
_PAEDIATRIC_BEDS = ((BedType.ER_PAEDIATRIC,), (Designation.REGIONAL_OR_LOCAL,))


def _spec(pathway: Pathway, name: Text, when_none: Text, **fields: Any) -> PathwaySpec:
    defaults: dict[str, Any] = {"flags": (), "ktas_floor": None, "tiers": (), "golden_time_s": None,
                                "time_bound_s": 60 * _MIN, "slots": None, "nearest_open_er": False}  # fmt: skip
    return PathwaySpec(pathway=pathway, name=name, when_none=when_none, **(defaults | fields))


PATHWAYS: Mapping[Pathway, PathwaySpec] = {
    spec.pathway: spec
    for spec in (
        _spec(Pathway.CARDIAC_ARREST, ("심정지", "cardiac arrest"),
              ("가장 가까운 응급실에서 소생술", "resuscitation at the nearest ER"),
              flags=("cardiac_arrest",), ktas_floor=1, nearest_open_er=True, priority=0),
        _spec(Pathway.STEMI, ("급성심근경색(STEMI)", "STEMI"),
              ("PCI 가능 기관 없음 — 가까운 응급실에서 안정화(혈전용해 고려)",
               "no PCI centre — stabilise at the nearest ER (consider thrombolysis)"),
              flags=("stemi",), ktas_floor=2, tiers=(_tier(((Condition.STEMI_PCI,),), "PCI 가능", "PCI available"),),
              golden_time_s=2 * _HOUR, slots=1, priority=1),
        _spec(Pathway.MAJOR_TRAUMA, ("중증외상", "major trauma"),
              ("외상센터 없음 — 가까운 응급실에서 안정화", "no trauma centre — stabilise at the nearest ER"),
              flags=("major_trauma",), ktas_floor=2,
              tiers=(_tier(((Designation.TRAUMA_CENTRE,),), "권역외상센터", "trauma centre"), _REGIONAL),
              golden_time_s=1 * _HOUR, slots=2, priority=1),
        _spec(Pathway.STROKE, ("뇌졸중(FAST+)", "stroke (FAST+)"),
              ("뇌졸중 치료 가능 기관 없음 — 가까운 응급실에서 안정화",
               "no stroke centre — stabilise at the nearest ER"),
              flags=("fast_positive",), ktas_floor=2, tiers=(_THROMBECTOMY, _THROMBOLYSIS),
              golden_time_s=3 * _HOUR, slots=1, priority=2),
        _spec(Pathway.STROKE_HAEMORRHAGE, ("뇌출혈", "intracranial haemorrhage"),
              ("뇌출혈 수술 가능 기관 없음 — 가까운 응급실에서 안정화",
               "no neurosurgery for haemorrhage — stabilise at the nearest ER"),
              ktas_floor=2, tiers=(_HAEMORRHAGE,), golden_time_s=3 * _HOUR, slots=1, priority=2),
        _spec(Pathway.BURNS, ("중증화상", "major burns"),
              ("화상 전문 치료 가능 기관 없음 — 가까운 응급실에서 안정화",
               "no burns unit — stabilise at the nearest ER"),
              flags=("burns",), ktas_floor=2,
              tiers=(_tier(((Condition.MAJOR_BURNS,),), "화상 전문치료 가능", "burns unit available"),),
              time_bound_s=120 * _MIN, slots=1, priority=3),
        _spec(Pathway.OBSTETRIC, ("산과 응급", "obstetric emergency"),
              ("분만 가능 기관 없음 — 가까운 응급실에서 안정화", "no obstetric unit — stabilise at the nearest ER"),
              flags=("pregnancy",), tiers=(_tier((_OBSTETRICS,), "분만·산과수술 가능", "obstetrics available"),),
              priority=3),
        _spec(Pathway.PAEDIATRIC, ("소아", "paediatric"),
              ("소아 진료 가능 기관 없음 — 가까운 응급실에서 안정화",
               "no paediatric care — stabilise at the nearest ER"),
              flags=("paediatric",), tiers=(_tier(_PAEDIATRIC_BEDS, "소아 응급병상", "paediatric ER beds"), _REGIONAL),
              priority=4),
        _spec(Pathway.PSYCHIATRIC, ("정신과 응급", "psychiatric emergency"),
              ("정신과 입원 가능 기관 없음 — 가까운 응급실", "no psychiatric ward — the nearest ER"),
              tiers=(_tier(((Condition.PSYCHIATRIC_ADMISSION,),), "정신과 입원 가능", "psychiatric ward available"),),
              priority=5),
        _spec(Pathway.GENERAL_CRITICAL, ("중증(KTAS 1-2)", "critical (KTAS 1-2)"),
              ("권역·지역응급의료센터 없음 — 가까운 응급실에서 안정화",
               "no regional or local centre — stabilise at the nearest ER"),
              tiers=(_REGIONAL,), time_bound_s=30 * _MIN, priority=4),
        _spec(Pathway.NON_CRITICAL, ("비중증", "non-critical"),
              ("수용 가능한 응급실 없음", "no ER can take the patient"), priority=9),
    )
}  # fmt: skip

#: The pathway each crew flag of ``ems.vitals/1`` (``CrewFlags`` field) puts a patient on.
FLAG_PATHWAYS: Mapping[str, Pathway] = {flag: spec.pathway for spec in PATHWAYS.values() for flag in spec.flags}
#: Crew flags are hard rules on top of the severity model: the most urgent KTAS each allows.
FLAG_FLOORS: Mapping[str, int] = {
    flag: spec.ktas_floor for spec in PATHWAYS.values() for flag in spec.flags if spec.ktas_floor is not None
}

#: Every crew flag of ``ems.vitals/1``, in the order of its ``CrewFlags`` fields: the one list of their names
#: (each puts a patient on one pathway, :data:`FLAG_PATHWAYS`). Code outside this module reads flags through
#: :func:`flags_set` and :func:`needs_of`, never by name.
CREW_FLAGS: tuple[str, ...] = tuple(CrewFlags.model_fields)
#: Pathways whose crew flag means the patient is injured (the severity model's ``injury`` input).
INJURY_PATHWAYS: frozenset[Pathway] = frozenset({Pathway.MAJOR_TRAUMA, Pathway.BURNS})
_INJURY_FLAGS = tuple(name for name in CREW_FLAGS if FLAG_PATHWAYS[name] in INJURY_PATHWAYS)


def flags_set(flags: CrewFlags) -> tuple[str, ...]:
    """The names of the crew flags set, in :data:`CREW_FLAGS` order."""
    return tuple(name for name in CREW_FLAGS if getattr(flags, name))


def needs_of(flags: CrewFlags) -> frozenset[Pathway]:
    """The pathways the crew flags put a patient on (:data:`FLAG_PATHWAYS`); empty when none is set
    (:func:`pathways_of` adds the general critical / non-critical fallback)."""
    return frozenset(FLAG_PATHWAYS[name] for name in flags_set(flags))


def injured(flags: CrewFlags) -> bool:
    """Whether a crew flag says the patient is injured (:data:`INJURY_PATHWAYS`)."""
    return any(getattr(flags, name) for name in _INJURY_FLAGS)


#: Below this calibrated p_critical, a critical call's preference for a regional or local centre is a
#: cost (``level_penalty_s`` x p_critical), not a rule: the model over-triages on purpose (recall first),
#: and a 5 % chance of KTAS 1-2 must not fill the regional centres (docs/clinical_rules.md, R-CRIT).
HARD_CRITICAL_P = 0.5


def pathways_of(flags: Mapping[str, bool], *, critical: bool) -> frozenset[Pathway]:
    """The pathways a patient is on: one per crew flag set; general critical or non-critical when none."""
    found = {pathway for flag, pathway in FLAG_PATHWAYS.items() if flags.get(flag)}
    if found:
        return frozenset(found)
    return frozenset({Pathway.GENERAL_CRITICAL if critical else Pathway.NON_CRITICAL})


@dataclass(frozen=True)
class StabiliseRule:
    """Patients too unstable to travel far go to the nearest open ER (Pre-KTAS level 1 signs): a
    cardiac arrest, an airway or breathing failing (SpO2 or breathing rate this low), or shock the
    crew cannot recover (systolic pressure this low). Configurable; ``enabled=False`` turns it off
    for everything but cardiac arrest."""

    enabled: bool = True
    spo2_below: int = 80
    rr_below: int = 8
    sbp_below: int = 70

    def unstable(self, *, spo2_pct: int | None, rr_per_min: int | None, sbp_mmhg: int | None) -> bool:
        if not self.enabled:
            return False
        return (
            (spo2_pct is not None and spo2_pct < self.spo2_below)
            or (rr_per_min is not None and rr_per_min < self.rr_below)
            or (sbp_mmhg is not None and sbp_mmhg < self.sbp_below)
        )


#: Words for the items a centre can declare, as the crew and the charge nurse read them.
ITEM_WORDS: Mapping[Item, Text] = {
    Condition.STEMI_PCI: ("심근경색 PCI", "STEMI PCI"),
    Condition.STROKE_THROMBECTOMY: ("뇌졸중 혈전제거술", "stroke thrombectomy"),
    Condition.SAH_SURGERY: ("거미막하출혈 수술", "subarachnoid haemorrhage surgery"),
    Condition.ICH_SURGERY: ("뇌출혈 수술", "intracranial haemorrhage surgery"),
    Condition.MAJOR_BURNS: ("중증화상", "major burns"),
    Condition.OBSTETRIC_DELIVERY: ("분만", "obstetric delivery"),
    Condition.OBSTETRIC_SURGERY: ("산과 수술", "obstetric surgery"),
    Condition.PSYCHIATRIC_ADMISSION: ("정신과 폐쇄병동 입원", "psychiatric admission"),
    Condition.MAJOR_TRAUMA: ("중증외상 수용", "major trauma"),
    Equipment.CT: ("CT", "CT"),
    Equipment.ANGIOGRAPHY: ("혈관조영", "angiography"),
    BedType.ER_PAEDIATRIC: ("소아 응급병상", "paediatric ER beds"),
    Designation.TRAUMA_CENTRE: ("권역외상센터", "regional trauma centre"),
    Designation.REGIONAL_OR_LOCAL: ("권역·지역응급의료센터", "regional or local emergency centre"),
}


def declared_items() -> tuple[Condition | Equipment, ...]:
    """The conditions and equipment some pathway asks for: what a centre's form must let a nurse declare."""
    seen: dict[Condition | Equipment, None] = {}
    for spec in PATHWAYS.values():
        seen |= dict.fromkeys(item for item in spec.items() if isinstance(item, Condition | Equipment))
    seen[Condition.MAJOR_TRAUMA] = None  # a trauma centre can say its bays are full
    return tuple(seen)
