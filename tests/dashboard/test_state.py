"""The dashboard's view of the city, built from messages alone: units, advice, vitals, KPIs, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from dashboard.map_layers import SILENT_COLOUR, UNIT_COLOURS, unit_points
from dashboard.state import (
    ANSWERS_KEPT,
    SILENT,
    STALE_AFTER_S,
    VITALS_KEPT,
    AlertKind,
    CityView,
    alerts,
    answers_today,
    group_alerts,
    kpis,
    overdue_requests,
    pending_requests,
    refusals_today,
    today_start,
    unit_board,
    unit_request,
)
from telemetry import schemas, topics

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 12:00 in Korea


def _send(view: CityView, kind: topics.Kind, key: str, payload: schemas.Payload, *, at: datetime = NOW) -> None:
    view.apply(topics.build(kind, key), schemas.encode(payload), at)


def _status(status: schemas.UnitStatus, at: datetime, **fields: str | None) -> schemas.Status:
    return schemas.Status.new(status=status, ts=at, **fields)


def _advice(
    version: int, hpid: str = "A1", patient: str = "P-0001", *, definitive: bool = True, pathway: str | None = None
) -> schemas.Advice:
    option = schemas.Option(hpid=hpid, name="서울대병원", eta_s=420.0, beds_on_arrival=2, reason="free bed")
    return schemas.Advice.new(advice_version=version, patient_id=patient, destination=option, ts=NOW,
                              definitive=definitive, pathway=pathway)  # fmt: skip


def _capacity(available: int, total: int, at: datetime, *, overcrowded: bool = False) -> schemas.Capacity:
    beds = {schemas.BedType.ER_GENERAL: schemas.BedCount(available=available, total=total, overcrowded=overcrowded)}
    return schemas.Capacity.new(beds=beds, updated_at=at)


def test_positions_and_statuses_fold_into_one_unit() -> None:
    view = CityView()
    _send(view, topics.Kind.POSITION, "U1", schemas.Position.new(lat=37.5, lon=127.0, ts=NOW))
    _send(view, topics.Kind.STATUS, "U1", _status(schemas.UnitStatus.DISPATCHED, NOW, incident_id="I1"))
    unit = view.units["U1"]
    assert (unit.lat, unit.lon, unit.status, unit.incident_id) == (37.5, 127.0, schemas.UnitStatus.DISPATCHED, "I1")


def test_malformed_and_foreign_messages_are_counted_not_kept() -> None:
    view = CityView()
    view.apply("ems/units/U1/position", b'{"lat": "north"}', NOW)
    view.apply("somewhere/else", b"{}", NOW)
    view.apply("ems/units/U1/position", b"\xff\xfe", NOW)
    assert view.ignored == 3 and not view.units and view.messages == 3


def test_a_refusal_counts_once_though_the_unit_gets_a_copy() -> None:
    """The dispatcher reports a unit's refused message to the operators and the same report to the unit."""
    view = CityView()
    report = schemas.Rejected.of("ems/units/U1/vitals", b"{", "메시지 거부(형식 오류)", "message refused (malformed)")
    _send(view, topics.Kind.REJECTED, "dispatcher", report)
    _send(view, topics.Kind.UNIT_REJECTED, "U1", report)
    assert view.rejected == 1 and view.ignored == 0 and view.messages == 2


def test_older_advice_never_replaces_newer_and_a_cleared_advice_goes() -> None:
    view = CityView()
    _send(view, topics.Kind.ADVICE, "U1", _advice(2))
    _send(view, topics.Kind.ADVICE, "U1", _advice(1))
    held = view.advice["U1"].payload
    assert isinstance(held, schemas.Advice) and held.advice_version == 2
    _send(view, topics.Kind.ADVICE, "U1", _advice(1, patient="P-0002"))  # a new patient starts over at 1
    held = view.advice["U1"].payload
    assert isinstance(held, schemas.Advice) and held.patient_id == "P-0002"
    view.apply("ems/units/U1/advice", b"", NOW)
    assert "U1" not in view.advice


