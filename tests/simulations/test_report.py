"""The report folder: Markdown with the KPI, paired-comparison and goals tables, glossary, valid PNGs, and the same
bytes twice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulations import report
from simulations.kpis import METRICS, Interval
from simulations.records import CallRecord, CentreRecord, RunResult
from simulations.report import (
    centre_labels,
    format_difference,
    format_interval,
    needs_hangul,
    paired_order,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PAIRED = ("egen-greedy", "phone-around", "capable", "nearest", "custom")  # the paired tables' order
CENTRES = (
    CentreRecord("A0000001", "전남대학교병원", 1, 10, 12, 8.0, 30, 4),
    CentreRecord("B0000002", "광주기독병원", 2, 20, 5, 3.0, 10, 1),
)


def _call(call_id: int, ktas: int, minutes: float, *, retransfers: int = 0, full: int = 0) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        t_call_s=60.0 * call_id,
        ktas=ktas,
        needs=(),
        response_s=60.0 * minutes,
        transport_s=60.0 * (minutes + 5),
        definitive_s=60.0 * (2 * minutes + 10),
        first_hpid="A0000001",
        final_hpid="B0000002" if retransfers else "A0000001",
        retransfers=retransfers,
        full_arrivals=full,
        incapable_arrivals=0,
    )


def _run(policy: str, seed: int, *, refusals: bool, slower: float = 0.0) -> RunResult:
    """12 calls; response times 4 + i + seed (+ ``slower``) min: the 90th percentile is 13.9 + seed (+ slower)."""
    calls = tuple(
        _call(
            i,
            1 + i % 5,
            4.0 + i + seed + slower,
            retransfers=int(refusals and i % 3 == 0),
            full=int(refusals and i % 4 == 0),
        )
        for i in range(12)
    )
    return RunResult(policy, seed, 1.0, 1.0, calls, CENTRES)


def _results() -> list[RunResult]:
    return [_run(policy, seed, refusals=policy == "nearest") for policy in ("nearest", "goldentime") for seed in (1, 2)]


@pytest.fixture
def no_hangul_font(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plots must not depend on the fonts of the machine the tests run on."""
    monkeypatch.setattr(report, "hangul_font", lambda: None)


@pytest.mark.usefixtures("no_hangul_font")
def test_report_has_tables_goals_glossary_and_valid_plots(tmp_path: Path) -> None:
    out = tmp_path / "out" / "sim"
    path = write_report(out, _results(), title="Toy city", command="goldentime simulate --days=1", notes="APPROX")
    assert path == out / "report.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Toy city\n")
    assert "goldentime simulate --days=1" in text
    assert "APPROX" in text
    assert "| metric | nearest (2 seeds) | goldentime (2 seeds) |" in text
    for metric in METRICS:
        if metric != "peak_occupancy_pct_<hpid>":
            assert f"| `{metric}` |" in text, metric
    assert "| `peak_occupancy_pct_A0000001` (전남대학교병원) | 120 [120, 120] | 120 [120, 120] |" in text
    assert "| `retransfer_pct` | 33.3 [33.3, 33.3] | 0.0 [0.0, 0.0] |" in text  # one precision per row
    assert "- `nearest`: 2 seeds (1, 2)" in text
    assert "## Paired comparisons: `goldentime` against each other policy" in text
    assert "### `goldentime` against `nearest` (2 paired seeds)" in text
    assert "| metric | nearest | goldentime | paired difference [95 % CI] | verdict |" in text
    assert "| `retransfer_pct` | 33.3 | 0.0 | -33.3 [-33.3, -33.3] | win |" in text  # 4 of 12 refused, every seed
    assert "| `full_er_arrival_pct` | 25.0 | 0.0 | -25.0 [-25.0, -25.0] | win |" in text
    assert "| `response_p90_min` | 15.4 | 15.4 | +0.0 [+0.0, +0.0] | tie |" in text  # the same calls
    assert "| `peak_occupancy_pct_A0000001` |" not in text.split("## Paired")[1]  # headline metrics only
    assert "## Goals: `goldentime` against `egen-greedy` and `phone-around`" in text
    assert "Not judged: the goals need a run of `egen-greedy` or `phone-around` next to `goldentime`" in text
    assert "| goal |" not in text
    assert "## Glossary" in text and "| `peak_occupancy_pct_<hpid>` |" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 4
    for link in links:
        png = out / link
        assert not Path(link).is_absolute()
        assert png.suffix == ".png"
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert (out / "kpis.csv").read_text(encoding="utf-8").startswith("policy,seed,metric,value\n")


