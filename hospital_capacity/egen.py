"""E-Gen (NEMC ``ErmctInfoInqireService``) XML → :class:`~hospital_capacity.schemas.StatusUpdate`.

Pure functions: bytes in, updates out, no I/O. Two operations are understood:

``getEmrrmRltmUsefulSckbdInfoInqire`` (:func:`parse_beds`)
    Real-time available beds and equipment. A count ``>= 0`` is the number available; ``-1``,
    an empty element or a missing one is *unknown* (``available: null``); ``<= -2`` is
    *overcrowded* (``available: 0, overcrowded: true``), never a negative count. ``hvsNN`` is the
    capacity. A bed type is part of the update only when its available or its capacity element
    is in the item; the update then sets ``available``, ``total`` and ``overcrowded`` together
    (an E-Gen row is a snapshot of that bed type). When the feed says more beds are available
    than exist, the centre's available figure is kept, the capacity is dropped (``total: null``)
    and the item carries a warning naming both fields. Equipment ``Y`` (trimmed, any case) is
    available; ``N``, ``N1`` or any other text is not; a missing or empty element is not named.

``getSrsillDissAceptncPosblInfoInqire`` (:func:`parse_severe`)
    Severe-illness acceptance, ``MKioskTy1``-``28`` → the first 28 members of
    :class:`~telemetry.schemas.Condition`, in order. ``Y`` / ``"Y "`` is capable; ``N``, ``N1``,
    ``불가능`` (and any unrecognised text, with a warning) is not; ``정보미제공``, an empty or a
    missing element is unknown and not named. The age-limit messages (``MKioskTy10Msg`` /
    ``M_KOISK_TY10_MSG`` ...) are passed on as warnings.

:func:`parse` tells the two apart by their elements (``hvidate`` alone decides nothing: both
operations may send it). The basic-info operation ``getEgytBassInfoInqire`` reuses
``MKioskTy1``-``11`` and ``25`` with older, different meanings and also sends ``hvec``; it is
recognised by its own fields (``hpbdn``, ``dutyEryn``, ``dutyTime1s`` ...) and refused by all
three parsers rather than misread. So is a document of the other operation.

Element names are matched case-insensitively (``mkioskty1`` = ``MKioskTy1``). ``hvidate``
(``yyyyMMddHHmmss``, Korea time) becomes ``observed_at`` in UTC; for beds a missing or invalid
``hvidate`` is a warning, for severe-illness items it is optional.

Every failure is an :class:`EgenError` with a one-line message: not XML, a document type
declaration (refused before parsing, so no entity can expand), the data.go.kr error envelope
(``OpenAPI_ServiceResponse``, which arrives with HTTP 200), a ``resultCode`` other than ``00``,
no ``<item>``, an item without ``hpid`` (named by its 1-based index), or values that a
:class:`StatusUpdate` refuses (named by hpid and field). Items that change nothing (every value
unknown) are left out of the result; the others keep the document's order.

:func:`read_page` is the reading all three share, for a page of any operation of the service (the
institution lists of ``goldentime.egen_list`` too): the same refusals, but a page with no ``<item>``
is empty rather than an error, and its ``totalCount`` is given for paging.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal
from urllib.parse import quote, urlencode

from pydantic import ValidationError

from hospital_capacity.errors import CapacityError
from hospital_capacity.schemas import BedUpdate, StatusUpdate
from telemetry.schemas import BedType, Condition, Equipment

#: The live API (data.go.kr 15000563).
BASE_URL = "http://apis.data.go.kr/B552657/ErmctInfoInqireService/"
#: Operations of the service (the README's table); :func:`build_url` accepts only these.
OPERATIONS = (
    "getEgytListInfoInqire",
    "getEgytBassInfoInqire",
    "getEmrrmRltmUsefulSckbdInfoInqire",
    "getSrsillDissAceptncPosblInfoInqire",
    "getEmrrmSrsillDissMsgInqire",
    "getStrmListInfoInqire",
    "getStrmBassInfoInqire",
)
BEDS_OPERATION = "getEmrrmRltmUsefulSckbdInfoInqire"
SEVERE_OPERATION = "getSrsillDissAceptncPosblInfoInqire"

#: Documents larger than this are refused before parsing (a full national page is well under 5 MB).
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024

KST = timezone(timedelta(hours=9), "KST")

#: Bed type → (available element, capacity element).
BED_FIELDS: dict[BedType, tuple[str, str]] = {
    BedType.ER_GENERAL: ("hvec", "hvs01"),
    BedType.ER_PAEDIATRIC: ("hv28", "hvs02"),
    BedType.ER_ISOLATION_NEGATIVE_PRESSURE: ("hv29", "hvs03"),
    BedType.ER_ISOLATION_GENERAL: ("hv30", "hvs04"),
    BedType.ICU: ("hvicc", "hvs17"),
    BedType.OPERATING_ROOM: ("hvoc", "hvs22"),
    BedType.GENERAL_ADMISSION: ("hvgc", "hvs38"),
}
EQUIPMENT_FIELDS: dict[Equipment, str] = {
    Equipment.CT: "hvctayn",
    Equipment.MRI: "hvmriayn",
    Equipment.ANGIOGRAPHY: "hvangioayn",
    Equipment.VENTILATOR: "hvventiayn",
    Equipment.ECMO: "hvecmoayn",
    Equipment.CRRT: "hvcrrtayn",
    Equipment.HYPOTHERMIA: "hvhypoayn",
}
#: ``MKioskTy{n}`` → condition: the enum lists the 28 items first, in the API's order.
KIOSK_CONDITIONS: dict[int, Condition] = dict(enumerate(list(Condition)[:28], start=1))

_NOT_CAPABLE = frozenset({"N", "N1", "불가능"})
_NOT_PROVIDED = "정보미제공"
_INTEGER = re.compile(r"-?[0-9]+")
#: A count with more digits is far out of range (and int() refuses 4,300 digits or more): it is
#: read as ``_OUT_OF_RANGE``, which validation then refuses, naming the field.
_MAX_DIGITS = 9
_OUT_OF_RANGE = 10_000_000_000
_HPID = re.compile(r"[A-Z][A-Z0-9]{2,15}")
_HVIDATE = re.compile(r"[0-9]{14}")
_KIOSK = re.compile(r"mkioskty([0-9]+)")
_KIOSK_MESSAGE = re.compile(r"m_?k(?:io|oi)sk_?ty_?[0-9]+_?msg")
_BED_LIKE = re.compile(r"hvs?[0-9]+|hv[a-z]+ayn|hv(?:ec|oc|gc|icc|cc|ncc|ccc)")
#: Elements only the basic-info operation sends (its MKioskTy items have the legacy meanings).
_BASIC_INFO_ONLY = re.compile(r"hpbdn|duty(?:eryn|hayn|hano|mapimg|inf)|dutytime[0-9][cs]|dgididname")
#: Characters allowed in a pre-encoded service key: unreserved ones and %XX escapes.
_ENCODED_KEY = re.compile(r"(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+")


class EgenError(CapacityError, ValueError):
    """An E-Gen document that cannot be imported. The message is one line a person can act on."""


@dataclass(frozen=True)
class EgenItem:
    """One ``<item>`` of an E-Gen response: whose it is and what it changes."""

    hpid: str
    name: str | None
    update: StatusUpdate
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class RawItem:
    """One ``<item>`` as the document sent it, before any field is read."""

    index: int  # 1-based position in the document
    fields: dict[str, tuple[str, str]]  # lower-case local name → (name as sent, text)
    warnings: list[str]

    def text(self, name: str) -> str | None:
        """The stripped text of element ``name``; ``None`` when missing or empty."""
        found = self.fields.get(name)
        if found is None:
            return None
        return found[1].strip() or None


@dataclass(frozen=True)
class Page:
    """One E-Gen response of any operation: its items in document order (none on an empty page) and the
    ``totalCount`` it declares, stripped (``None`` when it declares none)."""

    items: tuple[RawItem, ...]
    total_count: str | None


# --- public API ------------------------------------------------------------------------------


def parse_beds(xml: bytes) -> list[EgenItem]:
    """Items of a ``getEmrrmRltmUsefulSckbdInfoInqire`` response. Raises :class:`EgenError`."""
    items = _items(xml)
    if _kind(items) == "severe":
        raise EgenError("this is a severe-illness acceptance document (MKioskTy1-28), not real-time beds")
    return [found for item in items if (found := _bed_item(item)) is not None]


def parse_severe(xml: bytes) -> list[EgenItem]:
    """Items of a ``getSrsillDissAceptncPosblInfoInqire`` response. Raises :class:`EgenError`."""
    items = _items(xml)
    if _kind(items) == "beds":
        raise EgenError("this is a real-time beds document (hvec, hvs01 ...), not severe-illness acceptance")
    return [found for item in items if (found := _severe_item(item)) is not None]


def parse(xml: bytes) -> tuple[Literal["beds", "severe"], list[EgenItem]]:
    """Detect which operation ``xml`` answers and parse it: ``("beds" | "severe", items)``.

    Bed or equipment elements (``hvec``, ``hvs01``, ``hvctayn`` ...) mean beds; ``MKioskTyN``
    elements mean severe-illness acceptance. The basic-info operation (legacy MKioskTy
    meanings), a document with both kinds, and one with neither are refused.
    """
    items = _items(xml)
    kind = _kind(items)
    if kind == "beds":
        return "beds", [found for item in items if (found := _bed_item(item)) is not None]
    if kind == "severe":
        return "severe", [found for item in items if (found := _severe_item(item)) is not None]
    raise EgenError("neither real-time beds (hvec, hvs01 ...) nor severe-illness acceptance (MKioskTy1-28)")


def build_url(operation: str, *, service_key: str, stage1: str | None, stage2: str | None, page: int, rows: int) -> str:
    """The live-API URL of ``operation`` for one page.

    ``stage1`` / ``stage2`` (시도 / 시군구, Korean) are percent-encoded as UTF-8. data.go.kr hands
    out each key twice, "Encoding" (already percent-encoded) and "Decoding": a key containing
    ``%`` is taken as already encoded and used as is (it must then be only unreserved
    characters and ``%XX`` escapes), any other key is percent-encoded here. Raises
    :class:`ValueError` for an unknown operation, an empty or malformed key, ``stage2`` without
    ``stage1``, or a page or row count below 1.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; expected one of {', '.join(OPERATIONS)}")
    key = service_key.strip()
    if not key:
        raise ValueError("service key is empty")
    if "%" in key:
        if not _ENCODED_KEY.fullmatch(key):
            raise ValueError("service key contains '%' but is not a valid percent-encoded key")
        encoded_key = key
    else:
        encoded_key = quote(key, safe="")
    if stage2 is not None and stage1 is None:
        raise ValueError("stage2 (시군구) needs stage1 (시도)")
    if page < 1 or rows < 1:
        raise ValueError(f"page and rows must be at least 1 (got page={page}, rows={rows})")
    params: list[tuple[str, str]] = []
    if stage1 is not None:
        params.append(("STAGE1", stage1))
    if stage2 is not None:
        params.append(("STAGE2", stage2))
    params += [("pageNo", str(page)), ("numOfRows", str(rows))]
    return f"{BASE_URL}{operation}?serviceKey={encoded_key}&{urlencode(params, quote_via=quote)}"