def test_vitals_keep_a_bounded_trend_per_patient() -> None:
    view = CityView()
    for k in range(VITALS_KEPT + 5):
        _send(view, topics.Kind.VITALS, "U1", schemas.Vitals.new(patient_id="P-0001", hr_bpm=60 + k))
    assert len(view.vitals["U1"]) == VITALS_KEPT and view.vitals["U1"][-1].hr_bpm == 60 + VITALS_KEPT + 4
    _send(view, topics.Kind.VITALS, "U1", schemas.Vitals.new(patient_id="P-0002", hr_bpm=90))
    assert [v.hr_bpm for v in view.vitals["U1"]] == [90]
    _send(view, topics.Kind.STATUS, "U1", _status(schemas.UnitStatus.AVAILABLE, NOW))
    assert "U1" not in view.vitals


def test_kpis_response_times_share_within_target_retransfers_and_ed_load() -> None:
    view = CityView()
    for n, minutes in enumerate([4.0, 6.0, 9.0, 12.0]):
        called = NOW - timedelta(hours=1, minutes=n)
        incident = schemas.Incident.new(lat=37.5, lon=127.0, category="medical", priority=2, ts=called)
        _send(view, topics.Kind.INCIDENT, f"I{n}", incident)
        arrived = called + timedelta(minutes=minutes)
        _send(view, topics.Kind.STATUS, f"U{n}", _status(schemas.UnitStatus.ON_SCENE, arrived, incident_id=f"I{n}"))
        _send(view, topics.Kind.STATUS, f"U{n}", _status(schemas.UnitStatus.ON_SCENE, arrived + timedelta(minutes=5),
                                                         incident_id=f"I{n}"))  # fmt: skip
    accept = schemas.Decision.new(advice_version=3, decision=schemas.DecisionKind.ACCEPT, ts=NOW)
    decline = schemas.Decision.new(advice_version=3, decision=schemas.DecisionKind.DECLINE, reason="no bed", ts=NOW)
    never_accepted = schemas.Decision.new(advice_version=1, decision=schemas.DecisionKind.DECLINE, reason="x", ts=NOW)
    for payload in (accept, decline, never_accepted):
        _send(view, topics.Kind.DECISION, "U0", payload)
    _send(view, topics.Kind.CAPACITY, "A1", _capacity(2, 10, NOW))
    _send(view, topics.Kind.CAPACITY, "A2", _capacity(0, 10, NOW, overcrowded=True))

    k = kpis(view, NOW)
    assert k.responses == 4
    assert k.response_p90_min is not None and abs(k.response_p90_min - float(np.percentile([4, 6, 9, 12], 90))) < 1e-9
    assert k.within_target == 0.5
    assert k.retransfers_today == 1  # only the decline of advice the crew had accepted
    assert (k.ed_occupied, k.ed_total, k.overcrowded) == (18, 20, 1) and k.ed_load == 0.9
    # A simulated city at 10× real time: minutes between messages are ten city minutes.
    assert kpis(view, NOW, clock_speed=10.0).within_target == 0.0


def test_today_starts_at_midnight_in_korea() -> None:
    assert today_start(NOW) == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert today_start(datetime(2026, 11, 24, 15, 30, tzinfo=UTC)) == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def test_alerts_offline_declined_long_offload_stale_centre_in_that_order() -> None:
    view = CityView()
    _send(view, topics.Kind.CAPACITY, "A1", _capacity(3, 10, NOW - timedelta(seconds=STALE_AFTER_S + 60)))
    _send(view, topics.Kind.CAPACITY, "A2", _capacity(3, 10, NOW))
    _send(view, topics.Kind.STATUS, "U1", _status(schemas.UnitStatus.AT_HOSPITAL, NOW - timedelta(minutes=45),
                                                  incident_id="I1", hpid="A2"))  # fmt: skip
    _send(view, topics.Kind.STATUS, "U2", _status(schemas.UnitStatus.AT_HOSPITAL, NOW - timedelta(minutes=5)))
    _send(view, topics.Kind.STATUS, "U3", _status(schemas.UnitStatus.OFFLINE, NOW - timedelta(minutes=2)))
    decline = schemas.Decision.new(advice_version=1, decision=schemas.DecisionKind.DECLINE, reason="no bed", ts=NOW)
    _send(view, topics.Kind.DECISION, "U4", decline)

    found = alerts(view, NOW)
    assert [(a.kind, a.subject) for a in found] == [
        (AlertKind.OFFLINE, "U3"),
        (AlertKind.DECLINED, "U4"),
        (AlertKind.LONG_OFFLOAD, "U1"),
        (AlertKind.STALE_CENTRE, "A1"),
    ]
    assert found[2].detail == "A2" and 44 < found[2].minutes < 46
    # At 10× real time the 5 minutes of U2 are 50 city minutes: a long offload too.
    assert {a.subject for a in alerts(view, NOW, clock_speed=10.0) if a.kind == AlertKind.LONG_OFFLOAD} == {"U1", "U2"}


