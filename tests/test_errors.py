"""One error tree: every exception class the project defines derives from ``GoldenTimeError``,
through its package's root, and keeps the built-in base its callers catch.

The walk finds every class statement in the packages' source (so a new module or a new error
cannot escape it) and checks the class itself, imported from its module.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatch.errors import DispatchError
from hospital_capacity.errors import CapacityError
from simulations.errors import SimulationError
from telemetry.errors import GoldenTimeError, TelemetryError

ROOT = Path(__file__).resolve().parents[1]

#: Each package and the root its errors derive from.
PACKAGE_ROOTS: dict[str, type[Exception]] = {
    "telemetry": TelemetryError,
    "dispatch": DispatchError,
    "hospital_capacity": CapacityError,
    "simulations": SimulationError,
    "loaders": GoldenTimeError,
    "dashboard": GoldenTimeError,
    "goldentime": GoldenTimeError,
}


def _sources() -> Iterator[tuple[str, Path]]:
    for package in PACKAGE_ROOTS:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue  # alembic scripts: run by alembic, define no classes
            yield package, path


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _class_statements() -> list[tuple[str, str, str, bool]]:
    """(package, module, class name, defined at module level) for every class statement."""
    found = []
    for package, path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                found.append((package, _module_name(path), node.name, id(node) in top))
    return found


CLASSES = _class_statements()


def _exception_classes() -> list[tuple[str, type[BaseException]]]:
    errors = []
    for package, module_name, name, top_level in CLASSES:
        if not top_level:
            continue
        module = importlib.import_module(module_name)
        cls = getattr(module, name)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            errors.append((package, cls))
    return errors


def test_the_walk_sees_the_known_errors() -> None:
    names = {cls.__name__ for _, cls in _exception_classes()}
    assert {"ScenarioError", "SnapError", "RouterError", "TelemetryError", "PayloadError", "EgenError"} <= names
    assert {"UpdateRejected", "Forbidden", "WhatIfError", "FetchError", "UnservedCalls"} <= names


def test_every_exception_class_derives_from_its_package_root() -> None:
    escaped = [
        f"{cls.__module__}.{cls.__qualname__} ({', '.join(b.__name__ for b in cls.__mro__[1:])})"
        for package, cls in _exception_classes()
        if cls is not GoldenTimeError and not issubclass(cls, PACKAGE_ROOTS[package])
    ]
    assert escaped == []


def test_no_exception_class_is_defined_inside_a_function_or_class() -> None:
    """Nested classes cannot be imported by the walk: keep errors at module level."""
    nested = [
        f"{module}.{name}"
        for _, module, name, top_level in CLASSES
        if not top_level and (name.endswith(("Error", "Exception")) or name in {"Forbidden", "Unauthorized"})
    ]
    assert nested == []


@pytest.mark.parametrize(
    ("path", "builtin"),
    [
        ("dispatch.scenario.ScenarioError", ValueError),
        ("dispatch.roads.SnapError", ValueError),
        ("dispatch.router.RouterError", RuntimeError),
        ("telemetry.client.BrokerUrlError", ValueError),
        ("telemetry.schemas.PayloadError", ValueError),
        ("telemetry.topics.TopicError", ValueError),
        ("telemetry.fhir.FhirError", ValueError),
        ("telemetry.access.AccessError", ValueError),
        ("telemetry.passwords.PasswordFileError", ValueError),
        ("telemetry.broker.BrokerStartError", RuntimeError),
        ("hospital_capacity.service.UnknownHospital", LookupError),
        ("hospital_capacity.service.Forbidden", PermissionError),
        ("hospital_capacity.service.Unauthorized", PermissionError),
        ("hospital_capacity.state.UpdateRejected", ValueError),
        ("hospital_capacity.egen.EgenError", ValueError),
        ("goldentime.simulate.WhatIfError", ValueError),
        ("simulations.errors.UnservedCalls", RuntimeError),
    ],
)
def test_errors_keep_the_builtin_base_callers_catch(path: str, builtin: type[Exception]) -> None:
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, builtin)
    assert issubclass(cls, GoldenTimeError)


def test_the_root_is_importable_without_importing_any_package_code() -> None:
    """``telemetry.errors`` is the lowest layer: it imports nothing of ours (no cycle is possible)."""
    tree = ast.parse((ROOT / "telemetry" / "errors.py").read_text(encoding="utf-8"))
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module != "__future__"
    ]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert imported == []
