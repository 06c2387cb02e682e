"""The recorder's spool: batches kept on disk while the database is unavailable (``telemetry.spool``), and the
recorder using it: acknowledged once on disk, sent on oldest first when the database is back, bounded."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from telemetry import schemas
from telemetry.client import Message
from telemetry.recorder import Recorder
from telemetry.spool import Spool
from telemetry.store import RejectedMessage, StoredMessage, TelemetryStore, messages
from tests.helpers import wait_until
from tests.telemetry.test_recorder import OfflineClient


class Outage(TelemetryStore):
    """A store whose database is away while ``down`` is set."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.down = threading.Event()
        self.refused = 0

    def write(self, accepted: Sequence[StoredMessage], refused: Sequence[RejectedMessage]) -> None:
        if self.down.is_set():
            self.refused += 1
            raise sa.exc.OperationalError("INSERT", {}, Exception("connection refused"))
        super().write(accepted, refused)


def stored(k: int, unit: str = "u-1") -> StoredMessage:
    when = datetime(2026, 11, 25, 7, 0, k % 60, 1000 * k, tzinfo=UTC)
    return StoredMessage(f"ems/units/{unit}/vitals", f"m{k:06d}", "vitals", unit, when, when, {"hr_bpm": 60 + k % 90})


def vitals(mid: int, unit: str = "u-1") -> Message:
    payload = schemas.encode(schemas.Vitals.new(patient_id="P-0001", hr_bpm=40 + mid % 150))
    return Message(f"ems/units/{unit}/vitals", payload, qos=1, retained=False, mid=mid)


def stored_ids(store: TelemetryStore) -> list[str]:
    with store.engine.connect() as connection:
        return list(connection.execute(sa.select(messages.c.msg_id).order_by(messages.c.id)).scalars())


# --- the spool alone ----------------------------------------------------------------------------------------


def test_batches_come_back_whole_oldest_first_and_survive_a_restart(tmp_path: Path) -> None:
    refused = RejectedMessage(datetime(2026, 11, 25, tzinfo=UTC), "recorder", "ems/x", "bad", "{", 1)
    spool = Spool(tmp_path / "spool.sqlite3", 10_000_000)
    assert spool.add([stored(1), stored(2)], [refused]) and spool.add([stored(3)], [])
    assert spool.waiting == 4 and spool.bytes > 0
    spool.close()
    again = Spool(tmp_path / "spool.sqlite3", 10_000_000)  # a recorder that stopped during the outage
    assert again.waiting == 4
    first = again.oldest()
    assert first is not None and first[1] == [stored(1), stored(2)] and first[2] == [refused]
    again.remove(first[0])
    again.remove(first[0])  # twice: nothing more goes
    second = again.oldest()
    assert second is not None and second[1] == [stored(3)] and again.waiting == 1
    again.remove(second[0])
    assert again.oldest() is None and again.waiting == 0 and again.bytes == 0


def test_a_batch_that_does_not_fit_is_not_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", 2_000)
    kept = 0
    while spool.add([stored(kept)], []):
        kept += 1
    assert 0 < kept < 20 and spool.bytes <= 2_000 and spool.waiting == kept
    spool.remove(spool.oldest()[0])  # type: ignore[index]
    assert spool.add([stored(99)], [])  # room again


# --- the recorder with a spool ------------------------------------------------------------------------------


def test_during_an_outage_batches_go_to_disk_are_acknowledged_and_reach_the_database_in_order(
    tmp_path: Path, sqlite_url: str
) -> None:
    store = Outage(TelemetryStore.open(sqlite_url).engine)
    client, spool = OfflineClient(), Spool(tmp_path / "spool.sqlite3", 50_000_000)
    recorder = Recorder(client, store, flush_interval_s=0.01, batch_size=20, spool=spool).start()
    try:
        store.down.set()
        for mid in range(1, 301):
            recorder.handle(vitals(mid))
        assert wait_until(lambda: len(client.acked) == 300, timeout_s=15), "acknowledged once on disk"
        assert spool.waiting == 300 and store.count() == 0
        store.down.clear()
        for mid in range(301, 351):  # arrive after the database is back: stored after the spooled ones
            recorder.handle(vitals(mid))
        assert wait_until(recorder.drained, timeout_s=15)
    finally:
        recorder.stop()
    assert sorted(client.acked) == list(range(1, 351))
    assert store.count(kind="vitals") == 350 and spool.waiting == 0
    assert recorder.stats.spooled >= 300 and recorder.stats.unspooled == recorder.stats.spooled
    assert recorder.stats.accepted == 350
    hr = [row["hr_bpm"] for row in _payloads(store)]
    assert hr == [40 + mid % 150 for mid in range(1, 351)], "oldest first: nothing overtakes the spool"
    assert store.refused < 30, "the database is retried with back-off, not once per batch"


def test_a_recorder_stopped_during_an_outage_leaves_its_batches_to_the_next(tmp_path: Path, sqlite_url: str) -> None:
    store = Outage(TelemetryStore.open(sqlite_url).engine)
    store.down.set()
    client = OfflineClient()
    recorder = Recorder(client, store, flush_interval_s=0.01, spool=Spool(tmp_path / "spool.sqlite3", 10**8)).start()
    for mid in range(1, 101):
        recorder.handle(vitals(mid))
    assert wait_until(lambda: len(client.acked) == 100)
    recorder.stop()
    assert recorder.spool is not None
    recorder.spool.close()
    store.down.clear()
    spool = Spool(tmp_path / "spool.sqlite3", 10**8)
    assert spool.waiting == 100
    following = Recorder(OfflineClient(), store, flush_interval_s=0.01, spool=spool).start()
    try:
        assert wait_until(following.drained, timeout_s=15), "sent on while quiet, without a new message"
    finally:
        following.stop()
    assert store.count(kind="vitals") == 100


def test_when_the_spool_is_full_messages_wait_unacknowledged(tmp_path: Path, sqlite_url: str) -> None:
    store = Outage(TelemetryStore.open(sqlite_url).engine)
    store.down.set()
    client, spool = OfflineClient(), Spool(tmp_path / "spool.sqlite3", 3_000)
    recorder = Recorder(client, store, flush_interval_s=0.01, batch_size=1, spool=spool).start()
    try:
        for mid in range(1, 41):
            recorder.handle(vitals(mid))
        assert wait_until(lambda: recorder.stats.spooled > 0 and store.refused > recorder.stats.spooled + 2)
        held = 40 - len(client.acked)
        assert held > 0 and spool.bytes <= 3_000, "past its size the spool keeps nothing; the broker keeps them"
        store.down.clear()
        assert wait_until(recorder.drained, timeout_s=20)
    finally:
        recorder.stop()
    assert sorted(client.acked) == list(range(1, 41)) and store.count(kind="vitals") == 40


def _payloads(store: TelemetryStore) -> list[dict[str, int]]:
    with store.engine.connect() as connection:
        return list(connection.execute(sa.select(messages.c.payload).order_by(messages.c.id)).scalars())
