"""Fuzzing every MQTT ingestion path with hostile messages (the reliability issue, "Bad input").

The rule (DESIGN.md, "The MQTT contract"): a malformed payload goes to ``ems/rejected/...`` with
the reason and the loop keeps running. ~12,000 generated messages (tests/reliability/payloads.py)
go through the contract itself (topic parsing and payload decoding), the dashboard's view, the
live city's inbox, and, over a real broker, a running recorder and dispatcher. Every path counts
what it tried, accepted, refused with a reason and crashed on, and prints it (``pytest -s``):
docs/reliability.md quotes those figures.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from paho.mqtt.client import topic_matches_sub

from dashboard.state import CityView, alerts, kpis
from dispatch.scenario import Prepared
from dispatch.service import Dispatcher
from dispatch.severity.model import TrainedSeverity
from goldentime.settings import default_data_dir
from simulations.live import _Inbox
from telemetry import schemas, topics
from telemetry.client import Message, MessageHandler, MqttClient
from telemetry.recorder import Recorder
from telemetry.store import TelemetryStore, messages, rejected
from tests.conftest import BrokerUnderTest
from tests.helpers import unique, wait_until
from tests.reliability.payloads import LIMITS, Case, Expect, generate

SEED = 20260301
DATA = default_data_dir()
#: Families whose reason must name the field that was changed.
NAMED = {"nan", "huge", "negative", "out-of-range", "wrong-type", "long-string", "nested", "bad-time", "bad-msg-id"}
#: What the dispatcher subscribes to (dispatch/service.py, Dispatcher.start).
DISPATCHER_KINDS = (
    topics.Kind.POSITION,
    topics.Kind.STATUS,
    topics.Kind.ADVICE,
    topics.Kind.CAPACITY,
    topics.Kind.VITALS,
    topics.Kind.DECISION,
    topics.Kind.INCIDENT,
    topics.Kind.ANSWER,
)
#: What the dispatcher publishes, so may be stored on a unit's or an incident's topic besides ours.
DISPATCHER_OUTPUT = {topics.Kind.ADVICE.value, topics.Kind.INBOUND.value, topics.Kind.ASSIGNMENT.value,
                     topics.Kind.UNIT_REJECTED.value, topics.Kind.REQUESTS.value,
                     topics.Kind.REQUEST_STATE.value}  # fmt: skip
#: How the dispatcher's refusal of a crew's decision starts (dispatch/explain.py): such a refusal depends on
#: the advice the unit had then, which a storm of hostile statuses and vitals makes unpredictable.
DECISION_REFUSED = "decision refused"


@dataclass
class Tally:
    """What one ingestion path did with the messages it was given."""

    tried: int = 0
    accepted: int = 0
    refused: int = 0  # with a reason
    cleared: int = 0  # an empty payload on a valid topic: a cleared retained message, not a refusal
    crashes: int = 0


@dataclass
class Report:
    rows: dict[str, Tally] = field(default_factory=dict)

    def __getitem__(self, path: str) -> Tally:
        return self.rows.setdefault(path, Tally())

    def print(self, title: str) -> None:
        """The table docs/reliability.md quotes (shown with ``pytest -s``)."""
        print(f"\n{title}")
        print(f"{'path':<60} {'tried':>7} {'accepted':>9} {'refused':>8} {'cleared':>8} {'crashes':>8}")
        for path, t in self.rows.items():
            print(f"{path:<60} {t.tried:>7} {t.accepted:>9} {t.refused:>8} {t.cleared:>8} {t.crashes:>8}")


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return generate(SEED, tag="fz")


def outcome(case: Case) -> tuple[schemas.Payload | None, str | None]:
    """The decoded payload, or the reason it was refused. Any other exception is a crash and propagates."""
    try:
        topic = topics.parse(case.topic)
        return schemas.decode(topic.kind, case.payload), None
    except (topics.TopicError, schemas.PayloadError) as exc:
        return None, str(exc)


def refused(case: Case) -> bool:
    return outcome(case)[0] is None


def topic_ok(topic: str) -> bool:
    try:
        topics.parse(topic)
    except topics.TopicError:
        return False
    return True


def numbers(value: Any, name: str = "") -> Iterator[tuple[str, float]]:
    """Every number in a dumped payload with the name of its field (booleans are not numbers)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from numbers(child, str(key))
    elif isinstance(value, list | tuple):
        for child in value:
            yield from numbers(child, name)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield name, value


