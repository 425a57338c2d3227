"""The static checks of tests/browser/check_site.py, on snippets of HTML as the book's build writes it.

(The script itself runs on the built book in CI, after ``make book``; these tests need no build.)
"""
from __future__ import annotations

import pytest

BOX = ('<div class="exercise admonition" id="{label}">\n\n<p class="admonition-title">'
       '<span class="caption-number">Exercise {number} </span></p>\n<section id="exercise-content">')
SOLUTION_TITLE = ('<p class="admonition-title">Solution to<a class="reference internal" href="#{label}">'
                  ' Exercise {number}</a></p>')
NUMREF = ('<a class="reference internal" href="../chapters/02_core_concepts.html#{label}">'
          '<span class="std std-numref">Exercise {number}</span></a> turns the explorer into an experiment')


@pytest.fixture(scope="module")
def site(load_script):
    return load_script("tests/browser/check_site.py")


def test_a_clean_page_passes(site):
    page = (BOX.format(label="ex-5-2", number="5.2") + SOLUTION_TITLE.format(label="ex-5-2", number="5.2")
            + NUMREF.format(label="ex-2-4", number="2.4") + BOX.format(label="ex-a1-3", number="A1.3")
            + "<p>a table cell | 10% | is not a bar</p><pre>explorer(note)</pre>")
    assert site.static_problems(page) == []


@pytest.mark.parametrize("text", ["<pre>training:   0%|          | 0/3000 [00:00&lt;?, ?step/s]</pre>",
                                  "<pre>training: 100%|██████████| 20/20 [00:01]</pre>"])
def test_a_frozen_progress_bar_fails(site, text):
    [problem] = site.static_problems(text)
    assert problem.startswith("a frozen progress bar")


def test_a_widgets_repr_fails(site):
    [problem] = site.static_problems("<pre>interactive(children=(IntSlider(value=7, description='digit'),</pre>")
    assert problem.startswith("a widget's repr")


@pytest.mark.parametrize("snippet", [BOX, SOLUTION_TITLE, NUMREF])
def test_an_exercise_numbered_across_the_book_fails(site, snippet):
    [problem] = site.static_problems(snippet.format(label="ex-5-2", number="18"))
    assert "ex-5-2" in problem and "'Exercise 5.2'" in problem


def test_labels_give_the_expected_numbers(site):
    assert site.expected_exercise_number("ex-5-2") == "5.2"
    assert site.expected_exercise_number("ex-10-1") == "10.1"
    assert site.expected_exercise_number("ex-a1-3") == "A1.3"
    assert site.expected_exercise_number("ex-demo") is None  # book/exercises.md's unnumbered example


def test_a_link_with_its_own_text_and_an_unnumbered_exercise_pass(site):
    unnumbered = BOX.replace('<span class="caption-number">Exercise {number} </span>', "Exercise")
    page = ('<a class="reference internal" href="#ex-5-2"><span>the exercise above</span></a>'
            + unnumbered.format(label="ex-demo"))
    assert site.static_problems(page) == []
