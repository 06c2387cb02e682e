"""The what-if page's charts, drawn by the browser (Vega-Lite, through Altair) in the language of the page.

The simulator's report keeps its matplotlib PNGs for ``report.md``; the page draws the same four pictures itself
from the same numbers (:class:`goldentime.simulate.Outcome`): the headline KPIs per policy (mean over seeds with
the 95 % interval of ``simulations.kpis.summarise``, one small chart per metric so that a narrow screen wraps them
to rows instead of shrinking their text), the two time distributions (response, with the 8-minute line; KTAS 1-2
call to definitive care) and the peak ER occupancy of each centre.

Pure: numbers in, Altair charts out, no Streamlit. Every word a chart shows (titles, axes, legends, tooltips, the
"no data" of a value that could not be computed) is Korean unless ``english`` is asked for. Sizes are pixels of
the screen: text is never scaled with the chart, charts are drawn as SVG so that their text can be read back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import altair as alt
import numpy as np
import pandas as pd

from simulations.kpis import CENTRE_PREFIX, Interval
from simulations.report import COLOURS, HEADLINE, MAX_CENTRES_PLOTTED, decimals

Text = tuple[str, str]  # (Korean, English), as dashboard.common.Text
Kind = Literal["response", "definitive"]

#: Pixel sizes of the text (the page is read on a 10-inch tablet at arm's length).
TITLE_PX = 16
AXIS_TITLE_PX = 15
LABEL_PX = 13
#: Width of one headline chart (axes and labels included): 2 to a row on a landscape tablet, 4 on a wall screen.
HEADLINE_WIDTH = 330
#: Titles of the page-wide charts break into lines past this width (a portrait tablet's page).
WIDE_TITLE_PX = 640
#: Height of one policy's row in the bar charts.
ROW_PX = 26
#: Points of a time distribution per policy at most (a week of a city has thousands of calls; the steps drawn are at
#: most 1/CDF_POINTS of the patients apart from the exact distribution).
CDF_POINTS = 200
DASHES: tuple[list[int], ...] = ([1, 0], [8, 4], [2, 3], [12, 3, 2, 3], [4, 4], [1, 3])
SVG: dict[str, Any] = {"embedOptions": {"renderer": "svg"}}  # Streamlit passes it to vega-embed
#: The width is the whole chart's (axes, labels and legend included); the height is the plot's, the rest added.
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
#: A mark that only marks (a target line, its words): no tooltip, nothing for a screen reader to list.
DECORATION: dict[str, Any] = {"tooltip": None, "aria": False}

NO_DATA: Text = ("자료 없음", "no data")
POLICY: Text = ("정책", "Policy")
#: The policies of goldentime.simulate.ALL_POLICIES, in words (the page's choices).
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
#: The same, short enough to label a bar.
POLICY_NAMES: dict[str, Text] = {
    "phone-around": ("전화 수배 (관행)", "Phoning (today)"),
    "egen-greedy": ("E-Gen 현황판 (관행)", "E-Gen board (today)"),
    "nearest": ("최근접 응급실", "Nearest ER"),
    "capable": ("최근접 적정 센터", "Nearest capable"),
    "goldentime": ("GoldenTime", "GoldenTime"),
    "goldentime-handshake": ("GoldenTime+수용 요청", "GoldenTime+request"),
}
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
#: The report's headline metrics (simulations.report.HEADLINE), in its order.
HEADLINE_METRICS: tuple[str, ...] = tuple(metric for metric, _ in HEADLINE)
HEADLINE_NOTE: Text = (
    "**핵심 지표** (정책별 시드 평균; 가는 선: 95 % 신뢰구간)",
    "**Headline KPIs** (mean over seeds per policy; thin line: 95 % confidence interval)",
)
MEAN: Text = ("시드 평균", "Mean over seeds")
INTERVAL: Text = ("95 % 신뢰구간", "95 % confidence interval")
SEEDS: Text = ("시드 수", "Seeds")
ONE_SEED: Text = ("시드 1개: 구간 없음", "one seed: no interval")
SHARE: Text = ("환자 비율", "Share of patients")
CENTRE: Text = ("센터", "Centre")


@dataclass(frozen=True)
class Distribution:
    """The words of one time distribution's chart."""

    title: Text
    axis: Text  # the minutes' axis
    marker_min: float | None = None  # a vertical line at so many minutes (the 8 minutes of response)


