"""Recorder benchmark: messages stored per second and publish-to-stored latency.

The load comes from a separate process of 40 simulated units publishing QoS 1 vitals
through the broker, as real tablets would; the recorder runs in this process and writes to
a fresh database. Two figures per broker and database:

- **throughput**: offered rates are stepped up (1,000, 2,000, 4,000 ... messages/s); the
  figure is the highest stored rate at which every message was stored, exactly once;
- **latency**: at a steady 200 messages/s (1,500 units sending vitals every 10 s is 150/s),
  the time from the ``ts`` stamped by the publisher to the commit of its batch, p50 and p99.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from goldentime.bench import report
from goldentime.bench.mosquitto import LABELS, label
from goldentime.settings import Settings
from telemetry import schemas, topics
from telemetry.broker import EmbeddedBroker
from telemetry.client import MqttClient
from telemetry.recorder import Recorder, run_recorder
from telemetry.store import StoredMessage, messages

UNITS = 40


@dataclass(frozen=True)
class Trial:
    offered_per_s: float
    published_per_s: float
    sent: int
    stored: int
    stored_per_s: float

    @property
    def lossless(self) -> bool:
        return self.stored == self.sent


@dataclass(frozen=True)
class Result:
    broker: str
    database: str
    trials: tuple[Trial, ...]
    latency_p50_ms: float
    latency_p99_ms: float
    latency_samples: int

    @property
    def best(self) -> Trial | None:
        lossless = [t for t in self.trials if t.lossless]
        return max(lossless, key=lambda t: t.stored_per_s) if lossless else None


def _publish(url: str, protocol: str, fleet: str, count: int, rate_per_s: float, achieved: Any) -> None:
    """The load generator (runs in its own process): ``count`` vitals from 40 units,
    round-robin, at ``rate_per_s`` in all; writes the rate it reached into ``achieved``."""
    units = [MqttClient(url, f"{fleet}-{i}", protocol=protocol).start() for i in range(UNITS)]
    routes = [topics.Topic(topics.Kind.VITALS, f"{fleet}-{i}") for i in range(UNITS)]
    start = time.monotonic()
    deliveries = []
    for k in range(count):
        delay = start + k / rate_per_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        payload = schemas.Vitals.new(patient_id=f"P-{k % UNITS:04d}", hr_bpm=60 + k % 90, spo2_pct=97)
        deliveries.append(units[k % UNITS].send(routes[k % UNITS], payload))
    achieved.value = count / max(time.monotonic() - start, 1e-9)
    for delivery in deliveries[-UNITS:]:
        delivery.wait(60)
    for unit in units:
        unit.stop()


class _Tracker:
    """Follows the batches of one trial's fleet as the recorder commits them."""

    def __init__(self) -> None:
        self.fleet = ""
        self.count = 0
        self.first_ts = float("inf")
        self.last_commit = 0.0
        self.latencies_ms: list[float] = []

    def start(self, fleet: str) -> None:
        self.__init__()  # type: ignore[misc]
        self.fleet = fleet

    def __call__(self, batch: list[StoredMessage], committed_at: float) -> None:
        mine = [m.ts.timestamp() for m in batch if m.key.startswith(self.fleet)] if self.fleet else []
        if mine:
            self.count += len(mine)
            self.first_ts = min(self.first_ts, *mine)
            self.last_commit = committed_at
            self.latencies_ms.extend((committed_at - ts) * 1000 for ts in mine)


def _count(recorder: Recorder, fleet: str) -> int:
    query = sa.select(sa.func.count()).select_from(messages).where(messages.c.key.startswith(fleet))
    with recorder.store.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _trial(recorder: Recorder, tracker: _Tracker, url: str, protocol: str, count: int, rate: float) -> Trial:
    """Publish ``count`` messages at ``rate`` from a separate process; the stored rate runs
    from the first message's ``ts`` to the commit of the last one stored."""
    fleet = f"bench-{uuid.uuid4().hex[:8]}"
    tracker.start(fleet)
    context = mp.get_context("spawn")
    achieved = context.Value("d", 0.0)
    process = context.Process(target=_publish, args=(url, protocol, fleet, count, rate, achieved))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"the recorder's load generator stopped with exit code {process.exitcode} (error above)")
    last, last_change = -1, time.monotonic()  # wait for all, or until nothing arrives for 3 s
    while time.monotonic() - last_change < 3 and tracker.count < count:
        if tracker.count != last:
            last, last_change = tracker.count, time.monotonic()
        time.sleep(0.01)
    stored = _count(recorder, fleet)
    span = max(tracker.last_commit - tracker.first_ts, 1e-9)
    return Trial(rate, achieved.value, count, stored, tracker.count / span)


def measure(url: str, broker_name: str, protocol: str, database_url: str, *, quick: bool) -> Result:
    tracker = _Tracker()
    recorder = run_recorder(
        url,
        database_url,
        client_id=f"bench-recorder-{uuid.uuid4().hex[:8]}",
        batch_size=1000,
        flush_interval_s=0.2,
        protocol=protocol,
        session_expiry_s=60,
    )
    recorder.on_batch_stored = tracker
    try:
        seconds = 2 if quick else 5
        trials: list[Trial] = []
        for rate in (1000, 2000, 4000, 8000, 16000):
            trial = _trial(recorder, tracker, url, protocol, int(rate * seconds), rate)
            trials.append(trial)
            print(
                f"  {broker_name}/{_db_name(database_url)}: offered {rate}/s -> {trial.stored_per_s:,.0f}/s stored, "
                f"{trial.sent - trial.stored} lost",
                flush=True,
            )
            if not trial.lossless or trial.stored_per_s < 0.8 * rate:
                break
        _trial(recorder, tracker, url, protocol, 400 if quick else 2000, 200)
        latencies = tracker.latencies_ms
    finally:
        recorder.stop()
        recorder.store.close()
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0.0] * 99
    return Result(broker_name, _db_name(database_url), tuple(trials), quantiles[49], quantiles[98], len(latencies))


