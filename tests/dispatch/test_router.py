"""Destination rules, one named scenario each (the R-codes of docs/clinical_rules.md), and the joint
assignment's bed property. Property tests over random cities are in test_router_properties.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.beds import effective_beds
from dispatch.centre_view import CentreView, centre_view
from dispatch.pathways import Pathway
from dispatch.router import Choice, Mode, PatientCase, RouterConfig, plan
from dispatch.scenario import Centre
from telemetry.schemas import BedCount, Capability, Capacity, EmsTraffic, TrafficStatus

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
NO_WALK_INS = RouterConfig(arrivals_per_hour=dict.fromkeys(range(1, 5), 0.0))


def view(hpid: str, *, level: int = 2, beds: int | None = 5, trauma: bool = False, **kw: Any) -> CentreView:
    """A centre with a capacity report: ``conditions``/``equipment`` dicts, ``traffic``, ``age_s``,
    ``item_age_s`` (of its declarations), ``paediatric`` beds, ``never`` (never reported)..."""
    centre = Centre(hpid, f"centre {hpid}", level, 35.1, 126.9, trauma)
    if kw.get("never"):
        return centre_view(centre, None, NOW)
    age = timedelta(seconds=kw.get("age_s", 60))
    item_at = NOW - timedelta(seconds=kw.get("item_age_s", 60))
    bed = BedCount(available=beds, total=30, overcrowded=kw.get("overcrowded", False), updated_at=NOW - age)
    all_beds = {"er_general": bed} if beds is not None or kw.get("overcrowded") else {}
    if "paediatric" in kw:
        all_beds["er_paediatric"] = BedCount(available=kw["paediatric"], updated_at=NOW - age)
    traffic_at = NOW - timedelta(seconds=kw.get("traffic_age_s", 60))
    capacity = Capacity.new(
        updated_at=NOW - age,
        beds=all_beds,
        conditions={k: Capability(available=v, updated_at=item_at) for k, v in kw.get("conditions", {}).items()},
        equipment={k: Capability(available=v, updated_at=item_at) for k, v in kw.get("equipment", {}).items()},
        ems_traffic=EmsTraffic(
            status=kw.get("traffic", TrafficStatus.NORMAL),
            reason=kw.get("reason"),
            expires_at=kw.get("expires_at"),
            updated_at=traffic_at,
        ),
        offload_minutes=kw.get("offload_min"),
    )
    return centre_view(centre, capacity, NOW)


def patient(
    unit: str = "u1", *, eta: Mapping[str, float], ktas: int = 3, needs: set[Pathway] | None = None, **kw: Any
) -> PatientCase:
    return PatientCase(unit, ktas, frozenset(needs or ()), eta, critical=kw.pop("critical", ktas <= 2), **kw)


def destination(cases: list[PatientCase], centres: list[CentreView], **kw: Any) -> dict[str, str]:
    return {c.unit_id: c.destination.hpid for c in plan(cases, centres, **kw)}


def one(case: PatientCase, centres: list[CentreView], **kw: Any) -> Choice:
    (choice,) = plan([case], centres, **kw)
    return choice


def test_the_nearest_suitable_centre_wins_by_default() -> None:
    assert destination([patient(eta={"A": 600, "B": 300})], [view("A"), view("B")]) == {"u1": "B"}


# --- R-TIER: the pathway's declaration decides, not a machine and not the ER's bed count ------------


def test_stemi_goes_to_the_centre_declaring_pci_even_when_its_er_beds_read_0() -> None:
    centres = [
        view("angio", beds=10, conditions={"stemi_pci": False}, equipment={"angiography": True}),
        view("pci", beds=0, conditions={"stemi_pci": True}),
    ]
    choice = one(patient(eta={"angio": 300, "pci": 900}, ktas=2, needs={Pathway.STEMI}), centres)
    assert choice.destination.hpid == "pci" and choice.team is Pathway.STEMI and choice.definitive
    assert "PCI 가능" in choice.destination.reason and "PCI available" in choice.destination.reason_en
    assert "angio" not in {a.hpid for a in choice.alternatives}  # declared no: never offered


def test_a_declared_no_is_used_only_when_no_yes_or_unknown_is_within_the_bound() -> None:
    near_no = view("no", conditions={"stemi_pci": False})
    far_yes = view("yes", conditions={"stemi_pci": True})
    case = patient(eta={"no": 300, "yes": 3000}, ktas=2, needs={Pathway.STEMI})
    assert one(case, [near_no, far_yes]).destination.hpid == "yes"  # 50 min: within the 60-min bound
    beyond = patient(eta={"no": 300, "yes": 4000}, ktas=2, needs={Pathway.STEMI})
    choice = one(beyond, [near_no, far_yes])  # 67 min: stabilise at the nearest, and say so
    assert (choice.destination.hpid, choice.mode, choice.definitive) == ("no", Mode.STABILISE, False)
    assert choice.destination.reason.startswith("PCI 가능 기관 없음")


def test_unknown_ranks_below_yes() -> None:
    unknown = view("unknown")  # reports beds, says nothing of PCI
    yes = view("yes", conditions={"stemi_pci": True})
    assert (
        one(patient(eta={"unknown": 600, "yes": 900}, ktas=2, needs={Pathway.STEMI}), [unknown, yes]).destination.hpid
        == "yes"
    )
    choice = one(patient(eta={"unknown": 600, "yes": 3000}, ktas=2, needs={Pathway.STEMI}), [unknown, yes])
    assert choice.destination.hpid == "unknown" and "PCI 미보고" in choice.destination.reason


def test_stroke_goes_to_thrombectomy_never_to_ct_only_while_thrombectomy_is_within_reach() -> None:
    centres = [
        view("ct", level=1, beds=10, equipment={"ct": True}, conditions={"stroke_thrombectomy": False}),
        view("evt", level=1, beds=0, conditions={"stroke_thrombectomy": True}),
    ]
    case = patient(eta={"ct": 200, "evt": 2400}, ktas=2, needs={Pathway.STROKE})
    assert one(case, centres).destination.hpid == "evt"
    # no thrombectomy within 60 min: the second tier (CT and thrombolysis at a level 1-2 centre)
    far = patient(eta={"ct": 200, "evt": 4000}, ktas=2, needs={Pathway.STROKE})
    choice = one(far, centres)
    assert choice.destination.hpid == "ct" and choice.mode is Mode.DEFINITIVE
    assert "CT·혈전용해 가능" in choice.destination.reason


def test_stemi_trauma_burns_obstetric_psychiatric_need_their_centre() -> None:
    cases: dict[Pathway, dict[str, Any]] = {
        Pathway.STEMI: {"conditions": {"stemi_pci": True}},
        Pathway.MAJOR_TRAUMA: {"trauma": True},
        Pathway.BURNS: {"conditions": {"major_burns": True}},
        Pathway.OBSTETRIC: {"conditions": {"obstetric_delivery": True}},
        Pathway.PSYCHIATRIC: {"conditions": {"psychiatric_admission": True}},
    }
    refuses = {"stemi_pci": False, "major_burns": False, "obstetric_delivery": False, "obstetric_surgery": False,
               "psychiatric_admission": False}  # fmt: skip
    for need, capable in cases.items():
        centres = [
            view("near", level=3, conditions=refuses, equipment={"angiography": True}),
            view("capable", **capable),
        ]
        choice = one(patient(eta={"near": 100, "capable": 900}, needs={need}), centres)
        assert choice.destination.hpid == "capable" and choice.definitive, need


def test_major_trauma_goes_29_min_to_the_trauma_centre_not_5_min_to_a_hospital_without_one() -> None:
    centres = [view("hospital", level=2, beds=20), view("trauma", level=1, beds=2, trauma=True)]
    case = patient(eta={"hospital": 5 * 60, "trauma": 29 * 60}, ktas=2, needs={Pathway.MAJOR_TRAUMA})
    choice = one(case, centres)
    assert choice.destination.hpid == "trauma" and choice.team is Pathway.MAJOR_TRAUMA
    # the trauma centre 70 min away: the nearest regional or local centre (the pathway's second tier)
    far = patient(eta={"hospital": 5 * 60, "trauma": 70 * 60, "small": 60}, ktas=2, needs={Pathway.MAJOR_TRAUMA})
    assert one(far, [*centres, view("small", level=4)]).destination.hpid == "hospital"


def test_a_trauma_centre_reporting_its_bays_full_is_a_declared_no() -> None:
    centres = [
        view("full", level=1, trauma=True, conditions={"major_trauma": False}),
        view("other", level=1, trauma=True),
    ]
    case = patient(eta={"full": 300, "other": 1500}, ktas=2, needs={Pathway.MAJOR_TRAUMA})
    assert one(case, centres).destination.hpid == "other"


def test_paediatric_patients_prefer_paediatric_beds_at_a_regional_or_local_centre() -> None:
    centres = [
        view("small", level=3, paediatric=3),
        view("big", level=2, paediatric=0),
        view("kids", level=2, paediatric=2),
    ]
    case = patient(eta={"small": 100, "big": 300, "kids": 700}, needs={Pathway.PAEDIATRIC})
    assert one(case, centres).destination.hpid == "kids"
    assert one(case, centres[:2]).destination.hpid == "big"  # no paediatric beds: the second tier


# --- R-NONE: never silent ----------------------------------------------------------------------------


def test_burns_with_no_burns_centre_is_told_so_and_sent_to_stabilise() -> None:
    centres = [view("A", conditions={"major_burns": False}), view("B", level=1, conditions={"major_burns": False})]
    choice = one(patient(eta={"A": 300, "B": 600}, ktas=2, needs={Pathway.BURNS}), centres)
    assert choice.mode is Mode.STABILISE and not choice.definitive and choice.unmet == (Pathway.BURNS,)
    assert choice.destination.hpid == "A"
    assert choice.destination.reason.startswith("화상 전문 치료 가능 기관 없음 — 가까운 응급실에서 안정화")
    assert choice.destination.reason_en.startswith("no burns unit — stabilise at the nearest ER")


def test_every_centre_declined_still_gets_advice_for_the_control_room() -> None:
    case = patient(eta={"A": 300, "B": 600}, declined=frozenset({"A", "B"}))
    choice = one(case, [view("A"), view("B")])
    assert choice.mode is Mode.ALL_DECLINED and choice.destination.hpid == "A"
    assert "상황실" in choice.destination.reason and "control room" in choice.destination.reason_en


def test_two_pathways_no_centre_meets_together_the_more_time_critical_decides() -> None:
    centres = [view("pci", conditions={"stemi_pci": True, "major_burns": False}),
               view("burns", conditions={"stemi_pci": False, "major_burns": True})]  # fmt: skip
    choice = one(patient(eta={"pci": 600, "burns": 300}, ktas=2, needs={Pathway.STEMI, Pathway.BURNS}), centres)
    assert choice.destination.hpid == "pci" and choice.mode is Mode.PARTIAL and choice.unmet == (Pathway.BURNS,)


# --- R-ARREST, R-UNSTABLE -------------------------------------------------------------------------------


def test_cardiac_arrest_goes_to_the_nearest_open_er_whatever_else() -> None:
    centres = [view("near", level=3, beds=0), view("best", level=1, beds=10, trauma=True)]
    choice = one(patient(eta={"near": 120, "best": 500}, ktas=1, needs={Pathway.CARDIAC_ARREST}), centres)
    assert choice.destination.hpid == "near" and choice.mode is Mode.NEAREST


def test_cardiac_arrest_avoids_a_closed_centre_when_another_open_er_exists() -> None:
    centres = [
        view("closed", traffic=TrafficStatus.CLOSED),
        view("open", level=4, beds=0),
        view("shut", conditions={"er_open": False}),
    ]
    case = patient(eta={"closed": 100, "open": 400, "shut": 50}, ktas=1, needs={Pathway.CARDIAC_ARREST})
    assert one(case, centres).destination.hpid == "open"


def test_an_unstable_patient_is_stabilised_at_the_nearest_open_er() -> None:
    centres = [view("near", level=4, beds=0), view("trauma", level=1, trauma=True)]
    stable = patient(eta={"near": 120, "trauma": 1200}, ktas=2, needs={Pathway.MAJOR_TRAUMA})
    assert one(stable, centres).destination.hpid == "trauma"
    unstable = patient(eta={"near": 120, "trauma": 1200}, ktas=1, needs={Pathway.MAJOR_TRAUMA}, unstable=True)
    choice = one(unstable, centres)
    assert choice.destination.hpid == "near" and "안정화 우선" in choice.destination.reason


def test_the_stabilise_rule_reads_airway_breathing_and_shock() -> None:
    rule = RouterConfig().stabilise
    assert rule.unstable(spo2_pct=75, rr_per_min=20, sbp_mmhg=120)
    assert rule.unstable(spo2_pct=95, rr_per_min=6, sbp_mmhg=120)
    assert rule.unstable(spo2_pct=95, rr_per_min=20, sbp_mmhg=60)
    assert not rule.unstable(spo2_pct=80, rr_per_min=8, sbp_mmhg=70)  # at the thresholds: not yet
    assert not rule.unstable(spo2_pct=None, rr_per_min=None, sbp_mmhg=None)  # unmeasured is not unstable
    assert not type(rule)(enabled=False).unstable(spo2_pct=50, rr_per_min=2, sbp_mmhg=40)


# --- R-CRIT -------------------------------------------------------------------------------------------------


def test_a_likely_critical_patient_goes_to_a_regional_or_local_centre() -> None:
    centres = [view("local", level=3), view("regional", level=1)]
    sure = patient(eta={"local": 100, "regional": 800}, ktas=2, p_critical=0.8)
    assert one(sure, centres).destination.hpid == "regional"
    assert one(patient(eta={"local": 100, "regional": 800}, ktas=4), centres).destination.hpid == "local"


def test_an_over_triaged_critical_call_is_not_forced_to_a_regional_centre() -> None:
    centres = [view("local", level=3), view("regional", level=1)]
    unsure = patient(eta={"local": 100, "regional": 800}, ktas=2, p_critical=0.06)
    choice = one(unsure, centres)
    assert choice.destination.hpid == "local"
    # ... but the preference grows with p_critical: close enough, a regional centre wins
    near = patient(eta={"local": 100, "regional": 160}, ktas=2, p_critical=0.3)
    assert one(near, centres).destination.hpid == "regional"


@settings(max_examples=300, deadline=None)
@given(
    local=st.floats(60, 1800),
    farther=st.floats(0, 1800),
    p=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2, unique=True),
    threshold=st.floats(0.01, 0.2),
)
def test_a_likelier_critical_patient_never_moves_from_a_regional_to_a_lower_level_centre(
    local: float, farther: float, p: list[float], threshold: float
) -> None:
    """R-CRIT and R-PRIORITY use p_critical as expected harm: raising it (all else equal, the critical call at an
    operating threshold) never trades a regional centre for a level 3-4 one."""
    centres = [view("local", level=3), view("regional", level=1)]
    low, high = sorted(p)
    eta = {"local": local, "regional": local + farther}
    went = [
        one(patient(eta=eta, ktas=3, p_critical=q, critical=q >= threshold), centres).destination.hpid
        for q in (low, high)
    ]
    assert went != ["regional", "local"], (low, high)


def test_a_crew_graded_critical_patient_is_held_to_a_regional_centre_whatever_the_model_says() -> None:
    """R-CREW: the crew's Pre-KTAS 1-2 holds the patient as a sure critical call does; the model cannot lower it."""
    centres = [view("local", level=3), view("regional", level=1)]
    unsure = patient(eta={"local": 100, "regional": 800}, ktas=2, p_critical=0.06)
    assert one(unsure, centres).destination.hpid == "local"
    graded = patient(eta={"local": 100, "regional": 800}, ktas=2, p_critical=0.06, crew_ktas=2)
    assert one(graded, centres).destination.hpid == "regional"
    less = patient(eta={"local": 100, "regional": 800}, ktas=2, p_critical=0.06, crew_ktas=3)
    assert one(less, centres).destination.hpid == "local"  # a crew's KTAS 3 does not hold them