DISTRIBUTIONS: dict[Kind, Distribution] = {
    "response": Distribution(
        ("현장 도착 시간 분포 (모든 시드)", "Response time, call to on scene (all seeds)"),
        ("현장 도착까지 (분)", "Call to on scene (min)"),
        marker_min=8.0,
    ),
    "definitive": Distribution(
        ("최종 치료까지 시간 분포, KTAS 1–2 (모든 시드)", "Time to definitive care, KTAS 1–2 (all seeds)"),
        ("119 신고부터 최종 치료까지 (분)", "Call to definitive care (min)"),
    ),
}
MARKER: Text = ("{minutes:g}분", "{minutes:g} min")
OCCUPANCY_TITLE: Text = ("센터별 최대 응급실 점유율 (시드 평균)", "Peak ER occupancy by centre (mean over seeds)")
OCCUPANCY_BUSIEST: Text = ("가장 붐빈 {shown}곳 / 전체 {total}곳", "busiest {shown} of {total}")
OCCUPANCY_AXIS: Text = ("최대 점유율 (응급실 병상 대비 %)", "Peak occupancy (% of ER beds)")
FULL: Text = ("모든 병상 사용", "every ER bed taken")


def words(text: Text, english: bool) -> str:
    return text[1] if english else text[0]


def policy_name(policy: str, english: bool) -> str:
    """The short name of a shipped policy; a policy of someone else's (``package.module:Class``) by its own name."""
    return words(POLICY_NAMES[policy], english) if policy in POLICY_NAMES else policy


def metric_name(metric: str, english: bool, centres: Mapping[str, str] | None = None) -> str:
    """The metric in words; a centre's peak occupancy with the centre's name; a metric newer than this module by
    its own name."""
    if metric in METRICS:
        return words(METRICS[metric], english)
    hpid = metric.removeprefix(CENTRE_PREFIX)
    if hpid != metric:
        name = (centres or {}).get(hpid, hpid)
        return words(("최대 응급실 점유율 (%): ", "Peak ER occupancy (%): "), english) + name
    return metric


def _finite(value: float) -> float | None:
    """The value for the chart's data; None (JSON null: no bar, no point) when there is none."""
    return value if math.isfinite(value) else None


def _number(value: float, places: int, english: bool) -> str:
    return f"{value:.{places}f}" if math.isfinite(value) else words(NO_DATA, english)


def _interval_text(interval: Interval, places: int, english: bool) -> str:
    if interval.n == 0 or not math.isfinite(interval.mean):
        return words(NO_DATA, english)
    if interval.n == 1:
        return words(ONE_SEED, english)
    return f"[{interval.low:.{places}f}, {interval.high:.{places}f}]"


def _text_px(text: str, font_px: float) -> float:
    """About how wide ``text`` is drawn: Hangul and other CJK a full em, the rest (Latin, digits) about half."""
    return sum(font_px if ord(ch) >= 0x1100 else 0.58 * font_px for ch in text)


def wrap(text: str, width_px: float, font_px: float = TITLE_PX) -> list[str]:
    """``text`` in lines of at most ``width_px`` (estimated), broken at spaces; a word longer than a line stays
    whole on its own line."""
    lines: list[str] = []
    for word in text.split():
        if lines and _text_px(f"{lines[-1]} {word}", font_px) <= width_px:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def _title(text: str, width_px: float) -> alt.TitleParams:
    return alt.TitleParams(wrap(text, width_px - 8), fontSize=TITLE_PX, anchor="start", limit=width_px)


def _colours(policies: Sequence[str]) -> list[str]:
    """The report's colour of each policy (its place in the run), so the PNGs and the page agree."""
    return [COLOURS[i % len(COLOURS)] for i in range(len(policies))]


def _dashes(policies: Sequence[str]) -> list[list[int]]:
    """A line pattern per policy besides its colour: two policies with the same times still show both lines, and a
    reader who cannot tell the colours apart can tell the lines."""
    return [DASHES[i % len(DASHES)] for i in range(len(policies))]


