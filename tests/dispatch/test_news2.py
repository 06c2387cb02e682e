"""Tests of ``dispatch.severity.news2``: every band of the RCP 2017 NEWS2 chart, rounding, risk and inputs."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from dispatch.severity.news2 import CLINICAL_RISKS, PARAMETERS, News2, news2

# Observations that score 0 on every parameter; each test overrides what it is about.
NORMAL: dict[str, Any] = {
    "rr_per_min": 16,
    "spo2_pct": 98,
    "sbp_mmhg": 125,
    "hr_bpm": 72,
    "temp_c": 37.0,
    "consciousness": "A",
}


def score(**overrides: Any) -> News2:
    """``news2`` on ``NORMAL`` with ``overrides`` applied."""
    return news2(**{**NORMAL, **overrides})


def test_normal_baseline_scores_zero() -> None:
    result = score()
    assert result.score == 0
    assert result.parameters == dict.fromkeys(PARAMETERS, 0)


# --- Fully worked examples, computed by hand from the chart -------------------------------------


def test_worked_example_unwell_adult_is_high() -> None:
    # RR 24            -> 21-24      -> 2
    # SpO2 93 (Scale 1) -> 92-93     -> 2
    # on air           ->            -> 0
    # SBP 105          -> 101-110    -> 1
    # HR 115           -> 111-130    -> 2
    # Alert            ->            -> 0
    # temp 38.4        -> 38.1-39.0  -> 1
    # aggregate 2+2+0+1+2+0+1 = 8 -> 7 or more -> "high"; no single 3.
    result = news2(rr_per_min=24, spo2_pct=93, sbp_mmhg=105, hr_bpm=115, temp_c=38.4, consciousness="A")
    assert result.parameters == {
        "rr_per_min": 2,
        "spo2_pct": 2,
        "on_supplemental_oxygen": 0,
        "sbp_mmhg": 1,
        "hr_bpm": 2,
        "consciousness": 0,
        "temp_c": 1,
    }
    assert result.score == 8
    assert result.any_single_three is False
    assert result.clinical_risk == "high"
    assert result.missing == ()


def test_worked_example_healthy_adult_is_low() -> None:
    # RR 14 -> 12-20 -> 0; SpO2 97 -> >=96 -> 0; air -> 0; SBP 128 -> 111-219 -> 0;
    # HR 68 -> 51-90 -> 0; Alert -> 0; temp 36.6 -> 36.1-38.0 -> 0.
    # aggregate 0 -> "low".
    result = news2(rr_per_min=14, spo2_pct=97, sbp_mmhg=128, hr_bpm=68, temp_c=36.6, consciousness="a")
    assert result.score == 0
    assert result.any_single_three is False
    assert result.clinical_risk == "low"


def test_worked_example_single_three_is_low_medium() -> None:
    # RR 18 -> 0; SpO2 96 -> 0; air -> 0; SBP 118 -> 0; HR 84 -> 0;
    # new Confusion -> 3; temp 37.2 -> 0.
    # aggregate 3 -> 0-4, but one parameter scored 3 (red score) -> "low-medium".
    result = news2(rr_per_min=18, spo2_pct=96, sbp_mmhg=118, hr_bpm=84, temp_c=37.2, consciousness="C")
    assert result.parameters["consciousness"] == 3
    assert result.score == 3
    assert result.any_single_three is True
    assert result.clinical_risk == "low-medium"


def test_worked_example_copd_on_oxygen_scale_2() -> None:
    # Hypercapnic patient on Scale 2, on oxygen:
    # RR 22 -> 21-24 -> 2; SpO2 95 on O2 (Scale 2) -> 95-96 on oxygen -> 2; oxygen -> 2;
    # SBP 140 -> 0; HR 96 -> 91-110 -> 1; Alert -> 0; temp 37.8 -> 0.
    # aggregate 2+2+2+0+1+0+0 = 7 -> "high". (On Scale 1, SpO2 95 would score 1: aggregate 6, "medium".)
    kwargs: dict[str, Any] = {
        "rr_per_min": 22,
        "spo2_pct": 95,
        "sbp_mmhg": 140,
        "hr_bpm": 96,
        "temp_c": 37.8,
        "consciousness": "A",
        "on_supplemental_oxygen": True,
    }
    result = news2(**kwargs, spo2_scale=2)
    assert result.parameters["spo2_pct"] == 2
    assert result.parameters["on_supplemental_oxygen"] == 2
    assert result.score == 7
    assert result.clinical_risk == "high"
    scale_1 = news2(**kwargs, spo2_scale=1)
    assert scale_1.parameters["spo2_pct"] == 1
    assert scale_1.score == 6
    assert scale_1.clinical_risk == "medium"


def test_worked_example_maximum_is_twenty() -> None:
    # RR 30 -> 3; SpO2 85 (Scale 1) -> 3; oxygen -> 2; SBP 80 -> 3; HR 140 -> 3; U -> 3; temp 34.0 -> 3.
    # aggregate 3+3+2+3+3+3+3 = 20, the chart's maximum.
    result = news2(
        rr_per_min=30,
        spo2_pct=85,
        sbp_mmhg=80,
        hr_bpm=140,
        temp_c=34.0,
        consciousness="U",
        on_supplemental_oxygen=True,
    )
    assert result.score == 20
    assert result.clinical_risk == "high"


# --- Every band boundary, both sides ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rr", "points"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)],
)
def test_respiration_rate_bands(rr: float, points: int) -> None:
    result = score(rr_per_min=rr)
    assert result.parameters["rr_per_min"] == points
    assert result.score == points


@pytest.mark.parametrize(
    ("spo2", "points"),
    [(50, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
)
@pytest.mark.parametrize("on_oxygen", [False, True])
def test_spo2_scale_1_bands_ignore_oxygen(spo2: float, points: int, on_oxygen: bool) -> None:
    result = score(spo2_pct=spo2, on_supplemental_oxygen=on_oxygen)
    assert result.parameters["spo2_pct"] == points
    assert result.score == points + (2 if on_oxygen else 0)


@pytest.mark.parametrize(
    ("spo2", "on_air", "on_oxygen"),
    [
        (70, 3, 3),
        (83, 3, 3),
        (84, 2, 2),
        (85, 2, 2),
        (86, 1, 1),
        (87, 1, 1),
        (88, 0, 0),
        (92, 0, 0),
        (93, 0, 1),
        (94, 0, 1),
        (95, 0, 2),
        (96, 0, 2),
        (97, 0, 3),
        (100, 0, 3),
    ],
)
def test_spo2_scale_2_bands(spo2: float, on_air: int, on_oxygen: int) -> None:
    air = score(spo2_pct=spo2, spo2_scale=2)
    assert air.parameters["spo2_pct"] == on_air
    assert air.score == on_air
    oxygen = score(spo2_pct=spo2, spo2_scale=2, on_supplemental_oxygen=True)
    assert oxygen.parameters["spo2_pct"] == on_oxygen
    assert oxygen.score == on_oxygen + 2


def test_air_or_oxygen() -> None:
    assert score().parameters["on_supplemental_oxygen"] == 0
    oxygen = score(on_supplemental_oxygen=True)
    assert oxygen.parameters["on_supplemental_oxygen"] == 2
    assert oxygen.score == 2
    assert oxygen.clinical_risk == "low"


@pytest.mark.parametrize(
    ("sbp", "points"),
    [(0, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (260, 3)],
)
def test_systolic_bp_bands(sbp: float, points: int) -> None:
    result = score(sbp_mmhg=sbp)
    assert result.parameters["sbp_mmhg"] == points
    assert result.score == points


@pytest.mark.parametrize(
    ("hr", "points"),
    [(0, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3), (220, 3)],
)
def test_pulse_bands(hr: float, points: int) -> None:
    result = score(hr_bpm=hr)
    assert result.parameters["hr_bpm"] == points
    assert result.score == points


@pytest.mark.parametrize(
    ("avpu", "points"),
    [("A", 0), ("a", 0), ("C", 3), ("c", 3), ("V", 3), ("v", 3), ("P", 3), ("p", 3), ("U", 3), ("u", 3)],
)
def test_consciousness(avpu: str, points: int) -> None:
    result = score(consciousness=avpu)
    assert result.parameters["consciousness"] == points
    assert result.score == points


@pytest.mark.parametrize(
    ("temp", "points"),
    [
        (30.0, 3),
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (42.0, 2),
        (37, 0),  # an int is fine
    ],
)
def test_temperature_bands(temp: float, points: int) -> None:
    result = score(temp_c=temp)
    assert result.parameters["temp_c"] == points
    assert result.score == points


# --- Rounding to the chart's precision, half up -------------------------------------------------


@pytest.mark.parametrize(
    ("temp", "points"),
    [
        (35.04, 3),  # -> 35.0
        (35.05, 1),  # -> 35.1; the double nearest 35.05 is just below it, still 35.1
        (36.04, 1),  # -> 36.0
        (36.05, 0),  # -> 36.1
        (38.04, 0),  # -> 38.0
        (38.05, 1),  # -> 38.1
        (39.04, 1),  # -> 39.0
        (39.05, 2),  # -> 39.1
        (36.049999, 1),  # -> 36.0
    ],
)
def test_temperature_rounds_half_up_to_a_tenth(temp: float, points: int) -> None:
    assert score(temp_c=temp).parameters["temp_c"] == points


@pytest.mark.parametrize(
    ("rr", "points"),
    [(8.49, 3), (8.5, 1), (11.49, 1), (11.5, 0), (20.49, 0), (20.5, 2), (24.49, 2), (24.5, 3)],
)
def test_respiration_rate_rounds_half_up(rr: float, points: int) -> None:
    assert score(rr_per_min=rr).parameters["rr_per_min"] == points


@pytest.mark.parametrize(
    ("spo2", "points"),
    [(91.49, 3), (91.5, 2), (93.49, 2), (93.5, 1), (95.49, 1), (95.5, 0)],
)
def test_spo2_scale_1_rounds_half_up(spo2: float, points: int) -> None:
    assert score(spo2_pct=spo2).parameters["spo2_pct"] == points


@pytest.mark.parametrize(
    ("spo2", "points"),
    [(83.49, 3), (83.5, 2), (87.49, 1), (87.5, 0), (92.49, 0), (92.5, 1), (96.49, 2), (96.5, 3)],
)
def test_spo2_scale_2_on_oxygen_rounds_half_up(spo2: float, points: int) -> None:
    assert score(spo2_pct=spo2, spo2_scale=2, on_supplemental_oxygen=True).parameters["spo2_pct"] == points


def test_spo2_just_under_100_rounds_to_100() -> None:
    assert score(spo2_pct=99.6).parameters["spo2_pct"] == 0


@pytest.mark.parametrize(
    ("sbp", "points"),
    [(90.49, 3), (90.5, 2), (100.5, 1), (110.49, 1), (110.5, 0), (219.49, 0), (219.5, 3)],
)
def test_systolic_bp_rounds_half_up(sbp: float, points: int) -> None:
    assert score(sbp_mmhg=sbp).parameters["sbp_mmhg"] == points


@pytest.mark.parametrize(
    ("hr", "points"),
    [(40.49, 3), (40.5, 1), (50.5, 0), (90.49, 0), (90.5, 1), (110.5, 2), (130.49, 2), (130.5, 3)],
)
def test_pulse_rounds_half_up(hr: float, points: int) -> None:
    assert score(hr_bpm=hr).parameters["hr_bpm"] == points


# --- Aggregate, clinical risk and the single-3 trigger ------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "total", "single_three", "risk"),
    [
        ({}, 0, False, "low"),
        # RR 22 (2) + SpO2 94 (1) + HR 95 (1) = 4, no 3
        ({"rr_per_min": 22, "spo2_pct": 94, "hr_bpm": 95}, 4, False, "low"),
        # V (3) = 3: a red score alone
        ({"consciousness": "V"}, 3, True, "low-medium"),
        # C (3) + HR 95 (1) = 4, a red score inside 0-4
        ({"consciousness": "C", "hr_bpm": 95}, 4, True, "low-medium"),
        # RR 22 (2) + SpO2 94 (1) + HR 95 (1) + temp 38.5 (1) = 5
        ({"rr_per_min": 22, "spo2_pct": 94, "hr_bpm": 95, "temp_c": 38.5}, 5, False, "medium"),
        # SBP 88 (3) + HR 112 (2) = 5: medium outranks the red score
        ({"sbp_mmhg": 88, "hr_bpm": 112}, 5, True, "medium"),
        # RR 22 (2) + SpO2 92 (2) + HR 95 (1) + temp 38.5 (1) = 6
        ({"rr_per_min": 22, "spo2_pct": 92, "hr_bpm": 95, "temp_c": 38.5}, 6, False, "medium"),
        # RR 22 (2) + SpO2 92 (2) + HR 115 (2) + temp 38.5 (1) = 7
        ({"rr_per_min": 22, "spo2_pct": 92, "hr_bpm": 115, "temp_c": 38.5}, 7, False, "high"),
        # oxygen (2) + SpO2 94 (1) + RR 22 (2) = 5: the oxygen points count
        ({"on_supplemental_oxygen": True, "spo2_pct": 94, "rr_per_min": 22}, 5, False, "medium"),
        # temp 39.1 (2) = 2: a 2 is not a red score
        ({"temp_c": 39.1}, 2, False, "low"),
    ],
)
def test_aggregate_and_clinical_risk(overrides: dict[str, Any], total: int, single_three: bool, risk: str) -> None:
    result = score(**overrides)
    assert result.score == total
    assert sum(p for p in result.parameters.values() if p is not None) == total
    assert result.any_single_three is single_three
    assert result.clinical_risk == risk
    assert result.clinical_risk in CLINICAL_RISKS


@pytest.mark.parametrize(
    "overrides",
    [
        {"rr_per_min": 8},
        {"rr_per_min": 25},
        {"spo2_pct": 91},
        {"spo2_pct": 97, "spo2_scale": 2, "on_supplemental_oxygen": True},
        {"sbp_mmhg": 90},
        {"sbp_mmhg": 220},
        {"hr_bpm": 40},
        {"hr_bpm": 131},
        {"consciousness": "P"},
        {"temp_c": 35.0},
    ],
)
def test_every_three_triggers_the_red_score(overrides: dict[str, Any]) -> None:
    result = score(**overrides)
    assert result.any_single_three is True
    assert result.clinical_risk in ("low-medium", "medium")


def test_result_shape() -> None:
    result = score()
    assert tuple(result.parameters) == PARAMETERS
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.score = 5  # type: ignore[misc]


# --- Missing parameters -------------------------------------------------------------------------


def test_one_missing_parameter() -> None:
    result = score(hr_bpm=None, rr_per_min=22)
    assert result.parameters["hr_bpm"] is None
    assert result.missing == ("hr_bpm",)
    assert result.score == 2
    assert result.clinical_risk == "low"


def test_missing_parameters_are_listed_in_chart_order() -> None:
    result = score(temp_c=None, consciousness=None, rr_per_min=None, spo2_pct=None)
    assert result.missing == ("rr_per_min", "spo2_pct", "consciousness", "temp_c")
    assert result.parameters["sbp_mmhg"] == 0
    assert result.parameters["hr_bpm"] == 0


def test_all_missing_leaves_only_air_or_oxygen() -> None:
    result = news2(
        rr_per_min=None,
        spo2_pct=None,
        sbp_mmhg=None,
        hr_bpm=None,
        temp_c=None,
        consciousness=None,
        on_supplemental_oxygen=True,
    )
    assert result.missing == ("rr_per_min", "spo2_pct", "sbp_mmhg", "hr_bpm", "consciousness", "temp_c")
    assert result.parameters["on_supplemental_oxygen"] == 2
    assert result.score == 2
    assert result.any_single_three is False
    assert result.clinical_risk == "low"


def test_missing_score_is_a_lower_bound_of_the_full_score() -> None:
    # SBP 88 (3) measured, HR not: partial score 3 (low-medium); HR 140 (3) would make it 6 (medium).
    partial = score(sbp_mmhg=88, hr_bpm=None)
    full = score(sbp_mmhg=88, hr_bpm=140)
    assert (partial.score, partial.clinical_risk, partial.any_single_three) == (3, "low-medium", True)
    assert (full.score, full.clinical_risk) == (6, "medium")
    assert partial.score <= full.score


# --- Invalid inputs -----------------------------------------------------------------------------

NUMERIC = ("rr_per_min", "spo2_pct", "sbp_mmhg", "hr_bpm", "temp_c")


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -1, -0.01])
def test_nan_infinite_or_negative_measurement_is_rejected(name: str, bad: float) -> None:
    with pytest.raises(ValueError, match=name):
        score(**{name: bad})


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("bad", ["16", True, b"16", [16]])
def test_non_number_measurement_is_a_type_error(name: str, bad: object) -> None:
    with pytest.raises(TypeError, match=name):
        score(**{name: bad})


def test_zero_is_a_valid_measurement() -> None:
    result = score(rr_per_min=0, hr_bpm=0)
    assert result.parameters["rr_per_min"] == 3
    assert result.parameters["hr_bpm"] == 3


@pytest.mark.parametrize("spo2", [100.5, 101, 150])
def test_spo2_above_100_is_rejected(spo2: float) -> None:
    with pytest.raises(ValueError, match="spo2_pct"):
        score(spo2_pct=spo2)


@pytest.mark.parametrize("value", ["X", "", " A", "Alert", "confused", "AV", "1"])
def test_unknown_consciousness_names_the_value(value: str) -> None:
    with pytest.raises(ValueError, match="consciousness") as excinfo:
        score(consciousness=value)
    assert repr(value) in str(excinfo.value)


def test_non_string_consciousness_is_rejected() -> None:
    with pytest.raises(ValueError, match="consciousness"):
        score(consciousness=0)


@pytest.mark.parametrize("scale", [0, 3, -1, True, 1.5, "1"])
def test_unknown_spo2_scale_is_rejected(scale: object) -> None:
    with pytest.raises(ValueError, match="spo2_scale"):
        score(spo2_scale=scale)


@pytest.mark.parametrize("oxygen", [1, 0, "yes", None])
def test_non_bool_oxygen_is_a_type_error(oxygen: object) -> None:
    with pytest.raises(TypeError, match="on_supplemental_oxygen"):
        score(on_supplemental_oxygen=oxygen)
