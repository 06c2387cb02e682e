"""The KPIs a medical director asks for (issue 22), hand-computed on a few records: the golden-time
indicator, time to definitive care by pathway, time spent finding a centre, secondary transfers,
destination under- and over-triage, and ED load equity."""

from __future__ import annotations

import dataclasses
import math

import pytest

from simulations.kpis import golden_time_s, run_metrics
from simulations.records import CallRecord, CentreRecord, RunResult

MIN = 60.0


def call(
    call_id: int,
    ktas: int,
    needs: tuple[str, ...] = (),
    *,
    definitive_min: float = 40.0,
    onset_min: float | None = None,
    final: str = "A0000001",
    secondary: bool = False,
    search_min: float = 0.0,
    transport_min: float = 10.0,
    phone_calls: int = 0,
) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        t_call_s=0.0,
        ktas=ktas,
        needs=needs,
        response_s=5 * MIN,
        transport_s=transport_min * MIN,
        definitive_s=definitive_min * MIN,
        first_hpid=final,
        final_hpid=final,
        retransfers=0,
        full_arrivals=0,
        incapable_arrivals=0,
        scene_search_s=search_min * MIN,
        phone_calls=phone_calls,
        secondary_transfer=secondary,
        definitive_hpid=final,
        onset_s=None if onset_min is None else onset_min * MIN,
    )


CENTRES = (
    CentreRecord("A0000001", "권역센터", 1, 20, 20, 10.0, 5, 0),  # mean 50 % of beds
    CentreRecord("B0000002", "지역기관", 3, 10, 10, 2.0, 5, 0),  # mean 20 % of beds
)
CALLS = (
    call(0, 2, ("stemi",), definitive_min=50, onset_min=60),  # 110 min <= 2 h: in
    call(1, 2, ("stemi",), definitive_min=70, onset_min=60),  # 130 min > 2 h: out
    call(2, 2, ("stroke",), definitive_min=100, onset_min=60, secondary=True, final="B0000002"),  # 160 <= 180: in
    call(3, 1, ("major_trauma",), definitive_min=50, onset_min=15),  # 65 min > 1 h: out
    call(4, 4, search_min=12, transport_min=20, phone_calls=3),  # 32 min finding and getting there
    call(5, 5, final="B0000002"),
    call(6, 3, ("stroke_haemorrhage",), definitive_min=30, onset_min=30),  # 60 <= 180: in
)


def metrics() -> dict[str, float]:
    return run_metrics(RunResult("p", 1, 1.0, 1.0, CALLS, CENTRES))


def test_the_golden_time_indicator_overall_and_by_pathway() -> None:
    m = metrics()
    assert m["golden_time_share"] == pytest.approx(100 * 3 / 5)
    assert m["stemi_golden_time_share"] == pytest.approx(50.0)
    assert m["stroke_golden_time_share"] == pytest.approx(100.0)  # infarct and haemorrhage together
    assert m["major_trauma_golden_time_share"] == pytest.approx(0.0)
    assert golden_time_s(("stroke", "major_trauma")) == 3600.0  # the most urgent timed pathway
    assert golden_time_s(("burns",)) is None


def test_definitive_care_by_level_and_pathway() -> None:
    m = metrics()
    assert m["definitive_care_min_ktas12"] == pytest.approx((50 + 70 + 100 + 50) / 4)
    assert m["definitive_care_min_stemi"] == pytest.approx(60.0)
    assert m["definitive_care_min_stroke"] == pytest.approx(65.0)
    assert m["definitive_care_min_major_trauma"] == pytest.approx(50.0)


def test_finding_a_centre_and_the_triage_of_destinations() -> None:
    m = metrics()
    assert m["scene_search_mean_min"] == pytest.approx(12 / 7)
    assert m["phone_calls_per_patient"] == pytest.approx(3 / 7)
    assert m["over_30min_pct"] == pytest.approx(100 / 7)
    assert m["secondary_transfer_pct"] == pytest.approx(100 / 7)
    assert m["under_triage_pct"] == pytest.approx(100 / 4)  # one of four KTAS 1-2 patients
    assert m["over_triage_pct"] == pytest.approx(50.0)  # KTAS 4 at the regional centre, KTAS 5 not


def test_ed_load_equity_is_the_spread_of_mean_occupancy() -> None:
    shares = [0.5, 0.2]
    mean = sum(shares) / 2
    expected = math.sqrt(sum((s - mean) ** 2 for s in shares) / 2) / mean
    assert metrics()["ed_occupancy_cv"] == pytest.approx(expected)


def test_patients_without_advice_count_only_for_policies_that_advise() -> None:
    assert math.isnan(metrics()["unadvised_pct"])  # advised is None: a policy without advice
    calls = tuple(dataclasses.replace(c, advised=c.call_id != 3) for c in CALLS)
    m = run_metrics(RunResult("p", 1, 1.0, 1.0, calls, CENTRES))
    assert m["unadvised_pct"] == pytest.approx(100 / 7)


def test_safety_rules_arrest_and_unstable_patients_go_to_the_nearest_er_first() -> None:
    calls = (
        dataclasses.replace(call(0, 1, ("cardiac_arrest",)), nearest_first=False),  # a violation
        dataclasses.replace(call(1, 1, ("cardiac_arrest",)), nearest_first=True),
        dataclasses.replace(call(2, 2), unstable=True, nearest_first=True),
        dataclasses.replace(call(3, 2), unstable=True, nearest_first=False),  # a violation
        dataclasses.replace(call(4, 4), nearest_first=False),  # stable, no arrest: the rules do not apply
    )
    m = run_metrics(RunResult("p", 1, 1.0, 1.0, calls, CENTRES))
    assert m["safety_violation_pct"] == pytest.approx(50.0)


def test_coverage_over_time_mean_and_lowest() -> None:
    m = run_metrics(RunResult("p", 1, 1.0, 1.0, CALLS, CENTRES, units=3, coverage=(1.0, 0.5, 0.75)))
    assert m["coverage_8min_pct"] == pytest.approx(75.0) and m["coverage_8min_low_pct"] == pytest.approx(50.0)
    assert math.isnan(metrics()["coverage_8min_pct"])  # not measured: not shown as 0


def test_without_timed_patients_the_indicator_is_not_measurable() -> None:
    m = run_metrics(RunResult("p", 1, 1.0, 1.0, (call(0, 4), call(1, 5)), CENTRES))
    assert math.isnan(m["golden_time_share"]) and math.isnan(m["definitive_care_min_stemi"])
