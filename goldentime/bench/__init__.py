"""Benchmarks behind ``goldentime bench`` / ``make bench``. Each writes its own section of
``docs/performance.md`` with the machine it ran on and the command that reproduces it."""
