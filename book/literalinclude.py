"""What a ``{literalinclude}`` shows, cut from the file as Sphinx cuts it: for book/colab_markdown.py.

Sphinx's order: ``:pyobject:`` (a class or function, decorators included; found here with :mod:`ast`),
then ``:start-at:``/``:start-after:``/``:end-before:``/``:end-at:``, then ``:lines:``.
"""
from __future__ import annotations

import ast
from pathlib import Path

def _pyobject(source: str, dotted: str, path: Path) -> tuple[int, int]:
    """First and last line (1-based) of the class or function ``dotted`` (``Class.method`` too),
    decorators included, as Sphinx's ``:pyobject:`` cuts it."""
    scope = ast.parse(source).body
    node = None
    for part in dotted.split("."):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            raise ValueError(f"{path}: no class or function {dotted!r} for :pyobject:")
        scope = node.body
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return first, node.end_lineno


def _between(lines: list[str], options: dict) -> list[str]:
    """Sphinx's start-at / start-after / end-before / end-at filters, in that order."""
    for key, after in (("start-at", False), ("start-after", True)):
        if key in options:
            at = next((i for i, line in enumerate(lines) if options[key] in line), None)
            if at is None:
                raise ValueError(f":{key}: {options[key]!r} not found in the included code")
            lines = lines[at + after:]
    for key, keep in (("end-before", False), ("end-at", True)):
        if key in options:
            at = next((i for i, line in enumerate(lines) if options[key] in line), None)
            if at is None:
                raise ValueError(f":{key}: {options[key]!r} not found in the included code")
            lines = lines[:at + keep]
    return lines


def _select_lines(lines: list[str], spec: str) -> list[str]:
    """``:lines: 1,3,5-10,20-`` (1-based, as Sphinx reads it)."""
    chosen = []
    for part in spec.split(","):
        first, dash, last = part.strip().partition("-")
        start = int(first) if first else 1
        stop = (int(last) if last else len(lines)) if dash else start
        chosen.extend(lines[start - 1:stop])
    return chosen


def included_code(path: Path, options: dict, root: Path) -> list[str]:
    """What a ``{literalinclude}`` of ``path`` with ``options`` shows, as a fenced code block."""
    known = {"pyobject", "start-at", "start-after", "end-before", "end-at", "lines", "language", "caption",
             "linenos", "emphasize-lines"}
    if set(options) - known:
        raise ValueError(f"{path}: literalinclude options {sorted(set(options) - known)} are not supported")
    source = path.resolve().read_text(encoding="utf-8")
    lines = source.splitlines()
    where = f"`{path.resolve().relative_to(root.resolve()).as_posix()}`"
    if "pyobject" in options:
        first, last = _pyobject(source, options["pyobject"], path)
        lines = lines[first - 1:last]
        where += f", `{options['pyobject']}`"
    lines = _between(lines, options)
    if "lines" in options:
        lines = _select_lines(lines, options["lines"])
    language = options.get("language", "python" if path.suffix == ".py" else "")
    caption = options.get("caption") or f"From {where}:"
    return ["", caption, "", f"```{language}", *lines, "```", ""]
