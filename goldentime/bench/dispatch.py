"""Dispatcher benchmark: :func:`dispatch.router.plan` time by patients routed at once, and the latency
from vitals published to advice received, with a :class:`dispatch.service.Dispatcher` in this process
and 38 (Gwangju) or 1,500 (national fleet) simulated tablets in another, through the embedded broker
and every ``--mqtt-url``. Writes the ``dispatch`` section of ``docs/performance.md``."""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.centre_view import CentreView, centre_view
from dispatch.pathways import PATHWAYS, Pathway
from dispatch.router import PatientCase, plan
from dispatch.scenario import Prepared
from dispatch.service import Dispatcher, DispatcherStats
from dispatch.severity.model import TrainedSeverity
from goldentime.bench import report
from goldentime.bench.mosquitto import LABELS, judged, label
from goldentime.bench.processes import Child, spawn
from goldentime.bench.severity import _vitals as ktas_vitals
from goldentime.services import freeze_heap
from loaders.scenarios import load_scenario, prepare
from loaders.severity import KTAS_FILE, read_ktas, train_from_file
from telemetry import schemas, topics
from telemetry.broker import EmbeddedBroker
from telemetry.client import Message, MqttClient

SCENARIO = "seoul-central"
PLAN_SIZES = (1, 10, 50, 200)
PLAN_GOAL_MS = 100.0
PLAN_GOAL = f"< {PLAN_GOAL_MS:g} ms at {max(PLAN_SIZES)} patients"
FLEETS = (38, 1500)  # Gwangju's fleet, a national one
LATENCY_GOAL_MS = 50.0
LATENCY_GOAL = f"p99 < {LATENCY_GOAL_MS:g} ms with {max(FLEETS):,} units on Mosquitto"
VITALS_PERIOD_S = 10.0
CONNECTIONS = 10  # the generator multiplexes its units over at most this many MQTT connections
FLAG_SHARE = 0.15
#: The pathways whose crew flag the generator sets (on one in FLAG_SHARE patients), and so their flags.
FLAGGED = (Pathway.STROKE, Pathway.STEMI, Pathway.MAJOR_TRAUMA, Pathway.OBSTETRIC, Pathway.BURNS,
           Pathway.CARDIAC_ARREST)  # fmt: skip
FLAGS = tuple(flag for pathway in FLAGGED for flag in PATHWAYS[pathway].flags)
ONE_NEED = (Pathway.CARDIAC_ARREST, Pathway.STROKE, Pathway.STEMI, Pathway.MAJOR_TRAUMA, Pathway.BURNS)
NEEDS = (frozenset[Pathway](),) * 4 + tuple(frozenset({n}) for n in ONE_NEED)  # 4 in 9 patients need nothing
CONDITIONS = (schemas.Condition.STROKE_THROMBECTOMY, schemas.Condition.STEMI_PCI, schemas.Condition.MAJOR_BURNS)
Point = tuple[float, float]


def _capacity(prepared: Prepared, rng: random.Random) -> dict[str, schemas.Capacity]:
    """Seeded synthetic reports: 0-10 free ER beds; capabilities available or unknown, never refused."""
    now, yes = datetime.now(UTC), schemas.Capability(available=True)
    return {
        c.hpid: schemas.Capacity.new(
            beds={schemas.BedType.ER_GENERAL: schemas.BedCount(available=rng.randint(0, 10), total=10, updated_at=now)},
            equipment={schemas.Equipment.CT: yes, schemas.Equipment.ANGIOGRAPHY: yes},
            conditions={k: schemas.Capability(available=rng.choice((True, None))) for k in CONDITIONS},
            updated_at=now,
        )
        for c in prepared.scenario.centres
    }


