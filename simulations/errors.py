"""The root of the simulator's errors (``SimulationError`` ⊂ ``GoldenTimeError``).

See docs/architecture.md "Errors".
"""

from __future__ import annotations

from telemetry.errors import GoldenTimeError


class SimulationError(GoldenTimeError):
    """Base of every error the ``simulations`` package (and the what-if built on it) raises."""


class UnservedCalls(SimulationError, RuntimeError):
    """A run ended with calls no ambulance could reach."""
