"""One named scenario per clinical rule a mutant of the router once broke unseen (``make mutation``).

Each test pins one rule of dispatch/router.py (the R-codes of its docstring and of
docs/clinical_rules.md) through :func:`~dispatch.router.plan`, and says which rule in its name. They
complement test_router.py: that file shows each rule working, this one shows each rule's numbers,
comparisons and words cannot change without a test failing.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

from dispatch.beds import full_resources
from dispatch.centre_view import CentreView, centre_view
from dispatch.pathways import PATHWAYS, Pathway, declared_items, pathways_of
from dispatch.router import Mode, plan
from dispatch.scenario import Centre
from telemetry.schemas import BedCount, Capability, Capacity, Condition, Equipment, TrafficStatus
from tests.dispatch.test_router import NO_WALK_INS, NOW, destination, one, patient, view


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def report(
    hpid: str,
    *,
    level: int = 2,
    er: tuple[int | None, float] | None = (5, 60.0),
    paediatric: tuple[int, float] | None = None,
    conditions: dict[str, tuple[bool | None, float]] | None = None,
    offload: tuple[float, float] | None = None,
) -> CentreView:
    """A centre whose message was sent just now while each datum in it carries its own age (R-DATUM):
    ``er`` / ``paediatric`` (free beds, age), ``conditions`` {name: (declared, age)}, ``offload`` (minutes, age)."""
    beds: dict[str, BedCount] = {}
    if er is not None:
        beds["er_general"] = BedCount(available=er[0], total=30, updated_at=ago(er[1]))
    if paediatric is not None:
        beds["er_paediatric"] = BedCount(available=paediatric[0], updated_at=ago(paediatric[1]))
    capacity = Capacity.new(
        updated_at=NOW,
        beds=beds,
        conditions={k: Capability(available=v, updated_at=ago(age)) for k, (v, age) in (conditions or {}).items()},
        offload_minutes=None if offload is None else offload[0],
        offload_updated_at=None if offload is None else ago(offload[1]),
    )
    return centre_view(Centre(hpid, f"centre {hpid}", level, 35.1, 126.9, False), capacity, NOW)


# --- R-DATUM ---------------------------------------------------------------------------------------------


def test_r_datum_a_static_designation_counts_as_a_fresh_yes_never_better() -> None:
    centres = [
        view("listed", level=1, trauma=True),  # on the national list, says nothing of its bays
        view("declared", level=1, conditions={"major_trauma": True}, item_age_s=0),  # a yes sent just now
    ]
    case = patient(eta={"listed": 29 * 60, "declared": 25 * 60}, ktas=2, needs={Pathway.MAJOR_TRAUMA})
    assert one(case, centres).destination.hpid == "declared"


def test_r_datum_a_centre_that_never_reported_keeps_its_designation_name_and_drive_time() -> None:
    centres = [view("hospital", level=2, never=True), view("trauma", level=1, trauma=True, never=True)]
    case = patient(eta={"hospital": 60, "trauma": 29 * 60}, ktas=2, needs={Pathway.MAJOR_TRAUMA})
    choice = one(case, centres)
    assert (choice.destination.hpid, choice.team) == ("trauma", Pathway.MAJOR_TRAUMA)
    assert choice.destination.name == "centre trauma" and choice.destination.reason.startswith("centre trauma: ")
    assert choice.destination.eta_s == 29 * 60 and "인계 지연" not in choice.destination.reason  # no offload


def test_r_datum_paediatric_beds_are_dated_by_their_own_report() -> None:
    # the message is fresh, its "no paediatric bed" is 10 h old: stale, read as unknown, not as a no
    old = report("old", paediatric=(0, 10 * 3600))
    kids = view("kids", level=2, paediatric=2)
    case = patient(eta={"old": 60, "kids": 2400}, needs={Pathway.PAEDIATRIC})
    assert one(case, [old, kids]).destination.hpid == "old"


def test_r_datum_er_beds_are_dated_by_their_own_report_not_by_the_message() -> None:
    choice = one(patient(eta={"A": 300}), [report("A", er=(4, 10 * 3600))], config=NO_WALK_INS)
    assert choice.destination.beds_on_arrival is None  # stale: unknown, not 4
    assert "병상 보고 10시간 전" in choice.destination.reason
    assert "bed report 10 h old" in choice.destination.reason_en


def test_r_datum_an_old_offload_report_is_told_with_its_age() -> None:
    old = one(patient(eta={"A": 300}), [report("A", offload=(20, 2 * 3600))]).destination
    assert "인계 지연 20분" in old.reason and "인계 지연 보고 2시간 전" in old.reason
    assert "offload report 2 h old" in old.reason_en
    fresh = one(patient(eta={"A": 300}), [report("A", offload=(20, 60))]).destination
    assert "인계 지연 20분" in fresh.reason and "인계 지연 보고" not in fresh.reason


def test_r_datum_a_group_is_met_by_its_freshest_yes() -> None:
    both = report("both", conditions={"obstetric_delivery": (True, 60), "obstetric_surgery": (True, 5 * 3600)})
    fresh = report("fresh", conditions={"obstetric_delivery": (True, 60)})
    choice = one(patient(eta={"both": 600, "fresh": 900}, needs={Pathway.OBSTETRIC}), [both, fresh])
    assert choice.destination.hpid == "both" and "보고 5시간 전" not in choice.destination.reason


def test_r_datum_an_unknown_item_is_told_as_not_reported_and_a_stale_one_with_its_age() -> None:
    case = patient(eta={"A": 600}, ktas=2, needs={Pathway.STEMI})
    unknown = one(case, [view("A", conditions={"stemi_pci": None})]).destination  # E-Gen -1, sent a minute ago
    assert "심근경색 PCI 미보고" in unknown.reason and "PCI 보고" not in unknown.reason
    stale = one(case, [view("A", conditions={"stemi_pci": False}, item_age_s=10 * 3600)]).destination
    assert "심근경색 PCI 보고 10시간 전" in stale.reason and "STEMI PCI report 10 h old" in stale.reason_en


def test_r_datum_a_declaration_exactly_two_half_lives_old_still_holds() -> None:
    # "older than stale_after_half_lives half-lives": at exactly 6 h the "no" still excludes
    no = view("no", conditions={"stemi_pci": False}, item_age_s=6 * 3600)
    case = patient(eta={"no": 300, "yes": 3000}, ktas=2, needs={Pathway.STEMI})
    assert one(case, [no, view("yes", conditions={"stemi_pci": True})]).destination.hpid == "yes"


# --- R-TIER, R-TEAM ------------------------------------------------------------------------------------------


def test_r_tier_the_time_bound_includes_a_centre_exactly_at_the_bound() -> None:
    near_no = view("no", conditions={"stemi_pci": False})
    at_bound = view("yes", conditions={"stemi_pci": True})
    case = patient(eta={"no": 300, "yes": PATHWAYS[Pathway.STEMI].time_bound_s}, ktas=2, needs={Pathway.STEMI})
    choice = one(case, [near_no, at_bound])
    assert (choice.destination.hpid, choice.mode) == ("yes", Mode.DEFINITIVE)


def test_r_tier_burns_are_driven_up_to_two_hours_to_a_burns_unit() -> None:
    centres = [view("near", conditions={"major_burns": False}), view("unit", conditions={"major_burns": True})]
    choice = one(patient(eta={"near": 600, "unit": 90 * 60}, ktas=2, needs={Pathway.BURNS}), centres)
    assert (choice.destination.hpid, choice.mode) == ("unit", Mode.DEFINITIVE)


def test_r_tier_thrombolysis_needs_ct_at_a_regional_or_local_centre() -> None:
    no_evt = {"stroke_thrombectomy": False}
    centres = [
        view("small", level=3, conditions=no_evt, equipment={"ct": True}),
        view("regional", level=1, conditions=no_evt, equipment={"ct": True}),
    ]
    case = patient(eta={"small": 300, "regional": 1500}, ktas=2, needs={Pathway.STROKE})
    assert one(case, centres).destination.hpid == "regional"


def test_r_tier_any_item_of_a_group_meets_it_obstetric_surgery_and_ich_surgery() -> None:
    near = view("near", conditions={"obstetric_delivery": False, "obstetric_surgery": True})
    far = view("far", conditions={"obstetric_delivery": True})
    assert one(patient(eta={"near": 300, "far": 1500}, needs={Pathway.OBSTETRIC}), [near, far]).destination.hpid == (
        "near"
    )
    near = view("near", conditions={"sah_surgery": False, "ich_surgery": True})
    far = view("far", conditions={"sah_surgery": True})
    case = patient(eta={"near": 300, "far": 1500}, ktas=2, needs={Pathway.STROKE_HAEMORRHAGE})
    assert one(case, [near, far]).destination.hpid == "near"


def test_r_tier_an_unknown_ct_costs_the_unknown_penalty_on_the_thrombolysis_tier() -> None:
    no_evt = {"stroke_thrombectomy": False}
    centres = [
        view("ct_unknown", level=1, conditions=no_evt),
        view("ct_yes", level=1, conditions=no_evt, equipment={"ct": True}),
    ]
    case = patient(eta={"ct_unknown": 600, "ct_yes": 900}, ktas=2, needs={Pathway.STROKE})
    assert one(case, centres, config=NO_WALK_INS).destination.hpid == "ct_yes"


def test_r_tier_with_two_pathways_each_tier_below_the_first_costs_the_tier_penalty() -> None:
    # no trauma centre: both are on trauma's second tier; only "evt" is on stroke's first
    centres = [
        view("evt", level=1, conditions={"stroke_thrombectomy": True}, equipment={"ct": True}),
        view("ct", level=1, conditions={"stroke_thrombectomy": False}, equipment={"ct": True}),
    ]
    case = patient(eta={"evt": 900, "ct": 600}, ktas=2, needs={Pathway.STROKE, Pathway.MAJOR_TRAUMA})
    choice = one(case, centres, config=NO_WALK_INS)
    assert (choice.destination.hpid, choice.mode) == ("evt", Mode.DEFINITIVE)


def test_r_team_the_first_tier_takes_the_team_declared_or_unknown_a_lower_tier_an_er_bed() -> None:
    stemi = patient(eta={"A": 600}, ktas=2, needs={Pathway.STEMI})
    assert one(stemi, [view("A", conditions={"stemi_pci": True})]).team is Pathway.STEMI
    assert one(stemi, [view("A", beds=0)]).team is Pathway.STEMI  # PCI unknown: the lab at its penalty, not ER beds
    stroke = patient(eta={"A": 600}, ktas=2, needs={Pathway.STROKE})
    evt = view("A", level=1, conditions={"stroke_thrombectomy": True})
    assert one(stroke, [evt]).team is Pathway.STROKE
    ct_only = view("A", level=1, conditions={"stroke_thrombectomy": False}, equipment={"ct": True})
    assert one(stroke, [ct_only]).team is None  # thrombolysis, the second tier: an ER bed


def test_r_team_an_assumed_team_takes_an_er_bed_too_a_declared_one_takes_the_patient_straight_in() -> None:
    stemi = patient("a-stemi", eta={"A": 300, "B": 600}, ktas=2, needs={Pathway.STEMI})
    mild = patient("b-mild", eta={"A": 300, "B": 600}, ktas=4)
    assumed = [view("A", beds=1), view("B")]  # PCI not reported: the STEMI patient goes through A's one ER bed
    assert destination([stemi, mild], assumed, config=NO_WALK_INS) == {"a-stemi": "A", "b-mild": "B"}
    declared = [view("A", beds=1, conditions={"stemi_pci": True}), view("B")]
    assert destination([stemi, mild], declared, config=NO_WALK_INS) == {"a-stemi": "A", "b-mild": "A"}


def test_r_team_the_patient_beyond_a_taken_team_is_told_and_the_others_are_not() -> None:
    busy_ko, busy_en = "심근경색 PCI 이미 다른 환자 이송 중", "STEMI PCI already taken by an inbound patient"
    pci = view("pci", conditions={"stemi_pci": True})
    a = patient("a", eta={"pci": 600}, ktas=2, p_critical=0.5, needs={Pathway.STEMI})
    b = patient("b", eta={"pci": 600}, ktas=1, p_critical=0.95, needs={Pathway.STEMI})
    choices = {c.unit_id: c for c in plan([a, b], [pci])}
    assert choices["b"].team is Pathway.STEMI and busy_ko not in choices["b"].destination.reason  # the sicker
    assert busy_ko in choices["a"].destination.reason and busy_en in choices["a"].destination.reason_en
    # two trauma bays, one already taken by a patient on the way: the second of ours is told
    trauma = view("T", level=1, trauma=True)
    cases = [patient(u, eta={"T": 600}, ktas=2, needs={Pathway.MAJOR_TRAUMA}) for u in ("c", "d")]
    told = [
        "권역외상센터 이미 다른 환자 이송 중" in c.destination.reason
        for c in plan(cases, [trauma], teams_elsewhere={("T", Pathway.MAJOR_TRAUMA): 1})
    ]
    assert sorted(told) == [False, True]
    # nobody heading to the second cath lab: the alternative is not said to be taken
    alone = one(patient(eta={"p1": 600, "p2": 900}, ktas=2, needs={Pathway.STEMI}),
                [view("p1", conditions={"stemi_pci": True}), view("p2", conditions={"stemi_pci": True})])  # fmt: skip
    assert all("이미 다른 환자" not in o.reason for o in (alone.destination, *alone.alternatives))


def test_r_tier_crew_flags_put_the_patient_on_their_pathway_and_criticality_on_general() -> None:
    centres = [view("local", level=3), view("near", conditions={"stemi_pci": False}), view("pci", level=1,
               conditions={"stemi_pci": True})]  # fmt: skip
    eta = {"local": 100, "near": 300, "pci": 900}
    stemi = patient(eta=eta, ktas=2, needs=set(pathways_of({"stemi": True, "burns": False}, critical=True)))
    assert one(stemi, centres).destination.hpid == "pci"
    critical = patient(eta=eta, ktas=2, p_critical=0.9, needs=set(pathways_of({}, critical=True)))
    assert one(critical, centres).destination.hpid == "near"  # general critical: regional or local
    mild = patient(eta=eta, ktas=4, needs=set(pathways_of({"stemi": False}, critical=False)))
    assert one(mild, centres).destination.hpid == "local"


def test_r_tier_a_centre_declaring_every_declarable_item_is_definitive_for_every_pathway() -> None:
    items = declared_items()
    everything = view(
        "all",
        level=1,
        trauma=True,
        paediatric=3,
        conditions={i.value: True for i in items if isinstance(i, Condition)},
        equipment={i.value: True for i in items if isinstance(i, Equipment)},
    )
    for pathway, spec in PATHWAYS.items():
        if not spec.tiers or pathway is Pathway.GENERAL_CRITICAL:  # a designation alone: the nearest on it
            continue
        case = patient(eta={"near": 600, "all": 900}, ktas=2, needs={pathway})
        choice = one(case, [view("near", level=1), everything], config=NO_WALK_INS)
        assert (choice.destination.hpid, choice.mode) == ("all", Mode.DEFINITIVE), pathway


def test_r_tier_every_choice_names_the_pathway_that_decided_and_its_mode() -> None:
    mild = one(patient(eta={"A": 300}, ktas=4), [view("A")])
    assert (mild.mode, mild.definitive, mild.pathway) == (Mode.DEFINITIVE, True, Pathway.NON_CRITICAL)
    stemi = one(patient(eta={"A": 300}, ktas=2, needs={Pathway.STEMI}), [view("A", conditions={"stemi_pci": True})])
    assert (stemi.mode, stemi.pathway) == (Mode.DEFINITIVE, Pathway.STEMI)
    arrest = one(patient(eta={"A": 300}, ktas=1, needs={Pathway.CARDIAC_ARREST}), [view("A")])
    assert (arrest.mode, arrest.pathway, arrest.team) == (Mode.NEAREST, Pathway.CARDIAC_ARREST, None)


# --- R-NONE: never silent ----------------------------------------------------------------------------------------


def test_r_none_partial_advice_tells_the_unmet_pathway_first() -> None:
    centres = [view("pci", conditions={"stemi_pci": True, "major_burns": False}),
               view("burns", conditions={"stemi_pci": False, "major_burns": True})]  # fmt: skip
    choice = one(patient(eta={"pci": 600, "burns": 300}, ktas=2, needs={Pathway.STEMI, Pathway.BURNS}), centres)
    burns = PATHWAYS[Pathway.BURNS].when_none
    assert (choice.mode, choice.pathway, choice.notice) == (Mode.PARTIAL, Pathway.STEMI, burns)
    assert choice.destination.reason.startswith("화상 전문 치료 가능 기관 없음")
    assert choice.destination.reason_en.startswith("no burns unit")


def test_r_none_stabilise_advice_says_the_centre_can_stabilise() -> None:
    centres = [view("A", conditions={"major_burns": False})]
    choice = one(patient(eta={"A": 300}, ktas=2, needs={Pathway.BURNS}), centres)
    burns = PATHWAYS[Pathway.BURNS].when_none
    assert (choice.mode, choice.pathway, choice.notice) == (Mode.STABILISE, Pathway.BURNS, burns)
    assert "안정화 가능" in choice.destination.reason and "can stabilise" in choice.destination.reason_en


def test_r_none_every_centre_declined_still_gets_advice_whatever_the_pathway() -> None:
    centres = [view("A", conditions={"stemi_pci": True}), view("B")]
    for needs in ({Pathway.CARDIAC_ARREST}, {Pathway.STEMI}, set()):
        case = patient(eta={"A": 300, "B": 600}, ktas=1, needs=needs, declined=frozenset({"A", "B"}))
        choice = one(case, centres)
        assert (choice.mode, choice.destination.hpid) == (Mode.ALL_DECLINED, "A"), needs
        assert choice.unmet == tuple(case.pathways()) and "상황실" in choice.destination.reason, needs


def test_r_none_every_centre_declined_names_the_nearest_not_the_first_listed() -> None:
    case = patient(eta={"A": 400, "B": 300}, ktas=1, declined=frozenset({"A", "B"}))
    assert one(case, [view("A"), view("B")]).destination.hpid == "B"


def test_r_none_a_centre_missing_from_the_etas_is_unreachable_not_an_error() -> None:
    assert one(patient(eta={"A": 300}), [view("A"), view("B")]).destination.hpid == "A"
    declined = one(patient(eta={"A": 300}, declined=frozenset({"A"})), [view("A"), view("B")])
    assert (declined.mode, declined.destination.hpid) == (Mode.ALL_DECLINED, "A")


def test_r_none_a_patient_who_can_reach_no_centre_does_not_silence_the_others() -> None:
    cases = [patient("a-nowhere", eta={"A": math.inf}), patient("b-here", eta={"A": 300})]
    assert destination(cases, [view("A")]) == {"b-here": "A"}


# --- R-ARREST, R-CLOSED ------------------------------------------------------------------------------------------


def test_r_arrest_the_reason_says_cardiac_arrest_time_wins() -> None:
    choice = one(patient(eta={"A": 300}, ktas=1, needs={Pathway.CARDIAC_ARREST}), [view("A")])
    assert "심정지: 시간 우선" in choice.destination.reason
    assert "cardiac arrest: time wins" in choice.destination.reason_en


def test_r_closed_a_closure_ends_exactly_at_its_expiry() -> None:
    ending = view("A", traffic=TrafficStatus.CLOSED, expires_at=NOW)
    assert destination([patient(eta={"A": 100, "B": 500})], [ending, view("B")])["u1"] == "A"


def test_r_closed_a_closure_with_an_expiry_is_trusted_until_it_expires_however_old() -> None:
    closed = view("A", traffic=TrafficStatus.CLOSED, expires_at=NOW + timedelta(hours=1), traffic_age_s=7 * 3600)
    assert destination([patient(eta={"A": 100, "B": 500})], [closed, view("B")])["u1"] == "B"


def test_r_closed_when_every_centre_is_closed_the_nearest_still_gets_the_patient() -> None:
    centres = [view(h, traffic=TrafficStatus.CLOSED) for h in ("A", "B")]
    assert destination([patient(eta={"A": 100, "B": 500})], centres)["u1"] == "A"
    arrest = patient(eta={"A": 100, "B": 500}, ktas=1, needs={Pathway.CARDIAC_ARREST})
    assert one(arrest, centres).destination.hpid == "A"


def test_r_closed_a_fresh_closure_used_for_want_of_another_pays_no_advisory_penalty_on_top() -> None:
    # nothing open within 10 min of it: 100 s + 10 min offload = 700 s < 750 s (the advisory 300 s would make 1000 s)
    closed = view("closed", traffic=TrafficStatus.CLOSED, offload_min=10)
    case = patient(eta={"closed": 100, "open": 750})
    assert one(case, [closed, view("open")], config=NO_WALK_INS).destination.hpid == "closed"


def test_r_closed_a_closure_exactly_six_hours_old_still_excludes() -> None:
    closed = view("A", traffic=TrafficStatus.CLOSED, traffic_age_s=6 * 3600)
    assert destination([patient(eta={"A": 100, "B": 500})], [closed, view("B")])["u1"] == "B"


def test_r_closed_a_closure_report_too_old_costs_the_advisory_penalty() -> None:
    old = view("A", traffic=TrafficStatus.CLOSED, traffic_age_s=7 * 3600)  # 100 s + 300 s penalty > 300 s
    assert destination([patient(eta={"A": 100, "B": 300})], [old, view("B")])["u1"] == "B"


def test_r_closed_an_advisory_centre_costs_the_advisory_penalty_and_says_why() -> None:
    advisory = view("adv", traffic=TrafficStatus.ADVISORY, reason="CT 점검")
    choice = one(patient(eta={"adv": 100, "norm": 350}), [advisory, view("norm")])
    assert choice.destination.hpid == "norm" and choice.destination.drawback is None
    choice = one(patient(eta={"adv": 100, "norm": 450}), [advisory, view("norm")])
    assert choice.destination.hpid == "adv" and "수용 제한 (CT 점검)" in choice.destination.reason
    assert "advisory (CT 점검)" in choice.destination.reason_en


def test_r_closed_an_open_centre_exactly_at_the_margin_is_within_it() -> None:
    closed = view("closed", traffic=TrafficStatus.CLOSED)
    case = patient(eta={"closed": 100, "open": 100 + 600})
    assert one(case, [closed, view("open")]).destination.hpid == "open"


# --- R-CRIT ---------------------------------------------------------------------------------------------------------


def test_r_crit_p_critical_at_or_above_one_half_holds_a_critical_call_to_regional_or_local() -> None:
    centres = [view("local", level=3), view("regional", level=1)]
    eta = {"local": 100, "regional": 1100}
    assert one(patient(eta=eta, ktas=2, p_critical=0.5), centres).destination.hpid == "regional"
    assert one(patient(eta=eta, ktas=2, p_critical=0.3), centres).destination.hpid == "local"  # 100 s + 540 s


def test_r_crit_a_regional_centre_beyond_thirty_minutes_is_not_waited_for() -> None:
    centres = [view("local", level=3), view("regional", level=1)]
    choice = one(patient(eta={"local": 300, "regional": 40 * 60}, ktas=2, p_critical=0.9), centres)
    assert (choice.destination.hpid, choice.mode) == ("local", Mode.STABILISE)
    assert choice.notice == PATHWAYS[Pathway.GENERAL_CRITICAL].when_none


def test_r_crit_a_non_critical_patient_pays_no_level_penalty() -> None:
    centres = [view("local", level=3), view("regional", level=1)]
    choice = one(patient(eta={"local": 100, "regional": 600}, ktas=4, p_critical=0.4), centres)
    assert choice.destination.hpid == "local" and "권역·지역센터 아님" not in choice.destination.reason


def test_r_crit_the_level_penalty_is_p_critical_times_level_penalty_at_level_3_and_4_only() -> None:
    l2_l3 = [view("L2", level=2), view("L3", level=3)]  # level 2 is a local centre: no penalty
    assert one(patient(eta={"L2": 300, "L3": 100}, ktas=2, p_critical=0.3), l2_l3).destination.hpid == "L2"
    centres = [view("local", level=3), view("regional", level=1)]  # 600 s + 0.3 x 1800 s > 900 s
    assert one(patient(eta={"local": 600, "regional": 900}, ktas=2, p_critical=0.3), centres).destination.hpid == (
        "regional"
    )
    assert one(patient(eta={"local": 100, "regional": 800}, ktas=2, p_critical=0.0), centres).destination.hpid == (
        "local"
    )


# --- R-BEDS, R-PRIORITY -----------------------------------------------------------------------------------------------


def test_r_beds_an_overcrowded_er_offers_no_bed() -> None:
    centres = [view("full", overcrowded=True, beds=None), view("room")]
    assert one(patient(eta={"full": 100, "room": 400}), centres, config=NO_WALK_INS).destination.hpid == "room"
    choice = one(patient(eta={"full": 100, "room": 400}), centres, inbound_elsewhere={"full": 2}, config=NO_WALK_INS)
    (full,) = choice.alternatives
    assert full.beds_on_arrival == 0 and "응급실 포화" in full.reason  # not "2 beds" for our 2 inbound


def test_r_beds_an_er_reporting_its_bed_count_unknown_is_told_beds_not_reported() -> None:
    choice = one(patient(eta={"A": 300}), [report("A", er=(None, 60))])
    assert choice.destination.beds_on_arrival is None
    assert "병상 미보고" in choice.destination.reason and "병상 보고" not in choice.destination.reason


def test_r_beds_the_reason_tells_the_beds_on_arrival_and_the_age_of_an_old_count() -> None:
    fresh = one(patient(eta={"A": 300}), [view("A", beds=3)], config=NO_WALK_INS).destination
    assert "도착 시 병상 3" in fresh.reason and "병상 없음" not in fresh.reason and "병상 보고" not in fresh.reason
    old = one(patient(eta={"A": 300}), [view("A", beds=3, age_s=2400)], config=NO_WALK_INS).destination
    assert "도착 시 병상 3" in old.reason and "병상 보고 40분 전" in old.reason
    assert "bed report 40 min old" in old.reason_en


def test_r_beds_a_bed_report_exactly_two_half_lives_old_still_counts() -> None:
    choice = one(patient(eta={"A": 300}), [view("A", beds=4, age_s=3600)], config=NO_WALK_INS)
    assert choice.destination.beds_on_arrival == 4


def test_r_beds_walk_ins_at_the_centres_level_are_subtracted_from_the_beds_on_arrival() -> None:
    busy = one(patient(eta={"A": 1800}), [view("A", level=1, beds=3, age_s=0)]).destination  # 4 an hour: 2 come
    assert busy.beds_on_arrival == 1
    quiet = one(patient(eta={"A": 3600}), [view("A", level=4, beds=3, age_s=0)]).destination  # 0.5 an hour
    assert quiet.beds_on_arrival == 3


def test_r_beds_walk_ins_take_the_spare_beds_with_poisson_odds() -> None:
    # two spare beds an hour from a level-1 centre (4 walk-ins an hour): P(2 or more come first) = 0.91
    busy, quiet = view("busy", level=1, beds=2), view("quiet", level=4, beds=3)
    assert one(patient(eta={"busy": 3600, "quiet": 3700}), [busy, quiet]).destination.hpid == "quiet"
    # three spare beds: P = 0.76, still worse than one spare bed at a level-4 centre (P = 0.39)
    busy, quiet = view("busy", level=1, beds=3), view("quiet", level=4, beds=1)
    assert one(patient(eta={"busy": 3600, "quiet": 3600}), [busy, quiet]).destination.hpid == "quiet"


def test_r_beds_beds_already_inbound_leave_fewer_for_the_walk_ins_to_take() -> None:
    centres = [view("X", level=1, beds=2), view("Y", level=1, beds=2)]
    case = patient(eta={"X": 1790, "Y": 1800})
    assert one(case, centres, inbound_elsewhere={"X": 1}).destination.hpid == "Y"


def test_r_beds_unknown_beds_cost_the_unknown_beds_penalty_even_with_no_walk_ins() -> None:
    # 5 min (weighted) for not knowing: 30 s nearer does not make up for it
    centres = [view("silent", never=True), view("known", age_s=0)]
    assert one(patient(eta={"silent": 300, "known": 330}), centres, config=NO_WALK_INS).destination.hpid == "known"


def test_r_beds_beds_inbound_from_elsewhere_count_against_the_patients_of_this_plan() -> None:
    centres = [view("A", beds=2), view("B", beds=5)]
    cases = [patient("u1", eta={"A": 300, "B": 400}), patient("u2", eta={"A": 310, "B": 420})]
    sent = destination(cases, centres, inbound_elsewhere={"A": 1}, config=NO_WALK_INS)
    assert sorted(sent.values()) == ["A", "B"]  # one bed left at A, not two


def test_r_priority_full_resources_are_the_beds_and_teams_with_nothing_left_once_ours_arrive() -> None:
    centres = [view("A", beds=2), view("B", beds=2), view("Z", beds=1), view("S", never=True),
               view("O", overcrowded=True, beds=None)]  # fmt: skip
    beds_held = {"A": 2, "B": 1, "S": 1}
    teams_held = {("P", Pathway.STEMI): 1, ("T", Pathway.MAJOR_TRAUMA): 1}
    assert full_resources(centres, beds_held, teams_held) == {
        ("A", None),  # 2 beds, 2 of ours heading there
        ("S", None),  # never reported: one bed assumed, and it is taken
        ("O", None),  # overcrowded: none
        ("P", Pathway.STEMI),  # one cath lab
    }  # B and Z have a bed left, T a second trauma bay


def test_r_beds_a_silent_centre_with_one_of_ours_inbound_has_no_bed_left() -> None:
    centres = [view("silent", never=True), view("known")]
    case = patient(eta={"silent": 60, "known": 420})
    assert one(case, centres, config=NO_WALK_INS).destination.hpid == "silent"
    assert one(case, centres, inbound_elsewhere={"silent": 1}, config=NO_WALK_INS).destination.hpid == "known"


def test_r_beds_the_age_of_a_bed_count_costs_more_than_ten_seconds_of_driving() -> None:
    centres = [view("old", beds=2, age_s=2400), view("new", beds=2, age_s=300)]
    assert one(patient(eta={"old": 290, "new": 300}), centres, config=NO_WALK_INS).destination.hpid == "new"


def test_r_beds_our_patients_to_one_centre_each_count_the_others_and_the_inbound() -> None:
    cases = [patient("u1", eta={"A": 300}), patient("u2", eta={"A": 310})]
    choices = plan(cases, [view("A", beds=5)], inbound_elsewhere={"A": 1}, config=NO_WALK_INS)
    assert [c.destination.beds_on_arrival for c in choices] == [3, 3]


def test_r_beds_an_arrest_patient_heading_to_an_er_takes_a_bed_there() -> None:
    """The last bed is not also given to another patient: R-BEDS counts *our patients heading there*, the
    time-wins ones (arrest, unstable, all declined) too (mutant ``x_plan__mutmut_60`` found it missing)."""
    centres = [view("near", beds=1), view("other", beds=5)]
    arrest = patient("a-arrest", eta={"near": 120, "other": 600}, ktas=1, needs={Pathway.CARDIAC_ARREST})
    mild = patient("b-mild", eta={"near": 120, "other": 400}, ktas=4)
    choices = {c.unit_id: c for c in plan([arrest, mild], centres, config=NO_WALK_INS)}
    assert choices["a-arrest"].destination.hpid == "near"
    assert choices["b-mild"].destination.hpid == "other"


def test_r_priority_arriving_at_a_full_er_costs_three_hours_times_urgency_squared() -> None:
    # KTAS 5 (urgency 1): an ER with a bed 2.5 h farther beats a full one, 3.5 h farther does not
    for extra_drive_s, chosen in ((9000, "room"), (12600, "full")):
        centres = [view("full", beds=0, age_s=0), view("room", beds=5, age_s=0)]
        case = patient(eta={"full": 100, "room": 100 + extra_drive_s}, ktas=5)
        assert one(case, centres, config=NO_WALK_INS).destination.hpid == chosen, extra_drive_s


def test_r_priority_the_last_bed_goes_to_ktas_1_before_ktas_2() -> None:
    centres = [view("last", beds=1), view("full", beds=0)]
    ktas2 = patient("u1-ktas2", eta={"last": 300, "full": 330}, ktas=2)
    ktas1 = patient("u2-ktas1", eta={"last": 330, "full": 300}, ktas=1)
    assert destination([ktas2, ktas1], centres, config=NO_WALK_INS)["u2-ktas1"] == "last"


def test_r_priority_the_full_er_penalty_grows_with_the_square_of_urgency() -> None:
    config = replace(NO_WALK_INS, full_penalty_s=100.0)  # KTAS 3: urgency 3, 100 s x 3² = 900 s (weighted)
    for extra_drive_s, chosen in ((250, "room"), (400, "full")):  # weighted: 750 s < 900 s < 1200 s
        centres = [view("full", beds=0, age_s=0), view("room", beds=5, age_s=0)]
        case = patient(eta={"full": 100, "room": 100 + extra_drive_s})
        assert one(case, centres, config=config).destination.hpid == chosen, extra_drive_s


# --- R-STABLE, the words ---------------------------------------------------------------------------------------


def test_r_stable_the_crew_is_told_whether_the_destination_changed() -> None:
    centres = [view("A"), view("B")]
    assert not one(patient(eta={"A": 300, "B": 280}, current="A"), centres).changed
    assert one(patient(eta={"A": 900, "B": 280}, current="A"), centres).changed
    assert one(patient(eta={"A": 900, "B": 280}), centres).changed


def test_reason_the_eta_is_told_in_whole_minutes_rounded_up() -> None:
    choice = one(patient(eta={"A": 610}), [view("A")])
    assert choice.destination.reason.startswith("centre A: 11분") and choice.destination.reason_en.startswith(
        "centre A: 11 min"
    )