def _plan_times(
    prepared: Prepared, points: list[Point], views: list[CentreView], reps: int
) -> list[tuple[int, float, float]]:
    """(patients, median ms, p99 ms) of ``plan`` alone; cases are drawn afresh (seeded) for every repetition."""
    rng = random.Random(7)

    def case(i: int) -> PatientCase:
        etas = prepared.index.etas(*rng.choice(points))
        ktas = rng.randint(1, 5)
        eta_s = dict(zip(etas.target_ids, etas.seconds.tolist(), strict=True))
        return PatientCase(f"U{i:04d}", ktas, rng.choice(NEEDS), eta_s, critical=ktas <= 2)

    plan([case(i) for i in range(10)], views)  # warm-up (imports OR-Tools)
    rows = []
    for size in PLAN_SIZES:
        times = []
        for _ in range(reps):
            cases = [case(i) for i in range(size)]
            started = time.perf_counter()
            plan(cases, views)
            times.append((time.perf_counter() - started) * 1000)
        rows.append((size, float(np.median(times)), float(np.percentile(times, 99))))
        print(f"  plan, {size} patients: median {rows[-1][1]:.2f} ms, p99 {rows[-1][2]:.2f} ms", flush=True)
    return rows


@dataclass(frozen=True)
class FleetSpec:
    """What the load-generator process simulates (pickled to it)."""

    url: str
    protocol: str
    prefix: str  # unique per run: unit ids, patient ids and client ids start with it
    units: int
    points: list[Point]
    vitals: list[dict[str, Any]]  # Vitals fields without patient_id, flags, ts, msg_id
    warmup_s: float
    duration_s: float
    grace_s: float


def _fleet(spec: FleetSpec, conn: Connection) -> None:
    """The load generator (its own process): positions at 1 Hz (QoS 0) and vitals every 10 s (QoS 1, a new
    patient each time), staggered evenly across units; each advice is matched to its vitals by patient_id.
    Sends its start time, then the results, through ``conn``."""
    # Many network threads share one interpreter here (real tablets do not): hand the GIL over
    # more often than every 5 ms so an advice is read when it arrives, not when a thread yields.
    sys.setswitchinterval(0.0005)
    rng = random.Random(spec.units)
    ids = [f"{spec.prefix}-{i:04d}" for i in range(spec.units)]
    home = [rng.choice(spec.points) for _ in ids]
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}

    def on_advice(message: Message) -> None:
        received = time.time()
        if message.payload and message.topic.split("/")[2].startswith(spec.prefix):
            answered.setdefault(json.loads(message.payload)["patient_id"], received)

    listener = MqttClient(spec.url, f"{spec.prefix}-listener", protocol=spec.protocol, on_message=on_advice)
    listener.subscribe(topics.subscription(topics.Kind.ADVICE), qos=1)
    listener.start(30)
    pool = [MqttClient(spec.url, f"{spec.prefix}-tablets-{k}", protocol=spec.protocol).start(30)
            for k in range(min(spec.units, CONNECTIONS))]  # fmt: skip
    for i, unit in enumerate(ids):
        status = schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING)
        pool[i % len(pool)].send(topics.Topic(topics.Kind.STATUS, unit), status).wait(30)
    n, end, measured, positions, vitals = spec.units, spec.warmup_s + spec.duration_s, [], 0, 0
    start = time.time()
    conn.send(start)
    while (due := min(positions / n, vitals * VITALS_PERIOD_S / n)) < end:
        if (delay := start + due - time.time()) > 0:
            time.sleep(delay)
        if positions / n <= due:  # a unit's first position comes before its first vitals
            i, positions = positions % n, positions + 1
            lat, lon = home[i]  # parked, with a few metres of GPS jitter
            position = schemas.Position.new(lat=lat + rng.gauss(0, 3e-5), lon=lon + rng.gauss(0, 3e-5), accuracy_m=5.0)
            pool[i % len(pool)].send(topics.Topic(topics.Kind.POSITION, ids[i]), position)
            continue
        i, patient, vitals = vitals % n, f"{spec.prefix}-p{vitals}", vitals + 1
        flags = schemas.CrewFlags(**{rng.choice(FLAGS): True}) if rng.random() < FLAG_SHARE else schemas.CrewFlags()
        payload = schemas.Vitals.new(patient_id=patient, flags=flags, **rng.choice(spec.vitals))
        sent[patient] = time.time()
        pool[i % len(pool)].send(topics.Topic(topics.Kind.VITALS, ids[i]), payload)
        if due >= spec.warmup_s:
            measured.append(patient)
    lag_s = time.time() - start - end
    deadline = time.time() + spec.grace_s
    while time.time() < deadline and not all(p in answered for p in measured):
        time.sleep(0.05)
    latencies = [(answered[p] - sent[p]) * 1000 for p in measured if p in answered]
    for client in [*pool, listener]:
        client.stop()
    conn.send({"latencies_ms": latencies, "measured": len(measured), "lag_s": lag_s})


