"""Live mode end to end: the toy city on a real-time clock, over a real broker, with the real
dispatcher: units follow its assignment and advice, decline at a full ER, and go on to the
centre it advises next. Without a dispatcher the crews fall back on the nearest unit and ER.

One writer per centre (:class:`simulations.live.Writers`): the rule itself on a given clock, its wiring into the
city without a broker, and a nurse's closure, "normal" and release over a real broker."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import simpy.rt

from dispatch.pathways import Pathway
from dispatch.scenario import Centre, Prepared, Scenario, Station
from dispatch.service import Dispatcher
from dispatch.severity.model import TrainedSeverity
from loaders.scenarios import prepare
from simulations.city import CityDraws
from simulations.config import SimConfig
from simulations.live import NO_BED, LiveCity, LiveSummary, Writers
from simulations.patients import SimPatient
from simulations.world import Call
from telemetry import schemas, topics
from telemetry.client import Message, MqttClient
from tests.conftest import BrokerUnderTest
from tests.helpers import unique, wait_until

NEAR = Centre("A0000001", "가까운병원", 3, 35.150, 126.850)
FAR = Centre("A0000002", "먼대학병원", 1, 35.200, 126.850)  # ~5.5 km north
BASE = Station("기지119안전센터", 35.140, 126.850)
SCENE = (35.145, 126.850)
BASE_POINT = (BASE.lat, BASE.lon)
UNIT = "U00-0"  # the engine's name of the base's only ambulance
SPEED = 300.0
#: Short times on scene, at the door and at handover, so a whole call takes seconds at SPEED.
CONFIG = SimConfig(
    calls_per_day=1.0,
    walkin_occupancy=0.0,
    beds={NEAR.hpid: 2, FAR.hpid: 2},
    report_interval_min=600.0,  # NEAR's report goes stale: it fills after posting two free beds
    turnout_s=10.0,
    on_scene_min=1.0,
    handover_min=1.0,
    refusal_min=0.5,
    refuse_no_specialist=1.0,  # centres always refuse what they cannot do: outcomes worked out by hand
    refuse_no_bed=1.0,
    critical_bed_factor=1.0,
    door_factor=1.0,
)


@pytest.fixture
def prepared(tmp_path: Path) -> Prepared:
    scenario = Scenario("toy", "toy city", tmp_path, tmp_path / "no-graph.graphml", (NEAR, FAR), (BASE,))
    return prepare(scenario, cache_dir=None)


def _sprained_ankle() -> SimPatient:
    """A KTAS 4 patient with ordinary vitals: the nearest ER is right for them."""
    vitals = schemas.Vitals.new(
        patient_id="P-template",
        age_years=40,
        sex=schemas.Sex.FEMALE,
        hr_bpm=82,
        sbp_mmhg=128,
        dbp_mmhg=78,
        rr_per_min=16,
        spo2_pct=98,
        temp_c=36.7,
        avpu=schemas.Avpu.ALERT,
        pain_nrs=4,
        injury=True,
        chief_complaint="ankle pain",
    )
    return SimPatient(0, 4, 4, schemas.CrewFlags(), frozenset[Pathway](), vitals, "ankle pain", 4, False, 0.01)


def _draws(seed: int) -> CityDraws:
    """One call; NEAR fills with two walk-ins just after its report said two beds are free."""
    return CityDraws(
        calls=(Call(0, 30.0, SCENE[0], SCENE[1], _sprained_ankle()),),
        on_scene_s=(60.0,),
        stay_s=(1e9,),
        walkins={NEAR.hpid: ((5.0, 1e9), (6.0, 1e9)), FAR.hpid: ()},
        initial={NEAR.hpid: (), FAR.hpid: ()},
        rosters={NEAR.hpid: (frozenset(),), FAR.hpid: (frozenset(),)},
        seed=seed,
        surge=1.0,
    )


class Recorder:
    """Every live (not retained) message under ems/, in order."""

    def __init__(self, broker: BrokerUnderTest) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.client = MqttClient(broker.url, unique("recorder"), on_message=self._on, protocol=broker.protocol)
        self.client.subscribe(topics.ALL, qos=1)
        self.client.start()

    def _on(self, message: Message) -> None:
        if not message.retained and message.payload:
            with self._lock:
                self.messages.append((message.topic, message.payload))

    def payloads(self, kind: topics.Kind, key: str) -> list[schemas.Payload]:
        wanted = topics.build(kind, key)
        with self._lock:
            raw = [p for t, p in self.messages if t == wanted]
        return [schemas.decode(kind, p) for p in raw]

    def clean(self, incident: str) -> None:
        """Clear what this test left retained (a real broker keeps it across runs)."""
        retained = [topics.build(k, UNIT) for k in (topics.Kind.STATUS, topics.Kind.ADVICE, topics.Kind.REQUEST_STATE)]
        retained += [
            topics.build(k, h)
            for k in (topics.Kind.CAPACITY, topics.Kind.INBOUND, topics.Kind.REQUESTS)
            for h in (NEAR.hpid, FAR.hpid)
        ]
        retained.append(topics.build(topics.Kind.ASSIGNMENT, incident))
        for topic in retained:
            self.client.clear_retained(topic).wait(5)
        self.client.stop()


@pytest.fixture
def seed() -> int:
    """A fresh seed per test: fresh incident and patient ids on a persistent broker."""
    return random.randrange(10**9)


@pytest.fixture
def recorder(broker: BrokerUnderTest, seed: int) -> Iterator[Recorder]:
    r = Recorder(broker)
    yield r
    r.clean(incident=f"S{seed}-0")


def _city(
    prepared: Prepared,
    broker: BrokerUnderTest,
    seed: int,
    *,
    wait_s: float,
    answer_requests: bool = False,
    draws: CityDraws | None = None,
) -> LiveCity:
    """The toy city on the broker under test; ``wait_s``: how long (simulated) crews wait for the dispatcher;
    ``answer_requests``: its centres answer the dispatcher's transfer requests (off: centres without the screen,
    so the crew meets the full ER at its door)."""

    def connect() -> MqttClient:
        return MqttClient(broker.url, unique("live"), protocol=broker.protocol)

    return LiveCity(
        prepared,
        CONFIG,
        draws or _draws(seed),
        client_factory=connect,
        speed=SPEED,
        position_every_s=10.0,
        assignment_wait_s=wait_s,
        advice_wait_s=wait_s,
        answer_requests=answer_requests,
    )


def _statuses(recorder: Recorder) -> list[schemas.Status]:
    """The unit's statuses, once the last one (available again) has come through."""

    def statuses() -> list[schemas.Status]:
        return [p for p in recorder.payloads(topics.Kind.STATUS, UNIT) if isinstance(p, schemas.Status)]

    wait_until(lambda: bool(statuses()) and statuses()[-1].status is schemas.UnitStatus.AVAILABLE, timeout_s=5)
    return statuses()


