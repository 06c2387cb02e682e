"""The root of every error GoldenTime raises, and the root of telemetry's own.

Every package has one error tree: ``GoldenTimeError`` ⊃ ``TelemetryError``, ``DispatchError``,
``CapacityError``, ``SimulationError`` ⊃ the errors each raises (see docs/architecture.md "Errors").
The root lives here because ``telemetry`` is the lowest layer: every other package imports it and it
imports none of theirs, so the root is importable everywhere without an import cycle or an
upward import. This module imports nothing.
"""

from __future__ import annotations


class GoldenTimeError(Exception):
    """Base of every error GoldenTime raises: ``except GoldenTimeError`` catches all of ours and
    nothing else (a bug in a library or in our code still shows as itself)."""


class TelemetryError(GoldenTimeError):
    """Base of every error the ``telemetry`` package raises: the bus, payloads, topics, access,
    the embedded broker, the recorder's store and spool, FHIR export."""


def in_one_line(exc: BaseException) -> str:
    """An error as one line: a database driver's message (``exc.orig`` under SQLAlchemy's wrapper) may run over
    several; the first says what went wrong."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
