"""The shape of ganlib: module sizes, longest functions, the internal import graph, cycles, layer breaks.

::

    python scripts/structure.py          # the whole report; exit status 1 when a cycle or a layer break exists

Layers, lowest first: ``core`` < ``variants`` < ``eval`` < ``exercises`` (``ganlib.exercises.*`` and
``ganlib.check``) < ``top`` (``ganlib`` itself, ``cli``, ``cli_parser``, ``__main__``). A module may import
its own layer and the ones below it. Imports are read with :mod:`ast`, those inside functions too
(a lazy import still ties two modules together), relative ones resolved against the importing module.
``tests/test_structure.py`` asserts on the same functions, so the report and the tests cannot disagree.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ganlib"
LAYERS = ("core", "variants", "eval", "exercises", "top")
TOP = {"ganlib", "ganlib.cli", "ganlib.cli_parser", "ganlib.__main__"}
MAX_MODULE_LINES = 300     # one job per module: more than a screenful of screens is two jobs
MAX_FUNCTION_LINES = 60    # a function a reader can hold at once, docstring included
MAX_CORE_LINES = 2000      # the core is what every reader must learn: its code (docstrings, comments, blanks apart)
CORE_TOTAL = "core total"  # how the core's package budget is named among the offenders


@dataclasses.dataclass
class Module:
    """One module of the package: its dotted name, file, layer, length and the ganlib modules it imports."""

    name: str
    path: Path
    layer: str
    lines: int
    code: int                           # lines that are neither docstring, comment nor blank
    longest: tuple[str, int]            # (qualified function name, lines); ("-", 0) without functions
    functions: dict[str, int]           # every function and method, qualified, by its length in lines
    imports: set[str]


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """``ganlib/eval/metrics.py`` -> ``ganlib.eval.metrics``; a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(name: str) -> str:
    """The layer of a dotted module name (see the module docstring)."""
    if name in TOP:
        return "top"
    part = name.split(".")[1]
    if part == "check":
        return "exercises"
    return part if part in LAYERS else "top"


