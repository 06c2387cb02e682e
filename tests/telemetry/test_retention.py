"""Retention: ``TelemetryStore.purge`` and ``goldentime purge`` delete what is older than the
settings (positions sooner) and nothing younger, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.store import RejectedMessage, StoredMessage, TelemetryStore
from tests.helpers import run_cli

NOW = datetime.now(UTC)


def _message(n: int, kind: str, age: timedelta) -> StoredMessage:
    at = NOW - age
    return StoredMessage(f"ems/units/U{n}/{kind}", f"m{n:08d}", kind, f"U{n}", at, at, {"n": n})


def _rejected(age: timedelta) -> RejectedMessage:
    return RejectedMessage(NOW - age, "recorder", "ems/units/U1/vitals", "not JSON", "{", 1)


def _fill(store: TelemetryStore) -> None:
    accepted = [_message(0, "position", timedelta(days=40)), _message(1, "position", timedelta(days=3)),
                _message(2, "vitals", timedelta(days=400)), _message(3, "vitals", timedelta(days=40)),
                _message(4, "advice", timedelta(hours=1))]  # fmt: skip
    store.write(accepted, [_rejected(timedelta(days=400)), _rejected(timedelta(days=1))])


def test_purge_removes_only_what_is_older_and_only_of_the_kinds_named(database_url: str) -> None:
    store = TelemetryStore.open(database_url)
    try:
        _fill(store)
        assert store.purge(NOW - timedelta(days=30), kinds=["position"]) == 1
        assert (store.count(kind="position"), store.count()) == (1, 4)
        assert store.purge(NOW - timedelta(days=365), chunk=1) == 1  # chunks of one: the loop goes on
        assert store.count(kind="vitals") == 1 and store.latest("vitals", "U3") == {"n": 3}
        assert store.purge_rejected(NOW - timedelta(days=365)) == 1 and store.count_rejected() == 1
    finally:
        store.close()


def test_purge_command_uses_the_retention_settings(
    sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TelemetryStore.open(sqlite_url)
    _fill(store)
    monkeypatch.setenv("GOLDENTIME_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("GOLDENTIME_POSITION_RETENTION_DAYS", "2")
    code, out, _ = run_cli(capsys, "purge", "--days", "30")
    assert code == 0
    assert out.strip() == (
        "purged 2 positions older than 2 days, 2 other messages and 1 refused ones older than 30 days"
    )
    assert store.count() == 1 and store.count_rejected() == 1
    store.close()