def unsound(kind: topics.Kind, payload: schemas.Payload) -> list[str]:
    """What is wrong with an accepted payload: a number not finite, outside LIMITS or of a field
    LIMITS does not know; or a payload that does not survive being encoded and decoded again
    (every consumer re-publishes or stores what it accepted)."""
    found = []
    for name, number in numbers(payload.model_dump(mode="python", by_alias=True)):
        limit = LIMITS.get(name)
        if not math.isfinite(number):
            found.append(f"{name} = {number} is not finite")
        elif limit is None:
            found.append(f"{name} = {number}: a number of a field the test does not know")
        elif not limit.contains(number):
            found.append(f"{name} = {number} is outside {limit}")
    if schemas.decode(kind, schemas.encode(payload)) != payload:
        found.append("does not survive encode/decode")
    return found


# --- the contract itself: topics.parse + schemas.decode ------------------------------------------


def test_every_hostile_message_is_decoded_or_refused_with_a_reason(cases: list[Case]) -> None:
    """Each message either decodes to a sound model or is refused with a one-line reason (naming
    the field when one field was broken) that fits a rejection report; never another exception."""
    assert len(cases) >= 10_000
    assert {c.kind for c in cases} == set(topics.Kind)
    report, families = Report(), Report()
    crashes: list[tuple[object, ...]] = []
    wrong: list[tuple[object, ...]] = []
    bad_reasons: list[tuple[str, str]] = []
    unsound_found: list[tuple[object, ...]] = []
    bad_reports: list[tuple[str, str, str]] = []
    for case in cases:
        row, family = report["topics.parse + schemas.decode (pure)"], families[case.family]
        for tally in (row, family):
            tally.tried += 1
        try:
            payload, reason = outcome(case)
        except Exception as exc:  # the very thing this test looks for
            crashes.append((case.family, case.field, case.topic[:80], case.payload[:80], repr(exc)))
            row.crashes += 1
            family.crashes += 1
            continue
        if payload is not None:
            row.accepted += 1
            family.accepted += 1
            if case.expect is Expect.REJECT:
                wrong.append(("accepted", case.family, case.field, case.payload[:200]))
            kind = topics.parse(case.topic).kind
            if problems := unsound(kind, payload):
                unsound_found.append((case.family, case.field, problems))
            continue
        assert reason is not None
        row.refused += 1
        family.refused += 1
        if case.expect is Expect.ACCEPT:
            wrong.append(("refused", case.family, case.field, reason))
        if not reason.strip() or "\n" in reason or "\r" in reason:
            bad_reasons.append((case.family, reason))
        if case.family in NAMED and named(case.field) not in reason:
            bad_reasons.append((case.family, f"{named(case.field)!r} not named in: {reason}"))
        if case.family == "several-bad":
            missing = [f for f in case.field.split(",") if named(f) not in reason]
            if missing:
                bad_reasons.append((case.family, f"{missing} not named in: {reason}"))
        if problem := report_problem(case, reason):
            bad_reports.append((case.family, case.topic[:80], problem))
    report.print("Pure level: every generated (topic, payload) through the contract")
    families.print("... by family")
    assert crashes == [], crashes[:5]
    assert wrong == [], wrong[:5]
    assert bad_reasons == [], bad_reasons[:5]
    assert unsound_found == [], unsound_found[:5]
    assert bad_reports == [], bad_reports[:5]
    total = report["topics.parse + schemas.decode (pure)"]
    assert total.refused > 0.8 * total.tried and total.accepted >= 50  # both outcomes really exercised
    # every family refuses something, except the valid payloads and the extreme but valid times
    assert {name for name, t in families.rows.items() if not t.refused} == {"valid", "edge-time"}


