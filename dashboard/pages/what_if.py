"""What-if: a planner's question to the city simulator, from the browser instead of the command line.

Runs :func:`goldentime.simulate.run_what_if` — the same runs as ``goldentime simulate`` — into a folder of
its own under ``var/what-if``, then shows each policy's KPIs (mean over seeds), the report's plots and the
command that writes the same report again. The last result stays on screen until the next run.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.common import Text, footer, page_header, settings, tr
from dispatch.scenario import SCENARIOS, Scenario, ScenarioError
from goldentime.simulate import ALL_POLICIES, Outcome, WhatIf, WhatIfError, run_what_if
from loaders.scenarios import default_scenario, has_road_graph, load_scenario, scenario_file
from simulations.config import load_sim_config
from simulations.kpis import CENTRE_PREFIX, metric_sort_key
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
POLICIES: dict[str, Text] = {
    "phone-around": ("오늘의 관행: 현장에서 병원에 차례로 전화", "today's practice: phoning centres from the scene"),
    "egen-greedy": ("오늘의 관행: E-Gen 병상 현황판 보고 선택", "today's practice: choosing from the E-Gen board"),
    "nearest": ("가장 가까운 응급실", "the nearest ER"),
    "capable": ("가장 가까운 적정 센터", "the nearest capable centre"),
    "goldentime": ("GoldenTime 추천", "GoldenTime's advice"),
    "goldentime-handshake": (
        "GoldenTime 추천 + 병원 수용 요청·응답",
        "GoldenTime's advice with the centre's accept / decline",
    ),
}
PLOTS: tuple[tuple[str, Text], ...] = (
    ("kpis_headline.png", ("핵심 지표 (시드 평균, 95 % 신뢰구간)", "Headline KPIs (mean over seeds, 95 % CI)")),
    ("response_cdf.png", ("현장 도착 시간 분포", "Response time, call to on scene")),
    ("definitive_cdf_ktas12.png", ("최종 치료까지 시간 분포, KTAS 1–2", "Time to definitive care, KTAS 1–2")),
    ("peak_occupancy.png", ("센터별 최대 응급실 점유율", "Peak ER occupancy by centre")),
)
#: Names of the metrics of simulations/kpis.py (its glossary has the full definitions).
METRICS: dict[str, Text] = {
    "calls": ("119 출동 건수", "119 calls served"),
    "response_p50_min": ("현장 도착 시간 중앙값 (분)", "Response time, median (min)"),
    "response_p90_min": ("현장 도착 시간 90백분위 (분)", "Response time, 90th percentile (min)"),
    "response_within_8min_pct": ("8분 이내 현장 도착 (%)", "On scene within 8 min (%)"),
    "transport_p50_min": ("이송 시간 중앙값 (분)", "Transport time, median (min)"),
    "transport_p90_min": ("이송 시간 90백분위 (분)", "Transport time, 90th percentile (min)"),
    **{
        f"definitive_mean_min_ktas{k}": (
            f"최종 치료까지 평균, KTAS {k} (분)",
            f"To definitive care, KTAS {k}, mean (min)",
        )
        for k in range(1, 6)
    },
    "definitive_mean_min_ktas12": ("최종 치료까지 평균, KTAS 1–2 (분)", "To definitive care, KTAS 1–2, mean (min)"),
    "definitive_p50_min_ktas12": ("최종 치료까지 중앙값, KTAS 1–2 (분)", "To definitive care, KTAS 1–2, median (min)"),
    "definitive_p90_min_ktas12": ("최종 치료까지 90백분위, KTAS 1–2 (분)", "To definitive care, KTAS 1–2, p90 (min)"),
    "retransfer_pct": ("재이송된 환자 (%)", "Patients re-transferred (%)"),
    "retransfers_per_100_patients": ("환자 100명당 재이송 (건)", "Re-transfers per 100 patients"),
    "full_er_arrival_pct": ("만실 응급실에 도착한 환자 (%)", "Patients arriving at a full ER (%)"),
    "full_er_arrivals_per_100_patients": ("환자 100명당 만실 응급실 도착 (건)", "Full-ER arrivals per 100 patients"),
    "incapable_arrival_pct": ("치료 불가 센터에 도착한 환자 (%)", "Patients arriving where they cannot be treated (%)"),
    "forced_acceptance_pct": ("모든 센터 거절 후 수용 (%)", "Accepted only after every centre refused (%)"),
    "redirects_per_100_patients": ("이송 중 목적지 변경 (100명당)", "Turns on the way elsewhere (per 100 patients)"),
    "peak_occupancy_pct_max": ("최대 응급실 점유율, 가장 붐빈 센터 (%)", "Peak ER occupancy, busiest centre (%)"),
    "golden_time_share": ("골든타임 내 최종치료기관 도착 (%)", "At definitive care within the golden time (%)"),
    "stemi_golden_time_share": ("급성심근경색 2시간 내 도착 (%)", "STEMI within 2 h (%)"),
    "stroke_golden_time_share": ("뇌졸중 3시간 내 도착 (%)", "Stroke within 3 h (%)"),
    "major_trauma_golden_time_share": ("중증외상 1시간 내 도착 (%)", "Major trauma within 1 h (%)"),
    "definitive_care_min_ktas12": (
        "최종 치료까지, KTAS 1–2, 전원 포함 (분)",
        "To definitive care, KTAS 1–2, transfers in (min)",
    ),
    "definitive_care_min_stemi": ("최종 치료까지, 급성심근경색 (분)", "To definitive care, STEMI (min)"),
    "definitive_care_min_stroke": ("최종 치료까지, 뇌졸중 (분)", "To definitive care, stroke (min)"),
    "definitive_care_min_major_trauma": ("최종 치료까지, 중증외상 (분)", "To definitive care, major trauma (min)"),
    "scene_search_mean_min": ("현장에서 병원 찾는 시간, 평균 (분)", "Time at the scene finding a centre, mean (min)"),
    "scene_time_p50_min": ("현장 체류 시간, 중앙값 (분)", "Time at the scene, median (min)"),
    "unit_utilisation_pct": ("구급차 가동률 (%)", "Ambulance utilisation (%)"),
    "regional_ed_occupancy_pct": ("권역센터 응급실 점유율, 평균 (%)", "Regional centres' ER occupancy, mean (%)"),
    "phone_calls_per_patient": ("환자당 병원 전화 (건)", "Calls to centres per patient"),
    "requests_per_patient": ("환자당 수용 요청 (건)", "Transfer requests per patient"),
    "time_to_acceptance_min": (
        "출발 준비부터 병원 수용까지, 평균 (분)",
        "Ready to leave to a centre's yes, mean (min)",
    ),
    "time_to_acceptance_p90_min": (
        "출발 준비부터 병원 수용까지, 90백분위 (분)",
        "Ready to leave to a centre's yes, 90th percentile (min)",
    ),
    "refusals_per_100": ("환자 100명당 수용 거절 (건)", "Refusals per 100 patients"),
    "refusals_no_bed_per_100": ("환자 100명당 거절: 병상 없음 (건)", "Refusals, no bed, per 100 patients"),
    "refusals_no_specialist_per_100": (
        "환자 100명당 거절: 전문의 부재 (건)",
        "Refusals, no specialist, per 100 patients",
    ),
    "over_30min_pct": ("병원 선정·이송 30분 초과 (%)", "Finding a centre and getting there over 30 min (%)"),
    "secondary_transfer_pct": (
        "최종치료 불가 기관 수용 후 전원 (%)",
        "Taken without definitive care, then transferred (%)",
    ),
    "under_triage_pct": ("KTAS 1–2 환자 치료 불가 기관 이송 (%)", "KTAS 1–2 first taken where not treatable (%)"),
    "over_triage_pct": ("KTAS 4–5 환자 권역센터 병상 사용 (%)", "KTAS 4–5 patients in regional-centre beds (%)"),
    "coverage_8min_pct": ("8분 내 도달 가능 지역, 평균 (%)", "Area a free ambulance reaches in 8 min, mean (%)"),
    "coverage_8min_low_pct": ("8분 내 도달 가능 지역, 최저 (%)", "Area a free ambulance reaches in 8 min, lowest (%)"),
    "unadvised_pct": ("권고 없이 병원을 고른 환자 (%)", "Patients whose crew chose without advice (%)"),
    "safety_violation_pct": (
        "심정지·불안정 환자 최근접 응급실 미이송 (%)",
        "Arrest or unstable, not to the nearest ER first (%)",
    ),
    "ed_occupancy_cv": ("응급실 부하 편차 (변동계수)", "Spread of ER load across centres (CV)"),
}


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


def _question(name: str, centres: dict[str, str]) -> WhatIf | None:
    """The controls; None (with the reason on screen) when they do not make a question."""
    left, right = st.columns(2)
    days = left.slider(tr(("시뮬레이션 기간 (일)", "Simulated days")), 1, 7, 1, key="what_if_days")
    seeds = left.slider(tr(("시드 수 (반복 횟수)", "Seeds (repeats)")), 1, 5, 1, key="what_if_seeds")
    surge = left.slider(tr(("출동 요청 배수", "Call surge (× usual rate)")), 1.0, 3.0, 1.0, 0.1, key="what_if_surge")
    policies = right.multiselect(
        tr(("비교할 정책", "Policies to compare")),
        ALL_POLICIES,
        default=ALL_POLICIES,
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


def _metric_name(metric: str, centres: dict[str, str]) -> str:
    if metric in METRICS:
        return tr(METRICS[metric])
    hpid = metric.removeprefix(CENTRE_PREFIX)
    if hpid != metric:
        return tr(("최대 응급실 점유율 (%): ", "Peak ER occupancy (%): ")) + centres.get(hpid, hpid)
    return metric  # a metric newer than this page: its own name


def _kpi_table(kpis: Path, centres: dict[str, str]) -> pd.DataFrame:
    """Metrics × policies, mean over seeds, written as the report writes them (one precision per row)."""
    rows = pd.read_csv(kpis)
    means = rows.groupby(["metric", "policy"], sort=False)["value"].mean().unstack("policy")
    means = means[list(rows["policy"].unique())].loc[sorted(means.index, key=metric_sort_key)]
    table = pd.DataFrame(
        [[_cell(v, decimals(m, row)) for v in row] for m, row in zip(means.index, means.to_numpy(), strict=True)],
        index=[_metric_name(m, centres) for m in means.index],
        columns=list(means.columns),
    )
    return table.rename_axis(tr(("지표", "Metric")))


def _cell(value: float, places: int) -> str:
    return "—" if math.isnan(value) else f"{value:.{places}f}"


def _show(outcome: Outcome, centres: dict[str, str]) -> None:
    st.subheader(tr(("결과", "Results")))
    runs, seconds = outcome.runs, outcome.elapsed_s
    st.caption(tr((f"{runs}회 실행, {seconds:.1f}초", f"{runs} runs in {seconds:.1f} s")) + f" · {outcome.report}")
    st.markdown(tr(KPI_NOTE))
    st.dataframe(_kpi_table(outcome.kpis, centres), width="stretch")
    columns = st.columns(2)
    for i, (file, caption) in enumerate(PLOTS):
        if (outcome.report.parent / file).is_file():
            columns[i % 2].image(str(outcome.report.parent / file), caption=tr(caption))
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