def _configured(chart: alt.LayerChart) -> alt.LayerChart:
    """Readable sizes on every text, and the SVG renderer (text a test, or a screen reader, can read back)."""
    configured: alt.LayerChart = (
        chart.properties(usermeta=SVG, autosize=FIT_WIDTH)
        .configure_axis(labelFontSize=LABEL_PX, titleFontSize=AXIS_TITLE_PX, labelLimit=240)
        .configure_legend(
            labelFontSize=LABEL_PX, titleFontSize=AXIS_TITLE_PX, labelLimit=400, orient="bottom", columns=2
        )
        .configure_title(fontSize=TITLE_PX, offset=10)
    )
    return configured


# --- (1) headline KPIs ------------------------------------------------------------------------------------------


def headline_charts(
    summary: Mapping[tuple[str, str], Interval], policies: Sequence[str], english: bool = False
) -> list[alt.LayerChart]:
    """One small chart per headline metric (:data:`HEADLINE_METRICS`), each of a fixed width: laid side by side in
    a wrapping row, a narrow screen puts fewer on a row and keeps their text at its size."""
    return [headline_chart(summary, policies, metric, english) for metric in HEADLINE_METRICS]


def headline_rows(
    summary: Mapping[tuple[str, str], Interval], policies: Sequence[str], metric: str, english: bool = False
) -> list[dict[str, Any]]:
    """A row per policy: the mean over seeds and its interval (None when there is no value), and their words."""
    missing = Interval(math.nan, math.nan, math.nan, 0)
    intervals = [summary.get((p, metric), missing) for p in policies]
    places = decimals(metric, [i.mean for i in intervals])
    rows = []
    for policy, interval in zip(policies, intervals, strict=True):
        mean = _finite(interval.mean)
        shown = interval.n > 1 and mean is not None
        rows.append(
            {
                "policy": policy_name(policy, english),
                "mean": mean,
                "low": _finite(interval.low) if shown else None,
                "high": _finite(interval.high) if shown else None,
                # where the value's words go: after the bar and its interval, or at 0 when there is no bar
                "label_at": max(v for v in (interval.mean, interval.high, 0.0) if math.isfinite(v)),
                "text": _number(interval.mean, places, english),
                "interval": _interval_text(interval, places, english),
                "seeds": interval.n,
            }
        )
    return rows


def headline_chart(
    summary: Mapping[tuple[str, str], Interval], policies: Sequence[str], metric: str, english: bool = False
) -> alt.LayerChart:
    """Horizontal bars, one per policy (short names on the axis), the 95 % interval as a thin line across each bar's
    end and the mean written after it; a policy without a value has no bar and says so (자료 없음)."""
    rows = headline_rows(summary, policies, metric, english)
    names = [r["policy"] for r in rows]
    lows = [v for r in rows for v in (r["low"], r["mean"]) if v is not None]
    highs = [v for r in rows for v in (r["high"], r["mean"]) if v is not None]
    top = max(highs, default=0.0)
    domain = [min([0.0, *lows]), top * 1.35 if top > 0 else 1.0]  # room after the longest bar for its number
    tooltip = [
        alt.Tooltip("policy:N", title=words(POLICY, english)),
        alt.Tooltip("text:N", title=words(MEAN, english)),
        alt.Tooltip("interval:N", title=words(INTERVAL, english)),
        alt.Tooltip("seeds:Q", title=words(SEEDS, english)),
    ]
    policy_title, mean_title = words(POLICY, english), words(MEAN, english)  # also the bars' aria labels
    y = alt.Y("policy:N", sort=names, title=policy_title, axis=alt.Axis(title=None, labelLimit=200, labelOverlap=False))
    x = alt.X(
        "mean:Q",
        title=mean_title,
        scale=alt.Scale(domain=domain, nice=False),
        axis=alt.Axis(title=None, tickCount=4),
    )
    colour = alt.Color(
        "policy:N", title=policy_title, scale=alt.Scale(domain=names, range=_colours(policies)), legend=None
    )
    base = alt.Chart(pd.DataFrame(rows)).encode(y=y)
    bars = base.mark_bar().encode(x=x, color=colour, tooltip=tooltip)
    interval = base.mark_rule(strokeWidth=2, color="#222", aria=False).encode(x="low:Q", x2="high:Q", tooltip=tooltip)
    value = base.mark_text(align="left", dx=5, fontSize=LABEL_PX, color="#222", aria=False).encode(
        x="label_at:Q", text="text:N", tooltip=tooltip
    )
    title = metric_name(metric, english)
    chart = alt.LayerChart(
        layer=[bars, interval, value],
        title=_title(title, HEADLINE_WIDTH),
        width=HEADLINE_WIDTH,
        height=ROW_PX * max(len(policies), 1),
    )
    return _configured(chart)


