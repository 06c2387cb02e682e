"""One vocabulary for crew flags: dispatch.pathways names them once and reads them for everyone else."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from dispatch.pathways import CREW_FLAGS, FLAG_PATHWAYS, PATHWAYS, Pathway, flags_set, injured, needs_of
from dispatch.severity.features import from_vitals
from telemetry.schemas import CrewFlags, Vitals

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("goldentime", "dispatch", "telemetry", "hospital_capacity", "simulations", "dashboard", "loaders")
#: Where flag names may be written: the table itself and the wire schema that declares the fields.
VOCABULARY = {"dispatch/pathways.py", "telemetry/schemas.py"}
#: The chief-complaint vocabulary: words a crew types ("stemi", "pregnancy", "burns") that spell a flag's name
#: are complaint text there, never a read of the crew's flags.
COMPLAINT_WORDS = {"dispatch/severity/complaints.py"}


def test_every_crew_flag_of_the_schema_puts_a_patient_on_one_pathway() -> None:
    assert tuple(CrewFlags.model_fields) == CREW_FLAGS
    assert set(FLAG_PATHWAYS) == set(CREW_FLAGS)
    assert all(flag in PATHWAYS[pathway].flags for flag, pathway in FLAG_PATHWAYS.items())


@given(st.sets(st.sampled_from(CREW_FLAGS)))
def test_flags_set_needs_and_injury_follow_the_flags(on: set[str]) -> None:
    flags = CrewFlags(**dict.fromkeys(on, True))
    expected = {
        "cardiac_arrest": Pathway.CARDIAC_ARREST,
        "fast_positive": Pathway.STROKE,
        "stemi": Pathway.STEMI,
        "major_trauma": Pathway.MAJOR_TRAUMA,
        "burns": Pathway.BURNS,
        "pregnancy": Pathway.OBSTETRIC,
        "paediatric": Pathway.PAEDIATRIC,
    }
    assert flags_set(flags) == tuple(name for name in CrewFlags.model_fields if name in on)
    assert needs_of(flags) == {expected[name] for name in on}
    assert injured(flags) == bool(on & {"major_trauma", "burns"})


@given(st.sets(st.sampled_from(CREW_FLAGS)))
def test_the_severity_model_sees_an_injury_exactly_when_a_flag_says_so(on: set[str]) -> None:
    vitals = Vitals.new(patient_id="P-0001", flags=CrewFlags(**dict.fromkeys(on, True)))
    assert from_vitals(vitals).injury is (True if on & {"major_trauma", "burns"} else None)


def _reads_by_name(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in CREW_FLAGS and id(node) not in docstrings:
            found.append(f"{node.lineno}: {node.value!r}")
            continue
        target: ast.expr | None = None
        if isinstance(node, ast.Attribute) and node.attr in CREW_FLAGS:
            target = node.value
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "getattr" and node.args:
            target = node.args[0]
        if target is not None and ast.unparse(target).endswith("flags"):
            found.append(f"{target.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_reads_crew_flags_by_name_outside_the_vocabulary() -> None:
    found = {
        relative: reads
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if (relative := path.relative_to(ROOT).as_posix()) not in VOCABULARY | COMPLAINT_WORDS
        and (reads := _reads_by_name(path))
    }
    assert found == {}


def test_the_scan_finds_a_read_by_name(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('x = v.flags.stemi or getattr(v.flags, "burns")\nFLAGS = ("pregnancy",)\n', encoding="utf-8")
    assert len(_reads_by_name(module)) == 4  # the attribute, the getattr, and two names