def test_a_snapshot_does_not_change_when_the_view_goes_on() -> None:
    view = CityView()
    _send(view, topics.Kind.VITALS, "U1", schemas.Vitals.new(patient_id="P-0001", hr_bpm=70))
    snapshot = view.snapshot()
    _send(view, topics.Kind.VITALS, "U1", schemas.Vitals.new(patient_id="P-0001", hr_bpm=71))
    _send(view, topics.Kind.POSITION, "U2", schemas.Position.new(lat=37.5, lon=127.0))
    assert len(snapshot.vitals["U1"]) == 1 and "U2" not in snapshot.units


def test_a_unit_heard_once_and_not_since_is_silent_before_its_last_will_arrives() -> None:
    view = CityView()
    _send(view, topics.Kind.POSITION, "U1", schemas.Position.new(lat=37.5, lon=127.0), at=NOW - timedelta(seconds=50))
    _send(view, topics.Kind.POSITION, "U2", schemas.Position.new(lat=37.5, lon=127.0), at=NOW - timedelta(seconds=5))
    found = alerts(view, NOW, silent_after_s=45.0)
    assert [(a.kind, a.subject) for a in found] == [(AlertKind.SILENT, "U1")]
    assert alerts(view, NOW) == []  # without a keep-alive to judge by, no guess
    # The Last Will (written when the tablet connected, an hour ago) counts from when it came.
    will = schemas.Status.new(status=schemas.UnitStatus.OFFLINE, ts=NOW - timedelta(hours=1))
    _send(view, topics.Kind.STATUS, "U1", will, at=NOW - timedelta(seconds=10))
    found = alerts(view, NOW, silent_after_s=45.0)
    assert [(a.kind, a.subject) for a in found] == [(AlertKind.OFFLINE, "U1")] and found[0].minutes < 0.2


def test_a_unit_whose_advice_is_not_definitive_is_the_most_urgent_alert() -> None:
    view = CityView()
    _send(view, topics.Kind.STATUS, "U1", _status(schemas.UnitStatus.OFFLINE, NOW - timedelta(minutes=2)))
    _send(view, topics.Kind.STATUS, "U2", _status(schemas.UnitStatus.TRANSPORTING, NOW - timedelta(minutes=9)))
    _send(view, topics.Kind.ADVICE, "U2", _advice(3, definitive=False, pathway="stemi"))
    _send(view, topics.Kind.STATUS, "U3", _status(schemas.UnitStatus.TRANSPORTING, NOW - timedelta(minutes=9)))
    _send(view, topics.Kind.ADVICE, "U3", _advice(1, pathway="stroke"))  # definitive: no alert

    found = alerts(view, NOW + timedelta(minutes=4))
    assert [(a.kind, a.subject) for a in found] == [(AlertKind.NO_DEFINITIVE, "U2"), (AlertKind.OFFLINE, "U1")]
    assert found[0].detail == "stemi" and 3.9 < found[0].minutes < 4.1  # since the advice was given

    _send(view, topics.Kind.ADVICE, "U2", _advice(4, pathway="stemi"))  # a PCI centre came within reach
    assert [a.kind for a in alerts(view, NOW)] == [AlertKind.OFFLINE]


def test_a_non_definitive_advice_stops_alerting_once_the_unit_is_available() -> None:
    view = CityView()
    _send(view, topics.Kind.ADVICE, "U1", _advice(1, definitive=False))  # status not heard yet: alert
    assert [(a.kind, a.subject, a.detail) for a in alerts(view, NOW)] == [(AlertKind.NO_DEFINITIVE, "U1", "")]
    _send(view, topics.Kind.STATUS, "U1", _status(schemas.UnitStatus.AVAILABLE, NOW))
    assert alerts(view, NOW) == []


