"""Memory benchmark: resident memory (RSS) of one dispatcher worker process after start-up and under the
national fleet's load, read from the kernel (``/proc/<pid>/status``). Writes the ``memory`` section of
``docs/performance.md``."""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from goldentime.bench import report
from goldentime.bench.dispatch import FleetSpec, _clean_up, _fleet, _retained_inbound
from goldentime.bench.mosquitto import LABELS, label
from goldentime.bench.processes import spawn
from goldentime.bench.throughput import UNITS, Fleet, WorkerSpec, finish, fleet, worker
from goldentime.settings import Settings
from telemetry.broker import EmbeddedBroker

DURATION_S, QUICK_DURATION_S = 60.0, 15.0


def status(pid: int) -> dict[str, float]:
    """The ``Vm*`` lines of ``/proc/<pid>/status`` in MB (VmRSS: resident now, VmHWM: its peak)."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: int(v.split()[0]) * 1024 / 1e6 for k, v in (line.split(":", 1) for line in lines) if k.startswith("Vm")}


def reset_peak(pid: int) -> bool:
    """Set VmHWM back to VmRSS (Linux 4.0+), so the peak read later is the peak under load, not the one of
    start-up (training or loading the model, building indexes); False when the kernel does not allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Memory:
    broker: str
    scenario: str
    startup_s: float  # from the process started to its dispatcher subscribed
    startup_peak_mb: float  # VmHWM before the load
    idle_mb: float  # VmRSS once started and subscribed
    load_peak_mb: float  # VmHWM since the reset (or the highest VmRSS sampled each second, if it failed)
    end_mb: float  # VmRSS when the load stopped
    sampled: bool  # load_peak_mb comes from the samples
    positions: int  # handled by the worker during the run
    vitals: int
    answered: int  # vitals whose patient got advice (of those the load generator sent)
    sent: int


def figures(memory: Memory) -> list[report.Figure]:
    return [report.Figure("worker_rss_mb.idle", memory.idle_mb, "MB"),
            report.Figure("worker_rss_mb.national_load", memory.load_peak_mb, "MB")]  # fmt: skip


def measure(spec: FleetSpec, broker: str, settings: Settings, drawn: Fleet) -> Memory:
    """Start a worker, read its memory, load it with ``spec``'s fleet (``dispatch._fleet``), read it again."""
    inbound = _retained_inbound(spec.url, spec.protocol, spec.prefix)
    worker_spec = WorkerSpec(spec.url, spec.protocol, f"{spec.prefix}-dispatcher", spec.prefix, settings, track=False)
    began = time.perf_counter()
    dispatcher = spawn(worker, worker_spec)
    startup_s, pid = time.perf_counter() - began, dispatcher.first
    try:
        time.sleep(2.0)  # the retained capacity and status messages handled
        idle = status(pid)
        reset = reset_peak(pid)
        generator = spawn(_fleet, spec)
        samples = []
        while not generator.poll(1.0):
            samples.append(status(pid)["VmRSS"])
        outcome, end = generator.recv(), status(pid)
        generator.process.join(30)
        tally = finish(dispatcher)
    finally:
        dispatcher.process.terminate()  # a no-op once finished
        _clean_up(spec, drawn.hpids, inbound)
    peak = end["VmHWM"] if reset else max([*samples, end["VmRSS"]])
    return Memory(broker, drawn.scenario, startup_s, idle["VmHWM"], idle["VmRSS"], peak, end["VmRSS"], not reset,
                  tally.positions, tally.vitals, len(outcome["latencies_ms"]), outcome["measured"])  # fmt: skip


def _markdown(m: Memory, spec: FleetSpec, command: str) -> str:
    peak = "highest VmRSS sampled each second" if m.sampled else "VmHWM, reset after start-up"
    return "\n".join(
        [
            "## Memory: one dispatcher worker process",
            "",
            f"Reproduce with `{command}`. A dispatcher worker, built as `goldentime dispatcher` builds it (scenario "
            f"`{m.scenario}` and its road index from the cache, the saved severity model, the recorder's store), runs "
            "in a process of its own (spawn), so its resident memory is its own; it is read from "
            f"`/proc/<pid>/status` once the worker is subscribed, then under the national fleet's load "
            f"(`dispatch` benchmark's generator: {spec.units:,} units, a position each second, a vitals set every "
            f"10 s with a new patient each time) for {spec.duration_s:g} s through {m.broker}.",
            "",
            "| state | RSS |",
            "|---|---:|",
            f"| after start-up ({m.startup_s:.1f} s), subscribed | {m.idle_mb:,.0f} MB |",
            f"| peak during start-up (VmHWM) | {m.startup_peak_mb:,.0f} MB |",
            f"| peak under load ({peak}) | {m.load_peak_mb:,.0f} MB |",
            f"| at the end of the load | {m.end_mb:,.0f} MB |",
            "",
            f"The worker handled {m.positions:,} positions and {m.vitals:,} vitals; {m.answered:,} of the "
            f"{m.sent:,} patients sent got their advice.",
        ]
    )


def main(*, quick: bool, output: Path, settings: Settings, mqtt_urls: list[str]) -> list[report.Figure]:
    drawn = fleet(settings)
    with ExitStack() as stack:
        # Mosquitto when there is one (--mosquitto's first): the embedded broker can lag behind the national load
        url = next((u for u in mqtt_urls if u in LABELS), mqtt_urls[0] if mqtt_urls else None)
        if url is None:
            url, protocol, broker = stack.enter_context(EmbeddedBroker()).url, "3.1.1", "the embedded broker (amqtt)"
        else:
            protocol, broker = "5", label(url, url)
        duration = QUICK_DURATION_S if quick else DURATION_S
        prefix = f"bm{uuid.uuid4().hex[:8]}"
        spec = FleetSpec(url, protocol, prefix, UNITS, drawn.points, drawn.templates, 0.0, duration, 5.0)
        print(f"memory benchmark: one worker, {UNITS} units for {duration:g} s through {broker}", flush=True)
        memory = measure(spec, broker, settings, drawn)
    print(f"  {memory}", flush=True)
    command = "goldentime bench --only memory" + (" --quick" if quick else "")
    command += "".join(f" --mqtt-url {u}" for u in mqtt_urls if u not in LABELS) + (" --mosquitto" if LABELS else "")
    report.write_section(output, "memory", _markdown(memory, spec, command))
    print(f"wrote {output}", flush=True)
    return figures(memory)
