"""The comparison report of simulation runs: ``report.md``, ``kpis.csv`` and a few PNG plots in one folder.

The report is an artefact people diff and commit, so it carries no date and its plots no software stamp: the
same runs give the same bytes. Figures use matplotlib's Agg backend (no display on servers and CI) and are
drawn through the object API onto a :class:`~matplotlib.figure.Figure`; pyplot only creates and closes them.
"""

from __future__ import annotations

import functools
import math
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager

from simulations.kpis import (
    CANDIDATE,
    CENTRE_PREFIX,
    GOAL_BASELINES,
    HIGHER_IS_BETTER_SUFFIX,
    LOSS,
    METRICS,
    METRICS_NOTE,
    NOT_APPLICABLE,
    TIE,
    WIN,
    Goal,
    Interval,
    Paired,
    RunTable,
    definitive_minutes,
    goals_from,
    metric_sort_key,
    paired_from,
    policies_of,
    response_minutes,
    run_table,
    summarise,
    write_csv,
)
from simulations.records import RunResult

DPI = 100
MAX_CENTRES_PLOTTED = 30  # a national run has 500+ centres: the plot shows the busiest
HEADLINE: tuple[tuple[str, str], ...] = (
    ("retransfer_pct", "re-transfers\n(% of patients)"),
    ("full_er_arrival_pct", "arrivals at a full ER\n(% of patients)"),
    ("definitive_mean_min_ktas12", "call -> definitive care\nKTAS 1-2, mean (min)"),
    ("transport_p50_min", "transport time\nmedian (min)"),
    ("response_p90_min", "response time\n90th percentile (min)"),
)
PAIRED_ORDER = ("egen-greedy", "phone-around", "capable", "nearest")  # then any others, in order of appearance
PAIRED_METRICS = (  # the paired tables' rows, where the runs have them; *_golden_time_share follow the first
    "golden_time_share",
    "definitive_care_min_ktas12",
    "definitive_mean_min_ktas12",
    "retransfer_pct",
    "full_er_arrival_pct",
    "transport_p50_min",
    "response_p90_min",
)
#: The acceptance handshake (issue 23): its policy, compared with these first (then any others), on these rows.
HANDSHAKE = "goldentime-handshake"
HANDSHAKE_ORDER = ("phone-around", "goldentime", "egen-greedy")
HANDSHAKE_METRICS = (
    "time_to_acceptance_min",
    "time_to_acceptance_p90_min",
    "scene_search_mean_min",
    "golden_time_share",
    "definitive_care_min_ktas12",
    "secondary_transfer_pct",
    "retransfer_pct",
    "refusals_per_100",
    "refusals_no_bed_per_100",
    "refusals_no_specialist_per_100",
    "requests_per_patient",
    "phone_calls_per_patient",
    "over_30min_pct",
)
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
HANGUL_FAMILIES = (
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "NanumGothic",
    "NanumBarunGothic",
    "Malgun Gothic",
    "Apple SD Gothic Neo",
    "AppleGothic",
    "UnDotum",
    "Baekmuk Gulim",
)
_MISSING = Interval(math.nan, math.nan, math.nan, 0)  # a (policy, metric) the runs do not have
_NOT_REGULAR = ("bold", "black", "heavy", "thin", "light", "medium", "italic", "oblique")


@dataclass(frozen=True)
class Plot:
    """One PNG of the report: its file name (relative link) and what it shows."""

    file: str
    caption: str


def write_report(out_dir: Path, results: Sequence[RunResult], *, title: str, command: str, notes: str = "") -> Path:
    """Write ``kpis.csv``, the plots and ``report.md`` into ``out_dir`` (created) and return the report's path."""
    if not results:
        raise ValueError("no simulation runs to report")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "kpis.csv", results)
    summary = summarise(results)
    table = run_table(results)
    policies = policies_of(results)
    plots = write_plots(out_dir, results, summary)
    lines = [
        f"# {title}",
        "",
        "Reproduce with:",
        "",
        "```",
        command,
        "```",
        "",
        *([notes.strip(), ""] if notes.strip() else []),
        *_runs_section(results),
        *_kpi_section(results, summary),
        *_paired_section(table, policies),
        *_goals_section(goals_from(table), policies),
        *_handshake_section(table, policies),
        *_plots_section(plots),
        *_glossary_section(),
    ]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# --- Markdown ---------------------------------------------------------------------------------------------------