def _run(city: LiveCity) -> LiveSummary:
    summary = city.run(minutes=0.5)
    assert not [t for t in threading.enumerate() if t.name == f"paho-mqtt-client-{city.client.client_id}"]
    return summary


def test_units_follow_the_dispatcher_and_decline_at_a_full_er(
    broker: BrokerUnderTest, prepared: Prepared, severity: TrainedSeverity, recorder: Recorder, seed: int
) -> None:
    dispatcher = Dispatcher(MqttClient(broker.url, unique("dispatcher"), protocol=broker.protocol), prepared, severity)
    dispatcher.start()
    try:
        summary = _run(_city(prepared, broker, seed, wait_s=600.0))
    finally:
        dispatcher.stop()

    statuses = _statuses(recorder)
    assert [s.status for s in statuses][-5:] == [
        schemas.UnitStatus.DISPATCHED,
        schemas.UnitStatus.ON_SCENE,
        schemas.UnitStatus.TRANSPORTING,
        schemas.UnitStatus.AT_HOSPITAL,
        schemas.UnitStatus.AVAILABLE,
    ]
    assert statuses[-5].incident_id == f"S{seed}-0"
    positions = recorder.payloads(topics.Kind.POSITION, UNIT)
    assert len(positions) >= 10
    vitals = recorder.payloads(topics.Kind.VITALS, UNIT)
    assert len(vitals) >= 2 and {v.patient_id for v in vitals if isinstance(v, schemas.Vitals)} == {f"P-{seed}-0"}

    advice = [a for a in recorder.payloads(topics.Kind.ADVICE, UNIT) if isinstance(a, schemas.Advice)]
    decisions = [d for d in recorder.payloads(topics.Kind.DECISION, UNIT) if isinstance(d, schemas.Decision)]
    first = advice[0]
    assert first.destination.hpid == NEAR.hpid  # the stale report said it had beds
    declined = [d for d in decisions if d.decision is schemas.DecisionKind.DECLINE]
    assert [(d.advice_version, d.reason) for d in declined] == [(first.advice_version, NO_BED)]
    final = advice[-1]
    assert final.destination.hpid == FAR.hpid and final.advice_version > first.advice_version
    # accepted: the first advice, then the first to FAR (later versions only refresh FAR's ETA)
    destination_of = {a.advice_version: a.destination.hpid for a in advice}
    accepted = [destination_of[d.advice_version] for d in decisions if d.decision is schemas.DecisionKind.ACCEPT]
    assert accepted == [NEAR.hpid, FAR.hpid]
    # it drove where it was advised: the hospital it reached is the advised one, and so is its last position
    assert statuses[-2].hpid == final.destination.hpid
    at_far = [p for p in positions if isinstance(p, schemas.Position) and (p.lat, p.lon) == (FAR.lat, FAR.lon)]
    assert at_far

    assert (summary.calls, summary.served, summary.retransfers, summary.full_arrivals) == (1, 1, 1, 1)
    assert summary.advice_followed == 2
    assert summary.response_p90_min is not None and 0 < summary.response_p90_min < 10
    assert any("re-transfers 1" in line for line in summary.lines())


