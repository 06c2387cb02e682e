"""Capacity API benchmark: sustained status updates per second, and the time from an update
sent over HTTP to its retained MQTT message arriving at a subscriber."""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

from goldentime.bench import report
from goldentime.bench.mosquitto import LABELS, label
from hospital_capacity.api import create_app
from hospital_capacity.publisher import CapacityPublisher
from hospital_capacity.schemas import HospitalCreate
from hospital_capacity.service import CapacityService
from hospital_capacity.store import CapacityStore
from telemetry import schemas, topics
from telemetry.broker import EmbeddedBroker, free_port
from telemetry.client import Message, MqttClient

CENTRES = 24  # Gwangju's emergency institutions
CLIENTS = 4  # charge desks posting at the same time
#: 529 centres nationwide each updating every minute is about 9 updates/s; twice that, steady.
STEADY_RATE = 20.0


@dataclass(frozen=True)
class Row:
    """One run: ``updates`` sent as fast as answered (``rate`` None) or at ``rate`` per second."""

    broker: str
    rate: float | None
    updates: int
    errors: int
    published: int
    http_per_s: float
    end_to_end_per_s: float
    p50_ms: float
    p99_ms: float

    @property
    def load(self) -> str:
        return "as fast as answered" if self.rate is None else f"{self.rate:g}/s"


def _run(broker_url: str, broker_name: str, protocol: str, database_url: str, updates: int, rate: float | None) -> Row:
    """``updates`` PATCHes from CLIENTS threads, as fast as answered (``rate`` None) or paced."""
    import uvicorn

    store = CapacityStore.open(database_url)
    service = CapacityService(store)
    prefix = "B" + uuid.uuid4().hex[:6].upper()
    hpids = [f"{prefix}{i:02d}" for i in range(CENTRES)]
    service.seed([HospitalCreate(hpid=h, name=h, level=2, lat=35.15, lon=126.85) for h in hpids])
    token = service.create_token(None, "bench")
    publisher = CapacityPublisher(service, lambda: MqttClient(broker_url, f"bench-cap-{prefix}", protocol=protocol))
    received: dict[str, float] = {}
    lock = threading.Lock()

    def on_message(message: Message) -> None:
        if message.payload and message.topic.split("/")[2].startswith(prefix):
            payload = schemas.decode(topics.Kind.CAPACITY, message.payload)
            assert isinstance(payload, schemas.Capacity)
            with lock:
                received.setdefault(payload.updated_at.isoformat(), time.perf_counter())

    watcher = MqttClient(broker_url, f"bench-watch-{prefix}", on_message=on_message, protocol=protocol)
    watcher.subscribe(topics.subscription(topics.Kind.CAPACITY), qos=1)
    watcher.start()
    publisher.start()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    base = datetime.now(UTC) - timedelta(hours=1)
    sent: dict[str, float] = {}
    errors = 0

    def post(k: int, client: httpx.Client) -> None:
        nonlocal errors
        if rate is not None:
            time.sleep(max(0.0, started + k / rate - time.perf_counter()))
        observed = base + timedelta(microseconds=k)
        body = {"beds": {"er_general": {"available": k % 20, "total": 20}}, "observed_at": observed.isoformat()}
        sent[observed.isoformat()] = time.perf_counter()
        response = client.patch(f"/hospitals/{hpids[k % CENTRES]}/status", json=body)
        if response.status_code != 200:
            errors += 1

    clients = [
        httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"})
        for _ in range(CLIENTS)
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda k: post(k, clients[k % CLIENTS]), range(updates)))
    http_s = time.perf_counter() - started
    deadline = time.monotonic() + 30
    while len(received) < updates and time.monotonic() < deadline:
        time.sleep(0.05)
    total_s = max(received.values(), default=started) - started
    latencies = np.array([(received[k] - sent[k]) * 1000 for k in sent if k in received])
    server.should_exit = True
    thread.join(10)
    publisher.stop()
    watcher.stop()
    for client in clients:
        client.close()
    store.close()
    return Row(
        broker=broker_name,
        rate=rate,
        updates=updates,
        errors=errors,
        published=len(latencies),
        http_per_s=updates / http_s,
        end_to_end_per_s=len(latencies) / total_s if total_s > 0 else 0.0,
        p50_ms=float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
        p99_ms=float(np.percentile(latencies, 99)) if latencies.size else float("nan"),
    )


