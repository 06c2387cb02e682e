"""The report folder: Markdown with the KPI and goals tables, glossary, valid PNGs, and the same bytes twice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulations import report
from simulations.kpis import METRICS, Interval
from simulations.records import CallRecord, CentreRecord, RunResult
from simulations.report import centre_labels, format_interval, needs_hangul, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
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


def _run(policy: str, seed: int, *, refusals: bool) -> RunResult:
    calls = tuple(
        _call(i, 1 + i % 5, 4.0 + i + seed, retransfers=int(refusals and i % 3 == 0), full=int(refusals and i % 4 == 0))
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
    assert "## Goals: `goldentime` against `nearest`" in text
    assert "| re-transfers | `retransfer_pct` |" in text
    assert "| -100.0 % | cut by ≥ 90 % | met |" in text
    assert "| median transport time | `transport_p50_min` |" in text
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
    assert "Not judged: the goals need runs of both `nearest` and `goldentime`." in text
    assert "| goal |" not in text
    assert "demand surge: ×2" in text
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert len(list(tmp_path.glob("*.png"))) == 4


def test_goal_not_met_is_bold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "hangul_font", lambda: None)
    worse = [_run("nearest", 1, refusals=False), _run("goldentime", 1, refusals=True)]
    text = write_report(tmp_path, worse, title="t", command="c").read_text(encoding="utf-8")
    assert "| re-transfers | `retransfer_pct` | 0.0 | 33.3 | +∞ % | cut by ≥ 90 % | **not met** |" in text


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