def test_the_centres_answer_the_dispatchers_requests_and_the_crew_goes_where_it_was_accepted(
    broker: BrokerUnderTest, prepared: Prepared, severity: TrainedSeverity, recorder: Recorder, seed: int
) -> None:
    """The acceptance handshake over the broker: the near centre (full since its last report) declines the request
    with "no bed", the dispatcher re-plans and asks the far centre, which accepts; the crew, on scene long enough for
    both answers, drives to the far centre and is never refused at a door."""
    draws = dataclasses.replace(_draws(seed), on_scene_s=(1200.0,))  # 4 s real: the answers come well before
    dispatcher = Dispatcher(MqttClient(broker.url, unique("dispatcher"), protocol=broker.protocol), prepared, severity)
    dispatcher.start()
    try:
        summary = _run(_city(prepared, broker, seed, wait_s=600.0, answer_requests=True, draws=draws))
    finally:
        dispatcher.stop()

    statuses = _statuses(recorder)
    assert statuses[-2].status is schemas.UnitStatus.AT_HOSPITAL and statuses[-2].hpid == FAR.hpid
    answers = {
        hpid: [a for a in recorder.payloads(topics.Kind.ANSWER, hpid) if isinstance(a, schemas.Answer)]
        for hpid in (NEAR.hpid, FAR.hpid)
    }
    assert [(a.answer, a.reason, a.answered_by) for a in answers[NEAR.hpid]] == [
        (schemas.AnswerKind.DECLINE, schemas.RefusalReason.NO_BED, "live city")
    ]
    assert [(a.answer, a.reason) for a in answers[FAR.hpid]] == [(schemas.AnswerKind.ACCEPT, None)]
    # the dispatcher took both answers: the crew's request state went declined at the near centre, accepted at the far
    states = [s for s in recorder.payloads(topics.Kind.REQUEST_STATE, UNIT) if isinstance(s, schemas.UnitRequest)]
    answered = [
        (s.hpid, s.state) for s in states if s.state in (schemas.RequestState.DECLINED, schemas.RequestState.ACCEPTED)
    ]
    assert answered == [(NEAR.hpid, schemas.RequestState.DECLINED), (FAR.hpid, schemas.RequestState.ACCEPTED)]
    decisions = [d for d in recorder.payloads(topics.Kind.DECISION, UNIT) if isinstance(d, schemas.Decision)]
    assert all(d.decision is schemas.DecisionKind.ACCEPT for d in decisions)  # never refused at a door
    assert (summary.served, summary.retransfers, summary.full_arrivals) == (1, 0, 0)
    assert (summary.requests_accepted, summary.requests_declined) == (1, 1)
    assert any("transfer requests accepted 1, declined 1" in line for line in summary.lines())