def report_problem(case: Case, reason: str) -> str | None:
    """What is wrong with the report a consumer publishes (and the recorder stores) for a refused
    case, or None: it must be a valid ``ems.rejected/1`` payload, and storable in PostgreSQL text
    (no NUL), or the recorder's writer would retry its batch for ever."""
    try:
        rejection = schemas.Rejected.of(case.topic, case.payload, reason)
        if schemas.decode(topics.Kind.REJECTED, schemas.encode(rejection)) != rejection:
            return "does not survive encode/decode"
    except (ValueError, schemas.PayloadError) as exc:
        return f"cannot be built or sent: {exc!r}"[:300]
    if "\x00" in rejection.topic + rejection.reason + rejection.payload_excerpt:
        return "holds NUL, which PostgreSQL text cannot store"
    return None


def _about_a_decision(report: schemas.Rejected) -> bool:
    return report.topic.endswith("/decision") and (report.reason_en or "").startswith(DECISION_REFUSED)


def named(dotted_path: str) -> str:
    """The field name a reason must mention for a change at ``dotted_path`` (list indices skipped)."""
    return next((part for part in reversed(dotted_path.split(".")) if not part.isdigit()), "")


# --- the dashboard's view and the live city's inbox ------------------------------------------------


def test_the_dashboard_and_the_live_city_take_every_hostile_message(
    cases: list[Case], caplog: pytest.LogCaptureFixture
) -> None:
    """Neither raises; each counts (the view) or logs (the inbox, with the reason) exactly the
    messages the contract refuses, and the pages can still be drawn from what was kept."""
    view, inbox, now = CityView(), _Inbox(), datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    report = Report()
    with caplog.at_level(logging.DEBUG, logger="simulations.live"):
        for case in cases:
            _take(report["dashboard CityView.apply"], partial(view.apply, case.topic, case.payload, now))
            message = Message(case.topic, case.payload, 1, False, 0)
            _take(report["live city _Inbox.on_message"], partial(inbox.on_message, message))
    ignored = [r for r in caplog.records if r.getMessage().startswith("live city ignores a message on")]
    for path, count in (("dashboard CityView.apply", view.ignored), ("live city _Inbox.on_message", len(ignored))):
        report[path].refused = count
        report[path].cleared = sum(1 for c in cases if not c.payload and topic_ok(c.topic))
        report[path].accepted = len(cases) - count - report[path].cleared
    report.print("Dashboard view and live city inbox")
    expected_ignored = sum(1 for c in cases if refused(c) and (c.payload or not topic_ok(c.topic)))
    assert report["dashboard CityView.apply"].crashes == 0
    assert report["live city _Inbox.on_message"].crashes == 0
    assert view.messages == len(cases)
    assert view.ignored == expected_ignored
    assert len(ignored) == expected_ignored
    assert all(r.getMessage().split(": ", 1)[-1].strip() for r in ignored)  # each with its reason
    # what was kept still draws the pages (these raise if a kept value cannot be shown)
    snapshot = view.snapshot()
    kpis(snapshot, now)
    alerts(snapshot, now)
    assert snapshot.units and snapshot.vitals and snapshot.capacity  # valid messages were kept, not only refused


def _take(row: Tally, step: Callable[[], object]) -> None:
    """Run one consumer's step on one message, counting a crash instead of stopping."""
    row.tried += 1
    try:
        step()
    except Exception:
        row.crashes += 1


# --- the real system: recorder and dispatcher on a broker ---------------------------------------------------


class Tap:
    """Counts the messages of ours a consumer received, before it handles them: the publisher
    waits for the consumers to keep up, so no broker queue overflows (Mosquitto drops messages
    past 1,000 queued for one client: a broker limit, not what this test is about)."""

    def __init__(self, handler: MessageHandler, ours: set[tuple[str, bytes]]) -> None:
        self.handler = handler
        self.ours = ours
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        if (message.topic, message.payload) in self.ours:
            with self._lock:
                self.count += 1
        self.handler(message)


