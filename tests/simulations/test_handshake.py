"""The acceptance handshake in the simulator (issue 23): the ``goldentime-handshake`` policy, the centres' answers by
the world's acceptance model, the records and KPIs it leaves, and the report's section. Toy city of toy.py:
every outcome worked out by hand."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from dispatch.commands import TellRequest
from dispatch.events import AnswerReceived
from dispatch.pathways import Pathway
from dispatch.scenario import ScenarioError
from simulations.city import CityDraws, handshake_answer_s
from simulations.config import SimConfig, load_sim_config
from simulations.engine import simulate
from simulations.kpis import has_verdict, run_metrics
from simulations.patients import SimPatient
from simulations.policies import GoldenTime, GoldenTimeHandshake, PhoneAround, asks, load_policy
from simulations.records import CallRecord, CentreRecord, RunResult
from simulations.report import HANDSHAKE_METRICS, write_report
from simulations.world import EPOCH, Call
from telemetry.schemas import AnswerKind, RefusalReason, RequestState
from tests.simulations import toy
from tests.simulations.toy import CONFIG, FAR, NEAR, SCENE

#: Answers come exactly ``handshake_answer_median_s`` (45 s) after each request: times worked out by hand.
EXACT = dataclasses.replace(CONFIG, handshake_answer_sigma=0.0)
STROKE = frozenset({Pathway.STROKE})


def _near_fills_unreported(draws: CityDraws) -> CityDraws:
    """Two walk-ins take the near centre's two beds at 3700 s, after its 3600 s report (it posts every 30 min):
    it is full when the crew is ready to leave, but its last report shows beds free."""
    return dataclasses.replace(draws, walkins={NEAR.hpid: ((3700.0, 1e9), (3701.0, 1e9)), FAR.hpid: ()})


def _ready_s(call: CallRecord) -> float:
    """When the crew was ready to leave: the call, the response, on scene (600 s in the toy draws)."""
    return call.t_call_s + call.response_s + 600.0


def _told(policy: GoldenTime) -> list[tuple[str, RequestState, RefusalReason | None]]:
    return [(c.hpid, c.state, c.reason) for c in policy.commands if isinstance(c, TellRequest)]


def test_the_first_centre_declines_the_second_accepts_and_the_crew_leaves_on_the_yes(tmp_path: Path) -> None:
    draws = _near_fills_unreported(toy.draws(toy.one_call(toy.patient(4))))
    policy = GoldenTimeHandshake(record=True)
    call = simulate(toy.prepared(tmp_path), EXACT, draws, policy, days=1).calls[0]
    # the engine's advice: the near centre (its report shows a bed), which has none and declines; re-planned, the far
    # centre, which accepts: two requests, two answers 45 s apart, and the crew leaves with the second
    assert _told(policy)[:4] == [
        (NEAR.hpid, RequestState.SENT, None),
        (NEAR.hpid, RequestState.DECLINED, RefusalReason.NO_BED),
        (FAR.hpid, RequestState.SENT, None),
        (FAR.hpid, RequestState.ACCEPTED, None),
    ]
    answers = [(t, e) for t, batch in policy.batches for e in batch if isinstance(e, AnswerReceived)]
    ready = _ready_s(call)
    assert [(e.hpid, e.answer, e.reason) for _, e in answers] == [
        (NEAR.hpid, AnswerKind.DECLINE, RefusalReason.NO_BED),
        (FAR.hpid, AnswerKind.ACCEPT, None),
    ]
    assert [(t - EPOCH).total_seconds() - ready for t, _ in answers] == pytest.approx([45.0, 90.0], abs=1e-5)
    assert (call.requests, call.phone_calls) == (2, 0) and call.scene_search_s == pytest.approx(90.0)
    assert (call.first_hpid, call.final_hpid, call.retransfers) == (FAR.hpid, FAR.hpid, 0)
    assert call.refusals == (("request", "no_bed"),)
    assert call.ready_to_accepted_s == pytest.approx(90.0)  # the far centre's yes, still at the scene


def test_the_same_city_driving_without_asking_and_phoning(tmp_path: Path) -> None:
    """GoldenTime without the handshake drives to the near centre and is refused at the door; phoning, the crew hears
    the same "no bed" on the phone; each records where its first yes came from."""
    draws = _near_fills_unreported(toy.draws(toy.one_call(toy.patient(4))))
    driven = simulate(toy.prepared(tmp_path), EXACT, draws, GoldenTime(), days=1).calls[0]
    assert (driven.requests, driven.scene_search_s, driven.first_hpid, driven.retransfers) == (0, 0.0, NEAR.hpid, 1)
    assert driven.refusals == (("door", "no_bed"),)
    assert driven.ready_to_accepted_s == pytest.approx(driven.transport_s)  # the far centre's door took them
    phoned = simulate(toy.prepared(tmp_path), EXACT, draws, PhoneAround(), days=1).calls[0]
    assert (phoned.phone_calls, phoned.requests, phoned.first_hpid) == (2, 0, FAR.hpid)
    assert phoned.refusals == (("phone", "no_bed"),)
    assert phoned.ready_to_accepted_s == pytest.approx(phoned.scene_search_s)  # the second call's yes


def test_an_answer_slower_than_the_time_out_leaves_the_crew_to_go_as_advised(tmp_path: Path) -> None:
    slow = dataclasses.replace(EXACT, handshake_answer_median_s=200.0)
    policy = GoldenTimeHandshake(record=True)
    call = simulate(
        toy.prepared(tmp_path), slow, toy.draws(toy.one_call(toy.patient(2, STROKE))), policy, days=1
    ).calls[0]
    # a stroke's request waits 60 s (R-ANSWER); the answer would take 200 s: the crew leaves at 60 s, unpromised
    assert (call.requests, call.refusals) == (1, ()) and call.scene_search_s == pytest.approx(60.0)
    assert _told(policy)[:2] == [(FAR.hpid, RequestState.SENT, None), (FAR.hpid, RequestState.NO_ANSWER, None)]
    assert not any(isinstance(e, AnswerReceived) for _, batch in policy.batches for e in batch)
    assert (call.first_hpid, call.final_hpid) == (FAR.hpid, FAR.hpid)  # as advised; its door took the patient
    assert call.ready_to_accepted_s == pytest.approx(60.0 + call.transport_s)


def test_after_phone_max_calls_declines_the_crew_leaves_as_advised(tmp_path: Path) -> None:
    once = dataclasses.replace(EXACT, phone_max_calls=1)
    draws = _near_fills_unreported(toy.draws(toy.one_call(toy.patient(4))))
    call = simulate(toy.prepared(tmp_path), once, draws, GoldenTimeHandshake(), days=1).calls[0]
    # one request (declined after 45 s); the next advice's request is not waited on: the crew leaves for the far centre
    assert (call.requests, call.refusals) == (1, (("request", "no_bed"),))
    assert call.scene_search_s == pytest.approx(45.0)
    assert (call.first_hpid, call.retransfers) == (FAR.hpid, 0)
    assert call.ready_to_accepted_s == pytest.approx(45.0 + call.transport_s)


def _unstable(ktas: int) -> SimPatient:
    patient = toy.patient(ktas)
    return dataclasses.replace(patient, vitals=patient.vitals.model_copy(update={"spo2_pct": 70}))


@pytest.mark.parametrize("patient", [toy.patient(1, frozenset({Pathway.CARDIAC_ARREST})), _unstable(2)])
def test_an_arrest_or_an_unstable_patient_is_never_held_at_the_scene(tmp_path: Path, patient: SimPatient) -> None:
    policy = GoldenTimeHandshake(record=True)
    call = simulate(toy.prepared(tmp_path), EXACT, toy.draws(toy.one_call(patient)), policy, days=1).calls[0]
    assert (call.requests, call.scene_search_s, call.first_hpid, call.nearest_first) == (0, 0.0, NEAR.hpid, True)
    assert not _told(policy)  # the engine sent no request (R-ANSWER): the crew left at once


def test_a_request_gets_the_answer_the_phone_gets_for_the_same_call_and_centre(tmp_path: Path) -> None:
    """Common random numbers: the near centre, full, refuses half of the time (``refuse_no_bed`` 0.5); asked about the
    same call of the same seed, on the phone or on its screen, it gives the same answer."""
    coin = dataclasses.replace(EXACT, refuse_no_bed=0.5)
    prepared = toy.prepared(tmp_path)
    heard: dict[str, list[bool]] = {"phone": [], "request": []}
    for seed in range(1, 13):
        draws = dataclasses.replace(_near_fills_unreported(toy.draws(toy.one_call(toy.patient(4)))), seed=seed)
        phoned = simulate(prepared, coin, draws, PhoneAround(), days=1).calls[0]
        asked = simulate(prepared, coin, draws, GoldenTimeHandshake(), days=1).calls[0]
        for where, call in (("phone", phoned), ("request", asked)):
            first_no = call.refusals[:1] == ((where, "no_bed"),)
            assert first_no or call.first_hpid == NEAR.hpid, where  # the near centre was asked first
            heard[where].append(not first_no)
    assert heard["phone"] == heard["request"]
    assert True in heard["phone"] and False in heard["phone"]  # the answers do depend on the draw


def test_answer_delays_are_lognormal_and_keyed_by_seed_call_and_attempt() -> None:
    config = SimConfig(handshake_answer_median_s=45.0, handshake_answer_sigma=0.6)
    call = toy.one_call(toy.patient(4))[0]
    assert handshake_answer_s(1, call, 0, config) == handshake_answer_s(1, call, 0, config)
    delays = {handshake_answer_s(seed, call, attempt, config) for seed in range(1, 40) for attempt in range(3)}
    assert len(delays) == 39 * 3 and all(d > 0 for d in delays)
    logs = sorted(math.log(d / 45.0) for d in delays)
    assert abs(logs[len(logs) // 2]) < 0.2  # median about 45 s
    other = Call(7, call.t, SCENE[0], SCENE[1], call.patient)
    assert handshake_answer_s(1, other, 0, config) != handshake_answer_s(1, call, 0, config)
    assert handshake_answer_s(1, call, 0, dataclasses.replace(config, handshake_answer_sigma=0.0)) == 45.0


def test_the_policy_is_shipped_and_asks_and_goldentime_does_not() -> None:
    policy = load_policy("goldentime-handshake")
    assert policy.name == "goldentime-handshake" and asks(policy)
    assert not asks(load_policy("goldentime")) and not asks(load_policy("phone-around"))


def test_the_answer_time_keys_are_read_from_the_scenario_file_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text("[simulation]\nhandshake_answer_median_s = 30\nhandshake_answer_sigma = 0.4\n", encoding="utf-8")
    config = load_sim_config(path)
    assert (config.handshake_answer_median_s, config.handshake_answer_sigma) == (30.0, 0.4)
    for bad in ("handshake_answer_median_s = 0", "handshake_answer_sigma = -0.1"):
        path.write_text(f"[simulation]\n{bad}\n", encoding="utf-8")
        with pytest.raises(ScenarioError, match=bad.split(" ")[0]):
            load_sim_config(path)


# --- KPIs and the report, on hand-made records ---------------------------------------------------------------------

CENTRES = (CentreRecord("A0000001", "첫째병원", 1, 10, 5, 3.0, 10, 1),)


def _record(
    call_id: int, ready_min: float | None, refusals: tuple[tuple[str, str], ...] = (), requests: int = 0
) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        t_call_s=60.0 * call_id,
        ktas=3,
        needs=(),
        response_s=300.0,
        transport_s=600.0,
        definitive_s=1800.0,
        first_hpid="A0000001",
        final_hpid="A0000001",
        retransfers=sum(where == "door" for where, _ in refusals),
        full_arrivals=0,
        incapable_arrivals=0,
        requests=requests,
        ready_to_accepted_s=None if ready_min is None else 60.0 * ready_min,
        refusals=refusals,
    )


RECORDS = (
    _record(0, 1.0, requests=1),
    _record(1, 2.0, (("request", "no_bed"),), requests=2),
    _record(2, 3.0, (("phone", "no_specialist"), ("phone", "no_bed"), ("door", "no_bed"))),
    _record(3, 10.0, (("request", "no_specialist"), ("door", "other")), requests=1),
    _record(4, None),  # not measured: left out of the times, counted among the patients
)


def test_time_to_acceptance_and_refusals_by_reason() -> None:
    m = run_metrics(RunResult("p", 1, 1.0, 1.0, RECORDS, CENTRES))
    assert m["time_to_acceptance_min"] == pytest.approx((1 + 2 + 3 + 10) / 4)
    assert m["time_to_acceptance_p90_min"] == pytest.approx(3 + 0.7 * 7)  # rank 2.7 of 1, 2, 3, 10
    assert m["requests_per_patient"] == pytest.approx(4 / 5)
    assert m["refusals_per_100"] == pytest.approx(100 * 6 / 5)
    assert m["refusals_no_bed_per_100"] == pytest.approx(100 * 3 / 5)
    assert m["refusals_no_specialist_per_100"] == pytest.approx(100 * 2 / 5)
    empty = run_metrics(RunResult("p", 1, 1.0, 1.0, (), CENTRES))
    assert all(math.isnan(empty[k]) for k in ("time_to_acceptance_min", "refusals_no_bed_per_100"))
    unmeasured = run_metrics(RunResult("p", 1, 1.0, 1.0, (RECORDS[4],), CENTRES))
    assert math.isnan(unmeasured["time_to_acceptance_min"]) and unmeasured["refusals_per_100"] == 0.0
    # how a crew looked for a centre is described, not judged; what it cost is
    assert not has_verdict("requests_per_patient") and not has_verdict("phone_calls_per_patient")
    assert has_verdict("time_to_acceptance_min") and has_verdict("refusals_no_bed_per_100")


def _run(policy: str, seed: int, ready_min: float) -> RunResult:
    calls = tuple(
        dataclasses.replace(r, ready_to_accepted_s=60.0 * (ready_min + i + seed / 10)) for i, r in enumerate(RECORDS)
    )
    return RunResult(policy, seed, 1.0, 1.0, calls, CENTRES)


@pytest.fixture
def no_hangul_font(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulations import report

    monkeypatch.setattr(report, "hangul_font", lambda: None)


@pytest.mark.usefixtures("no_hangul_font")
def test_the_report_pairs_the_handshake_with_each_other_policy(tmp_path: Path) -> None:
    ran = [("phone-around", 8.0), ("goldentime", 3.0), ("goldentime-handshake", 1.0)]
    results = [_run(policy, seed, ready) for policy, ready in ran for seed in (1, 2, 3)]
    text = write_report(tmp_path / "hs", results, title="toy", command="goldentime simulate").read_text("utf-8")
    section = text[text.index("## The acceptance handshake") : text.index("## Plots")]
    tables = section.split("### ")[1:]
    assert [t.splitlines()[0] for t in tables] == [
        "`goldentime-handshake` against `phone-around` (3 paired seeds)",
        "`goldentime-handshake` against `goldentime` (3 paired seeds)",
    ]
    rows = [line.split(" | ")[0].strip("| `") for line in tables[0].splitlines() if line.startswith("| `")]
    assert rows == list(HANDSHAKE_METRICS)
    assert "| `time_to_acceptance_min` | 10.2 | 3.2 | -7.0 [-7.0, -7.0] | win |" in tables[0]
    assert "| `requests_per_patient` |" in tables[0] and tables[0].count("| n/a |") >= 2
    # the existing sections are there as before; without the handshake policy, no such section
    assert "## Paired comparisons: `goldentime` against each other policy" in text
    plain = write_report(tmp_path / "plain", results[:6], title="toy", command="c").read_text("utf-8")
    assert "## The acceptance handshake" not in plain