@pytest.mark.usefixtures("no_hangul_font")
def test_report_folder_is_byte_identical_for_equal_runs(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_report(tmp_path / name, _results(), title="t", command="c")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.usefixtures("no_hangul_font")
def test_one_policy_one_seed_and_nothing_to_measure(tmp_path: Path) -> None:
    empty = RunResult("capable", 7, 0.5, 2.0, (), CENTRES)
    text = write_report(tmp_path, [empty], title="quiet", command="c").read_text(encoding="utf-8")
    assert "| metric | capable (1 seed) |" in text
    assert "| `calls` | 0 |" in text
    assert "| `response_p50_min` | — |" in text
    assert "Not shown: `goldentime` did not run." in text
    assert "Not judged: `goldentime` did not run." in text
    assert "| goal |" not in text and "| verdict |" not in text
    assert "demand surge: ×2" in text
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert len(list(tmp_path.glob("*.png"))) == 4


@pytest.mark.usefixtures("no_hangul_font")
def test_paired_tables_per_policy_and_the_goal_table(tmp_path: Path) -> None:
    # goldentime is 0.5 min slower on every call: response p90 +0.5 on a baseline of 15.9 (seeds 1-3), +3.1 %;
    # transport median 14.5 + seed, so 16.5 against 17.0
    order = ("nearest", "capable", "goldentime", "custom", "phone-around", "egen-greedy")
    results = [
        _run(p, s, refusals=p == "nearest", slower=0.5 if p == "goldentime" else 0.0) for p in order for s in (1, 2, 3)
    ]
    text = write_report(tmp_path, results, title="t", command="c").read_text(encoding="utf-8")
    paired_part, goals_part = text.split("## Paired comparisons")[1].split("## Goals")
    headings = [f"### `goldentime` against `{p}` (3 paired seeds)" for p in PAIRED]
    positions = [paired_part.index(h) for h in headings]
    assert positions == sorted(positions)
    egen = paired_part.split(headings[0])[1].split("###")[0]
    assert "| `response_p90_min` | 15.9 | 16.4 | +0.50 [+0.50, +0.50] | **loss** |" in egen
    assert "| `transport_p50_min` | 16.5 | 17.0 | +0.50 [+0.50, +0.50] | **loss** |" in egen
    assert "| `retransfer_pct` | 0.00 | 0.00 | +0.00 [+0.00, +0.00] | tie |" in egen
    nearest = paired_part.split(headings[3])[1].split("###")[0]
    assert "| `retransfer_pct` | 33.3 | 0.0 | -33.3 [-33.3, -33.3] | win |" in nearest
    assert "Of the 6 judged goals (a goal against a baseline)" in goals_part
    assert "; it meets 2 of them." in goals_part  # the response goal against both baselines, nothing else
    assert "did not run: judged against" not in goals_part
    for baseline in ("egen-greedy", "phone-around"):
        assert (
            f"| response time, 90th percentile | `response_p90_min` | `{baseline}` | 15.9 | 16.4 | "
            "+0.50 [+0.50, +0.50] | CI upper bound ≤ +5 % of the baseline | met |"
        ) in goals_part
        for goal, metric in (
            ("golden-time share", "golden_time_share"),
            ("time to definitive care, KTAS 1-2", "definitive_care_min_ktas12"),
        ):
            row = next(
                line for line in goals_part.splitlines() if line.startswith(f"| {goal} | `{metric}` | `{baseline}` |")
            )
            assert "| **not met** (" in row  # slower, or not in the runs: never met
    egen_rows = goals_part.index("| `egen-greedy` |")
    assert egen_rows < goals_part.index("| `phone-around` |")


def test_goal_not_met_is_bold_with_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "hangul_font", lambda: None)
    # one minute slower: response p90 +1.0 on a baseline of (14.9 + 15.9) / 2 = 15.4, +6.5 %
    worse = [_run("egen-greedy", s, refusals=False) for s in (1, 2)]
    worse += [_run("goldentime", s, refusals=False, slower=1.0) for s in (1, 2)]
    text = write_report(tmp_path, worse, title="t", command="c").read_text(encoding="utf-8")
    assert (
        "| response time, 90th percentile | `response_p90_min` | `egen-greedy` | 15.4 | 16.4 | +1.0 [+1.0, +1.0] | "
        "CI upper bound ≤ +5 % of the baseline | **not met** (up to +6.5 % worse, limit +5 %) |"
    ) in text
    assert "`phone-around` did not run: judged against `egen-greedy` only." in text
    assert "Of the 3 judged goals (a goal against a baseline)" in text
    assert "; it meets 0 of them." in text


