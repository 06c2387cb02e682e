"""What a crew's tablet is told, through a real broker: a decision on advice the crew still sees is applied
while the newest advice names the same destination, and refused on the unit's own
``ems/units/{unit}/rejected`` otherwise; the unit's malformed or empty messages are refused there too; vitals
that come before any position are kept and the unit told so; and the advice follows the ETA as the unit moves."""

from __future__ import annotations

import json
from pathlib import Path

from dispatch.engine import ETA_REPUBLISH_S
from dispatch.scenario import Prepared
from dispatch.service import Dispatcher
from dispatch.severity.model import TrainedSeverity
from telemetry import schemas, topics
from tests.dispatch.bus import (
    DONGDAEMUN,
    DONGNIMMUN,
    GWANGHWAMUN,
    JONGNO_3GA,
    Bus,
    Where,
    advised,
    etas,
    stable_vitals,
)
from tests.dispatch.test_service import Recording, _message
from tests.helpers import unique, wait_until

README = Path(__file__).resolve().parents[2] / "README.md"
#: From JONGNO_3GA a FAST+ patient is advised 서울적십자병원 (no centre has reported anything); driving to
#: EAST moves the road ETA there by more than two minutes, and CITY_HALL back by more than three, while
#: it stays the advice (the tests check both on the real roads). NEARBY moves it by less than a minute.
EAST: Where = (37.57267, 127.00967)
CITY_HALL: Where = (37.5663, 126.9779)
NEARBY: Where = (37.57072, 126.99461)
#: Where a unit may drive to, all on the road graph of central Seoul.
PLACES = (EAST, CITY_HALL, NEARBY, DONGNIMMUN, GWANGHWAMUN, DONGDAEMUN)


def readme_decision() -> bytes:
    """The decision example of README.md, as a vendor would paste it."""
    section = README.read_text(encoding="utf-8").split("### `ems/units/{unit}/decision`", 1)[1]
    return section.split("```json\n", 1)[1].split("\n```", 1)[0].encode()


def stroke() -> schemas.Vitals:
    return stable_vitals("right-sided weakness, slurred speech", fast_positive=True)


def newer(bus: Bus, unit: str, version: int) -> schemas.Advice:
    """The unit's advice once a version above ``version`` is on the bus."""

    def came() -> bool:
        advice = bus.advice(unit)
        return advice is not None and advice.advice_version > version

    assert wait_until(came), f"advice above version {version} for {unit}"
    advice = bus.advice(unit)
    assert advice is not None
    return advice


def told(bus: Bus, unit: str, count: int) -> list[schemas.Rejected]:
    """The first ``count`` refusals and notices the unit got on its own topic."""
    assert wait_until(lambda: len(bus.refusals(unit)) >= count), f"{count} refusals for {unit}: {bus.refusals(unit)}"
    return bus.refusals(unit)[:count]


def decide(bus: Bus, unit: str, version: int, decision: str = "decline") -> schemas.Decision:
    payload = schemas.Decision.new(
        advice_version=version, decision=decision, reason="보호자 요청" if decision == "decline" else None
    )
    bus.send(topics.Kind.DECISION, unit, payload)
    return payload


# --- ETA: a position alone re-advises -----------------------------------------------------------------------


def test_a_position_that_moves_the_eta_re_advises_the_crew_and_the_centre_agrees(
    bus: Bus, dispatcher: Dispatcher
) -> None:
    """The unit drives away from the advised centre: without new vitals, its next advice tells the ETA it now
    has (the centre's pre-notification list already followed the positions; the crew's advice did not)."""
    unit = unique("u")
    bus.transport(unit, JONGNO_3GA, stroke())
    first = advised(bus, dispatcher, unit)
    hpid = first.destination.hpid
    far = max(PLACES, key=lambda where: etas(dispatcher, where)[hpid])
    assert etas(dispatcher, far)[hpid] - first.destination.eta_s >= 2 * ETA_REPUBLISH_S  # what the test is about
    bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=far[0], lon=far[1]))
    second = newer(bus, unit, first.advice_version)
    assert second.advice_version == first.advice_version + 1 and second.patient_id == first.patient_id
    # the ETA it has from there (to the same centre unless another is now two minutes better; no offload reported)
    assert abs(second.destination.eta_s - etas(dispatcher, far)[second.destination.hpid]) < 1.0
    inbound = topics.build(topics.Kind.INBOUND, second.destination.hpid)

    def listed() -> list[schemas.InboundPatient]:
        raw = bus.last(inbound)
        payload = schemas.decode(topics.Kind.INBOUND, raw) if raw else None
        return [p for p in payload.patients if p.unit_id == unit] if isinstance(payload, schemas.Inbound) else []

    assert wait_until(lambda: any(p.advice_version == second.advice_version for p in listed()))
    assert abs(listed()[0].eta_s - second.destination.eta_s) < ETA_REPUBLISH_S  # the centre and the crew agree


