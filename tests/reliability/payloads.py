"""Hostile MQTT traffic: a deterministic generator of (topic, payload) pairs for the fuzz tests.

Every case starts from one valid payload of a topic kind (built with the contract's own models,
so it is valid by construction) and does one thing to it: a field set to NaN, a huge number, a
wrong type; the payload cut short, nested 10,000 deep, made larger than 64 KiB, not UTF-8; a
wrong or missing ``schema``; an extra field; a wrong topic. Each case says what was done
(``family``), what the contract must do with it (``expect``) and whether MQTT can carry its
topic at all (``on_the_wire``: a publish topic cannot hold ``+``, ``#`` or NUL, start with ``$``,
pass 65,535 bytes or, for Mosquitto, 200 levels, so those are only tried on the pure level).

A seeded :class:`random.Random` fills the rest up to ``total`` with random values, byte flips
and multi-field mutations; the same seed and tag give the same cases, byte for byte, on every
run, so the figures in docs/reliability.md can be measured again. Hand-written rather than
hypothesis: the families must be counted, and the expectation of each case stated, up front.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from telemetry import schemas, topics
from telemetry.topics import Kind

#: Every run starts from these times, so the payloads never depend on the clock.
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Expect(StrEnum):
    """What the contract must do with a case."""

    ACCEPT = "accept"  # decodes to a model
    REJECT = "reject"  # refused: TopicError or PayloadError, with a reason
    EITHER = "either"  # may go either way (e.g. null in a field that may be unknown); if accepted, it is sound


@dataclass(frozen=True, slots=True)
class Case:
    """One hostile message."""

    family: str
    kind: Kind  # the kind whose valid payload the case started from
    topic: str
    payload: bytes
    expect: Expect
    #: Dotted path of the field that was changed ("" when the whole payload or the topic was).
    field: str = ""
    on_the_wire: bool = True


@dataclass(frozen=True, slots=True)
class Raw:
    """JSON text emitted as it is: ``NaN``, ``Infinity``, ``1e400``, integers of any size."""

    text: str


class Limit(NamedTuple):
    low: float
    high: float
    integer: bool
    high_excluded: bool = False

    def contains(self, value: float) -> bool:
        return self.low <= value and (value < self.high if self.high_excluded else value <= self.high)


#: The range of every number of the contract, by field name. Written out again here (not read
#: from the models) so that it checks them: a number outside it must never be accepted.
LIMITS: dict[str, Limit] = {
    "lat": Limit(-90, 90, integer=False),
    "lon": Limit(-180, 180, integer=False),
    "speed_mps": Limit(0, 100, integer=False),
    "heading_deg": Limit(0, 360, integer=False, high_excluded=True),
    "accuracy_m": Limit(0, 100_000, integer=False),
    "age_years": Limit(0, 120, integer=True),
    "hr_bpm": Limit(0, 300, integer=True),
    "sbp_mmhg": Limit(0, 300, integer=True),
    "dbp_mmhg": Limit(0, 300, integer=True),
    "rr_per_min": Limit(0, 80, integer=True),
    "spo2_pct": Limit(0, 100, integer=True),
    "temp_c": Limit(25, 45, integer=False),
    "gcs": Limit(3, 15, integer=True),
    "pain_nrs": Limit(0, 10, integer=True),
    "ktas": Limit(1, 5, integer=True),
    "p_critical": Limit(0, 1, integer=False),
    "p_emergency": Limit(0, 1, integer=False),
    "eta_s": Limit(0, 86_400, integer=False),
    "beds_on_arrival": Limit(0, 10_000, integer=True),
    "advice_version": Limit(1, math.inf, integer=True),
    "available": Limit(0, 10_000, integer=True),  # bed counts (a capability's "available" is a boolean)
    "total": Limit(0, 10_000, integer=True),
    "offload_minutes": Limit(0, 1440, integer=False),
    "priority": Limit(1, 5, integer=True),
    "payload_bytes": Limit(0, math.inf, integer=True),
    "epoch": Limit(1, math.inf, integer=True),  # a region's lease epoch (ems.dispatcher_status/1)
    "heartbeat_s": Limit(1, 3600, integer=False),
}
#: Counters: a positive integer of any size is a valid count (Python, JSON and SQL JSON columns hold it).
UNBOUNDED = frozenset(name for name, limit in LIMITS.items() if math.isinf(limit.high))

#: The only numbers of the contract that may be negative.
SIGNED = frozenset({"lat", "lon"})
#: Fields every payload must state.
REQUIRED = frozenset({"schema", "ts", "msg_id"})

NON_FINITE = ("NaN", "Infinity", "-Infinity")
HUGE = ("1e308", "-1e308", "1e400", "-1e400", str(10**30), str(-(10**30)), str(2**63), str(2**64))
#: Byte sequences that are not UTF-8: a lone 0xff, an overlong '/', a UTF-16 surrogate, a code
#: point past U+10FFFF, a lone continuation byte, a sequence cut short.
NOT_UTF8 = (b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82")
NOT_JSON = (b" ", b"null", b"true", b"0", b'"x"', b"[]", b"{}", b"{", b"}", b"[1,2", b"\x00", b'{"a"}', b"{'a': 1}")
#: Timestamps that must be refused: naive, a date, impossible dates and times, an offset of
#: 99 hours, times outside years 1-9999 once in UTC, seconds since 1970, words.
BAD_TIMES: tuple[Any, ...] = (
    "2026-03-01T09:00:00",
    "2026-03-01",
    "2026-02-30T09:00:00Z",
    "2026-03-01T24:00:00Z",
    "2026-03-01T09:00:60Z",
    "2026-03-01T09:00:00+99:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    1772355600,
    "now",
    "",
)
#: The extreme times that are still valid.
EDGE_TIMES = ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-14:00")
BAD_MSG_IDS = ("", "short", "x" * 65, "a/b/c/d/e", "with space", "éééééééé", "+#+#+#+#", "\u0000" * 8)
TRICKY_TEXT = ("🚑\u202e\u00e9\ufeff", "\u0000\u0001\u001f", "line\nbreak\r", "a" * 64, "\\", "'; DROP TABLE x; --")
#: Deep enough to exceed any JSON parser's recursion limit, small enough to stay under 64 KiB.
DEEP = 10_000


def dumps(value: Any) -> str:
    """JSON text of ``value``; :class:`Raw` parts go in verbatim (JSON has no NaN: we send it anyway)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def to_bytes(text: str) -> bytes:
    """UTF-8, keeping lone surrogates as their (invalid) bytes instead of failing."""
    return text.encode("utf-8", errors="surrogatepass")