def test_without_a_dispatcher_the_crew_takes_the_nearest_er(
    broker: BrokerUnderTest, prepared: Prepared, recorder: Recorder, seed: int
) -> None:
    summary = _run(_city(prepared, broker, seed, wait_s=20.0))
    statuses = _statuses(recorder)
    assert statuses[-2].status is schemas.UnitStatus.AT_HOSPITAL and statuses[-2].hpid == FAR.hpid
    assert not recorder.payloads(topics.Kind.DECISION, UNIT)  # no advice: nothing to accept or decline
    assert (summary.served, summary.retransfers, summary.full_arrivals, summary.advice_followed) == (1, 1, 1, 0)


def test_malformed_and_unexpected_messages_are_ignored(prepared: Prepared) -> None:
    city = LiveCity(prepared, CONFIG, _draws(1), url="mqtt://127.0.0.1:1", speed=SPEED)
    handler = city.client.on_message
    assert handler is not None
    for topic, payload in [
        ("ems/units/U00-0/advice", b"{not json"),
        ("ems/units/U00-0/advice", b""),
        ("not/ours", b"{}"),
        (topics.build(topics.Kind.POSITION, UNIT), schemas.encode(schemas.Position.new(lat=35.0, lon=126.0))),
        ("ems/incidents/S1-0/assignment", b'{"schema": "ems.assignment/1"}'),
    ]:
        handler(Message(topic, payload, 1, False, 1))  # none raises


def _capacity_reports(recorder: Recorder, hpid: str) -> list[schemas.Capacity]:
    return [p for p in recorder.payloads(topics.Kind.CAPACITY, hpid) if isinstance(p, schemas.Capacity)]


def test_a_nurses_report_holds_the_centre_until_it_is_released_and_stop_ends_the_run(
    broker: BrokerUnderTest, prepared: Prepared, recorder: Recorder, seed: int
) -> None:
    """One writer per centre over a real broker: a nurse's diversion (a capacity report signed ``updated_by``)
    closes the simulated ER and the city posts nothing for that centre while it holds (the bug: the city posted its
    own "normal" report 18 ms later); her "normal" reopens it; clearing the retained report releases the centre, and
    the city posts its own report at once. ``stop()`` from another thread ends the run early."""
    city = _city(prepared, broker, seed, wait_s=600.0)
    city.draws = dataclasses.replace(city.draws, calls=(dataclasses.replace(city.draws.calls[0], t=1e7),))
    topic = topics.Topic(topics.Kind.CAPACITY, FAR.hpid)

    def nurse(status: schemas.TrafficStatus, reason: str | None) -> schemas.Capacity:
        return schemas.Capacity.new(
            beds={schemas.BedType.ER_GENERAL: schemas.BedCount(available=1, total=2)},
            ems_traffic=schemas.EmsTraffic(status=status, reason=reason),
            updated_at=schemas.utc_now(),
            updated_by="centre A0000002",
        )

    closed, reopened = nurse(schemas.TrafficStatus.CLOSED, "CT down"), nurse(schemas.TrafficStatus.NORMAL, None)

    def nurse_then_release_then_stop() -> None:
        wait_until(lambda: bool(_capacity_reports(recorder, FAR.hpid)), timeout_s=10)
        recorder.client.send(topic, closed).wait(5)
        wait_until(lambda: city.world.centres[FAR.hpid].closed, timeout_s=10)
        # the city keeps posting its other centre meanwhile (its report when the run started, and a later one)
        recorder.client.send(topic, reopened).wait(5)
        wait_until(lambda: not city.world.centres[FAR.hpid].closed, timeout_s=10)
        recorder.client.clear_retained(topics.build(topics.Kind.CAPACITY, FAR.hpid)).wait(5)
        wait_until(lambda: _capacity_reports(recorder, FAR.hpid)[-1].updated_by is None, timeout_s=10)
        city.stop()

    helper = threading.Thread(target=nurse_then_release_then_stop)
    helper.start()
    summary = city.run(minutes=5.0)
    helper.join(15)

    assert summary.calls == 0 and summary.simulated_min < 5.0 * SPEED  # ended by stop(), not by the deadline
    reports = _capacity_reports(recorder, FAR.hpid)
    ids = [r.msg_id for r in reports]
    first, second = ids.index(closed.msg_id), ids.index(reopened.msg_id)
    # between the nurse's first report and the release the retained report was always hers: nothing of the city's
    assert first < second == first + 1
    assert all(r.updated_by is None for r in reports[:first])
    [after] = reports[second + 1 :]  # the release: the city's own report, at once, its ER open
    assert after.updated_by is None and after.conditions[schemas.Condition.ER_OPEN].available is True
    assert after.ems_traffic.status is schemas.TrafficStatus.NORMAL


