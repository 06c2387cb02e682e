"""``goldentime fhir export``, end to end: vitals published to a broker, stored by the recorder,
exported by the command and validated with ``fhir.resources`` (R4B models, R4's Observation and
Bundle); its errors are one line, never a traceback."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from telemetry import schemas, topics
from telemetry.client import MqttClient
from telemetry.recorder import run_recorder
from telemetry.store import StoredMessage, TelemetryStore
from tests.conftest import BrokerUnderTest
from tests.helpers import run_cli, unique, wait_until

T0 = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def local_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A var/ of the test's own, never ./var, and no database setting from outside."""
    monkeypatch.setenv("GOLDENTIME_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("GOLDENTIME_DATABASE_URL", raising=False)
    return tmp_path / "var"


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    Bundle.model_validate(document)
    for entry in document["entry"]:
        Observation.model_validate(entry["resource"])
    return document


def codes(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["resource"]["subject"]["identifier"]["value"], e["resource"]["code"]["coding"][0]["code"])
            for e in document["entry"]]  # fmt: skip


def test_vitals_recorded_from_the_bus_export_as_a_valid_bundle(
    broker: BrokerUnderTest, publisher: MqttClient, database_url: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    recorder = run_recorder(broker.url, database_url, client_id=unique("recorder"), batch_size=100,
                            flush_interval_s=0.05, protocol=broker.protocol, session_expiry_s=120)  # fmt: skip
    unit = unique("u")
    sent = [
        schemas.Vitals.new(patient_id="P-fhir-a", ts=T0, hr_bpm=112, sbp_mmhg=88, dbp_mmhg=54, rr_per_min=24,
                           spo2_pct=91, temp_c=None, gcs=13, pain_nrs=None, age_years=67, sex="male"),
        schemas.Vitals.new(patient_id="P-fhir-b", ts=T0 + timedelta(minutes=2), hr_bpm=70, temp_c=36.8),
        schemas.Vitals.new(patient_id="P-fhir-a", ts=T0 + timedelta(minutes=10), pain_nrs=4),
        schemas.Vitals.new(patient_id="P-fhir-a", ts=T0 + timedelta(minutes=12)),  # nothing measured
    ]  # fmt: skip
    try:
        for v in sent:
            publisher.send(topics.Topic(topics.Kind.VITALS, unit), v).wait(5)
        assert wait_until(lambda: recorder.store.count(kind="vitals") == len(sent))
    finally:
        recorder.stop()
        recorder.store.close()
    monkeypatch.setenv("GOLDENTIME_DATABASE_URL", database_url)

    out = tmp_path / "all.json"
    code, stdout, err = run_cli(capsys, "fhir", "export", "--out", str(out))
    assert (code, err) == (0, "")
    assert stdout == f"wrote 8 observations of 2 patients (4 vitals messages) to {out}\n"
    document = load(out)
    assert document["type"] == "collection"
    assert codes(document) == [("P-fhir-a", c) for c in ("8867-4", "9279-1", "2708-6", "9269-2", "85354-9")] + [
        ("P-fhir-b", "8867-4"), ("P-fhir-b", "8310-5"), ("P-fhir-a", "72514-3")]  # fmt: skip
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # patient data: the owner only
    first = document["entry"][0]["resource"]
    assert first["subject"]["reference"] == "Patient/P-fhir-a"
    assert first["effectiveDateTime"] == "2026-11-24T09:30:00Z"

    again = tmp_path / "again.json"
    assert run_cli(capsys, "fhir", "export", "--out", str(again))[0] == 0
    assert [e["fullUrl"] for e in load(again)["entry"]] == [e["fullUrl"] for e in document["entry"]]

    one = tmp_path / "one.json"
    code, stdout, _ = run_cli(capsys, "fhir", "export", "--patient", "P-fhir-a", "--since", "2026-11-24T18:35:00+09:00",
                              "--out", str(one))  # fmt: skip
    assert code == 0 and stdout.startswith("wrote 1 observations of 1 patients (2 vitals messages)")
    assert codes(load(one)) == [("P-fhir-a", "72514-3")]

    code, stdout, err = run_cli(capsys, "fhir", "export", "--patient", "P-fhir-b", "--out", "-")
    assert code == 0 and err == "wrote 2 observations of 1 patients (1 vitals messages) to standard output\n"
    streamed = json.loads(stdout)
    Bundle.model_validate(streamed)
    assert codes(streamed) == [("P-fhir-b", "8867-4"), ("P-fhir-b", "8310-5")]


def _store_one(url: str) -> None:
    v = schemas.Vitals.new(patient_id="P-cli-0001", ts=T0, hr_bpm=80)
    store = TelemetryStore.open(url)
    try:
        store.write([StoredMessage("ems/units/U01-0/vitals", v.msg_id, "vitals", "U01-0", v.ts, v.ts,
                                   v.model_dump(mode="json", by_alias=True))], [])  # fmt: skip
    finally:
        store.close()


@pytest.mark.parametrize(
    ("argv", "says"),
    [(["--since", "2026-11-24T09:00:00"], "argument --since: '2026-11-24T09:00:00' has no time zone"),
     (["--since", "last tuesday"], "argument --since: 'last tuesday' is not an ISO 8601 time"),
     (["--patient", "Hong Gildong"], "argument --patient: 'Hong Gildong' is not a patient id"),
     ([], "the following arguments are required: --out")],
)  # fmt: skip
def test_bad_arguments_get_one_line_and_exit_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = [] if not argv else ["--out", str(tmp_path / "x.json")]
    code, stdout, err = run_cli(capsys, "fhir", "export", *argv, *out)
    assert code == 2 and stdout == ""
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert not (tmp_path / "x.json").exists()


def test_an_unreachable_database_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOLDENTIME_DATABASE_URL", "postgresql://goldentime:secret@127.0.0.1:1/none")
    code, stdout, err = run_cli(capsys, "fhir", "export", "--out", str(tmp_path / "x.json"))
    assert code == 1 and stdout == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("goldentime: error: cannot read postgresql"), err
    assert "secret" not in err and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()


def test_no_database_yet_is_said_and_not_created(
    capsys: pytest.CaptureFixture[str], local_state: Path, tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "fhir", "export", "--out", str(tmp_path / "x.json"))
    assert code == 1
    assert err == f"goldentime: error: no recorder database at {(local_state / 'goldentime.sqlite3').resolve()} " \
        "(run goldentime recorder first)\n"  # fmt: skip
    assert not local_state.exists()


@pytest.mark.parametrize("where", ["missing-folder/x.json", "a-folder"])
def test_an_unwritable_out_is_one_line_and_exit_2(
    where: str, sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _store_one(sqlite_url)
    monkeypatch.setenv("GOLDENTIME_DATABASE_URL", sqlite_url)
    (tmp_path / "a-folder").mkdir()
    before = sorted(tmp_path.rglob("*"))
    code, stdout, err = run_cli(capsys, "fhir", "export", "--out", str(tmp_path / where))
    assert code == 2 and stdout == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"goldentime: error: cannot write {tmp_path / where}")
    assert sorted(tmp_path.rglob("*")) == before  # no half-written or temporary file left


def test_an_export_replaces_an_older_file_whole(
    sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _store_one(sqlite_url)
    monkeypatch.setenv("GOLDENTIME_DATABASE_URL", sqlite_url)
    out = tmp_path / "vitals.json"
    out.write_text("x" * 100_000)
    assert run_cli(capsys, "fhir", "export", "--out", str(out))[0] == 0
    assert codes(load(out)) == [("P-cli-0001", "8867-4")]
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