def figures(rows: Sequence[Row], brokers: Mapping[str, str]) -> list[report.Figure]:
    """Per broker (its key in ``brokers``, by name): the updates per second over HTTP and end to end as fast as
    answered (the paced run's rate is the pace), and the update-to-message latency p50 and p99 under each load.
    The section states no goal."""
    found = []
    for r in rows:
        broker = brokers[r.broker]
        load = "max_load" if r.rate is None else f"steady_{r.rate:g}_per_s"
        if r.rate is None:
            found += [
                report.Figure(f"capacity_updates_per_s.{broker}.http", r.http_per_s, "updates/s"),
                report.Figure(f"capacity_updates_per_s.{broker}.end_to_end", r.end_to_end_per_s, "updates/s"),
            ]
        found += [
            report.Figure(f"capacity_update_latency_p50_ms.{broker}.{load}", r.p50_ms, "ms"),
            report.Figure(f"capacity_update_latency_p99_ms.{broker}.{load}", r.p99_ms, "ms"),
        ]
    return found


def main(*, quick: bool, output: Path, mqtt_urls: list[str]) -> list[report.Figure]:
    from goldentime.bench.recorder import broker_keys, broker_version

    updates = 500 if quick else 4000
    rows = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as embedded:
        brokers = [(embedded.url, "embedded (amqtt)", "3.1.1")]
        brokers += [(u, label(u, f"{broker_version(u, '5') or 'broker'} at {u}"), "5") for u in mqtt_urls]
        for i, (url, name, protocol) in enumerate(brokers):
            print(f"capacity benchmark: {name}", flush=True)
            for j, rate in enumerate((None, STEADY_RATE)):
                count = updates if rate is None else updates // 4
                database = f"sqlite:///{Path(tmp) / f'cap{i}-{j}.sqlite3'}"
                rows.append(_run(url, name, protocol, database, count, rate))
                print(f"  {rows[-1]}", flush=True)
    lines = [
        "## Capacity API: status updates in, retained MQTT messages out",
        "",
        f"Reproduce with `goldentime bench --only capacity{' --quick' if quick else ''}"
        + "".join(f" --mqtt-url {u}" for u in mqtt_urls if u not in LABELS)
        + (" --mosquitto" if LABELS else "")
        + f"`. {CLIENTS} HTTP clients post {updates:,} `PATCH /hospitals/{{hpid}}/status` updates as fast as they "
        f"are answered (throughput), then {updates // 4:,} at a steady {STEADY_RATE:g} per second (529 centres "
        f"updating every minute is about 9/s), round-robin over {CENTRES} centres, to the API (uvicorn, SQLite "
        "under a temporary directory, all in one process on this 2-core machine); a subscriber on "
        "`ems/hospitals/+/capacity` notes when each update's retained message arrives. Latency: request sent → "
        "message received.",
        "",
        "| broker | load | updates | HTTP errors | published | updates/s (HTTP) | updates/s (end to end) | p50 | p99 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.broker} | {r.load} | {r.updates:,} | {r.errors} | {r.published:,} | "
            f"{r.http_per_s:,.0f} | {r.end_to_end_per_s:,.0f} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms |"
        )
    lines += [
        "",
        "A centre updated again before its previous state reached the broker is published once, with its newest "
        "state (the message is retained state, not a log; the history endpoint keeps every update), so "
        '"published" can be below "updates".',
    ]
    report.write_section(output, "capacity", "\n".join(lines))
    print(f"wrote {output}", flush=True)
    return figures(rows, broker_keys(brokers))