# --- documents ---------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _short(text: str, limit: int = 80) -> str:
    """``text`` on one line, at most ``limit`` characters (it comes from the document)."""
    one_line = " ".join(text.split())
    shown = one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
    return shown if shown.isprintable() else repr(shown)[1:-1]


def _child_text(element: ET.Element, path: tuple[str, ...]) -> str | None:
    """Stripped text at ``path`` of local names below ``element`` (case-insensitive), or ``None``."""
    current: ET.Element | None = element
    for name in path:
        assert current is not None
        current = next((c for c in current if _local(c.tag).lower() == name), None)
        if current is None:
            return None
    assert current is not None
    return (current.text or "").strip()


def _root(xml: bytes) -> ET.Element:
    if len(xml) > MAX_DOCUMENT_BYTES:
        raise EgenError(f"document is {len(xml)} bytes, more than the {MAX_DOCUMENT_BYTES} accepted")
    lowered = xml.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise EgenError("not accepted: the document has a DOCTYPE or ENTITY declaration")
    if b"\x00" in xml:
        raise EgenError("not XML: NUL bytes (UTF-16/32 documents are not accepted)")
    if not xml.strip():
        raise EgenError("not XML: the document is empty")
    try:
        return ET.fromstring(xml)
    except (ET.ParseError, LookupError, ValueError) as exc:  # LookupError, ValueError: a bad declared encoding
        raise EgenError(f"not XML: {_short(str(exc))}") from None