def test_only_the_candidate_has_no_paired_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "hangul_font", lambda: None)
    text = write_report(tmp_path, [_run("goldentime", 1, refusals=False)], title="t", command="c").read_text("utf-8")
    assert "Not shown: no other policy ran next to `goldentime`." in text
    assert "Not judged: the goals need a run of `egen-greedy` or `phone-around` next to `goldentime`" in text


def test_paired_order_and_difference_cells() -> None:
    ran = ["custom", "nearest", "goldentime", "phone-around", "other", "capable", "egen-greedy"]
    assert paired_order(ran) == ["egen-greedy", "phone-around", "capable", "nearest", "custom", "other"]
    assert paired_order(["goldentime"]) == []
    assert format_difference(Interval(-4.0, -6.4843, -1.5157, 3), 1) == "-4.0 [-6.5, -1.5]"
    # a small difference keeps two significant digits rather than printing +0.0 [+0.0, +0.0]
    assert format_difference(Interval(0.012, 0.004, 0.02, 5), 1) == "+0.012 [+0.004, +0.020]"
    assert format_difference(Interval(0.0, 0.0, 0.0, 3), 2) == "+0.00 [+0.00, +0.00]"
    assert format_difference(Interval(0.3, 0.3, 0.3, 1), 1) == "+0.30"
    assert format_difference(Interval(float("nan"), float("nan"), float("nan"), 0), 1) == "—"


def test_no_runs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no simulation runs"):
        write_report(tmp_path, [], title="t", command="c")


def test_interval_cells() -> None:
    assert format_interval("response_p90_min", Interval(12.345, 11.0, 13.7, 5)) == "12.3 [11.0, 13.7]"
    assert format_interval("retransfer_pct", Interval(0.5, 0.1234, 0.9, 3)) == "0.50 [0.12, 0.90]"
    assert format_interval("calls", Interval(1234.5, 1200.2, 1268.8, 3)) == "1234 [1200, 1269]"
    assert format_interval("transport_p50_min", Interval(9.0, 9.0, 9.0, 1)) == "9.00"
    assert format_interval("transport_p50_min", Interval(9.0, 8.0, 10.0, 2), places=1) == "9.0 [8.0, 10.0]"
    assert format_interval("transport_p50_min", Interval(float("nan"), float("nan"), float("nan"), 0)) == "—"


def test_centre_labels_fall_back_to_hpid_without_a_hangul_font() -> None:
    names = {"A1": "전남대학교병원", "B2": "Seoul Hospital"}
    assert needs_hangul("전남대") and not needs_hangul("Seoul Hospital")
    assert centre_labels(["A1", "B2"], names, has_hangul_font=False) == ["A1", "B2"]
    assert centre_labels(["A1", "B2"], names, has_hangul_font=True) == ["전남대학교병원", "Seoul Hospital"]
    assert centre_labels(["B2"], names, has_hangul_font=False) == ["Seoul Hospital"]


def test_hangul_font_lookup_never_fails() -> None:
    found = report.hangul_font()
    assert found is None or found.is_file()


def test_a_broken_hangul_font_falls_back_to_hpid_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.ttf"
    broken.write_text("not a font", encoding="utf-8")
    monkeypatch.setattr(report, "hangul_font", lambda: broken)
    write_report(tmp_path / "out", _results(), title="t", command="c")
    assert (tmp_path / "out" / "peak_occupancy.png").read_bytes()[:8] == PNG_MAGIC
