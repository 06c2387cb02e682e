"""``goldentime sensitivity`` as a medical director runs it: the table in a file and on screen, one line for bad
input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli


def test_the_surge_factor_writes_three_cells_and_prints_the_same_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "grid" / "surge.md"
    args = ("--scenario", "seoul-central", "--seeds", "2", "--days", "0.5", "--factors", "surge", "--quiet")
    code, printed, err = run_cli(capsys, "sensitivity", *args, "--out", str(out))
    assert code == 0, err
    assert err == ""  # --quiet: no progress lines
    text = out.read_text(encoding="utf-8")
    assert printed == text
    rows = [line for line in text.splitlines() if line.startswith("| surge |")]
    assert [row.split(" | ")[1] for row in rows] == ["×1 (as is)", "×1.5", "×2"]
    assert all(row.count(" win") + row.count(" tie") + row.count("**loss**") + row.count(" n/a") == 6 for row in rows)
    command = f"goldentime sensitivity --scenario=seoul-central --seeds=2 --days=0.5 --factors=surge --out={out}"
    assert f"Reproduce with: `{command}`" in text
    assert "Seeds 1–2 × 0.5 days per cell" in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--seeds", "0"), "must be 1 or more"),
        (("--days", "-1"), "must be greater than 0"),
        (("--factors", "surge,weather"), "unknown factor 'weather'"),
        (("--factors", "surge,surge"), "named twice"),
        (("--scenario", "atlantis"), "atlantis"),
    ],
)
def test_bad_input_gets_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    code, _, err = run_cli(capsys, "sensitivity", *args, "--out", str(tmp_path / "s.md"))
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.md").exists()


def test_an_out_that_is_a_directory_is_refused_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "sensitivity", "--scenario", "seoul-central", "--out", str(tmp_path))
    assert code == 2 and "is a directory" in err and len(err.strip().splitlines()) == 1