def read_page(xml: bytes) -> Page:
    """The items of one E-Gen response, of any operation, and its ``totalCount``.

    Raises :class:`EgenError` for what is not an E-Gen answer (see the module docstring: too large, a document type
    declaration, not XML, the error envelope, a ``resultCode`` other than ``00``, another root element). A page with
    no ``<item>`` is not an error here (a paging reader stops at it); the parsers refuse it.
    """
    root = _root(xml)
    root_name = _local(root.tag).lower()
    if root_name == "openapi_serviceresponse":
        reason = _child_text(root, ("cmmmsgheader", "returnreasoncode")) or "?"
        why = (
            _child_text(root, ("cmmmsgheader", "returnauthmsg"))
            or _child_text(root, ("cmmmsgheader", "errmsg"))
            or "no message"
        )
        raise EgenError(f"E-Gen error envelope: returnReasonCode {_short(reason, 20)} ({_short(why)})")
    if root_name != "response":
        raise EgenError(f"not an E-Gen response: root element is <{_short(_local(root.tag), 40)}>")
    code = _child_text(root, ("header", "resultcode"))
    if code is not None and (code == "" or code.strip("0")):
        message = _child_text(root, ("header", "resultmsg")) or "no message"
        raise EgenError(f"resultCode {_short(code or '(empty)', 20)}: {_short(message)}")
    elements = [e for e in root.iter() if _local(e.tag).lower() == "item"]
    items = []
    for index, element in enumerate(elements, start=1):
        fields: dict[str, tuple[str, str]] = {}
        warnings: list[str] = []
        for child in element:
            if not isinstance(child.tag, str):  # comments, processing instructions
                continue
            sent = _local(child.tag)
            if sent.lower() in fields:
                warnings.append(f"{_short(sent, 40)} appears more than once: the first is used")
                continue
            fields[sent.lower()] = (sent, child.text or "")
        items.append(RawItem(index=index, fields=fields, warnings=warnings))
    return Page(items=tuple(items), total_count=_child_text(root, ("body", "totalcount")))


