"""Small helpers shared by the tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest


def unique(prefix: str) -> str:
    """An identifier no other test (or earlier run against a persistent broker) has used."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, every_s: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passed; return its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return predicate()


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``goldentime ARGV`` as a user would: (exit code, stdout, stderr)."""
    from goldentime.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
