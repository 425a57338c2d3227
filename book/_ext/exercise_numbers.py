"""Sphinx extension of the book: exercises numbered per chapter, "Exercise 5.2", as their labels say.

sphinx-exercise numbers its boxes as Sphinx numbers figures (numfig): with one counter for the whole
book, unless the table of contents is numbered, which this book's is not (its chapter titles carry
their own numbers, "5." and "A1."). So ``ex-5-2`` would show as "Exercise 18" while the text and the
checker ``ganlib.exercises.ex_5_2`` say 5.2. Once Sphinx has assigned those numbers (``env-get-updated``),
this renumbers the exercises of each chapter as (chapter, position in the chapter), the chapter taken
from the file name: ``chapters/05_mnist_project`` → 5, ``chapters/a1_scaling_out`` → A1. A chapter may span
pages, ``chapters/06_variants`` and ``chapters/06b_more_variants`` are both chapter 6: the second page's
exercises continue the first's count (pages of a chapter are taken in the order of their names). The box's
title, its solution's "Solution to Exercise 5.2" and every ``{ref}``/``{numref}`` to it are all made
from these numbers, so they read the same. ``tests/browser/check_site.py`` checks, on the built HTML, that
every exercise's number is its label's (``tests/test_exercise_numbers.py`` tests this module).
"""
from __future__ import annotations

import re

from sphinx.application import Sphinx

CHAPTER_FILE = re.compile(r"^chapters/(?:0*(?P<number>\d+)[a-z]?|(?P<appendix>[a-z]\d+))_")


def chapter_number(docname: str) -> str | None:
    """``"5"`` for ``chapters/05_mnist_project``, ``"6"`` for ``chapters/06b_more_variants``, ``"A1"`` for
    ``chapters/a1_scaling_out``; else None."""
    match = CHAPTER_FILE.match(docname)
    if match is None:
        return None
    return match["number"] or match["appendix"].upper()


def number_per_chapter(app: Sphinx, env) -> list[str]:
    """``env-get-updated`` handler, after Sphinx's own numbering: renumber each chapter's exercises
    1, 2, ... in the order of the chapter (its pages in name order), prefixed by the chapter. Returns
    the pages it renumbered."""
    renumbered, counted = [], {}
    for docname in sorted(env.toc_fignumbers):
        chapter = chapter_number(docname)
        exercises = env.toc_fignumbers[docname].get("exercise")
        if chapter is None or not exercises:
            continue
        for node_id in sorted(exercises, key=exercises.get):
            counted[chapter] = counted.get(chapter, 0) + 1
            exercises[node_id] = (chapter, counted[chapter])  # shown as "Exercise 5.2": Sphinx joins with "."
        renumbered.append(docname)
    return renumbered


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx_exercise")
    # priority 900: after Sphinx's TocTreeCollector (500), which assigns the book-wide numbers
    app.connect("env-get-updated", number_per_chapter, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