def _items(xml: bytes) -> list[RawItem]:
    """The items of a document for the parsers, which refuse one without any."""
    page = read_page(xml)
    if not page.items:
        total = page.total_count
        raise EgenError("no <item> elements" + (f" (totalCount {_short(total, 20)})" if total else ""))
    return list(page.items)


def _kind(items: list[RawItem]) -> Literal["beds", "severe"] | None:
    """Which operation the items answer; ``None`` when they name no field of either.

    Raises :class:`EgenError` for basic-info documents and for items that mix both kinds.
    """
    names = {name for item in items for name in item.fields}
    if any(_BASIC_INFO_ONLY.fullmatch(name) for name in names):
        raise EgenError(
            "looks like getEgytBassInfoInqire (basic info), whose MKioskTy1-11/25 have the legacy meanings: "
            "not imported"
        )
    beds = any(_BED_LIKE.fullmatch(name) for name in names)
    severe = any(_KIOSK.fullmatch(name) for name in names)
    if beds and severe:
        raise EgenError("items carry both bed fields and MKioskTy fields: cannot tell which operation this is")
    return "beds" if beds else "severe" if severe else None


def _identity(item: RawItem) -> tuple[str, str | None]:
    hpid = item.text("hpid")
    if hpid is None:
        raise EgenError(f"item {item.index} has no <hpid>")
    if not _HPID.fullmatch(hpid):
        raise EgenError(f"item {item.index}: hpid {_short(hpid, 40)!r} is not an institution ID")
    return hpid, item.text("dutyname")


def _observed_at(item: RawItem, *, required: bool) -> datetime | None:
    raw = item.text("hvidate")
    if raw is None:
        if required:
            item.warnings.append("hvidate missing: observed_at unknown")
        return None
    if _HVIDATE.fullmatch(raw):
        try:
            return datetime.strptime(raw, "%Y%m%d%H%M%S").replace(tzinfo=KST).astimezone(UTC)
        except (ValueError, OverflowError):  # 00010101000000 KST is before year 1 in UTC
            pass
    item.warnings.append(f"hvidate {_short(raw, 40)!r} is not yyyyMMddHHmmss: observed_at unknown")
    return None


