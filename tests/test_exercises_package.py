"""ganlib.exercises stays book-only: the library's layers never import it, and it re-exports every checker."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ganlib.exercises

GANLIB = Path(ganlib.exercises.__file__).resolve().parents[1]
EXERCISES = sorted((GANLIB / "exercises").glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, made absolute: ``from ..exercises import x`` → ``ganlib.exercises``."""
    package = ".".join(path.relative_to(GANLIB.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("layer", ["core", "variants", "eval"])
def test_no_layer_of_the_library_imports_the_exercises(layer):
    for path in sorted((GANLIB / layer).glob("*.py")):
        bad = sorted(m for m in imported_modules(path) if m == "ganlib.exercises" or m.startswith("ganlib.exercises."))
        assert not bad, f"{path.relative_to(GANLIB.parent)} imports {bad}: the exercises are book-only"


def test_the_import_scan_sees_relative_imports():
    assert "ganlib.core.utils" in imported_modules(GANLIB / "exercises" / "_common.py")
    assert "ganlib.variants.remedies.EMA" in imported_modules(GANLIB / "exercises" / "remedy_trials.py")


def test_every_checker_is_re_exported_under_its_label():
    assert len(ganlib.exercises.CHECKERS) >= 15
    for label, checker in ganlib.exercises.CHECKERS.items():
        name = label.replace("-", "_")
        assert getattr(ganlib.exercises, name) is checker and name in ganlib.exercises.__all__


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_modules_and_functions_stay_small(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300, f"{path.name} has more than 300 lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno - node.lineno + 1 <= 60, f"{path.name}: {node.name} has more than 60 lines"