def _cell_text(text: str) -> str:
    """A policy or centre name inside a table cell: a ``|`` would split the cell."""
    return text.replace("|", "\\|")


def decimals(metric: str, values: Iterable[float]) -> int:
    """Counts whole; otherwise about three significant digits of the largest value of a row (all a few seeds
    support), one number of decimals per row so that policies line up and compare at a glance."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    largest = max(finite, default=0.0)
    if metric == "calls" or largest >= 100:
        return 0
    return 1 if largest >= 10 else 2


def format_interval(metric: str, interval: Interval, places: int | None = None) -> str:
    """``mean [low, high]``; the mean alone for one seed (no interval to show), ``—`` when there is no value.
    ``places`` defaults to what the mean alone calls for."""
    if interval.n == 0 or math.isnan(interval.mean):
        return "—"
    d = decimals(metric, [interval.mean]) if places is None else places
    if interval.n == 1:
        return f"{interval.mean:.{d}f}"
    return f"{interval.mean:.{d}f} [{interval.low:.{d}f}, {interval.high:.{d}f}]"


def _seed_text(seeds: Sequence[int]) -> str:
    """``1–5`` for a consecutive range, else the list: a 30-seed run stays one line."""
    ordered = sorted(seeds)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(str(s) for s in ordered)


def _distinct(values: Iterable[float]) -> str:
    return ", ".join(f"{v:g}" for v in sorted(set(values)))


def _runs_section(results: Sequence[RunResult]) -> list[str]:
    lines = ["## Runs", ""]
    for policy in policies_of(results):
        seeds = [r.seed for r in results if r.policy == policy]
        lines.append(f"- `{policy}`: {len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({_seed_text(seeds)})")
    lines += [
        "",
        f"Simulated days per run: {_distinct(r.days for r in results)}; "
        f"demand surge: ×{_distinct(r.surge for r in results)}. "
        "Every policy meets the same calls, patients and walk-ins for a given seed.",
        "",
    ]
    return lines


def _centre_names(results: Iterable[RunResult]) -> dict[str, str]:
    """hpid -> name as the runs give it (first seen wins)."""
    names: dict[str, str] = {}
    for result in results:
        for centre in result.centres:
            names.setdefault(centre.hpid, centre.name)
    return names


def _metric_label(metric: str, names: dict[str, str]) -> str:
    hpid = metric.removeprefix(CENTRE_PREFIX)
    if metric not in METRICS and hpid in names:
        return f"`{metric}` ({_cell_text(names[hpid])})"
    return f"`{metric}`"


def _kpi_section(results: Sequence[RunResult], summary: dict[tuple[str, str], Interval]) -> list[str]:
    policies = policies_of(results)
    metrics = list(dict.fromkeys(metric for _, metric in summary))
    counts = {p: sum(r.policy == p for r in results) for p in policies}
    names = _centre_names(results)
    header = " | ".join(f"{_cell_text(p)} ({counts[p]} seed{'s' if counts[p] != 1 else ''})" for p in policies)
    lines = [
        "## KPIs",
        "",
        "Each cell: mean over seeds [95 % confidence interval of the mean, Student's t]; one seed shows the mean "
        "alone; — means there was nothing to compute it from. Units and definitions: see the glossary.",
        "",
        f"| metric | {header} |",
        "|---|" + "---:|" * len(policies),
    ]
    for metric in metrics:
        row = [summary.get((p, metric), _MISSING) for p in policies]
        places = decimals(metric, [i.mean for i in row])
        cells = " | ".join(format_interval(metric, interval, places) for interval in row)
        lines.append(f"| {_metric_label(metric, names)} | {cells} |")
    return [*lines, ""]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _value_text(value: float, places: int) -> str:
    return "—" if math.isnan(value) else f"{value:.{places}f}"


def difference_places(interval: Interval, places: int) -> int:
    """At least ``places`` (the row's means), more when the difference is small: its largest figure keeps two
    significant digits, so a narrow interval that excludes 0 never prints as ``+0.00 [+0.00, +0.00]``; at most 4."""
    finite = [abs(v) for v in (interval.mean, interval.low, interval.high) if math.isfinite(v)]
    largest = max(finite, default=0.0)
    if largest == 0:
        return places
    return min(4, max(places, 1 - math.floor(math.log10(largest))))


def format_difference(interval: Interval, places: int) -> str:
    """``+mean [+low, +high]`` with signs; the mean alone for one seed, ``—`` when there is no value."""
    if interval.n == 0 or math.isnan(interval.mean):
        return "—"
    d = difference_places(interval, places)
    if interval.n == 1:
        return f"{interval.mean:+.{d}f}"
    return f"{interval.mean:+.{d}f} [{interval.low:+.{d}f}, {interval.high:+.{d}f}]"


def _verdict_text(verdict: str) -> str:
    return f"**{verdict}**" if verdict == LOSS else verdict


def paired_order(policies: Sequence[str], candidate: str = CANDIDATE, first: Sequence[str] = PAIRED_ORDER) -> list[str]:
    """The policies to compare the candidate with: ``first`` (:data:`PAIRED_ORDER`), then the rest as they appear."""
    others = [p for p in policies if p != candidate]
    return [p for p in first if p in others] + [p for p in others if p not in first]


def paired_metrics(comparisons: dict[str, Paired]) -> list[str]:
    """The headline metrics the runs have, :data:`PAIRED_METRICS` order, ``*_golden_time_share`` after the first."""
    shares = sorted((m for m in comparisons if m.endswith(HIGHER_IS_BETTER_SUFFIX)), key=metric_sort_key)
    wanted = [PAIRED_METRICS[0], *shares, *PAIRED_METRICS[1:]]
    return [m for m in dict.fromkeys(wanted) if m in comparisons]


def _paired_section(table: RunTable, policies: Sequence[str], candidate: str = CANDIDATE) -> list[str]:
    lines = [f"## Paired comparisons: `{candidate}` against each other policy", ""]
    if candidate not in policies:
        return [*lines, f"Not shown: `{candidate}` did not run.", ""]
    others = paired_order(policies, candidate)
    if not others:
        return [*lines, f"Not shown: no other policy ran next to `{candidate}`.", ""]
    lines += [
        "Every policy meets the same calls, patients and walk-ins for a given seed, so each row compares two "
        f"policies seed by seed, over the seeds both ran with a value: the policies' means over those seeds and "
        f"the paired difference `{candidate}` − other, mean [95 % confidence interval, Student's t]. Verdict: "
        "**win** if the interval excludes 0 on the better side (higher is better for golden-time shares and "
        "response within 8 minutes, lower for every other metric here), **loss** if it excludes 0 on the worse "
        "side, tie if it includes 0, n/a with fewer than 2 paired seeds.",
        "",
    ]
    return [*lines, *_paired_tables(table, candidate, others, paired_metrics)]


def _paired_tables(
    table: RunTable, candidate: str, others: Sequence[str], rows: Callable[[dict[str, Paired]], list[str]]
) -> list[str]:
    """One table per other policy: ``candidate`` against it, seed by seed, on the metrics ``rows`` picks."""
    lines: list[str] = []
    for other in others:
        comparisons = paired_from(table, other, candidate)
        seeds = {s for p, s in table if p == other} & {s for p, s in table if p == candidate}
        lines += [f"### `{candidate}` against `{other}` ({_plural(len(seeds), 'paired seed')})", ""]
        metrics = rows(comparisons)
        if not metrics:
            lines += [
                "No headline metric to compare: no seed ran both policies."
                if not seeds
                else "No headline metric in these runs.",
                "",
            ]
            continue
        lines += [
            f"| metric | {_cell_text(other)} | {_cell_text(candidate)} | paired difference [95 % CI] | verdict |",
            "|---|---:|---:|---:|---|",
        ]
        for metric in metrics:
            c = comparisons[metric]
            places = decimals(metric, [c.baseline.mean, c.candidate.mean])
            lines.append(
                f"| `{metric}` | {_value_text(c.baseline.mean, places)} | {_value_text(c.candidate.mean, places)} | "
                f"{format_difference(c.difference, places)} | {_verdict_text(c.verdict)} |"
            )
        lines.append("")
    return lines


def _handshake_section(table: RunTable, policies: Sequence[str]) -> list[str]:
    """``goldentime-handshake`` against each other policy that ran (today's phoning and GoldenTime driving without
    asking first) on the time to an accepting centre, scene time, refusals by reason and the outcomes; nothing
    when it did not run."""
    if HANDSHAKE not in policies:
        return []
    lines = [f"## The acceptance handshake: `{HANDSHAKE}` against each other policy", ""]
    others = paired_order(policies, HANDSHAKE, HANDSHAKE_ORDER)
    if not others:
        return [*lines, f"Not shown: no other policy ran next to `{HANDSHAKE}`.", ""]
    lines += [
        f"`{HANDSHAKE}` is GoldenTime with the acceptance handshake (issue 23): ready to leave, the crew waits at "
        "the scene for the advised centre's answer to the dispatcher's transfer request (the world's acceptance "
        "model, after a lognormal answer time), leaves on a yes, on no answer within the pathway's time-out, or "
        "after `phone_max_calls` declines. `time_to_acceptance_*` counts from ready to leave to the first centre "
        "that said yes: on the phone, to a request, or else the door that took the patient; refusals count every "
        f"one the patient met (phone, request, door). Rows: the paired difference `{HANDSHAKE}` − other over the "
        "seeds both ran, mean [95 % CI, Student's t], verdicts as above; the calls and requests a crew made are "
        "described, not judged (n/a): their cost is in the times.",
        "",
    ]

    def rows(comparisons: dict[str, Paired]) -> list[str]:
        return [m for m in HANDSHAKE_METRICS if m in comparisons]

    return [*lines, *_paired_tables(table, HANDSHAKE, others, rows)]


def _goals_summary(results: Sequence[Goal], candidate: str) -> str:
    """One plain paragraph: in how many judged goals the candidate wins, ties and loses, and how many it meets."""
    verdicts = [g.verdict for g in results]
    missing = verdicts.count(NOT_APPLICABLE)
    not_shown = f"; {missing} not shown (no such metric, or fewer than 2 paired seeds with a value)" if missing else ""
    return (
        f"Of the {_plural(len(results), 'judged goal')} (a goal against a baseline), `{candidate}` wins "
        f"{verdicts.count(WIN)}, ties {verdicts.count(TIE)} and loses {verdicts.count(LOSS)} on the paired 95 % "
        f"interval{not_shown}; it meets {sum(g.met for g in results)} of them. The response-time goal asks only "
        "for no more than 5 % worse: a tie or a small loss there can meet it, a win is not needed."
    )


def _goals_section(
    results: Sequence[Goal],
    policies: Sequence[str],
    candidate: str = CANDIDATE,
    baselines: Sequence[str] = GOAL_BASELINES,
) -> list[str]:
    named = " and ".join(f"`{b}`" for b in baselines)
    lines = [f"## Goals: `{candidate}` against {named}", ""]
    if candidate not in policies:
        return [*lines, f"Not judged: `{candidate}` did not run.", ""]
    judged = [b for b in baselines if b in policies]
    if not judged or not results:
        either = " or ".join(f"`{b}`" for b in baselines)
        return [
            *lines,
            f"Not judged: the goals need a run of {either} next to `{candidate}` "
            "(the paired comparisons above are against the policies that ran).",
            "",
        ]
    absent = [b for b in baselines if b not in policies]
    lines += [_goals_summary(results, candidate), ""]
    if absent:
        lines += [
            f"{' and '.join(f'`{b}`' for b in absent)} did not run: judged against "
            f"{' and '.join(f'`{b}`' for b in judged)} only.",
            "",
        ]
    lines += [
        f"Each goal is judged against each baseline on the paired 95 % interval of `{candidate}` − baseline over "
        "the seeds both ran, never on the means alone: the golden-time share and the KTAS 1-2 time to definitive "
        "care must win (the interval excludes 0 on the better side); the response time's 90th percentile may be "
        "at most 5 % worse (the interval's upper bound at most 5 % of the baseline's mean). A goal whose metric "
        "the runs do not have is not shown, and not met.",
        "",
        f"| goal | metric | baseline | baseline mean | {_cell_text(candidate)} mean | paired difference [95 % CI] "
        "| target | result |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for g in results:
        places = decimals(g.metric, [g.baseline, g.candidate])
        result = "met" if g.met else f"**not met** ({g.reason})"
        lines.append(
            f"| {g.name} | `{g.metric}` | `{_cell_text(g.baseline_policy)}` | {_value_text(g.baseline, places)} | "
            f"{_value_text(g.candidate, places)} | {format_difference(g.difference, places)} | {g.target} | "
            f"{result} |"
        )
    return [*lines, ""]


def _plots_section(plots: Sequence[Plot]) -> list[str]:
    lines = ["## Plots", ""]
    for plot in plots:
        lines += [f"### {plot.caption}", "", f"![{plot.caption}]({plot.file})", ""]
    return lines


def _glossary_section() -> list[str]:
    lines = ["## Glossary", "", "| metric | meaning (unit) |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in METRICS.items()]
    return [*lines, "", METRICS_NOTE, ""]


# --- plots ------------------------------------------------------------------------------------------------------


def write_plots(out_dir: Path, results: Sequence[RunResult], summary: dict[tuple[str, str], Interval]) -> list[Plot]:
    """Draw the four plots into ``out_dir``; returns them in report order."""
    policies = policies_of(results)
    response = {p: np.concatenate([response_minutes(r.calls) for r in results if r.policy == p]) for p in policies}
    critical = {
        p: np.concatenate([definitive_minutes(r.calls, (1, 2)) for r in results if r.policy == p]) for p in policies
    }
    plots = [
        Plot("kpis_headline.png", "Headline KPIs per policy (mean over seeds, 95 % CI)"),
        Plot("response_cdf.png", "Response time, call -> on scene (all seeds pooled)"),
        Plot("definitive_cdf_ktas12.png", "Time to definitive care, KTAS 1-2 (all seeds pooled)"),
        Plot("peak_occupancy.png", "Peak ER occupancy by centre (mean over seeds)"),
    ]
    _save(out_dir / plots[0].file, (2.6 * len(HEADLINE), 3.4), lambda fig: _draw_headline(fig, summary, policies))
    _save(
        out_dir / plots[1].file,
        (6.4, 4.0),
        lambda fig: _draw_cdf(fig, response, "response time (min)", "Response time", marker_min=8.0),
    )
    _save(
        out_dir / plots[2].file,
        (6.4, 4.0),
        lambda fig: _draw_cdf(fig, critical, "call -> definitive care (min)", "Time to definitive care, KTAS 1-2"),
    )
    _write_occupancy(out_dir / plots[3].file, results, summary, policies)
    return plots


def _save(path: Path, size: tuple[float, float], draw: Callable[[Figure], None]) -> None:
    """Create a figure, let ``draw`` fill it, save it without a software stamp, and always close it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size, dpi=DPI, layout="constrained")
    try:
        draw(fig)
        fig.savefig(path, dpi=DPI, metadata={"Software": None})
    finally:
        plt.close(fig)