class Watcher:
    """Collects rejection reports (``ems/rejected/{recorder,dispatcher}``) and what the dispatcher
    publishes about our units (advice, pre-notification, assignments)."""

    def __init__(self, broker: BrokerUnderTest, tag: str) -> None:
        self.tag = tag.encode()
        self.reports: dict[str, list[bytes]] = {"recorder": [], "dispatcher": []}
        #: The last message on each advice, inbound or assignment topic that concerns our units.
        self.last: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.client = MqttClient(broker.url, unique("watch"), on_message=self._on, protocol=broker.protocol)
        for source in self.reports:
            self.client.subscribe(f"ems/rejected/{source}", qos=1)
        for kind in (topics.Kind.ADVICE, topics.Kind.INBOUND, topics.Kind.ASSIGNMENT):
            self.client.subscribe(topics.subscription(kind), qos=1)
        self.client.start()

    def _on(self, message: Message) -> None:
        with self._lock:
            source = message.topic.removeprefix("ems/rejected/")
            if source in self.reports:
                self.reports[source].append(message.payload)
            elif self.tag in message.topic.encode() + message.payload:
                self.last[message.topic] = message.payload

    def count(self, source: str) -> int:
        with self._lock:
            return len(self.reports[source])

    def decoded(self, source: str) -> list[schemas.Rejected]:
        with self._lock:
            raws = list(self.reports[source])
        found = [schemas.decode(topics.Kind.REJECTED, raw) for raw in raws]
        return [r for r in found if isinstance(r, schemas.Rejected)]

    def advice(self, unit: str) -> schemas.Advice | None:
        with self._lock:
            raw = self.last.get(topics.build(topics.Kind.ADVICE, unit))
        payload = schemas.decode(topics.Kind.ADVICE, raw) if raw else None
        return payload if isinstance(payload, schemas.Advice) else None


@dataclass(frozen=True)
class Verdict:
    """What the contract says of one published case, and who receives it."""

    case: Case
    payload: schemas.Payload | None
    to_recorder: bool
    to_dispatcher: bool

    @property
    def refused(self) -> bool:
        """Refused with a report; an empty payload is a cleared retained message, never refused."""
        return self.payload is None and bool(self.case.payload)

    @property
    def refused_by_dispatcher(self) -> bool:
        """The dispatcher also refuses an empty payload where nothing retained can be cleared (the topic of
        a message that is never retained, or not a topic of the contract), and every centre's answer here: none
        names a request the dispatcher sent."""
        if self.case.payload:
            return self.payload is None or isinstance(self.payload, schemas.Answer)
        try:
            return not topics.parse(self.case.topic).route.retained
        except topics.TopicError:
            return True

    @property
    def reported_by_recorder(self) -> bool:
        """The recorder stores every refusal but reports none that was itself on ``ems/rejected/``."""
        return self.to_recorder and self.refused and not self.case.topic.startswith("ems/rejected/")