# --- one valid payload per kind -----------------------------------------------------------------


def _valid_model(kind: Kind, ts: datetime, msg_id: str) -> schemas.Payload:
    """A payload of ``kind`` with every optional field filled in, so each one gets mutated."""
    severity = schemas.Severity(ktas=2, p_critical=0.62, p_emergency=0.91)

    def option(hpid: str, eta_s: float) -> schemas.Option:
        return schemas.Option(hpid=hpid, name="서울대학교병원", eta_s=eta_s, beds_on_arrival=3, reason="2 beds free")

    if kind is Kind.POSITION:
        return schemas.Position(
            lat=37.5704, lon=126.9921, speed_mps=12.5, heading_deg=271.5, accuracy_m=8.5, ts=ts, msg_id=msg_id
        )
    if kind is Kind.VITALS:
        return schemas.Vitals(
            patient_id="P-7f3a9c01",
            age_years=71,
            sex=schemas.Sex.MALE,
            hr_bpm=92,
            sbp_mmhg=178,
            dbp_mmhg=96,
            rr_per_min=20,
            spo2_pct=95,
            temp_c=37.4,
            avpu=schemas.Avpu.ALERT,
            gcs=14,
            pain_nrs=3,
            injury=False,
            chief_complaint="right-sided weakness, slurred speech",
            flags=schemas.CrewFlags(fast_positive=True),
            ts=ts,
            msg_id=msg_id,
        )
    if kind is Kind.STATUS:
        return schemas.Status(
            status=schemas.UnitStatus.TRANSPORTING, incident_id="I-20260301-1", hpid="A1100017", ts=ts, msg_id=msg_id
        )
    if kind is Kind.ADVICE:
        return schemas.Advice(
            advice_version=2,
            patient_id="P-7f3a9c01",
            destination=option("A1100017", 512.5),
            alternatives=(option("A1100015", 640.5),),
            severity=severity,
            eta_mode=schemas.EtaMode.ROAD,
            ts=ts,
            msg_id=msg_id,
        )
    if kind is Kind.DECISION:
        return schemas.Decision(
            advice_version=2, decision=schemas.DecisionKind.DECLINE, reason="road closed", ts=ts, msg_id=msg_id
        )
    if kind is Kind.CAPACITY:
        return schemas.Capacity(
            beds={schemas.BedType.ER_GENERAL: schemas.BedCount(available=3, total=30, updated_at=ts)},
            equipment={schemas.Equipment.CT: schemas.Capability(available=True, updated_at=ts)},
            conditions={schemas.Condition.STEMI_PCI: schemas.Capability(available=False, updated_at=ts)},
            ems_traffic=schemas.EmsTraffic(
                status=schemas.TrafficStatus.ADVISORY,
                reason="CT down",
                expires_at=ts + timedelta(hours=2),
                updated_at=ts,
            ),
            offload_minutes=12.5,
            offload_updated_at=ts,
            updated_at=ts,
            updated_by="charge nurse",
            ts=ts,
            msg_id=msg_id,
        )
    if kind is Kind.INBOUND:
        patient = schemas.InboundPatient(
            unit_id="U-1", patient_id="P-7f3a9c01", advice_version=2, severity=severity, eta_s=300.5
        )
        return schemas.Inbound(patients=(patient,), ts=ts, msg_id=msg_id)
    if kind is Kind.INCIDENT:
        return schemas.Incident(lat=37.5704, lon=126.9921, category="stroke", priority=1, ts=ts, msg_id=msg_id)
    if kind is Kind.ASSIGNMENT:
        return schemas.Assignment(unit_id="U-1", eta_s=240.5, eta_mode=schemas.EtaMode.ROAD, ts=ts, msg_id=msg_id)
    if kind is Kind.REQUESTS:
        request = schemas.TransferRequest(
            request_id="U-1-v2", unit_id="U-1", patient_id="P-7f3a9c01", advice_version=2, pathway="stroke", ktas=2,
            critical=True, eta_s=512.5, chief_complaint="우측 편마비", note="발병 40분",
            vitals=schemas.KeyVitals(age_years=67, sex=schemas.Sex.MALE, hr_bpm=112, sbp_mmhg=150, rr_per_min=24,
                                     spo2_pct=93, gcs=14, avpu=schemas.Avpu.ALERT),
            sent_at=ts, answer_by=ts + timedelta(seconds=60), seen=True,
        )  # fmt: skip
        return schemas.Requests(requests=(request,), ts=ts, msg_id=msg_id)
    if kind is Kind.ANSWER:
        return schemas.Answer(request_id="U-1-v2", answer=schemas.AnswerKind.DECLINE,
                              reason=schemas.RefusalReason.NO_SPECIALIST, text="신경과 전문의 수술 중",
                              answered_by="charge nurse", ts=ts, msg_id=msg_id)  # fmt: skip
    if kind is Kind.REQUEST_STATE:
        return schemas.UnitRequest(
            request_id="U-1-v2",
            hpid="A1100017",
            name="서울대학교병원",
            advice_version=2,
            state=schemas.RequestState.DECLINED,
            reason=schemas.RefusalReason.NO_SPECIALIST,
            message="거절(전문의 부재)",
            message_en="declined (no specialist)",
            sent_at=ts,
            answer_by=ts + timedelta(seconds=60),
            answered_at=ts,
            ts=ts,
            msg_id=msg_id,
        )
    if kind is Kind.DISPATCHER_STATUS:
        return schemas.DispatcherStatus(region="national:gwangju", state=schemas.DispatcherState.LEADING, epoch=4,
                                        since=ts - timedelta(hours=1), ledger=schemas.LedgerState.UNREACHABLE,
                                        heartbeat_s=15.0, detail="bed ledger: connection refused", ts=ts,
                                        msg_id=msg_id)  # fmt: skip
    assert kind in (Kind.REJECTED, Kind.UNIT_REJECTED)  # one report, on the operators' or the unit's topic
    return schemas.Rejected(
        topic="ems/units/U-1/vitals",
        reason="hr_bpm: too high",
        payload_excerpt='{"hr_bpm": 900}',
        payload_bytes=15,
        ts=ts,
        msg_id=msg_id,
    )