# --- R-DATUM, R-BEDS: unknown is never plenty, old is never as good as new -------------------------------


def test_a_centre_that_never_reported_beds_is_not_unlimited() -> None:
    centres = [view("silent", never=True), view("known", beds=6)]
    cases = [patient(f"u{i}", eta={"silent": 300, "known": 420}, ktas=2, p_critical=0.9) for i in range(6)]
    sent = list(destination(cases, centres, config=NO_WALK_INS).values())
    assert sent.count("silent") <= RouterConfig().unknown_bed_slots
    choice = plan(cases, centres)[0]
    assert any("병상 미보고" in o.reason for o in (choice.destination, *choice.alternatives))


def test_unknown_beds_rank_below_reported_beds() -> None:
    assert destination([patient(eta={"silent": 300, "known": 330})], [view("silent", beds=None), view("known")]) == {
        "u1": "known"
    }


def test_an_old_bed_report_counts_less_than_a_new_one_and_ten_hours_is_unknown() -> None:
    config = RouterConfig()
    fresh, old, ancient = view("A", beds=4, age_s=0), view("A", beds=4, age_s=1800), view("A", beds=4, age_s=36000)
    assert effective_beds(fresh, 0, 0.0, NO_WALK_INS) == effective_beds(old, 0, 0.0, NO_WALK_INS) == 4
    assert effective_beds(ancient, 0, 0.0, config) is None  # stale: read as unknown, not half
    # a 2-bed report 40 min old loses to the same report 5 min old at the same distance
    cases = [patient(f"u{i}", eta={"old": 300, "new": 300}) for i in range(2)]
    chosen = destination(cases, [view("old", beds=2, age_s=2400), view("new", beds=2, age_s=300)], config=NO_WALK_INS)
    assert sorted(chosen.values()) == ["new", "new"]


