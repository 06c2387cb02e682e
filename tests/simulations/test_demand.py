"""Tests of ``simulations.demand``: call times, incident places, lengths of stay, walk-ins.

Statistical checks use fixed seeds and bounds of several standard deviations, so they are
deterministic and far from flaky."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.road_graph import network_from_graph
from dispatch.scenario import Centre, Prepared, Scenario, Station, approximate_index
from dispatch.speeds import SpeedProfile
from goldentime.settings import default_data_dir
from loaders.scenarios import load_scenario, prepare
from simulations.demand import (
    HOUR_S,
    HOURLY_PROFILE,
    LOS_MEDIAN_H,
    LOS_SIGMA,
    M_PER_DEG,
    PlaceSampler,
    call_times,
    length_of_stay_s,
    mean_length_of_stay_s,
    walkin_rate_per_h,
)

DATA_DIR = default_data_dir()
CENTRE = Centre("A0000001", "병원", 1, 35.15, 126.85)


def _rng(seed: int = 20240601) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- the hourly profile and call times -----------------------------------------------------------


def test_profile_shape() -> None:
    assert len(HOURLY_PROFILE) == 24
    assert math.fsum(HOURLY_PROFILE) / 24 == pytest.approx(1.0, rel=1e-12)
    assert all(v > 0 for v in HOURLY_PROFILE)
    night, morning = HOURLY_PROFILE[4:6], HOURLY_PROFILE[9:12]
    assert max(night) < 0.6 and min(morning) > 1.2
    assert min(HOURLY_PROFILE) in night and max(HOURLY_PROFILE) in HOURLY_PROFILE[9:13]
    assert HOURLY_PROFILE[23] < HOURLY_PROFILE[22] < HOURLY_PROFILE[18]


def test_call_count_matches_the_rate() -> None:
    days, per_day = 200.0, 40.0
    times = call_times(_rng(), days, per_day)
    expected = days * per_day
    assert abs(times.size - expected) < 5 * math.sqrt(expected)


def test_call_times_are_sorted_and_inside_the_horizon() -> None:
    days = 2.5
    times = call_times(_rng(), days, 100.0)
    assert np.all(np.diff(times) >= 0)
    assert times.min() >= 0 and times.max() < days * 86_400
    assert np.any(times > 2 * 86_400)  # the partial last day gets calls too


def test_hourly_shape_follows_the_profile() -> None:
    times = call_times(_rng(), 400.0, 48.0)
    by_hour = np.bincount((times // HOUR_S).astype(np.int64) % 24, minlength=24)
    expected = 400.0 * 48.0 / 24 * np.array(HOURLY_PROFILE)
    assert by_hour[4] < by_hour[10] and by_hour[5] < by_hour[10] and by_hour[3] < by_hour[11]
    assert np.all(np.abs(by_hour - expected) < 5 * np.sqrt(expected))


def test_a_custom_profile_is_scaled_to_mean_one() -> None:
    only_noon = [0.0] * 24
    only_noon[12] = 7.0
    times = call_times(_rng(), 100.0, 30.0, profile=only_noon)
    assert np.all((times // HOUR_S) % 24 == 12)
    assert abs(times.size - 3000) < 5 * math.sqrt(3000)


def test_surge_doubles_the_calls() -> None:
    normal = call_times(_rng(1), 100.0, 40.0).size
    surged = call_times(_rng(2), 100.0, 40.0, surge=2.0).size
    assert abs(surged - 8000) < 5 * math.sqrt(8000)
    assert surged / normal == pytest.approx(2.0, rel=0.1)


def test_call_times_are_reproducible() -> None:
    assert np.array_equal(call_times(_rng(5), 3.0, 40.0), call_times(_rng(5), 3.0, 40.0))


def test_no_calls_at_zero_rate() -> None:
    assert call_times(_rng(), 3.0, 0.0).size == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"days": 0.0}, "days"),
        ({"days": -1.0}, "days"),
        ({"days": math.inf}, "days"),
        ({"per_day": -1.0}, "per_day"),
        ({"per_day": math.nan}, "per_day"),
        ({"surge": 0.0}, "surge"),
        ({"profile": [1.0] * 23}, "profile"),
        ({"profile": [1.0] * 23 + [-1.0]}, "profile"),
        ({"profile": [0.0] * 24}, "profile"),
        ({"profile": [1.0] * 23 + [math.nan]}, "profile"),
    ],
)
def test_call_times_validation(kwargs: dict[str, Any], name: str) -> None:
    arguments: dict[str, Any] = {"days": 1.0, "per_day": 10.0, **kwargs}
    with pytest.raises(ValueError, match=name):
        call_times(_rng(), **arguments)


# --- places --------------------------------------------------------------------------------------


def _toy_network_prepared(tmp_path: Path) -> Prepared:
    graph: nx.MultiDiGraph[int] = nx.MultiDiGraph()
    coordinates = {1: (35.150, 126.850), 2: (35.152, 126.851), 3: (35.154, 126.853), 4: (35.151, 126.856)}
    for node, (lat, lon) in coordinates.items():
        graph.add_node(node, x=lon, y=lat)
    for u, v in [(1, 2), (2, 3), (3, 4), (4, 1)]:
        for a, b in [(u, v), (v, u)]:
            graph.add_edge(a, b, length=250.0, highway="residential", maxspeed="50")
    network = network_from_graph(graph, speeds=SpeedProfile(trust_maxspeed=False), name="toy")
    scenario = Scenario("toy", "toy", tmp_path, tmp_path / "toy.graphml", (CENTRE,), (Station("기지", 35.15, 126.85),))
    return Prepared(scenario, approximate_index(scenario), network, ())


def test_places_on_the_road_network_are_its_nodes(tmp_path: Path) -> None:
    prepared = _toy_network_prepared(tmp_path)
    assert prepared.network is not None
    sampler = PlaceSampler(prepared)
    assert sampler.exact
    nodes = set(zip(prepared.network.lat.tolist(), prepared.network.lon.tolist(), strict=True))
    rng = _rng()
    drawn = [sampler.draw(rng) for _ in range(400)]
    assert set(drawn) == nodes  # every node, and nothing else
    counts = [drawn.count(node) for node in nodes]
    assert min(counts) > 400 / len(nodes) / 2  # uniform, roughly


def _approximate(tmp_path: Path, stations: tuple[Station, ...]) -> Prepared:
    scenario = Scenario("toy", "toy", tmp_path, tmp_path / "absent.graphml", (CENTRE,), stations)
    return prepare(scenario, cache_dir=None)


def _metres(lat: float, lon: float, station: Station) -> tuple[float, float]:
    north = (lat - station.lat) * M_PER_DEG
    east = (lon - station.lon) * M_PER_DEG * math.cos(math.radians(station.lat))
    return north, east


def test_approximate_places_scatter_around_the_stations_by_ambulances(tmp_path: Path) -> None:
    busy, quiet, empty = Station("A", 35.10, 126.80, 3), Station("B", 35.20, 126.95, 1), Station("C", 35.3, 127.0, 0)
    sampler = PlaceSampler(_approximate(tmp_path, (busy, quiet, empty)), spread_m=1000.0)
    assert not sampler.exact
    rng = _rng()
    near_busy: list[tuple[float, float]] = []
    near_quiet: list[tuple[float, float]] = []
    for _ in range(4000):
        lat, lon = sampler.draw(rng)
        offsets = {s.name: _metres(lat, lon, s) for s in (busy, quiet, empty)}
        nearest = min(offsets, key=lambda name: math.hypot(*offsets[name]))
        assert nearest != "C"  # no ambulance there: no calls drawn there
        (near_busy if nearest == "A" else near_quiet).append(offsets[nearest])
    assert len(near_busy) / 4000 == pytest.approx(0.75, abs=0.03)
    north, east = np.array(near_busy).T
    assert abs(north.mean()) < 100 and abs(east.mean()) < 100
    assert north.std() == pytest.approx(1000.0, rel=0.1)
    assert east.std() == pytest.approx(1000.0, rel=0.1)  # metres, the cos(lat) correction applied


def test_approximate_places_on_gwangju(tmp_path: Path) -> None:
    # without its road graph, whether or not the data directory has it: the approximate mode
    scenario = dataclasses.replace(load_scenario("gwangju", DATA_DIR), road_graph=tmp_path / "absent.graphml")
    prepared = prepare(scenario, cache_dir=None)
    assert prepared.network is None
    sampler = PlaceSampler(prepared)
    rng = _rng()
    stations = prepared.scenario.stations
    for _ in range(200):
        lat, lon = sampler.draw(rng)
        nearest_m = min(math.hypot(*_metres(lat, lon, s)) for s in stations)
        assert nearest_m < 5 * 1500.0


def test_approximate_mode_needs_ambulances(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ambulances"):
        PlaceSampler(_approximate(tmp_path, (Station("A", 35.1, 126.8, 0),)))
    with pytest.raises(ValueError, match="spread_m"):
        PlaceSampler(_approximate(tmp_path, (Station("A", 35.1, 126.8),)), spread_m=-1.0)


def test_zero_spread_puts_calls_on_the_station(tmp_path: Path) -> None:
    station = Station("A", 35.1, 126.8)
    sampler = PlaceSampler(_approximate(tmp_path, (station,)), spread_m=0.0)
    assert sampler.draw(_rng()) == (station.lat, station.lon)


# --- length of stay and walk-ins -----------------------------------------------------------------


@pytest.mark.parametrize("ktas", [1, 2, 3, 4, 5])
def test_length_of_stay_median(ktas: int) -> None:
    rng = _rng(ktas)
    stays = np.array([length_of_stay_s(rng, ktas) for _ in range(4000)])
    assert np.all(stays > 0)
    assert np.median(stays) / HOUR_S == pytest.approx(LOS_MEDIAN_H[ktas], rel=0.05)
    assert np.std(np.log(stays)) == pytest.approx(LOS_SIGMA, rel=0.05)


def test_length_of_stay_overrides_and_validation() -> None:
    assert length_of_stay_s(_rng(), 3, medians_h={3: 2.0}, sigma=0.0) == 2.0 * HOUR_S
    with pytest.raises(ValueError, match="ktas"):
        length_of_stay_s(_rng(), 6)
    with pytest.raises(ValueError, match="sigma"):
        length_of_stay_s(_rng(), 3, sigma=-0.1)


def test_mean_length_of_stay() -> None:
    one_level = mean_length_of_stay_s([0, 0, 1, 0, 0])
    assert one_level == pytest.approx(LOS_MEDIAN_H[3] * HOUR_S * math.exp(LOS_SIGMA**2 / 2))
    half = mean_length_of_stay_s([1, 0, 0, 0, 1])  # shares are normalised
    assert half == pytest.approx((LOS_MEDIAN_H[1] + LOS_MEDIAN_H[5]) / 2 * HOUR_S * math.exp(LOS_SIGMA**2 / 2))
    rng = _rng()
    draws = [length_of_stay_s(rng, 3) for _ in range(20_000)]
    assert float(np.mean(draws)) == pytest.approx(one_level, rel=0.02)
    with pytest.raises(ValueError, match="ktas_mix"):
        mean_length_of_stay_s([1, 1, 1])
    with pytest.raises(ValueError, match="ktas_mix"):
        mean_length_of_stay_s([0, 0, 0, 0, 0])


@given(
    st.integers(0, 100),
    st.floats(0.0, 1.0),
    st.lists(st.floats(0.0, 10.0), min_size=5, max_size=5).filter(lambda mix: sum(mix) > 0.01),
)
def test_walkin_rate_obeys_littles_law(beds: int, occupancy: float, mix: list[float]) -> None:
    rate_h = walkin_rate_per_h(beds, occupancy, mix)
    # L = λW: arrivals per hour × mean stay in hours = busy beds
    assert rate_h * mean_length_of_stay_s(mix) / HOUR_S == pytest.approx(occupancy * beds, abs=1e-9)


def test_walkin_rate_example_and_validation() -> None:
    # 30 beds, 85 % busy, every walk-in KTAS 4: mean stay 2.5 h × exp(0.18) ≈ 2.99 h
    assert walkin_rate_per_h(30, 0.85, [0, 0, 0, 1, 0]) == pytest.approx(25.5 / (2.5 * math.exp(0.18)))
    assert walkin_rate_per_h(30, 0.85, np.array([0.0, 0, 0, 1, 0])) == walkin_rate_per_h(30, 0.85, [0, 0, 0, 1, 0])
    with pytest.raises(ValueError, match="occupancy"):
        walkin_rate_per_h(30, 1.5, [0, 0, 0, 1, 0])
    with pytest.raises(ValueError, match="beds"):
        walkin_rate_per_h(-1, 0.5, [0, 0, 0, 1, 0])
