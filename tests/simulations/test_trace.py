"""Trace replay: reading a fire HQ's call log, refusing a bad one by row and column, matching its patients."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dispatch.pathways import Pathway
from dispatch.scenario import Centre, Prepared, Scenario, Station
from loaders.scenarios import prepare
from simulations.config import SimConfig
from simulations.engine import draw_city
from simulations.patients import SimPatient
from simulations.trace import CallLogError, LoggedCall, PatientMatcher, read_call_log, replayed_calls
from telemetry import schemas

CENTRE = Centre("A0000001", "대학병원", 1, 35.150, 126.850)
STATION = Station("기지119안전센터", 35.140, 126.860)
KST = timezone(timedelta(hours=9))
HEADER = "time,lat,lon,category,ktas"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    where = tmp_path_factory.mktemp("toy")
    return prepare(
        Scenario("toy", "toy city", where, where / "no-graph.graphml", (CENTRE,), (STATION,)), cache_dir=None
    )


def write(tmp_path: Path, text: str, *, bom: bool = False) -> Path:
    path = tmp_path / "calls.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


# --- reading -----------------------------------------------------------------------------------------


def test_a_log_with_a_bom_unsorted_rows_and_mixed_offsets_is_put_on_one_clock(
    tmp_path: Path, prepared: Prepared
) -> None:
    text = "\n".join(
        [
            "Time, LAT ,lon,category,ktas,dispatcher",  # any case and spaces; an extra column
            "2025-03-01T13:40:00+09:00,35.145,126.851,stroke,2,김",
            "2025-03-01T08:15:00+09:00,35.146,126.852,medical,4,",
            "2025-03-01T02:00:00Z,35.147,126.853,STEMI,,",  # 11:00 in Korea
            "",
            "2025-03-02T00:30:00+09:00,35.148,126.854,,3,",
        ]
    )
    log = read_call_log(write(tmp_path, text, bom=True), prepared)
    assert log.start == datetime(2025, 3, 1, tzinfo=KST)
    assert [(c.row, c.t_s) for c in log.calls] == [(3, 29_700.0), (4, 39_600.0), (2, 49_200.0), (6, 88_200.0)]
    assert [(c.category, c.ktas) for c in log.calls] == [
        (None, 4),
        (Pathway.STEMI, None),
        (Pathway.STROKE, 2),
        (None, 3),
    ]
    assert (log.calls[0].lat, log.calls[0].lon) == (35.146, 126.852)
    assert log.span_days == 2
    assert [c.row for c in log.within(1.0)] == [3, 4, 2]
    assert log.within(0.25) == ()


def test_the_run_starts_at_midnight_of_the_earliest_call_in_its_own_offset(tmp_path: Path, prepared: Prepared) -> None:
    text = f"{HEADER}\n2025-03-01T23:30:00+00:00,35.145,126.851,,,\n2025-03-02T07:00:00+09:00,35.145,126.851,,,\n"
    log = read_call_log(write(tmp_path, text), prepared)
    # 07:00 KST on 2 March is 22:00 UTC on 1 March: the earliest call, so the run starts at 2 March 00:00 KST
    assert log.start == datetime(2025, 3, 2, tzinfo=KST)
    assert [c.t_s for c in log.calls] == [7 * 3600.0, 8.5 * 3600.0]
    assert log.span_days == 1


def test_a_call_at_midnight_opens_a_new_day(tmp_path: Path, prepared: Prepared) -> None:
    text = f"{HEADER}\n2025-03-01T10:00:00+09:00,35.145,126.851,,,\n2025-03-02T00:00:00+09:00,35.145,126.851,,,\n"
    log = read_call_log(write(tmp_path, text), prepared)
    assert log.span_days == 2
    assert len(log.within(1.0)) == 1


@pytest.mark.parametrize(
    ("text", "where", "why"),
    [
        ("time,lat,lon,category\n", "row 1 (header), column 'ktas'", "missing"),
        ("time,lat,lon,ktas,category,Time\n", "row 1 (header), column 'time'", "named 2 times"),
        (f"{HEADER}\n,35.145,126.851,,\n", "row 2, column 'time'", "empty"),
        (f"{HEADER}\n2025-03-01 8:15,35.145,126.851,,\n", "row 2, column 'time'", "not an ISO 8601 time"),
        (f"{HEADER}\n2025-03-01T08:15:00,35.145,126.851,,\n", "row 2, column 'time'", "no UTC offset"),
        (f"{HEADER}\n2025-03-01T08:15:00+09:00,north,126.851,,\n", "row 2, column 'lat'", "not a number"),
        (f"{HEADER}\n2025-03-01T08:15:00+09:00,95,126.851,,\n", "row 2, column 'lat'", "between -90 and 90"),
        (f"{HEADER}\n2025-03-01T08:15:00+09:00,35.145,,,\n", "row 2, column 'lon'", "not a number"),
        (f"{HEADER}\n2025-03-01T08:15:00+09:00,35.6,126.851,,\n", "row 2, column 'lat'", "outside toy"),
        (f"{HEADER}\n2025-03-01T08:15:00+09:00,35.145,127.2,,\n", "row 2, column 'lon'", "outside toy"),
        (f"{HEADER}\n2025-03-01T08:15:00+09:00,35.145,126.851,fracture,\n", "row 2, column 'category'", "fracture"),
        (f"{HEADER}\n2025-03-01T08:15:00+09:00,35.145,126.851,,6\n", "row 2, column 'ktas'", "not a KTAS level"),
        (f"{HEADER}\n2025-03-01T08:15:00+09:00,35.145,126.851,,2.5\n", "row 2, column 'ktas'", "not a KTAS level"),
        (
            f"{HEADER}\n2025-03-01T08:15:00+09:00,35.145,126.851,,2\n2025-03-01T09:00:00+09:00,35.145,126.851,,9\n",
            "row 3, column 'ktas'",
            "'9'",
        ),
    ],
)
def test_a_bad_cell_is_refused_with_its_row_and_column_on_one_line(
    tmp_path: Path, prepared: Prepared, text: str, where: str, why: str
) -> None:
    with pytest.raises(CallLogError) as caught:
        read_call_log(write(tmp_path, text), prepared)
    message = str(caught.value)
    assert where in message and why in message, message
    assert "\n" not in message


def test_a_call_a_little_outside_the_city_is_kept(tmp_path: Path, prepared: Prepared) -> None:
    # 35.25 N is ~11 km north of the centre, the extent's northern edge: within the 20 km margin
    text = f"{HEADER}\n2025-03-01T08:15:00+09:00,35.25,126.855,,\n"
    assert read_call_log(write(tmp_path, text), prepared).calls[0].lat == 35.25


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"", "is empty"), (f"{HEADER}\n\n".encode(), "no call"), ("time,위도\n".encode("cp949"), "not UTF-8")],
)
def test_an_empty_or_unreadable_log_is_an_error(tmp_path: Path, prepared: Prepared, content: bytes, why: str) -> None:
    path = tmp_path / "calls.csv"
    path.write_bytes(content)
    with pytest.raises(CallLogError, match=why):
        read_call_log(path, prepared)
    with pytest.raises(CallLogError, match="does not exist"):
        read_call_log(tmp_path / "missing.csv", prepared)


# --- patients ----------------------------------------------------------------------------------------


def patient(row: int, ktas: int, *needs: Pathway) -> SimPatient:
    flags = schemas.CrewFlags(
        fast_positive=Pathway.STROKE in needs,
        stemi=Pathway.STEMI in needs,
        cardiac_arrest=Pathway.CARDIAC_ARREST in needs,
    )
    return SimPatient(
        row=row,
        ktas=ktas,
        ktas_nurse=ktas,
        flags=flags,
        needs=frozenset(needs),
        vitals=schemas.Vitals.new(patient_id="P-test", flags=flags),
        complaint="",
        model_ktas=ktas,
        model_critical=ktas <= 2,
        model_p_critical=0.9 if ktas <= 2 else 0.05,
    )


CATALOGUE = (
    *(patient(r, 2, Pathway.STROKE) for r in range(0, 4)),
    *(patient(r, 3, Pathway.STROKE) for r in range(4, 6)),
    *(patient(r, 2, Pathway.STEMI) for r in range(6, 10)),
    *(patient(r, 2, Pathway.STROKE, Pathway.STEMI) for r in range(10, 12)),
    *(patient(r, 2) for r in range(12, 16)),
    *(patient(r, 4) for r in range(16, 20)),
    patient(20, 4, Pathway.STEMI),
    patient(21, 1, Pathway.CARDIAC_ARREST),
)


def logged(category: Pathway | None, ktas: int | None, t_s: float = 0.0) -> LoggedCall:
    return LoggedCall(2, t_s, 35.145, 126.851, category, ktas)


def drawn(call: LoggedCall, seeds: range = range(40)) -> list[SimPatient]:
    matcher = PatientMatcher(CATALOGUE)
    return [matcher.draw(call, seed=seed, index=i) for seed in seeds for i in range(3)]


@pytest.mark.parametrize(
    ("category", "ktas", "rows"),
    [
        (Pathway.STROKE, 2, set(range(0, 4))),  # KTAS and category, never the stroke + STEMI patients
        (Pathway.STROKE, 3, {4, 5}),
        (None, 2, set(range(12, 16))),  # medical: no crew flag
        (None, 4, set(range(16, 20))),
        (Pathway.STEMI, None, {*range(6, 10), 20}),  # KTAS unknown: any patient of the category
    ],
)
def test_a_call_gets_a_patient_of_its_ktas_and_category(
    category: Pathway | None, ktas: int | None, rows: set[int]
) -> None:
    pool, matched = PatientMatcher(CATALOGUE).pool(category, ktas)
    assert matched and {p.row for p in pool} == rows
    assert {p.row for p in drawn(logged(category, ktas))} == rows  # 120 draws reach every one of them


@pytest.mark.parametrize(
    ("category", "ktas", "rows"),
    [
        (Pathway.STROKE, 4, set(range(16, 21))),  # no KTAS 4 stroke patient: any KTAS 4 patient
        (Pathway.MAJOR_TRAUMA, 1, {21}),  # no trauma patient at all: any KTAS 1 patient
        (Pathway.PAEDIATRIC, None, set(range(len(CATALOGUE)))),  # unknown KTAS, no such patient: any patient
    ],
)
def test_without_a_match_the_call_falls_back_to_its_ktas(category: Pathway, ktas: int | None, rows: set[int]) -> None:
    pool, matched = PatientMatcher(CATALOGUE).pool(category, ktas)
    assert not matched and {p.row for p in pool} == rows
    assert {p.row for p in drawn(logged(category, ktas))} <= rows


def test_a_ktas_the_catalogue_lacks_falls_back_to_the_category() -> None:
    pool, matched = PatientMatcher(CATALOGUE).pool(None, 5)
    assert not matched
    assert {p.row for p in pool} == {*range(12, 20)}  # every patient without a crew flag


def test_seeds_draw_other_patients_for_the_same_calls_and_a_seed_always_the_same() -> None:
    calls = [logged(Pathway.STEMI, 2, t) for t in (60.0, 120.0, 180.0, 240.0, 300.0)]
    one = [c.patient.row for c in replayed_calls(calls, CATALOGUE, seed=1)]
    assert one == [c.patient.row for c in replayed_calls(calls, CATALOGUE, seed=1)]
    others = {tuple(c.patient.row for c in replayed_calls(calls, CATALOGUE, seed=s)) for s in range(2, 12)}
    assert others - {tuple(one)}
    assert [c.id for c in replayed_calls(calls, CATALOGUE, seed=1)] == [0, 1, 2, 3, 4]


def test_fallbacks_are_counted_call_by_call() -> None:
    calls = [logged(Pathway.STROKE, 2), logged(Pathway.STROKE, 4), logged(Pathway.BURNS, None), logged(None, 4)]
    assert PatientMatcher(CATALOGUE).fallbacks(calls) == 2


# --- the engine's draws ------------------------------------------------------------------------------

CONFIG = SimConfig(calls_per_day=100.0, walkin_occupancy=0.5, beds={CENTRE.hpid: 4})
MIX = (0.05, 0.2, 0.4, 0.25, 0.1)


def test_draw_city_replays_the_calls_with_their_own_times_on_scene_and_stays(prepared: Prepared) -> None:
    calls = replayed_calls([logged(None, 4, 600.0), logged(Pathway.STEMI, 2, 4000.0)], CATALOGUE, seed=3)
    draws = draw_city(prepared, CONFIG, CATALOGUE, MIX, seed=3, days=1.0, calls=calls)
    assert draws.calls == calls  # the log's calls, not 100 simulated ones
    assert len(draws.on_scene_s) == len(draws.stay_s) == 2
    simulated = draw_city(prepared, CONFIG, CATALOGUE, MIX, seed=3, days=1.0)
    assert draws.walkins == simulated.walkins and draws.rosters == simulated.rosters  # the same city otherwise
    assert draws.on_scene_s == simulated.on_scene_s[:2]  # each call's own stream, keyed by (seed, call)


@pytest.mark.parametrize("times", [(600.0, 300.0), (600.0, 86_400.0)])
def test_draw_city_refuses_calls_out_of_order_or_after_the_run(prepared: Prepared, times: tuple[float, ...]) -> None:
    calls = replayed_calls([logged(None, 4, t) for t in times], CATALOGUE, seed=1)
    with pytest.raises(ValueError, match="in time order within 1 days"):
        draw_city(prepared, CONFIG, CATALOGUE, MIX, seed=1, days=1.0, calls=calls)
