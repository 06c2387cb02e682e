"""The what-if page as a planner uses it: Korean by default, one click runs the simulator, bad input says why;
and its charts (dashboard/what_if_charts.py), drawn by the browser in the page's language with readable text.

Runs are one simulated day, one seed, on seoul-central (the scenario with a road graph, 40 calls a day): a
few seconds each. The settings point ``var`` at the test's own folder, so nothing lands in the checkout. The
charts' own tests are pure: made-up numbers in, the Vega-Lite spec out.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.what_if_charts import (
    CDF_POINTS,
    DISTRIBUTIONS,
    HEADLINE_METRICS,
    METRICS,
    OCCUPANCY_TITLE,
    POLICY_NAMES,
    cdf_chart,
    cdf_points,
    headline_chart,
    headline_charts,
    occupancy_chart,
    wrap,
)
from goldentime.settings import Settings
from goldentime.simulate import ALL_POLICIES, Outcome
from simulations.kpis import CENTRE_PREFIX, Interval, t_interval
from simulations.report import MAX_CENTRES_PLOTTED
from tests.goldentime.test_simulate import simulated_centres

PAGE = str(Path(__file__).resolve().parents[2] / "dashboard" / "pages" / "what_if.py")
RESULT = "what_if_result"  # the page's session key of the last run


@pytest.fixture(autouse=True)
def _own_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fresh settings for each test (they are cached for the process), with var in tmp_path."""
    monkeypatch.setenv("GOLDENTIME_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GOLDENTIME_SCENARIO", "seoul-central")
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def _page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def _run(at: AppTest) -> AppTest:
    at.button(key="what_if_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_the_page_speaks_korean_by_default_and_english_when_switched() -> None:
    at = _page()
    assert at.title[0].value == "가상 실험"
    assert at.button(key="what_if_run").label == "▶ 실행"
    assert at.selectbox(key="what_if_scenario").value == "seoul-central"
    assert at.slider(key="what_if_days").value == 1
    assert not at.warning  # seoul-central has its road graph
    assert at.multiselect(key="what_if_policies").value == list(ALL_POLICIES)
    at.sidebar.toggle(key="english").set_value(True).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "What-if"
    assert at.button(key="what_if_run").label == "▶ Run"
    assert at.slider(key="what_if_days").label == "Simulated days"


def test_run_shows_every_policy_s_kpis_its_charts_in_the_page_s_language_and_the_command_and_keeps_them(
    tmp_path: Path,
) -> None:
    at = _page()
    at.multiselect(key="what_if_close_seoul-central").set_value(["A1100017"]).run()
    at = _run(at)
    table = at.dataframe[0].value
    assert list(table.columns) == list(ALL_POLICIES)
    assert "119 출동 건수" in table.index
    assert not [label for label in table.index if "_" in label], "a metric is shown by its code name"
    assert not at.get("imgs"), "the report's English PNGs are not shown any more"
    command = at.code[0].value
    assert command.startswith("goldentime simulate --scenario=seoul-central --days=1 --seeds=1 --first-seed=1")
    (kpis,) = (tmp_path / "var" / "what-if").glob("*/kpis.csv")
    assert f"--close=A1100017 --out={kpis.parent}" in command
    written = {(r["policy"], r["metric"]): float(r["value"]) for r in csv.DictReader(kpis.open())}
    assert table.loc["119 출동 건수", "nearest"] == f"{written['nearest', 'calls']:.0f}"

    # the charts are drawn from the run's own numbers: the report's summary and every call of every policy
    outcome: Outcome = at.session_state[RESULT][0]
    assert outcome.policies == ALL_POLICIES
    for policy in ALL_POLICIES:
        calls = written[policy, "calls"]
        assert outcome.summary[(policy, "calls")] == Interval(calls, calls, calls, 1)
        assert len(outcome.response_min[policy]) == calls
        assert np.median(outcome.response_min[policy]) == pytest.approx(written[policy, "response_p50_min"], abs=1e-5)
        ktas12 = written[policy, "definitive_mean_min_ktas12"]
        assert np.mean(outcome.definitive_ktas12_min[policy]) == pytest.approx(ktas12, abs=1e-5)
    peaks = {m.removeprefix(CENTRE_PREFIX) for _, m in written if m.startswith(CENTRE_PREFIX) and m not in METRICS}
    assert set(outcome.centres) == peaks
    assert outcome.centres["A1100017"] == "서울대학교병원"

    korean = _chart_titles(at)
    assert korean == [METRICS[m][0] for m in HEADLINE_METRICS] + [
        DISTRIBUTIONS["response"].title[0],
        DISTRIBUTIONS["definitive"].title[0],
        OCCUPANCY_TITLE[0],
    ]
    at.sidebar.toggle(key="english").set_value(True).run()  # a rerun without a click: the result stays
    assert "119 calls served" in at.dataframe[0].value.index
    english = _chart_titles(at)
    assert english[: len(HEADLINE_METRICS)] == [METRICS[m][1] for m in HEADLINE_METRICS]
    assert english[-1] == OCCUPANCY_TITLE[1] and not any(_hangul(t) for t in english)


def _chart_titles(at: AppTest) -> list[str]:
    """The titles of the page's Vega-Lite charts, in page order, each read as one line."""
    return [_title(json.loads(chart.proto.spec)) for chart in at.get("vega_lite_chart")]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("what_if_policies", [], "비교할 정책을 하나 이상 고르세요."),
        ("what_if_close_seoul-central", simulated_centres("seoul-central"), "응급실을 하나 이상 열어 두세요."),
    ],
)
def test_bad_input_gets_an_error_and_no_run_button(key: str, value: list[str], message: str) -> None:
    at = _page()
    at.multiselect(key=key).set_value(value).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [message]
    assert at.button(key="what_if_run").disabled
    assert not at.dataframe


