"""The acceptance handshake's bookkeeping (dispatch.handshake): requests, answers, time-outs, and what a
decline says about a centre. Pure: no engine, no bus."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.centre_view import Datum, State
from dispatch.handshake import (
    ANSWER_WITHIN_S,
    REFUSAL_HOLD_S,
    HandshakeError,
    Request,
    RequestBook,
    answer_within_s,
    refused_view,
    request_id,
)
from dispatch.pathways import PATHWAYS, Designation, Pathway
from dispatch.router import RouterConfig
from telemetry.schemas import AnswerKind, Condition, RefusalReason, RequestState
from tests.dispatch.test_router import view

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def request(unit: str = "u1", hpid: str = "A", version: int = 1, pathway: Pathway | None = Pathway.STROKE) -> Request:
    return Request(request_id(unit, version), unit, hpid, f"centre {hpid}", "pt-0001", version, pathway, True, 600.0,
                   NOW, NOW + timedelta(seconds=answer_within_s(pathway)))  # fmt: skip


def test_the_more_time_critical_the_pathway_the_shorter_the_wait() -> None:
    assert (
        answer_within_s(Pathway.STEMI)
        <= answer_within_s(Pathway.GENERAL_CRITICAL)
        < answer_within_s(Pathway.NON_CRITICAL)
    )
    assert set(ANSWER_WITHIN_S) == set(PATHWAYS) - {Pathway.CARDIAC_ARREST}  # arrest: never held (R-ANSWER)
    assert answer_within_s(None) == 90.0


def test_a_request_id_fits_in_a_topic_id_even_for_a_long_unit_id() -> None:
    assert request_id("119-jongno-1", 3) == "119-jongno-1-v3"
    long = request_id("u" * 64, 12)
    assert len(long) <= 64 and long.endswith("-v12") and long != request_id("v" * 64, 12)


def test_a_new_request_withdraws_the_units_open_one() -> None:
    book = RequestBook()
    assert book.send(request()) == []
    (withdrawn,) = book.send(request(hpid="B", version=2))
    assert withdrawn.hpid == "A" and withdrawn.state is RequestState.WITHDRAWN
    assert book.pending("A") == [] and [r.hpid for r in book.pending("B")] == ["B"]


def test_answers_move_a_request_on_and_only_its_centre_may_answer() -> None:
    book = RequestBook()
    book.send(request())
    rid = request_id("u1", 1)
    with pytest.raises(HandshakeError, match="not a request to B"):
        book.answer("B", rid, AnswerKind.ACCEPT, None, NOW)
    with pytest.raises(HandshakeError, match="not a request to A"):
        book.answer("A", "nobody-v1", AnswerKind.ACCEPT, None, NOW)
    assert book.answer("A", rid, AnswerKind.SEEN, None, NOW).request.state is RequestState.SEEN
    assert book.pending("A")[0].state is RequestState.SEEN  # seen: still waiting for the answer
    accepted = book.answer("A", rid, AnswerKind.ACCEPT, None, NOW + timedelta(seconds=20)).request
    assert accepted.state is RequestState.ACCEPTED and accepted.answered_at == NOW + timedelta(seconds=20)
    assert book.pending("A") == []
    with pytest.raises(HandshakeError, match="already accepted"):
        book.answer("A", rid, AnswerKind.DECLINE, RefusalReason.NO_BED, NOW)


def test_an_open_request_expires_at_its_answer_time() -> None:
    book = RequestBook()
    book.send(request(pathway=Pathway.STEMI))  # 60 s
    assert book.next_deadline() == NOW + timedelta(seconds=60)
    assert book.expire(NOW + timedelta(seconds=59)) == []
    (gone,) = book.expire(NOW + timedelta(seconds=60))
    assert gone.state is RequestState.NO_ANSWER and book.next_deadline() is None
    assert book.expire(NOW + timedelta(seconds=600)) == []  # once
    ko, en = gone.words()
    assert "응답 없음" in ko and "안내대로 출발" in ko and "no answer" in en


def test_a_decline_is_remembered_about_the_centre_until_its_next_report_or_the_hold() -> None:
    book = RequestBook()
    book.send(request())
    declined = book.answer("A", request_id("u1", 1), AnswerKind.DECLINE, RefusalReason.NO_SPECIALIST, NOW).request
    assert declined.state is RequestState.DECLINED and "전문의 부재" in declined.words()[0]
    assert [r.reason for r in book.held("A", None, NOW)] == [RefusalReason.NO_SPECIALIST]
    assert book.held("A", NOW - timedelta(minutes=5), NOW) != []  # a report from before the decline
    assert book.held("A", NOW + timedelta(minutes=5), NOW + timedelta(minutes=6)) == []  # a newer report
    book.send(request("u2", version=1))
    book.answer("A", request_id("u2", 1), AnswerKind.DECLINE, RefusalReason.NO_BED, NOW)
    assert book.held("A", None, NOW + timedelta(seconds=REFUSAL_HOLD_S + 1)) == []


def second(hpid: str = "B") -> Request:
    return replace(request(hpid=hpid), request_id=request_id("u1", 1, second=True))


def test_two_centres_asked_at_once_the_first_yes_wins() -> None:
    """R-DUAL: the second centre accepts first: it becomes the unit's request, the first is withdrawn."""
    book = RequestBook()
    book.send(request())
    book.also(second())
    assert [r.request_id for r in book.pending("A") + book.pending("B")] == ["u1-v1", "u1-v1b"]
    answered = book.answer("B", "u1-v1b", AnswerKind.ACCEPT, None, NOW)
    assert answered.current is answered.request and answered.request.state is RequestState.ACCEPTED
    assert [(w.hpid, w.state) for w in answered.withdrawn] == [("A", RequestState.WITHDRAWN)]
    assert book.current("u1") is answered.request and book.pending("A") == book.pending("B") == []
    with pytest.raises(HandshakeError, match="not a request to A"):  # too late: the other said yes first
        book.answer("A", "u1-v1", AnswerKind.ACCEPT, None, NOW)


