"""Where a region's dispatcher keeps its patients' decision state, so that the standby that takes over the
region decides on from where its predecessor stopped (issue 26; ``dispatch.decision_state`` says what the
state is). PostgreSQL in production, the SQLite file of the embedded default otherwise; the tables are made by
the telemetry migrations (``0003``), beside the lease (:mod:`telemetry.leader`).

One JSON document per patient (``dispatch_patients``: region, unit, the patient, the advice version, whether
the region owns the patient's decisions, the epoch that wrote it) and one per region (``dispatch_regions``).
The store knows nothing of their content: the dispatcher's shell encodes and decodes them.

Every write is **fenced** by the lease's epoch: :meth:`DecisionStore.save` writes only while the region's
lease row still carries the writer's epoch, and holds that row locked until it commits, so a deposed leader
(frozen, then woken) cannot overwrite what its successor read and decides on; it gets :class:`StaleEpoch`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from telemetry.errors import TelemetryError
from telemetry.leader import check_region, ensure_schema
from telemetry.store import dialect_insert, dispatch_leases, dispatch_patients, dispatch_regions, make_engine

#: The tables of the decision state and the lease that fences their writes (declared with the rest of the
#: telemetry schema, :data:`telemetry.store.metadata`).
leases, patients, regions = dispatch_leases, dispatch_patients, dispatch_regions


class DecisionStoreError(TelemetryError):
    """The decision state cannot be stored or read."""


class StaleEpoch(DecisionStoreError):
    """A write from a leader whose lease has moved on (another process took the region over)."""


@dataclass(frozen=True, slots=True)
class StoredDecisions:
    """What the store holds of a region: the region's document (None if none was written) and each unit's
    patient document."""

    region: dict[str, Any] | None
    patients: dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PatientRow:
    """A patient's document and the columns a person can query it by."""

    unit_id: str
    patient_id: str
    advice_version: int
    owned: bool
    state: dict[str, Any]


class DecisionStore:
    """The decision state of one region."""

    def __init__(self, engine: Engine, region: str) -> None:
        self.engine, self.region = engine, check_region(region)
        self._upsert_patient = dialect_insert(engine, patients)
        self._upsert_region = dialect_insert(engine, regions)

    @classmethod
    def open(cls, url: str, region: str, *, upgrade: bool = True) -> DecisionStore:
        engine = make_engine(url)
        if upgrade:
            ensure_schema(engine)
        return cls(engine, region)

    def load(self) -> StoredDecisions:
        """Everything stored of the region (a new leader reads it when it takes over)."""
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(patients.c.unit_id, patients.c.state).where(patients.c.region == self.region)
            ).all()
            region = connection.execute(
                sa.select(regions.c.state).where(regions.c.region == self.region)
            ).scalar_one_or_none()
        return StoredDecisions(None if region is None else dict(region), {u: dict(s) for u, s in found})

    def save(
        self,
        epoch: int,
        *,
        upsert: Collection[PatientRow] = (),
        gone: Collection[str] = (),
        region: Mapping[str, Any] | None = None,
    ) -> None:
        """Write in one transaction, only while the region's lease is at ``epoch`` (else :class:`StaleEpoch`):
        the patients' documents (``upsert``), the units whose patient is gone, and the region's document."""
        if not upsert and not gone and region is None:
            return
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            # The fence comes first, and is a write: it locks the lease row (PostgreSQL) or the database (SQLite)
            # until this commits, so the lease cannot change hands half-way through.
            fenced = connection.execute(
                leases.update()
                .where(leases.c.region == self.region, leases.c.epoch == epoch)
                .values(epoch=leases.c.epoch)
            ).rowcount
            if fenced != 1:
                raise StaleEpoch(f"region {self.region}: the lease is no longer at epoch {epoch}; nothing written")
            if gone:
                connection.execute(
                    patients.delete().where(patients.c.region == self.region, patients.c.unit_id.in_(list(gone)))
                )
            if upsert:
                rows = [
                    {"region": self.region, "unit_id": r.unit_id, "patient_id": r.patient_id,
                     "advice_version": r.advice_version, "owned": r.owned, "epoch": epoch, "updated_at": now,
                     "state": r.state}
                    for r in upsert
                ]  # fmt: skip
                statement = self._upsert_patient
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=["region", "unit_id"],
                        set_={c: statement.excluded[c] for c in
                              ("patient_id", "advice_version", "owned", "epoch", "updated_at", "state")},
                    ),
                    rows,
                )  # fmt: skip
            if region is not None:
                statement = self._upsert_region
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=["region"],
                        set_={c: statement.excluded[c] for c in ("epoch", "updated_at", "state")},
                    ),
                    {"region": self.region, "epoch": epoch, "updated_at": now, "state": dict(region)},
                )

    def count(self) -> int:
        """Patients stored for the region."""
        with self.engine.connect() as connection:
            query = sa.select(sa.func.count()).select_from(patients).where(patients.c.region == self.region)
            return int(connection.execute(query).scalar_one())

    def clear(self) -> None:
        """Forget the region's state (a region taken out of service)."""
        with self.engine.begin() as connection:
            connection.execute(patients.delete().where(patients.c.region == self.region))
            connection.execute(regions.delete().where(regions.c.region == self.region))

    def close(self) -> None:
        self.engine.dispose()
