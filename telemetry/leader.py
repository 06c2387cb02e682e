"""Who decides for a region: a lease held in the database, so that a region has one active dispatcher and
any number of hot standbys (DESIGN.md: leadership comes from an existing engine, never from consensus of
our own; issue 26).

A lease is a row of ``dispatch_leases``: the region, its **epoch** (incremented each time the lease changes
hands, in the same statement that hands it over), the holder, and an expiry the holder renews every
``renew_s`` (1 s). How a holder is known to be gone depends on the database:

- **PostgreSQL** (production): the holder also holds a session-level advisory lock
  (``pg_try_advisory_lock``) on a connection of its own, kept open. A holder that dies (SIGKILL, a crash, a
  host whose connection the server sees close) loses the lock with its session, and a standby, polling every
  ``poll_s`` (0.5 s), takes the lease at once. A *frozen* holder (SIGSTOP, a hung host, a network cut the
  server has not noticed) keeps its connection and so its lock, but stops renewing: once its lease is past
  its expiry by the server's clock, a standby ends the holder's sessions (``pg_terminate_backend`` of the
  process recorded in the lease row, only if that process still holds the lock, and of every other session of
  the holder, named by its ``application_name``: a holder frozen in the middle of a write of the decision store
  holds the lease row locked) and takes the lock on its next poll. Time to take over: about ``poll_s`` after a
  crash, ``ttl_s`` + ``poll_s`` after a freeze.
- **SQLite** (the embedded default, one machine): SQLite's own file lock makes the conditional update that
  hands the lease over atomic (a compare-and-set on the epoch). A holder keeps an exclusive ``flock`` on a
  file of its own beside the database (``<db>.leases/<holder>.alive``) for as long as it lives: a standby that
  can lock that file knows the holder is dead and takes over at once; otherwise (a frozen holder keeps its
  lock) it takes over once the lease expired. A process frozen in the middle of a write transaction holds
  SQLite's write lock and stops every writer, the standby included, until it is woken or killed: SQLite is
  not for a region that must survive a hung host.

A holder trusts its lease until ``ttl_s`` after it *sent* its last successful renewal (the monotonic clock,
which runs on while a process is stopped), never longer than the database gives it: a frozen holder that
wakes up finds :meth:`Lease.valid` false before it could publish anything, and stands down. The epoch is the
fencing token: the decision store refuses a write whose epoch is not the lease's (``telemetry.decision_store``),
and advice versions carry it (``dispatch.decision_state.EPOCH_SPAN``), so late advice of a deposed leader is
recognisably older.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from telemetry.errors import TelemetryError, in_one_line
from telemetry.store import make_engine, migrate, normalise_url

log = logging.getLogger(__name__)

#: A lease not renewed for this long may be taken over (a frozen holder's time-out).
LEASE_TTL_S = 5.0
#: The holder renews its lease this often.
RENEW_EVERY_S = 1.0
#: A standby tries to take the lease this often.
POLL_EVERY_S = 0.5
#: First key of the two-key advisory locks (``pg_try_advisory_lock(int, int)``) of GoldenTime's region leases;
#: the second is the region's :func:`lock_key`.
LOCK_CLASS = 0x47544C31  # "GTL1"
#: A region's name: a scenario's (``seoul-central``, ``national:gwangju``) or one given with ``--region``.
REGION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")

#: The database server's clock in seconds since 1970, in PostgreSQL (a lease is timed by one clock for all).
_PG_NOW = "EXTRACT(EPOCH FROM clock_timestamp())::float8"


class LeaseError(TelemetryError):
    """A lease that cannot be used: a region name that cannot be one, a database that cannot hold leases."""


class LeaseLost(LeaseError):
    """This process does not hold the region's lease (any more): it must not decide, publish or store."""


def check_region(region: str) -> str:
    """``region`` if it can name a region's lease (and the dispatcher's client id ``dispatcher-{region}``)."""
    if not REGION_PATTERN.fullmatch(region):
        raise LeaseError(
            f"region {region!r} must be 1-64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
        )
    return region


def lock_key(region: str) -> int:
    """The second key of the region's advisory lock (a 31-bit CRC of its name)."""
    return zlib.crc32(region.encode()) & 0x7FFFFFFF


