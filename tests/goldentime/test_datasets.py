"""Tests of the data-set catalogue and ``goldentime data check`` (module ``goldentime.datasets``).

They run against the real data directory (always present here and in CI: GOLDENTIME_DATA_DIR, else
``../shared/data`` beside the checkout) and against small trees built in ``tmp_path``.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
from pathlib import Path

import pytest

from goldentime.datasets import CATALOGUE, DataReport, attributions, check, human_size, render
from goldentime.settings import default_data_dir

REAL_DATA = Path(os.environ.get("GOLDENTIME_DATA_DIR") or default_data_dir())
REQUIRED = {"roads/seoul-central", "hospitals/seoul-central", "stations/seoul-central", "ktas"}
GRAPH = "roads/seoul_jongno_junggu_drive.graphml"
KTAS = "ktas_triage/ktas_triage_moon2019_dev.csv"
REQUIRED_FILES = (
    GRAPH + ".gz",  # the bundle ships the graph gzip-compressed
    "hospitals/seoul_central_emergency_centers.csv",
    "stations/seoul_central_119_centers.csv",
    KTAS,
)


@pytest.fixture(scope="module")
def real() -> DataReport:
    return check(REAL_DATA)


def _copy(rel: str, dest_dir: Path, data: bytes | None = None) -> Path:
    """Copy one real file into the fake tree (or write ``data`` in its place)."""
    dest = dest_dir / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        shutil.copyfile(REAL_DATA / rel, dest)
    else:
        dest.write_bytes(data)
    return dest


@pytest.fixture
def required_tree(tmp_path: Path) -> Path:
    """A data directory holding only the files the default scenario needs."""
    for rel in REQUIRED_FILES:
        _copy(rel, tmp_path)
    return tmp_path


# --- the catalogue ---------------------------------------------------------------------------------


def test_catalogue_ids() -> None:
    ids = [ds.id for ds in CATALOGUE]
    assert len(ids) == len(set(ids))
    assert set(ids) == REQUIRED | {
        "roads/gwangju",
        "hospitals/gwangju",
        "hospitals/korea",
        "hospitals/nearby",
        "hospitals/egen-sample",
        "stations/gwangju",
        "stations/raw-national",
        "ktas/chief-complaints",
        "standards/edxl-have",
        "mimic-iv-ed-demo",
    }


def test_required_are_the_default_scenario_inputs() -> None:
    assert {ds.id for ds in CATALOGUE if ds.required} == REQUIRED


def test_every_data_set_is_documented() -> None:
    for ds in CATALOGUE:
        assert ds.files and ds.purpose and ds.licence and ds.attribution and ds.how_to_get, ds.id
        assert "\n" not in ds.purpose, ds.id
    licences = {ds.id: ds.licence for ds in CATALOGUE}
    assert licences["roads/seoul-central"] == licences["roads/gwangju"] == "ODbL 1.0"
    assert licences["hospitals/korea"] == licences["stations/gwangju"] == "KOGL Type 1"
    assert licences["ktas"] == "CC BY 4.0"
    assert licences["mimic-iv-ed-demo"] == "ODbL 1.0 (PhysioNet)"


def test_ktas_has_no_expected_hash() -> None:
    """The README's SHA-256 is of the full published file, not of this development split."""
    (ktas,) = [ds for ds in CATALOGUE if ds.id == "ktas"]
    assert ktas.files[0].expected_sha256 is None
    assert (ktas.files[0].encoding, ktas.files[0].delimiter, ktas.files[0].expected_rows) == ("cp1254", ";", 1014)


def test_catalogue_covers_every_file_of_the_real_data_dir() -> None:
    catalogued = {f.path for ds in CATALOGUE for f in ds.files}
    on_disk = {p.relative_to(REAL_DATA).as_posix() for p in REAL_DATA.rglob("*") if p.is_file()}
    # a graph may be stored gzip-compressed beside its catalogued name
    assert {
        p if p in catalogued else p.removesuffix(".gz") for p in on_disk if not p.endswith("README.md")
    } <= catalogued


def test_attributions() -> None:
    lines = attributions()
    assert len(lines) == len(set(lines))
    assert lines == attributions()  # stable
    assert lines[0] == "© OpenStreetMap contributors"
    assert "출처: 국립중앙의료원 중앙응급의료센터(E-Gen), 공공데이터포털" in lines
    assert "출처: 소방청, 공공데이터포털" in lines
    assert any("VWorld" in line for line in lines)
    assert any("PLOS ONE 14(9): e0216972" in line and "Moon S-H" in line for line in lines)
    assert any("MIMIC-IV-ED Demo (version 2.2)" in line and "10.13026/jzz5-vs76" in line for line in lines)
    assert attributions(["roads/seoul-central", "roads/gwangju"]) == ["© OpenStreetMap contributors"]
    assert attributions([]) == []


