"""Fault: the database goes away for a few seconds while units stream vitals through the broker. The recorder
keeps the batches on disk (its spool), acknowledges them, and stores every message exactly once when the
database is back. PostgreSQL (with GOLDENTIME_TEST_DATABASE_URL, as in CI) is cut off by a TCP proxy; SQLite
is made unavailable by another connection holding its write lock (a backup or a stuck process)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from telemetry import schemas, topics
from telemetry.client import MqttClient
from telemetry.recorder import run_recorder
from telemetry.spool import Spool
from telemetry.store import messages
from tests.conftest import BrokerUnderTest
from tests.helpers import unique, wait_until
from tests.reliability.proxy import CuttableProxy

UNITS, RATE = 20, 200  # vitals per second from the fleet
#: seconds into the stream when the database goes and when it comes back, and when the stream ends; SQLite's
#: outage is longer than its busy timeout (5 s): a shorter one only delays the writes.
TIMING = {"postgresql": (1.5, 4.5, 6.0), "sqlite": (1.0, 7.5, 8.5)}

Outage = tuple[str, Callable[[], None], Callable[[], None]]  # the URL the recorder uses, cut, restore


@contextmanager
def outage(database_url: str) -> Iterator[Outage]:
    url = sa.make_url(database_url)
    if url.get_backend_name() == "postgresql":
        with CuttableProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
            yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy.cut, \
                proxy.restore  # fmt: skip
        return
    held: list[sqlite3.Connection] = []

    def lock() -> None:
        blocker = sqlite3.connect(str(url.database), isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # nobody else writes (or reads) until it ends
        held.append(blocker)

    def unlock() -> None:
        held.pop().execute("ROLLBACK")

    yield database_url, lock, unlock


def test_a_database_outage_loses_nothing(broker: BrokerUnderTest, database_url: str, tmp_path: Path) -> None:
    fleet, backend = unique("dbout"), sa.make_url(database_url).get_backend_name()
    down_at, up_at, seconds = TIMING[backend]
    with outage(database_url) as (url, cut, restore):
        spool = Spool(tmp_path / "spool.sqlite3", 50_000_000)
        recorder = run_recorder(broker.url, url, client_id=unique("rec"), batch_size=100, flush_interval_s=0.05,
                                protocol=broker.protocol, session_expiry_s=300, spool=spool)  # fmt: skip
        units = [MqttClient(broker.url, f"{fleet}-{i}", protocol=broker.protocol).start() for i in range(UNITS)]
        sent: list[str] = []
        times: dict[str, float] = {}

        def stream() -> None:
            start, k = time.monotonic(), 0
            while (due := k / RATE) < seconds:
                time.sleep(max(0.0, start + due - time.monotonic()))
                if not times.get("cut") and due >= down_at:
                    cut()
                    times["cut"] = time.monotonic()
                if not times.get("restored") and due >= up_at:
                    restore()
                    times["restored"] = time.monotonic()
                payload = schemas.Vitals.new(patient_id=f"P-{k % UNITS:04d}", hr_bpm=60 + k % 90)
                units[k % UNITS].send(topics.Topic(topics.Kind.VITALS, f"{fleet}-{k % UNITS}"), payload)
                sent.append(payload.msg_id)
                k += 1

        publisher = threading.Thread(target=stream)
        publisher.start()
        try:
            publisher.join(60)
            spooled_at_most = 0

            def stored_ids() -> list[str]:
                with recorder.store.engine.connect() as connection:
                    query = sa.select(messages.c.msg_id).where(messages.c.key.startswith(fleet))
                    return list(connection.execute(query).scalars())

            def all_stored() -> bool:  # counted in the database: a message sent again is accepted twice
                nonlocal spooled_at_most
                spooled_at_most = max(spooled_at_most, spool.waiting)
                return recorder.drained() and len(stored_ids()) >= len(sent)

            assert wait_until(all_stored, timeout_s=60, every_s=0.1)
            recovered_s = time.monotonic() - times["restored"]
        finally:
            for unit in units:
                unit.stop()
            recorder.stop()
            spool.close()
        stored = stored_ids()
        recorder.store.close()
    assert len(stored) == len(set(stored)) == len(sent) == int(RATE * seconds), "every vitals stored, once"
    assert set(stored) == set(sent)
    assert recorder.stats.db_errors > 0 and recorder.stats.spooled > 0, "the outage really happened"
    print(f"\nFIGURE database outage ({backend}, {broker.name} broker): "
          f"{len(sent)} sent, {len(stored)} stored, {recorder.stats.spooled} kept on disk during "
          f"{times['restored'] - times['cut']:.1f} s, {recorder.stats.db_errors} failed writes, "
          f"{recorder.stats.accepted - len(stored)} delivered again and stored once; all in the "
          f"database {recovered_s:.1f} s after it came back")  # fmt: skip


@pytest.mark.parametrize("megabytes", [256.0, 0.0])
def test_the_recorder_command_keeps_its_spool_where_the_settings_say(
    megabytes: float, tmp_path: Path, broker: BrokerUnderTest, sqlite_url: str
) -> None:
    """`goldentime recorder` keeps its spool under var/, of the size set; a size of 0 keeps none."""
    from goldentime.services import start_recorder
    from goldentime.settings import Settings

    settings = Settings(var_dir=tmp_path, database_url=sqlite_url, recorder_spool_mb=megabytes,
                        recorder_client_id=unique("rec"))  # fmt: skip
    recorder = start_recorder(settings, broker.url)
    try:
        if megabytes:
            assert recorder.spool is not None
            assert recorder.spool.path == tmp_path / "recorder-spool.sqlite3"
            assert recorder.spool.max_bytes == 256_000_000
        else:
            assert recorder.spool is None
    finally:
        recorder.stop()