def test_the_recorder_and_the_dispatcher_survive_every_hostile_message(
    broker: BrokerUnderTest,
    database_url: str,
    prepared: Prepared,
    severity: TrainedSeverity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """All hostile messages MQTT can carry, published on their topics to a running recorder and
    dispatcher: each refused one is stored (recorder) and reported on ``ems/rejected/...`` with a
    reason, the counts match the contract's verdicts exactly, nothing is logged as a failure,
    and afterwards both loops still do their job."""
    caplog.set_level(logging.ERROR)
    tag = unique("fz")
    cases = [c for c in generate(SEED, tag=tag) if c.on_the_wire]
    filters = [topics.subscription(k) for k in DISPATCHER_KINDS]
    verdicts = [
        Verdict(
            c,
            outcome(c)[0],
            topic_matches_sub(topics.ALL, c.topic),
            any(topic_matches_sub(f, c.topic) for f in filters),
        )
        for c in cases
    ]
    expected_refused = Counter(v.case.topic[:1024] for v in verdicts if v.to_recorder and v.refused)
    expected_reports = Counter(v.case.topic[:1024] for v in verdicts if v.reported_by_recorder)
    expected_dispatcher = Counter(v.case.topic[:1024] for v in verdicts if v.to_dispatcher and v.refused_by_dispatcher)
    decisions = sum(v.to_dispatcher and isinstance(v.payload, schemas.Decision) for v in verdicts)
    expected_stored = {(v.case.topic, v.payload.msg_id) for v in verdicts if v.to_recorder and v.payload is not None}
    ours = {(c.topic, c.payload) for c in cases}

    client = MqttClient(broker.url, unique("recorder"), clean_session=False, manual_ack=True, max_inflight=20_000,
                        protocol=broker.protocol, session_expiry_s=120)  # fmt: skip
    recorder = Recorder(client, TelemetryStore.open(database_url), batch_size=500, flush_interval_s=0.05)
    recorder_tap = Tap(recorder.handle, ours)
    client.on_message = recorder_tap
    dispatcher_client = MqttClient(broker.url, unique("dispatcher"), protocol=broker.protocol)
    dispatcher = Dispatcher(dispatcher_client, prepared, severity)
    assert dispatcher_client.on_message is not None
    dispatcher_tap = Tap(dispatcher_client.on_message, ours)
    dispatcher_client.on_message = dispatcher_tap
    recorder.start()
    dispatcher.start()
    watcher = Watcher(broker, tag)
    publisher = MqttClient(broker.url, unique("pub"), protocol=broker.protocol).start()
    base_rejected = dispatcher.stats.rejected
    alive = f"{tag}-alive"
    try:
        due = Counter[str]()
        for start in range(0, len(verdicts), 250):
            chunk = verdicts[start : start + 250]
            last = None
            for verdict in chunk:
                last = publisher.publish(verdict.case.topic, verdict.case.payload, qos=1)
            assert last is not None and last.wait(30)
            due["recorder"] += sum(v.to_recorder for v in chunk)
            due["dispatcher"] += sum(v.to_dispatcher for v in chunk)
            due["recorder reports"] += sum(v.reported_by_recorder for v in chunk)
            due["dispatcher reports"] += sum(v.to_dispatcher and v.refused_by_dispatcher for v in chunk)
            assert wait_until(lambda: recorder_tap.count >= due["recorder"], timeout_s=30)
            assert wait_until(lambda: dispatcher_tap.count >= due["dispatcher"], timeout_s=30)
            assert wait_until(lambda: watcher.count("recorder") >= due["recorder reports"], timeout_s=30)
            assert wait_until(lambda: watcher.count("dispatcher") >= due["dispatcher reports"], timeout_s=30)

        def stored_rejections() -> list[Any]:
            with recorder.store.engine.connect() as connection:
                rows = connection.execute(sa.select(rejected.c.topic, rejected.c.reason))
                return [r for r in rows if r.topic in expected_refused]

        assert wait_until(lambda: len(stored_rejections()) >= expected_refused.total(), timeout_s=30)

        def refused_by_dispatcher() -> int:
            return dispatcher.stats.rejected - dispatcher.stats.refused_decisions - base_rejected

        def malformed_reports() -> dict[str, schemas.Rejected]:
            found = watcher.decoded("dispatcher")
            return {r.msg_id: r for r in found if r.topic in expected_dispatcher and not _about_a_decision(r)}

        assert wait_until(lambda: refused_by_dispatcher() >= expected_dispatcher.total(), 30)
        assert wait_until(lambda: len(malformed_reports()) >= expected_dispatcher.total(), 30)

        # the recorder: every refused message stored with its reason, every accepted one stored
        rows = stored_rejections()
        assert Counter(r.topic for r in rows) == expected_refused
        assert all(r.reason.strip() for r in rows)
        with recorder.store.engine.connect() as connection:
            found = connection.execute(sa.select(messages.c.topic, messages.c.msg_id, messages.c.kind))
            topics_of_ours = {t for t, _ in expected_stored}
            stored = {(r.topic, r.msg_id, r.kind) for r in found if r.topic in topics_of_ours}
        assert expected_stored <= {(t, m) for t, m, _ in stored}
        assert {k for t, m, k in stored if (t, m) not in expected_stored} <= DISPATCHER_OUTPUT
        # the dispatcher: refused exactly what the contract refuses, and at most every valid decision (one on
        # advice the unit no longer has)
        assert refused_by_dispatcher() == expected_dispatcher.total()
        assert dispatcher.stats.refused_decisions <= decisions
        # the reports on ems/rejected/...: one per refused message, each with its reason
        recorder_reports = {r.msg_id: r for r in watcher.decoded("recorder") if r.topic in expected_reports}
        for source, expected, reports in (
            ("recorder", expected_reports, recorder_reports),
            ("dispatcher", expected_dispatcher, malformed_reports()),
        ):
            assert Counter(r.topic for r in reports.values()) == expected, source
            assert all(r.reason.strip() for r in reports.values())

        # both loops still work: a valid patient gets advice, and its vitals are stored
        vitals = schemas.Vitals.new(patient_id="P-alive01", hr_bpm=92, sbp_mmhg=178, dbp_mmhg=96,
                                    flags=schemas.CrewFlags(fast_positive=True))  # fmt: skip
        publisher.send(
            topics.Topic(topics.Kind.STATUS, alive), schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING)
        )
        publisher.send(topics.Topic(topics.Kind.POSITION, alive), schemas.Position.new(lat=37.5704, lon=126.9921))
        publisher.send(topics.Topic(topics.Kind.VITALS, alive), vitals).wait(10)
        assert wait_until(lambda: watcher.advice(alive) is not None, timeout_s=15)
        advice = watcher.advice(alive)
        assert advice is not None and advice.patient_id == vitals.patient_id

        def stored_vitals() -> bool:
            with recorder.store.engine.connect() as connection:
                query = sa.select(messages.c.id).where(messages.c.msg_id == vitals.msg_id)
                return connection.execute(query).first() is not None

        assert wait_until(stored_vitals, timeout_s=15)
        failures = [
            r for r in caplog.records if r.name.startswith(("dispatch", "telemetry")) and r.levelno >= logging.ERROR
        ]
    finally:
        publisher.stop()
        dispatcher.stop()
        recorder.stop()
        recorder.store.close()
        cleaner = MqttClient(broker.url, unique("clean"), protocol=broker.protocol).start()
        for topic in list(watcher.last):  # our units' advice and assignments, centres' lists naming them
            cleaner.clear_retained(topic).wait(5)
        cleaner.stop()
        watcher.client.stop()

    report = Report()
    to_recorder = [v for v in verdicts if v.to_recorder]
    to_dispatcher = [v for v in verdicts if v.to_dispatcher]
    for path, delivered, refused_count in (
        ("recorder: stored in telemetry_rejected", to_recorder, expected_refused.total()),
        ("recorder: reports on ems/rejected/recorder", to_recorder, expected_reports.total()),
        ("dispatcher: reports on ems/rejected/dispatcher", to_dispatcher, expected_dispatcher.total()),
    ):
        row = report[path]
        row.tried = len(delivered)
        # the dispatcher also refuses an empty payload where nothing retained can be cleared
        kept = [v for v in delivered if not (path.startswith("dispatcher") and v.refused_by_dispatcher)]
        row.cleared = sum(1 for v in kept if not v.case.payload)
        row.refused = refused_count
        row.accepted = sum(1 for v in delivered if v.payload is not None)
        row.crashes = len(failures)
    outside = sum(1 for v in verdicts if not v.to_recorder)
    database = database_url.split(":", 1)[0]
    report.print(f"Over MQTT ({broker.name} broker, {database}; {len(cases)} published, {outside} outside ems/#)")
    print(f"dispatcher: {dispatcher.stats.refused_decisions} of the {decisions} valid decisions refused (no advice "
          "for that version), reported too")  # fmt: skip
    assert failures == [], [r.getMessage() for r in failures[:5]]
    assert len(cases) >= 10_000