def test_alerts_are_only_the_citys_centres_when_it_names_them() -> None:
    """A capacity feed carrying the whole country (524 centres in the demo after 30 minutes): only the scenario's
    centres may raise a stale-data alert, so the city's own alerts are not buried."""
    view = CityView()
    old = NOW - timedelta(seconds=STALE_AFTER_S + 60)
    for hpid in ("A1", "B7", "C9"):
        _send(view, topics.Kind.CAPACITY, hpid, _capacity(3, 10, old))
    _send(view, topics.Kind.STATUS, "U1", _status(schemas.UnitStatus.OFFLINE, NOW - timedelta(minutes=1)))
    assert {a.subject for a in alerts(view, NOW)} == {"A1", "B7", "C9", "U1"}
    found = alerts(view, NOW, centres={"A1", "A2"})
    assert [(a.kind, a.subject) for a in found] == [(AlertKind.OFFLINE, "U1"), (AlertKind.STALE_CENTRE, "A1")]


def test_alerts_group_per_kind_and_subject_with_a_count() -> None:
    view = CityView()
    for minutes, reason in ((12, "병원이 전화로 수용 불가"), (7, "도로 통제·정체"), (3, "환자 상태 변화")):
        decline = schemas.Decision.new(advice_version=minutes, decision=schemas.DecisionKind.DECLINE, reason=reason,
                                       ts=NOW - timedelta(minutes=minutes))  # fmt: skip
        _send(view, topics.Kind.DECISION, "U1", decline)
    once = schemas.Decision.new(advice_version=1, decision=schemas.DecisionKind.DECLINE, reason="기타", ts=NOW)
    _send(view, topics.Kind.DECISION, "U2", once)
    for unit, minutes, hpid in (("U3", 40, "A2"), ("U4", 55, "A2"), ("U5", 35, "A3")):
        arrived = _status(schemas.UnitStatus.AT_HOSPITAL, NOW - timedelta(minutes=minutes), hpid=hpid)
        _send(view, topics.Kind.STATUS, unit, arrived)

    groups = group_alerts(alerts(view, NOW))
    assert [(g.kind, g.subject, g.count) for g in groups] == [
        (AlertKind.DECLINED, "U2", 1),
        (AlertKind.DECLINED, "U1", 3),
        (AlertKind.LONG_OFFLOAD, "A2", 2),  # one line per centre: its units held at the door
        (AlertKind.LONG_OFFLOAD, "A3", 1),
    ]
    u1 = groups[1]
    assert u1.detail == "환자 상태 변화" and 2.9 < u1.minutes < 3.1  # the newest decline
    a2 = groups[2]
    assert a2.units == ("U3", "U4") and 54.9 < a2.minutes < 55.1  # the longest wait
    assert len({g.key for g in groups}) == len(groups)


def test_an_alerts_key_holds_while_its_condition_does_and_changes_with_it() -> None:
    """An acknowledgement is kept under the key: the same condition later (older, longer) keeps it; a new decline,
    a new report that is stale again, a unit silent again change it."""
    view = CityView()
    old = NOW - timedelta(seconds=STALE_AFTER_S + 60)
    _send(view, topics.Kind.CAPACITY, "A1", _capacity(3, 10, old))
    _send(view, topics.Kind.POSITION, "U9", schemas.Position.new(lat=37.5, lon=127.0), at=NOW - timedelta(minutes=2))
    decline = schemas.Decision.new(advice_version=1, decision=schemas.DecisionKind.DECLINE, reason="기타", ts=NOW)
    _send(view, topics.Kind.DECISION, "U1", decline)

    def keys(at: datetime) -> dict[tuple[str, str], str]:
        return {(g.kind, g.subject): g.key for g in group_alerts(alerts(view, at, silent_after_s=45.0))}

    first = keys(NOW)
    assert set(first) == {(AlertKind.STALE_CENTRE, "A1"), (AlertKind.SILENT, "U9"), (AlertKind.DECLINED, "U1")}
    assert keys(NOW + timedelta(minutes=5)) == first  # the same conditions, only older

    _send(view, topics.Kind.CAPACITY, "A1", _capacity(2, 10, old + timedelta(seconds=30)))  # a new report, stale too
    second = schemas.Decision.new(advice_version=2, decision=schemas.DecisionKind.DECLINE, reason="기타", ts=NOW)
    _send(view, topics.Kind.DECISION, "U1", second)
    _send(view, topics.Kind.POSITION, "U9", schemas.Position.new(lat=37.5, lon=127.0), at=NOW - timedelta(minutes=1))
    now = keys(NOW)
    assert all(now[k] != first[k] for k in first)