def test_a_scenario_without_roads_says_its_etas_are_approximate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for folder in Settings().data_dir.iterdir():
        if folder.name != "roads":
            (data / folder.name).symlink_to(folder)
    monkeypatch.setenv("GOLDENTIME_DATA_DIR", str(data))
    at = _page()
    at.sidebar.toggle(key="english").set_value(True).run()
    assert not at.exception, at.exception
    assert any("approximate ETAs" in w.value for w in at.warning)


def test_missing_data_gets_an_error_and_no_run_button(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOLDENTIME_DATA_DIR", str(tmp_path))
    at = _page()
    assert at.error[0].value.startswith("시나리오를 불러올 수 없습니다: ")
    assert "does not exist" in at.error[0].value
    assert not at.button


# --- the charts, pure: numbers in, Vega-Lite out ---------------------------------------------------------------

POLICIES = ("phone-around", "egen-greedy", "goldentime")
NAN = Interval(math.nan, math.nan, math.nan, 0)
CENTRES = {"A1": "서울대학교병원", "A2": "강북삼성병원", "A3": "국립중앙의료원"}


def _hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    return spec


def _title(spec: Mapping[str, Any]) -> str:
    """A chart's title as one line (a long one is broken into lines in the spec)."""
    text = spec["title"]["text"] if isinstance(spec["title"], dict) else spec["title"]
    return " ".join(text) if isinstance(text, list) else str(text)


def _walk(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) of a spec, at any depth."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from _walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)


def _rows(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of every dataset of a chart."""
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def _words(spec: Mapping[str, Any]) -> list[str]:
    """Every word a reader sees: the title, the axis, legend, channel and tooltip titles, and the data's text."""
    seen = [_title(spec)]
    seen += [v for k, v in _walk(spec["layer"]) if k == "title" and isinstance(v, str)]
    seen += [str(row[k]) for row in _rows(spec) for k in ("policy", "text", "interval", "centre") if k in row]
    return seen


def _tooltip_titles(spec: Mapping[str, Any]) -> list[str]:
    return [t["title"] for k, v in _walk(spec["layer"]) if k == "tooltip" and isinstance(v, list) for t in v]


def _summary(values: Mapping[tuple[str, str], list[float]]) -> dict[tuple[str, str], Interval]:
    """(policy, metric) -> the report's interval of these per-seed values (simulations.kpis.t_interval)."""
    return {key: t_interval(v) for key, v in values.items()}


def _all_charts(english: bool) -> list[alt.TopLevelMixin]:
    summary = _summary(
        {(p, m): [10.0 + i, 12.0 + i, 11.0] for i, p in enumerate(POLICIES) for m in HEADLINE_METRICS}
        | {(p, CENTRE_PREFIX + h): [80.0 + i, 90.0] for i, p in enumerate(POLICIES) for h in CENTRES}
    )
    samples = {p: [5.0 + i, 7.5, 9.0, 12.0] for i, p in enumerate(POLICIES)}
    return [
        *headline_charts(summary, POLICIES, english),
        cdf_chart(samples, POLICIES, "response", english),
        cdf_chart(samples, POLICIES, "definitive", english),
        occupancy_chart(summary, POLICIES, CENTRES, english),
    ]


@pytest.mark.parametrize("english", [False, True])
def test_every_word_of_the_charts_is_in_the_language_of_the_switch(english: bool) -> None:
    specs = [_spec(c) for c in _all_charts(english)]
    titles = [_title(s) for s in specs]
    language = 1 if english else 0
    assert titles == [METRICS[m][language] for m in HEADLINE_METRICS] + [
        DISTRIBUTIONS["response"].title[language],
        DISTRIBUTIONS["definitive"].title[language],
        OCCUPANCY_TITLE[language],
    ]
    for spec in specs:
        shown = [w for w in _words(spec) if w not in CENTRES.values() and not w.startswith("GoldenTime")]  # names
        tooltips = _tooltip_titles(spec)
        assert tooltips, _title(spec)
        if english:
            assert not [w for w in shown + tooltips if _hangul(w)], _title(spec)
        else:
            assert [w for w in shown + tooltips if not _hangul(w) and any(c.isalpha() for c in w)] == []


def test_the_cdfs_read_minutes_and_share_of_patients_in_korean_with_the_8_minute_line() -> None:
    samples = {p: [6.0, 7.0, 9.0] for p in POLICIES}
    response = _spec(cdf_chart(samples, POLICIES, "response"))
    axes = {k: v["title"] for k, v in response["layer"][0]["encoding"].items() if k in ("x", "y")}
    assert axes == {"x": "현장 도착까지 (분)", "y": "환자 비율"}
    assert {"minutes": 8.0, "text": "8분"} in _rows(response)
    line = response["layer"][0]["encoding"]  # two policies with the same times still show two lines
    assert line["strokeDash"]["scale"]["domain"] == line["color"]["scale"]["domain"]
    assert len({json.dumps(dash) for dash in line["strokeDash"]["scale"]["range"]}) == len(POLICIES)
    definitive = _spec(cdf_chart(samples, POLICIES, "definitive"))
    assert "119 신고부터 최종 치료까지 (분)" in [v for k, v in _walk(definitive["layer"]) if k == "title"]
    assert not [r for r in _rows(definitive) if r.get("minutes") == 8.0 and "text" in r]  # no 8-minute line there
    english = _spec(cdf_chart(samples, POLICIES, "response", english=True))
    assert {"minutes": 8.0, "text": "8 min"} in _rows(english)


def test_cdf_points_are_the_empirical_distribution_and_a_big_run_stays_light() -> None:
    assert cdf_points([9.0, 3.0, 6.0]) == [(3.0, 0.0), (3.0, 1 / 3), (6.0, 2 / 3), (9.0, 1.0)]
    assert cdf_points([]) == [] and cdf_points([math.nan]) == []
    values = np.random.default_rng(7).lognormal(2.0, 0.5, 20_000)
    points = cdf_points(values.tolist())
    assert len(points) <= CDF_POINTS + 1
    assert points[0] == (values.min(), 0.0) and points[-1] == (values.max(), 1.0)
    ordered = np.sort(values)
    for minutes, share in points[1:]:  # each step is the exact share at or under its minutes
        assert share == pytest.approx(np.searchsorted(ordered, minutes, side="right") / values.size, abs=1e-9)
    shares = [share for _, share in points]
    assert max(np.diff(shares)) <= 1 / (CDF_POINTS - 1) + 1e-4  # no step hides more than that share of patients


def test_every_text_is_big_enough_for_a_tablet_and_drawn_as_svg() -> None:
    for chart in _all_charts(english=False):
        spec = _spec(chart)
        assert spec["usermeta"] == {"embedOptions": {"renderer": "svg"}}  # text a browser (and a test) can read
        sizes = [(k, v) for k, v in _walk(spec) if k.lower().endswith("fontsize")]
        titles = [v for k, v in sizes if k == "titleFontSize"] + [spec["title"]["fontSize"]]
        labels = [v for k, v in sizes if k in ("labelFontSize", "fontSize")]
        assert titles and min(titles) >= 14, (_title(spec), sizes)
        assert labels and min(labels) >= 12, (_title(spec), sizes)
        assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}  # heights are the plots': never squeezed


def test_the_headline_charts_keep_their_width_and_break_long_titles() -> None:
    summary = _summary({(p, m): [1.0, 2.0] for p in POLICIES for m in HEADLINE_METRICS})
    for chart in headline_charts(summary, POLICIES, english=True):
        spec = _spec(chart)
        assert spec["width"] == 330 and spec["height"] >= 24 * len(POLICIES)
        assert all(isinstance(line, str) for line in spec["title"]["text"])
    assert wrap("To definitive care, KTAS 1–2, mean (min)", 200, 16) == ["To definitive care,", "KTAS 1–2, mean (min)"]
    assert wrap("재이송된 환자 (%)", 322, 16) == ["재이송된 환자 (%)"]


def test_every_policy_is_on_every_chart_by_its_short_name_even_without_a_value() -> None:
    policies = (*POLICIES, "mypackage.policies:Custom")
    summary = _summary({(p, "retransfer_pct"): [1.0, 2.0] for p in POLICIES})  # Custom has no value
    spec = _spec(headline_chart(summary, policies, "retransfer_pct"))
    names = [POLICY_NAMES[p][0] for p in POLICIES] + ["mypackage.policies:Custom"]
    assert spec["layer"][0]["encoding"]["y"]["sort"] == names
    assert [r["policy"] for r in _rows(spec)] == names
    assert [r["mean"] for r in _rows(spec)] == [1.5, 1.5, 1.5, None]  # no bar for Custom ...
    custom = _rows(spec)[-1]
    assert (custom["text"], custom["interval"], custom["label_at"]) == ("자료 없음", "자료 없음", 0.0)  # ... says so
    assert _rows(_spec(headline_chart(summary, policies, "retransfer_pct", english=True)))[-1]["text"] == "no data"


def test_a_missing_value_says_so_in_korean_on_every_chart() -> None:
    one_seed = {(p, "retransfer_pct"): Interval(2.0, 2.0, 2.0, 1) for p in POLICIES}
    rows = _rows(_spec(headline_chart(one_seed | {("goldentime", "retransfer_pct"): NAN}, POLICIES, "retransfer_pct")))
    assert [(r["text"], r["interval"]) for r in rows] == [
        ("2.00", "시드 1개: 구간 없음"),
        ("2.00", "시드 1개: 구간 없음"),
        ("자료 없음", "자료 없음"),
    ]
    assert [r["low"] for r in rows] == [None, None, None]  # one seed: no interval drawn
    nothing = _spec(headline_chart({}, POLICIES, "definitive_mean_min_ktas12"))
    assert {r["text"] for r in _rows(nothing)} == {"자료 없음"}

    samples = {"phone-around": [5.0, 6.0], "egen-greedy": [], "goldentime": [7.0]}
    spec = _spec(cdf_chart(samples, POLICIES, "definitive"))
    legend = spec["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert legend == ["전화 수배 (관행) (n=2)", "E-Gen 현황판 (관행) (자료 없음)", "GoldenTime (n=1)"]
    empty = _spec(cdf_chart({}, POLICIES, "definitive"))
    assert {"text": "자료 없음"} in _rows(empty)
    assert empty["layer"][0]["encoding"]["color"]["scale"]["domain"][0] == "전화 수배 (관행) (자료 없음)"

    summary = {("phone-around", CENTRE_PREFIX + "A1"): Interval(80.0, 70.0, 90.0, 2)}
    rows = _rows(_spec(occupancy_chart(summary, POLICIES, {"A1": "서울대학교병원"})))
    assert [(r["centre"], r["policy"], r["text"]) for r in rows if "centre" in r] == [
        ("서울대학교병원", "전화 수배 (관행)", "80.0"),
        ("서울대학교병원", "E-Gen 현황판 (관행)", "자료 없음"),
        ("서울대학교병원", "GoldenTime", "자료 없음"),
    ]


def test_the_occupancy_chart_names_centres_in_korean_busiest_first_and_says_when_it_shows_only_some() -> None:
    peaks = dict(zip(CENTRES, (70.0, 120.0, 95.0), strict=True))
    summary = _summary({(p, CENTRE_PREFIX + h): [v, v] for p in POLICIES for h, v in peaks.items()})
    spec = _spec(occupancy_chart(summary, POLICIES, CENTRES))
    assert spec["layer"][0]["encoding"]["y"]["sort"] == ["강북삼성병원", "국립중앙의료원", "서울대학교병원"]
    assert _title(spec) == OCCUPANCY_TITLE[0]
    assert {"peak": 100.0, "text": "모든 병상 사용"} in _rows(spec)
    many = {f"B{i:03d}": f"병원{i}" for i in range(MAX_CENTRES_PLOTTED + 5)}
    big = _summary({(p, CENTRE_PREFIX + h): [float(i)] for p in POLICIES for i, h in enumerate(many)})
    spec = _spec(occupancy_chart(big, POLICIES, many))
    assert len(spec["layer"][0]["encoding"]["y"]["sort"]) == MAX_CENTRES_PLOTTED
    assert spec["layer"][0]["encoding"]["y"]["sort"][0] == f"병원{MAX_CENTRES_PLOTTED + 4}"  # the busiest
    assert _title(spec).endswith(f"가장 붐빈 {MAX_CENTRES_PLOTTED}곳 / 전체 {MAX_CENTRES_PLOTTED + 5}곳")
