"""The root of the decision core's errors (``DispatchError`` ⊂ ``GoldenTimeError``).

Each error keeps the built-in base its callers catch (``ScenarioError`` is still a ``ValueError``,
``RouterError`` a ``RuntimeError``). See docs/architecture.md "Errors".
"""

from __future__ import annotations

from telemetry.errors import GoldenTimeError


class DispatchError(GoldenTimeError):
    """Base of every error the ``dispatch`` package raises."""


class SolverError(DispatchError, RuntimeError):
    """An optimisation the core relies on was not solved, or a table it built is inconsistent
    (a bug, never a user's mistake: every case has a fallback)."""