def test_a_position_that_barely_moves_the_eta_plans_nothing(prepared: Prepared, severity: TrainedSeverity) -> None:
    """Positions come every second from every unit: one that moves the ETA by less than a minute costs a
    look-up, not a plan; one that moves it more is one plan, for that patient, and new advice."""
    client, unit = Recording(), unique("u")
    dispatcher = Dispatcher(client, prepared, severity)
    status = schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING)
    position = schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1])
    dispatcher.handle_batch([_message(topics.Kind.STATUS, unit, status), _message(topics.Kind.POSITION, unit, position),
                             _message(topics.Kind.VITALS, unit, stroke())])  # fmt: skip
    first = client.advice(unit)[-1]
    plans = dispatcher.stats.plans
    near = etas(dispatcher, NEARBY)[first.destination.hpid]
    assert 0 < abs(near - first.destination.eta_s) < ETA_REPUBLISH_S  # it does move, by less than a minute
    dispatcher.handle_batch([_message(topics.Kind.POSITION, unit, schemas.Position.new(lat=NEARBY[0], lon=NEARBY[1]))])
    assert dispatcher.stats.plans == plans and client.advice(unit)[-1] == first
    dispatcher.handle_batch([_message(topics.Kind.POSITION, unit, schemas.Position.new(lat=EAST[0], lon=EAST[1]))])
    assert dispatcher.stats.plans == plans + 1
    assert [a.advice_version for a in client.advice(unit)] == [first.advice_version, first.advice_version + 1]


# --- decisions ------------------------------------------------------------------------------------------------


def test_the_readme_decline_of_an_older_version_naming_the_same_destination_is_applied(
    bus: Bus, dispatcher: Dispatcher
) -> None:
    """The crew declines version 2 while version 3, re-advised for a new ETA, names the same centre: the
    decline is applied (the README's example, pasted as it is, names version 2)."""
    example = readme_decision()
    assert json.loads(example)["advice_version"] == 2 and json.loads(example)["decision"] == "decline"
    unit = unique("u")
    bus.transport(unit, JONGNO_3GA, stroke())
    assert advised(bus, dispatcher, unit).advice_version == 1
    versions = {}
    for version, where in ((2, EAST), (3, CITY_HALL)):
        bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=where[0], lon=where[1]))
        versions[version] = newer(bus, unit, version - 1)
        assert versions[version].advice_version == version
    declined = versions[2].destination.hpid
    assert versions[3].destination.hpid == declined  # version 2 is older, and names the same centre
    assert bus.client.publish(topics.build(topics.Kind.DECISION, unit), example, qos=1).wait(5)
    moved = newer(bus, unit, 3)
    assert moved.destination.hpid != declined and declined not in {a.hpid for a in moved.alternatives}
    assert bus.refusals(unit) == []  # a refusal would have come before the new advice


