"""Mutation testing of the destination decision (``make mutation``): a slow target, not part of ``make test``.

Two parts, both against the fast router tests only (tests/dispatch/test_router*.py, never the broker tests):

1. mutmut (configured in ``[tool.mutmut]`` of pyproject.toml) over dispatch/router.py, pathways.py and
   explain.py. mutmut mutates a copy of the code in ``mutants/``, never dispatch/*.py itself, and only
   the bodies of functions: a module-level table (``RouterConfig``'s defaults, ``PATHWAYS``, the
   templates) is built once at import, before mutmut switches a mutant on.
2. The hand-written mutants below, one per clinical number or word of those tables and the mutations
   the old router's tests let through. Each is applied to a copy of the project in a temporary
   folder, never to the working tree.

Prints ``MUTATION mutmut killed=.. survived=.. no_tests=.. timeout=.. total=.. score=..%`` and
``MUTATION hand killed=../..``, the surviving mutmut mutants (``mutmut show NAME`` prints one), and
exits 1 when a hand-written mutant survives or no longer applies (the code it mutates changed).

    .venv/bin/python tools/mutation.py            # everything, from a clean mutants/ (about 15 min)
    .venv/bin/python tools/mutation.py --hand     # the hand-written mutants only (about 2 min)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Mutant:
    path: str
    old: str  # must occur exactly once in the file
    new: str
    what: str


#: dispatch/router.py's parts: the configuration and urgency, a centre's data, beds, candidates
T, V, B, C = "dispatch/router_types.py", "dispatch/centre_view.py", "dispatch/beds.py", "dispatch/candidates.py"
P, E = "dispatch/pathways.py", "dispatch/explain.py"

HAND: tuple[Mutant, ...] = (
    # the mutations the old router's tests let through
    Mutant(T, "unknown_penalty_s: float = 1200.0", "unknown_penalty_s: float = 0.0", "R-TIER unknown capability free"),
    Mutant(C, "for c in board.open_or_only(reachable, eta)", "for c in reachable", "R-ARREST ignores a closed centre"),
    Mutant(
        T, "unknown_beds_penalty_s: float = 300.0", "unknown_beds_penalty_s: float = 0.0", "R-BEDS unknown beds free"
    ),
    Mutant(
        B,
        "beds, confidence = config.unknown_bed_slots, 0.0",
        "beds, confidence = config.unknown_bed_slots, 1.0",
        "R-BEDS unknown beds read as a fresh count",
    ),
    Mutant(T, "{1: 4.0, 2: 3.0, 3: 1.5, 4: 0.5}", "{1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}", "R-BEDS no walk-ins"),
    Mutant(B, "= config.arrivals_per_hour.get(centre.level, 1.0)", "= 0.0", "R-BEDS walk-ins ignored"),
    Mutant(V, "traffic.expires_at is not None and traffic.expires_at <= now:", "False:", "R-CLOSED expiry ignored"),
    # RouterConfig's defaults
    Mutant(T, "beds_half_life_s: float = 1800.0", "beds_half_life_s: float = 3600.0", "R-DATUM beds half-life x2"),
    Mutant(
        T,
        "declaration_half_life_s: float = 3 * 3600.0",
        "declaration_half_life_s: float = 6 * 3600.0",
        "R-DATUM declaration half-life x2",
    ),
    Mutant(T, "stale_after_half_lives: float = 2.0", "stale_after_half_lives: float = 4.0", "R-DATUM stale later"),
    Mutant(
        T,
        "diversion_stale_after_s: float = 6 * 3600.0",
        "diversion_stale_after_s: float = 12 * 3600.0",
        "R-CLOSED closure ages later",
    ),
    Mutant(T, "closed_margin_s: float = 600.0", "closed_margin_s: float = 0.0", "R-CLOSED no margin"),
    Mutant(T, "switch_margin_s: float = 120.0", "switch_margin_s: float = 0.0", "R-STABLE no switch margin"),
    Mutant(T, "full_penalty_s: float = 10_800.0", "full_penalty_s: float = 600.0", "R-PRIORITY full ER cheap"),
    Mutant(T, "tier_penalty_s: float = 1800.0", "tier_penalty_s: float = 0.0", "R-TIER lower tier free"),
    Mutant(T, "unknown_bed_slots: int = 1", "unknown_bed_slots: int = 2", "R-BEDS two unknown beds"),
    Mutant(T, "advisory_penalty_s: float = 300.0", "advisory_penalty_s: float = 0.0", "R-CLOSED advisory free"),
    Mutant(T, "level_penalty_s: float = 1800.0", "level_penalty_s: float = 0.0", "R-CRIT no level penalty"),
    Mutant(
        T,
        "offload_stale_after_s: float = 3600.0",
        "offload_stale_after_s: float = 7200.0",
        "R-DATUM old offload told later",
    ),
    # urgency
    Mutant(
        T,
        "{1: 5.0, 2: 4.0, 3: 3.0, 4: 2.0, 5: 1.0}",
        "{1: 3.0, 2: 3.0, 3: 3.0, 4: 3.0, 5: 3.0}",
        "R-PRIORITY KTAS ignored",
    ),
    Mutant(
        T,
        "{1: 5.0, 2: 4.0, 3: 3.0, 4: 2.0, 5: 1.0}",
        "{1: 4.0, 2: 4.0, 3: 3.0, 4: 2.0, 5: 1.0}",
        "R-PRIORITY KTAS 1 = KTAS 2",
    ),
    Mutant(P, "HARD_CRITICAL_P = 0.5", "HARD_CRITICAL_P = 0.9", "R-CRIT hard threshold 0.9"),
    Mutant(P, "HARD_CRITICAL_P = 0.5", "HARD_CRITICAL_P = 0.1", "R-CRIT hard threshold 0.1"),
    # the clinical table: bounds, slots, tiers, priorities, flags
    Mutant(P, '"time_bound_s": 60 * _MIN', '"time_bound_s": 90 * _MIN', "R-TIER default bound 90 min"),
    Mutant(
        P,
        "tiers=(_REGIONAL,), time_bound_s=30 * _MIN",
        "tiers=(_REGIONAL,), time_bound_s=60 * _MIN",
        "R-CRIT bound 60 min",
    ),
    Mutant(P, "time_bound_s=120 * _MIN, slots=1", "time_bound_s=60 * _MIN, slots=1", "R-TIER burns bound 60 min"),
    Mutant(
        P,
        "golden_time_s=2 * _HOUR, slots=1, priority=1",
        "golden_time_s=2 * _HOUR, slots=2, priority=1",
        "R-TEAM two cath-lab slots",
    ),
    Mutant(
        P,
        "golden_time_s=1 * _HOUR, slots=2, priority=1",
        "golden_time_s=1 * _HOUR, slots=1, priority=1",
        "R-TEAM one trauma bay",
    ),
    Mutant(
        P,
        "golden_time_s=2 * _HOUR, slots=1, priority=1",
        "golden_time_s=2 * _HOUR, slots=None, priority=1",
        "R-TEAM STEMI on ER beds",
    ),
    Mutant(P, '"trauma centre"), _REGIONAL)', '"trauma centre"),)', "R-TIER trauma without its second tier"),
    Mutant(P, "tiers=(_THROMBECTOMY, _THROMBOLYSIS)", "tiers=(_THROMBOLYSIS, _THROMBECTOMY)", "R-TIER stroke order"),
    Mutant(P, "tiers=(_THROMBECTOMY, _THROMBOLYSIS)", "tiers=(_THROMBECTOMY,)", "R-TIER stroke without CT tier"),
    Mutant(
        P,
        "((Equipment.CT,), (Designation.REGIONAL_OR_LOCAL,))",
        "((Equipment.CT,),)",
        "R-TIER thrombolysis at any centre",
    ),
    Mutant(
        P,
        "_PAEDIATRIC_BEDS = ((BedType.ER_PAEDIATRIC,), (Designation.REGIONAL_OR_LOCAL,))",
        "_PAEDIATRIC_BEDS = ((BedType.ER_PAEDIATRIC,),)",
        "R-TIER paediatric beds at any centre",
    ),
    Mutant(P, '"paediatric ER beds"), _REGIONAL)', '"paediatric ER beds"),)', "R-TIER paediatric no second tier"),
    Mutant(
        P,
        "(Condition.OBSTETRIC_DELIVERY, Condition.OBSTETRIC_SURGERY)",
        "(Condition.OBSTETRIC_DELIVERY,)",
        "R-TIER obstetric surgery not enough",
    ),
    Mutant(
        P,
        "((Condition.SAH_SURGERY, Condition.ICH_SURGERY),)",
        "((Condition.SAH_SURGERY,),)",
        "R-TIER haemorrhage ICH not enough",
    ),
    Mutant(P, "tiers=(_REGIONAL,), time_bound_s=30", "tiers=(), time_bound_s=30", "R-CRIT any ER for critical"),
    Mutant(P, "slots=1, priority=1),", "slots=1, priority=3),", "R-TIER STEMI no longer decides first"),
    Mutant(P, 'flags=("stemi",)', 'flags=("stemi_pci",)', "R-TIER crew flag stemi ignored"),
    Mutant(P, "spo2_below: int = 80", "spo2_below: int = 85", "R-UNSTABLE SpO2 threshold"),
    Mutant(P, "rr_below: int = 8", "rr_below: int = 10", "R-UNSTABLE breathing threshold"),
    Mutant(P, "sbp_below: int = 70", "sbp_below: int = 90", "R-UNSTABLE shock threshold"),
    # the words that carry a clinical fact
    Mutant(P, '"PCI 가능", "PCI available"', '"PCI", "PCI"', "words: PCI available"),
    Mutant(P, '"혈전제거술 가능", "thrombectomy available"', '"뇌졸중", "stroke"', "words: thrombectomy"),
    Mutant(P, '"CT·혈전용해 가능", "CT, thrombolysis"', '"CT", "CT"', "words: thrombolysis"),
    Mutant(
        P,
        '("PCI 가능 기관 없음 — 가까운 응급실에서 안정화(혈전용해 고려)",',
        '("가까운 응급실에서 안정화(혈전용해 고려)",',
        "words: no PCI centre",
    ),
    Mutant(
        P,
        '("화상 전문 치료 가능 기관 없음 — 가까운 응급실에서 안정화",',
        '("가까운 응급실에서 안정화",',
        "words: no burns unit",
    ),
    Mutant(
        P,
        'Condition.STEMI_PCI: ("심근경색 PCI", "STEMI PCI")',
        'Condition.STEMI_PCI: ("심근경색", "STEMI")',
        "words: the cath lab",
    ),
    Mutant(
        E,
        '"beds_unknown": ("병상 미보고", "beds not reported")',
        '"beds_unknown": ("병상", "beds")',
        "words: beds not reported",
    ),
    Mutant(
        E,
        '"no_bed": ("도착 시 병상 없음", "no bed left after inbound")',
        '"no_bed": ("병상", "beds")',
        "words: no bed left",
    ),
    Mutant(E, '"er_full": ("응급실 포화", "reports ER full")', '"er_full": ("응급실", "ER")', "words: ER full"),
    Mutant(
        E,
        '"unknown_item": ("{item} 미보고", "{item} not reported")',
        '"unknown_item": ("{item}", "{item}")',
        "words: item not reported",
    ),
    Mutant(E, '"stale_item": ("{item} 보고 {age} 전"', '"stale_item": ("{item} 보고"', "words: item report age"),
    Mutant(E, '"stale_beds": ("병상 보고 {age} 전"', '"stale_beds": ("병상 보고"', "words: bed report age"),
    Mutant(E, '"offload": ("인계 지연 {n}분"', '"offload": ("인계 지연"', "words: offload minutes"),
    Mutant(E, '"closed": ("수용 불가{why}"', '"closed": ("{why}"', "words: closed"),
    Mutant(E, '"advisory": ("수용 제한{why}"', '"advisory": ("{why}"', "words: advisory"),
    Mutant(E, '"stale_closure": ("수용 불가 보고 {age} 전"', '"stale_closure": ("보고 {age} 전"', "words: old closure"),
    Mutant(E, '"team_busy": ("{team} 이미 다른 환자 이송 중"', '"team_busy": ("{team}"', "words: team taken"),
    Mutant(E, '"faster": ("{name} {n}분이지만 {why}"', '"faster": ("{name}"', "words: why not the faster one"),
    Mutant(E, '"arrest": ("최근접 응급실(심정지: 시간 우선)"', '"arrest": ("최근접 응급실"', "words: arrest"),
    Mutant(E, '"unstable": ("최근접 응급실(불안정: 안정화 우선)"', '"unstable": ("최근접 응급실"', "words: unstable"),
    Mutant(
        E, '"stabilise_here": ("안정화 가능", "can stabilise")', '"stabilise_here": ("", "")', "words: can stabilise"
    ),
    Mutant(
        E,
        '"all_declined": ("모든 기관 거절됨 — 상황실 연락"',
        '"all_declined": ("모든 기관 거절됨"',
        "words: call the control room",
    ),
    Mutant(E, '"minutes": ("{n}분", "{n} min")', '"minutes": ("", "")', "words: ETA minutes"),
)


def _config() -> tuple[list[str], list[str]]:
    """The test selection and extra pytest arguments of ``[tool.mutmut]`` (one source for both parts)."""
    mutmut = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]
    return list(mutmut["pytest_add_cli_args_test_selection"]), list(mutmut.get("pytest_add_cli_args", []))


def run_mutmut(children: int) -> tuple[Counter[str], list[str]]:
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # a clean run: no result cached from older code
    run = subprocess.run(
        [BIN / "mutmut", "run", "--max-children", str(children)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        sys.exit(f"mutmut run failed ({run.returncode}):\n{run.stderr[-3000:]}")
    out = subprocess.run(
        [BIN / "mutmut", "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    statuses: Counter[str] = Counter()
    survivors = []
    for line in out.splitlines():
        found = re.match(r"\s*(\S+): (.+)$", line)
        if found:
            statuses[found[2].strip()] += 1
            if found[2].strip() == "survived":
                survivors.append(found[1])
    return statuses, survivors


def _copy_project(into: Path) -> None:
    for name in ("dispatch", "tests"):
        shutil.copytree(ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    shutil.copy2(ROOT / "pyproject.toml", into / "pyproject.toml")


def _pytest(folder: Path) -> subprocess.CompletedProcess[str]:
    selection, extra = _config()
    args = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", *selection, *extra]
    return subprocess.run(args, cwd=folder, capture_output=True, text=True, check=False)


def try_hand(mutant: Mutant) -> str:
    """killed / survived / not applied (the text to mutate is not in the file exactly once)."""
    with tempfile.TemporaryDirectory(prefix="goldentime-mutant-") as tmp:
        folder = Path(tmp)
        _copy_project(folder)
        target = folder / mutant.path
        source = target.read_text("utf-8")
        if source.count(mutant.old) != 1:
            return "not applied"
        target.write_text(source.replace(mutant.old, mutant.new), "utf-8")
        return "killed" if _pytest(folder).returncode != 0 else "survived"


def check_clean() -> None:
    """Mutation testing needs the selected tests green on the unmutated code."""
    with tempfile.TemporaryDirectory(prefix="goldentime-clean-") as tmp:
        _copy_project(Path(tmp))
        run = _pytest(Path(tmp))
        if run.returncode != 0:
            sys.exit(f"{run.stdout[-4000:]}\nthe router tests fail on the unmutated code: fix them first")


def run_hand(children: int) -> dict[Mutant, str]:
    with ThreadPoolExecutor(children) as pool:
        return dict(zip(HAND, pool.map(try_hand, HAND), strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hand", action="store_true", help="only the hand-written mutants")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    started = time.monotonic()
    check_clean()
    if not args.hand:
        statuses, survivors = run_mutmut(args.children)
        total = sum(statuses.values())
        killed, survived = statuses["killed"], statuses["survived"]
        tested = total - statuses["no tests"] - statuses["skipped"]
        print("surviving mutmut mutants (mutmut show NAME):", *survivors, sep="\n  ")
        other = total - killed - survived - statuses["no tests"] - statuses["timeout"]
        print(
            f"MUTATION mutmut killed={killed} survived={survived} no_tests={statuses['no tests']} "
            f"timeout={statuses['timeout']} other={other} total={total} "
            f"score={100.0 * killed / max(tested, 1):.1f}% seconds={time.monotonic() - started:.0f}"
        )
    hand_started = time.monotonic()
    results = run_hand(args.children)
    for mutant, result in results.items():
        if result != "killed":
            print(f"  hand mutant {result}: {mutant.what} ({mutant.path}: {mutant.old!r} -> {mutant.new!r})")
    killed = sum(1 for r in results.values() if r == "killed")
    print(f"MUTATION hand killed={killed}/{len(results)} seconds={time.monotonic() - hand_started:.0f}")
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