def test_an_old_declaration_costs_more_than_a_new_one_and_a_stale_no_reads_as_unknown() -> None:
    case = patient(eta={"old": 600, "new": 630}, ktas=2, needs={Pathway.STEMI})
    old = view("old", conditions={"stemi_pci": True}, item_age_s=4 * 3600)
    new = view("new", conditions={"stemi_pci": True}, item_age_s=60)
    choice = one(case, [old, new])
    assert choice.destination.hpid == "new"
    assert any("PCI 보고 4시간 전" in a.reason for a in choice.alternatives)
    stale_no = view("stale", conditions={"stemi_pci": False}, item_age_s=10 * 3600)
    case = patient(eta={"stale": 600, "far": 3000}, ktas=2, needs={Pathway.STEMI})
    assert one(case, [stale_no, view("far", conditions={"stemi_pci": False})]).destination.hpid == "stale"


def test_walk_ins_expected_during_the_drive_are_counted() -> None:
    busy = view("busy", level=1, beds=1)  # 4 walk-ins an hour: the one bed is likely gone in 30 min
    quiet = view("quiet", level=4, beds=3)
    assert one(patient(eta={"busy": 1800, "quiet": 1900}), [busy, quiet]).destination.hpid == "quiet"
    assert one(patient(eta={"busy": 1800, "quiet": 1900}), [busy, quiet], config=NO_WALK_INS).destination.hpid == "busy"