def broker_version(url: str, protocol: str) -> str | None:
    """What the broker says it is (``$SYS/broker/version``, published by Mosquitto), if anything."""
    versions: list[bytes] = []
    client = MqttClient(
        url, f"bench-probe-{uuid.uuid4().hex[:8]}", protocol=protocol, on_message=lambda m: versions.append(m.payload)
    )
    client.subscribe("$SYS/broker/version", qos=0)
    try:
        client.start()
        deadline = time.monotonic() + 2
        while not versions and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        client.stop()
    return versions[0].decode("utf-8", errors="replace") if versions else None


def broker_keys(brokers: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    """Each ``(url, name, protocol)`` broker's name in figure names, by the name the report gives it: stable
    across runs (no ports): ``embedded``, ``mosquitto_shipped_conf`` for ``--mosquitto``, else the first word
    of what the broker says it is (``mosquitto``, or ``broker``); a second broker of a kind gets ``_2``."""
    seen: Counter[str] = Counter()
    keys = {}
    for url, name, _ in brokers:
        kind = "mosquitto_shipped_conf" if url in LABELS else re.sub(r"\W+", "_", name.split()[0].lower())
        seen[kind] += 1
        keys[name] = kind if seen[kind] == 1 else f"{kind}_{seen[kind]}"
    return keys


def _db_name(url: str) -> str:
    return sa.make_url(url).get_backend_name()


def figures(results: Sequence[Result], brokers: Mapping[str, str]) -> list[report.Figure]:
    """Per broker (its key in ``brokers``, by name) and database: the best lossless stored rate (left out where
    no rate was lossless) and the publish-to-stored latency p50 and p99. The section states no goal."""
    found = []
    for r in results:
        where = f"{brokers[r.broker]}.{r.database}"
        if r.best:
            found.append(report.Figure(f"recorder_stored_per_s.{where}", r.best.stored_per_s, "messages/s"))
        found += [
            report.Figure(f"recorder_latency_p50_ms.{where}", r.latency_p50_ms, "ms"),
            report.Figure(f"recorder_latency_p99_ms.{where}", r.latency_p99_ms, "ms"),
        ]
    return found


def _markdown(results: list[Result], command: str) -> str:
    lines = [
        "## Recorder: throughput and publish-to-stored latency",
        "",
        f"Reproduce with `{command}`. Load: a separate process of {UNITS} simulated units publishing QoS 1 "
        "vitals (about 400 bytes each) round-robin; the recorder (one process, manual acknowledgement after "
        "each committed batch) stores them in a fresh database. Throughput: offered rates are stepped up "
        "until a message is lost or the recorder falls behind; the figure is the best rate at which every "
        "message was stored exactly once. Latency: publisher's `ts` to the batch's commit, at 200 messages/s.",
        "",
        "| broker | database | stored/s, lossless | tried: offered → published/s → stored/s (lost) "
        "| latency p50 | latency p99 |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        tried = "; ".join(
            f"{t.offered_per_s:,.0f} → {t.published_per_s:,.0f} → {t.stored_per_s:,.0f} ({t.sent - t.stored})"
            for t in r.trials
        )
        best = f"{r.best.stored_per_s:,.0f}" if r.best else "none lossless"
        lines.append(
            f"| {r.broker} | {r.database} | {best} | {tried} | {r.latency_p50_ms:.1f} ms | {r.latency_p99_ms:.1f} ms |"
        )
    lines += [
        "",
        "The load generator is one Python process: where the published rate falls short of the offered one, "
        "the figure is bounded by the generator, not by the recorder. "
        "A rate at which messages were lost is a broker queue limit, not a recorder fault: Mosquitto's defaults "
        "(`max_inflight_messages 20`, `max_queued_messages 1000` per subscriber) drop QoS 1 messages for any "
        "subscriber that falls more than about 1,000 messages behind; issue 10 ships settings that make bursts "
        "lossless.",
    ]
    return "\n".join(lines)


def main(
    settings: Settings, *, quick: bool, output: Path, mqtt_urls: list[str], database_urls: list[str]
) -> list[report.Figure]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as embedded:
        brokers = [(embedded.url, "embedded (amqtt)", "3.1.1")]
        for url in mqtt_urls:
            protocol: str = settings.mqtt_protocol or "5"
            brokers.append((url, label(url, f"{broker_version(url, protocol) or 'broker'} at {url}"), protocol))
        databases = [f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", *database_urls]
        for url, name, protocol in brokers:
            for database_url in databases:
                print(f"recorder benchmark: {name} -> {_db_name(database_url)}", flush=True)
                results.append(measure(url, name, protocol, database_url, quick=quick))
    command = "goldentime bench" + (" --quick" if quick else "")
    command += "".join(f" --mqtt-url {u}" for u in mqtt_urls if u not in LABELS) + (" --mosquitto" if LABELS else "")
    command += "".join(" --database-url URL" for _ in database_urls)
    report.write_section(output, "recorder", _markdown(results, command))
    print(f"wrote {output}")
    return figures(results, broker_keys(brokers))
