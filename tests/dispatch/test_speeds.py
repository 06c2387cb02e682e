"""Tests of ``dispatch.speeds``: maxspeed parsing, road classes and the ambulance speed profile."""

from __future__ import annotations

import math
from typing import Any

import pytest

from dispatch.speeds import EMERGENCY_FACTOR, KOREAN_DEFAULT_KMH, SpeedProfile, highway_class, parse_maxspeed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50.0),
        (" 50 ", 50.0),
        ("50 km/h", 50.0),
        ("60kmh", 60.0),
        ("30 mph", 30 * 1.609344),
        ("30 MPH", 30 * 1.609344),
        ("30mph", 30 * 1.609344),
        ("12.5", 12.5),
        (50, 50.0),
        (42.5, 42.5),
        (["50", "60"], 55.0),
        (("30", "KR:urban", "50"), 40.0),  # non-numeric members are skipped
        (["KR:urban", "70"], 70.0),
    ],
)
def test_parse_maxspeed_numbers(value: Any, expected: float) -> None:
    assert parse_maxspeed(value) == pytest.approx(expected, abs=1e-12)


def test_parse_maxspeed_mph_value() -> None:
    assert parse_maxspeed("30 mph") == pytest.approx(48.28032)


@pytest.mark.parametrize(
    "value",
    [
        "KR:urban",
        "KR:rural",
        "signals",
        "none",
        "walk",
        "nan",
        "",
        "0",
        "-50",
        "50;60",
        None,
        0,
        0.0,
        -30,
        math.nan,
        math.inf,
        [],
        ["none", "KR:urban"],
        [None, math.nan],
    ],
)
def test_parse_maxspeed_not_a_speed(value: Any) -> None:
    assert parse_maxspeed(value) is None


@pytest.mark.parametrize(
    ("highway", "expected"),
    [
        ("primary", "primary"),
        (["secondary_link", "secondary"], "secondary_link"),
        (("tertiary", "residential"), "tertiary"),
        ([], ""),
        (None, ""),
        ("", ""),
    ],
)
def test_highway_class(highway: Any, expected: str) -> None:
    assert highway_class(highway) == expected


def test_speed_uses_trusted_maxspeed_times_emergency_factor() -> None:
    profile = SpeedProfile(trust_maxspeed=True)
    assert profile.speed_kmh("primary", "70") == pytest.approx(70 * EMERGENCY_FACTOR["primary"])
    assert profile.speed_kmh("residential", "50") == pytest.approx(50.0)  # no factor on small streets
    assert profile.speed_kmh("secondary", ["50", "70"]) == pytest.approx(60 * EMERGENCY_FACTOR["secondary"])
    assert profile.speed_kmh("trunk", "30 mph") == pytest.approx(48.28032 * 1.15)


def test_speed_uses_class_default_when_maxspeed_missing_or_not_numeric() -> None:
    profile = SpeedProfile(trust_maxspeed=True)
    for maxspeed in (None, "KR:urban", "none", math.nan, 0):
        assert profile.speed_kmh("residential", maxspeed) == pytest.approx(30.0)
        assert profile.speed_kmh("primary", maxspeed) == pytest.approx(50.0 * 1.2)
        assert profile.speed_kmh("motorway", maxspeed) == pytest.approx(100.0 * 1.1)


def test_speed_ignores_maxspeed_when_not_trusted() -> None:
    profile = SpeedProfile(trust_maxspeed=False)
    assert profile.speed_kmh("residential", "50") == pytest.approx(30.0)
    assert profile.speed_kmh("primary", "90") == pytest.approx(60.0)
    assert profile.speed_kmh("living_street", "50") == pytest.approx(20.0)
    for road_class, default in KOREAN_DEFAULT_KMH.items():
        expected = default * EMERGENCY_FACTOR.get(road_class, 1.0)
        assert profile.speed_kmh(road_class, "90") == pytest.approx(expected), road_class


