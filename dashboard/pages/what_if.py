"""What-if: a planner's question to the city simulator, from the browser instead of the command line.

Runs :func:`goldentime.simulate.run_what_if` — the same runs as ``goldentime simulate`` — into a folder of
its own under ``var/what-if``, then shows each policy's KPIs (mean over seeds), the report's four plots drawn by
the browser in the page's language (:mod:`dashboard.what_if_charts`; the report keeps its PNGs) and the command
that writes the same report again. The last result stays on screen until the next run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.common import Text, english, footer, page_header, settings, tr
from dashboard.what_if_charts import (
    HEADLINE_NOTE,
    NO_DATA,
    POLICIES,
    Kind,
    cdf_chart,
    headline_charts,
    metric_name,
    occupancy_chart,
)
from dispatch.scenario import SCENARIOS, Scenario, ScenarioError
from goldentime.simulate import ALL_POLICIES, Outcome, WhatIf, WhatIfError, run_what_if
from loaders.scenarios import default_scenario, has_road_graph, load_scenario, scenario_file
from simulations.config import load_sim_config
from simulations.kpis import metric_sort_key
from simulations.report import decimals

TITLE: Text = ("가상 실험", "What-if")
APPROXIMATE: Text = (
    "이 시나리오는 도로망이 없어 이동 시간이 추정치입니다 (직선거리 × 우회 계수).",
    "No road graph for this scenario: approximate ETAs (straight-line distance × detour factor).",
)
KPI_NOTE: Text = (
    "**정책별 지표** (시드 평균; 정의는 보고서의 용어집)",
    "**KPIs by policy** (mean over seeds; definitions in the report's glossary)",
)
RESULT = "what_if_result"  # session key of the last run: (outcome, centre names by hpid)


@st.cache_resource(show_spinner=False)
def _default_scenario(data_dir: Path) -> str:
    """The first complete scenario: loading them all on every rerun would slow each click."""
    return default_scenario(data_dir)


@st.cache_resource(show_spinner=False)
def _centres(name: str, data_dir: Path) -> tuple[Scenario, dict[str, str]]:
    """The scenario and the centres a what-if can close: those it simulates (hpid -> name)."""
    scenario = load_scenario(name, data_dir)
    excluded = load_sim_config(scenario_file(name)).exclude
    return scenario, {c.hpid: c.name for c in scenario.centres if c.hpid not in excluded}


#: The URL parameter naming the policies to compare first (comma-separated), so a link opens the same question.
POLICIES_PARAM = "policies"


def _question(name: str, centres: dict[str, str]) -> WhatIf | None:
    """The controls; None (with the reason on screen) when they do not make a question."""
    left, right = st.columns(2)
    days = left.slider(tr(("시뮬레이션 기간 (일)", "Simulated days")), 1, 7, 1, key="what_if_days")
    seeds = left.slider(tr(("시드 수 (반복 횟수)", "Seeds (repeats)")), 1, 5, 1, key="what_if_seeds")
    surge = left.slider(tr(("출동 요청 배수", "Call surge (× usual rate)")), 1.0, 3.0, 1.0, 0.1, key="what_if_surge")
    asked = [p for p in st.query_params.get(POLICIES_PARAM, "").split(",") if p in ALL_POLICIES]
    policies = right.multiselect(
        tr(("비교할 정책", "Policies to compare")),
        ALL_POLICIES,
        default=asked or ALL_POLICIES,  # a planner's link may name the policies: ?policies=egen-greedy,goldentime
        format_func=lambda p: f"{p} — {tr(POLICIES[p])}",
        key="what_if_policies",
    )
    close = right.multiselect(
        tr(("응급실 폐쇄", "ERs to close")),
        list(centres),
        format_func=lambda h: f"{centres[h]} ({h})",
        key=f"what_if_close_{name}",  # one widget per scenario: another's centres are not options
    )
    if not policies:
        st.error(tr(("비교할 정책을 하나 이상 고르세요.", "Choose at least one policy to compare.")))
        return None
    if len(close) == len(centres):
        st.error(tr(("응급실을 하나 이상 열어 두세요.", "Keep at least one ER open.")))
        return None
    return WhatIf(name, float(days), seeds, policies=tuple(policies), surge=surge, close=tuple(close))


def _run(what: WhatIf, centres: dict[str, str]) -> None:
    """Run into a new folder with a progress bar; keep the outcome in the session, or say what was wrong."""
    out = settings().var_dir / "what-if" / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    bar = st.progress(0.0, text=tr(("준비 중…", "Preparing…")))

    def progress(done: int, total: int, _label: str) -> None:
        bar.progress(done / total, text=tr(("시뮬레이션", "Simulation")) + f" {done}/{total}")

    try:
        outcome = run_what_if(settings(), replace(what, out=out), progress)
    except WhatIfError as exc:
        st.error(tr(("실행할 수 없습니다: ", "Cannot run: ")) + str(exc))
        return
    finally:
        bar.empty()
    st.session_state[RESULT] = (outcome, centres)


def _kpi_table(kpis: Path, centres: dict[str, str]) -> pd.DataFrame:
    """Metrics × policies, mean over seeds, written as the report writes them (one precision per row)."""
    rows = pd.read_csv(kpis)
    means = rows.groupby(["metric", "policy"], sort=False)["value"].mean().unstack("policy")
    means = means[list(rows["policy"].unique())].loc[sorted(means.index, key=metric_sort_key)]
    table = pd.DataFrame(
        [[_cell(v, decimals(m, row)) for v in row] for m, row in zip(means.index, means.to_numpy(), strict=True)],
        index=[metric_name(m, english(), centres) for m in means.index],
        columns=list(means.columns),
    )
    return table.rename_axis(tr(("지표", "Metric")))


def _cell(value: float, places: int) -> str:
    return tr(NO_DATA) if math.isnan(value) else f"{value:.{places}f}"


def _charts(outcome: Outcome) -> None:
    """The report's four plots, drawn here in the page's language: the headline KPIs side by side in a row that
    wraps on a narrow screen, then the two time distributions and the centres' peak occupancy, page-wide."""
    en, policies = english(), outcome.policies
    st.markdown(tr(HEADLINE_NOTE))
    with st.container(horizontal=True, gap="medium", key="what_if_headline"):
        for chart in headline_charts(outcome.summary, policies, en):
            st.altair_chart(chart, width="content")
    distributions: dict[Kind, Mapping[str, tuple[float, ...]]] = {
        "response": outcome.response_min,
        "definitive": outcome.definitive_ktas12_min,
    }
    for kind, samples in distributions.items():
        st.altair_chart(cdf_chart(samples, policies, kind, en), width="stretch")
    chart = occupancy_chart(outcome.summary, policies, outcome.centres, en)
    st.altair_chart(chart, width="stretch")