def valid_payload(kind: Kind, n: int) -> dict[str, Any]:
    """The wire form (parsed JSON) of a valid payload of ``kind``; ``n`` makes its id and time unique."""
    model = _valid_model(kind, T0 + timedelta(seconds=n), f"fz-{n:010d}")
    wire: dict[str, Any] = json.loads(schemas.encode(model))
    return wire


# --- walking and changing a payload ----------------------------------------------------------------

Path = tuple[str | int, ...]


def nodes(value: Any, prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every field of a parsed payload, nested ones too, with its path (the root excluded)."""
    children: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    for key, child in children:
        yield (*prefix, key), child
        yield from nodes(child, (*prefix, key))


def replaced(payload: dict[str, Any], path: Path, value: Any, *, remove: bool = False) -> dict[str, Any]:
    """A copy of ``payload`` with the field at ``path`` set to ``value`` (or removed)."""
    copy = deepcopy(payload)
    parent: Any = copy
    for key in path[:-1]:
        parent = parent[key]
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy


def dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _wrong_types(value: Any) -> list[Any]:
    """Values of another JSON type than ``value``, each refused in strict mode whatever the field
    (an integer is a valid float, so a float is never replaced by an integer)."""
    if isinstance(value, bool):
        return [1, "true", [], {}]
    if isinstance(value, int):
        return ["72", 72.5, True, [], {}]
    if isinstance(value, float):
        return ["37.5", True, [], {}]
    if isinstance(value, str):
        return [7, True, [], {}]
    if isinstance(value, list):
        return [{}, "x", 1]
    if isinstance(value, dict):
        return [[], "x", 1]
    return []


def _empty(value: Any) -> Any:
    return "" if isinstance(value, str) else [] if isinstance(value, list) else {} if isinstance(value, dict) else None


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def field_mutations(path: Path, value: Any) -> Iterator[tuple[str, Any, Expect]]:
    """(family, new value, expectation) for the field at ``path`` whose valid value is ``value``."""
    name = path[-1]
    for token in NON_FINITE:
        yield "nan", Raw(token), Expect.REJECT
    for number in HUGE:
        a_count = name in UNBOUNDED and number.isdigit()
        yield "huge", Raw(number), Expect.EITHER if a_count else Expect.REJECT
    for negative in (-1, -0.5):
        yield "negative", negative, Expect.EITHER if name in SIGNED else Expect.REJECT
    limit = LIMITS.get(str(name))
    if limit is not None and isinstance(value, int | float) and not isinstance(value, bool):
        step_down = limit.low - 1 if limit.integer else math.nextafter(limit.low, -math.inf)
        step_up = limit.high + 1 if limit.integer else math.nextafter(limit.high, math.inf)
        yield "out-of-range", step_down, Expect.REJECT
        yield "at-the-limit", limit.low, Expect.EITHER
        if not math.isinf(limit.high):
            yield "out-of-range", limit.high if limit.high_excluded else step_up, Expect.REJECT
            inside = math.nextafter(limit.high, -math.inf) if limit.high_excluded else limit.high
            yield "at-the-limit", int(inside) if limit.integer else inside, Expect.EITHER
    for wrong in _wrong_types(value):
        yield "wrong-type", wrong, Expect.REJECT
    yield "null", None, Expect.EITHER
    if isinstance(value, str | list | dict):
        yield "empty", _empty(value), Expect.EITHER
    yield "long-string", "x" * 5000, Expect.REJECT  # no text field of the contract takes 2,049 characters
    for text in TRICKY_TEXT:
        yield "tricky-text", text, Expect.EITHER
    yield "nested", _nested(64), Expect.REJECT
    if str(name) == "ts" or str(name).endswith("_at"):
        for bad in BAD_TIMES:
            yield "bad-time", bad, Expect.REJECT
        for edge in EDGE_TIMES:
            yield "edge-time", edge, Expect.ACCEPT if len(path) == 1 else Expect.EITHER
    if path == ("msg_id",):
        for bad in BAD_MSG_IDS:
            yield "bad-msg-id", bad, Expect.REJECT


# --- topics -------------------------------------------------------------------------------------------


#: Mosquitto refuses (disconnects) a publish topic of more levels than this.
MAX_LEVELS = 200


def _wire_topic(topic: str) -> bool:
    """Whether an MQTT client and broker can carry ``topic`` as a publish topic."""
    try:
        encoded = topic.encode("utf-8")
    except UnicodeEncodeError:
        return False
    refused = bool({"+", "#", "\x00"} & set(topic)) or topic.startswith("$") or topic.count("/") >= MAX_LEVELS
    return bool(topic) and not refused and len(encoded) <= 65_535


def wrong_topics(tag: str) -> list[str]:
    """Topics outside the contract. Each holds ``tag`` when it can, so a test can find its own."""
    return [
        f"ems/units/{tag}/teleport",
        f"ems/{tag}",
        f"ems/units/{tag}",
        f"ems/units/{tag}/vitals/extra",
        f"ems/units/{tag}//vitals",
        f"ems//{tag}/vitals",
        f"ems/units//{tag}",
        f"ems/hospitals/{tag}/vitals",
        f"ems/incidents/{tag}/advice",
        f"ems/rejected/{tag}/extra",
        f"ems/units/{tag}/VITALS",
        f"ems/units/{tag}/vitals/",
        f"ems/units/{tag}/vitals ",
        f"ems/units/{tag} /vitals",
        f"ems/units/-{tag}/vitals",
        f"ems/units/.{tag}/vitals",
        f"ems/units/{tag}.é/vitals",
        f"ems/units/{tag}-{'x' * 80}/vitals",
        f"ems/units/{tag}/a/b/c/vitals",
        f"ems/{tag}/" + "/".join(["x"] * 150),
        f"ems/units/{tag}{'y' * 60_000}/vitals",
        f"EMS/units/{tag}/vitals",
        f"/ems/units/{tag}/vitals",
        f"goldentime/units/{tag}/vitals",
        "ems",
        # not on the wire: MQTT refuses these publish topics, so only the pure level sees them
        "ems/units/+/vitals",
        "ems/units/#",
        f"ems/units/{tag}+/vitals",
        f"ems/units/{tag}#/vitals",
        f"ems/+/{tag}/vitals",
        "#",
        "+",
        f"ems/units/{tag}\x00/vitals",
        f"$SYS/ems/units/{tag}/vitals",
        f"$share/g/ems/units/{tag}/vitals",
        "",
        f"ems/units/{tag}\ud800/vitals",
        f"ems/units/{tag}/" + "z" * 70_000,
        f"ems/{tag}/" + "/".join(["x"] * 500),
    ]


# --- the generator --------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, rng: random.Random, tag: str) -> None:
        self.rng = rng
        self.tag = tag
        self.cases: list[Case] = []
        self.serial = 0

    def key(self, kind: Kind) -> str:
        """One of four units (centres, incidents...) for all kinds, so that the dispatcher sees
        valid positions, statuses and vitals of the same units among the hostile ones, and plans."""
        section = topics.CONTRACT[kind].template.split("/")[1][0]  # u(nits), h(ospitals), i(ncidents), r(ejected)
        return f"{self.tag}-{section}{self.serial % 4}"

    def fresh(self, kind: Kind) -> dict[str, Any]:
        self.serial += 1
        return valid_payload(kind, self.serial)

    def add(
        self, family: str, kind: Kind, payload: bytes, expect: Expect, *, field: str = "", topic: str | None = None
    ) -> None:
        topic = topics.build(kind, self.key(kind)) if topic is None else topic
        self.cases.append(Case(family, kind, topic, payload, expect, field, _wire_topic(topic)))

    def add_json(self, family: str, kind: Kind, value: Any, expect: Expect, *, field: str = "") -> None:
        self.add(family, kind, to_bytes(dumps(value)), expect, field=field)


def _systematic(b: _Builder) -> None:
    """Every family on every field of every kind."""
    rng = b.rng
    for kind in Kind:
        for _ in range(5):
            b.add_json("valid", kind, b.fresh(kind), Expect.ACCEPT)
        for path, value in list(nodes(b.fresh(kind))):
            for family, new, expect in field_mutations(path, value):
                b.add_json(family, kind, replaced(b.fresh(kind), path, new), expect, field=dotted(path))
            expect = Expect.REJECT if len(path) == 1 and path[0] in REQUIRED else Expect.EITHER
            b.add_json(
                "missing-field", kind, replaced(b.fresh(kind), path, None, remove=True), expect, field=dotted(path)
            )
        # schema: another kind's, another version, near misses
        own = schemas.schema_of(kind)
        for other in Kind:
            if schemas.MODELS[other] is not schemas.MODELS[kind]:
                b.add_json("wrong-schema", kind, {**b.fresh(kind), "schema": schemas.schema_of(other)}, Expect.REJECT)
        for schema in (own.replace("/1", "/2"), own.upper(), f" {own}", "", None, 1):
            b.add_json("wrong-schema", kind, {**b.fresh(kind), "schema": schema}, Expect.REJECT, field="schema")
        # an extra field in the payload and in each nested object
        payload = b.fresh(kind)
        for path in [(), *(p for p, v in nodes(payload) if isinstance(v, dict))]:
            b.add_json("extra-field", kind, replaced(b.fresh(kind), (*path, "zz_extra"), 1), Expect.REJECT)
        # a field twice: JSON allows it, the last one counts
        text = dumps(b.fresh(kind))
        b.add("duplicate-key", kind, to_bytes(text[:-1] + ',"msg_id":"fz-duplicate-1"}'), Expect.EITHER)
        b.add("duplicate-key", kind, to_bytes(text[:-1] + ',"ts":NaN}'), Expect.REJECT)
        # the payload on the topic of every other kind
        for other in Kind:
            if schemas.MODELS[other] is not schemas.MODELS[kind]:  # both refusal topics carry ems.rejected/1
                raw = to_bytes(dumps(b.fresh(kind)))
                b.add("wrong-kind-topic", kind, raw, Expect.REJECT, topic=topics.build(other, b.key(other)))
        # cut short, not UTF-8, not JSON, too deep, too large
        for _ in range(12):
            raw = to_bytes(dumps(b.fresh(kind)))
            b.add("truncated", kind, raw[: rng.randrange(1, len(raw))], Expect.REJECT)
        for bad in NOT_UTF8:
            raw = to_bytes(dumps(b.fresh(kind)))
            at = rng.randrange(0, len(raw) + 1)
            b.add("not-utf8", kind, raw[:at] + bad + raw[at:], Expect.REJECT)
        b.add("not-utf8", kind, dumps(b.fresh(kind)).encode("utf-16"), Expect.REJECT)
        b.add("not-utf8", kind, dumps({**b.fresh(kind), "zz": "é"}).encode("latin-1", errors="replace"), Expect.REJECT)
        b.add("not-json", kind, b"\xef\xbb\xbf" + to_bytes(dumps(b.fresh(kind))), Expect.REJECT)  # a UTF-8 BOM
        for raw in NOT_JSON:
            b.add("not-json", kind, raw, Expect.REJECT)
        b.add("deep", kind, b"[" * DEEP, Expect.REJECT)
        b.add("deep", kind, b"[" * DEEP + b"]" * DEEP, Expect.REJECT)
        b.add("deep", kind, b'{"a":' * DEEP + b"1" + b"}" * DEEP, Expect.REJECT)
        text = dumps(b.fresh(kind))
        b.add("deep", kind, to_bytes(text[:-1] + ',"zz":' + "[" * DEEP + "]" * DEEP + "}"), Expect.REJECT)
        b.add("deep", kind, to_bytes(text[:-1] + ',"zz":' + "[" * 40_000 + "]" * 40_000 + "}"), Expect.REJECT)
        limit = schemas.MAX_PAYLOAD_BYTES
        for size, expect in ((limit, Expect.ACCEPT), (limit + 1, Expect.REJECT), (1024 * 1024, Expect.REJECT)):
            raw = to_bytes(dumps(b.fresh(kind)))
            b.add("oversized", kind, raw[:-1] + b" " * (size - len(raw)) + b"}", expect)
        b.add_json("oversized", kind, {**b.fresh(kind), "zz": "x" * 70_000}, Expect.REJECT)
        b.add("empty-payload", kind, b"", Expect.REJECT)
    for topic in wrong_topics(b.tag):
        for kind in (Kind.VITALS, Kind.POSITION, Kind.STATUS):
            b.add("wrong-topic", kind, to_bytes(dumps(b.fresh(kind))), Expect.REJECT, topic=topic)


def _random_value(rng: random.Random) -> Any:
    """A value from anywhere: integers of every size, odd floats, text of any code point, small structures."""
    pick = rng.randrange(9)
    if pick == 0:
        return rng.randint(-(2**70), 2**70) >> rng.randrange(70)
    if pick == 1:
        return rng.choice([0.0, -0.0, 5e-324, 1e-300, 2.2250738585072014e-308, rng.uniform(-1e6, 1e6)])
    if pick == 2:
        return Raw(rng.choice(NON_FINITE + HUGE))
    if pick == 3:
        return "".join(chr(rng.choice([rng.randrange(0x20, 0x7F), rng.randrange(0x80, 0xD800)])) for _ in range(20))
    if pick == 4:
        return rng.choice([True, False, None])
    if pick == 5:
        return [_random_value(rng) for _ in range(rng.randrange(4))]
    if pick == 6:
        return {
            rng.choice(["a", "lat", "hr_bpm", "available", "zz"]): _random_value(rng) for _ in range(rng.randrange(3))
        }
    if pick == 7:
        return rng.choice(BAD_TIMES + EDGE_TIMES)
    return rng.choice((*TRICKY_TEXT, "A1100017", "P-0001", "ems.vitals/1", "er_general", "accept", "road"))


def _random(b: _Builder, total: int) -> None:
    """Random values, random byte damage and several bad fields at once, until ``total`` cases."""
    rng = b.rng
    kinds = list(Kind)
    round_ = 0
    while len(b.cases) < total:
        kind = kinds[round_ % len(kinds)]
        round_ += 1
        payload = b.fresh(kind)
        fields = [path for path, _ in nodes(payload)]
        style = round_ % 3
        if style == 0:
            path = rng.choice(fields)
            b.add_json(
                "random-value", kind, replaced(payload, path, _random_value(rng)), Expect.EITHER, field=dotted(path)
            )
        elif style == 1:
            raw = bytearray(to_bytes(dumps(payload)))
            for _ in range(rng.randrange(1, 5)):
                at = rng.randrange(len(raw))
                action = rng.randrange(4)
                if action == 0:
                    raw[at] ^= 1 << rng.randrange(8)
                elif action == 1:
                    raw.insert(at, rng.randrange(256))
                elif action == 2 and len(raw) > 1:
                    del raw[at]
                else:
                    raw[at:at] = raw[at : at + rng.randrange(1, 16)]
            b.add("byte-damage", kind, bytes(raw), Expect.EITHER)
        else:
            chosen: list[Path] = []
            for path in rng.sample(fields, k=min(len(fields), rng.randrange(2, 4))):
                if not any(path[: len(p)] == p or p[: len(path)] == path for p in chosen):
                    chosen.append(path)
            for path in chosen:
                _, new, _ = rng.choice([m for m in field_mutations(path, None) if m[2] is Expect.REJECT])
                payload = replaced(payload, path, new)
            b.add_json("several-bad", kind, payload, Expect.REJECT, field=",".join(dotted(p) for p in chosen))


def generate(seed: int = 20260301, *, tag: str = "fz", total: int = 12_000) -> list[Case]:
    """At least ``total`` hostile cases, the same ones for the same ``seed`` and ``tag``.

    ``tag`` (letters, digits, '-', at most 40 characters) goes into every topic that can hold
    it, so a test on a shared broker can tell its own messages from anyone else's."""
    topics.check_id(tag, what="tag")
    if len(tag) > 40:
        raise ValueError(f"tag {tag!r} is longer than 40 characters")
    builder = _Builder(random.Random(seed), tag)
    _systematic(builder)
    _random(builder, total)
    return builder.cases
