"""The capacity store: centres, their current state, every past update, API tokens.

SQLAlchemy 2 Core; SQLite by default, PostgreSQL by URL; schema by Alembic
(``hospital_capacity/migrations``, its own version table so it can share a database with the
recorder). An update and the state it produces are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from telemetry.store import make_engine
from telemetry.store import migrate as run_migrations

VERSION_TABLE = "capacity_alembic_version"
metadata = sa.MetaData()

hospitals = sa.Table(
    "capacity_hospitals",
    metadata,
    sa.Column("hpid", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("level", sa.Integer(), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("trauma_centre", sa.Boolean(), nullable=False),
    sa.Column("region", sa.String(40), nullable=True),
    sa.Column("state", sa.JSON(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),  # bumped by every accepted update
    sa.Column("published_version", sa.Integer(), nullable=False),  # last version on the bus
)

updates = sa.Table(
    "capacity_updates",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("hpid", sa.String(16), sa.ForeignKey("capacity_hospitals.hpid"), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("body", sa.JSON(), nullable=False),
    sa.Index("ix_capacity_updates_hpid_received_at", "hpid", "received_at"),
)

tokens = sa.Table(
    "capacity_tokens",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("hpid", sa.String(16), sa.ForeignKey("capacity_hospitals.hpid"), nullable=True),  # null = control room
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
)


def migrate(engine: Engine) -> None:
    run_migrations(engine, Path(__file__).parent / "migrations")


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns: they were stored in UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class CapacityStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> CapacityStore:
        engine = make_engine(url)
        migrate(engine)
        return cls(engine)

    # --- centres -------------------------------------------------------------------------

    def add_hospitals(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert centres that are not there yet; returns how many were new."""
        with self.engine.begin() as connection:
            known = set(connection.scalars(sa.select(hospitals.c.hpid)))
            new = [r for r in rows if r["hpid"] not in known]
            if new:
                connection.execute(hospitals.insert(), new)
        return len(new)

    def hospital(self, hpid: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(hospitals).where(hospitals.c.hpid == hpid)).mappings().first()
        return dict(row) if row else None

    def all_hospitals(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(r) for r in connection.execute(sa.select(hospitals).order_by(hospitals.c.hpid)).mappings()]

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(hospitals)).scalar_one())

    # --- updates -------------------------------------------------------------------------

    def save_update(
        self,
        hpid: str,
        *,
        expected_version: int,
        state: dict[str, Any],
        body: dict[str, Any],
        received_at: datetime,
        by: str,
        source: str,
    ) -> bool:
        """Store an update and the state it produced, if nobody changed the centre meanwhile
        (``expected_version``); False on such a conflict, and nothing is written."""
        with self.engine.begin() as connection:
            changed = connection.execute(
                hospitals.update()
                .where(hospitals.c.hpid == hpid, hospitals.c.version == expected_version)
                .values(state=state, version=expected_version + 1)
            ).rowcount
            if changed != 1:
                return False
            connection.execute(
                updates.insert().values(hpid=hpid, received_at=received_at, updated_by=by, source=source, body=body)
            )
        return True

    def history(self, hpid: str, since: datetime | None, limit: int) -> list[dict[str, Any]]:
        query = sa.select(updates).where(updates.c.hpid == hpid)
        if since is not None:
            query = query.where(updates.c.received_at >= since)
        query = query.order_by(updates.c.received_at, updates.c.id).limit(limit)
        with self.engine.connect() as connection:
            rows = [dict(r) for r in connection.execute(query).mappings()]
        for row in rows:
            row["received_at"] = _utc(row["received_at"])
        return rows

    # --- publishing ----------------------------------------------------------------------

    def unpublished(self) -> list[dict[str, Any]]:
        query = sa.select(hospitals).where(hospitals.c.published_version < hospitals.c.version)
        with self.engine.connect() as connection:
            return [dict(r) for r in connection.execute(query).mappings()]

    def mark_published(self, published: Sequence[tuple[str, int]]) -> None:
        """Record (hpid, version) pairs the broker acknowledged, in one transaction."""
        if not published:
            return
        with self.engine.begin() as connection:
            for hpid, version in published:
                connection.execute(
                    hospitals.update()
                    .where(hospitals.c.hpid == hpid, hospitals.c.published_version < version)
                    .values(published_version=version)
                )

    def republish_all(self) -> None:
        """Mark every centre that has been reported as not on the bus yet (on start: retained state may be gone).
        A centre never reported is left off: an empty report would say nothing a missing one does not, and, retained,
        it would replace what another writer (the live city, an E-Gen import) had said of the centre."""
        with self.engine.begin() as connection:
            connection.execute(
                hospitals.update().where(hospitals.c.version > 0).values(published_version=hospitals.c.version - 1)
            )

    # --- tokens --------------------------------------------------------------------------

    def add_token(
        self, digest: str, hpid: str | None, label: str, created_at: datetime, expires_at: datetime | None
    ) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                tokens.insert().values(
                    token_sha256=digest, hpid=hpid, label=label, created_at=created_at, expires_at=expires_at
                )
            )

    def token(self, digest: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(tokens).where(tokens.c.token_sha256 == digest)).mappings().first()
        if row is None:
            return None
        found = dict(row)
        found["expires_at"] = _utc(found["expires_at"])
        return found

    def close(self) -> None:
        self.engine.dispose()