def test_the_unit_board_lists_a_silent_unit_as_silent_as_the_map_draws_it() -> None:
    """A unit whose last status was "available" but that has not been heard for 1.5 keep-alives: the map draws it
    black, and the board says 무응답 (silent), not 대기."""
    view = CityView()
    for unit, heard_s in (("U1", 50), ("U2", 5)):
        at = NOW - timedelta(seconds=heard_s)
        _send(view, topics.Kind.STATUS, unit, _status(schemas.UnitStatus.AVAILABLE, at), at=at)
        _send(view, topics.Kind.POSITION, unit, schemas.Position.new(lat=37.5, lon=127.0), at=at)
    _send(view, topics.Kind.STATUS, "U3", _status(schemas.UnitStatus.TRANSPORTING, NOW, incident_id="I1"))
    _send(view, topics.Kind.ADVICE, "U3", _advice(2, hpid="A7"))
    _send(view, topics.Kind.STATUS, "U4", _status(schemas.UnitStatus.AT_HOSPITAL, NOW, hpid="A2"))

    board = {row.unit_id: row for row in unit_board(view, NOW, silent_after_s=45.0)}
    assert {u: row.status for u, row in board.items()} == {
        "U1": SILENT, "U2": "available", "U3": "transporting", "U4": "at_hospital",
    }  # fmt: skip
    dots = {p.id: p for p in unit_points(view, NOW, silent_after_s=45.0)}
    assert dots["U1"].colour == SILENT_COLOUR and dots["U1"].status == SILENT
    assert dots["U2"].colour == UNIT_COLOURS[schemas.UnitStatus.AVAILABLE]
    u3 = board["U3"]
    assert (u3.destination_hpid, u3.destination_name, u3.eta_s, u3.incident_id) == ("A7", "서울대병원", 420.0, "I1")
    assert u3.advised_at == NOW
    assert (board["U4"].destination_hpid, board["U4"].eta_s) == ("A2", None)  # where it said it is
    assert board["U1"].last_seen_s == 50.0
    assert unit_board(view, NOW)[0].status == "available"  # without a keep-alive to judge by, no guess


# --- the acceptance handshake ------------------------------------------------------------------


def _request(
    rid: str, unit: str, *, sent: datetime = NOW, answer_in_s: float = 120, seen: bool = False
) -> schemas.TransferRequest:
    return schemas.TransferRequest(
        request_id=rid, unit_id=unit, patient_id="P-0001", advice_version=2, pathway="stemi", ktas=2, critical=True,
        eta_s=540, vitals=schemas.KeyVitals(hr_bpm=118, sbp_mmhg=88), chief_complaint="흉통", note="식은땀",
        sent_at=sent, answer_by=sent + timedelta(seconds=answer_in_s), seen=seen,
    )  # fmt: skip


def _unit_state(
    rid: str,
    state: schemas.RequestState,
    *,
    hpid: str = "A1",
    sent: datetime = NOW,
    at: datetime = NOW,
    **fields: object,
) -> schemas.UnitRequest:
    return schemas.UnitRequest.new(
        request_id=rid, hpid=hpid, name="서울대병원", advice_version=2, state=state, message="요청을 보냈습니다",
        sent_at=sent, answer_by=sent + timedelta(seconds=120), ts=at, **fields,
    )  # fmt: skip


def _answer(rid: str, kind: schemas.AnswerKind, reason: schemas.RefusalReason | None = None, *,
            at: datetime = NOW) -> schemas.Answer:  # fmt: skip
    return schemas.Answer.new(request_id=rid, answer=kind, reason=reason, ts=at)


