"""The telemetry database: its tables, engines and migrations, and the recorder's batched, idempotent writes.

SQLite by default, PostgreSQL by URL. The schema is created and upgraded by Alembic
(``telemetry/migrations``); :func:`migrate` runs it to the newest revision. :data:`metadata` declares every
table of that chain, once: the recorder's (0001, 0002), the dispatcher's leases and decision state (0003,
:mod:`telemetry.leader`, :mod:`telemetry.decision_store`) and the bed ledger's (0004,
:mod:`telemetry.bed_ledger`). It is Alembic's target metadata, so a table written here and not by a
migration (or the other way round) shows as a difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url

metadata = sa.MetaData()

messages = sa.Table(
    "telemetry_messages",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("msg_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False),
    # Unique per topic, not globally: a client cannot suppress another unit's message by
    # reusing its id, and a redelivered message (same topic, same id) is stored once.
    sa.UniqueConstraint("topic", "msg_id", name="uq_telemetry_messages_topic_msg_id"),
    sa.Index("ix_telemetry_messages_kind_key_ts", "kind", "key", "ts"),
    sa.Index("ix_telemetry_messages_received_at", "received_at"),
)

rejected = sa.Table(
    "telemetry_rejected",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("topic", sa.String(1024), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("payload_excerpt", sa.Text(), nullable=False),
    sa.Column("payload_bytes", sa.Integer(), nullable=False),
    sa.Index("ix_telemetry_rejected_received_at", "received_at"),
)

# --- the dispatcher's leadership and decision state (0003) ---------------------------------------------------

#: A region's lease (:mod:`telemetry.leader`, which writes it in SQL of its own); the epoch fences the writes of
#: the decision store.
dispatch_leases = sa.Table(
    "dispatch_leases",
    metadata,
    sa.Column("region", sa.String(64), primary_key=True),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    sa.Column("holder", sa.String(200), nullable=False),
    # seconds since 1970 (the lease's clock: the database server's, or this host's)
    sa.Column("expires_at", sa.Float(precision=53), nullable=False),
    sa.Column("acquired_at", sa.Float(precision=53), nullable=False),
    sa.Column("renewed_at", sa.Float(precision=53), nullable=False),
    # PostgreSQL: the server process of the holder's session, which holds the advisory lock
    sa.Column("backend_pid", sa.Integer(), nullable=True),
)

#: One decision-state document per patient of a region (:mod:`telemetry.decision_store`).
dispatch_patients = sa.Table(
    "dispatch_patients",
    metadata,
    sa.Column("region", sa.String(64), primary_key=True),
    sa.Column("unit_id", sa.String(64), primary_key=True),
    sa.Column("patient_id", sa.String(64), nullable=False),
    sa.Column("advice_version", sa.BigInteger(), nullable=False),
    sa.Column("owned", sa.Boolean(), nullable=False),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.JSON(), nullable=False),
)

#: One decision-state document per region (:mod:`telemetry.decision_store`).
dispatch_regions = sa.Table(
    "dispatch_regions",
    metadata,
    sa.Column("region", sa.String(64), primary_key=True),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.JSON(), nullable=False),
)

# --- the bed ledger of border centres (0004, :mod:`telemetry.bed_ledger`) ------------------------------------

#: The newest capacity report per centre: what the reservations count against.
bed_ledger_centres = sa.Table(
    "bed_ledger_centres",
    metadata,
    sa.Column("hpid", sa.String(16), primary_key=True),
    sa.Column("free_beds", sa.Integer(), nullable=False),
    sa.Column("report_at", sa.DateTime(timezone=True), nullable=False),
)

#: One bed per (region, patient): held at ``hpid`` until released, expired or counted by a report.
bed_ledger_reservations = sa.Table(
    "bed_ledger_reservations",
    metadata,
    sa.Column("region", sa.String(64), primary_key=True),
    sa.Column("patient_id", sa.String(64), primary_key=True),
    sa.Column("hpid", sa.String(16), nullable=False),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_bed_ledger_reservations_hpid", "hpid"),
)

#: The highest leader epoch the ledger has seen per region (its fencing token).
bed_ledger_regions = sa.Table(
    "bed_ledger_regions",
    metadata,
    sa.Column("region", sa.String(64), primary_key=True),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    topic: str
    msg_id: str
    kind: str
    key: str
    ts: datetime
    received_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RejectedMessage:
    received_at: datetime
    source: str
    topic: str
    reason: str
    payload_excerpt: str
    payload_bytes: int


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs; create the folder of a SQLite file."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    engine = sa.create_engine(normalise_url(url), pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


#: The PostgreSQL advisory lock :func:`migrate` holds for its transaction: the recorder, the capacity API, a region's
#: dispatchers and the bed ledger may all start at once on a new database, and would otherwise all create the tables.
MIGRATION_LOCK = 0x6E4C_ED6E_B7F1


def migrate(engine: Engine, migrations: Path = Path(__file__).parent / "migrations") -> None:
    """Create or upgrade a schema to the newest Alembic revision of ``migrations`` (by default
    the recorder's; the capacity store passes its own)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # processes starting together on a new database take turns
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def dialect_insert(engine: Engine, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``table`` in the engine's dialect (PostgreSQL's, else SQLite's), which can say
    ``ON CONFLICT``."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class TelemetryStore:
    """Batched writes of accepted and rejected messages."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert_messages = dialect_insert(engine, messages).on_conflict_do_nothing(
            index_elements=["topic", "msg_id"]
        )

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> TelemetryStore:
        engine = make_engine(url)
        if upgrade:
            migrate(engine)
        return cls(engine)

    def write(self, accepted: Sequence[StoredMessage], refused: Sequence[RejectedMessage]) -> None:
        """Write one batch in one transaction. Messages already stored are skipped."""
        with self.engine.begin() as connection:
            if accepted:
                connection.execute(self._insert_messages, [asdict(m) for m in accepted])
            if refused:
                connection.execute(rejected.insert(), [asdict(r) for r in refused])

    def count(self, *, kind: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(messages)
        if kind is not None:
            query = query.where(messages.c.kind == kind)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def latest(self, kind: str, key: str) -> dict[str, Any] | None:
        """The newest stored payload of ``kind`` for ``key`` (a unit, a centre...), or None."""
        query = (
            sa.select(messages.c.payload)
            .where(messages.c.kind == kind, messages.c.key == key)
            .order_by(messages.c.ts.desc(), messages.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            found = connection.execute(query).scalar_one_or_none()
        return dict(found) if found is not None else None

    def count_rejected(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(rejected)).scalar_one())

    def purge(self, before: datetime, *, kinds: Sequence[str] | None = None, chunk: int = 10_000) -> int:
        """Delete messages received before ``before`` (only of ``kinds`` when given), a chunk per
        transaction so the recorder's writes are never held up for long. Returns how many went."""
        age = messages.c.received_at < before
        where = age if kinds is None else sa.and_(age, messages.c.kind.in_(list(kinds)))
        return self._purge(messages, where, chunk)

    def purge_rejected(self, before: datetime, *, chunk: int = 10_000) -> int:
        """Delete refused messages received before ``before``."""
        return self._purge(rejected, rejected.c.received_at < before, chunk)

    def _purge(self, table: sa.Table, where: sa.ColumnElement[bool], chunk: int) -> int:
        deleted = 0
        while True:
            with self.engine.begin() as connection:
                ids = sa.select(table.c.id).where(where).limit(chunk).scalar_subquery()
                count = connection.execute(table.delete().where(table.c.id.in_(ids))).rowcount
            deleted += count
            if count < chunk:
                return deleted

    def close(self) -> None:
        self.engine.dispose()
