"""Pages a learner can read in one sitting (issue 26): limits on words per page and per cell, lines per
code cell, and no Markdown table typed into code (``ganlib.viz.table`` builds them all).

A page is a notebook or a MyST page under chapters/. Words are whitespace-separated tokens of the
markdown cells (code and outputs excluded), as ``wc -w`` counts them.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in (ROOT / "chapters").iterdir() if p.suffix in (".ipynb", ".md"))
MAX_PAGE_WORDS = 3500
MAX_MARKDOWN_CELL_WORDS = 400
MAX_CODE_CELL_LINES = 30
# a table's rule row ("|---|", or "---|" built in pieces), or a displayed Markdown string that starts a row
HAND_TABLE = re.compile(r"\|\s*:?-{3,}|[\"']:?-{3,}\||Markdown\(\s*f?[\"']\|")


def cells(path: Path) -> list[tuple[str, str]]:
    """(kind, source) of each cell; a MyST page is one markdown cell per ``#``/``##`` section."""
    if path.suffix == ".md":
        text = path.read_text(encoding="utf-8")
        return [("markdown", part) for part in re.split(r"\n(?=#{1,2} )", text)]
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]


def words(text: str) -> int:
    return len(text.split())


def test_there_are_pages():
    assert len(PAGES) >= 12


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_a_page_is_at_most_3500_words(path):
    total = sum(words(src) for kind, src in cells(path) if kind == "markdown")
    assert total <= MAX_PAGE_WORDS, f"{path.name}: {total} words; split the page (a chapter may span pages)"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_no_markdown_cell_over_400_words(path):
    long = [(i, words(src)) for i, (kind, src) in enumerate(cells(path))
            if kind == "markdown" and words(src) > MAX_MARKDOWN_CELL_WORDS]
    assert not long, f"{path.name}: markdown cells (index, words) over {MAX_MARKDOWN_CELL_WORDS}: {long}"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_no_code_cell_over_30_lines(path):
    long = [(i, len(src.splitlines())) for i, (kind, src) in enumerate(cells(path))
            if kind == "code" and len(src.splitlines()) > MAX_CODE_CELL_LINES]
    assert not long, f"{path.name}: code cells (index, lines) over {MAX_CODE_CELL_LINES}: {long}"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_tables_in_code_are_built_by_viz_table(path):
    typed = [i for i, (kind, src) in enumerate(cells(path)) if kind == "code" and HAND_TABLE.search(src)]
    assert not typed, f"{path.name}: code cells {typed} type a Markdown table; use ganlib.viz.table(rows)"


@pytest.mark.parametrize("source, typed", [
    ('lines = ["| a | b |", "|---|---|"]', True), ('display(Markdown(f"| {x} |"))', True),
    ('"|" + "---|" * 6', True), ("viz.table(rows, note='x')", False), ("x = a | b  # set union", False)])
def test_the_hand_table_pattern(source, typed):
    assert bool(HAND_TABLE.search(source)) == typed