def function_lengths(tree: ast.AST) -> dict[str, int]:
    """Every function and method of a parsed module, by qualified name (``Class.method``), in lines."""
    found: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    found[name] = child.end_lineno - child.lineno + 1
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """Dotted names a module's imports may refer to, relative ones resolved; anywhere in the file but in an
    ``if TYPE_CHECKING:`` block (annotations only: no import at run time)."""
    found: set[str] = set()
    here = name.split(".") if is_package else name.split(".")[:-1]   # the package a relative import starts in
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                   for stmt in block.body for n in ast.walk(stmt)}   # `if TYPE_CHECKING:` imports never run
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                start = here[:len(here) - node.level + 1]
                base = ".".join(start + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from .core import utils`
    return found


def resolve(names: set[str], known: set[str], importer: str) -> set[str]:
    """The ganlib modules among ``names``: each name or, failing that, its longest known prefix.

    ``from .core import utils`` names ``ganlib.core`` (run first) and ``ganlib.core.utils``; ``from .metrics
    import evaluate`` names ``ganlib.eval.metrics.evaluate``, whose longest known prefix is the module.
    """
    targets = set()
    for dotted in names:
        if not (dotted == "ganlib" or dotted.startswith("ganlib.")):
            continue
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in known:
                targets.add(".".join(parts[:end]))
                break
    targets.discard(importer)
    return targets


def code_lines(text: str, tree: ast.AST) -> int:
    """Lines of ``text`` that are neither blank, a comment, nor part of a docstring."""
    doc = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            doc.update(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(1 for i, line in enumerate(text.splitlines(), 1)
               if i not in doc and line.strip() and not line.strip().startswith("#"))


def modules(package: Path = PACKAGE) -> dict[str, Module]:
    """Every module of ``package`` by dotted name, with its size, longest function and ganlib imports."""
    paths = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    known = {module_name(p, package) for p in paths}
    found = {}
    for path in paths:
        name, text = module_name(path, package), path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
        lengths = function_lengths(tree)
        longest = max(lengths.items(), key=lambda item: (item[1], item[0]), default=("-", 0))
        imports = resolve(imported_names(tree, name, path.name == "__init__.py"), known, name)
        found[name] = Module(name, path, layer_of(name), len(text.splitlines()), code_lines(text, tree), longest,
                             lengths, imports)
    return found


def cycles(found: dict[str, Module]) -> list[list[str]]:
    """The import cycles: strongly connected groups of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(found[node].imports):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(found):
        if node not in index:
            connect(node)
    return sorted(groups)


def layer_violations(found: dict[str, Module]) -> set[tuple[str, str]]:
    """``(importer, imported)`` pairs where a module imports a layer above its own."""
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return {(m.name, target) for m in found.values() for target in m.imports
            if rank[found[target].layer] > rank[m.layer]}


def core_leaks(found: dict[str, Module]) -> set[tuple[str, str]]:
    """``(core module, imported)`` pairs where the core imports anything outside the core."""
    return {(m.name, t) for m in found.values() if m.layer == "core" for t in m.imports if found[t].layer != "core"}


def layer_lines(found: dict[str, Module], layer: str, *, code: bool = False) -> int:
    return sum(m.code if code else m.lines for m in found.values() if m.layer == layer)


def over_budget(found: dict[str, Module]) -> dict[str, str]:
    """Modules over a size budget (and ``CORE_TOTAL`` when the core is), each with why."""
    offenders = {}
    for m in found.values():
        reasons = [f"{m.lines} lines > {MAX_MODULE_LINES}"] if m.lines > MAX_MODULE_LINES else []
        reasons += [f"{fn} {n} lines > {MAX_FUNCTION_LINES}" for fn, n in sorted(m.functions.items())
                    if n > MAX_FUNCTION_LINES]
        if reasons:
            offenders[m.name] = "; ".join(reasons)
    if (total := layer_lines(found, "core", code=True)) > MAX_CORE_LINES:
        offenders[CORE_TOTAL] = f"{total} lines of code > {MAX_CORE_LINES}"
    return offenders


def short(name: str) -> str:
    return name.removeprefix("ganlib.") or name


def report(found: dict[str, Module]) -> list[str]:
    """The report's lines: sizes by layer, the import graph, cycles, layer breaks and budget offenders."""
    out = ["== modules: lines, longest function (lines) =="]
    offenders = over_budget(found)
    for layer in LAYERS:
        members = sorted((m for m in found.values() if m.layer == layer), key=lambda m: m.name)
        budget = f" (budget {MAX_CORE_LINES} lines of code)" if layer == "core" else ""
        out.append(f"{layer}: {len(members)} modules, {layer_lines(found, layer)} lines, "
                   f"{layer_lines(found, layer, code=True)} of code{budget}")
        for m in members:
            flag = "  OVER" if m.name in offenders else ""
            out.append(f"  {short(m.name):26} {m.lines:5}  {m.longest[0]} ({m.longest[1]}){flag}")
    out.append(f"total: {len(found)} modules, {sum(m.lines for m in found.values())} lines")
    out.append("")
    out.append("== imports (ganlib modules only, function-level imports included) ==")
    for name in sorted(found):
        targets = ", ".join(short(t) for t in sorted(found[name].imports)) or "-"
        out.append(f"  {short(name):26} -> {targets}")
    out.append("")
    out.append("== cycles ==")
    out += [f"  {' <-> '.join(short(n) for n in group)}" for group in cycles(found)] or ["  none"]
    out.append("== layer violations (a module importing a higher layer) ==")
    out += [f"  {short(a)} ({found[a].layer}) -> {short(b)} ({found[b].layer})"
            for a, b in sorted(layer_violations(found))] or ["  none"]
    out.append("== over budget (module lines, function lines, core total) ==")
    out += [f"  {short(name)}: {why}" for name, why in sorted(offenders.items())] or ["  none"]
    return out


def main() -> int:
    found = modules()
    print("\n".join(report(found)))
    return 1 if cycles(found) or layer_violations(found) else 0


if __name__ == "__main__":
    sys.exit(main())