FAR_AT = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def _report(
    by: str | None,
    at: datetime = FAR_AT,
    status: schemas.TrafficStatus = schemas.TrafficStatus.NORMAL,
    *,
    expires: datetime | None = None,
    er_open: bool | None = None,
) -> schemas.Capacity:
    reason = None if status is schemas.TrafficStatus.NORMAL else "CT 고장"
    conditions = {} if er_open is None else {schemas.Condition.ER_OPEN: schemas.Capability(available=er_open)}
    return schemas.Capacity.new(
        ems_traffic=schemas.EmsTraffic(status=status, reason=reason, expires_at=expires),
        conditions=conditions,
        updated_at=at,
        updated_by=by,
    )


def test_a_persons_report_holds_its_centre_for_the_hold_time_from_when_it_was_made() -> None:
    writers, hpid, minute = Writers(hold_s=600.0), FAR.hpid, timedelta(minutes=1)
    assert writers.held(hpid, FAR_AT) is None
    writers.heard(hpid, _report(None), FAR_AT)  # the city's own, unsigned: holds nothing
    assert writers.held(hpid, FAR_AT) is None
    closure = _report("JNUH charge nurse", status=schemas.TrafficStatus.CLOSED)
    writers.heard(hpid, closure, FAR_AT + timedelta(seconds=1))
    hold = writers.held(hpid, FAR_AT + 9 * minute)
    assert hold is not None and hold.by == "JNUH charge nurse" and hold.report is closure
    assert hold.until == FAR_AT + 10 * minute and hold.diverting(FAR_AT + 9 * minute)
    writers.heard(hpid, _report(None, FAR_AT + 2 * minute), FAR_AT + 2 * minute)  # another unsigned one: no change
    assert writers.held(hpid, FAR_AT + 2 * minute) is hold
    assert writers.held(hpid, FAR_AT + 10 * minute) is None  # the hold ran out: the city writes it again
    assert writers.held(hpid, FAR_AT + 9 * minute) is None  # (and stays ended)


def test_each_persons_report_renews_the_hold_and_normal_reopens() -> None:
    writers, hpid, minute = Writers(hold_s=600.0), FAR.hpid, timedelta(minutes=1)
    writers.heard(hpid, _report("nurse", status=schemas.TrafficStatus.CLOSED), FAR_AT)
    writers.heard(hpid, _report("nurse", FAR_AT + 5 * minute), FAR_AT + 5 * minute)  # "normal" after "closed"
    hold = writers.held(hpid, FAR_AT + 12 * minute)
    assert hold is not None and hold.until == FAR_AT + 15 * minute and not hold.diverting(FAR_AT + 12 * minute)
    # an earlier state heard later (the API republishes what it holds) does not undo the newer one
    writers.heard(hpid, _report("control room", FAR_AT + 4 * minute, schemas.TrafficStatus.CLOSED), FAR_AT + 6 * minute)
    again = writers.held(hpid, FAR_AT + 12 * minute)
    assert again is not None and again.by == "nurse" and not again.diverting(FAR_AT + 12 * minute)


