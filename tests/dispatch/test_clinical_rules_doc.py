"""docs/clinical_rules.md is the medical director's view of the code: every rule of the router and
every pathway of the table is there, with the figures the code uses, and every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import dispatch.handshake
import dispatch.router
from dispatch.pathways import PATHWAYS, Pathway

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "clinical_rules.md").read_text(encoding="utf-8")


def _rows(first_cell: str) -> dict[str, list[str]]:
    """Table rows whose first cell matches ``first_cell`` (a regex), by that cell."""
    rows = {}
    for line in DOC.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(first_cell, cells[0]):
            rows[cells[0].strip("`")] = cells
    return rows


def test_every_rule_of_the_router_and_the_handshake_is_documented() -> None:
    docs = (dispatch.router.__doc__ or "") + (dispatch.handshake.__doc__ or "")
    codes = set(re.findall(r"\*\*(R-[A-Z]+)", docs))
    assert {"R-ANSWER", "R-PROMISE", "R-REFUSED"} <= codes
    assert codes, "the router's docstring names its rules"
    assert codes <= set(_rows(r"R-[A-Z]+")), codes - set(_rows(r"R-[A-Z]+"))


def test_every_pathway_is_documented_with_the_figures_the_code_uses() -> None:
    rows = _rows(r"`[a-z_]+`")
    for pathway, spec in PATHWAYS.items():
        assert pathway.value in rows, pathway
        cells = rows[pathway.value]
        bound, slots = cells[4], cells[5]
        if spec.tiers and not spec.nearest_open_er:
            assert bound == f"{spec.time_bound_s / 60:g} min", (pathway, bound)
        if spec.slots is not None:
            assert slots.startswith(str(spec.slots)), (pathway, slots)
        elif spec.tiers:
            assert slots == "ER beds", (pathway, slots)
    assert {p.value for p in Pathway} >= set(rows) - set(_rows(r"R-[A-Z]+"))


def test_every_test_the_document_names_exists() -> None:
    named = re.findall(r"`(test_[a-z_]+\.py)(?:::(test_[a-z0-9_]+))?", DOC)
    assert len(named) >= 20
    for file, test in named:
        source = (ROOT / "tests" / "dispatch" / file).read_text(encoding="utf-8")
        if test:
            assert f"def {test}(" in source, f"{file}::{test}"


def test_every_rule_the_decision_core_names_is_documented() -> None:
    """An R-code named anywhere in dispatch/ has a row, not only those of the router's and the handshake's
    docstrings: R-NEWS is the rule of dispatch/replan.py (its docstring states it without the code)."""
    named: set[str] = set()
    for path in sorted((ROOT / "dispatch").rglob("*.py")):
        named |= set(re.findall(r"\bR-[A-Z]+\b", path.read_text(encoding="utf-8")))
    rows = _rows(r"R-[A-Z]+")
    assert {"R-PRUNE", "R-TIE", "R-NEWS"} <= set(rows)
    assert "dispatch/replan.py" in rows["R-NEWS"][1]
    assert named <= set(rows), named - set(rows)
