"""Write one benchmark's section of ``docs/performance.md`` without touching the others."""

from __future__ import annotations

import json
import math
import os
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HEADER = """# Performance

Every figure here was measured by `goldentime bench` (`make bench`) on the machine named in
its section; rerun the command shown to reproduce it. Each benchmark rewrites only its own
section.
"""


@dataclass(frozen=True)
class Figure:
    """One measured figure beside what a user would otherwise pick, for ``goldentime bench --json``.

    ``ratio`` is how many times better than ``baseline`` (``baseline / value`` for times and
    memory, ``value / baseline`` for rates); ``goal`` says in words what must hold, ``met`` whether it does.
    """

    name: str
    value: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    goal: str | None = None
    met: bool | None = None

    def line(self) -> str:
        """One line for the console: the figure, its ratio and whether its goal holds."""
        text = f"{self.name}: {self.value:.4g} {self.unit}"
        if self.baseline is not None:
            text += f" (baseline {self.baseline:.4g} {self.unit}"
            text += f", {self.ratio:.3g}×)" if self.ratio is not None else ")"
        if self.goal is not None:
            text += f" — goal {self.goal}: {'met' if self.met else 'NOT met'}"
        return text


def write_json(path: Path, figures: Sequence[Figure]) -> None:
    """Every figure as ``{name, value, unit, baseline, ratio, goal, met}``, with the machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A run with no answers has no latency: null, not NaN (which strict JSON parsers refuse).
    rows = [{k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in asdict(f).items()}
            for f in figures]  # fmt: skip
    document = {"machine": machine(), "measured_at": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}", "figures": rows}
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")


def machine() -> str:
    """CPU model, cores, memory, OS and Python of this machine, in one line."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = names[0].strip() if names else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.MULTILINE)
        memory = f", {int(found.group(1)) / 1024**2:.0f} GiB" if found else ""
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def cpu_ticks(stat: str | None = None) -> tuple[int, int]:
    """(all, stolen) CPU time of this machine since it booted, in clock ticks, from the first line of
    ``/proc/stat`` (or ``stat``); (0, 0) where there is none. Stolen: time a virtual machine was ready to
    run but the hypervisor ran another."""
    if stat is None:
        path = Path("/proc/stat")
        stat = path.read_text(encoding="ascii") if path.exists() else ""
    fields = stat.split("\n", 1)[0].split()
    if not fields or fields[0] != "cpu":
        return 0, 0
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal (guest is in user)
    return sum(ticks), ticks[7] if len(ticks) > 7 else 0


class StealMeter:
    """The share of the machine's CPU time stolen by the hypervisor since the running benchmark began
    (``goldentime bench`` calls :meth:`begin` before each): printed in each section's stamp, because it makes
    absolute figures of one run slower than another's."""

    begun = cpu_ticks()

    @classmethod
    def begin(cls) -> None:
        cls.begun = cpu_ticks()

    @classmethod
    def share(cls) -> float | None:
        total, stolen = (now - then for now, then in zip(cpu_ticks(), cls.begun, strict=True))
        return stolen / total if total > 0 else None


def save_plot(output: Path, name: str, draw: Callable[[Any], None], size: tuple[float, float]) -> str:
    """Draw a section's plot with ``draw(pyplot figure)``, save it beside the report at ``output`` (named after
    both: ``performance_throughput.png``) and return the Markdown that shows it."""
    import matplotlib

    matplotlib.use("Agg")  # benchmarks run without a display
    import matplotlib.pyplot as plt

    path = output.with_name(f"{output.stem}_{name}.png")
    figure = plt.figure(figsize=size, dpi=110)
    try:
        draw(figure)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    finally:
        plt.close(figure)
    return f"![{name}]({path.name})"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of the report at ``path``."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    stolen = StealMeter.share()
    steal = "" if stolen is None else f"; the hypervisor took {stolen:.0%} of its CPU time (steal) during the run"
    stamp = f"_Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}{steal}._"
    section = f"{start}\n{body.rstrip()}\n\n{stamp}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else f"{text.rstrip()}\n\n{section}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