def test_a_closure_holds_until_its_expiry_when_that_is_later_and_diverts_until_then() -> None:
    writers, hpid, hour = Writers(hold_s=600.0), FAR.hpid, timedelta(hours=1)
    closure = _report("nurse", status=schemas.TrafficStatus.CLOSED, expires=FAR_AT + 2 * hour)
    writers.heard(hpid, closure, FAR_AT)
    hold = writers.held(hpid, FAR_AT + hour)
    assert hold is not None and hold.until == FAR_AT + 2 * hour and hold.diverting(FAR_AT + hour)
    assert writers.held(hpid, FAR_AT + 2 * hour) is None
    short = _report("nurse", FAR_AT, schemas.TrafficStatus.CLOSED, expires=FAR_AT + timedelta(minutes=5))
    writers.heard(hpid, short, FAR_AT)
    hold = writers.held(hpid, FAR_AT + timedelta(minutes=6))  # the hold outlasts the closure...
    assert hold is not None and not hold.diverting(FAR_AT + timedelta(minutes=6))  # ...which has expired: open


def test_er_open_declared_false_diverts_as_the_control_room_draws_it() -> None:
    writers, hpid = Writers(hold_s=600.0), FAR.hpid
    writers.heard(hpid, _report("E-Gen", er_open=False), FAR_AT)
    hold = writers.held(hpid, FAR_AT)
    assert hold is not None and hold.diverting(FAR_AT)
    writers.heard(hpid, _report("E-Gen", FAR_AT + timedelta(seconds=1), er_open=True), FAR_AT)
    hold = writers.held(hpid, FAR_AT)
    assert hold is not None and not hold.diverting(FAR_AT)


def test_an_old_or_future_stamped_report_holds_from_when_it_was_heard_at_the_latest() -> None:
    writers, hpid, hour = Writers(hold_s=600.0), FAR.hpid, timedelta(hours=1)
    writers.heard(hpid, _report("nurse", FAR_AT - hour), FAR_AT)  # yesterday's state the API republished on start
    assert writers.held(hpid, FAR_AT) is None
    writers.heard(hpid, _report("nurse", FAR_AT + hour), FAR_AT)  # a clock ahead: counted from when it came
    hold = writers.held(hpid, FAR_AT)
    assert hold is not None and hold.until == FAR_AT + timedelta(minutes=10)


def test_clearing_the_retained_report_releases_the_centre() -> None:
    writers, hpid = Writers(hold_s=600.0), FAR.hpid
    writers.heard(hpid, _report("nurse", status=schemas.TrafficStatus.CLOSED), FAR_AT)
    writers.heard(NEAR.hpid, _report("nurse"), FAR_AT)
    writers.heard(hpid, None, FAR_AT)
    assert writers.held(hpid, FAR_AT) is None and writers.held(NEAR.hpid, FAR_AT) is not None


def test_a_report_of_the_citys_that_landed_after_a_persons_is_to_be_put_back_once() -> None:
    writers, hpid = Writers(hold_s=600.0), FAR.hpid
    before, crossing = _report(None), _report(None)
    writers.sent(hpid, before)
    writers.heard(hpid, before, FAR_AT)  # landed before the nurse's: nothing to repair
    nurse = _report("nurse", status=schemas.TrafficStatus.CLOSED)
    writers.sent(hpid, crossing)  # sent just before the city heard hers...
    writers.heard(hpid, nurse, FAR_AT)
    assert writers.crossed(FAR_AT) == []
    writers.heard(hpid, crossing, FAR_AT)  # ...it landed after it: the retained report is the city's
    assert writers.crossed(FAR_AT) == [(hpid, nurse)]
    assert writers.crossed(FAR_AT) == []  # once
    put_back = nurse.model_copy(update={"msg_id": schemas.new_msg_id()})
    writers.sent(hpid, put_back)
    writers.heard(hpid, put_back, FAR_AT)  # its echo holds as hers did; nothing more to repair
    assert writers.crossed(FAR_AT) == [] and writers.held(hpid, FAR_AT) is not None
    newer = _report("nurse", FAR_AT + timedelta(seconds=30))
    writers.heard(hpid, newer, FAR_AT + timedelta(seconds=30))
    writers.heard(hpid, put_back, FAR_AT + timedelta(seconds=30))  # had the put-back landed after her newer one
    assert writers.crossed(FAR_AT + timedelta(seconds=30)) == [(hpid, newer)]
    writers.heard(hpid, crossing, FAR_AT)
    assert writers.crossed(FAR_AT + timedelta(minutes=11)) == []  # the hold is over: nothing to put back


