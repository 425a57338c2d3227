"""book/_ext/exercise_numbers.py: the exercises of a chapter are numbered <chapter>.<position>."""
from __future__ import annotations

from types import SimpleNamespace

import pytest


@pytest.fixture(scope="module")
def ext(load_script):
    return load_script("book/_ext/exercise_numbers.py")


@pytest.mark.parametrize("docname, number", [("chapters/05_mnist_project", "5"), ("chapters/10_outlook", "10"),
                                             ("chapters/06b_more_variants", "6"), ("chapters/a1_scaling_out", "A1"),
                                             ("book/exercises", None)])
def test_the_chapter_number_comes_from_the_file_name(ext, docname, number):
    assert ext.chapter_number(docname) == number


def test_book_wide_numbers_become_chapter_and_position(ext):
    # as Sphinx leaves them: one counter over the whole book, in reading order
    env = SimpleNamespace(toc_fignumbers={
        "chapters/01_background": {"exercise": {"ex-1-1": (1,), "ex-1-2": (2,)}},
        "chapters/05_mnist_project": {"exercise": {"ex-5-2": (18,), "ex-5-1": (17,)}, "figure": {"f": (3,)}},
        "chapters/a1_scaling_out": {"exercise": {"ex-a1-1": (39,)}},
        "book/exercises": {"figure": {"g": (1,)}},
    })
    assert ext.number_per_chapter(None, env) == ["chapters/01_background", "chapters/05_mnist_project",
                                                 "chapters/a1_scaling_out"]
    numbers = env.toc_fignumbers
    assert numbers["chapters/01_background"]["exercise"] == {"ex-1-1": ("1", 1), "ex-1-2": ("1", 2)}
    assert numbers["chapters/05_mnist_project"]["exercise"] == {"ex-5-2": ("5", 2), "ex-5-1": ("5", 1)}
    assert numbers["chapters/05_mnist_project"]["figure"] == {"f": (3,)}  # other kinds are left alone
    assert numbers["chapters/a1_scaling_out"]["exercise"] == {"ex-a1-1": ("A1", 1)}
    assert numbers["book/exercises"] == {"figure": {"g": (1,)}}


def test_a_chapter_on_two_pages_counts_on(ext):
    env = SimpleNamespace(toc_fignumbers={
        "chapters/06b_more_variants": {"exercise": {"ex-6-3": (23,)}},
        "chapters/06_variants": {"exercise": {"ex-6-2": (22,), "ex-6-1": (21,)}},
        "chapters/07_pitfalls": {"exercise": {"ex-7-1": (24,)}},
    })
    ext.number_per_chapter(None, env)
    numbers = env.toc_fignumbers
    assert numbers["chapters/06_variants"]["exercise"] == {"ex-6-1": ("6", 1), "ex-6-2": ("6", 2)}
    assert numbers["chapters/06b_more_variants"]["exercise"] == {"ex-6-3": ("6", 3)}
    assert numbers["chapters/07_pitfalls"]["exercise"] == {"ex-7-1": ("7", 1)}