def test_topics_mqtt_cannot_carry_are_only_tried_on_the_pure_level(cases: list[Case]) -> None:
    """Wildcards, NUL, a leading '$', an empty topic, topics over 65,535 bytes or (Mosquitto) 200
    levels cannot be published (the client or the broker refuses them): they are covered by the
    pure-level test, and every one is refused there as not part of the contract."""
    offline = [c for c in cases if not c.on_the_wire]
    assert {c.family for c in offline} == {"wrong-topic"}
    shown = {c.topic[:24] for c in offline}
    assert {"#", "+", "", "ems/units/+/vitals", "ems/units/#"} <= shown
    for case in offline:
        with pytest.raises(topics.TopicError):
            topics.parse(case.topic)


def test_the_generator_is_deterministic() -> None:
    """Same seed, same cases (so the figures in docs/reliability.md can be measured again)."""
    first, second = generate(SEED, tag="fz", total=10_500), generate(SEED, tag="fz", total=10_500)
    assert [(c.topic, c.payload) for c in first] == [(c.topic, c.payload) for c in second]
    assert [(c.topic, c.payload) for c in generate(SEED + 1, tag="fz", total=10_500)] != [
        (c.topic, c.payload) for c in first
    ]
    assert json.loads(next(c.payload for c in first if c.family == "valid"))["schema"].startswith("ems.")
