"""``goldentime data fetch egen``: the national emergency-institution list from the NEMC E-Gen OpenAPI.

Reads every page of ``getEgytListInfoInqire`` (the institution list) and the trauma-centre list
``getStrmListInfoInqire``, and writes them in the columns of the bundled
``hospitals/korea_emergency_institutions.csv``. The HTTP GET is injected (``get(url) -> bytes``), so
everything but the socket is tested offline.
"""

from __future__ import annotations

import csv
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from hospital_capacity.egen import build_url
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


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _text(element: ET.Element, name: str) -> str:
    found = next((c for c in element if _local(c.tag) == name.lower()), None)
    return "" if found is None else (found.text or "").strip()


def _items(xml: bytes) -> tuple[list[dict[str, str]], int | None]:
    """The items of one page (field name → text, names as sent) and the total count it declares."""
    if b"<!doctype" in xml.lower() or b"<!entity" in xml.lower():
        raise FetchError("not accepted: the document has a DOCTYPE or ENTITY declaration")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise FetchError(f"not XML: {exc}") from None
    if _local(root.tag) == "openapi_serviceresponse":  # a gateway or service-key failure, sent as HTTP 200
        header = next((c for c in root if _local(c.tag) == "cmmmsgheader"), None)
        header = root if header is None else header
        reason = _text(header, "returnReasonCode") or "?"
        message = _text(header, "returnAuthMsg") or _text(header, "errMsg") or "no message"
        raise FetchError(f"E-Gen refused the request: returnReasonCode {reason} ({message})")
    if _local(root.tag) != "response":
        raise FetchError(f"not an E-Gen response: root element <{_local(root.tag)}>")
    header = next((c for c in root if _local(c.tag) == "header"), None)
    code = "" if header is None else _text(header, "resultCode")
    if code.strip("0"):
        raise FetchError(f"E-Gen resultCode {code}: {_text(header, 'resultMsg') if header is not None else ''}")
    body = next((c for c in root if _local(c.tag) == "body"), None)
    total = _text(body, "totalCount") if body is not None else ""
    items = [
        {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in element if isinstance(child.tag, str)}
        for element in root.iter()
        if isinstance(element.tag, str) and _local(element.tag) == "item"
    ]
    return items, int(total) if total.isdigit() else None


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
    for page in range(1, MAX_PAGES + 1):
        url = build_url(operation, service_key=service_key, stage1=None, stage2=None, page=page, rows=PAGE_ROWS)
        found, total = _items(get(url))
        items += found
        if not found or total is None or len(items) >= total:
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