class _Echo:
    """The floor under the dispatcher: answers each vitals at once, on the client's network thread,
    with a stub on its unit's advice topic (no decision). Same load, same broker, same generator."""

    def __init__(self, client: MqttClient) -> None:
        self.client, self.stats = client, DispatcherStats()
        client.on_message = self._answer

    def _answer(self, message: Message) -> None:
        self.stats.messages += 1
        self.stats.advice += 1
        unit, patient = message.topic.split("/")[2], json.loads(message.payload)["patient_id"]
        self.client.publish(topics.build(topics.Kind.ADVICE, unit), json.dumps({"patient_id": patient}).encode(), qos=1)

    def start(self, timeout_s: float) -> _Echo:
        self.client.subscribe(topics.subscription(topics.Kind.VITALS), qos=1)
        self.client.start(timeout_s)
        return self

    def stop(self) -> None:
        self.client.stop()


@dataclass(frozen=True)
class Run:
    responder: str  # "dispatcher", or "echo" (the broker and generator floor)
    broker: str
    units: int
    measured: int
    p50_ms: float
    p99_ms: float
    unanswered: int
    messages_per_s: float
    plans: int
    advice: int
    cpu_pct: float  # of one core, the dispatcher thread, during the measured window
    errors: int  # batches the dispatcher logged as failed, during the whole run
    first_error: str
    rss_mb: tuple[float, float]  # this process, before the dispatcher started and at the end
    lag_s: float


class _Errors(logging.Handler):
    count, first = 0, ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if not self.first and record.exc_info and record.exc_info[1]:
            exc = record.exc_info[1]
            text = " ".join(line.strip() for line in str(exc).splitlines()[:3]).split(" [type=")[0]
            self.first = f"{type(exc).__name__}: {text[:200]}"


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _thread_cpu_s(name: str | None) -> float:
    """CPU seconds used so far by this process's thread called ``name`` (Linux); 0 for None."""
    if name is None:
        return 0.0
    thread = next(t for t in threading.enumerate() if t.name == name)
    fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _retained_inbound(url: str, protocol: str, prefix: str) -> dict[str, bytes]:
    """The retained pre-notifications on the broker now, to put back after the run."""
    seen: list[Message] = []
    client = MqttClient(url, f"{prefix}-snapshot", protocol=protocol, on_message=seen.append)
    client.subscribe(topics.subscription(topics.Kind.INBOUND), qos=1)
    client.start(30)
    time.sleep(0.5)
    client.stop()
    return {m.topic: m.payload for m in seen if m.retained and m.payload}


def _clean_up(spec: FleetSpec, hpids: list[str], inbound: dict[str, bytes]) -> None:
    """Clear the status and advice retained for the bench units; put back the centres' pre-notifications."""
    client = MqttClient(spec.url, f"{spec.prefix}-cleanup", protocol=spec.protocol).start(30)
    deliveries = [client.clear_retained(topics.build(kind, f"{spec.prefix}-{i:04d}"))
                  for i in range(spec.units) for kind in (topics.Kind.STATUS, topics.Kind.ADVICE)]  # fmt: skip
    for topic in (topics.build(topics.Kind.INBOUND, h) for h in hpids):
        before = inbound.get(topic)
        deliveries.append(client.publish(topic, before, qos=1, retain=True) if before else client.clear_retained(topic))
    for delivery in deliveries:
        delivery.wait(30)
    client.stop()


