"""``goldentime severity train|score|evaluate``, driven the way a user types it."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from dispatch.severity.features import KTAS_ENCODING, from_ktas_row
from goldentime.settings import default_data_dir
from loaders.severity import KTAS_FILE, META_FILE, MODEL_FILE, load, read_ktas
from tests.helpers import run_cli

DATA_DIR = default_data_dir()
DATA_FILE = DATA_DIR / KTAS_FILE
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One var/ directory for the module, so the model is trained once; never ./var."""
    return tmp_path_factory.mktemp("severity-cli-var")


@pytest.fixture(autouse=True)
def local_state(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GOLDENTIME_VAR_DIR", str(var_dir))
    monkeypatch.setenv("GOLDENTIME_DATA_DIR", str(DATA_DIR))
    return var_dir


run = run_cli


def sample_lines() -> list[bytes]:
    """The header and 20 data rows of the real file, as bytes, in file order: the first rows plus rows
    with '??' vital signs and with the #BOŞ! marker."""
    header, *rows = DATA_FILE.read_bytes().split(b"\r\n")
    rows = [row for row in rows if row]
    chosen = set(range(12))
    chosen |= set([i for i, row in enumerate(rows) if b";??;" in row][:4])
    chosen |= set([i for i, row in enumerate(rows) if b"#BO\xde!" in row and i not in chosen][:4])
    picked = sorted(chosen)[:20]
    assert len(picked) == 20
    return [header] + [rows[i] for i in picked]


def write_csv(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\r\n" for line in lines))
    return path


def without_columns(lines: list[bytes], names: set[bytes]) -> list[bytes]:
    cells = [line.split(b";") for line in lines]
    assert all(len(c) == 24 for c in cells)  # no quoted separators in this file
    keep = [i for i, name in enumerate(cells[0]) if name not in names]
    return [b";".join(c[i] for i in keep) for c in cells]


def read_scores(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_train_prints_the_threshold_and_saves_the_model(capsys: pytest.CaptureFixture[str], var_dir: Path) -> None:
    code, out, err = run(capsys, "severity", "train")
    assert code == 0, err
    match = re.search(r"operating threshold p_critical >= (\d\.\d{3})", out)
    assert match, out
    model_dir = var_dir / "models"
    assert (model_dir / MODEL_FILE).is_file() and (model_dir / META_FILE).is_file()
    assert str(model_dir / MODEL_FILE) in out
    meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    assert float(match.group(1)) == pytest.approx(meta["training"]["threshold"], abs=0.0005)


def test_score_round_trip(capsys: pytest.CaptureFixture[str], tmp_path: Path, var_dir: Path) -> None:
    lines = sample_lines()
    source = write_csv(tmp_path / "patients.csv", lines)
    assert source.read_bytes().count(b"\xde") >= 1  # cp1254 bytes, as in the real file
    output = tmp_path / "scores.csv"
    code, out, err = run(capsys, "severity", "score", "--input", str(source), "--output", str(output))
    assert code == 0, err
    assert "scored 20 rows" in out
    table = read_scores(output)
    assert table[0] == ["ktas", "critical", "p_critical", "p_emergency"]
    assert len(table) == 21
    ktas = [int(row[0]) for row in table[1:]]
    critical = [row[1] for row in table[1:]]
    p_critical = [float(row[2]) for row in table[1:]]
    p_emergency = [float(row[3]) for row in table[1:]]
    assert all(1 <= k <= 5 for k in ktas)
    assert all(0 <= c <= e <= 1 for c, e in zip(p_critical, p_emergency, strict=True))

    # the same as the saved model says about these rows, in the same order
    model = load(var_dir / "models", DATA_FILE)
    assert model is not None
    levels, crit, emer = model.predict([from_ktas_row(row) for row in read_ktas(source)])
    assert ktas == levels.tolist()
    assert p_critical == pytest.approx(crit.tolist(), abs=5e-5)
    assert p_emergency == pytest.approx(emer.tolist(), abs=5e-5)
    assert critical == ["1" if c >= model.threshold else "0" for c in crit.tolist()]
    assert "1" in critical and "0" in critical

    # without the label columns (what a user has before triage) the scores are the same
    unlabelled = write_csv(tmp_path / "unlabelled.csv", without_columns(lines, {b"KTAS_expert", b"KTAS_RN"}))
    assert b"KTAS_" not in unlabelled.read_bytes().split(b"\r\n")[0]
    output2 = tmp_path / "scores2.csv"
    code, _, err = run(capsys, "severity", "score", "--input", str(unlabelled), "--output", str(output2))
    assert code == 0, err
    assert read_scores(output2) == table

    # reordered rows give reordered scores
    reversed_input = write_csv(tmp_path / "reversed.csv", [lines[0], *reversed(lines[1:])])
    output3 = tmp_path / "scores3.csv"
    code, _, err = run(capsys, "severity", "score", "--input", str(reversed_input), "--output", str(output3))
    assert code == 0, err
    assert read_scores(output3)[1:] == table[:0:-1]


def test_score_a_hand_written_file_without_labels(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    header = "Sex;Age;Arrival mode;Injury;Chief_complain;Mental;Pain;NRS_pain;SBP;DBP;HR;RR;BT;Saturation"
    rows = [
        "2;72;2;1;mental change;4;0;#BOŞ!;70;40;128;30;36.5;80",
        "1;30;3;2;ankle pain;1;1;2;124;78;76;16;36,6;",
        "1;55;2;1;??;1;0;#BOŞ!;??;??;??;??;??;??",
    ]
    source = tmp_path / "hand.csv"
    source.write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode(KTAS_ENCODING))
    output = tmp_path / "out.csv"
    code, _, err = run(capsys, "severity", "score", "--input", str(source), "--output", str(output))
    assert code == 0, err
    table = read_scores(output)
    assert len(table) == 4
    assert int(table[1][0]) <= 2 and int(table[2][0]) >= 4
    assert 1 <= int(table[3][0]) <= 5


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("comma.csv", b"a,b,c\r\n1,2,3\r\n"),
        ("other-columns.csv", b"Group;Sex;Age\r\n1;2;40\r\n"),
        ("binary.bin", bytes(range(256)) * 4),  # 0x81 is not a cp1254 character
    ],
)
def test_score_refuses_a_file_that_is_not_ktas(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, content: bytes
) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    output = tmp_path / "out.csv"
    code, _, err = run(capsys, "severity", "score", "--input", str(source), "--output", str(output))
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("goldentime: error:") and name in err
    assert not output.exists()


def test_score_missing_input_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(
        capsys, "severity", "score", "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o.csv")
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "nope.csv" in err and "cannot read" in err
    code, _, err = run(capsys, "severity", "score", "--output", str(tmp_path / "o.csv"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--input" in err


def test_evaluate_writes_the_report_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.md"
    code, out, err = run(capsys, "severity", "evaluate", "--repeats", "1", "--output", str(report))
    assert code == 0, err
    assert "fold 5/5" in out and f"wrote {report}" in out
    plot = report.with_name("severity_calibration.png")
    assert plot.read_bytes()[:8] == PNG_SIGNATURE
    text = report.read_text(encoding="utf-8")
    assert text.startswith("# Severity model: evaluation report")
    assert "--repeats 1" in text and "1014 patients, KTAS 1-5 = 21 / 176 / 390 / 367 / 60" in text
    assert "| metric | GoldenTime model | NEWS2 | triage nurse (KTAS_RN) | goal |" in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    auroc = rows["AUROC critical (KTAS 1-2)"]
    model_cell, news2_cell, nurse_cell = (cell.strip() for cell in auroc.split("|")[2:5])
    for cell in (model_cell, news2_cell, nurse_cell):
        mean = float(cell.split()[0])
        assert 0.5 < mean <= 1.0, auroc
    assert rows["5-level accuracy"].split("|")[3].strip() == "n/a"  # NEWS2 has no KTAS level
    assert "![calibration plot](severity_calibration.png)" in text
    assert "MIMIC-IV-ED demo" in text


# --- --encoding: files with Korean complaints ---------------------------------------------------------------------

KOREAN_HEADER = "Sex;Age;Arrival mode;Injury;Chief_complain;Mental;Pain;NRS_pain;SBP;DBP;HR;RR;BT;Saturation"
#: (Korean, English) complaints of the same patients: the issue-24 patient, a shocked one, a minor one
COMPLAINT_PAIRS = [("흉통", "chest pain"), ("가슴 통증", "CP"), ("호흡곤란", "dyspnea"), ("복통", "abd pain"),
                   ("의식저하", "mental change"), ("발목 통증", "ankle pain")]  # fmt: skip
PATIENT_ROWS = [
    "2;62;2;1;{};1;1;7;150;90;96;20;36.8;97",
    "1;78;2;1;{};2;1;9;84;50;124;28;38.6;89",
    "1;24;3;2;{};1;1;2;118;72;74;16;36.6;",
]


def complaint_file(path: Path, language: int, encoding: str, *, bom: bool = False) -> Path:
    rows = [row.format(pair[language]) for row in PATIENT_ROWS for pair in COMPLAINT_PAIRS]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "\r\n".join([KOREAN_HEADER, *rows, ""]).encode(encoding))
    return path


def score(capsys: pytest.CaptureFixture[str], source: Path, output: Path, *extra: str) -> list[list[str]]:
    code, _, err = run(capsys, "severity", "score", "--input", str(source), "--output", str(output), *extra)
    assert code == 0, err
    return read_scores(output)


def test_score_reads_korean_complaints_with_an_encoding(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    english = score(capsys, complaint_file(tmp_path / "en.csv", 1, KTAS_ENCODING), tmp_path / "en-scores.csv")
    assert len(english) == 1 + len(PATIENT_ROWS) * len(COMPLAINT_PAIRS)
    for encoding, bom in (("utf-8", False), ("utf-8", True), ("cp949", False), ("UTF8", False)):
        source = complaint_file(tmp_path / f"ko-{encoding}-{bom}.csv", 0, encoding.lower(), bom=bom)
        assert source.read_bytes().decode("utf-8" if encoding.lower() in ("utf-8", "utf8") else "cp949")
        korean = score(capsys, source, tmp_path / "ko-scores.csv", "--encoding", encoding)
        assert korean == english, (encoding, bom)  # the same levels and probabilities, row for row
    p_critical = [float(row[2]) for row in english[1:]]
    assert english[1][1] == "1" and p_critical[0] > p_critical[5] + 0.1  # chest pain against ankle pain


def test_score_a_korean_file_in_the_default_encoding_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = complaint_file(tmp_path / "korean.csv", 0, "utf-8")
    output = tmp_path / "out.csv"
    code, _, err = run(capsys, "severity", "score", "--input", str(source), "--output", str(output))
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("goldentime: error: cannot read") and "korean.csv" in err and "cp1254" in err
    assert "--encoding utf-8" in err
    assert not output.exists()


def test_score_an_undecodable_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = write_csv(tmp_path / "ktas.csv", sample_lines())  # cp1254 bytes (#BOŞ!) are not UTF-8
    output = tmp_path / "out.csv"
    code, _, err = run(
        capsys, "severity", "score", "--input", str(source), "--output", str(output), "--encoding", "utf-8"
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "cannot read" in err and "ktas.csv" in err and "utf-8" in err and "Traceback" not in err
    assert not output.exists()


@pytest.mark.parametrize("encoding", ["klingon", "rot13", "hex", ""])
def test_score_refuses_an_unknown_encoding_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, encoding: str
) -> None:
    source = complaint_file(tmp_path / "korean.csv", 0, "utf-8")
    output = tmp_path / "out.csv"
    code, out, err = run(
        capsys, "severity", "score", "--input", str(source), "--output", str(output), "--encoding", encoding
    )
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "--encoding" in err and "Traceback" not in err
    assert not output.exists()


def test_score_help_names_the_encoding(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "severity", "score", "--help")
    assert code == 0
    assert "--encoding" in out and "cp1254" in out and "utf-8" in out
