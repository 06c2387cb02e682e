"""Beds of border centres, reserved in SQL so two regions' dispatchers never promise the same last bed.

Each region (시도) has one active dispatcher; a centre near a border can be a candidate for two of them.
Both know the centre's last capacity report (its free ER beds) and their own inbound patients, not the
other's. Before advising a patient to a border centre, a dispatcher reserves a bed here; a refusal means
the other region took it, and the patient is planned again without that bed.

The ledger, per centre: the newest capacity report (free beds, report time) and the reservations held
against it. A bed can be reserved while the live reservations are fewer than the report's free beds.

* **Reserve** is idempotent per patient: a re-plan that keeps the destination refreshes the reservation
  and takes no second bed; a patient moved to another centre gives up the first one when the second is
  reserved (a patient holds at most one bed per region, keyed by region and patient id).
* **Release** when the patient is diverted, declined or handed to another centre: the bed is free at
  once. On **arrival** the bed stays taken until a capacity report made after the arrival (that report
  counts the patient: its free figure already dropped), or ``arrived_hold_s`` at the latest.
* **Rebase** on a new capacity report: a report newer than the stored one replaces the free count; an
  older one is ignored. ``reserve`` carries the caller's report too, so whichever dispatcher saw the
  newer report moves the base forward.
* **Expiry**: a reservation lives ``ttl_s`` from its last reserve or :meth:`BedLedger.refresh`; a
  dispatcher that died (and whose standby never took over) holds no bed for longer than that.
* **Leader epochs** fence a deposed leader: every write names its region and leader epoch, the ledger
  remembers the highest epoch per region, and a write with a lower one raises
  :class:`StaleLeaderError` instead of touching any reservation. The reservation records the epoch
  that last reserved or refreshed it (a new leader takes its patients over by reserving or refreshing).

Why this is safe under concurrency (the race is two regions' ``reserve`` on the same centre at once):

* PostgreSQL, READ COMMITTED (forced on the ledger's connections). ``reserve`` first upserts the
  centre's row (``INSERT .. ON CONFLICT (hpid) DO UPDATE``, which always updates, so it always takes
  the row lock, also when the stored report is newer); a second reserver of the same centre blocks
  there until the first commits. Only then does it count the reservations, in a *new statement*, and
  READ COMMITTED gives each statement a fresh snapshot, so the count sees the first one's committed
  bed. The lock and the count must be two statements: a single ``INSERT .. SELECT .. WHERE (SELECT
  count(*) ..) < free`` (even with ``FOR UPDATE`` in a CTE) evaluates its count in the snapshot taken
  before it waited for the lock, and lets both in. Everything that adds a reservation to a centre
  (a new one, a move) holds that centre's row lock; what takes one away (release, expiry, a move
  elsewhere, a report counting an arrival) needs none, because a count that misses a removal is only
  conservative. A refresh racing with another region's sweep of expired reservations is settled by
  the row lock on the reservation itself (the sweep re-checks the expiry of the refreshed row, the
  refresh finds a swept row gone). No SERIALIZABLE, no advisory lock: a row lock per centre serialises
  exactly the transactions that compete (the same centre), and nothing else. Locks are taken region
  row -> centre row -> reservations; a deadlock (a sweep and a refresh meeting on two reservations in
  opposite orders, possible only when dispatchers' clocks disagree) or a serialisation failure is
  retried a few times.
* SQLite (the embedded default, one file, several processes): every write transaction starts with
  ``BEGIN IMMEDIATE``, which takes the database's write lock before the first statement, so writers
  are serialised and the count is always current. (``reserve`` writes first anyway; IMMEDIATE keeps
  it safe should a read ever come first: a deferred transaction that read in WAL mode cannot wait
  for the lock, it fails.) Waits follow the store's ``busy_timeout`` (5 s).

How a region's dispatcher (the shell around the pure engine, never the engine) uses it: ``rebase`` on
every capacity report of a border centre with a known ER count; before publishing advice that promises
a bed at a border centre, ``reserve`` (refused: re-plan with that bed counted as taken, and reserve the
new destination); ``release`` on a decline, a refusal, a diversion or a new non-border destination, and
with ``arrived_at`` on arrival; ``refresh`` its patients' beds every ``ttl_s / 5`` and at once on
taking the lease over; :class:`StaleLeaderError` means the lease is lost: stop deciding.

Times are UTC; the clock is the caller's (injected; dispatchers' clocks are assumed NTP-synchronised
to well within ``ttl_s``). Clock skew between dispatchers only moves *when* a reservation counts as
expired, never lets two reservations take one bed (see the sweep above).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from telemetry.errors import TelemetryError, in_one_line
from telemetry.schemas import utc_now
from telemetry.store import (
    bed_ledger_centres,
    bed_ledger_regions,
    bed_ledger_reservations,
    dialect_insert,
    make_engine,
    migrate,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a reservation lives without a reserve or refresh of its owner. Longer than a leader's
#: failover (lease time-out plus the standby's start), shorter than a journey to the centre.
DEFAULT_TTL_S = 300.0
#: How long an arrived patient's bed counts when the centre sends no report after the arrival.
DEFAULT_ARRIVED_HOLD_S = 1800.0
#: Transactions retried on a PostgreSQL deadlock or serialisation failure.
_ATTEMPTS = 5
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})
#: Execution option read by the SQLite ``begin`` hook: IMMEDIATE for writes, DEFERRED for reads.
_SQLITE_BEGIN = "goldentime_sqlite_begin"
#: Patient ids per refresh statement.
_CHUNK = 500

#: The ledger's tables (declared with the rest of the telemetry schema, :data:`telemetry.store.metadata`): the
#: newest capacity report per centre, one bed per (region, patient), the highest leader epoch seen per region.
centres, reservations, regions = bed_ledger_centres, bed_ledger_reservations, bed_ledger_regions


class BedLedgerError(TelemetryError):
    """Base of the bed ledger's errors."""