def test_a_centres_requests_are_kept_until_the_dispatcher_replaces_or_clears_them() -> None:
    view = CityView()
    assert pending_requests(view, "A1") == ()
    listed = schemas.Requests.new(requests=(_request("R1", "U1"), _request("R2", "U2")))
    _send(view, topics.Kind.REQUESTS, "A1", listed)
    assert [r.request_id for r in pending_requests(view, "A1")] == ["R1", "R2"] and pending_requests(view, "A2") == ()
    _send(view, topics.Kind.REQUESTS, "A1", schemas.Requests.new(requests=(_request("R2", "U2", seen=True),)))
    [left] = pending_requests(view, "A1")
    assert left.request_id == "R2" and left.seen
    view.apply(topics.build(topics.Kind.REQUESTS, "A1"), b"", NOW)
    assert pending_requests(view, "A1") == () and view.ignored == 0


def test_a_units_request_state_follows_its_request_and_an_older_copy_does_not_undo_it() -> None:
    view = CityView()
    _send(view, topics.Kind.REQUEST_STATE, "U1", _unit_state("R1", schemas.RequestState.SENT))
    _send(view, topics.Kind.REQUEST_STATE, "U1", _unit_state("R1", schemas.RequestState.ACCEPTED,
                                                             at=NOW + timedelta(seconds=40),
                                                             answered_at=NOW + timedelta(seconds=40)))  # fmt: skip
    _send(view, topics.Kind.REQUEST_STATE, "U1", _unit_state("R1", schemas.RequestState.SEEN,
                                                             at=NOW + timedelta(seconds=20)))  # fmt: skip
    state = unit_request(view, "U1")
    assert state is not None and state.state is schemas.RequestState.ACCEPTED
    assert unit_request(view, "U1", hpid="A1") == state and unit_request(view, "U1", hpid="A2") is None
    _send(view, topics.Kind.REQUEST_STATE, "U1", _unit_state("R2", schemas.RequestState.SENT))  # a new request
    assert (state := unit_request(view, "U1")) is not None and state.request_id == "R2"
    snapshot = view.snapshot()
    view.apply(topics.build(topics.Kind.REQUEST_STATE, "U1"), b"", NOW)
    assert unit_request(view, "U1") is None and unit_request(snapshot, "U1") is not None


def test_answers_count_once_per_request_and_today_only() -> None:
    view = CityView()
    yesterday = today_start(NOW) - timedelta(minutes=1)
    no_bed, no_specialist = schemas.RefusalReason.NO_BED, schemas.RefusalReason.NO_SPECIALIST
    decline = _answer("R1", schemas.AnswerKind.DECLINE, no_bed)
    for hpid, payload in [
        ("A1", _answer("R1", schemas.AnswerKind.SEEN)),
        ("A1", decline),
        ("A1", decline),  # the same message twice (QoS 1)
        ("A1", _answer("R1", schemas.AnswerKind.DECLINE, no_bed)),  # a second tap
        ("A1", _answer("R2", schemas.AnswerKind.DECLINE, no_specialist)),
        ("A1", _answer("R3", schemas.AnswerKind.DECLINE, no_specialist)),
        ("A2", _answer("R1", schemas.AnswerKind.DECLINE, schemas.RefusalReason.OTHER)),  # another centre, same id
        ("A2", _answer("R4", schemas.AnswerKind.ACCEPT)),
        ("A2", _answer("R0", schemas.AnswerKind.DECLINE, no_bed, at=yesterday)),
    ]:
        _send(view, topics.Kind.ANSWER, hpid, payload)
    assert len(answers_today(view, NOW)) == 6 and answers_today(view, NOW)[0].answer.answer is schemas.AnswerKind.SEEN
    assert refusals_today(view, NOW) == {
        "A1": {no_bed: 1, no_specialist: 2, schemas.RefusalReason.NO_EQUIPMENT: 0, schemas.RefusalReason.OTHER: 0},
        "A2": {no_bed: 0, no_specialist: 0, schemas.RefusalReason.NO_EQUIPMENT: 0, schemas.RefusalReason.OTHER: 1},
    }
    assert refusals_today(view, yesterday)["A2"][no_bed] == 1  # yesterday's, on yesterday's count


def test_answers_kept_are_bounded_oldest_first() -> None:
    view = CityView()
    for n in range(ANSWERS_KEPT + 3):
        _send(view, topics.Kind.ANSWER, "A1", _answer(f"R{n}", schemas.AnswerKind.SEEN))
    assert len(view.answers) == ANSWERS_KEPT and ("A1", "R0", "seen") not in view.answers
    assert ("A1", f"R{ANSWERS_KEPT + 2}", "seen") in view.answers


