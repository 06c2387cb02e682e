"""Destination rules, one test each, and the joint assignment's bed property."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.router import CentreView, Need, PatientCase, RouterConfig, centre_view, effective_beds, plan
from dispatch.scenario import Centre
from telemetry.schemas import BedCount, Capability, Capacity, EmsTraffic, TrafficStatus

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def view(hpid: str, *, level: int = 2, beds: int | None = 5, trauma: bool = False, **kw: Any) -> CentreView:
    """A centre with a capacity report: ``conditions``/``equipment`` dicts, ``traffic``, ``age_s``..."""
    age = timedelta(seconds=kw.get("age_s", 60))
    bed = BedCount(available=beds, total=30, overcrowded=kw.get("overcrowded", False), updated_at=NOW - age)
    capacity = Capacity.new(
        updated_at=NOW - age,
        beds={"er_general": bed} if beds is not None or kw.get("overcrowded") else {},
        conditions={k: Capability(available=v) for k, v in kw.get("conditions", {}).items()},
        equipment={k: Capability(available=v) for k, v in kw.get("equipment", {}).items()},
        ems_traffic=EmsTraffic(status=kw.get("traffic", TrafficStatus.NORMAL), reason=kw.get("reason")),
        offload_minutes=kw.get("offload_min"),
    )
    return centre_view(Centre(hpid, f"centre {hpid}", level, 35.1, 126.9, trauma), capacity, NOW)


def patient(
    unit: str = "u1", *, eta: Mapping[str, float], ktas: int = 3, needs: set[Need] | None = None, **kw: Any
) -> PatientCase:
    return PatientCase(unit, ktas, frozenset(needs or ()), eta, critical=ktas <= 2, **kw)


def destination(cases: list[PatientCase], centres: list[CentreView], **kw: Any) -> dict[str, str]:
    return {c.unit_id: c.destination.hpid for c in plan(cases, centres, **kw)}


def test_the_nearest_suitable_centre_wins_by_default() -> None:
    assert destination([patient(eta={"A": 600, "B": 300})], [view("A"), view("B")]) == {"u1": "B"}


def test_stroke_goes_to_thrombectomy_else_ct_never_to_a_centre_without_either() -> None:
    centres = [
        view("near", equipment={"ct": False}, conditions={"stroke_thrombectomy": False}),
        view("ct", equipment={"ct": True}, conditions={"stroke_thrombectomy": False}),
        view("far", conditions={"stroke_thrombectomy": True}, level=1),
    ]
    eta = {"near": 200, "ct": 400, "far": 700}
    assert destination([patient(eta=eta, needs={Need.STROKE})], centres)["u1"] == "far"  # thrombectomy in reach
    assert destination([patient(eta={"near": 200, "ct": 400}, needs={Need.STROKE})], centres[:2])["u1"] == "ct"


def test_stemi_trauma_burns_obstetric_psychiatric_need_their_centre() -> None:
    cases: dict[Need, dict[str, Any]] = {
        Need.STEMI: {"conditions": {"stemi_pci": True}},
        Need.MAJOR_TRAUMA: {"trauma": True},
        Need.BURNS: {"conditions": {"major_burns": True}},
        Need.OBSTETRIC: {"conditions": {"obstetric_delivery": True}},
        Need.PSYCHIATRIC: {"conditions": {"psychiatric_admission": True}},
    }
    for need, capable in cases.items():
        centres = [view("near", conditions={"stemi_pci": False, "major_burns": False, "obstetric_delivery": False,
                                            "obstetric_surgery": False, "psychiatric_admission": False,
                                            "major_trauma": False}, equipment={"angiography": False}),
                   view("capable", **capable)]  # fmt: skip
        assert destination([patient(eta={"near": 100, "capable": 900}, needs={need})], centres)["u1"] == "capable", need


def test_cardiac_arrest_goes_to_the_nearest_open_er_whatever_else() -> None:
    centres = [view("near", level=3, beds=0), view("best", level=1, beds=10, trauma=True)]
    assert destination([patient(eta={"near": 120, "best": 500}, ktas=1, needs={Need.CARDIAC_ARREST})], centres) == {
        "u1": "near"
    }


def test_critical_patients_go_to_level_1_or_2() -> None:
    centres = [view("local", level=3), view("regional", level=1)]
    assert destination([patient(eta={"local": 100, "regional": 800}, ktas=2)], centres)["u1"] == "regional"
    assert destination([patient(eta={"local": 100, "regional": 800}, ktas=4)], centres)["u1"] == "local"


def test_paediatric_patients_need_a_regional_or_local_centre() -> None:
    centres = [view("small", level=3), view("big", level=2)]
    assert destination([patient(eta={"small": 100, "big": 500}, needs={Need.PAEDIATRIC})], centres)["u1"] == "big"


def test_er_shut_takes_nobody() -> None:
    centres = [view("shut", conditions={"er_open": False}), view("open")]
    assert destination([patient(eta={"shut": 60, "open": 900})], centres)["u1"] == "open"


def test_closed_centre_excluded_unless_nothing_else_within_the_margin() -> None:
    closed = view("closed", traffic=TrafficStatus.CLOSED, reason="CT down")
    assert destination([patient(eta={"closed": 100, "open": 500})], [closed, view("open")])["u1"] == "open"
    far_open = {"closed": 100, "open": 100 + RouterConfig().closed_margin_s + 60}
    assert destination([patient(eta=far_open)], [closed, view("open")])["u1"] == "closed"


def test_two_patients_are_not_sent_to_the_last_bed() -> None:
    centres = [view("last", beds=1), view("next", beds=5)]
    cases = [patient("u1", eta={"last": 300, "next": 400}), patient("u2", eta={"last": 310, "next": 420})]
    chosen = destination(cases, centres)
    assert sorted(chosen.values()) == ["last", "next"]


def test_beds_already_inbound_are_counted() -> None:
    centres = [view("A", beds=2), view("B", beds=5)]
    assert destination([patient(eta={"A": 100, "B": 300})], centres, inbound_elsewhere={"A": 2})["u1"] == "B"


def test_stale_reports_are_discounted_and_said_to_be_stale() -> None:
    stale = view("A", beds=1, age_s=4 * 3600)
    assert effective_beds(stale, 0, 0.0, RouterConfig()) == 0.5
    choice = plan([patient(eta={"A": 100, "B": 2000})], [stale, view("B", beds=0)])[0]
    assert "min old" in choice.destination.reason or any("min old" in a.reason for a in choice.alternatives)


def test_offload_minutes_are_added_to_the_eta() -> None:
    centres = [view("slow", offload_min=20), view("quick")]
    choice = plan([patient(eta={"slow": 300, "quick": 900})], centres)[0]
    assert choice.destination.hpid == "quick"
    slow = next(a for a in choice.alternatives if a.hpid == "slow")
    assert slow.eta_s == 300 + 20 * 60


def test_declined_centres_are_never_offered_again() -> None:
    choice = plan(
        [patient(eta={"A": 100, "B": 400, "C": 500}, declined=frozenset({"A"}))], [view("A"), view("B"), view("C")]
    )[0]
    assert choice.destination.hpid == "B" and "A" not in {a.hpid for a in choice.alternatives}


def test_advice_is_stable_unless_clearly_better() -> None:
    centres = [view("A"), view("B")]
    slightly = patient(eta={"A": 300, "B": 280}, current="A")  # B better by 20 s: stay
    assert destination([slightly], centres)["u1"] == "A"
    clearly = patient(eta={"A": 900, "B": 280}, current="A")
    assert destination([clearly], centres)["u1"] == "B"


def test_deterministic_for_the_same_inputs() -> None:
    centres = [view(h, beds=1) for h in "ABCD"]
    cases = [patient(f"u{i}", eta={h: 300.0 for h in "ABCD"}) for i in range(6)]
    first = destination(cases, centres)
    assert all(destination(list(reversed(cases)), list(reversed(centres))) == first for _ in range(3))


def test_the_reason_explains_a_faster_centre_that_was_not_chosen() -> None:
    centres = [view("A1", level=1, conditions={"stroke_thrombectomy": True}, beds=3),
               view("B1", level=1, overcrowded=True, beds=None)]  # fmt: skip
    choice = plan([patient(eta={"A1": 720, "B1": 540}, ktas=2, needs={Need.STROKE})], centres)[0]
    assert choice.destination.hpid == "A1"
    assert choice.destination.reason.startswith("centre A1: 12 min, thrombectomy available")
    assert "centre B1 is 9 min but reports ER full" in choice.destination.reason


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
    for hpid in destination(cases, centres).values():
        counts[hpid] += 1
    free = {n: b for n, b in zip(names, beds, strict=False)}
    overfull = [n for n in names if counts[n] > free[n]]
    with_room = [n for n in names if counts[n] < free[n]]
    assert not (overfull and with_room), (counts, free)
