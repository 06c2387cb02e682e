"""The bed nowcast (dispatch/nowcast.py): beds others take per hour, learnt from reports, worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.nowcast import BedNowcast

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
PRIOR = {1: 4.0, 2: 3.0, 3: 1.5, 4: 0.5}


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_before_any_evidence_the_level_prior() -> None:
    nowcast = BedNowcast(PRIOR)
    assert nowcast.per_hour("A", 1) == 4.0 and nowcast.per_hour("A", 9) == 1.0
    nowcast.report("A", 10, _at(0))
    assert nowcast.per_hour("A", 1) == 4.0  # one report: no interval observed yet


def test_beds_others_took_between_reports_net_of_our_deliveries() -> None:
    nowcast = BedNowcast(PRIOR, prior_hours=2.0, half_life_h=1e9)
    nowcast.report("A", 10, _at(0))
    nowcast.delivered("A")  # one of ours took a bed: not the others' doing
    nowcast.report("A", 3, _at(1))  # 7 fewer, 1 ours: others took 6 in an hour
    assert nowcast.per_hour("A", 2) == pytest.approx((3.0 * 2 + 6) / (2 + 1))
    nowcast.report("A", 3, _at(3))  # nothing taken in two more hours
    assert nowcast.per_hour("A", 2) == pytest.approx((3.0 * 2 + 6) / (2 + 3))


def test_evidence_fades_with_its_half_life() -> None:
    nowcast = BedNowcast(PRIOR, prior_hours=1.0, half_life_h=1.0)
    nowcast.report("A", 10, _at(0))
    nowcast.report("A", 0, _at(1))  # 10 in the first hour
    nowcast.report("A", 0, _at(2))  # none in the second: the first hour counts half
    assert nowcast.per_hour("A", 3) == pytest.approx((1.5 + 10 * 0.5) / (1 + 1 * 0.5 + 1))


def test_no_count_an_older_report_or_freed_beds_teach_nothing_wrong() -> None:
    nowcast = BedNowcast(PRIOR, prior_hours=1.0, half_life_h=1e9)
    nowcast.report("A", 5, _at(1))
    nowcast.report("A", 0, _at(0.5))  # older than the last: ignored
    nowcast.report("A", None, _at(2))  # overcrowded or no count: the interval is not used
    nowcast.report("A", 1, _at(3))
    assert nowcast.per_hour("A", 4) == 0.5  # still no interval between two counts
    nowcast.report("A", 20, _at(4))  # 19 beds freed in an hour: others took none, never fewer than none
    assert nowcast.per_hour("A", 4) == 0.0


@given(st.lists(st.tuples(st.floats(0.01, 5.0), st.integers(0, 40), st.integers(0, 3)), min_size=1, max_size=20))
def test_the_rate_is_never_negative_and_always_finite(steps: list[tuple[float, int, int]]) -> None:
    nowcast, hours = BedNowcast(PRIOR), 0.0
    nowcast.report("A", 20, _at(0))
    for gap, available, ours in steps:
        for _ in range(ours):
            nowcast.delivered("A")
        hours += gap
        nowcast.report("A", available, _at(hours))
        rate = nowcast.per_hour("A", 1)
        assert 0.0 <= rate < float("inf")