def _colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def _draw_headline(fig: Figure, summary: dict[tuple[str, str], Interval], policies: Sequence[str]) -> None:
    axes = fig.subplots(1, len(HEADLINE), squeeze=False)[0]
    for ax, (metric, label) in zip(axes, HEADLINE, strict=True):
        for i, policy in enumerate(policies):
            interval = summary.get((policy, metric))
            if interval is None or math.isnan(interval.mean):
                continue  # no bar; the tick label says n/a
            error = [[interval.mean - interval.low], [interval.high - interval.mean]]
            ax.bar(i, interval.mean, color=_colour(i), yerr=error, capsize=4, ecolor="black")
        ticks = [f"{p}\n{_short(summary.get((p, metric), _MISSING).mean)}" for p in policies]
        ax.set_xticks(range(len(policies)), ticks, rotation=30 if len(policies) > 2 else 0, fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)


def _short(value: float) -> str:
    """The mean written under its bar, so a bar too short to see still reads as a number."""
    return "n/a" if math.isnan(value) else f"{value:.{decimals('', [value])}f}"


def _draw_cdf(
    fig: Figure, samples: dict[str, np.ndarray], xlabel: str, title: str, *, marker_min: float | None = None
) -> None:
    ax = fig.subplots()
    drawn = False
    for i, (policy, values) in enumerate(samples.items()):
        if values.size:
            ax.ecdf(values, label=f"{policy} (n={values.size})", color=_colour(i))
            drawn = True
    if marker_min is not None:
        ax.axvline(marker_min, color="grey", linestyle="--", linewidth=1, label=f"{marker_min:g} min")
    if not drawn:
        ax.text(0.5, 0.5, "no patients", transform=ax.transAxes, ha="center", color="grey")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of patients")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if drawn or marker_min is not None:
        ax.legend(loc="lower right", fontsize=8)