def test_er_shut_takes_nobody() -> None:
    centres = [view("shut", conditions={"er_open": False}), view("open")]
    assert destination([patient(eta={"shut": 60, "open": 900})], centres)["u1"] == "open"


# --- R-CLOSED -------------------------------------------------------------------------------------------------


def test_closed_centre_excluded_unless_nothing_else_within_the_margin() -> None:
    closed = view("closed", traffic=TrafficStatus.CLOSED, reason="CT down")
    assert destination([patient(eta={"closed": 100, "open": 500})], [closed, view("open")])["u1"] == "open"
    far_open = {"closed": 100, "open": 100 + RouterConfig().closed_margin_s + 60}
    choice = one(patient(eta=far_open), [closed, view("open")])
    assert choice.destination.hpid == "closed" and "수용 불가 (CT down)" in choice.destination.reason


def test_a_closure_past_its_expiry_or_too_old_no_longer_excludes() -> None:
    expired = view("A", traffic=TrafficStatus.CLOSED, expires_at=NOW - timedelta(minutes=1))
    assert destination([patient(eta={"A": 100, "B": 500})], [expired, view("B")])["u1"] == "A"
    old = view("A", traffic=TrafficStatus.CLOSED, traffic_age_s=7 * 3600)
    choice = one(patient(eta={"A": 100, "B": 500}), [old, view("B")])
    assert choice.destination.hpid == "A" and "수용 불가 보고 7시간 전" in choice.destination.reason


