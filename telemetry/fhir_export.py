"""``goldentime fhir export``'s edge: read the recorder's stored vitals, write the FHIR Bundle.

The conversion itself is :mod:`telemetry.fhir` (pure). This module only reads the
``telemetry_messages`` table (SQLite or PostgreSQL, never writing to it or creating it) and
writes the JSON file atomically (a temporary file renamed into place, readable by its owner
only: it holds patient data).
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from telemetry import fhir
from telemetry.store import make_engine, messages


class DatabaseUnavailable(fhir.FhirError):
    """The recorder's database cannot be read (unreachable, not there, no recorder tables)."""


class OutputError(fhir.FhirError):
    """The Bundle cannot be written where asked."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    messages: int
    observations: int
    patients: int
    out: str


def shown(url: str) -> str:
    """A database URL as printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def _cause(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def open_engine(url: str) -> Engine:
    """An engine on the recorder's database; :class:`DatabaseUnavailable` when there is none to read
    (a SQLite file that does not exist is reported, not created)."""
    try:
        parsed = make_url(url)
    except ArgumentError:  # its message repeats the URL, password included: not shown
        raise DatabaseUnavailable(
            "the database URL is not a valid SQLAlchemy URL, e.g. postgresql://user@host/db"
        ) from None
    local = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if local and not Path(str(parsed.database)).is_file():
        raise DatabaseUnavailable(f"no recorder database at {parsed.database} (run goldentime recorder first)")
    try:
        return make_engine(url)
    except (ArgumentError, ImportError) as exc:  # an unknown dialect, a driver not installed
        raise DatabaseUnavailable(f"cannot use database {shown(url)}: {_cause(exc)}") from None


def read_vitals(
    engine: Engine, *, patient: str | None = None, since: datetime | None = None
) -> list[fhir.VitalsRecord]:
    """The stored vitals messages, oldest ``ts`` first, of ``patient`` only and measured at or after
    ``since`` when given. Raises :class:`DatabaseUnavailable`, or :class:`fhir.FhirError` for a stored
    payload that is not valid vitals."""
    query = sa.select(messages.c.topic, messages.c.payload).where(messages.c.kind == "vitals")
    if since is not None:
        # SQLite keeps times as UTC text without a zone: compare in UTC.
        query = query.where(messages.c.ts >= since.astimezone(UTC))
    if patient is not None:
        query = query.where(messages.c.payload["patient_id"].as_string() == patient)
    query = query.order_by(messages.c.ts, messages.c.id)
    try:
        if not sa.inspect(engine).has_table(messages.name):
            raise DatabaseUnavailable(
                f"{shown(str(engine.url))} has no recorder tables (run goldentime recorder first)"
            )
        with engine.connect() as connection:
            rows = list(connection.execute(query))
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"cannot read {shown(str(engine.url))}: {_cause(exc)}") from None
    return [fhir.record(row.topic, row.payload) for row in rows]


def write_json(document: dict[str, Any], out: str) -> str:
    """Write ``document`` as JSON to the file ``out`` (``-``: standard output); returns where it went."""
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return "standard output"
    path = Path(out)
    try:
        if path.is_dir():
            raise IsADirectoryError(f"{out} is a directory")
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, renamed into place
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        )
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        with handle:
            handle.write(text)
        Path(handle.name).replace(path)
    except OSError as exc:
        Path(handle.name).unlink(missing_ok=True)
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    return str(path)


def export(
    database_url: str, out: str, *, patient: str | None = None, since: datetime | None = None, now: datetime
) -> ExportResult:
    """Read the stored vitals (filtered), build the Bundle stamped ``now`` and write it to ``out``."""
    engine = open_engine(database_url)
    try:
        records = read_vitals(engine, patient=patient, since=since)
    finally:
        engine.dispose()
    document = fhir.bundle(records, timestamp=now)
    where = write_json(document, out)
    return ExportResult(len(records), len(document["entry"]), len(fhir.patients(document)), where)