def _latency(spec: FleetSpec, broker: str, prepared: Prepared, severity: TrainedSeverity | None,
             capacity: dict[str, schemas.Capacity]) -> Run:  # fmt: skip
    """Decision latency with the dispatcher, or (``severity`` None) with the echo floor."""
    inbound = _retained_inbound(spec.url, spec.protocol, spec.prefix)
    errors = _Errors(logging.ERROR)
    logging.getLogger("dispatch.service").addHandler(errors)
    client = MqttClient(spec.url, f"{spec.prefix}-dispatcher", protocol=spec.protocol)
    rss_before = _rss_mb()
    dispatcher: Dispatcher | _Echo
    if severity is None:
        dispatcher = _Echo(client)
    else:
        dispatcher = Dispatcher(client, prepared, severity)
        dispatcher.capacity.update(capacity)  # the plan benchmark's synthetic reports, set directly (not on the bus)
    freeze_heap()  # as `goldentime dispatcher` does once started
    dispatcher.start(30)
    thread = "dispatcher" if severity is not None else None
    generator: Child | None = None
    try:
        generator = spawn(_fleet, spec)
        start, stats = generator.first, dispatcher.stats
        time.sleep(max(0.0, start + spec.warmup_s - time.time()))
        before = (stats.messages, stats.plans, stats.advice, _thread_cpu_s(thread))
        time.sleep(max(0.0, start + spec.warmup_s + spec.duration_s - time.time()))
        after = (stats.messages, stats.plans, stats.advice, _thread_cpu_s(thread))
        result = generator.recv(spec.grace_s + 120)
        rss = (rss_before, _rss_mb())
    finally:
        if generator is not None:
            generator.process.join(30)
            generator.process.terminate()  # a no-op once it ended
        dispatcher.stop()
        logging.getLogger("dispatch.service").removeHandler(errors)
        _clean_up(spec, [c.hpid for c in prepared.scenario.centres], inbound)
    latencies = result["latencies_ms"] or [float("nan")]
    messages, plans, advice, cpu_s = (b - a for a, b in zip(before, after, strict=True))
    responder = "dispatcher" if severity else "echo"
    return Run(responder, broker, spec.units, result["measured"], float(np.percentile(latencies, 50)),
               float(np.percentile(latencies, 99)), result["measured"] - len(result["latencies_ms"]),
               messages / spec.duration_s, int(plans), int(advice), 100 * cpu_s / spec.duration_s, errors.count,
               errors.first, rss, result["lag_s"])  # fmt: skip


def _verdict(met: bool | None) -> str:
    """The goal column: empty where the goal does not apply."""
    return "" if met is None else "met" if met else "**not met**"


def _plan_met(patients: int, p99_ms: float) -> bool | None:
    """Whether a batch size meets the plan-time goal; None below the largest batch, where it does not apply."""
    return p99_ms < PLAN_GOAL_MS if patients == max(PLAN_SIZES) else None


def _latency_met(r: Run) -> bool | None:
    """Whether ``r`` meets the decision-latency goal; None unless it is the dispatcher answering 1,500 units on
    Mosquitto (:func:`~goldentime.bench.mosquitto.judged`), the only runs the goal is set for."""
    national = r.units == max(FLEETS) and judged(r.broker) and r.responder == "dispatcher"
    return r.p99_ms < LATENCY_GOAL_MS if national else None


def plan_figures(plans: Sequence[tuple[int, float, float]]) -> list[report.Figure]:
    """Median and p99 ``plan`` time per batch size; the goal is on the p99 at the largest batch (200)."""
    found = []
    for n, median, p99 in plans:
        met = _plan_met(n, p99)
        found += [
            report.Figure(f"plan_time_p50_ms.{n}_patients", median, "ms"),
            report.Figure(
                f"plan_time_p99_ms.{n}_patients", p99, "ms", goal=None if met is None else PLAN_GOAL, met=met
            ),
        ]
    return found


