"""``goldentime purge``: delete stored telemetry older than the retention settings.

Patient data is kept no longer than it is needed: GPS positions (most of the rows, and where
a patient was) after ``GOLDENTIME_POSITION_RETENTION_DAYS``, everything else, refused
messages included, after ``GOLDENTIME_RETENTION_DAYS``. Run it daily (cron, a systemd
timer); it deletes in chunks, so the recorder keeps writing meanwhile.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from goldentime.settings import Settings


def add_parser(sub: Any, positive: Callable[[str], float]) -> None:
    p = sub.add_parser(
        "purge",
        help="delete stored telemetry older than the retention settings",
        description="Delete recorded messages older than GOLDENTIME_RETENTION_DAYS (default 365), GPS positions "
        "older than GOLDENTIME_POSITION_RETENTION_DAYS (default 30), and refused messages older than "
        "GOLDENTIME_RETENTION_DAYS, from GOLDENTIME_DATABASE_URL.",
    )
    p.add_argument("--days", type=positive, help="override GOLDENTIME_RETENTION_DAYS")
    p.add_argument("--position-days", type=positive, help="override GOLDENTIME_POSITION_RETENTION_DAYS")
    p.set_defaults(func=cmd_purge)


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    from telemetry.store import TelemetryStore

    days = args.days or settings.retention_days
    position_days = min(args.position_days or settings.position_retention_days, days)
    now = datetime.now(UTC)
    store = TelemetryStore.open(settings.resolved_database_url())
    try:
        positions = store.purge(now - timedelta(days=position_days), kinds=["position"])
        others = store.purge(now - timedelta(days=days))
        refused = store.purge_rejected(now - timedelta(days=days))
    finally:
        store.close()
    print(
        f"purged {positions} positions older than {position_days:g} days, {others} other messages and "
        f"{refused} refused ones older than {days:g} days"
    )
    return 0