# --- R-PRIORITY, R-TEAM ---------------------------------------------------------------------------------------


def test_the_last_bed_goes_to_the_sickest() -> None:
    centres = [view("last", beds=1), view("full", beds=0)]
    mild = patient("u1-mild", eta={"last": 300, "full": 330}, ktas=5)
    sick = patient("u2-sick", eta={"last": 330, "full": 300}, ktas=1, p_critical=0.9)
    choices = {c.unit_id: c for c in plan([mild, sick], centres, config=NO_WALK_INS)}
    assert choices["u2-sick"].destination.hpid == "last" and choices["u2-sick"].destination.beds_on_arrival == 1
    assert choices["u1-mild"].destination.beds_on_arrival == 0  # no bed for the mild one anywhere: told so
    assert "병상 없음" in choices["u1-mild"].destination.reason


def test_two_stemi_patients_share_no_single_cath_lab_the_sicker_gets_the_nearer() -> None:
    centres = [
        view("pci1", beds=0, conditions={"stemi_pci": True}),
        view("pci2", beds=0, conditions={"stemi_pci": True}),
    ]
    a = patient("a", eta={"pci1": 600, "pci2": 1200}, ktas=2, p_critical=0.5, needs={Pathway.STEMI})
    b = patient("b", eta={"pci1": 600, "pci2": 1200}, ktas=1, p_critical=0.95, needs={Pathway.STEMI})
    assert destination([a, b], centres) == {"a": "pci2", "b": "pci1"}
    # a cath lab already taken by a patient on the way counts
    assert destination([b], centres, teams_elsewhere={("pci1", Pathway.STEMI): 1}) == {"b": "pci2"}