def _centre_order(hpids: Iterable[str], summary: dict[tuple[str, str], Interval], policies: Sequence[str]) -> list[str]:
    """Busiest centres first (highest mean peak over the policies), at most :data:`MAX_CENTRES_PLOTTED`."""

    def busiest(hpid: str) -> float:
        means = [summary[(p, CENTRE_PREFIX + hpid)].mean for p in policies if (p, CENTRE_PREFIX + hpid) in summary]
        finite = [m for m in means if not math.isnan(m)]
        return max(finite) if finite else -math.inf

    return sorted(hpids, key=lambda h: (-busiest(h), h))[:MAX_CENTRES_PLOTTED]


def needs_hangul(text: str) -> bool:
    """Hangul (jamo, compatibility jamo, syllables) or other CJK: glyphs the default font (DejaVu) lacks."""
    return any(ord(ch) >= 0x1100 for ch in text)


def centre_labels(hpids: Sequence[str], names: dict[str, str], *, has_hangul_font: bool) -> list[str]:
    """Centre names when they can be drawn, else every centre by hpid (never a mix, never tofu boxes)."""
    labels = [names.get(h, h) for h in hpids]
    if not has_hangul_font and any(needs_hangul(label) for label in labels):
        return list(hpids)
    return labels


def _write_occupancy(
    path: Path, results: Sequence[RunResult], summary: dict[tuple[str, str], Interval], policies: Sequence[str]
) -> None:
    """Grouped horizontal bars, centre names on the axis; falls back to hpid labels if the Hangul font fails."""
    names = _centre_names(results)
    hpids = _centre_order(names, summary, policies)
    height = 1.4 + max(len(hpids), 1) * (0.08 * len(policies) + 0.14)
    font = hangul_font()

    def draw(fig: Figure, font_path: Path | None) -> None:
        labels = centre_labels(hpids, names, has_hangul_font=font_path is not None)
        _draw_occupancy(fig, hpids, labels, summary, policies, font_path, total=len(names))

    try:
        _save(path, (7.5, height), lambda fig: draw(fig, font))
    except (OSError, RuntimeError, ValueError):
        if font is None:
            raise
        _save(path, (7.5, height), lambda fig: draw(fig, None))