def application_name(holder: str) -> str:
    """The ``application_name`` of every PostgreSQL session of a lease holder (63 bytes at most)."""
    return f"goldentime {holder}"[:63]


def holder_name() -> str:
    """This process's name as a lease holder: host, process id and a random part (unique across restarts)."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())[:100]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """A region's lease as the database holds it (times in seconds since 1970, the lease's clock)."""

    region: str
    epoch: int
    holder: str
    expires_at: float
    acquired_at: float
    renewed_at: float


def ensure_schema(engine: Engine) -> None:
    """Create or upgrade the telemetry schema (which holds the leases and the decision state). Processes starting
    at once on a new database take turns on PostgreSQL (:data:`telemetry.store.MIGRATION_LOCK`); on SQLite the one
    that loses the race (a locked database) tries again and finds the schema made."""
    for attempt in range(3):
        try:
            migrate(engine)
            return
        except sa.exc.DBAPIError:
            if attempt == 2:
                raise
            log.info("the schema was being created by another process; trying again")
            time.sleep(0.5 + attempt)


class _Backend(Protocol):
    def take(self, holder: str, ttl_s: float) -> int | None: ...

    def renew(self, holder: str, epoch: int, ttl_s: float) -> bool: ...

    def give_up(self, holder: str, epoch: int) -> None: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


class Lease:
    """The lease of one region, as one process holds it or waits for it (see the module docstring).

    :meth:`acquire` waits for it (a standby), :meth:`start_renewing` keeps it, :meth:`valid` says whether this
    process may still act as the region's leader (checked before every batch it publishes), :meth:`release`
    gives it up (a standby then takes over at once)."""

    def __init__(
        self,
        url: str,
        region: str,
        *,
        holder: str | None = None,
        ttl_s: float = LEASE_TTL_S,
        renew_s: float = RENEW_EVERY_S,
        upgrade: bool = True,
    ) -> None:
        self.region = check_region(region)
        if not 0 < renew_s * 2 <= ttl_s:
            raise LeaseError(f"the lease time-out ({ttl_s:g} s) must be at least twice the renewal ({renew_s:g} s)")
        self.holder = holder or holder_name()
        self.ttl_s, self.renew_s = ttl_s, renew_s
        #: The database as this holder uses it (the decision store writes through it too): in PostgreSQL, its
        #: sessions carry the holder's name, so that a standby can end them all if the holder freezes.
        if sa.make_url(normalise_url(url)).get_backend_name() == "postgresql":
            own = {**dead_network_args(ttl_s), "application_name": application_name(self.holder)}
            self.engine = sa.create_engine(normalise_url(url), pool_pre_ping=True, connect_args=own)
        else:
            self.engine = make_engine(url)
        if upgrade:
            ensure_schema(self.engine)
        self._backend: _Backend
        if self.engine.dialect.name == "postgresql":
            self._backend = _Postgres(url, self.region, self.holder, ttl_s)
        elif self.engine.dialect.name == "sqlite":
            self._backend = _Sqlite(self.engine, self.region)
        else:
            raise LeaseError(f"leases need PostgreSQL or SQLite, not {self.engine.dialect.name}")
        self.epoch: int | None = None
        self._valid_until = 0.0  # time.monotonic()
        self._lost = False
        self._lock = threading.Lock()  # the backend's connection is used by one thread at a time
        self._stop_renewing = threading.Event()
        self._renewer: threading.Thread | None = None
        self._failing = False  # the database is failing (logged once per outage)

    # --- taking and keeping ------------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take the lease if it is free (never held, released, its holder dead or past its time-out); True if
        this process holds it now. Database errors propagate."""
        if self.valid():
            return True
        with self._lock:
            started = time.monotonic()
            epoch = self._backend.take(self.holder, self.ttl_s)
            if epoch is None:
                return False
            self.epoch, self._valid_until, self._lost = epoch, started + self.ttl_s, False
        log.info("%s took the lease of region %s (epoch %d)", self.holder, self.region, epoch)
        return True

    def acquire(self, stop: threading.Event | None = None, *, poll_s: float = POLL_EVERY_S) -> bool:
        """Wait until this process holds the lease (True), or ``stop`` is set (False). A database that fails is
        logged once and tried again at each poll."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                if self.try_acquire():
                    self._failing = False
                    return True
                self._failing = False
            except sa.exc.SQLAlchemyError as exc:
                if not self._failing:
                    log.warning(
                        "lease of region %s: the database fails (%s); trying again", self.region, in_one_line(exc)
                    )
                self._failing = True
                with self._lock:
                    self._backend.reset()
            stop.wait(poll_s)
        return False

    def renew(self) -> bool:
        """Renew the lease; False (and the lease is lost) when the database did not, or could not, renew it."""
        epoch = self.epoch
        if epoch is None or self._lost:
            return False
        with self._lock:
            started = time.monotonic()
            try:
                renewed = self._backend.renew(self.holder, epoch, self.ttl_s)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("lease of region %s (epoch %d) not renewed: %s", self.region, epoch, in_one_line(exc))
                self._backend.reset()
                renewed = False
            if renewed and not self._lost and self.epoch == epoch:
                self._valid_until = started + self.ttl_s
                return True
        # Not renewed: the lease may still be ours until it expires (a short database outage), but a standby may
        # have taken it (the row says another epoch) or may take it from now on; stand down at once.
        self.lose(f"not renewed (epoch {epoch})")
        return False

    def start_renewing(self, on_lost: Callable[[], None] | None = None) -> None:
        """Renew every ``renew_s`` on a thread of its own until the lease is released or lost (then ``on_lost``)."""
        self._stop_renewing.clear()

        def run() -> None:
            while not self._stop_renewing.wait(self.renew_s):
                if not self.renew():
                    if on_lost is not None:
                        on_lost()
                    return

        self._renewer = threading.Thread(target=run, name=f"lease-{self.region}", daemon=True)
        self._renewer.start()

    def valid(self) -> bool:
        """This process holds the lease and may act on it now (not lost, renewed within its time-out)."""
        return self.epoch is not None and not self._lost and time.monotonic() < self._valid_until

    def check(self) -> int:
        """The epoch of the lease this process holds; raises :class:`LeaseLost` when it holds none."""
        epoch = self.epoch
        if epoch is None or not self.valid():
            raise LeaseLost(f"this process does not hold the lease of region {self.region}")
        return epoch

    def lose(self, why: str) -> None:
        """Stop trusting the lease (a renewal failed, or the decision store found a newer epoch)."""
        if not self._lost and self.epoch is not None:
            log.warning("%s lost the lease of region %s: %s", self.holder, self.region, why)
        self._lost = True
        self._valid_until = 0.0

    def release(self) -> None:
        """Give the lease up (a clean stop): a standby takes it on its next poll. Stops the renewals."""
        self._stop_renewing.set()
        renewer, self._renewer = self._renewer, None
        if renewer is not None and renewer is not threading.current_thread():
            renewer.join(self.ttl_s + 5)
        epoch, held = self.epoch, self.valid()
        self.epoch, self._lost, self._valid_until = None, False, 0.0
        if epoch is None:
            return
        with self._lock:
            try:
                if held:
                    self._backend.give_up(self.holder, epoch)
            except sa.exc.SQLAlchemyError as exc:
                log.warning(
                    "lease of region %s not given up cleanly (%s): it expires by itself", self.region, in_one_line(exc)
                )
            finally:
                self._backend.reset()

    def close(self) -> None:
        self.release()
        with self._lock:
            self._backend.close()
        self.engine.dispose()

    def current(self) -> LeaseRow | None:
        """The region's lease as the database holds it now."""
        query = sa.text(
            "SELECT region, epoch, holder, expires_at, acquired_at, renewed_at FROM dispatch_leases WHERE region = :r"
        )
        with self.engine.connect() as connection:
            row = connection.execute(query, {"r": self.region}).one_or_none()
        return None if row is None else LeaseRow(*row)


