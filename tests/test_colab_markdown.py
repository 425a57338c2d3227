"""book/colab_markdown.py and book/literalinclude.py on small inputs: each MyST form and its Markdown."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = "https://owner.github.io/repo/"
DOCUMENTS = {
    "chapters/07_x": "# 7. Pitfalls\n\n(ch07-faq)=\n## 7.10 The FAQ\n\n:::{exercise}\n:label: ex-7-2\nDo it.\n:::\n",
    "chapters/a2_y": "# Appendix A2: a benchmark\n",
    "book/glossary": "# Glossary\n\n```{glossary}\nmode collapse\n  **x.** text\n\nDCGAN\n  **y.** text\n```\n",
    "book/bibliography": "# Bibliography\n",
}


@pytest.fixture(scope="module")
def md(load_script):
    return load_script("book/colab_markdown.py")


@pytest.fixture(scope="module")
def index(md):
    return md.BookIndex.build(ROOT, SITE, DOCUMENTS)


def convert(md, index, text, docname="chapters/07_x"):
    cited = []
    return md.convert(text, docname, index, cited), cited


def test_citations_author_year_for_one_two_and_more_authors(md, index):
    (cell,), cited = convert(md, index, "{cite:t}`goodfellow2016tutorial` and {cite:t}`mirza2014cgan`, "
                                        "as in {cite:p}`goodfellow2014gan,radford2016dcgan`.")
    assert cell == ("Goodfellow (2016) and Mirza and Osindero (2014), as in "
                    "(Goodfellow et al., 2014; Radford et al., 2016).")
    assert cited == ["goodfellow2016tutorial", "mirza2014cgan", "goodfellow2014gan", "radford2016dcgan"]


def test_latex_accents_in_names_become_letters(index):
    assert index.cite(["binkowski2018kid"], textual=True) == "Bińkowski et al. (2018)"


def test_references_list_each_cited_entry_once(index):
    text = index.references(["mirza2014cgan", "goodfellow2014gan", "mirza2014cgan"])
    items = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(items) == 2 and items[0].startswith("- Ian Goodfellow") and "Conditional" in items[1]


def test_cross_references_become_links_to_the_published_pages(md, index):
    (cell,), _ = convert(md, index, "See {ref}`ch07-faq`, {ref}`ex-7-2`, {ref}`the answers <ch07-faq>`, "
                                    "{doc}`Appendix A2 <a2_y>`, {term}`Mode collapse <mode collapse>`, {term}`DCGAN`.")
    assert cell == (f"See [7.10 The FAQ]({SITE}chapters/07_x.html#ch07-faq), "
                    f"[Exercise 7.2]({SITE}chapters/07_x.html#ex-7-2), "
                    f"[the answers]({SITE}chapters/07_x.html#ch07-faq), [Appendix A2]({SITE}chapters/a2_y.html), "
                    f"[Mode collapse]({SITE}book/glossary.html#term-mode-collapse), "
                    f"[DCGAN]({SITE}book/glossary.html#term-DCGAN).")


def test_python_roles_link_where_the_object_is_documented(md, index):
    (cell,), _ = convert(md, index, "{py:class}`~ganlib.TrainConfig` and {py:func}`ganlib.get_device`")
    assert cell == (f"[`TrainConfig`]({SITE}book/api.html#ganlib.core.config.TrainConfig) and "
                    f"[`ganlib.get_device()`]({SITE}book/api.html#ganlib.core.utils.get_device)")


def test_exercise_and_solution_get_cells_of_their_own(md, index):
    text = ("Before.\n\n:::{exercise}\n:label: ex-a1-3\nCompute $x$.\n:::\n\n:::{solution} ex-a1-3\n"
            ":class: dropdown\n```python\nprint(1)\n```\n:::\nAfter.")
    cells, _ = convert(md, index, text)
    assert cells == ["Before.", "**Exercise A1.3**\n\nCompute $x$.",
                     "<details><summary>Solution to Exercise A1.3</summary>\n\n```python\nprint(1)\n```\n\n</details>",
                     "After."]


def test_admonitions_become_block_quotes_and_targets_go(md, index):
    text = ("(ch07-faq)=\n## Title\n\n:::{admonition} About $x$\n:class: warning\n\nOne.\n\n- two\n:::\n\n"
            "```{note}\nN.\n```")
    (cell,), _ = convert(md, index, text)
    assert cell == "## Title\n\n> **About $x$**\n>\n> One.\n>\n> - two\n\n> **Note**\n>\n> N."


def test_code_blocks_and_math_are_left_alone(md, index):
    text = "$$\nV(D, G)\n$$\n\n```python\nx = {'cite': 1}  # {ref}`not a role in code`\n```"
    (cell,), _ = convert(md, index, text)
    assert cell == text


@pytest.mark.parametrize("text", ["{eq}`x`", ":::{figure} a.png\n:::", "{ref}`no-such-label`",
                                  "{cite:p}`nobody2099`", "{term}`not in the glossary`"])
def test_what_has_no_colab_form_is_an_error_not_raw_text(md, index, text):
    with pytest.raises(ValueError):
        convert(md, index, text)


SOURCE = '''"""A module."""
import functools


@functools.cache
def decorated(x):
    return x


class Outer:
    """Doc."""

    def method(self):
        total = 0
        for item in range(3):
            total += item
        return total
'''


def test_literalinclude_pyobject_start_end_and_lines(load_script, tmp_path):
    lit = load_script("book/literalinclude.py")
    path = tmp_path / "module.py"
    path.write_text(SOURCE, encoding="utf-8")
    code = lambda **options: lit.included_code(path, options, tmp_path)[4:-2]  # noqa: E731  (the lines in the fence)
    assert code(pyobject="decorated") == ["@functools.cache", "def decorated(x):", "    return x"]
    assert code(pyobject="Outer.method", **{"start-at": "for item", "end-before": "return"}) == \
        ["        for item in range(3):", "            total += item"]
    assert code(lines="1,3-4") == ['"""A module."""', "", ""]
    assert lit.included_code(path, {"pyobject": "Outer"}, tmp_path)[1] == "From `module.py`, `Outer`:"
    with pytest.raises(ValueError, match="no class or function"):
        code(pyobject="missing")