def test_human_size() -> None:
    assert human_size(None) == "-"
    assert human_size(889) == "889 B"
    assert human_size(1534) == "1.5 kB"
    assert human_size(3_843_834) == "3.8 MB"


# --- the real data directory -----------------------------------------------------------------------


def test_real_data_dir_is_ok_for_default(real: DataReport) -> None:
    assert real.exists
    assert real.ok_for_default
    for ds_id in REQUIRED:
        assert real[ds_id].ok, real[ds_id].problems


def test_real_road_graph_checksum_verifies(real: DataReport) -> None:
    graph = real["roads/seoul-central"]
    assert graph.checksum == "verified"  # of the content: the bundle stores it gzip-compressed
    assert graph.size == (REAL_DATA / GRAPH).with_suffix(".graphml.gz").stat().st_size
    assert graph.rows is None


def test_real_ktas_has_1014_rows(real: DataReport) -> None:
    assert real["ktas"].rows == 1014
    assert real["ktas"].checksum == "unpublished"


def test_real_mimic_checksums_and_rows(real: DataReport) -> None:
    mimic = real["mimic-iv-ed-demo"]
    assert mimic.checksum == "verified"
    assert {Path(f.file.path).name: f.rows for f in mimic.files} == {
        "edstays.csv.gz": 222,
        "triage.csv.gz": 222,
        "vitalsign.csv.gz": 1038,
        "diagnosis.csv.gz": 545,
        "medrecon.csv.gz": 2764,
        "pyxis.csv.gz": 1082,
    }


def test_real_row_counts(real: DataReport) -> None:
    rows = {s.dataset.id: s.rows for s in real.datasets}
    assert rows["hospitals/seoul-central"] == 7
    assert rows["hospitals/gwangju"] == 24
    assert rows["hospitals/korea"] == 529
    assert rows["stations/seoul-central"] == 14
    assert rows["stations/gwangju"] == 32
    assert [f.rows for f in real["stations/raw-national"].files] == [1133, 1133]  # cp949


def test_real_everything_but_gwangju_roads_present_without_problems(real: DataReport) -> None:
    assert [s.dataset.id for s in real.datasets if not s.present] == ["roads/gwangju"]
    assert [p for s in real.datasets for p in s.problems] == []


def test_real_gwangju_road_graph_missing_with_fetch_hint(real: DataReport) -> None:
    gwangju = real["roads/gwangju"]
    assert not gwangju.present
    assert gwangju.missing_paths == ["roads/gwangju_drive.graphml"]
    assert (
        'goldentime data fetch roads --place "Gwangju, South Korea" --out roads/gwangju_drive.graphml'
        in gwangju.dataset.how_to_get
    )
    text = render(real)
    missing = text.split("\nMissing:\n", 1)[1]
    assert (
        "roads/gwangju" in missing
        and 'goldentime data fetch roads --place "Gwangju, South Korea" --out roads/gwangju_drive.graphml' in missing
    )


def test_render_real(real: DataReport) -> None:
    text = render(real)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("status"))
    assert re.split(r"\s{2,}", header) == ["status", "data set", "size", "rows", "sha256", "licence"]
    start = lines.index(header)
    rows = lines[start + 1 : start + 1 + len(CATALOGUE)]
    id_col, size_end = header.index("data set"), header.index("size") + len("size")
    for line, ds in zip(rows, CATALOGUE, strict=True):
        assert line[id_col:].startswith(ds.id)  # aligned columns
        assert line[size_end - 1] != " "  # sizes right-aligned
    graph_line = next(line for line in rows if "roads/seoul-central" in line)
    assert "381.2 kB" in graph_line and "verified" in graph_line and "ODbL 1.0" in graph_line
    assert "1,014" in next(line for line in rows if " ktas " in line)
    assert "Problems:" not in text
    assert lines[-1].startswith("Default scenario seoul-central: can run")


# --- fake trees in tmp_path ------------------------------------------------------------------------


def test_empty_dir_everything_missing(tmp_path: Path) -> None:
    report = check(tmp_path)
    assert report.exists
    assert not report.ok_for_default
    assert all(not s.present and s.size is None and s.rows is None for s in report.datasets)
    text = render(report)
    assert "does not exist" not in text
    for ds_id in REQUIRED:
        assert f"{ds_id} (REQUIRED for seoul-central" in text
    assert "GOLDENTIME_DATA_DIR" in text
    assert text.splitlines()[-1].startswith("Default scenario seoul-central: CANNOT run")