def _show(outcome: Outcome, centres: dict[str, str]) -> None:
    st.subheader(tr(("결과", "Results")))
    runs, seconds = outcome.runs, outcome.elapsed_s
    st.caption(tr((f"{runs}회 실행, {seconds:.1f}초", f"{runs} runs in {seconds:.1f} s")) + f" · {outcome.report}")
    st.markdown(tr(KPI_NOTE))
    st.dataframe(_kpi_table(outcome.kpis, centres), width="stretch")
    _charts(outcome)
    st.markdown(tr(("**같은 실험을 명령줄에서:**", "**The same run from the command line:**")))
    st.code(outcome.command, language="bash")


def page() -> None:
    data_dir = settings().data_dir
    default = settings().scenario or _default_scenario(data_dir)
    index = SCENARIOS.index(default) if default in SCENARIOS else 0
    name = st.selectbox(tr(("시나리오", "Scenario")), SCENARIOS, index=index, key="what_if_scenario")
    try:
        scenario, centres = _centres(name, data_dir)
    except ScenarioError as exc:
        st.error(tr(("시나리오를 불러올 수 없습니다: ", "Cannot load the scenario: ")) + str(exc))
        return
    if not has_road_graph(scenario):
        st.warning(tr(APPROXIMATE))
    what = _question(name, centres)
    run = st.button(tr(("▶ 실행", "▶ Run")), type="primary", disabled=what is None, key="what_if_run")
    if run and what is not None:
        _run(what, centres)


page_header(TITLE)
page()
if RESULT in st.session_state:
    _show(*st.session_state[RESULT])
footer()
