"""The recorder's buffer on disk, for while the database is unavailable.

A SQLite file of its own (``var/recorder-spool.sqlite3`` by default), bounded in size. A batch the
database refused is committed here (``synchronous=FULL``) before its messages are acknowledged to
the broker, so a recorder that also stops loses nothing: the next one finds the file and sends it
on. Batches leave the spool oldest first, each only once the database has committed it; the
store's unique ``(topic, msg_id)`` key makes a batch sent twice (a crash between the two commits)
harmless. When the spool is full, the recorder stops acknowledging instead and the broker keeps
the messages (its persistent session), which in turn slows the publishers down.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from telemetry.errors import TelemetryError
from telemetry.store import RejectedMessage, StoredMessage

_TIMES = {"ts", "received_at"}


def _encode(rows: Sequence[StoredMessage] | Sequence[RejectedMessage]) -> list[dict[str, Any]]:
    return [{k: v.isoformat() if k in _TIMES else v for k, v in asdict(row).items()} for row in rows]


def _decode(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: datetime.fromisoformat(v) if k in _TIMES else v for k, v in row.items()} for row in rows]


class SpoolError(TelemetryError):
    """The spool file cannot be opened or read (a damaged file, a folder that cannot be written)."""


class Spool:
    """Batches of accepted and refused messages on disk, at most ``max_bytes`` of them."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=1.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "accepted TEXT NOT NULL, refused TEXT NOT NULL, messages INTEGER NOT NULL, bytes INTEGER NOT NULL)"
            )
            self._messages, self._bytes = self._db.execute(
                "SELECT COALESCE(SUM(messages), 0), COALESCE(SUM(bytes), 0) FROM batches"
            ).fetchone()
        except sqlite3.Error as exc:
            raise SpoolError(f"recorder spool {path} cannot be used: {exc}") from exc

    @property
    def waiting(self) -> int:
        """Messages on disk, not yet in the database."""
        return int(self._messages)

    @property
    def bytes(self) -> int:
        return int(self._bytes)

    def add(self, accepted: Sequence[StoredMessage], refused: Sequence[RejectedMessage]) -> bool:
        """Keep a batch on disk; False (nothing kept) when it does not fit in ``max_bytes``."""
        accepted_text, refused_text = json.dumps(_encode(accepted)), json.dumps(_encode(refused))
        size, count = len(accepted_text) + len(refused_text), len(accepted) + len(refused)
        with self._lock:
            if self._bytes + size > self.max_bytes:
                return False
            self._db.execute(
                "INSERT INTO batches (accepted, refused, messages, bytes) VALUES (?, ?, ?, ?)",
                (accepted_text, refused_text, count, size),
            )
            self._messages += count
            self._bytes += size
        return True

    def oldest(self) -> tuple[int, list[StoredMessage], list[RejectedMessage]] | None:
        """The oldest batch kept (its key for :meth:`remove`), or None when the spool is empty."""
        with self._lock:
            row = self._db.execute("SELECT id, accepted, refused FROM batches ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        key, accepted, refused = row
        return (
            key,
            [StoredMessage(**fields) for fields in _decode(json.loads(accepted))],
            [RejectedMessage(**fields) for fields in _decode(json.loads(refused))],
        )

    def remove(self, key: int) -> None:
        """Forget a batch once the database has committed it."""
        with self._lock:
            found = self._db.execute("SELECT messages, bytes FROM batches WHERE id = ?", (key,)).fetchone()
            if found is None:
                return
            self._db.execute("DELETE FROM batches WHERE id = ?", (key,))
            self._messages -= found[0]
            self._bytes -= found[1]

    def close(self) -> None:
        with self._lock:
            self._db.close()