def latency_figures(runs: Sequence[Run], brokers: Mapping[str, str]) -> list[report.Figure]:
    """Vitals-to-advice p50 and p99 per broker (its key in ``brokers``, by name) and fleet size, as
    ``decision_latency_*`` for the dispatcher and ``echo_latency_*`` for the echo floor; the goal is on the
    p99 of the runs it is set for."""
    found = []
    for r in runs:
        what = "decision_latency" if r.responder == "dispatcher" else "echo_latency"
        where, met = f"{brokers[r.broker]}.{r.units}_units", _latency_met(r)
        found += [
            report.Figure(f"{what}_p50_ms.{where}", r.p50_ms, "ms"),
            report.Figure(
                f"{what}_p99_ms.{where}", r.p99_ms, "ms", goal=None if met is None else LATENCY_GOAL, met=met
            ),
        ]
    return found


def _markdown(plans: list[tuple[int, float, float]], runs: list[Run], spec: FleetSpec, reps: int, command: str,
              load: tuple[float, float, float]) -> str:  # fmt: skip
    def cpu(r: Run) -> str:
        return f"{r.cpu_pct:.0f}%" if r.responder == "dispatcher" else "—"

    lines = [
        "## Dispatcher: plan time and decision latency",
        "",
        f"Reproduce with `{command}`. Scenario `{SCENARIO}` on its road graph; every centre has a synthetic, seeded "
        "capacity report (0-10 free ER beds; thrombectomy, PCI and burns available or unknown).",
        "",
        f"### Plan time vs patients routed at once (goal: < {PLAN_GOAL_MS:g} ms at 200)",
        "",
        f"`router.plan` alone, {reps} repetitions per size; patients at random nodes of the graph with ETAs from the "
        "road index, KTAS 1-5 at random, about half with a need (arrest, stroke, STEMI, trauma, burns). The start-up "
        "heap is frozen first, as `goldentime dispatcher` freezes its own: otherwise a full garbage collection of it "
        "(about 80 ms) lands in one plan or two of a run.",
        "",
        "| patients | median | p99 | goal |",
        "|---:|---:|---:|---|",
        *(f"| {n} | {med:.2f} ms | {p99:.2f} ms | {_verdict(_plan_met(n, p99))} |" for n, med, p99 in plans),
        "",
        f"### Decision latency: vitals published → advice received (goal: p99 < {LATENCY_GOAL_MS:g} ms, 1,500 units, "
        "Mosquitto)",
        "",
        "`Dispatcher` (its MQTT client, the trained severity model) in this process; a separate process simulates "
        f"the units as tablets over at most {CONNECTIONS} connections: a retained `transporting` status, a position "
        "every second (QoS 0; parked at a random graph node with metres of GPS jitter, so advice is re-sent only for "
        f"new patients), a vitals set every {VITALS_PERIOD_S:g} s (QoS 1; staggered; KTAS rows that came by 119 "
        f"ambulance, {FLAG_SHARE:.0%} with a crew flag; a new patient each time, so each needs a decision) and times "
        f"each vitals publish to its patient's first advice. Measured: vitals sent in {spec.duration_s:g} s after a "
        f"{spec.warmup_s:g} s warm-up; unanswered: no advice {spec.grace_s:g} s after the last. Messages/s handled, "
        "plans, advice and the dispatcher thread's CPU (% of one core): in that window; errors: batches the "
        "dispatcher logged as failed; RSS: this process before the dispatcher started → at the end (the embedded "
        "broker runs in it).",
        "",
        f"At {max(FLEETS):,} units the same load is also answered by an **echo** in place of the dispatcher: a plain "
        "MQTT client that publishes a stub on the unit's advice topic the moment each vitals arrives, with no decision "
        "— the floor that broker, generator and this machine set; the dispatcher's own share is the difference. "
        "A Mosquitto on its stock settings leaves Nagle's algorithm on (`set_tcp_nodelay false`), which holds small "
        "packets back while an earlier one is unacknowledged: compare its echo row with the one of the shipped "
        "configuration (`deploy/mosquitto/mosquitto.conf`, `--mosquitto`), which turns it off. The goal is judged "
        "on the shipped configuration, the one GoldenTime deploys, when it ran; a stock Mosquitto is shown beside "
        "it for comparison.",
        "",
        "| responder | broker | units | vitals measured | p50 | p99 | unanswered | messages/s | plans | advice "
        "| dispatcher CPU | errors | RSS | goal |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.responder} | {r.broker} | {r.units:,} | {r.measured:,} | {r.p50_ms:,.1f} ms | {r.p99_ms:,.1f} ms "
            f"| {r.unanswered:,} | {r.messages_per_s:,.0f} | {r.plans:,} | {r.advice:,} | {cpu(r)} | {r.errors:,} "
            f"| {r.rss_mb[0]:,.0f} → {r.rss_mb[1]:,.0f} MB | {_verdict(_latency_met(r))} |"
        )
    lines += [
        "",
        "Broker, dispatcher and load generator share this 2-core machine, and other work may have been running on it "
        f"(load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the start).",
    ]
    if failed := [r for r in runs if r.first_error]:
        lines.append(
            f"First error the dispatcher logged ({failed[0].broker}, {failed[0].units:,} units): "
            f"`{failed[0].first_error}`."
        )
    lines += [
        f"The load generator fell {r.lag_s:.1f} s behind ({r.broker}, {r.units:,} units)." for r in runs if r.lag_s > 1
    ]
    return "\n".join(lines)


