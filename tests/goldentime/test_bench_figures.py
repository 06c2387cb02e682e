"""The figures each benchmark returns for ``goldentime bench --json``: names, ratio direction and goals,
from small synthetic measurements; and one real (quick) severity run through the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from goldentime.bench import capacity, dispatch, mosquitto, recorder, report, roads, severity
from goldentime.bench.report import Figure
from goldentime.settings import default_data_dir
from tests.helpers import run_cli

EMBEDDED = "embedded (amqtt)"
MOSQUITTO = "mosquitto version 2.0.11 at mqtt://127.0.0.1:1883"
KEYS = {EMBEDDED: "embedded", MOSQUITTO: "mosquitto"}


def by_name(figures: list[Figure]) -> dict[str, Figure]:
    names = [f.name for f in figures]
    assert len(set(names)) == len(names), names
    return {f.name: f for f in figures}


def test_eta_ratio_is_how_many_times_faster_than_networkx() -> None:
    fast = roads.eta_figure("eta_query_p50_us.seoul.index", 4.0, 6000.0)
    assert (fast.value, fast.unit, fast.baseline, fast.ratio, fast.met) == (4.0, "µs", 6000.0, 1500.0, True)
    assert fast.goal is not None and "1,000" in fast.goal
    slow = roads.eta_figure("eta_query_p50_us.seoul.index_vs_digraph", 4.0, 3000.0)
    assert (slow.ratio, slow.met) == (750.0, False)


def test_eta_without_networkx_has_no_baseline_or_goal() -> None:
    alone = roads.eta_figure("eta_query_p50_us.grid.index", 5.0, None)
    assert alone == Figure("eta_query_p50_us.grid.index", 5.0, "µs")


def test_cached_network_load_is_in_ms_against_half_a_second() -> None:
    assert (roads.cached_load_figure(0.004).value, roads.cached_load_figure(0.004).met) == (4.0, True)
    assert roads.cached_load_figure(0.6).met is False


def test_severity_figures_put_assess_beside_batch_scoring() -> None:
    assess_us = np.concatenate([np.full(95, 900.0), np.full(5, 3000.0)])
    p50, p99, training = severity.figures(assess_us, batch_us=18.0, train_s=1.5)
    assert (p50.name, p50.value, p50.baseline, p50.ratio) == ("severity_assess_p50_us", 900.0, 18.0, 0.02)
    assert (p50.goal, p50.met) == (None, None)
    assert (p99.name, p99.value, p99.baseline, p99.ratio) == ("severity_assess_p99_us", 3000.0, 18.0, 0.006)
    assert (p99.goal, p99.met) == ("< 2,000 µs", False)
    assert (training.name, training.unit, training.goal, training.met) == ("severity_training_s", "s", "< 60 s", True)


def test_severity_p99_goal_met_below_two_ms() -> None:
    p99 = severity.figures(np.full(100, 1900.0), batch_us=20.0, train_s=61.0)[1]
    assert (p99.value, p99.met) == (1900.0, True)
    assert severity.figures(np.full(100, 1900.0), batch_us=20.0, train_s=61.0)[2].met is False


def test_plan_goal_only_on_the_p99_at_200_patients() -> None:
    found = by_name(dispatch.plan_figures([(1, 0.05, 0.07), (200, 5.0, 54.0)]))
    assert list(found) == [
        "plan_time_p50_ms.1_patients",
        "plan_time_p99_ms.1_patients",
        "plan_time_p50_ms.200_patients",
        "plan_time_p99_ms.200_patients",
    ]
    assert [f.goal for f in found.values()][:3] == [None, None, None]
    assert found["plan_time_p99_ms.200_patients"].goal == "< 100 ms at 200 patients"
    assert found["plan_time_p99_ms.200_patients"].met is True
    assert dispatch.plan_figures([(200, 5.0, 120.0)])[1].met is False


def run(responder: str, broker: str, units: int, p99_ms: float) -> dispatch.Run:
    return dispatch.Run(responder, broker, units, units * 3, p99_ms / 4, p99_ms, 0, 0.0, 0, 0, 0.0, 0, "",
                        (0.0, 0.0), 0.0)  # fmt: skip


def test_decision_latency_goal_only_on_mosquitto_with_1500_units() -> None:
    runs = [
        run("dispatcher", EMBEDDED, 1500, 77.8),
        run("dispatcher", MOSQUITTO, 38, 60.0),
        run("dispatcher", MOSQUITTO, 1500, 55.4),
        run("echo", MOSQUITTO, 1500, 44.2),
    ]
    found = by_name(dispatch.latency_figures(runs, KEYS))
    assert set(found) == {
        f"{what}_{q}_ms.{where}"
        for what, where in [
            ("decision_latency", "embedded.1500_units"),
            ("decision_latency", "mosquitto.38_units"),
            ("decision_latency", "mosquitto.1500_units"),
            ("echo_latency", "mosquitto.1500_units"),
        ]
        for q in ("p50", "p99")
    }
    national = found["decision_latency_p99_ms.mosquitto.1500_units"]
    assert (national.value, national.unit, national.met) == (55.4, "ms", False)
    assert national.goal == "p99 < 50 ms with 1,500 units on Mosquitto"
    others = [f for name, f in found.items() if name != national.name]
    assert all(f.goal is None and f.met is None and f.baseline is None for f in others)


def test_decision_latency_goal_met_below_50_ms() -> None:
    figures = dispatch.latency_figures([run("dispatcher", MOSQUITTO, 1500, 3.9)], KEYS)
    assert [f.met for f in figures] == [None, True]


def test_broker_keys_are_stable_and_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(mosquitto.LABELS, "mqtt://127.0.0.1:40001", "Mosquitto with deploy/mosquitto/mosquitto.conf")
    brokers = [
        ("mqtt://127.0.0.1:35001", EMBEDDED, "3.1.1"),
        ("mqtt://127.0.0.1:1883", MOSQUITTO, "5"),
        ("mqtt://10.0.0.2:1883", "mosquitto version 2.0.18 at mqtt://10.0.0.2:1883", "5"),
        ("mqtt://10.0.0.3:1883", "broker at mqtt://10.0.0.3:1883", "5"),
        ("mqtt://127.0.0.1:40001", "mosquitto version 2.0.11 at mqtt://127.0.0.1:40001", "5"),
    ]
    assert list(recorder.broker_keys(brokers).values()) == [
        "embedded",
        "mosquitto",
        "mosquitto_2",
        "broker",
        "mosquitto_shipped_conf",
    ]


def test_recorder_figures_leave_out_a_rate_that_was_never_lossless() -> None:
    lossless = recorder.Trial(1000, 1000, 2000, 2000, 998.0)
    lossy = recorder.Trial(1000, 1000, 2000, 1900, 950.0)
    results = [
        recorder.Result(EMBEDDED, "sqlite", (lossless, recorder.Trial(2000, 2000, 4000, 3990, 1900.0)), 0.8, 2.7, 400),
        recorder.Result(MOSQUITTO, "sqlite", (lossy,), 0.5, 0.9, 400),
    ]
    found = by_name(recorder.figures(results, KEYS))
    assert list(found) == [
        "recorder_stored_per_s.embedded.sqlite",
        "recorder_latency_p50_ms.embedded.sqlite",
        "recorder_latency_p99_ms.embedded.sqlite",
        "recorder_latency_p50_ms.mosquitto.sqlite",
        "recorder_latency_p99_ms.mosquitto.sqlite",
    ]
    stored = found["recorder_stored_per_s.embedded.sqlite"]
    assert (stored.value, stored.unit, stored.goal) == (998.0, "messages/s", None)
    assert found["recorder_latency_p99_ms.mosquitto.sqlite"].value == 0.9


def test_capacity_throughput_only_as_fast_as_answered_latency_under_each_load() -> None:
    rows = [
        capacity.Row(EMBEDDED, None, 4000, 0, 3999, 246.0, 245.0, 23.1, 87.2),
        capacity.Row(EMBEDDED, 20.0, 1000, 0, 1000, 20.0, 20.0, 4.5, 6.8),
    ]
    found = by_name(capacity.figures(rows, KEYS))
    assert list(found) == [
        "capacity_updates_per_s.embedded.http",
        "capacity_updates_per_s.embedded.end_to_end",
        "capacity_update_latency_p50_ms.embedded.max_load",
        "capacity_update_latency_p99_ms.embedded.max_load",
        "capacity_update_latency_p50_ms.embedded.steady_20_per_s",
        "capacity_update_latency_p99_ms.embedded.steady_20_per_s",
    ]
    assert [f.value for f in found.values()] == [246.0, 245.0, 23.1, 87.2, 4.5, 6.8]
    assert all(f.goal is None for f in found.values())


def test_bench_json_has_the_severity_figures(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOLDENTIME_DATA_DIR", str(default_data_dir()))
    monkeypatch.setenv("GOLDENTIME_VAR_DIR", str(tmp_path / "var"))
    report, out_json = tmp_path / "perf.md", tmp_path / "b.json"
    code, out, err = run_cli(
        capsys, "bench", "--only", "severity", "--quick", "--output", str(report), "--json", str(out_json)
    )
    assert code == 0, err
    figures = json.loads(out_json.read_text(encoding="utf-8"))["figures"]
    names = ["severity_assess_p50_us", "severity_assess_p99_us", "severity_training_s", "cpu_steal_pct.severity"]
    assert [f["name"] for f in figures] == names
    assert all(set(f) == {"name", "value", "unit", "baseline", "ratio", "goal", "met"} for f in figures)
    p99 = figures[1]
    assert p99["value"] > 0 and math.isclose(p99["ratio"], p99["baseline"] / p99["value"])
    assert p99["goal"] == "< 2,000 µs" and isinstance(p99["met"], bool)
    assert f"{p99['value']:,.0f} µs | < 2,000 µs: " in report.read_text(encoding="utf-8")
    assert "  severity_assess_p99_us: " in out
    assert "of its CPU time (steal) during the run._" in report.read_text(encoding="utf-8")
    assert 0 <= figures[-1]["value"] <= 100 and figures[-1]["unit"] == "%"


def test_cpu_ticks_reads_all_and_stolen_time_from_proc_stat() -> None:
    stat = "cpu  100 5 50 800 10 1 4 30 0 0\ncpu0 50 2 25 400 5 0 2 15 0 0\n"
    assert report.cpu_ticks(stat) == (1000, 30)
    assert report.cpu_ticks("") == (0, 0)  # no /proc/stat: nothing is claimed


def test_steal_share_is_stolen_over_all_ticks_since_the_benchmark_began(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter([(1000, 30), (1400, 230)])
    monkeypatch.setattr(report, "cpu_ticks", lambda: next(ticks))
    report.StealMeter.begin()
    assert report.StealMeter.share() == pytest.approx(0.5)
    monkeypatch.setattr(report, "cpu_ticks", lambda: (1000, 30))
    report.StealMeter.begin()
    assert report.StealMeter.share() is None  # no time passed: no share


def test_json_writes_null_for_a_latency_that_was_never_measured(tmp_path: Path) -> None:
    path = tmp_path / "figures.json"
    report.write_json(path, [report.Figure("decision_latency_p99_ms.x", float("nan"), "ms", goal="< 50 ms", met=False)])
    row = json.loads(path.read_text(encoding="utf-8"))["figures"][0]
    assert (
        row["value"] is None
        and row["met"] is False
        and set(row) == {"name", "value", "unit", "baseline", "ratio", "goal", "met"}
    )
