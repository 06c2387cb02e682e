"""The root of the capacity service's errors (``CapacityError`` ⊂ ``GoldenTimeError``).

Each error keeps the built-in base its callers catch (``UnknownHospital`` is still a
``LookupError``, ``Forbidden`` a ``PermissionError``). See docs/architecture.md "Errors".
"""

from __future__ import annotations

from telemetry.errors import GoldenTimeError


class CapacityError(GoldenTimeError):
    """Base of every error the ``hospital_capacity`` package raises."""