@pytest.mark.parametrize("name", ["does-not-exist", "a-file"])
def test_missing_data_dir(tmp_path: Path, name: str) -> None:
    data_dir = tmp_path / name
    if name == "a-file":
        data_dir.write_text("not a directory")
    report = check(data_dir)
    assert not report.exists
    assert not report.ok_for_default
    assert not any(s.present for s in report.datasets)
    text = render(report)
    assert f"The data directory {data_dir} does not exist." in text
    assert "GOLDENTIME_DATA_DIR" in text
    assert "CANNOT run" in text


def test_required_files_alone_are_enough(required_tree: Path) -> None:
    report = check(required_tree)
    assert report.ok_for_default
    assert report["roads/seoul-central"].checksum == "verified"
    assert not report["mimic-iv-ed-demo"].present
    assert render(report).splitlines()[-1].startswith("Default scenario seoul-central: can run")


def test_corrupted_compressed_road_graph_is_reported(required_tree: Path) -> None:
    packed = required_tree / (GRAPH + ".gz")
    packed.write_bytes(packed.read_bytes()[:-100])  # cut short
    status = check(required_tree)["roads/seoul-central"]
    assert status.present and status.checksum == "mismatch" and not status.ok
    assert any("not a valid gzip file" in p for p in status.problems)


def test_corrupted_road_graph_is_a_checksum_mismatch(required_tree: Path) -> None:
    packed = required_tree / (GRAPH + ".gz")
    graph = required_tree / GRAPH  # a plain copy beside the compressed one is the one read
    data = bytearray(gzip.decompress(packed.read_bytes()))
    data[1000] ^= 0x01  # one flipped bit, same size
    graph.write_bytes(bytes(data))
    report = check(required_tree)
    status = report["roads/seoul-central"]
    assert status.present and status.checksum == "mismatch" and not status.ok
    assert any("checksum mismatch" in p for p in status.problems)
    assert not report.ok_for_default
    text = render(report)
    assert "MISMATCH" in text and "checksum mismatch" in text.split("Problems:", 1)[1]
    assert "CANNOT run" in text and "roads/seoul-central" in text.splitlines()[-1]


def test_truncated_ktas_is_a_wrong_row_count(required_tree: Path) -> None:
    ktas = required_tree / KTAS
    ktas.write_bytes(b"".join(ktas.read_bytes().splitlines(keepends=True)[:101]))
    report = check(required_tree)
    assert report["ktas"].rows == 100
    assert report["ktas"].problems == [f"{KTAS}: wrong row count: 100 data rows, README says 1,014"]
    assert not report.ok_for_default
    assert "BROKEN" in render(report)


def test_ktas_resaved_with_commas_is_reported(required_tree: Path) -> None:
    ktas = required_tree / KTAS
    ktas.write_bytes(ktas.read_bytes().replace(b";", b","))
    problems = check(required_tree)["ktas"].problems
    assert any("header lacks" in p and "wrong separator" in p for p in problems)


def test_undecodable_csv_is_reported(tmp_path: Path) -> None:
    _copy("hospitals/seoul_central_emergency_centers.csv", tmp_path, b"hpid,dutyName\n\xff\xfe,x\n")
    problems = check(tmp_path)["hospitals/seoul-central"].problems
    assert len(problems) == 1 and "not valid utf-8 text" in problems[0]


def test_broken_and_partial_mimic(tmp_path: Path) -> None:
    _copy("mimic_iv_ed_demo/edstays.csv.gz", tmp_path)
    _copy("mimic_iv_ed_demo/triage.csv.gz", tmp_path, b"not gzip at all")
    report = check(tmp_path)
    mimic = report["mimic-iv-ed-demo"]
    assert not mimic.present and mimic.checksum == "mismatch"
    assert mimic.files[0].checksum == "verified" and mimic.files[0].rows == 222
    assert any("not a valid gzip file" in p for p in mimic.problems)
    assert any("checksum mismatch" in p for p in mimic.problems)
    assert len(mimic.missing_paths) == 4
    assert "PARTIAL" in render(report)


def test_empty_file_is_a_problem(tmp_path: Path) -> None:
    _copy("hospitals/nemc_samples/getEmrrmRltmUsefulSckbdInfoInqire_A1100015_20240926.xml", tmp_path, b"")
    status = check(tmp_path)["hospitals/egen-sample"]
    assert status.present and status.size == 0 and not status.ok


def test_unknown_id_raises(real: DataReport) -> None:
    with pytest.raises(KeyError):
        real["roads/nowhere"]