class LedgerInputError(BedLedgerError, ValueError):
    """An argument the ledger cannot store (an empty id, a negative bed count, a naive time...)."""


class LedgerUnavailable(BedLedgerError):
    """The ledger's database cannot be reached or stayed locked: nothing was reserved or released."""


class StaleLeaderError(BedLedgerError):
    """A write from a leader whose epoch is older than one the ledger has seen for its region: that
    leader was deposed and must stop deciding."""

    def __init__(self, region: str, epoch: int, current: int) -> None:
        super().__init__(f"region {region}: leader epoch {epoch} is stale, the ledger has seen epoch {current}")
        self.region, self.epoch, self.current = region, epoch, current


@dataclass(frozen=True, slots=True)
class Reservation:
    region: str
    patient_id: str
    hpid: str
    epoch: int
    reserved_at: datetime
    expires_at: datetime
    arrived_at: datetime | None


@dataclass(frozen=True, slots=True)
class CentreBeds:
    """A centre as the ledger sees it: the newest report and the beds held against it."""

    hpid: str
    free_beds: int
    report_at: datetime
    held: int

    @property
    def remaining(self) -> int:
        """Beds still to be had (0 when a report fell below what is already held)."""
        return max(self.free_beds - self.held, 0)


class BedLedger:
    """Reservations of the beds of border centres, in the database of ``url`` (SQLite or PostgreSQL).

    ``upgrade`` runs the telemetry migrations (the ledger's tables are revision 0004 of the
    recorder's chain) under a PostgreSQL advisory lock; ``clock`` gives the current UTC time.
    """

    def __init__(
        self,
        url: str,
        *,
        upgrade: bool = True,
        ttl_s: float = DEFAULT_TTL_S,
        arrived_hold_s: float = DEFAULT_ARRIVED_HOLD_S,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not 0 < ttl_s <= 86_400 or not 0 < arrived_hold_s <= 86_400:
            raise LedgerInputError(f"ttl_s and arrived_hold_s must be in (0, 86400] s, not {ttl_s}, {arrived_hold_s}")
        self.ttl = timedelta(seconds=ttl_s)
        self.arrived_hold = timedelta(seconds=arrived_hold_s)
        self.clock = clock
        try:
            self._where = make_url(url).render_as_string(hide_password=True)
            engine = make_engine(url)
        except sa.exc.ArgumentError as exc:
            raise LedgerInputError(f"bed ledger: {url!r} is not a database URL SQLAlchemy can open: {exc}") from exc
        self._sqlite = engine.dialect.name == "sqlite"
        if self._sqlite:
            _sqlite_explicit_transactions(engine)
            self.engine: Engine = engine
        else:
            self.engine = engine.execution_options(isolation_level="READ COMMITTED")
        if upgrade:
            try:
                migrate(self.engine)
            except sa.exc.SQLAlchemyError as exc:
                engine.dispose()
                raise LedgerUnavailable(f"bed ledger at {self._where}: {in_one_line(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> BedLedger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- writes --------------------------------------------------------------------------------------

    def reserve(
        self,
        hpid: str,
        patient_id: str,
        *,
        region: str,
        epoch: int,
        free_beds: int,
        report_at: datetime,
    ) -> bool:
        """Reserve a bed at ``hpid`` for ``patient_id`` of ``region``'s leader of ``epoch``, counted
        against the centre's report of ``free_beds`` at ``report_at`` (or a newer one the ledger
        holds). True: the patient holds a bed there (newly, or still: refreshed for ``ttl_s``; a bed
        the patient held at another centre is given up). False: the centre's beds are all held; the
        patient keeps what they held before. Raises :class:`StaleLeaderError` for a deposed leader."""
        _check_id("hpid", hpid, 16)
        _check_id("patient_id", patient_id, 64)
        _check_id("region", region, 64)
        _check_epoch(epoch)
        _check_beds(free_beds)
        report_at = _utc("report_at", report_at)

        def work(connection: Connection) -> bool:
            now = _utc("clock()", self.clock())
            self._fence(connection, region, epoch)
            # The upsert always updates, so it always holds the centre's row lock from here to commit:
            # every reserver of this centre waits here for the one before to commit.
            free, base_at = self._rebase(connection, hpid, free_beds, report_at)
            mine = (reservations.c.region == region) & (reservations.c.patient_id == patient_id)
            # Statements from here on see every reservation committed before the lock was ours.
            self._sweep(connection, hpid, now, base_at)
            held_here = connection.execute(
                sa.select(reservations.c.arrived_at).where(mine, reservations.c.hpid == hpid)
            ).first()
            if held_here is not None:  # the same patient again: no second bed; refreshed unless arrived
                if held_here.arrived_at is None:
                    refresh = {"epoch": epoch, "expires_at": now + self.ttl}
                    connection.execute(reservations.update().where(mine).values(**refresh))
                return True
            taken = connection.execute(
                sa.select(sa.func.count()).select_from(reservations).where(reservations.c.hpid == hpid)
            ).scalar_one()
            if taken >= free:
                return False
            row = {"hpid": hpid, "epoch": epoch, "reserved_at": now, "expires_at": now + self.ttl, "arrived_at": None}
            insert = dialect_insert(self.engine, reservations).values(region=region, patient_id=patient_id, **row)
            keys = [reservations.c.region, reservations.c.patient_id]
            connection.execute(insert.on_conflict_do_update(index_elements=keys, set_=row))  # a move, or new
            return True

        return self._transaction(work, write=True)

    def release(
        self,
        hpid: str,
        patient_id: str,
        *,
        region: str,
        epoch: int,
        arrived_at: datetime | None = None,
    ) -> bool:
        """Give up the patient's bed at ``hpid``: at once when the patient was diverted, declined or
        moved (``arrived_at`` None); when they arrived, the bed stays taken until a capacity report
        made after ``arrived_at`` counts them (or ``arrived_hold_s``). True when a held bed was released
        (or marked arrived); False when there was none (already released, expired, never held)."""
        _check_id("hpid", hpid, 16)
        _check_id("patient_id", patient_id, 64)
        _check_id("region", region, 64)
        _check_epoch(epoch)
        arrived = None if arrived_at is None else _utc("arrived_at", arrived_at)

        def work(connection: Connection) -> bool:
            self._fence(connection, region, epoch)
            mine = (
                (reservations.c.region == region)
                & (reservations.c.patient_id == patient_id)
                & (reservations.c.hpid == hpid)
            )
            if arrived is None:
                return bool(connection.execute(reservations.delete().where(mine)).rowcount)
            held = connection.execute(
                reservations.update()
                .where(mine, reservations.c.arrived_at.is_(None))
                .values(arrived_at=arrived, expires_at=arrived + self.arrived_hold, epoch=epoch)
            ).rowcount
            # a report already made after the arrival counts the patient
            counted = sa.select(centres.c.report_at).where(centres.c.hpid == hpid).scalar_subquery()
            connection.execute(reservations.delete().where(mine, reservations.c.arrived_at < counted))
            return bool(held)

        return self._transaction(work, write=True)

    def rebase(self, hpid: str, free_beds: int, report_at: datetime) -> bool:
        """A new capacity report of ``hpid``: ``free_beds`` at ``report_at`` (a figure that already
        counts the patients who arrived before it). Applied when newer than the stored report, which
        also ends the holds of patients who arrived before it; True when applied."""
        _check_id("hpid", hpid, 16)
        _check_beds(free_beds)
        report_at = _utc("report_at", report_at)

        def work(connection: Connection) -> bool:
            _, base_at = self._rebase(connection, hpid, free_beds, report_at)
            connection.execute(
                reservations.delete().where(reservations.c.hpid == hpid, reservations.c.arrived_at < base_at)
            )
            return base_at == report_at

        return self._transaction(work, write=True)

    def refresh(self, region: str, epoch: int, patient_ids: Collection[str]) -> frozenset[str]:
        """Extend by ``ttl_s`` the live reservations of these patients of ``region`` (and mark them as
        the ``epoch`` leader's). Returns the patients still holding a bed: the others lost theirs
        (expired, or never held) and must be reserved again."""
        _check_id("region", region, 64)
        _check_epoch(epoch)
        wanted = sorted(set(patient_ids))
        for patient_id in wanted:
            _check_id("patient_id", patient_id, 64)

        def work(connection: Connection) -> frozenset[str]:
            now = _utc("clock()", self.clock())
            self._fence(connection, region, epoch)
            kept: set[str] = set()
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                statement = (
                    reservations.update()
                    .where(
                        reservations.c.region == region,
                        reservations.c.patient_id.in_(chunk),
                        reservations.c.arrived_at.is_(None),
                        reservations.c.expires_at > now,
                    )
                    .values(expires_at=now + self.ttl, epoch=epoch)
                    .returning(reservations.c.patient_id)
                )
                kept.update(connection.execute(statement).scalars())
            return frozenset(kept)

        return self._transaction(work, write=True)

    # --- reads ---------------------------------------------------------------------------------------

    def held(self, hpid: str, *, excluding_region: str | None = None) -> int:
        """Beds held at ``hpid`` now: live reservations, and arrivals no report has counted yet (those of
        ``excluding_region`` left out: what the other regions hold)."""
        return self.held_at([hpid], excluding_region=excluding_region)[hpid]

    def held_at(self, hpids: Collection[str], *, excluding_region: str | None = None) -> dict[str, int]:
        """:meth:`held` of several centres in one query (a dispatcher's border centres, before it plans)."""
        wanted = sorted(set(hpids))

        def work(connection: Connection) -> dict[str, int]:
            found = dict.fromkeys(wanted, 0)
            for start in range(0, len(wanted), _CHUNK):
                found.update(self._held(connection, wanted[start : start + _CHUNK], excluding_region))
            return found

        return self._transaction(work, write=False)

    def centre(self, hpid: str) -> CentreBeds | None:
        """The newest report of ``hpid`` and the beds held against it; None before any report."""

        def work(connection: Connection) -> CentreBeds | None:
            row = connection.execute(sa.select(centres).where(centres.c.hpid == hpid)).first()
            if row is None:
                return None
            held = self._held(connection, [hpid], None).get(hpid, 0)
            return CentreBeds(hpid, row.free_beds, _from_db(row.report_at), held)

        return self._transaction(work, write=False)

    def reservation(self, region: str, patient_id: str) -> Reservation | None:
        """The patient's reservation as stored (also an expired one not yet swept), or None."""

        def work(connection: Connection) -> Reservation | None:
            row = connection.execute(
                sa.select(reservations).where(reservations.c.region == region, reservations.c.patient_id == patient_id)
            ).first()
            if row is None:
                return None
            return Reservation(
                region=row.region,
                patient_id=row.patient_id,
                hpid=row.hpid,
                epoch=row.epoch,
                reserved_at=_from_db(row.reserved_at),
                expires_at=_from_db(row.expires_at),
                arrived_at=None if row.arrived_at is None else _from_db(row.arrived_at),
            )

        return self._transaction(work, write=False)

    # --- internals -----------------------------------------------------------------------------------

    def _held(self, connection: Connection, hpids: list[str], excluding_region: str | None) -> dict[str, int]:
        now = _utc("clock()", self.clock())
        # an arrival counts until a report made after it (which counts the patient in its own figure)
        uncounted = sa.or_(
            reservations.c.arrived_at.is_(None),
            centres.c.report_at.is_(None),
            reservations.c.arrived_at >= centres.c.report_at,
        )
        live = reservations.c.hpid.in_(hpids) & (reservations.c.expires_at > now) & uncounted
        if excluding_region is not None:
            live = live & (reservations.c.region != excluding_region)
        statement = (
            sa.select(reservations.c.hpid, sa.func.count())
            .select_from(reservations.outerjoin(centres, centres.c.hpid == reservations.c.hpid))
            .where(live)
            .group_by(reservations.c.hpid)
        )
        return {hpid: int(count) for hpid, count in connection.execute(statement)}

    def _fence(self, connection: Connection, region: str, epoch: int) -> None:
        """Record ``epoch`` as the region's newest, or raise if a newer one was seen (row-locked, so a
        deposed leader's write and its successor's are ordered)."""
        insert = dialect_insert(self.engine, regions).values(region=region, epoch=epoch)
        statement = insert.on_conflict_do_update(
            index_elements=[regions.c.region],
            set_={"epoch": insert.excluded.epoch},
            where=regions.c.epoch <= insert.excluded.epoch,
        ).returning(regions.c.epoch)
        if connection.execute(statement).first() is None:
            current = connection.execute(sa.select(regions.c.epoch).where(regions.c.region == region)).scalar_one()
            raise StaleLeaderError(region, epoch, int(current))

    def _rebase(self, connection: Connection, hpid: str, free_beds: int, report_at: datetime) -> tuple[int, datetime]:
        """Store the report if it is newer; returns the centre's base (free beds, report time). The
        statement updates the row even when the stored report is newer, so it locks it in PostgreSQL."""
        insert = dialect_insert(self.engine, centres).values(hpid=hpid, free_beds=free_beds, report_at=report_at)
        newer = insert.excluded.report_at > centres.c.report_at
        statement = insert.on_conflict_do_update(
            index_elements=[centres.c.hpid],
            set_={
                "free_beds": sa.case((newer, insert.excluded.free_beds), else_=centres.c.free_beds),
                "report_at": sa.case((newer, insert.excluded.report_at), else_=centres.c.report_at),
            },
        ).returning(centres.c.free_beds, centres.c.report_at)
        row = connection.execute(statement).one()
        return int(row.free_beds), _from_db(row.report_at)

    def _sweep(self, connection: Connection, hpid: str, now: datetime, report_at: datetime) -> None:
        """Delete the centre's expired reservations and the arrivals its report already counts."""
        gone = (reservations.c.expires_at <= now) | (reservations.c.arrived_at < report_at)
        connection.execute(reservations.delete().where(reservations.c.hpid == hpid, gone))

    def _transaction(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """Run ``work`` in one transaction (IMMEDIATE for SQLite writes), retrying deadlocks and
        serialisation failures; database errors become :class:`LedgerUnavailable`."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self.engine.connect() as connection:
                    if self._sqlite:
                        connection = connection.execution_options(
                            **{_SQLITE_BEGIN: "IMMEDIATE" if write else "DEFERRED"}
                        )
                    with connection.begin():
                        return work(connection)
            except sa.exc.DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES and attempt < _ATTEMPTS:
                    log.info("bed ledger: %s, attempt %d of %d", in_one_line(exc), attempt, _ATTEMPTS)
                    time.sleep(random.uniform(0.001, 0.005) * attempt)
                    continue
                raise LedgerUnavailable(f"bed ledger at {self._where}: {in_one_line(exc)}") from exc
            except sa.exc.SQLAlchemyError as exc:
                raise LedgerUnavailable(f"bed ledger at {self._where}: {in_one_line(exc)}") from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _sqlite_explicit_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, begin SQLite transactions, so a write can BEGIN IMMEDIATE
    (SQLAlchemy's documented recipe for pysqlite's transaction handling)."""

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _check_id(name: str, value: object, longest: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise LedgerInputError(f"{name} must be a non-blank string of at most {longest} characters, not {value!r}")


def _check_epoch(epoch: object) -> None:
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch < 2**63:
        raise LedgerInputError(f"epoch must be a non-negative integer, not {epoch!r}")


def _check_beds(free_beds: object) -> None:
    if not isinstance(free_beds, int) or isinstance(free_beds, bool) or not 0 <= free_beds <= 10_000:
        raise LedgerInputError(f"free_beds must be an integer from 0 to 10000, not {free_beds!r}")


def _utc(name: str, value: object) -> datetime:
    """An aware time in UTC (SQLite stores times without their zone: all of ours are UTC)."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise LedgerInputError(f"{name} must be a datetime with a time zone, not {value!r}")
    return value.astimezone(UTC)


def _from_db(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns: they were stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


__all__ = [
    "BedLedger",
    "BedLedgerError",
    "CentreBeds",
    "LedgerInputError",
    "LedgerUnavailable",
    "Reservation",
    "StaleLeaderError",
    "centres",
    "regions",
    "reservations",
]