# --- (2) time distributions -------------------------------------------------------------------------------------


def cdf_points(values: Sequence[float], points: int = CDF_POINTS) -> list[tuple[float, float]]:
    """The empirical distribution as (minutes, share of patients at or under it) steps, starting at (first, 0) and
    ending at (last, 1); at most ``points`` + 1 steps, evenly spaced in share, so a week of a city stays light."""
    ordered = np.sort(np.asarray([v for v in values if math.isfinite(v)], dtype=float))
    n = int(ordered.size)
    if n == 0:
        return []
    picked = np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(int))
    return [(float(ordered[0]), 0.0)] + [(float(ordered[i]), (i + 1) / n) for i in picked]


def _legend_label(policy: str, count: int, english: bool) -> str:
    name = policy_name(policy, english)
    return f"{name} (n={count})" if count else f"{name} ({words(NO_DATA, english)})"


def cdf_chart(
    samples: Mapping[str, Sequence[float]], policies: Sequence[str], kind: Kind, english: bool = False
) -> alt.LayerChart:
    """The share of patients (y) reached within so many minutes (x), a line per policy, every policy in the legend
    with its number of patients (자료 없음 for none); the response chart has its 8-minute line."""
    words_of = DISTRIBUTIONS[kind]
    labels = [_legend_label(p, len([v for v in samples.get(p, ()) if math.isfinite(v)]), english) for p in policies]
    rows = [
        {"policy": label, "minutes": minutes, "share": share}
        for policy, label in zip(policies, labels, strict=True)
        for minutes, share in cdf_points(samples.get(policy, ()))
    ]
    minute_title = words(words_of.axis, english)
    share_title = words(SHARE, english)
    tooltip = [
        alt.Tooltip("policy:N", title=words(POLICY, english)),
        alt.Tooltip("minutes:Q", title=minute_title, format=".1f"),
        alt.Tooltip("share:Q", title=share_title, format=".0%"),
    ]
    x = alt.X("minutes:Q", title=minute_title, scale=alt.Scale(zero=False))
    y = alt.Y("share:Q", title=share_title, scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"))
    colour = alt.Color(
        "policy:N",
        title=words(POLICY, english),
        scale=alt.Scale(domain=labels, range=_colours(policies)),
        legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=3, symbolSize=400),
    )
    dashes = alt.StrokeDash(
        "policy:N", title=words(POLICY, english), scale=alt.Scale(domain=labels, range=_dashes(policies))
    )
    base = alt.Chart(pd.DataFrame(rows)).encode(x=x, y=y, color=colour)
    layers: list[alt.Chart] = [
        base.mark_line(interpolate="step-after", strokeWidth=2.5).encode(strokeDash=dashes, tooltip=tooltip),
        base.mark_point(size=60, opacity=0, filled=True, aria=False).encode(tooltip=tooltip),  # hover on a line
    ]
    if words_of.marker_min is not None:
        marker = words(MARKER, english).format(minutes=words_of.marker_min)
        mark = alt.Chart(pd.DataFrame([{"minutes": words_of.marker_min, "text": marker}]))
        layers += [
            mark.mark_rule(**DECORATION, strokeDash=[6, 4], color="#555", strokeWidth=1.5).encode(x="minutes:Q"),
            mark.mark_text(**DECORATION, align="left", dx=5, dy=-6, y=0, fontSize=LABEL_PX, color="#333").encode(
                x="minutes:Q", text="text:N"
            ),
        ]
    if not rows:
        layers.append(_no_data(english))
    chart = alt.LayerChart(layer=layers, title=_title(words(words_of.title, english), WIDE_TITLE_PX), height=300)
    return _configured(chart)


def _no_data(english: bool) -> alt.Chart:
    """자료 없음 in the middle of an empty chart."""
    note = alt.Chart(pd.DataFrame([{"text": words(NO_DATA, english)}]))
    chart: alt.Chart = note.mark_text(**DECORATION, fontSize=AXIS_TITLE_PX, color="#666").encode(
        text="text:N", x=alt.value(150), y=alt.value(150)
    )
    return chart


# --- (3) peak occupancy by centre -------------------------------------------------------------------------------


