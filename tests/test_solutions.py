"""Every solution's code runs: a reader who copies it into the chapter gets working code.

For each chapter, the ```python blocks inside its ``:::{solution}`` fences are appended, in order, as
code cells after the chapter's last cell, and the whole notebook is executed in a real kernel (nbclient)
under the pytest budget (``GANLIB_BUDGET=smoke``, set by the root ``conftest.py``). A solution may use
the chapter's variables (``run``, ``x_train``, ``dc``...): that is what the reader has when they copy it.
When the exercise has a checker (``ganlib.exercises.CHECKERS["ex-3-2"]``), the first function the solution
defines is also given to it, and the check must pass: the solution is a right answer, not only running
code.

One test per chapter: it costs the chapter's smoke run plus its solutions (which size their runs with
``ganlib.steps``, as the chapters do): about two minutes for the whole book on a 2-core CPU, five when
other jobs load it (chapter 5, the longest, 24 s and 59 s).
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

import ganlib.exercises

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CELL_TIMEOUT_S = 600  # as nbval's --nbval-cell-timeout in pyproject.toml

# A solution fence: ":::{solution} ex-3-2" up to the closing fence of the same number of colons.
SOLUTION = re.compile(r"^(?P<fence>:{3,})[ \t]*\{solution\}[ \t]*(?P<label>\S+)[^\n]*\n"
                      r"(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
PYTHON_BLOCK = re.compile(r"^```python[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)
FIRST_DEF = re.compile(r"^def[ \t]+(\w+)[ \t]*\(", re.M)


def solution_blocks(markdown: str) -> list[tuple[str, str]]:
    """``(label, code)`` for every ```python block inside a ``{solution}`` fence of ``markdown``, in order."""
    return [(fence["label"], block["code"])
            for fence in SOLUTION.finditer(markdown)
            for block in PYTHON_BLOCK.finditer(fence["body"])]


def chapter_solutions(path: Path) -> list[tuple[str, str]]:
    """The solution blocks of one chapter's markdown cells, in the order of the chapter."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [found for cell in nb["cells"] if cell["cell_type"] == "markdown"
            for found in solution_blocks("".join(cell["source"]))]


def check_cell(label: str, code: str) -> str | None:
    """Source of a cell that gives the solution's first function to the exercise's checker, if it has one."""
    if label not in ganlib.exercises.CHECKERS:
        return None
    defined = FIRST_DEF.search(code)
    assert defined, f"the solution of {label} has a checker but defines no function to give it"
    return (f"_solution_check = ganlib.exercises.CHECKERS[{label!r}]({defined.group(1)})\n"
            f"assert _solution_check.passed, str(_solution_check)")


def test_the_parser_finds_solutions_and_only_solutions():
    markdown = ("Text.\n\n```python\nnot_a_solution()\n```\n\n:::{exercise}\n:label: ex-1-1\n```python\n"
                "exercise_code()\n```\n:::\n\n:::{solution} ex-1-1\n:class: dropdown\nProse.\n```python\n"
                "first()\n```\n```bash\nnot python\n```\n```python\nsecond()\n```\n:::\n\n"
                "::::{solution} ex-1-2\n:::{note}\nnested\n:::\n```python\nthird()\n```\n::::\n")
    assert solution_blocks(markdown) == [("ex-1-1", "first()\n"), ("ex-1-1", "second()\n"),
                                         ("ex-1-2", "third()\n")]


def test_solutions_of_checked_exercises_are_given_to_their_checker():
    cell = check_cell("ex-3-2", "import torch\n\ndef my_g_step(generator, discriminator, opt_g, z):\n    pass\n")
    assert "CHECKERS['ex-3-2'](my_g_step)" in cell
    assert check_cell("ex-3-4", "for k in (1, 5):\n    pass\n") is None  # an experiment: nothing to check


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_solution_runs_after_its_chapter(path):
    solutions = chapter_solutions(path)
    if not solutions:
        pytest.skip(f"{path.name}: no solution has code")
    nb = nbformat.read(path, as_version=4)
    first_solution = len(nb.cells)
    for label, code in solutions:
        nb.cells.append(nbformat.v4.new_code_cell(code, metadata={"solution": label}))
        check = check_cell(label, code)
        if check:
            nb.cells.append(nbformat.v4.new_code_cell(check, metadata={"solution": label}))

    env = {**os.environ, "GANLIB_BUDGET": os.environ.get("GANLIB_BUDGET", "smoke"), "MPLBACKEND": "Agg"}
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute(env=env)
    except nbclient.exceptions.CellExecutionError as error:
        failed = next((i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                       and any(out.get("output_type") == "error" for out in cell.get("outputs", []))), None)
        where = (f"the solution of {nb.cells[failed].metadata['solution']}" if failed is not None
                 and failed >= first_solution else f"the chapter itself (cell {failed})")
        pytest.fail(f"{path.name}: {where} failed:\n{error}", pytrace=False)
    print(f"{path.name}: chapter and {len(solutions)} solution block(s) ran in "
          f"{time.perf_counter() - start:.0f} s")
