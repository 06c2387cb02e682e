"""The one translation at the edge: message -> event (or its refusal), command -> messages on the contract."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatch.commands import Advise, AssignUnit, ClearAdvice, InboundEntry, NoticeToUnit, NotifyInbound, Refuse
from dispatch.events import AdviceSeen, DecisionMade, Origin, PositionReported, VitalsReported
from dispatch.explain import say
from dispatch.pathways import Pathway
from dispatch.router import Option
from dispatch.severity.model import Severity
from dispatch.wire import event_of, publications
from telemetry import schemas, topics

SEVERITY = Severity(2, 0.7, 0.9, ("FAST+",), True)


def test_a_unit_message_becomes_its_event() -> None:
    position = schemas.Position.new(lat=37.57, lon=126.99)
    assert event_of("ems/units/u1/position", schemas.encode(position)) == PositionReported("u1", 37.57, 126.99)
    vitals = schemas.Vitals.new(patient_id="P-0001", hr_bpm=90)
    raw = schemas.encode(vitals)
    assert event_of("ems/units/u1/vitals", raw) == VitalsReported(
        "u1", vitals, origin=Origin("ems/units/u1/vitals", raw)
    )
    decline = schemas.encode(schemas.Decision.new(advice_version=2, decision="decline", reason="보호자 요청"))
    found = event_of("ems/units/u1/decision", decline)
    assert isinstance(found, DecisionMade) and (found.advice_version, found.accept) == (2, False)


def test_off_the_contract_malformed_and_empty_messages_are_refused_and_a_cleared_retained_one_is_nothing() -> None:
    off = event_of("ems/units/u1/nonsense", b"{}")
    malformed = event_of("ems/units/u1/vitals", b'{"schema": "ems.vitals/1", "hr_bpm": 999}')
    empty = event_of("ems/units/u1/vitals", b"")
    assert isinstance(off, Refuse) and isinstance(malformed, Refuse) and isinstance(empty, Refuse)
    assert malformed.reason[0].startswith("메시지 거부(형식 오류)") and "hr_bpm" in malformed.reason[1]
    assert empty.reason[1].startswith("message refused: the payload is empty (vitals)")
    assert event_of("ems/units/u1/advice", b"") is None  # a cleared retained message
    # the unit is told as well as the operators, with the same report
    (operators, unit) = publications(malformed)
    assert (operators[0], unit[0]) == ("ems/rejected/dispatcher", "ems/units/u1/rejected")
    assert operators[1] == unit[1] and (operators[2], operators[3]) == (1, False)
    report = schemas.decode(topics.Kind.REJECTED, operators[1])
    assert isinstance(report, schemas.Rejected) and report.topic == "ems/units/u1/vitals"
    assert publications(Refuse(Origin("ems/rejected/recorder", b"x"), say("malformed", detail="x"))) == []


def test_advice_goes_out_retained_and_comes_back_as_the_advice_seen() -> None:
    option = Option("A1", "서울대학교병원", 600.0, 2, "서울대학교병원: 10분", 1.0, reason_en="Seoul: 10 min")
    far = Option("A2", "먼 병원", float("inf"), None, "먼 병원", 9.0)
    command = Advise("u1", 3, "P-0001", option, (far,), SEVERITY, "approximate", Pathway.STROKE, True)
    ((topic, payload, qos, retain),) = publications(command)
    assert (topic, qos, retain) == ("ems/units/u1/advice", 1, True)
    advice = schemas.decode(topics.Kind.ADVICE, payload)
    assert isinstance(advice, schemas.Advice)
    assert (advice.pathway, advice.eta_mode, advice.alternatives[0].eta_s) == ("stroke", "approximate", 86_400.0)
    assert advice.destination.reason_en == "Seoul: 10 min" and advice.alternatives[0].reason_en is None
    seen = event_of(topic, payload)
    assert isinstance(seen, AdviceSeen)
    assert (seen.unit_id, seen.advice_version, seen.patient_id, seen.destination, seen.eta_s) == (
        "u1",
        3,
        "P-0001",
        "A1",
        600.0,
    )
    assert seen.severity is not None and (seen.severity.ktas, seen.severity.p_critical) == (2, 0.7)
    assert seen.eta_mode == "approximate" and seen.definitive


def test_the_other_commands_on_their_topics() -> None:
    entry = InboundEntry("u1", "P-0001", 2, SEVERITY, 300.0, "road")
    ((topic, payload, _, retain),) = publications(NotifyInbound("A1", (entry,)))
    inbound = schemas.decode(topics.Kind.INBOUND, payload)
    assert (topic, retain) == ("ems/hospitals/A1/inbound", True) and isinstance(inbound, schemas.Inbound)
    assert inbound.patients[0].severity == schemas.Severity(
        ktas=2, p_critical=0.7, p_emergency=0.9, critical=True, decided_by=schemas.Decider.MODEL
    )
    assert publications(ClearAdvice("u1")) == [("ems/units/u1/advice", b"", 1, True)]
    ((topic, payload, _, _),) = publications(AssignUnit("INC-1", "u2", 1e9, "road"))
    assignment = schemas.decode(topics.Kind.ASSIGNMENT, payload)
    assert topic == "ems/incidents/INC-1/assignment" and isinstance(assignment, schemas.Assignment)
    assert assignment.eta_s == 86_400.0  # at most a day: the schema's bound
    notice = NoticeToUnit("u1", Origin("ems/units/u1/vitals", b"{}"), say("held_no_position"))
    ((topic, payload, _, _),) = publications(notice)
    told = schemas.decode(topics.Kind.UNIT_REJECTED, payload)
    assert topic == "ems/units/u1/rejected" and isinstance(told, schemas.Rejected) and told.reason.startswith("보류")
    assert datetime.now(UTC) >= told.ts