def busiest(summary: Mapping[tuple[str, str], Interval], policies: Sequence[str], hpids: Sequence[str]) -> list[str]:
    """Busiest centres first (highest mean peak over the policies), at most the report's
    :data:`~simulations.report.MAX_CENTRES_PLOTTED`, as the report's plot orders them."""

    def peak(hpid: str) -> float:
        means = [summary[(p, CENTRE_PREFIX + hpid)].mean for p in policies if (p, CENTRE_PREFIX + hpid) in summary]
        finite = [m for m in means if math.isfinite(m)]
        return max(finite) if finite else -math.inf

    return sorted(hpids, key=lambda h: (-peak(h), h))[:MAX_CENTRES_PLOTTED]


def occupancy_chart(
    summary: Mapping[tuple[str, str], Interval],
    policies: Sequence[str],
    centres: Mapping[str, str],
    english: bool = False,
) -> alt.LayerChart:
    """Grouped horizontal bars: per centre (its Korean name), a bar per policy; the 100 % line is every ER bed
    taken; a centre without a value for a policy says 자료 없음 there."""
    hpids = busiest(summary, policies, list(centres))
    names = [policy_name(p, english) for p in policies]
    missing = Interval(math.nan, math.nan, math.nan, 0)
    rows: list[dict[str, Any]] = []
    for hpid in hpids:
        intervals = [summary.get((p, CENTRE_PREFIX + hpid), missing) for p in policies]
        places = decimals("", [i.mean for i in intervals])
        for name, interval in zip(names, intervals, strict=True):
            rows.append(
                {
                    "centre": centres[hpid],
                    "policy": name,
                    "peak": _finite(interval.mean),
                    "text": _number(interval.mean, places, english),
                    "label_at": interval.mean if math.isfinite(interval.mean) else 0.0,
                }
            )
    centre_order = [centres[h] for h in hpids]
    tooltip = [
        alt.Tooltip("centre:N", title=words(CENTRE, english)),
        alt.Tooltip("policy:N", title=words(POLICY, english)),
        alt.Tooltip("text:N", title=words(OCCUPANCY_AXIS, english)),
    ]
    peaks = [r["peak"] for r in rows if r["peak"] is not None]
    top = max([100.0, *peaks]) * 1.12  # the 100 % line always in view, and room for the numbers
    y = alt.Y(
        "centre:N",
        sort=centre_order,
        title=words(CENTRE, english),
        axis=alt.Axis(title=None, labelLimit=240, labelOverlap=False),
    )
    offset = alt.YOffset("policy:N", sort=names, title=words(POLICY, english), scale=alt.Scale(domain=names))
    x = alt.X(
        "peak:Q",
        title=words(OCCUPANCY_AXIS, english),
        scale=alt.Scale(domain=[0, top], nice=False),
        axis=alt.Axis(tickCount=8),
    )
    colour = alt.Color(
        "policy:N", title=words(POLICY, english), scale=alt.Scale(domain=names, range=_colours(policies))
    )
    base = alt.Chart(pd.DataFrame(rows)).encode(y=y, yOffset=offset)
    bars = base.mark_bar().encode(x=x, color=colour, tooltip=tooltip)
    value = base.mark_text(align="left", dx=4, fontSize=LABEL_PX - 1, color="#222", aria=False).encode(
        x="label_at:Q", text="text:N", tooltip=tooltip
    )
    full = alt.Chart(pd.DataFrame([{"peak": 100.0, "text": words(FULL, english)}]))
    layers = [
        bars,
        value,
        full.mark_rule(**DECORATION, strokeDash=[6, 4], color="#555", strokeWidth=1.5).encode(x="peak:Q"),
        full.mark_text(**DECORATION, align="right", dx=-4, dy=-8, y=0, fontSize=LABEL_PX, color="#333").encode(
            x="peak:Q", text="text:N"
        ),
    ]
    if not rows:
        layers.append(_no_data(english))
    title = words(OCCUPANCY_TITLE, english)
    if len(hpids) < len(centres):
        title += " — " + words(OCCUPANCY_BUSIEST, english).format(shown=len(hpids), total=len(centres))
    height = max(len(hpids), 1) * (max(len(policies), 1) * 15 + 12)
    chart = alt.LayerChart(layer=layers, title=_title(title, WIDE_TITLE_PX), height=height)
    return _configured(chart)