def _draw_occupancy(
    fig: Figure,
    hpids: Sequence[str],
    labels: Sequence[str],
    summary: dict[tuple[str, str], Interval],
    policies: Sequence[str],
    font_path: Path | None,
    *,
    total: int,
) -> None:
    ax = fig.subplots()
    width = 0.8 / max(len(policies), 1)
    rows = np.arange(len(hpids), dtype=float)
    for i, policy in enumerate(policies):
        means = [summary.get((policy, CENTRE_PREFIX + h), _MISSING).mean for h in hpids]
        ax.barh(rows + (i - (len(policies) - 1) / 2) * width, means, height=width, color=_colour(i), label=policy)
    font = FontProperties(fname=str(font_path)) if font_path is not None else None
    ax.set_yticks(rows, list(labels), fontproperties=font, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(100, color="grey", linestyle="--", linewidth=1, label="all ER beds taken")
    ax.set_xlabel("peak ER occupancy (% of ER beds)")
    shown = f" (busiest {len(hpids)} of {total})" if len(hpids) < total else ""
    ax.set_title(f"Peak ER occupancy by centre{shown}")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=len(policies) + 1, fontsize=8)


# --- fonts ------------------------------------------------------------------------------------------------------


@functools.cache
def hangul_font() -> Path | None:
    """A font file with Hangul glyphs, or None: fontconfig's Korean fonts first, then known families that
    matplotlib has found (Windows and macOS have no fc-list). Regular weights before bold and light ones."""
    candidates = [*_fontconfig_korean(), *_matplotlib_korean()]
    existing = [p for p in candidates if p.is_file()]
    regular = [p for p in existing if not any(word in p.name.lower() for word in _NOT_REGULAR)]
    return (regular or existing)[0] if existing else None


def _fontconfig_korean() -> list[Path]:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        listing = subprocess.run(
            [fc_list, ":lang=ko", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(Path(line.strip().rstrip(":")) for line in listing.splitlines() if line.strip())


def _matplotlib_korean() -> list[Path]:
    ranked = sorted((HANGUL_FAMILIES.index(f.name), f.fname) for f in fontManager.ttflist if f.name in HANGUL_FAMILIES)
    return [Path(fname) for _, fname in ranked]
