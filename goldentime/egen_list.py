"""``goldentime data fetch egen``: the national emergency-institution list from the NEMC E-Gen OpenAPI.

Reads every page of ``getEgytListInfoInqire`` (the institution list) and the trauma-centre list
``getStrmListInfoInqire``, and writes them in the columns of the bundled
``hospitals/korea_emergency_institutions.csv``. Each page is read by :func:`hospital_capacity.egen.read_page`
(its refusals, as a :class:`FetchError`). The HTTP GET is injected (``get(url) -> bytes``), so
everything but the socket is tested offline.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from hospital_capacity.egen import EgenError, build_url, read_page
from telemetry.errors import GoldenTimeError

LIST_OPERATION = "getEgytListInfoInqire"
TRAUMA_OPERATION = "getStrmListInfoInqire"
PAGE_ROWS = 1000
MAX_PAGES = 50  # 50,000 institutions: far above the ~530 the country has; a guard against a looping server
COLUMNS = (
    "hpid", "dutyName", "dutyEmclsName", "level", "sido", "sigungu", "dutyAddr",
    "wgs84Lat", "wgs84Lon", "dutyTel3", "regional_trauma_center", "retrieved_at_utc",
)  # fmt: skip
#: dutyEmclsName → the level column (1 권역, 2 지역센터, 3 지역기관, 4 신고기관), as in the bundled lists.
LEVELS = {"권역응급의료센터": 1, "지역응급의료센터": 2, "지역응급의료기관": 3, "응급실운영신고기관": 4}


class FetchError(GoldenTimeError):
    """The E-Gen API answered with an error, or with something that is not the institution list."""


def institution_row(item: dict[str, str], *, trauma: set[str], retrieved_at: str) -> dict[str, str] | None:
    """One CSV row of a list item; None for an item without an hpid or usable coordinates."""
    hpid = item.get("hpid", "")
    try:
        lat, lon = float(item.get("wgs84Lat", "")), float(item.get("wgs84Lon", ""))
    except ValueError:
        return None
    if not hpid or not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    address = item.get("dutyAddr", "")
    words = address.split()
    kind = item.get("dutyEmclsName", "")
    return {
        "hpid": hpid,
        "dutyName": item.get("dutyName", ""),
        "dutyEmclsName": kind,
        "level": str(LEVELS.get(kind, "")),
        "sido": words[0] if words else "",
        "sigungu": words[1] if len(words) > 1 else "",
        "dutyAddr": address,
        "wgs84Lat": item.get("wgs84Lat", ""),
        "wgs84Lon": item.get("wgs84Lon", ""),
        "dutyTel3": item.get("dutyTel3", ""),
        "regional_trauma_center": "Y" if hpid in trauma else "N",
        "retrieved_at_utc": retrieved_at,
    }


def _all_items(get: Callable[[str], bytes], operation: str, service_key: str) -> list[dict[str, str]]:
    items: list[dict[str, str]] = []
    for number in range(1, MAX_PAGES + 1):
        url = build_url(operation, service_key=service_key, stage1=None, stage2=None, page=number, rows=PAGE_ROWS)
        try:
            page = read_page(get(url))
        except EgenError as exc:
            raise FetchError(str(exc)) from exc
        found = [{sent: text.strip() for sent, text in item.fields.values()} for item in page.items]  # names as sent
        total = page.total_count or ""
        items += found
        if not found or not total.isdigit() or len(items) >= int(total):
            return items
    raise FetchError(f"{operation}: more than {MAX_PAGES} pages; stopped")


def fetch_institutions(
    get: Callable[[str], bytes], service_key: str, *, now: datetime | None = None
) -> tuple[list[dict[str, str]], int]:
    """Every institution of the national list as CSV rows (sorted by hpid), and how many items were skipped."""
    trauma = {item["hpid"] for item in _all_items(get, TRAUMA_OPERATION, service_key) if item.get("hpid")}
    retrieved_at = (now or datetime.now(UTC)).isoformat()
    items = _all_items(get, LIST_OPERATION, service_key)
    rows = {}
    for item in items:
        row = institution_row(item, trauma=trauma, retrieved_at=retrieved_at)
        if row is not None:
            rows[row["hpid"]] = row
    if not rows:
        raise FetchError(f"{LIST_OPERATION}: no institution with an hpid and coordinates")
    return [rows[hpid] for hpid in sorted(rows)], len(items) - len(rows)


def write_csv(rows: Sequence[dict[str, str]], path: Path) -> None:
    """Write the rows in the bundled list's columns, atomically (a half-written list never replaces a good one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(path)