def _build(item: RawItem, hpid: str, **fields: object) -> StatusUpdate:
    try:
        return StatusUpdate.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"]) or "update"
        raise EgenError(f"{hpid} (item {item.index}): {where}: {error['msg']}") from None


# --- beds ------------------------------------------------------------------------------------------


def _count(item: RawItem, name: str) -> int | None:
    """The integer in element ``name``; ``None`` (with a warning if not blank) when there is none."""
    raw = item.text(name)
    if raw is None:
        return None
    if not _INTEGER.fullmatch(raw):
        item.warnings.append(f"{name} {_short(raw, 40)!r} is not an integer: read as unknown")
        return None
    if len(raw.lstrip("-")) > _MAX_DIGITS:
        return -_OUT_OF_RANGE if raw.startswith("-") else _OUT_OF_RANGE
    return int(raw)


def _bed(item: RawItem, hpid: str, bed_type: BedType) -> BedUpdate | None:
    available_field, capacity_field = BED_FIELDS[bed_type]
    if available_field not in item.fields and capacity_field not in item.fields:
        return None
    value = _count(item, available_field)
    overcrowded = value is not None and value <= -2
    available = 0 if overcrowded else (value if value is not None and value >= 0 else None)
    total = _count(item, capacity_field)
    if total is not None and total < 0:
        if total != -1:
            item.warnings.append(f"{capacity_field} {total} is negative: capacity read as unknown")
        total = None
    if available is not None and total is not None and available > total:
        item.warnings.append(
            f"{available_field} {available} is more than {capacity_field} {total}: "
            f"kept {available} available, capacity of {bed_type.value} dropped"
        )
        total = None
    try:
        return BedUpdate(available=available, total=total, overcrowded=overcrowded)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"]) or "beds"
        raise EgenError(
            f"{hpid} (item {item.index}): beds.{bed_type.value}.{where} ({available_field}/{capacity_field}): "
            f"{error['msg']}"
        ) from None


def _bed_item(item: RawItem) -> EgenItem | None:
    hpid, name = _identity(item)
    beds = {bed_type: bed for bed_type in BedType if (bed := _bed(item, hpid, bed_type)) is not None}
    equipment: dict[Equipment, bool | None] = {}
    for kind, field in EQUIPMENT_FIELDS.items():
        value = item.text(field)
        if value is not None:
            equipment[kind] = value.upper() == "Y"
    observed_at = _observed_at(item, required=True)
    if not beds and not equipment:
        return None
    update = _build(item, hpid, beds=beds, equipment=equipment, observed_at=observed_at)
    return EgenItem(hpid=hpid, name=name, update=update, warnings=tuple(item.warnings))


# --- severe-illness acceptance ----------------------------------------------------------------------


def _severe_item(item: RawItem) -> EgenItem | None:
    hpid, name = _identity(item)
    conditions: dict[Condition, bool | None] = {}
    for field, (sent, text) in item.fields.items():
        if _KIOSK_MESSAGE.fullmatch(field):
            if text.strip():
                item.warnings.append(f"{_short(sent, 40)}: {_short(text)}")
            continue
        match = _KIOSK.fullmatch(field)
        if match is None:
            continue
        number = match[1].lstrip("0")
        condition = KIOSK_CONDITIONS.get(int(number or "0")) if len(number) <= 2 else None  # int() refuses 4,300 digits
        if condition is None:
            item.warnings.append(f"{_short(sent, 40)} is not one of MKioskTy1-28: ignored")
            continue
        value = text.strip()
        if not value or value == _NOT_PROVIDED:
            continue
        capable = value.upper() == "Y"
        if not capable and value.upper() not in _NOT_CAPABLE:
            item.warnings.append(f"{sent} {_short(value, 40)!r} is not Y/N/N1/불가능: read as not available")
        conditions[condition] = capable
    observed_at = _observed_at(item, required=False)
    if not conditions:
        return None
    ordered = {condition: conditions[condition] for condition in Condition if condition in conditions}
    update = _build(item, hpid, conditions=ordered, observed_at=observed_at)
    return EgenItem(hpid=hpid, name=name, update=update, warnings=tuple(item.warnings))