def test_an_assumed_team_needs_an_er_bed_too_a_declared_one_does_not() -> None:
    full_unknown = view("full", overcrowded=True, beds=None)  # says nothing of thrombectomy, ER overcrowded
    full_declared = view("full", overcrowded=True, beds=None, conditions={"stroke_thrombectomy": True})
    other = view("other", beds=3)
    case = patient(eta={"full": 300, "other": 900}, ktas=2, needs={Pathway.STROKE})
    assumed = one(case, [full_unknown, other], config=NO_WALK_INS)
    assert assumed.destination.hpid == "other" and assumed.takes_bed
    declared = one(case, [full_declared, other], config=NO_WALK_INS)
    assert declared.destination.hpid == "full" and declared.team is Pathway.STROKE and not declared.takes_bed


def test_two_patients_are_not_sent_to_the_last_bed() -> None:
    centres = [view("last", beds=1), view("next", beds=5)]
    cases = [patient("u1", eta={"last": 300, "next": 400}), patient("u2", eta={"last": 310, "next": 420})]
    assert sorted(destination(cases, centres, config=NO_WALK_INS).values()) == ["last", "next"]


def test_beds_already_inbound_are_counted() -> None:
    centres = [view("A", beds=2), view("B", beds=5)]
    assert destination([patient(eta={"A": 100, "B": 300})], centres, inbound_elsewhere={"A": 2})["u1"] == "B"


