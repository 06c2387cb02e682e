"""The simulation, throughput and memory benchmarks: counts and times turned into figures (ratio direction,
goals met or not), and one small real throughput run through the embedded broker."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from goldentime.bench import memory, report, simulation, throughput
from goldentime.settings import Settings
from telemetry.broker import EmbeddedBroker


def _step(offered: float, handled_rate: float, *, lost: int = 0, duplicates: int = 0) -> throughput.Step:
    """A step of 1,000 positions and 100 vitals offered at ``offered`` msgs/s and handled at ``handled_rate``
    (when nothing is lost)."""
    return throughput.Step(offered, offered, 1000, 100, (100 - lost + duplicates,), 1000, lost, duplicates,
                           1100 / handled_rate)  # fmt: skip


def _run(consumer: str, rate: float, *, key: str = "mosquitto", duplicates: int = 0) -> throughput.Run:
    """A run whose best step, with no vitals lost, was handled at ``rate`` msgs/s; a faster one lost a vitals."""
    steps = (_step(rate, rate), _step(2 * rate, 1.5 * rate, lost=1), _step(1.4 * rate, rate, duplicates=duplicates))
    return throughput.Run("broker", key, consumer, steps)


def _by_name(figures: list[report.Figure]) -> dict[str, report.Figure]:
    return {f.name: f for f in figures}


def test_the_dispatcher_is_compared_with_the_pair_as_a_rate_and_meets_the_goal_from_half() -> None:
    runs = [_run("pair", 10_000), _run("dispatcher", 6_000), _run("2_workers", 9_000)]
    found = _by_name(throughput.figures(runs, {"mosquitto"}))
    dispatcher = found["throughput_msgs_per_s.dispatcher.mosquitto"]
    assert dispatcher.value == pytest.approx(6_000)  # not the 9,000 of the step that lost a vitals
    assert dispatcher.baseline == pytest.approx(10_000)  # the pair with the same messages
    assert dispatcher.ratio == pytest.approx(0.6)  # value / baseline: a rate, higher is better
    assert dispatcher.met is True
    two = found["throughput_msgs_per_s.2_workers.mosquitto"]
    assert two.baseline == pytest.approx(6_000)
    assert two.ratio == pytest.approx(1.5)
    assert two.met is True
    assert found["throughput_msgs_per_s.pair.mosquitto"].baseline is None


def test_the_goal_is_not_met_below_half() -> None:
    slow = _by_name(throughput.figures([_run("pair", 10_000), _run("dispatcher", 4_000)], {"mosquitto"}))
    assert slow["throughput_msgs_per_s.dispatcher.mosquitto"].met is False


def test_the_goal_is_judged_on_mosquitto_only_and_two_workers_must_never_handle_a_vitals_twice() -> None:
    runs = [_run("pair", 3_000, key="embedded"), _run("dispatcher", 1_000, key="embedded"),
            _run("2_workers", 2_000, key="embedded", duplicates=1)]  # fmt: skip
    found = _by_name(throughput.figures(runs, {"mosquitto"}))
    embedded = found["throughput_msgs_per_s.dispatcher.embedded"]
    assert embedded.ratio == pytest.approx(1 / 3)
    assert (embedded.goal, embedded.met) == (None, None)
    assert found["throughput_msgs_per_s.2_workers.embedded"].met is False


def test_a_run_that_never_kept_a_vitals_has_no_rate_and_misses_the_goal() -> None:
    runs = [_run("pair", 10_000), throughput.Run("broker", "mosquitto", "dispatcher", (_step(1650, 900, lost=3),))]
    dispatcher = _by_name(throughput.figures(runs, {"mosquitto"}))["throughput_msgs_per_s.dispatcher.mosquitto"]
    assert (dispatcher.value, dispatcher.met) == (0.0, False)


def test_the_report_names_the_steps_and_says_when_the_goal_is_missed() -> None:
    never = throughput.Run("broker", "mosquitto", "dispatcher", (_step(1650, 900, lost=3),))
    runs = [_run("pair", 10_000), never]
    text = throughput._markdown(runs, throughput.figures(runs, {"mosquitto"}), (200, 470), 4.0, "cmd", (1, 1, 1),
                                "![throughput](performance_throughput.png)")  # fmt: skip
    row = next(line for line in text.splitlines() if "dispatcher, 1 worker" in line)
    assert "**not met**" in row and "1.6k ✗ (lost 3)" in row and "| — |" in row
    assert "10.0k ✓ · 20.0k ✗ (lost 1)" in text
    assert "\n![throughput](performance_throughput.png)\n" in text


def test_the_plot_of_the_steps_is_saved_beside_the_report(tmp_path: Path) -> None:
    runs = [_run("pair", 10_000), _run("dispatcher", 6_000), throughput.Run("other broker", "embedded", "pair",
            (_step(1650, 1650), _step(3300, 2000, lost=2)))]  # fmt: skip
    shown = report.save_plot(tmp_path / "perf.md", "throughput", throughput._plot(runs), (8.0, 3.6))
    assert shown == "![throughput](perf_throughput.png)"
    png = (tmp_path / "perf_throughput.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_a_lost_vitals_or_a_missing_position_is_not_counted_as_handled() -> None:
    step = throughput.Step(1000, 1000, 1000, 100, (99,), 900, 1, 0, 2.0)
    assert step.rate == pytest.approx((99 + 900) / 2.0)
    assert not step.lossless and not step.kept_up
    assert throughput.rate(10, 0.0) == 0.0


@pytest.mark.parametrize(("capacity", "first_steps"), [(5_000, [1_000, 2_000, 4_000, 8_000]), (300, [1_000, 500, 250])])
def test_the_ladder_doubles_or_halves_then_bisects_towards_what_the_consumer_keeps_up_with(
    capacity: float, first_steps: list[float]
) -> None:
    def attempt(offered: float) -> throughput.Step:
        return _step(offered, min(offered, capacity))

    steps = throughput.ladder(attempt, 1_000, 64_000, bisections=4)
    assert [s.offered for s in steps[: len(first_steps)]] == first_steps
    assert len(steps) == len(first_steps) + 4
    best = max(s.offered for s in steps if s.kept_up)
    worst = min(s.offered for s in steps if not s.kept_up)
    assert best <= capacity / throughput.KEEP_UP < worst
    assert worst / best == pytest.approx(2 ** (1 / 16))  # four bisections of a factor 2


def test_the_ladder_stops_at_its_limit() -> None:
    steps = throughput.ladder(lambda offered: _step(offered, offered), 1_000, 5_000, bisections=3)
    assert [s.offered for s in steps] == [1_000, 2_000, 4_000]


def test_exactly_once_finds_lost_and_twice_handled_vitals_across_consumers() -> None:
    sent = [throughput.digest(p) for p in (b"a", b"b", b"c")]
    assert throughput.exactly_once(sent, Counter([sent[0], sent[1], sent[1]])) == (1, 1)
    assert throughput.exactly_once(sent, Counter([*sent, throughput.digest(b"another step's")])) == (0, 0)


def test_a_tally_counts_only_its_runs_positions_and_vitals() -> None:
    tally = throughput.Tally("bt1")
    for topic in ("ems/units/bt1-0001/position", "ems/units/bt1-0001/vitals", "ems/units/bt1-0001/advice",
                  "ems/units/other-0001/position", "ems/hospitals/bt1/inbound"):  # fmt: skip
        tally.add(topic, b"{}")
    assert (tally.positions, tally.vitals, len(tally.digests)) == (1, 1, 1)
    assert tally.last > 0


def test_the_simulation_stages_add_up_and_the_goal_holds_for_the_week_only() -> None:
    marks = [("nearest seed 1", 13.0), ("capable seed 1", 20.0), ("goldentime seed 1", 30.0), ("done", 45.0)]
    timing = simulation.breakdown(10.0, marks, 46.0, elapsed_s=34.0)  # preparation: 36 - 34 = 2 s
    assert timing.preparation_s == pytest.approx(2.0)
    assert timing.draws_s == pytest.approx(1.0)
    assert timing.runs_s == (("nearest", 7.0), ("capable", 10.0), ("goldentime", 15.0))
    assert timing.report_s == pytest.approx(1.0)
    parts = timing.preparation_s + timing.draws_s + sum(s for _, s in timing.runs_s) + timing.report_s
    assert parts == pytest.approx(timing.total_s)
    week = simulation.figure(timing, 7.0)
    assert (week.name, week.value, week.goal, week.met) == ("simulation_s.7_days_3_policies", 36.0, "< 60 s", True)
    slow = simulation.breakdown(0.0, [(label, t * 2) for label, t in marks], 92.0, elapsed_s=70.0)
    assert simulation.figure(slow, 7.0).met is False
    day = simulation.figure(timing, 1.0)
    assert (day.name, day.goal, day.met) == ("simulation_s.1_days_3_policies", None, None)


def test_memory_figures_and_the_kernels_numbers() -> None:
    numbers = memory.status(os.getpid())
    assert 0 < numbers["VmRSS"] <= numbers["VmHWM"]
    m = memory.Memory("b", "s", 1.0, 300.0, 250.0, 280.0, 270.0, False, 10, 1, 1, 1)
    found = memory.figures(m)
    assert [(f.name, f.value, f.unit, f.goal, f.met) for f in found] == [
        ("worker_rss_mb.idle", 250.0, "MB", None, None),
        ("worker_rss_mb.national_load", 280.0, "MB", None, None),
    ]


@pytest.mark.integration
def test_a_small_real_run_loses_no_vitals(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'telemetry.sqlite3'}")  # var/: the road cache, the model
    drawn = throughput.fleet(settings)
    with EmbeddedBroker() as broker:
        runs = [throughput.run(consumer, broker.url, "3.1.1", ("embedded", "embedded"), settings, drawn, step_s=1.0,
                               bisections=0, start=330, limit=330, units=100)
                for consumer in ("pair", "dispatcher")]  # fmt: skip
    for run in runs:
        first = run.steps[0]
        assert (first.positions, first.vitals) == (300, 30)
        assert (first.lost, first.duplicates, first.handled) == (0, 0, (30,)), run
        assert run.rate > 0


def test_mosquitto_goals_are_judged_on_the_shipped_configuration_when_it_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    from goldentime.bench import mosquitto

    monkeypatch.setattr(mosquitto, "LABELS", {})
    assert mosquitto.judged("mosquitto version 2.0.11 at mqtt://127.0.0.1:1883")
    assert not mosquitto.judged("embedded (amqtt)")
    shipped = "Mosquitto with deploy/mosquitto/mosquitto.conf"
    monkeypatch.setattr(mosquitto, "LABELS", {"mqtt://admin:x@127.0.0.1:4000": shipped})
    assert mosquitto.judged(shipped)
    assert not mosquitto.judged("mosquitto version 2.0.11 at mqtt://127.0.0.1:1883")