def main(*, quick: bool, output: Path, data_dir: Path, cache_dir: Path, mqtt_urls: list[str]) -> list[report.Figure]:
    from goldentime.bench.recorder import broker_keys, broker_version

    load = os.getloadavg()
    prepared = prepare(load_scenario(SCENARIO, data_dir), cache_dir=cache_dir)
    if prepared.network is None:
        raise RuntimeError(f"scenario {SCENARIO} has no road graph in {data_dir}")
    points = list(zip(prepared.network.lat.tolist(), prepared.network.lon.tolist(), strict=True))
    capacity = _capacity(prepared, random.Random(2))
    views = [centre_view(c, capacity.get(c.hpid), datetime.now(UTC)) for c in prepared.scenario.centres]
    reps = 10 if quick else 50
    freeze_heap()  # as `goldentime dispatcher` does once started, before it plans
    print("dispatch benchmark: plan time", flush=True)
    plans = _plan_times(prepared, points, views, reps)
    severity = train_from_file(data_dir / KTAS_FILE)
    skip = {"schema_id", "ts", "msg_id", "patient_id", "flags"}
    templates = [v.model_dump(mode="json", exclude=skip) for v in ktas_vitals(read_ktas(data_dir / KTAS_FILE))]
    runs: list[Run] = []
    with EmbeddedBroker() as embedded:
        brokers = [(embedded.url, "embedded (amqtt)", "3.1.1")]
        brokers += [(u, label(u, f"{broker_version(u, '5') or 'broker'} at {u}"), "5") for u in mqtt_urls]
        for url, name, protocol in brokers:
            for units in FLEETS:
                spec = FleetSpec(url, protocol, f"bd{uuid.uuid4().hex[:8]}", units, points, templates,
                                 3.0 if quick else 10.0, 8.0 if quick else 30.0, 3.0 if quick else 5.0)  # fmt: skip
                # at national scale, also the floor: the same load answered by the echo, no decision
                for responder in (severity, None) if units == max(FLEETS) else (severity,):
                    print(f"dispatch benchmark: {name}, {units} units, {'echo' if responder is None else 'dispatcher'}",
                          flush=True)  # fmt: skip
                    runs.append(_latency(spec, name, prepared, responder, capacity))
                    print(f"  {runs[-1]}", flush=True)
    command = "goldentime bench --only dispatch" + (" --quick" if quick else "")
    command += "".join(f" --mqtt-url {u}" for u in mqtt_urls if u not in LABELS) + (" --mosquitto" if LABELS else "")
    report.write_section(output, "dispatch", _markdown(plans, runs, spec, reps, command, load))
    print(f"wrote {output}", flush=True)
    return [*plan_figures(plans), *latency_figures(runs, broker_keys(brokers))]
