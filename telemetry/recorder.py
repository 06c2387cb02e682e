"""The recorder: every message on ``ems/#`` goes to SQL, exactly once.

- Each message is validated against the contract (topic and payload schema).
- Accepted messages are written in batches (one transaction per batch); a QoS 1 message is
  acknowledged to the broker only after its batch is committed, so a crash loses nothing:
  the broker redelivers, and the unique ``(topic, msg_id)`` key stores it once.
- A refused message is published to ``ems/rejected/{source}`` with the reason and stored in
  the rejected table. A refused message that was itself a rejection report is stored but not
  re-published, so two consumers can never bounce reports back and forth.
- A database error does not stop the recorder. With a spool (:mod:`telemetry.spool`, on by
  default in ``goldentime recorder``), the batch is kept on disk and acknowledged, and the
  spool goes to the database, oldest first, as soon as a retry (with back-off) succeeds;
  without one, or when the spool is full, the batch is retried and its messages stay
  unacknowledged (the broker keeps them) until it is stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from telemetry import schemas, topics
from telemetry.client import Message, MqttClient
from telemetry.spool import Spool
from telemetry.store import RejectedMessage, StoredMessage, TelemetryStore

log = logging.getLogger(__name__)


@dataclass
class RecorderStats:
    received: int = 0
    stored_batches: int = 0
    accepted: int = 0
    rejected: int = 0
    cleared: int = 0
    db_errors: int = 0
    spooled: int = 0  # messages kept on disk while the database was unavailable
    unspooled: int = 0  # of those, sent on to the database


@dataclass(frozen=True, slots=True)
class _Item:
    message: Message
    accepted: StoredMessage | None = None
    refused: RejectedMessage | None = None


BatchHook = Callable[[list[StoredMessage], float], None]
#: Back-off between attempts at a database that failed: doubling from the first to the second.
RETRY_MIN_S, RETRY_MAX_S = 0.1, 5.0


@dataclass
class Recorder:
    """Subscribe ``client`` to ``ems/#`` and write to ``store``. ``source`` names this
    consumer in ``ems/rejected/{source}``."""

    client: MqttClient
    store: TelemetryStore
    source: str = "recorder"
    batch_size: int = 500
    flush_interval_s: float = 0.2
    max_pending: int = 50_000
    #: Called after each committed batch with its accepted messages and the commit time
    #: (``time.time()``); the benchmarks use it to measure publish-to-stored latency.
    on_batch_stored: BatchHook | None = None
    #: Where batches wait while the database is unavailable; None: they wait unacknowledged.
    spool: Spool | None = None
    stats: RecorderStats = field(default_factory=RecorderStats)

    def __post_init__(self) -> None:
        topics.check_id(self.source, what="recorder source")
        self._rejected_topic = topics.build(topics.Kind.REJECTED, self.source)
        self._pending: queue.Queue[_Item] = queue.Queue(self.max_pending)
        self._stopping = threading.Event()
        self._writer: threading.Thread | None = None
        self._retry_at = 0.0  # time.monotonic() of the next attempt at a database that failed
        self._retry_delay = RETRY_MIN_S
        self.client.on_message = self.handle

    # --- lifecycle -------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> Recorder:
        self._stopping.clear()
        self._writer = threading.Thread(target=self._write_loop, name=f"{self.source}-writer", daemon=True)
        self._writer.start()
        self.client.subscribe(topics.ALL, qos=1)
        self.client.start(timeout_s)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking messages, store and acknowledge what was taken, then disconnect."""
        self._stopping.set()
        if self._writer is not None:
            self._writer.join(timeout_s)
            self._writer = None
        self.client.stop()

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drained(self) -> bool:
        """True when every message taken so far is in the database."""
        return self._pending.unfinished_tasks == 0 and (self.spool is None or self.spool.waiting == 0)

    # --- receiving (paho's thread) ---------------------------------------------------

    def handle(self, message: Message) -> None:
        """Validate one message and queue it for the writer. Blocks when the writer is
        ``max_pending`` messages behind, which slows the broker down instead of losing data."""
        if self._stopping.is_set():
            return  # not acknowledged: the broker redelivers it to the next session
        self.stats.received += 1
        received_at = datetime.now(UTC)
        if not message.payload:
            # An empty payload clears a retained message; it carries nothing to store.
            self.stats.cleared += 1
            self.client.ack(message)
            return
        try:
            topic = topics.parse(message.topic)
            payload = schemas.decode(topic.kind, message.payload)
        except (topics.TopicError, schemas.PayloadError) as exc:
            loggable = exc.loggable if isinstance(exc, schemas.PayloadError) else str(exc)
            self._pending.put(_Item(message, refused=self._refuse(message, str(exc), received_at, loggable)))
            return
        stored = StoredMessage(
            topic=message.topic,
            msg_id=payload.msg_id,
            kind=topic.kind.value,
            key=topic.key,
            ts=payload.ts,
            received_at=received_at,
            payload=payload.model_dump(mode="json", by_alias=True),
        )
        self._pending.put(_Item(message, accepted=stored))

    def _refuse(self, message: Message, reason: str, received_at: datetime, loggable: str) -> RejectedMessage:
        """Report a refused message; the log line names the fields, never their values (patient data)."""
        log.warning("refused message on %s: %s", message.topic[:200], loggable)
        report = schemas.Rejected.of(message.topic, message.payload, reason)
        if not message.topic.startswith(f"{topics.ROOT}/rejected/"):
            self.client.publish(self._rejected_topic, schemas.encode(report), qos=1)
        return RejectedMessage(
            received_at=received_at,
            source=self.source,
            topic=report.topic,
            reason=report.reason,
            payload_excerpt=report.payload_excerpt,
            payload_bytes=report.payload_bytes,
        )

    # --- writing (the writer thread) -------------------------------------------------

    def _take_batch(self) -> list[_Item]:
        """Wait for one message, then take whatever else is already waiting (up to
        ``batch_size``): batches grow under load and latency stays low when it is quiet.
        This also keeps a broker that limits unacknowledged messages per client (Mosquitto:
        ``max_inflight_messages``, 20 by default) from stalling on our delayed acks."""
        try:
            batch = [self._pending.get(timeout=self.flush_interval_s)]
        except queue.Empty:
            return []
        while len(batch) < self.batch_size:
            try:
                batch.append(self._pending.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write_loop(self) -> None:
        while not (self._stopping.is_set() and self._pending.empty()):
            batch = self._take_batch()
            if batch:
                self._store(batch)
            elif self.spool is not None and self.spool.waiting:
                self._drain()  # quiet: send the spool on when the database is back

    def _store(self, batch: list[_Item]) -> None:
        """Write a batch to the database, or to the spool, or wait for either; then acknowledge it."""
        accepted = [item.accepted for item in batch if item.accepted is not None]
        refused = [item.refused for item in batch if item.refused is not None]
        while True:
            if self._drain():  # the spool first: nothing overtakes what waits on disk
                try:
                    self.store.write(accepted, refused)
                    self._stored(accepted, refused)
                    break
                except SQLAlchemyError as exc:
                    self._failed(exc, len(batch))
            if self.spool is not None and self.spool.add(accepted, refused):
                self.stats.spooled += len(batch)
                break
            time.sleep(max(0.0, self._retry_at - time.monotonic()))  # no spool, or it is full: hold the batch
        for item in batch:
            self.client.ack(item.message)
            self._pending.task_done()

    def _drain(self) -> bool:
        """Send spooled batches to the database, oldest first. True once the spool is empty; False while the
        database still fails or it is not yet time to try it again."""
        if self.spool is None or not self.spool.waiting:
            return True
        if time.monotonic() < self._retry_at:
            return False
        while (oldest := self.spool.oldest()) is not None:
            key, accepted, refused = oldest
            try:
                self.store.write(accepted, refused)
            except SQLAlchemyError as exc:
                self._failed(exc, len(accepted) + len(refused))
                return False
            self.spool.remove(key)
            self.stats.unspooled += len(accepted) + len(refused)
            self._stored(accepted, refused)
        log.warning("database back: every message kept on disk while it was away is stored")
        return True

    def _stored(self, accepted: list[StoredMessage], refused: list[RejectedMessage]) -> None:
        committed_at = time.time()
        self._retry_delay = RETRY_MIN_S
        self.stats.stored_batches += 1
        self.stats.accepted += len(accepted)
        self.stats.rejected += len(refused)
        if self.on_batch_stored is not None:
            self.on_batch_stored(accepted, committed_at)

    def _failed(self, exc: SQLAlchemyError, count: int) -> None:
        self.stats.db_errors += 1
        self._retry_at = time.monotonic() + self._retry_delay
        where = "kept on disk while the spool has room" if self.spool is not None else "held unacknowledged"
        log.error("storing a batch of %d failed (%s), next try in %.1f s; messages are %s",
                  count, type(exc).__name__, self._retry_delay, where)  # fmt: skip
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)


def run_recorder(
    mqtt_url: str,
    database_url: str,
    *,
    client_id: str,
    batch_size: int,
    flush_interval_s: float,
    keepalive_s: int = 30,
    max_inflight: int = 20_000,
    protocol: str | None = "3.1.1",
    session_expiry_s: int = 7 * 24 * 3600,
    spool: Spool | None = None,
) -> Recorder:
    """Build and start a recorder with a persistent session (messages published while it is
    down are kept by the broker and stored when it comes back) and ``spool`` for database outages."""
    client = MqttClient(
        mqtt_url,
        client_id,
        clean_session=False,
        manual_ack=True,
        keepalive_s=keepalive_s,
        max_inflight=max_inflight,
        protocol=protocol,
        session_expiry_s=session_expiry_s,
    )
    store = TelemetryStore.open(database_url)
    return Recorder(client, store, batch_size=batch_size, flush_interval_s=flush_interval_s, spool=spool).start()