def test_the_hold_must_be_positive(prepared: Prepared) -> None:
    with pytest.raises(ValueError, match="hold_s"):
        Writers(hold_s=0.0)
    with pytest.raises(ValueError, match="hold_s"):
        LiveCity(prepared, CONFIG, _draws(1), url="mqtt://127.0.0.1:1", hold_s=-1.0)


class Sent:
    """What a city would have sent, instead of the broker."""

    def __init__(self, city: LiveCity) -> None:
        self.capacity: list[tuple[str, schemas.Capacity]] = []
        city._send = self.send  # type: ignore[method-assign]

    def send(self, kind: topics.Kind, key: str, payload: schemas.Payload) -> None:
        if isinstance(payload, schemas.Capacity):
            self.capacity.append((key, payload))


def _hear(city: LiveCity, hpid: str, report: schemas.Capacity | None) -> None:
    handler = city.client.on_message
    assert handler is not None
    raw = b"" if report is None else schemas.encode(report)
    handler(Message(topics.build(topics.Kind.CAPACITY, hpid), raw, 1, False, 1))


def test_the_city_stops_writing_a_held_centre_follows_its_door_and_writes_again_when_the_hold_ends(
    prepared: Prepared,
) -> None:
    """The rule wired into the city (no broker): while a nurse's report holds FAR the city's reports of FAR are not
    sent (NEAR's are), its door follows her closure, her report is put back when one of the city's crossed it, and
    when the hold ends FAR reopens and the city sends its report at once."""
    city = LiveCity(prepared, CONFIG, _draws(1), url="mqtt://127.0.0.1:1", speed=SPEED, hold_s=600.0)
    sent = Sent(city)
    far, near = city.world.centres[FAR.hpid], city.world.centres[NEAR.hpid]
    now = schemas.utc_now()
    city._post(far)
    [(_, crossing)] = sent.capacity
    closure = _report("centre A0000002", now, schemas.TrafficStatus.CLOSED)
    _hear(city, FAR.hpid, closure)
    city._apply_holds(now)
    assert far.closed and not near.closed
    city._post(far)
    city._post(near)
    assert [k for k, _ in sent.capacity] == [FAR.hpid, NEAR.hpid]  # FAR's second report was not sent
    _hear(city, FAR.hpid, crossing)  # the report sent before hers landed after it
    city._apply_holds(now)
    put_back = sent.capacity[-1][1]
    assert sent.capacity[-1][0] == FAR.hpid and put_back.msg_id not in (closure.msg_id, crossing.msg_id)
    assert put_back.model_dump(exclude={"msg_id", "ts"}) == closure.model_dump(exclude={"msg_id", "ts"})
    _hear(city, FAR.hpid, put_back)
    city._apply_holds(now + timedelta(minutes=9))
    assert far.closed and len(sent.capacity) == 3
    city._apply_holds(now + timedelta(minutes=10))  # the hold ends: reopened, and the city's report at once
    assert not far.closed
    key, own = sent.capacity[-1]
    assert key == FAR.hpid and own.updated_by is None and own.conditions[schemas.Condition.ER_OPEN].available


def test_a_drive_ends_even_when_its_remainder_is_below_the_clocks_precision(prepared: Prepared, seed: int) -> None:
    """Far into a run, 10 s plus a picosecond leaves a remainder that env.now cannot add: the drive
    must still arrive (it once published positions in a tight loop, a million a minute)."""
    city = LiveCity(prepared, CONFIG, _draws(seed), client_factory=lambda: MqttClient("mqtt://127.0.0.1:9", "x"))
    sent: list[schemas.Payload] = []

    def send(kind: topics.Kind, key: str, payload: schemas.Payload) -> None:
        sent.append(payload)
        assert len(sent) < 100, "the drive is publishing in a loop"

    city._send = send  # type: ignore[method-assign]
    city.env = simpy.rt.RealtimeEnvironment(initial_time=1e6, factor=1e-9, strict=False)
    unit = city.world.units[UNIT]
    drive = city.env.process(city._drive(unit, [BASE_POINT, SCENE], 10.000000000001))
    city.env.run(until=drive)
    assert drive.value is True and len(sent) <= 4 and unit.position(city.env.now) == SCENE
