"""The acceptance handshake in the decision engine (dispatch.handshake, R-ANSWER, R-PROMISE, R-REFUSED): events
in, commands out, no broker, ``now`` given."""

from __future__ import annotations

from datetime import timedelta

from dispatch.commands import Advise, ClearRequest, PublishRequests, Refuse, TellRequest
from dispatch.engine import REQUESTS_MAX, DispatchEngine, UnitState
from dispatch.events import AnswerReceived, CapacityReported, Origin, StatusChanged, Tick
from dispatch.handshake import DUAL_WITHIN_S, Request, request_id
from dispatch.pathways import Pathway
from dispatch.scenario import Prepared
from dispatch.severity.model import TrainedSeverity
from dispatch.wire import publications
from telemetry import schemas, topics
from telemetry.schemas import AnswerKind, Condition, RefusalReason, RequestState, UnitStatus
from tests.dispatch.bus import JONGNO_3GA, capacity, minor_vitals
from tests.dispatch.engine_setup import NOW, advice, by_distance_from, decision, of, stroke, transport


def told(commands: list, unit: str = "u1") -> TellRequest:  # type: ignore[type-arg]
    (found,) = [c for c in of(TellRequest, commands) if c.unit_id == unit]
    return found


def lists(commands: list) -> dict[str, list[str]]:  # type: ignore[type-arg]
    return {c.hpid: [r.unit_id for r in c.requests] for c in of(PublishRequests, commands)}


def answer(hpid: str, rid: str, kind: AnswerKind, reason: RefusalReason | None = None) -> AnswerReceived:
    return AnswerReceived(hpid, rid, kind, reason, origin=Origin(f"ems/hospitals/{hpid}/answer", b"{}"))


def test_advice_sends_a_request_to_the_centre_and_tells_the_crew(engine: DispatchEngine) -> None:
    vitals = stroke().model_copy(update={"note": "오른쪽 편마비, 발병 40분"})
    out = engine.apply(transport("u1", JONGNO_3GA, vitals), NOW)
    advised = advice(out, "u1")
    sent = {c.hpid: c.requests for c in of(PublishRequests, out)}
    (entry,) = sent[advised.destination.hpid]
    assert (entry.request_id, entry.pathway, entry.critical) == ("u1-v1", Pathway.STROKE, True)
    assert entry.vitals is not None and entry.vitals.note == "오른쪽 편마비, 발병 40분"
    assert (entry.answer_by - entry.sent_at) == timedelta(seconds=60)
    state = told(out)
    assert state.state is RequestState.SENT and state.hpid == advised.destination.hpid
    assert "수용 요청 보냄" in state.message[0] and "request sent" in state.message[1]
    # the same centre on the next advice (a new ETA): the request stands, not sent again
    assert not of(TellRequest, engine.apply([Tick()], NOW + timedelta(seconds=10)))


def test_no_answer_by_the_time_out_leaves_the_advice_and_says_so(engine: DispatchEngine) -> None:
    advised = advice(engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW), "u1")
    assert not engine.due(NOW + timedelta(seconds=59)) and engine.due(NOW + timedelta(seconds=60))
    out = engine.apply([Tick()], NOW + timedelta(seconds=60))
    assert told(out).state is RequestState.NO_ANSWER and "응답 없음" in told(out).message[0]
    assert lists(out)[advised.destination.hpid] == [] and all(units == [] for units in lists(out).values())
    assert not of(Advise, out) and engine.units["u1"].destination == advised.destination.hpid


