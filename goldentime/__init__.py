"""GoldenTime: the right emergency centre for every 119 ambulance patient.

This package holds what every entry point shares: the settings object and the
``goldentime`` command line. The product itself lives in the top-level packages
``dispatch``, ``telemetry``, ``hospital_capacity``, ``dashboard`` and ``simulations``.
"""

__version__ = "0.1.0"