def test_a_decision_on_advice_that_changed_is_refused_and_the_unit_told_why(bus: Bus, dispatcher: Dispatcher) -> None:
    """Refused, on the unit's own topic and for the operators, each with a Korean reason and its English:
    a version whose centre is no longer advised, a version never issued, a version of the patient before,
    a decision with no advice at all."""
    unit, idle = unique("u"), unique("idle")
    bus.transport(unit, JONGNO_3GA, stroke())
    first = advised(bus, dispatcher, unit)
    decide(bus, unit, first.advice_version)
    second = newer(bus, unit, first.advice_version)  # the decline on the newest version is applied
    assert second.destination.hpid != first.destination.hpid
    stale = decide(bus, unit, first.advice_version, "accept")  # the crew still looks at version 1
    future = decide(bus, unit, second.advice_version + 5)
    bus.send(topics.Kind.VITALS, unit, stroke())  # the next patient: version 2 was not about them
    third = newer(bus, unit, second.advice_version)
    earlier = decide(bus, unit, second.advice_version)
    nothing = decide(bus, idle, 1)
    changed, never, before = told(bus, unit, 3)
    assert [r.topic for r in (changed, never, before)] == [topics.build(topics.Kind.DECISION, unit)] * 3
    assert [r.payload_excerpt for r in (changed, never, before)] == [
        schemas.encode(p).decode() for p in (stale, future, earlier)
    ]
    name = {c.hpid: c.name for c in dispatcher.prepared.scenario.centres}
    assert changed.reason.startswith("결정 거부: 권고가 바뀌었습니다")
    assert changed.reason_en is not None and changed.reason_en.startswith("decision refused: the advice changed")
    assert name[first.destination.hpid] in changed.reason and name[second.destination.hpid] in changed.reason
    assert f"version {second.advice_version}" in changed.reason_en
    assert never.reason.startswith("결정 거부") and "was never issued" in (never.reason_en or "")
    assert f"version {third.advice_version}" in (before.reason_en or "") and "not known" in (before.reason_en or "")
    (alone,) = told(bus, idle, 1)
    assert alone.payload_excerpt == schemas.encode(nothing).decode()
    assert alone.reason.startswith("결정 거부: 현재 환자에 대한 이송 권고가 없습니다")
    assert (alone.reason_en or "").startswith("decision refused: there is no advice")
    # the operators get the same reports (one message each)
    ids = {r.msg_id for r in (changed, never, before, alone)}
    assert wait_until(lambda: ids <= {r.msg_id for r in bus.reports()})


# --- the unit's own refusals and notices -----------------------------------------------------------------------


def test_malformed_and_empty_unit_messages_are_refused_to_the_unit(bus: Bus, dispatcher: Dispatcher) -> None:
    """Before, an empty payload was taken for a cleared retained message on any topic, and every refusal
    went to ``ems/rejected/dispatcher`` only, which a unit's account may not read."""
    unit = unique("u")
    vitals = topics.build(topics.Kind.VITALS, unit)
    assert bus.client.publish(vitals, b'{"schema": "ems.vitals/1", "hr_bpm": 999}', qos=1).wait(5)
    assert bus.client.publish(vitals, b"", qos=1).wait(5)
    assert bus.client.publish(topics.build(topics.Kind.DECISION, unit), b"", qos=1).wait(5)
    malformed, empty, empty_decision = told(bus, unit, 3)
    assert malformed.topic == vitals and malformed.reason.startswith("메시지 거부(형식 오류): vitals payload invalid")
    assert "hr_bpm" in malformed.reason and (malformed.reason_en or "").startswith("message refused (malformed)")
    assert (empty.topic, empty.payload_bytes) == (vitals, 0) and empty.reason.startswith("메시지 거부: 빈 메시지")
    assert (empty.reason_en or "").startswith("message refused: the payload is empty (vitals)")
    assert empty_decision.topic == topics.build(topics.Kind.DECISION, unit)
    ids = {r.msg_id for r in (malformed, empty, empty_decision)}
    assert wait_until(lambda: ids <= {r.msg_id for r in bus.reports()})


def test_vitals_before_any_position_are_kept_and_the_unit_told_the_advice_follows(
    bus: Bus, dispatcher: Dispatcher
) -> None:
    """Not a refusal: the vitals decide the advice once the first position comes, and the unit hears so at
    once (before, nothing came back until then). The operators get no report: nothing was refused."""
    unit = unique("u")
    rejected = dispatcher.stats.rejected
    bus.send(topics.Kind.STATUS, unit, schemas.Status.new(status=schemas.UnitStatus.TRANSPORTING))
    vitals = stroke()
    bus.send(topics.Kind.VITALS, unit, vitals)
    (notice,) = told(bus, unit, 1)
    assert notice.topic == topics.build(topics.Kind.VITALS, unit) and vitals.msg_id in notice.payload_excerpt
    assert notice.reason.startswith("보류(거부 아님)") and "첫 위치를 받으면 이송 권고를 보냅니다" in notice.reason
    assert notice.reason_en == (
        "held, not refused: no position from this unit yet; the vitals are kept and the advice follows its "
        "first position"
    )
    bus.send(topics.Kind.POSITION, unit, schemas.Position.new(lat=JONGNO_3GA[0], lon=JONGNO_3GA[1]))
    advice = advised(bus, dispatcher, unit)
    assert advice.patient_id == vitals.patient_id and advice.severity is not None and advice.severity.ktas <= 2
    assert dispatcher.stats.rejected == rejected and dispatcher.stats.notices >= 1