def test_overdue_requests_from_the_centres_lists_and_the_units_states() -> None:
    view = CityView()
    now = NOW + timedelta(minutes=5)
    listed = schemas.Requests.new(requests=(
        _request("R-late", "U1", sent=NOW),  # answer by NOW+2 min: 3 min over
        _request("R-seen", "U2", sent=NOW + timedelta(minutes=2), seen=True),  # 1 min over, seen
        _request("R-fresh", "U3", sent=NOW + timedelta(minutes=4)),  # still within its time
        _request("R-answered", "U4", sent=NOW),  # the unit's state says accepted: the list lags
    ))  # fmt: skip
    _send(view, topics.Kind.REQUESTS, "A1", listed)
    _send(view, topics.Kind.REQUEST_STATE, "U4", _unit_state("R-answered", schemas.RequestState.ACCEPTED))
    _send(view, topics.Kind.REQUEST_STATE, "U1", _unit_state("R-late", schemas.RequestState.SENT))
    _send(view, topics.Kind.REQUEST_STATE, "U5", _unit_state("R-given-up", schemas.RequestState.NO_ANSWER, hpid="A2",
                                                             sent=NOW - timedelta(minutes=1)))  # fmt: skip
    _send(view, topics.Kind.REQUEST_STATE, "U6", _unit_state("R-old", schemas.RequestState.NO_ANSWER,
                                                             sent=NOW - timedelta(hours=2)))  # fmt: skip
    _send(view, topics.Kind.REQUEST_STATE, "U7", _unit_state("R-declined", schemas.RequestState.DECLINED,
                                                             sent=NOW - timedelta(minutes=3),
                                                             reason=schemas.RefusalReason.NO_BED))  # fmt: skip

    found = overdue_requests(view, now)
    assert [(o.request_id, o.hpid, o.unit_id, o.state) for o in found] == [
        ("R-given-up", "A2", "U5", schemas.RequestState.NO_ANSWER),
        ("R-late", "A1", "U1", schemas.RequestState.SENT),
        ("R-seen", "A1", "U2", schemas.RequestState.SEEN),
    ]
    assert found[0].name == "서울대병원" and found[0].over_s == 240 and found[0].waited_s == 360
    assert (found[1].over_s, found[1].waited_s) == (180, 300)
    assert found[2].name is None and found[2].over_s == 60  # known only from the centre's list
    assert overdue_requests(view, NOW) == []


# --- the regions' dispatchers (ems/dispatchers/{region}/status) ------------------------------------------------


def _dispatcher(
    state: schemas.DispatcherState,
    at: datetime,
    *,
    epoch: int = 3,
    since: datetime = NOW - timedelta(hours=1),
    ledger: schemas.LedgerState = schemas.LedgerState.OK,
    detail: str | None = None,
) -> schemas.DispatcherStatus:
    return schemas.DispatcherStatus.new(region="national:gwangju", state=state, epoch=epoch, since=since,
                                        ledger=ledger, heartbeat_s=15.0, detail=detail, ts=at)  # fmt: skip


LEADING, OFFLINE = schemas.DispatcherState.LEADING, schemas.DispatcherState.OFFLINE
DOWN = schemas.LedgerState.UNREACHABLE
KEY = topics.dispatcher_id("national:gwangju")


def _dispatcher_alerts(view: CityView, at: datetime) -> list[tuple[str, str, float, str]]:
    return [(a.kind, a.subject, round(a.minutes, 2), a.detail) for a in alerts(view, at)]


def test_a_leading_dispatcher_with_its_ledger_raises_nothing_and_a_cleared_status_goes() -> None:
    view = CityView()
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(LEADING, NOW))
    assert view.dispatchers[KEY].status.region == "national:gwangju"
    assert alerts(view, NOW + timedelta(seconds=45)) == []  # three heartbeats, not more
    assert view.snapshot().dispatchers == view.dispatchers
    view.apply(topics.build(topics.Kind.DISPATCHER_STATUS, KEY), b"", NOW)
    assert view.dispatchers == {}