def dead_network_args(ttl_s: float) -> dict[str, int]:
    """libpq settings that turn a dead network (a cut cable, a host powered off: no reset, packets dropped) into
    an error within the lease's time-out, not the minutes of the TCP defaults: for the lease's own session and
    for the decision state written through :attr:`Lease.engine` (a write hung past the lease would otherwise
    outlive it)."""
    return {
        "connect_timeout": max(2, int(ttl_s)),
        "keepalives": 1,
        "keepalives_idle": max(1, int(ttl_s / 2)),
        "keepalives_interval": 1,
        "keepalives_count": 2,
        "tcp_user_timeout": int(ttl_s * 1000),
    }


# --- PostgreSQL: an advisory lock on a connection held open, and the row ---------------------------------------


class _Postgres:
    def __init__(self, url: str, region: str, holder: str, ttl_s: float) -> None:
        self.region, self.key, self.lock_timeout_ms = region, lock_key(region), int(ttl_s * 1000 / 2)
        # A connection of its own (never from a pool): the lock lives as long as this session.
        self._engine = sa.create_engine(
            normalise_url(url),
            poolclass=NullPool,
            connect_args={**dead_network_args(ttl_s), "application_name": application_name(holder)},
        )
        self._connection: Connection | None = None

    def _session(self) -> Connection:
        if self._connection is None:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            # never wait long for a row lock: a renewal that cannot be made in time is a lost lease
            connection.exec_driver_sql(f"SET lock_timeout = {self.lock_timeout_ms}")
            self._connection = connection
        return self._connection

    def _keys(self) -> dict[str, Any]:
        return {"c": LOCK_CLASS, "k": self.key, "r": self.region}

    def take(self, holder: str, ttl_s: float) -> int | None:
        session = self._session()
        locked = session.execute(sa.text("SELECT pg_try_advisory_lock(:c, :k)"), self._keys()).scalar_one()
        if not locked:
            self._fence_frozen_holder(session)
            return None
        try:
            # Ours alone now (the lock): hand the lease over and count the epoch in one statement.
            epoch = session.execute(
                sa.text(
                    f"INSERT INTO dispatch_leases AS l (region, epoch, holder, expires_at, acquired_at, renewed_at, "
                    f"backend_pid) VALUES (:r, 1, :h, {_PG_NOW} + :ttl, {_PG_NOW}, {_PG_NOW}, pg_backend_pid()) "
                    "ON CONFLICT (region) DO UPDATE SET epoch = l.epoch + 1, holder = EXCLUDED.holder, "
                    "expires_at = EXCLUDED.expires_at, acquired_at = EXCLUDED.acquired_at, "
                    "renewed_at = EXCLUDED.renewed_at, backend_pid = EXCLUDED.backend_pid RETURNING l.epoch"
                ),
                {**self._keys(), "h": holder, "ttl": ttl_s},
            ).scalar_one()
        except BaseException:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                session.execute(sa.text("SELECT pg_advisory_unlock(:c, :k)"), self._keys())
            raise
        return int(epoch)

    def _fence_frozen_holder(self, session: Connection) -> None:
        """The lock is held: if the lease expired, its holder is frozen or cut off but its session lives on;
        end that session (only the one the lease row names, and only while it holds the lock) and the holder's
        other sessions (one may hold the lease row locked), so that the next poll takes the lease."""
        stale = session.execute(
            sa.text(
                "SELECT a.pid, l.holder, l.epoch FROM dispatch_leases l JOIN pg_locks a ON a.pid = l.backend_pid "
                f"WHERE l.region = :r AND l.expires_at < {_PG_NOW} AND a.locktype = 'advisory' AND a.granted "
                "AND a.classid = :c AND a.objid = :k AND a.objsubid = 2 "
                "AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            self._keys(),
        ).one_or_none()
        if stale is None:
            return
        pid, holder, epoch = stale
        log.warning("lease of region %s (epoch %d) expired but %s still holds its lock: ending its sessions (pid %d)",
                    self.region, epoch, holder, pid)  # fmt: skip
        session.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND (pid = :pid OR application_name = :app) AND pid <> pg_backend_pid()"
            ),
            {"pid": pid, "app": application_name(holder)},
        )

    def renew(self, holder: str, epoch: int, ttl_s: float) -> bool:
        renewed = (
            self._session()
            .execute(
                sa.text(
                    f"UPDATE dispatch_leases SET expires_at = {_PG_NOW} + :ttl, renewed_at = {_PG_NOW} "
                    "WHERE region = :r AND epoch = :e AND holder = :h"
                ),
                {"r": self.region, "e": epoch, "h": holder, "ttl": ttl_s},
            )
            .rowcount
        )
        return bool(renewed == 1)

    def give_up(self, holder: str, epoch: int) -> None:
        session = self._session()
        session.execute(
            sa.text("UPDATE dispatch_leases SET expires_at = 0 WHERE region = :r AND epoch = :e AND holder = :h"),
            {"r": self.region, "e": epoch, "h": holder},
        )
        session.execute(sa.text("SELECT pg_advisory_unlock(:c, :k)"), self._keys())

    def reset(self) -> None:
        """Drop the session (and with it the lock, if it still held it): the next call opens a new one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.invalidate()
                connection.close()

    def close(self) -> None:
        self.reset()
        self._engine.dispose()


# --- SQLite: a compare-and-set under SQLite's file lock, and a liveness file lock per holder --------------------


class _Sqlite:
    def __init__(self, engine: Engine, region: str) -> None:
        self.engine, self.region = engine, region
        database = engine.url.database
        if not database or database == ":memory:":
            raise LeaseError("a SQLite lease needs a database file that every process of the region opens")
        self.directory = Path(database).resolve().parent / f"{Path(database).name}.leases"
        self._alive: IO[bytes] | None = None

    def _alive_file(self, holder: str) -> Path:
        return self.directory / f"{holder}.alive"

    def _hold_alive(self, holder: str) -> None:
        """Lock this process's own liveness file for as long as it lives (the kernel lets go when it dies)."""
        if self._alive is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        handle = self._alive_file(holder).open("ab")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._alive = handle

    def _dead(self, holder: str) -> bool:
        """The holder's process is gone: its liveness file is there and no one holds its lock. A holder whose
        file is missing (another host?) is not known to be dead."""
        path = self._alive_file(holder)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return False
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # alive (perhaps frozen)
            path.unlink(missing_ok=True)
            return True

    def take(self, holder: str, ttl_s: float) -> int | None:
        self._hold_alive(holder)
        now = time.time()
        values = {"r": self.region, "h": holder, "exp": now + ttl_s, "now": now}
        with self.engine.begin() as connection:
            row = connection.execute(
                sa.text("SELECT epoch, holder, expires_at FROM dispatch_leases WHERE region = :r"), values
            ).one_or_none()
            if row is None:
                inserted = connection.execute(
                    sa.text(
                        "INSERT INTO dispatch_leases (region, epoch, holder, expires_at, acquired_at, renewed_at) "
                        "VALUES (:r, 1, :h, :exp, :now, :now) ON CONFLICT (region) DO NOTHING"
                    ),
                    values,
                ).rowcount
                return 1 if inserted == 1 else None
        seen_epoch, seen_holder, expires_at = row
        if not (expires_at < now or seen_holder == holder or self._dead(seen_holder)):
            return None
        with self.engine.begin() as connection:
            # Compare-and-set: only if nobody took it since it was read; the epoch counted in the same statement.
            epoch = connection.execute(
                sa.text(
                    "UPDATE dispatch_leases SET epoch = epoch + 1, holder = :h, expires_at = :exp, acquired_at = :now, "
                    "renewed_at = :now WHERE region = :r AND epoch = :seen AND holder = :seen_holder RETURNING epoch"
                ),
                {**values, "seen": seen_epoch, "seen_holder": seen_holder},
            ).scalar_one_or_none()
        return None if epoch is None else int(epoch)

    def renew(self, holder: str, epoch: int, ttl_s: float) -> bool:
        now = time.time()
        with self.engine.begin() as connection:
            renewed = connection.execute(
                sa.text(
                    "UPDATE dispatch_leases SET expires_at = :exp, renewed_at = :now "
                    "WHERE region = :r AND epoch = :e AND holder = :h"
                ),
                {"r": self.region, "e": epoch, "h": holder, "exp": now + ttl_s, "now": now},
            ).rowcount
        return bool(renewed == 1)

    def give_up(self, holder: str, epoch: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE dispatch_leases SET expires_at = 0 WHERE region = :r AND epoch = :e AND holder = :h"),
                {"r": self.region, "e": epoch, "h": holder},
            )

    def reset(self) -> None:
        pass  # pooled connections; the liveness lock stays for the life of the process

    def close(self) -> None:
        alive, self._alive = self._alive, None
        if alive is not None:
            Path(alive.name).unlink(missing_ok=True)
            alive.close()