def test_speed_falls_back_for_unknown_or_missing_class() -> None:
    profile = SpeedProfile(trust_maxspeed=False, fallback_kmh=25.0)
    assert profile.speed_kmh("busway", None) == pytest.approx(25.0)
    assert profile.speed_kmh(None, None) == pytest.approx(25.0)
    assert profile.speed_kmh([], None) == pytest.approx(25.0)
    # a trusted maxspeed still wins on an unknown class (no emergency factor for it)
    assert SpeedProfile(trust_maxspeed=True).speed_kmh("busway", "40") == pytest.approx(40.0)


def test_speed_list_highway_takes_first_class() -> None:
    profile = SpeedProfile(trust_maxspeed=False)
    assert profile.speed_kmh(["secondary_link", "secondary"], "50") == pytest.approx(40.0 * 1.1)
    assert profile.speed_kmh(["residential", "primary"], None) == pytest.approx(30.0)


def test_profile_overrides() -> None:
    profile = SpeedProfile(default_kmh={"primary": 40.0}, emergency_factor={"primary": 1.5}, trust_maxspeed=False)
    assert profile.speed_kmh("primary", None) == pytest.approx(60.0)
    assert profile.speed_kmh("secondary", None) == pytest.approx(30.0)  # not in the table: fallback, no factor


def test_korean_defaults() -> None:
    assert KOREAN_DEFAULT_KMH["primary"] == 50.0
    assert KOREAN_DEFAULT_KMH["secondary"] == 50.0
    assert KOREAN_DEFAULT_KMH["residential"] == 30.0
    assert all(factor >= 1.0 for factor in EMERGENCY_FACTOR.values())
    with pytest.raises(TypeError):
        KOREAN_DEFAULT_KMH["primary"] = 80.0  # type: ignore[index]


@pytest.mark.parametrize("bad", [0.0, -10.0, math.nan, math.inf])
def test_profile_rejects_bad_values(bad: float) -> None:
    with pytest.raises(ValueError, match="default_kmh"):
        SpeedProfile(default_kmh={**KOREAN_DEFAULT_KMH, "primary": bad})
    with pytest.raises(ValueError, match="emergency_factor"):
        SpeedProfile(emergency_factor={"primary": bad})
    with pytest.raises(ValueError, match="fallback_kmh"):
        SpeedProfile(fallback_kmh=bad)


def test_key_is_stable() -> None:
    assert SpeedProfile().key() == SpeedProfile().key()
    assert SpeedProfile(trust_maxspeed=False).key() == SpeedProfile(trust_maxspeed=False).key()
    reordered = dict(reversed(list(KOREAN_DEFAULT_KMH.items())))
    assert SpeedProfile(default_kmh=reordered).key() == SpeedProfile().key()
    key = SpeedProfile().key()
    assert len(key) == 12
    assert all(c in "0123456789abcdef" for c in key)


@pytest.mark.parametrize(
    "changed",
    [
        SpeedProfile(trust_maxspeed=False),
        SpeedProfile(fallback_kmh=31.0),
        SpeedProfile(default_kmh={**KOREAN_DEFAULT_KMH, "residential": 25.0}),
        SpeedProfile(default_kmh={**KOREAN_DEFAULT_KMH, "busway": 30.0}),
        SpeedProfile(default_kmh={k: v for k, v in KOREAN_DEFAULT_KMH.items() if k != "service"}),
        SpeedProfile(emergency_factor={**EMERGENCY_FACTOR, "primary": 1.25}),
        SpeedProfile(emergency_factor={}),
    ],
)
def test_key_changes_with_any_value(changed: SpeedProfile) -> None:
    assert changed.key() != SpeedProfile().key()


def test_keys_of_all_variants_are_distinct() -> None:
    variants = [
        SpeedProfile(),
        SpeedProfile(trust_maxspeed=False),
        SpeedProfile(fallback_kmh=20.0),
        SpeedProfile(fallback_kmh=20.0, trust_maxspeed=False),
        SpeedProfile(emergency_factor={"primary": 1.0}),
        SpeedProfile(default_kmh={"primary": 50.0}),
    ]
    assert len({v.key() for v in variants}) == len(variants)