def test_a_decline_re_plans_at_once_and_warns_the_next_stroke_patient_off_that_centre(
    engine: DispatchEngine, prepared: Prepared, severity: TrainedSeverity
) -> None:
    first = advice(engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW), "u1").destination.hpid
    out = engine.apply([answer(first, "u1-v1", AnswerKind.DECLINE, RefusalReason.NO_SPECIALIST)], NOW)
    states = [(c.state, c.hpid) for c in of(TellRequest, out) if c.unit_id == "u1"]
    second = advice(out, "u1").destination.hpid
    assert states == [(RequestState.DECLINED, first), (RequestState.SENT, second)]
    assert second != first and "u1" in lists(out)[second] and lists(out)[first] == []
    # a stroke patient of another crew, at the same place: not sent to the centre that has no specialist now
    later = advice(engine.apply(transport("u2", JONGNO_3GA, stroke()), NOW + timedelta(seconds=30)), "u2")
    assert later.destination.hpid != first
    fresh = DispatchEngine(prepared, severity)  # without the decline, that centre would have been its advice
    assert advice(fresh.apply(transport("u2", JONGNO_3GA, stroke()), NOW), "u2").destination.hpid == first
    # the centre's next report is newer news: its team counts again
    out = engine.apply([CapacityReported(first, capacity(NOW + timedelta(minutes=1)))], NOW + timedelta(minutes=1))
    assert not engine.requests.held(first, NOW + timedelta(minutes=1), NOW + timedelta(minutes=1))


def test_an_acceptance_holds_the_patient_where_a_new_report_would_move_them(
    engine: DispatchEngine, prepared: Prepared, severity: TrainedSeverity
) -> None:
    hpids = by_distance_from(engine, JONGNO_3GA)
    reports = [CapacityReported(h, capacity(NOW, beds=5)) for h in hpids]
    full = [CapacityReported(hpids[0], capacity(NOW + timedelta(seconds=30), overcrowded=True))]
    # without an answer, the full report moves the patient
    other = DispatchEngine(prepared, severity)
    other.apply(reports, NOW)
    assert advice(other.apply(transport("u1", JONGNO_3GA, minor_vitals()), NOW), "u1").destination.hpid == hpids[0]
    assert advice(other.apply(full, NOW + timedelta(seconds=30)), "u1").destination.hpid != hpids[0]
    # accepted, it holds (R-PROMISE)
    engine.apply(reports, NOW)
    assert advice(engine.apply(transport("u1", JONGNO_3GA, minor_vitals()), NOW), "u1").destination.hpid == hpids[0]
    out = engine.apply([answer(hpids[0], "u1-v1", AnswerKind.ACCEPT)], NOW + timedelta(seconds=10))
    assert told(out).state is RequestState.ACCEPTED and "출발하세요" in told(out).message[0]
    assert lists(out) == {hpids[0]: []} and not of(Advise, out)
    out = engine.apply(full, NOW + timedelta(seconds=30))
    assert not of(Advise, out) or advice(out, "u1").destination.hpid == hpids[0]
    assert engine.units["u1"].destination == hpids[0]
    # but a centre that shuts its ER is no longer a candidate: the promise cannot hold
    shut = CapacityReported(hpids[0], capacity(NOW + timedelta(seconds=40), conditions={Condition.ER_OPEN: False}))
    assert advice(engine.apply([shut], NOW + timedelta(seconds=40)), "u1").destination.hpid != hpids[0]


def test_a_stroke_patient_is_asked_of_two_centres_and_the_first_yes_wins(engine: DispatchEngine) -> None:
    """R-DUAL: the advised centre and the first alternative (same tier, at most 5 min farther) both get a request;
    the alternative says yes first: the patient goes there (new advice, held), the other request is withdrawn,
    and the advised centre's late yes is refused."""
    out = engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW)
    advised = advice(out, "u1")
    alternative = advised.alternatives[0]
    assert alternative.eta_s - advised.destination.eta_s <= DUAL_WITHIN_S  # what the test is about
    assert lists(out) == {advised.destination.hpid: ["u1"], alternative.hpid: ["u1"]}
    assert told(out).hpid == advised.destination.hpid  # the crew hears of the advised centre's request
    out = engine.apply([answer(alternative.hpid, "u1-v1b", AnswerKind.ACCEPT)], NOW + timedelta(seconds=20))
    assert advice(out, "u1").destination.hpid == alternative.hpid
    assert told(out).state is RequestState.ACCEPTED and told(out).hpid == alternative.hpid
    assert lists(out)[advised.destination.hpid] == [] and lists(out)[alternative.hpid] == []
    (late,) = engine.apply([answer(advised.destination.hpid, "u1-v1", AnswerKind.ACCEPT)], NOW + timedelta(seconds=25))
    assert isinstance(late, Refuse)
    # held there (R-PROMISE): a tick later nothing moves
    assert not of(Advise, engine.apply([Tick()], NOW + timedelta(seconds=90)))


