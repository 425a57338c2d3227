"""ganlib's shape: no import cycles, no layer importing a higher one, the core self-contained, size budgets.

The analysis is ``scripts/structure.py``'s (``python scripts/structure.py`` prints the same facts).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Import cycles allowed: none.
KNOWN_CYCLES: set = set()

#: Layer breaks allowed: none.
KNOWN_LAYER_VIOLATIONS: set = set()

#: Modules allowed over a size budget: none.
KNOWN_OVER_BUDGET: set = set()


@pytest.fixture(scope="module")
def structure(load_script):
    return load_script("scripts/structure.py")


@pytest.fixture(scope="module")
def found(structure):
    return structure.modules()


def test_the_analysis_reads_relative_lazy_and_package_imports(structure, tmp_path):
    package = tmp_path / "ganlib"
    for folder in ("core", "eval"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("from .core import a\nfrom . import cli\n")
    (package / "cli.py").write_text("import ganlib.eval.m as m\n")
    (package / "core" / "a.py").write_text("from .b import x\n\ndef f():\n    from ..eval import m\n    return m\n")
    (package / "core" / "b.py").write_text("x = 1\n\n\ndef g():\n    from .a import f\n    return f\n")
    (package / "eval" / "m.py").write_text("y = 2\n")
    found = structure.modules(package)
    assert found["ganlib"].imports == {"ganlib.core", "ganlib.core.a", "ganlib.cli"}
    assert found["ganlib.cli"].imports == {"ganlib.eval.m"}
    assert found["ganlib.core.a"].imports == {"ganlib.core.b", "ganlib.eval", "ganlib.eval.m"}
    assert found["ganlib.core.a"].longest == ("f", 3)
    assert structure.cycles(found) == [["ganlib.core.a", "ganlib.core.b"]]
    assert structure.layer_violations(found) == {("ganlib.core.a", "ganlib.eval"), ("ganlib.core.a", "ganlib.eval.m")}
    assert structure.layer_of("ganlib.check") == "exercises" and structure.layer_of("ganlib.cli") == "top"


def test_no_import_cycle(structure, found):
    cycles = {tuple(group) for group in structure.cycles(found)}
    assert cycles - KNOWN_CYCLES == set(), "new import cycles"
    assert KNOWN_CYCLES - cycles == set(), "cycles gone: remove them from KNOWN_CYCLES"


def test_no_module_imports_a_higher_layer(structure, found):
    violations = structure.layer_violations(found)
    assert violations - KNOWN_LAYER_VIOLATIONS == set(), "modules importing a higher layer"
    assert KNOWN_LAYER_VIOLATIONS - violations == set(), "fixed: remove them from KNOWN_LAYER_VIOLATIONS"


def test_the_core_imports_only_the_core(structure, found):
    assert structure.core_leaks(found) == set()
    assert {m.layer for m in found.values()} <= set(structure.LAYERS)


def test_size_budgets_hold_outside_the_known_offenders(structure, found):
    offenders = structure.over_budget(found)
    new = {name: why for name, why in offenders.items() if name not in KNOWN_OVER_BUDGET}
    assert new == {}, "over budget: split the module or the function"
    fixed = KNOWN_OVER_BUDGET - set(offenders)
    assert fixed == set(), "within budget now (or gone): remove them from KNOWN_OVER_BUDGET"


def test_the_readme_module_table_matches_the_package(found):
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| package | module | job |"):]
    table = table[:table.index("\n\n")]
    rows = set(re.findall(r"^\|[^|]*\| `(ganlib[\w.]*)` \|", table, flags=re.M))
    assert rows - set(found) == set(), "README rows naming no module"
    # a row for a package (ganlib.exercises) covers its modules
    missing = {name for name in found if name not in ("ganlib", "ganlib.__main__")
               and not any(name == row or name.startswith(row + ".") for row in rows)
               and not any(other.startswith(name + ".") for other in found)}
    assert missing == set(), "modules without a row in the README's module table"