def test_a_dispatcher_offline_is_urgent_first_from_when_its_last_will_came() -> None:
    """A Last Will is written when the leader connects: its ``ts`` is old; the time offline counts from arrival."""
    view = CityView()
    _send(view, topics.Kind.STATUS, "U1", _status(schemas.UnitStatus.OFFLINE, NOW))
    will = _dispatcher(OFFLINE, NOW - timedelta(hours=1), detail="connection lost (Last Will)")
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, will, at=NOW)
    found = alerts(view, NOW + timedelta(minutes=2))
    assert [(a.kind, a.subject) for a in found][:2] == [
        (AlertKind.DISPATCHER_OFFLINE, "national:gwangju"),
        (AlertKind.OFFLINE, "U1"),
    ]
    assert found[0].minutes == 2.0


def test_a_dispatcher_silent_for_more_than_three_heartbeats_is_stale_until_it_beats_again() -> None:
    view = CityView()
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(LEADING, NOW))
    assert _dispatcher_alerts(view, NOW + timedelta(seconds=46)) == [
        (AlertKind.DISPATCHER_STALE, "national:gwangju", 0.77, "")
    ]
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(LEADING, NOW + timedelta(seconds=40)))
    assert alerts(view, NOW + timedelta(seconds=46)) == []


def test_an_unreachable_ledger_is_a_warning_counted_from_when_it_went_and_gone_when_it_is_back() -> None:
    view = CityView()
    why = "bed ledger at postgresql://db/gt: connection refused"
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(LEADING, NOW, ledger=DOWN, detail=why))
    later = NOW + timedelta(minutes=3)
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(LEADING, later, ledger=DOWN, detail=why), at=later)
    found = alerts(view, later)
    assert [(a.kind, a.subject, a.minutes, a.detail) for a in found] == [
        (AlertKind.LEDGER_DOWN, "national:gwangju", 3.0, why)
    ]
    first_key = group_alerts(found)[0].key
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(LEADING, later), at=later)  # back
    assert alerts(view, later) == []
    again = later + timedelta(minutes=1)
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(LEADING, again, ledger=DOWN, detail=why), at=again)
    found = alerts(view, again)
    assert [a.kind for a in found] == [AlertKind.LEDGER_DOWN] and found[0].minutes == 0.0
    assert group_alerts(found)[0].key != first_key  # a new condition: an acknowledgement of the first does not hold


def test_a_dispatcher_alert_holds_its_key_while_the_same_leader_stays_down_and_a_new_leader_clears_it() -> None:
    view = CityView()
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(OFFLINE, NOW, epoch=3))

    def keys(at: datetime) -> list[str]:
        return [g.key for g in group_alerts(alerts(view, at))]

    first = keys(NOW)
    assert len(first) == 1 and keys(NOW + timedelta(minutes=10)) == first
    taken = NOW + timedelta(seconds=6)
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(LEADING, taken, epoch=4, since=taken), at=taken)
    assert keys(taken) == []
    # the predecessor's Last Will arriving late (an older term) does not undo the new leader
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(OFFLINE, NOW - timedelta(hours=1), epoch=3), at=taken)
    assert view.dispatchers[KEY].status.epoch == 4 and keys(taken) == []
    # the new leader going down is a new condition
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(OFFLINE, taken, epoch=4, since=taken), at=taken)
    assert len(keys(taken)) == 1 and keys(taken) != first


def test_an_offline_dispatcher_is_not_also_stale_and_a_stale_one_does_not_report_its_old_ledger() -> None:
    view = CityView()
    _send(view, topics.Kind.DISPATCHER_STATUS, KEY, _dispatcher(OFFLINE, NOW))
    assert [a.kind for a in alerts(view, NOW + timedelta(hours=1))] == [AlertKind.DISPATCHER_OFFLINE]
    _send(view, topics.Kind.DISPATCHER_STATUS, "other", _dispatcher(LEADING, NOW, epoch=9, ledger=DOWN, detail="x"))
    kinds = {(a.kind, a.subject) for a in alerts(view, NOW + timedelta(minutes=1))}
    assert (AlertKind.DISPATCHER_STALE, "national:gwangju") in kinds
    assert (AlertKind.LEDGER_DOWN, "national:gwangju") not in kinds
