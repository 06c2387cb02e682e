"""The acceptance handshake through a real broker (in-memory, embedded, and Mosquitto when CI has it): the
request reaches the centre's topic, the centre's decline and acceptance reach the dispatcher, the crew's
topic follows, and a malformed answer is refused with the reason."""

from __future__ import annotations

import re
from pathlib import Path

from dispatch.service import Dispatcher
from telemetry import schemas, topics
from telemetry.schemas import AnswerKind, RefusalReason, RequestState
from tests.dispatch.bus import JONGNO_3GA, Bus, advised, stable_vitals
from tests.helpers import unique, wait_until


def requests_at(bus: Bus, hpid: str) -> list[schemas.TransferRequest]:
    raw = bus.last(topics.build(topics.Kind.REQUESTS, hpid))
    payload = schemas.decode(topics.Kind.REQUESTS, raw) if raw else None
    return list(payload.requests) if isinstance(payload, schemas.Requests) else []


def state_of(bus: Bus, unit: str) -> schemas.UnitRequest | None:
    raw = bus.last(topics.build(topics.Kind.REQUEST_STATE, unit))
    payload = schemas.decode(topics.Kind.REQUEST_STATE, raw) if raw else None
    return payload if isinstance(payload, schemas.UnitRequest) else None


def answer(bus: Bus, hpid: str, request_id: str, kind: AnswerKind, reason: RefusalReason | None = None) -> None:
    bus.send(topics.Kind.ANSWER, hpid, schemas.Answer.new(request_id=request_id, answer=kind, reason=reason))


def test_a_request_its_decline_and_its_acceptance_travel_over_the_broker(bus: Bus, dispatcher: Dispatcher) -> None:
    unit = unique("u")
    vitals = stable_vitals("right-sided weakness, slurred speech", fast_positive=True)
    bus.transport(unit, JONGNO_3GA, vitals.model_copy(update={"note": "발병 40분, 항응고제 복용"}))
    first = advised(bus, dispatcher, unit).destination.hpid
    assert wait_until(lambda: any(r.unit_id == unit for r in requests_at(bus, first)))
    (request,) = [r for r in requests_at(bus, first) if r.unit_id == unit]
    assert (request.pathway, request.critical, request.note) == ("stroke", True, "발병 40분, 항응고제 복용")
    assert request.vitals.hr_bpm == vitals.hr_bpm and request.chief_complaint == vitals.chief_complaint
    assert wait_until(lambda: (s := state_of(bus, unit)) is not None and s.state is RequestState.SENT)

    answer(bus, first, request.request_id, AnswerKind.SEEN)
    assert wait_until(lambda: (s := state_of(bus, unit)) is not None and s.state is RequestState.SEEN)
    answer(bus, first, request.request_id, AnswerKind.DECLINE, RefusalReason.NO_SPECIALIST)
    assert wait_until(lambda: (a := bus.advice(unit)) is not None and a.destination.hpid != first)
    second = advised(bus, dispatcher, unit).destination.hpid
    assert wait_until(lambda: not any(r.unit_id == unit for r in requests_at(bus, first)))
    assert wait_until(lambda: any(r.unit_id == unit for r in requests_at(bus, second)))
    (again,) = [r for r in requests_at(bus, second) if r.unit_id == unit]

    answer(bus, second, again.request_id, AnswerKind.ACCEPT)

    def accepted() -> bool:
        state = state_of(bus, unit)
        return state is not None and state.state is RequestState.ACCEPTED and state.hpid == second

    assert wait_until(accepted)
    state = state_of(bus, unit)
    assert state is not None and "출발하세요" in state.message and state.message_en and "leave now" in state.message_en
    assert wait_until(lambda: not any(r.unit_id == unit for r in requests_at(bus, second)))


def test_an_answer_off_the_contract_or_to_no_open_request_is_reported(bus: Bus, dispatcher: Dispatcher) -> None:
    hpid = unique("H")
    raw = b'{"schema": "ems.answer/1", "ts": "2026-12-06T09:00:00Z", "msg_id": "bad-answer-1", "request_id": "x-v1", "answer": "decline"}'  # noqa: E501
    assert bus.client.publish(topics.build(topics.Kind.ANSWER, hpid), raw, qos=1).wait(5)
    assert wait_until(lambda: any("a decline needs a reason" in r.reason for r in bus.reports()))
    answer(bus, hpid, "nobody-v1", AnswerKind.ACCEPT)
    assert wait_until(lambda: any(r.reason.startswith("응답 거부") and hpid in r.reason for r in bus.reports()))


def test_the_readme_examples_of_the_handshake_are_valid_for_their_topics() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The acceptance handshake", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```json\n(.*?)\n```", section, flags=re.S)
    kinds = [topics.Kind.REQUESTS, topics.Kind.ANSWER, topics.Kind.REQUEST_STATE]
    assert len(blocks) == len(kinds)
    for block, kind in zip(blocks, kinds, strict=True):
        assert type(schemas.decode(kind, block.encode())) is schemas.MODELS[kind]