def test_two_centres_asked_at_once_a_no_leaves_the_other_standing() -> None:
    book = RequestBook()
    book.send(request())
    book.also(second())
    answered = book.answer("A", "u1-v1", AnswerKind.DECLINE, RefusalReason.NO_BED, NOW)
    assert answered.request.state is RequestState.DECLINED and answered.withdrawn == ()
    assert answered.current is not None and answered.current.request_id == "u1-v1b"
    assert book.current("u1") is answered.current and [r.hpid for r in book.pending("B")] == ["B"]
    assert book.send(request(hpid="C", version=2))[0].request_id == "u1-v1b"  # new advice: withdrawn
    assert book.forget("u1")[0].hpid == "C"


def test_a_no_specialist_decline_declares_the_pathways_first_tier_no() -> None:
    config = RouterConfig()
    centre = view("A", beds=4, conditions={"stroke_thrombectomy": True})
    book = RequestBook()
    book.send(request())
    book.answer("A", request_id("u1", 1), AnswerKind.DECLINE, RefusalReason.NO_SPECIALIST, NOW)
    after = refused_view(centre, book.held("A", None, NOW), NOW + timedelta(minutes=1))
    first_tier = [i for g in PATHWAYS[Pathway.STROKE].tiers[0].groups for i in g if not isinstance(i, Designation)]
    assert first_tier and all(after.datum(i).state(3600.0, config) is State.NO for i in first_tier)
    assert after.datum(Condition.STROKE_THROMBECTOMY) == Datum(False, 60.0)
    assert after.er_available == 4  # the team, not the beds


def test_a_no_bed_decline_reads_as_no_er_bed_free_and_other_says_nothing_of_the_centre() -> None:
    centre = view("A", beds=4)
    book = RequestBook()
    book.send(request(pathway=Pathway.NON_CRITICAL))
    book.answer("A", request_id("u1", 1), AnswerKind.DECLINE, RefusalReason.NO_BED, NOW)
    after = refused_view(centre, book.held("A", None, NOW), NOW + timedelta(seconds=30))
    assert (after.er_available, after.beds_age_s) == (0, 30.0)
    book.send(request("u2", pathway=Pathway.STROKE))
    book.answer("A", request_id("u2", 1), AnswerKind.DECLINE, RefusalReason.OTHER, NOW)
    other = [r for r in book.held("A", None, NOW) if r.reason is RefusalReason.OTHER]
    assert refused_view(centre, other, NOW) == centre