def test_offload_minutes_are_added_to_the_eta() -> None:
    centres = [view("slow", offload_min=20), view("quick")]
    choice = one(patient(eta={"slow": 300, "quick": 900}), centres)
    assert choice.destination.hpid == "quick"
    slow = next(a for a in choice.alternatives if a.hpid == "slow")
    assert slow.eta_s == 300 + 20 * 60 and "인계 지연 20분" in slow.reason


def test_declined_centres_are_never_offered_again() -> None:
    choice = one(
        patient(eta={"A": 100, "B": 400, "C": 500}, declined=frozenset({"A"})), [view("A"), view("B"), view("C")]
    )
    assert choice.destination.hpid == "B" and "A" not in {a.hpid for a in choice.alternatives}


def test_advice_is_stable_unless_clearly_better_or_no_longer_a_candidate() -> None:
    centres = [view("A"), view("B")]
    assert destination([patient(eta={"A": 300, "B": 280}, current="A")], centres)["u1"] == "A"  # 20 s: stay
    assert destination([patient(eta={"A": 900, "B": 280}, current="A")], centres)["u1"] == "B"
    now_no = [view("A", conditions={"stemi_pci": False}), view("B", conditions={"stemi_pci": True})]
    stemi = patient(eta={"A": 300, "B": 900}, ktas=2, needs={Pathway.STEMI}, current="A")
    assert destination([stemi], now_no)["u1"] == "B"


def test_an_arrest_en_route_is_not_turned_to_an_er_barely_nearer() -> None:
    centres = [view("A", level=3), view("B", level=3)]
    arrest = {Pathway.CARDIAC_ARREST}
    assert destination([patient(eta={"A": 200, "B": 150}, ktas=1, needs=arrest, current="A")], centres)["u1"] == "A"
    assert destination([patient(eta={"A": 200, "B": 150}, ktas=1, needs=arrest)], centres)["u1"] == "B"
    assert destination([patient(eta={"A": 600, "B": 150}, ktas=1, needs=arrest, current="A")], centres)["u1"] == "B"
    unstable = patient(eta={"A": 200, "B": 150}, ktas=2, unstable=True, current="A")
    assert destination([unstable], centres)["u1"] == "A"


def test_a_unit_leaving_its_area_uncovered_prefers_the_nearer_of_two_fitting_centres() -> None:
    centres = [view("near", beds=None), view("far", beds=5)]  # near: beds unknown, 5 min (× urgency 2)
    case = patient(eta={"near": 300, "far": 500}, ktas=4)
    cover = replace(NO_WALK_INS, coverage_s_per_s=1.0)
    assert one(case, centres, config=cover).destination.hpid == "far"  # 2 × (300 + 300) > 2 × 500
    gap = replace(case, cover_gap=1.0)  # + 1.0 × 2 × 300 < + 1.0 × 2 × 500
    assert one(gap, centres, config=cover).destination.hpid == "near"
    assert one(replace(gap, cover_gap=0.25), centres, config=cover).destination.hpid == "far"
    assert one(gap, centres, config=replace(cover, coverage_s_per_s=0.0)).destination.hpid == "far"
    arrest = replace(gap, needs=frozenset({Pathway.CARDIAC_ARREST}), ktas=1)
    assert one(arrest, [view("near"), view("far")]).destination.hpid == "near"