def test_a_non_critical_patient_is_asked_of_one_centre(engine: DispatchEngine) -> None:
    out = engine.apply(transport("u1", JONGNO_3GA, minor_vitals()), NOW)
    assert [units for units in lists(out).values() if units] == [["u1"]]


def test_an_arrest_is_never_held_for_an_answer(engine: DispatchEngine) -> None:
    arrest = schemas.Vitals.new(
        patient_id="P-arrest", age_years=66, sex="male", hr_bpm=0, rr_per_min=0, avpu="U", gcs=3,
        chief_complaint="collapsed, CPR in progress", flags=schemas.CrewFlags(cardiac_arrest=True),
    )  # fmt: skip
    out = engine.apply(transport("u1", JONGNO_3GA, arrest), NOW)
    assert advice(out, "u1").pathway is Pathway.CARDIAC_ARREST
    assert not of(TellRequest, out) and not of(PublishRequests, out)


def test_an_answer_that_names_no_open_request_of_that_centre_is_refused(engine: DispatchEngine) -> None:
    first = advice(engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW), "u1").destination.hpid
    other = next(h for h in by_distance_from(engine, JONGNO_3GA) if h != first)
    for wrong in (answer(other, "u1-v1", AnswerKind.ACCEPT), answer(first, "u9-v1", AnswerKind.ACCEPT)):
        (refused,) = engine.apply([wrong], NOW)
        assert isinstance(refused, Refuse) and refused.reason[0].startswith("응답 거부")
        assert refused.origin is not None and refused.origin.topic.endswith("/answer")
    assert engine.requests.current("u1") is not None and engine.requests.current("u1").open  # type: ignore[union-attr]


def test_the_crews_decline_withdraws_the_request_and_the_trip_over_clears_it(engine: DispatchEngine) -> None:
    first = advice(engine.apply(transport("u1", JONGNO_3GA, stroke()), NOW), "u1").destination.hpid
    out = engine.apply([decision("u1", 1)], NOW + timedelta(seconds=5))
    assert [c.state for c in of(TellRequest, out)] == [RequestState.WITHDRAWN, RequestState.SENT]
    second = advice(out, "u1").destination.hpid
    assert lists(out)[first] == [] and lists(out)[second] == ["u1"]
    assert engine.requests.current("u1").request_id == request_id("u1", 2)  # type: ignore[union-attr]
    out = engine.apply([StatusChanged("u1", UnitStatus.AT_HOSPITAL)], NOW + timedelta(minutes=8))
    assert of(ClearRequest, out) == [ClearRequest("u1")]
    assert second in lists(out) and all(units == [] for units in lists(out).values())


def test_a_centres_list_holds_at_most_the_schemas_limit_oldest_first(engine: DispatchEngine) -> None:
    """At a national fleet's load a centre may have more requests waiting than one message carries: the oldest
    REQUESTS_MAX go out (the rest time out, as unanswered requests do), and the message stays valid even when
    every request carries the longest note and complaint a crew can send."""
    hpid = engine.prepared.scenario.centres[0].hpid
    longest = schemas.Vitals.new(patient_id="P" * 64, note="가" * 300, chief_complaint="나" * 200, hr_bpm=100,
                                 sbp_mmhg=120, rr_per_min=20, spo2_pct=95, gcs=15, age_years=70)  # fmt: skip
    for i in range(REQUESTS_MAX + 30):
        unit, sent = f"u{i:03d}" + "x" * 56, NOW + timedelta(seconds=i)
        engine.units[unit] = UnitState(unit, vitals=longest)
        engine.requests.send(Request(request_id(unit, 1), unit, hpid, "centre", "P" * 64, 1, Pathway.STROKE,
                                     True, 600.0, sent, sent + timedelta(seconds=600)))  # fmt: skip
    engine._requests_changed(hpid)
    (sent_list,) = of(PublishRequests, engine.apply([Tick()], NOW + timedelta(seconds=300)))
    assert [r.unit_id[:4] for r in sent_list.requests] == [f"u{i:03d}" for i in range(REQUESTS_MAX)]
    (message,) = publications(sent_list)
    assert isinstance(schemas.decode(topics.Kind.REQUESTS, message[1]), schemas.Requests)
