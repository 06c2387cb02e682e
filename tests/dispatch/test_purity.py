"""The decision core is pure: no module of ``dispatch/`` but the MQTT worker (``service.py``) imports
the edge (``loaders``, the bus client, paho, the web, SQL, the dashboard, the simulator) or reads or
writes a file. Checked on the source, so an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The one module of dispatch/ that is an adapter at the edge (DESIGN.md "Layout and layering").
WORKER = "dispatch/service.py"
FORBIDDEN = ("loaders", "telemetry.client", "paho", "fastapi", "sqlalchemy", "streamlit", "simpy", "uvicorn", "httpx")
#: Calls that read, write or look for files (``tomllib.loads`` and ``csv`` on text in memory are fine).
FILE_CALLS = {"open", "read_text", "read_bytes", "write_text", "write_bytes", "savez", "savez_compressed", "dump"}
FILE_CALLS |= {"is_file", "is_dir", "exists", "stat", "iterdir", "glob", "rglob", "mkdir", "unlink", "rmdir"}
FILE_CALLS_OF = {("np", "load"), ("joblib", "load"), ("tomllib", "load"), ("gzip", "open")}

CORE = [
    name for name in sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "dispatch").rglob("*.py")) if name != WORKER
]


def imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def file_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            found.append(f"{node.lineno}: open()")
        elif isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if func.attr in FILE_CALLS or (owner, func.attr) in FILE_CALLS_OF:
                found.append(f"{node.lineno}: {ast.unparse(func)}()")
    return found


def _tree(name: str) -> ast.Module:
    return ast.parse((ROOT / name).read_text(encoding="utf-8"))


def test_the_core_is_every_module_of_dispatch_but_the_worker() -> None:
    assert "dispatch/scenario.py" in CORE and "dispatch/road_graph.py" in CORE
    assert "dispatch/severity/features.py" in CORE
    assert WORKER not in CORE


@pytest.mark.parametrize("name", CORE)
def test_a_core_module_imports_nothing_of_the_edge(name: str) -> None:
    edge = [m for m in imports(_tree(name)) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert edge == []


@pytest.mark.parametrize("name", CORE)
def test_a_core_module_reads_and_writes_no_file(name: str) -> None:
    assert file_calls(_tree(name)) == []


def test_the_checks_see_an_edge_import_and_a_file_read() -> None:
    tree = ast.parse(
        "import paho.mqtt.client\nfrom loaders.scenarios import prepare\n"
        "def f(p):\n    from telemetry.client import MqttClient\n    return p.read_text(), np.load(p), open(p)\n"
    )
    assert [m for m in imports(tree) if m.split(".")[0] in {"paho", "loaders"} or m.startswith("telemetry.client")] == [
        "paho.mqtt.client",
        "loaders.scenarios",
        "loaders.scenarios.prepare",
        "telemetry.client",
        "telemetry.client.MqttClient",
    ]
    assert len(file_calls(tree)) == 3