def test_an_accepting_centre_keeps_its_patient_and_bed() -> None:
    """R-PROMISE: the accepted patient keeps the centre's last bed; the next patient goes elsewhere."""
    centres = [view("A", beds=1), view("B", beds=5)]
    near_a = {"A": 300, "B": 900}
    sicker = patient("u1", eta=near_a, ktas=2, critical=False)
    accepted = patient("u2", eta={"A": 600, "B": 700}, ktas=4, current="A", confirmed=True)
    assert destination([sicker, accepted], centres, config=NO_WALK_INS) == {"u1": "B", "u2": "A"}
    unconfirmed = replace(accepted, confirmed=False)
    assert destination([sicker, unconfirmed], centres, config=NO_WALK_INS) == {"u1": "A", "u2": "B"}
    shut = [view("A", beds=1, conditions={"er_open": False}), view("B", beds=5)]
    assert destination([accepted], shut)["u2"] == "B"  # no longer a candidate: the promise cannot hold


def test_deterministic_for_the_same_inputs() -> None:
    centres = [view(h, beds=1) for h in "ABCD"]
    cases = [patient(f"u{i}", eta={h: 300.0 for h in "ABCD"}) for i in range(6)]
    first = destination(cases, centres)
    assert all(destination(list(reversed(cases)), list(reversed(centres))) == first for _ in range(3))


# --- reasons in the crew's language ----------------------------------------------------------------------------


def test_reasons_are_korean_by_default_with_the_english_beside_them() -> None:
    centres = [view("A1", level=1, conditions={"stroke_thrombectomy": True}, beds=3),
               view("B1", level=1, overcrowded=True, beds=None)]  # fmt: skip
    choice = one(patient(eta={"A1": 720, "B1": 540}, ktas=2, needs={Pathway.STROKE}), centres, config=NO_WALK_INS)
    assert choice.destination.hpid == "A1"
    assert choice.destination.reason.startswith("centre A1: 12분, 혈전제거술 가능, 도착 시 병상 3")
    assert "centre B1 9분이지만 응급실 포화" in choice.destination.reason
    assert choice.destination.reason_en.startswith("centre A1: 12 min, thrombectomy available, 3 beds after inbound")
    assert "centre B1 is 9 min but reports ER full" in choice.destination.reason_en


@settings(max_examples=80, deadline=None)
@given(
    beds=st.lists(st.integers(0, 3), min_size=2, max_size=4),
    etas=st.lists(st.lists(st.integers(60, 1800), min_size=4, max_size=4), min_size=1, max_size=8),
    ktas=st.lists(st.integers(3, 5), min_size=8, max_size=8),
)
def test_no_centre_gets_more_patients_than_beds_while_another_has_room(
    beds: list[int], etas: list[list[int]], ktas: list[int]
) -> None:
    names = [f"C{i}" for i in range(len(beds))]
    centres = [view(n, beds=b, age_s=0) for n, b in zip(names, beds, strict=False)]
    cases = [patient(f"u{i}", eta=dict(zip(names, row, strict=False)), ktas=ktas[i]) for i, row in enumerate(etas)]
    counts = {n: 0 for n in names}
    for hpid in destination(cases, centres, config=NO_WALK_INS).values():
        counts[hpid] += 1
    free = {n: b for n, b in zip(names, beds, strict=False)}
    overfull = [n for n in names if counts[n] > free[n]]
    with_room = [n for n in names if counts[n] < free[n]]
    assert not (overfull and with_room), (counts, free)
